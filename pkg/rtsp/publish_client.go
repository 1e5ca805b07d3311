package rtsp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/media"
)

// PublishClient publishes a stream to an RTSP server (ZLMediaKit's
// addStreamPusherProxy to rtsp://): ANNOUNCE with the tracks' SDP, SETUP,
// RECORD, then RTP built from the frames with the payloads the server's
// own players get. One PublishClient is one session.
type PublishClient struct {
	gc      *gortsplib.Client
	display string
	udp     bool
	tracks  map[*media.Track]*publishTrack
	pkt     rtp.Packet // WriteFrame's; gortsplib copies it out

	writeTimeout time.Duration
	bytes        atomic.Int64
}

// publishQueue is gortsplib's write queue of a publish, in packets (a
// power of two): about 5 MB of 1400-byte payloads.
const publishQueue = 4096

// publishTrack is what a track needs to number and time its packets.
type publishTrack struct {
	medi  *description.Media
	pt    uint8
	clock int
	base  uint32
	seq   uint16
}

// DialPublish announces tracks (those RTSP carries; at least one) at
// rawURL and starts recording. opts.Transport picks interleaved TCP (the
// default) or UDP; ReadTimeout bounds connecting and each response;
// WriteTimeout each write. ctx ending while connecting abandons it.
func DialPublish(ctx context.Context, rawURL string, tracks []*media.Track, opts ClientOptions) (*PublishClient, error) {
	opts = opts.withDefaults()
	u, display, err := parseClientURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if opts.Transport == TransportMulticast {
		return nil, fmt.Errorf("rtsp: publish %s: multicast is for playing, not publishing", display)
	}
	p := &PublishClient{display: display, writeTimeout: opts.WriteTimeout, udp: opts.Transport == TransportUDP, tracks: map[*media.Track]*publishTrack{}}
	desc := &description.Session{}
	for _, t := range tracks {
		f, err := FormatForTrack(t)
		if err != nil {
			opts.Log.Warn("rtsp publish: track left out", "url", display, "codec", t.Codec.String(), "error", err.Error())
			continue
		}
		typ := description.MediaTypeVideo
		if t.Codec.Kind() == media.KindAudio {
			typ = description.MediaTypeAudio
		}
		medi := &description.Media{Type: typ, Formats: []format.Format{f}}
		desc.Medias = append(desc.Medias, medi)
		p.tracks[t] = &publishTrack{medi: medi, pt: f.PayloadType(), clock: f.ClockRate(), base: randUint32(), seq: uint16(randUint32())}
	}
	if len(desc.Medias) == 0 {
		return nil, fmt.Errorf("rtsp: publish %s: %w", display, ErrNoUsableTrack)
	}
	dialer := &net.Dialer{Timeout: opts.ReadTimeout}
	p.gc = &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		ReadTimeout:  max(opts.ReadTimeout, opts.StartTimeout),
		WriteTimeout: opts.WriteTimeout,
		TLSConfig:    opts.TLSConfig,
		Protocol:     new(opts.Transport.protocol()),
		UserAgent:    "mediakit",
		DialContext:  dialer.DialContext,
		// A keyframe burst (the GOP a push starts with) fits: gortsplib
		// refuses a packet when its queue is full instead of waiting.
		WriteQueueSize: publishQueue,
	}
	if err := p.gc.Start(); err != nil {
		return nil, fmt.Errorf("rtsp: publish %s: %w", display, err)
	}
	stop := context.AfterFunc(ctx, p.gc.Close)
	defer stop()
	fail := func(op string, err error) (*PublishClient, error) {
		p.gc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rtsp: publish %s: %w", display, ctx.Err())
		}
		return nil, fmt.Errorf("rtsp: publish %s: %w", display, &clOpError{op, err})
	}
	if _, err := p.gc.Announce(u, desc); err != nil {
		return fail("ANNOUNCE", err)
	}
	if err := p.gc.SetupAll(u, desc.Medias); err != nil {
		return fail("SETUP", err)
	}
	if _, err := p.gc.Record(); err != nil {
		return fail("RECORD", err)
	}
	return p, nil
}

// String names the URL, password redacted.
func (p *PublishClient) String() string { return p.display }

// Carries reports whether f's track was announced: frames of other
// tracks are not sent.
func (p *PublishClient) Carries(t *media.Track) bool { return p.tracks[t] != nil }

// WriteFrame sends f as RTP; a frame of a track that was not announced
// is skipped.
func (p *PublishClient) WriteFrame(f *media.Frame) error {
	pt, err := p.track(f.Track)
	if pt == nil || err != nil {
		return err
	}
	ts := pt.base + uint32(ticks(f.PTS, pt.clock))
	EachPacket(FramePackets(f), func(marker bool, tsOffset uint32, payload []byte) bool {
		p.pkt.Header = rtp.Header{Version: 2, Marker: marker, PayloadType: pt.pt, SequenceNumber: pt.seq, Timestamp: ts + tsOffset}
		p.pkt.Payload = payload
		pt.seq++
		err = p.writePacket(pt.medi)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("rtsp: publish %s: %w", p.display, err)
	}
	return nil
}

// track is what frames of t are sent as: its announced track, or, for a
// track the stream declared again (a publisher that came back), the
// announced one of the same kind and configuration. A track whose
// configuration differs cannot be sent in this session (RTSP announces
// once): an error ends it, and the caller's retry announces anew. Nil
// and no error: a track that was never announced (left out at Dial).
func (p *PublishClient) track(t *media.Track) (*publishTrack, error) {
	if pt := p.tracks[t]; pt != nil {
		return pt, nil
	}
	for announced, pt := range p.tracks {
		if announced.Kind() != t.Kind() {
			continue
		}
		if !t.SameConfig(announced) {
			return nil, fmt.Errorf("rtsp: publish %s: the %s track changed (%s); announcing again", p.display, t.Kind(), t.Codec)
		}
		p.tracks[t] = pt
		return pt, nil
	}
	return nil, nil
}

// writePacket queues p.pkt, waiting while gortsplib's queue is full (it
// has no blocking write): the server's pace holds the push back, up to
// the write timeout.
func (p *PublishClient) writePacket(medi *description.Media) error {
	var deadline time.Time
	for {
		err := p.gc.WritePacketRTP(medi, &p.pkt)
		var full liberrors.ErrClientWriteQueueFull
		if !errors.As(err, &full) {
			if err == nil {
				p.bytes.Add(int64(rtpHeaderSize + len(p.pkt.Payload)))
			}
			return err
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(p.writeTimeout)
		} else if now.After(deadline) {
			return fmt.Errorf("the server took nothing for %v: %w", p.writeTimeout, err)
		}
		time.Sleep(queueFullWait)
	}
}

// queueFullWait is how long a write waits for room in a full queue before
// trying again.
const queueFullWait = 5 * time.Millisecond

// BytesWritten is the number of RTP bytes accepted for sending so far
// (counted here: gortsplib counts a packet its full queue refused too).
// Safe for concurrent use.
func (p *PublishClient) BytesWritten() int64 { return p.bytes.Load() }

// Close ends the session (TEARDOWN) and waits for gortsplib's goroutines.
func (p *PublishClient) Close() error {
	p.gc.Close()
	return nil
}

// Wait returns when the session has ended, with why.
func (p *PublishClient) Wait() error { return p.gc.Wait() }
