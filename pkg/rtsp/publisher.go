package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// publisher feeds an RTSP publisher's packets (ANNOUNCE, SETUP, RECORD)
// to the engine through an Ingest, which depacketizes them (see
// depacketize*.go) and declares the tracks once known.
type publisher struct {
	sess *rtspSession
	key  engine.Key
	log  *slog.Logger
	pub  *engine.Publisher
	stop func() bool

	// Ingest is single-threaded: packets come from the connection's
	// goroutine (TCP) or gortsplib's UDP reader, and close from the
	// session's.
	mu       sync.Mutex
	ingest   *Ingest
	closed   bool
	started  time.Time
	bytes    int64
	lost     atomic.Uint64
	decodeMu sync.Mutex
	decodeN  int64

	// videoFormat is the video format the ingest chose (nil: none);
	// videoSSRC is the SSRC of its last packet, which a PLI names. Kept
	// here, not read from gortsplib's ServerSession.Stats: askKeyframe
	// runs on its own goroutine at any time until the session closes,
	// and gortsplib's Stats raced with its close on the client side (see
	// Client.read); our own atomic cannot.
	videoFormat format.Format
	videoSSRC   atomic.Uint32
}

// publisherSink forwards the Ingest's tracks and frames to the engine
// publisher, which exists only once on_publish agreed; the Ingest is
// made before, to refuse a session without usable tracks first.
type publisherSink struct{ pub *engine.Publisher }

func (s *publisherSink) SetTracks(t []*media.Track) error { return s.pub.SetTracks(t) }
func (s *publisherSink) SetMetadata(md media.Metadata)    { s.pub.SetMetadata(md) }
func (s *publisherSink) WriteFrame(f *media.Frame) error  { return s.pub.WriteFrame(f) }

func (s *rtspSession) announce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	c := s.conn
	key, err := StreamKey(ctx.Path, ctx.Query)
	if err != nil {
		c.log.Info("rtsp publish refused", "path", ctx.Path, "error", err.Error())
		return textResponse(base.StatusBadRequest, "invalid stream path"), nil
	}
	log := c.log.With("stream", key.String())
	s.mu.Lock()
	busy := s.player != nil || s.pub != nil
	s.mu.Unlock()
	if busy {
		return &base.Response{StatusCode: base.StatusMethodNotValidInThisState}, nil
	}
	sink := &publisherSink{}
	ingest, err := NewIngest(sink, sessionFormats(ctx.Description), IngestOptions{Log: log})
	if err != nil {
		log.Info("rtsp publish refused", "error", err.Error())
		return textResponse(base.StatusUnsupportedMediaType, err.Error()), nil
	}
	pub, err := s.srv.Engine.Publish(c.ctx, key, c.sessionInfo(ctx.Query, ctx.Request))
	if err != nil {
		log.Info("rtsp publish refused", "error", err.Error())
		return textResponse(refusal(err), err.Error()), nil
	}
	sink.pub = pub
	p := &publisher{sess: s, key: pub.Key(), log: c.log.With("stream", pub.Key().String()), pub: pub, ingest: ingest}
	if ingest.video != nil {
		p.videoFormat = ingest.video.Format()
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.pub = p
	}
	s.mu.Unlock()
	if closed {
		pub.Close()
		return &base.Response{StatusCode: base.StatusSessionNotFound}, nil
	}
	// The engine detaches the publisher (takeover, close_stream,
	// shutdown): end the session with it.
	p.stop = pub.OnDone(s.ss.Close)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func sessionFormats(desc *description.Session) []format.Format {
	if desc == nil {
		return nil
	}
	var out []format.Format
	for _, m := range desc.Medias {
		out = append(out, m.Formats...)
	}
	return out
}

func (s *rtspSession) setupRecord(_ *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s.mu.Lock()
	p := s.pub
	s.mu.Unlock()
	if p == nil {
		return &base.Response{StatusCode: base.StatusMethodNotValidInThisState}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (s *rtspSession) record(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s.mu.Lock()
	p := s.pub
	s.mu.Unlock()
	if p == nil {
		return &base.Response{StatusCode: base.StatusMethodNotValidInThisState}, nil
	}
	ss := ctx.Session
	video, _ := videoMedia(ss.Medias(), p.ingest)
	ss.OnPacketRTPAny(func(medi *description.Media, f format.Format, pkt *rtp.Packet) {
		pts, ok := ss.PacketPTS(medi, pkt)
		if !ok {
			return
		}
		if err := p.packet(f, pkt, pts); err != nil {
			ss.Close()
		}
	})
	p.mu.Lock()
	p.started = time.Now()
	p.mu.Unlock()
	if video != nil {
		// A WebRTC viewer's PLI asks the publisher (a camera, ffmpeg)
		// for a keyframe; gortsplib queues the RTCP, off the viewer's
		// goroutine.
		p.pub.OnKeyframeRequest(func() { go p.askKeyframe(ss, video) })
	}
	transport := "udp"
	if tr := ss.Transport(); tr != nil && tr.Protocol == gortsplib.ProtocolTCP {
		transport = "tcp"
	}
	p.log.Info("rtsp publish started", "transport", transport, "tracks", fmt.Sprint(formatNames(p.ingest.Formats())))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func formatNames(fs []format.Format) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = FormatName(f)
	}
	return out
}

func (p *publisher) packet(f format.Format, pkt *rtp.Packet, pts int64) error {
	n := rtpHeaderSize + len(pkt.Payload)
	if f == p.videoFormat {
		p.videoSSRC.Store(pkt.SSRC)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.bytes += int64(n)
	err := p.ingest.WritePacket(f, pkt, pts)
	p.mu.Unlock()
	p.pub.AddBytesIn(n)
	if err != nil && !errors.Is(err, engine.ErrPublisherClosed) {
		p.log.Warn("rtsp publish failed", "error", err.Error())
	}
	return err
}

func (p *publisher) decodeError(err error) {
	p.decodeMu.Lock()
	p.decodeN++
	first := p.decodeN == 1
	p.decodeMu.Unlock()
	if first {
		p.log.Warn("rtsp publisher sent undecodable packets (further ones are counted, not logged)", "error", err.Error())
	}
}

// close detaches the publisher: its readers wait for it for the grace
// period.
func (p *publisher) close(reason error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	_ = p.ingest.Flush() // a short session: declare what is known
	started, bytes := p.started, p.bytes
	st := p.ingest.Stats()
	p.mu.Unlock()
	if p.stop != nil {
		p.stop()
	}
	p.pub.Close()
	attrs := []any{"bytes", bytes, "frames", st.Frames, "lost", p.lost.Load()}
	if !started.IsZero() {
		attrs = append(attrs, "duration", time.Since(started).Round(time.Millisecond).String())
	}
	if reason != nil {
		attrs = append(attrs, "reason", reason.Error())
	}
	if n := st.DecodeErrors + p.decodeCount(); n > 0 {
		attrs = append(attrs, "decode_errors", n)
	}
	p.log.Info("rtsp publish ended", attrs...)
}

func (p *publisher) decodeCount() int64 {
	p.decodeMu.Lock()
	defer p.decodeMu.Unlock()
	return p.decodeN
}

// videoMedia is the media of the video format the ingest chose.
func videoMedia(medias []*description.Media, in *Ingest) (*description.Media, format.Format) {
	if in.video == nil {
		return nil, nil
	}
	f := in.video.Format()
	for _, m := range medias {
		for _, mf := range m.Formats {
			if mf == f {
				return m, f
			}
		}
	}
	return nil, nil
}

// askKeyframe sends the publisher a PLI for its video (RFC 4585), naming
// the SSRC of the video packets received so far (0 before the first).
// Safe while the session closes: gortsplib drops RTCP written after.
func (p *publisher) askKeyframe(ss *gortsplib.ServerSession, medi *description.Media) {
	_ = ss.WritePacketRTCP(medi, &rtcp.PictureLossIndication{MediaSSRC: p.videoSSRC.Load()})
}
