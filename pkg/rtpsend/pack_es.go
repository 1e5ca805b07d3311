package rtpsend

import (
	pionrtp "github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/mediakit/mediakit/pkg/media"
)

// esPacker sends one elementary stream: the video track (H.264 per RFC
// 6184, H.265 per RFC 7798, through pion's payloaders), or with
// OnlyAudio, or when there is no video, the audio track (AAC per RFC
// 3640, G.711 and Opus raw). Frames of the other kind are left out, as
// ZLMediaKit's raw sender does.
type esPacker struct {
	out          packetWriter
	kind         media.Kind
	codec        media.Codec
	rate         int64
	videoStarted bool
	nalus        [][]byte
	data         []byte
}

// esCarries reports whether the ES sender can carry codec c.
func esCarries(c media.Codec) bool {
	switch c {
	case media.CodecH264, media.CodecH265, media.CodecAAC, media.CodecG711A, media.CodecG711U, media.CodecOpus:
		return true
	}
	return false
}

func newESPacker(o Options, ssrc uint32, tracks []*media.Track) (*esPacker, []*media.Track, error) {
	pick := func(k media.Kind) *media.Track {
		for _, t := range tracks {
			if t.Kind() == k && esCarries(t.Codec) {
				return t
			}
		}
		return nil
	}
	var t *media.Track
	if !o.OnlyAudio {
		t = pick(media.KindVideo)
	}
	if t == nil {
		t = pick(media.KindAudio)
	}
	if t == nil {
		return nil, nil, noTrack(FormatES, o.OnlyAudio, tracks)
	}
	p := &esPacker{out: newPacketWriter(ssrc, o.PayloadType, nil), kind: t.Kind()}
	p.configure(t)
	return p, []*media.Track{t}, nil
}

// configure sets the payloader and clock of t's codec; a publisher that
// came back may have changed it.
func (p *esPacker) configure(t *media.Track) {
	p.codec = t.Codec
	p.rate = 90000
	var pl pionrtp.Payloader
	switch t.Codec {
	case media.CodecH264:
		pl = &codecs.H264Payloader{}
	case media.CodecH265:
		pl = &codecs.H265Payloader{}
	case media.CodecAAC:
		pl = aacPayloader{}
		p.rate = int64(t.SampleRate)
	case media.CodecG711A, media.CodecG711U:
		p.rate = int64(t.SampleRate)
	case media.CodecOpus:
		p.rate = 48000 // RFC 7587, whatever the sample rate
	}
	if p.rate <= 0 {
		p.rate = 8000
	}
	p.out.pz.Payloader = pl
	p.videoStarted = false
}

func (p *esPacker) pack(dst []byte, f *media.Frame) ([]byte, error) {
	if f.Track.Kind() != p.kind || !esCarries(f.Track.Codec) || len(f.Payload) == 0 {
		return dst, nil
	}
	if f.Track.Codec != p.codec {
		p.configure(f.Track)
	}
	switch p.codec {
	case media.CodecH264, media.CodecH265:
		if !f.Key && !p.videoStarted {
			return dst, nil
		}
		var n int
		if p.nalus, n = media.AppendAccessUnit(p.nalus[:0], f); n == 0 {
			return dst, nil
		}
		p.videoStarted = true
		p.data = media.AppendAnnexB(p.data[:0], p.nalus)
		clear(p.nalus)
		return p.out.emit(dst, p.data, uint32(ticks(f.PTS, 90000)))
	case media.CodecG711A, media.CodecG711U:
		return p.g711(dst, f)
	}
	return p.out.emit(dst, f.Payload, uint32(ticks(f.PTS, p.rate)))
}

// g711 sends G.711 samples; a frame larger than a packet is split, each
// packet timestamped with its first sample.
func (p *esPacker) g711(dst []byte, f *media.Frame) ([]byte, error) {
	channels := max(f.Track.Channels, 1)
	limit := (pktLimit / channels) * channels
	ts := ticks(f.PTS, p.rate)
	for b := f.Payload; len(b) > 0; {
		n := min(len(b), limit)
		var err error
		if dst, err = p.out.emit(dst, b[:n], uint32(ts)); err != nil {
			return dst, err
		}
		ts += int64(n / channels)
		b = b[n:]
	}
	return dst, nil
}

// pktLimit is the payload of a packet of the default MTU.
const pktLimit = 1400 - 12
