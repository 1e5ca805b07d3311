package rtsp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// srPeriod spaces the RTCP sender reports of a player: players (ffmpeg)
// use them to line audio up with video.
const srPeriod = 5 * time.Second

// byeWait is how long a player whose stream ended has to tear down after
// the RTCP BYE before its session is closed.
const byeWait = 2 * time.Second

var (
	errPlayerTooSlow = errors.New("rtsp: player too slow: its packet queue stayed full")
	errCodecChanged  = errors.New("rtsp: the stream's codec changed; an RTSP player cannot follow")
)

// pendingPlay is a player a DESCRIBE prepared: authorised, with its
// engine reader (which starts at the stream's GOP) and the description
// it was given.
type pendingPlay struct {
	key    engine.Key
	path   string
	query  string
	info   engine.SessionInfo
	reader *engine.Reader
	stream *gortsplib.ServerStream
	medias []*outMedia
	// skipped are the stream's tracks the description left out: their
	// frames are not sent.
	skipped []*media.Track
	timer   *time.Timer
}

func (p *pendingPlay) close() {
	if p == nil {
		return
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.reader.Close()
	p.stream.Close()
}

// outTrack is a player's numbering of one media.
type outTrack struct {
	m       *outMedia
	setup   bool // SETUP asked for it
	channel int  // interleaved RTP channel (TCP), -1 before known
	ssrc    uint32
	seq     uint16
	tsBase  uint32
	sentSR  bool
	srAt    time.Time
	lastTS  uint32
	lastNTP time.Time
	packets uint32
	octets  uint32
}

// player sends one engine reader's frames to one RTSP session. Frames
// are packetized once per frame (FramePackets) and shared by every
// player of the stream; a player only writes the RTP headers with its
// own sequence numbers, timestamps and SSRC.
//
// Over TCP (interleaved, no tunnel) the player writes to the socket
// itself, all frames available in one writev with a write deadline, so
// a stuck player is cut after the write timeout and a slow one falls
// behind in the engine, which skips it to a keyframe or ends it. Over
// UDP (and HTTP or WebSocket tunnels) packets go through the session's
// gortsplib queue; a queue that stays full counts as a stuck player.
type player struct {
	*pendingPlay
	sess *rtspSession
	srv  *Server
	log  *slog.Logger

	mu      sync.Mutex // out's setup and channel, set by SETUP callbacks
	out     []*outTrack
	started atomic.Bool

	// owned by the player goroutine once started
	conn     *conn
	direct   bool
	haveBase bool
	ptsBase  time.Duration
	ntpBase  time.Time
	frames   []*media.Frame
	lists    [][]byte
	hdr      []byte
	bufs     net.Buffers
	wbufs    net.Buffers // what a write has yet to consume of bufs
	pkt      rtp.Packet
	sent     int64
}

func newPlayer(s *rtspSession, pp *pendingPlay) *player {
	p := &player{pendingPlay: pp, sess: s, srv: s.srv, log: s.log().With("stream", pp.key.String())}
	stats := pp.stream.Stats()
	for _, m := range pp.medias {
		o := &outTrack{m: m, channel: -1, seq: uint16(randUint32()), tsBase: randUint32()}
		if ms, ok := stats.Medias[m.media]; ok {
			if fs, ok := ms.Formats[m.format]; ok {
				// The SSRC gortsplib announced in the SETUP response.
				o.ssrc = fs.LocalSSRC
			}
		}
		if o.ssrc == 0 {
			o.ssrc = randUint32()
		}
		p.out = append(p.out, o)
	}
	return p
}

func (p *player) markSetup(i int) {
	p.mu.Lock()
	p.out[i].setup = true
	p.mu.Unlock()
}

func (p *player) setChannel(i, ch int) {
	p.mu.Lock()
	if i >= 0 && i < len(p.out) && ch >= 0 && ch < 255 {
		p.out[i].channel = ch
	}
	p.mu.Unlock()
}

// channelsKnown reports whether every media set up over TCP has its
// interleaved channel, so the player can write them itself.
func (p *player) channelsKnown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, o := range p.out {
		if o.setup {
			n++
			if o.channel < 0 {
				return false
			}
		}
	}
	return n > 0
}

func (p *player) isStarted() bool { return p.started.Load() }

// start runs the player in its goroutine; gate, if set, is closed when
// the PLAY response is on the wire.
func (p *player) start(c *conn, direct bool, gate <-chan struct{}) bool {
	if !p.started.CompareAndSwap(false, true) {
		return true
	}
	p.conn, p.direct = c, direct
	return p.srv.goPlayer(func() { p.run(gate) })
}

// close ends the player (the session closed).
func (p *player) close() {
	p.pendingPlay.close()
}

func (p *player) run(gate <-chan struct{}) {
	ss := p.sess.ss
	// The engine ends the reader (close_stream, kick, takeover rules,
	// shutdown): end the session with it.
	stopDone := p.reader.OnDone(ss.Close)
	defer stopDone()
	if !p.waitStart(gate) {
		return
	}
	transport := "udp"
	if tr := ss.Transport(); tr != nil && tr.Protocol == gortsplib.ProtocolTCP {
		transport = "tcp"
	}
	p.log.Info("rtsp play started", "transport", transport, "direct", p.direct)
	start := time.Now()
	err := p.loop()
	ended := errors.Is(err, io.EOF)
	if ended {
		p.bye()
		select {
		case <-p.sess.done:
		case <-time.After(byeWait):
		}
	}
	ss.Close()
	reason := "stream ended"
	if !ended && err != nil {
		reason = err.Error()
	}
	p.log.Info("rtsp play ended", "duration", time.Since(start).Round(time.Millisecond).String(),
		"bytes", p.sent, "skipped", p.reader.Skipped(), "reason", reason)
}

// waitStart waits until the session plays and the PLAY response is
// written.
func (p *player) waitStart(gate <-chan struct{}) bool {
	if gate != nil {
		select {
		case <-gate:
			return true
		case <-p.reader.Done():
			return false
		case <-p.sess.done:
			return false
		}
	}
	// An HTTP tunnel: the response goes another way. gortsplib queues
	// what is written once the session plays.
	deadline := time.Now().Add(p.srv.WriteTimeout)
	for p.sess.ss.State() != gortsplib.ServerSessionStatePlay {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-p.reader.Done():
			return false
		case <-p.sess.done:
			return false
		}
	}
	return true
}

func (p *player) loop() error {
	// Small to start with: an idle player holds these; append grows
	// them for a GOP burst.
	p.frames = make([]*media.Frame, 0, 64)
	for {
		var err error
		p.frames, err = p.reader.Next(p.frames[:0])
		if err != nil {
			return err
		}
		if p.direct {
			err = p.writeDirect(p.frames)
		} else {
			err = p.writeSession(p.frames)
		}
		// drop references so delivered frames can be collected
		clear(p.frames)
		if err != nil {
			return err
		}
	}
}

// track returns the outTrack of f, nil for a frame of a media the client
// did not set up.
func (p *player) track(f *media.Frame) (*outTrack, error) {
	kind := f.Track.Kind()
	if slices.Contains(p.skipped, f.Track) {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range p.out {
		if o.m.kind != kind {
			continue
		}
		if o.m.codec != f.Track.Codec {
			return nil, errCodecChanged
		}
		if !o.setup {
			return nil, nil
		}
		return o, nil
	}
	return nil, nil
}

// timing returns the RTP timestamp of pts on o and the wall-clock time
// the sender reports map it to: every media of a player shares one
// mapping, so players line them up.
func (p *player) timing(o *outTrack, pts time.Duration) (uint32, time.Time) {
	if !p.haveBase {
		p.haveBase, p.ptsBase, p.ntpBase = true, pts, time.Now()
	}
	return o.tsBase + uint32(ticks(pts, o.m.clock)), p.ntpBase.Add(pts - p.ptsBase)
}

// ticks converts a duration to ticks of a clock rate without overflowing
// for streams of any realistic length.
func ticks(d time.Duration, rate int) int64 {
	r := int64(rate)
	secs, rem := int64(d/time.Second), int64(d%time.Second)
	return secs*r + rem*r/int64(time.Second)
}

// interleaved headers and sender reports, the per-player bytes of a
// direct write
const (
	rtpHeaderSize = 12
	ilHeaderSize  = 4
	srSize        = ilHeaderSize + 28
)

func (p *player) writeDirect(frames []*media.Frame) error {
	now := time.Now()
	p.lists = p.lists[:0]
	need := 0
	for _, f := range frames {
		o, err := p.track(f)
		if err != nil {
			return err
		}
		var l []byte
		if o != nil && o.channel >= 0 {
			l = FramePackets(f)
			need += PacketCount(l)*(ilHeaderSize+rtpHeaderSize) + srSize
		}
		p.lists = append(p.lists, l)
	}
	if need == 0 {
		return nil
	}
	// Headers go to hdr, sized up front: the buffers point into it, so
	// it must not move while they are built.
	if cap(p.hdr) < need {
		p.hdr = make([]byte, 0, need)
	}
	p.hdr = p.hdr[:0]
	p.bufs = p.bufs[:0]
	for i, f := range frames {
		l := p.lists[i]
		if l == nil {
			continue
		}
		o, _ := p.track(f)
		ts, wall := p.timing(o, f.PTS)
		if !o.sentSR || now.Sub(o.srAt) >= srPeriod {
			start := len(p.hdr)
			p.hdr = appendSenderReport(p.hdr, o, ts, wall)
			p.bufs = append(p.bufs, p.hdr[start:len(p.hdr):len(p.hdr)])
			o.sentSR, o.srAt = true, now
		}
		EachPacket(l, func(marker bool, off uint32, payload []byte) bool {
			start := len(p.hdr)
			p.hdr = append(p.hdr, '$', byte(o.channel))
			p.hdr = binary.BigEndian.AppendUint16(p.hdr, uint16(rtpHeaderSize+len(payload)))
			p.hdr = appendRTPHeader(p.hdr, o, marker, ts+off)
			p.bufs = append(p.bufs, p.hdr[start:len(p.hdr):len(p.hdr)], payload)
			o.packets++
			o.octets += uint32(len(payload))
			return true
		})
		o.lastTS, o.lastNTP = ts, wall
	}
	// WriteTo consumes the slice it is given; bufs keeps its array.
	p.wbufs = p.bufs
	n, err := p.conn.nc.writeBuffers(&p.wbufs, p.srv.WriteTimeout)
	p.sent += n
	p.reader.AddBytesOut(int(n))
	// drop references so delivered frames can be collected
	clear(p.bufs)
	clear(p.lists)
	return err
}

func appendRTPHeader(b []byte, o *outTrack, marker bool, ts uint32) []byte {
	pt := o.m.pt & 0x7f
	if marker {
		pt |= 0x80
	}
	b = append(b, 0x80, pt)
	b = binary.BigEndian.AppendUint16(b, o.seq)
	o.seq++
	b = binary.BigEndian.AppendUint32(b, ts)
	return binary.BigEndian.AppendUint32(b, o.ssrc)
}

// appendSenderReport appends an interleaved RTCP sender report for o
// saying that ts is wall.
func appendSenderReport(b []byte, o *outTrack, ts uint32, wall time.Time) []byte {
	b = append(b, '$', byte(o.channel+1), 0, 28)
	b = append(b, 0x80, 200, 0, 6) // V=2, no report blocks, SR, length 6 words
	b = binary.BigEndian.AppendUint32(b, o.ssrc)
	b = binary.BigEndian.AppendUint64(b, ntp.Encode(wall))
	b = binary.BigEndian.AppendUint32(b, ts)
	b = binary.BigEndian.AppendUint32(b, o.packets)
	return binary.BigEndian.AppendUint32(b, o.octets)
}

// writeSession sends frames through gortsplib's session (UDP, tunnels),
// which sends the sender reports itself.
func (p *player) writeSession(frames []*media.Frame) error {
	var sent int64
	for _, f := range frames {
		o, err := p.track(f)
		if err != nil {
			return err
		}
		if o == nil {
			continue
		}
		l := FramePackets(f)
		ts, wall := p.timing(o, f.PTS)
		EachPacket(l, func(marker bool, off uint32, payload []byte) bool {
			p.pkt = rtp.Packet{
				Header: rtp.Header{Version: 2, Marker: marker, PayloadType: o.m.pt, SequenceNumber: o.seq,
					Timestamp: ts + off, SSRC: o.ssrc},
				Payload: payload,
			}
			o.seq++
			err = p.writePacket(o, wall)
			if err == nil {
				sent += int64(rtpHeaderSize + len(payload))
			}
			return err == nil
		})
		p.pkt.Payload = nil
		if err != nil {
			p.sent += sent
			p.reader.AddBytesOut(int(sent))
			return err
		}
	}
	p.sent += sent
	p.reader.AddBytesOut(int(sent))
	return nil
}

// writePacket queues p.pkt, waiting while the session's queue is full
// (a GOP burst): the engine sees a slow player and applies its rules;
// a queue full for the write timeout ends the player.
func (p *player) writePacket(o *outTrack, wall time.Time) error {
	var deadline time.Time
	for {
		err := p.sess.ss.WritePacketRTPWithNTP(o.m.media, &p.pkt, wall)
		var full liberrors.ErrServerWriteQueueFull
		if !errors.As(err, &full) {
			if err != nil {
				return fmt.Errorf("rtsp: write: %w", err)
			}
			return nil
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(p.srv.WriteTimeout)
		} else if now.After(deadline) {
			return errPlayerTooSlow
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-p.reader.Done():
			return engine.ErrReaderClosed
		case <-p.sess.done:
			return engine.ErrReaderClosed
		}
	}
}

// bye tells the player the stream ended: an RTCP BYE on every media,
// which ffmpeg takes for the end of the stream.
func (p *player) bye() {
	if p.direct {
		var b []byte
		p.mu.Lock()
		for _, o := range p.out {
			if o.setup && o.channel >= 0 {
				bye, err := goodbye(o.ssrc).Marshal()
				if err != nil {
					continue
				}
				b = append(b, '$', byte(o.channel+1))
				b = binary.BigEndian.AppendUint16(b, uint16(len(bye)))
				b = append(b, bye...)
			}
		}
		p.mu.Unlock()
		bufs := net.Buffers{b}
		_, _ = p.conn.nc.writeBuffers(&bufs, time.Second)
		return
	}
	p.mu.Lock()
	out := append([]*outTrack(nil), p.out...)
	p.mu.Unlock()
	for _, o := range out {
		if o.setup {
			_ = p.sess.ss.WritePacketRTCP(o.m.media, goodbye(o.ssrc))
		}
	}
}

// goodbye is the BYE of ssrc. It carries a reason: ffmpeg ignores RTCP
// packets shorter than an RTP header (12 bytes), and a bare BYE has 8.
func goodbye(ssrc uint32) *rtcp.Goodbye {
	return &rtcp.Goodbye{Sources: []uint32{ssrc}, Reason: "stream ended"}
}

func randUint32() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint32(time.Now().UnixNano())
	}
	return binary.BigEndian.Uint32(b[:])
}
