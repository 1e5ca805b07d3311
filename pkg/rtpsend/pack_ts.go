package rtpsend

import (
	"bytes"
	"fmt"

	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

// tsPacketsPerRTP is how many 188-byte MPEG-TS packets one RTP packet
// carries (RFC 2250: an integral number; seven fit an Ethernet MTU).
const tsPacketsPerRTP = 7

// tsPacker sends MPEG-TS (pkg/hls's muxer, as live HLS and HTTP-TS):
// H.264 or H.265, and AAC, MP3 or Opus; G.711, AV1 and VP9 have no
// place in MPEG-TS that players read (hls.DropReason) and are left out.
type tsPacker struct {
	out          packetWriter
	onlyAudio    bool
	w            *hls.TSWriter
	buf          bytes.Buffer
	video, audio *media.Track // the tracks the muxer was built for
	videoStarted bool
}

func tsCarries(t *media.Track, onlyAudio bool) bool {
	return hls.CanCarry(t.Codec) && (!onlyAudio || t.Kind() == media.KindAudio)
}

func newTSPacker(o Options, ssrc uint32, tracks []*media.Track) (*tsPacker, []*media.Track, error) {
	p := &tsPacker{out: newPacketWriter(ssrc, o.PayloadType, nil), onlyAudio: o.OnlyAudio}
	p.out.pz.MTU = 12 + tsPacketsPerRTP*188
	var used []*media.Track
	for _, t := range tracks {
		if !tsCarries(t, o.OnlyAudio) || (t.Kind() == media.KindVideo && p.video != nil) || (t.Kind() == media.KindAudio && p.audio != nil) {
			continue
		}
		if t.Kind() == media.KindVideo {
			p.video = t
		} else {
			p.audio = t
		}
		used = append(used, t)
	}
	if len(used) == 0 {
		return nil, nil, noTrack(FormatTS, o.OnlyAudio, tracks)
	}
	if err := p.init(); err != nil {
		return nil, nil, err
	}
	return p, used, nil
}

// init starts a muxer for the current tracks, video first (PID 256).
func (p *tsPacker) init() error {
	var tracks []*media.Track
	for _, t := range []*media.Track{p.video, p.audio} {
		if t != nil {
			tracks = append(tracks, t)
		}
	}
	w, err := hls.NewTSWriter(&p.buf, tracks)
	if err != nil {
		return fmt.Errorf("rtpsend: MPEG-TS muxer: %w", err)
	}
	p.w = w
	p.videoStarted = false
	return nil
}

// carried reports whether f goes out, starting a new muxer when a
// publisher that came back changed a codec or added a track.
func (p *tsPacker) carried(f *media.Frame) (bool, error) {
	if !tsCarries(f.Track, p.onlyAudio) {
		return false, nil
	}
	if p.w.Carries(f.Track) {
		return true, nil
	}
	if f.Track.Kind() == media.KindVideo {
		p.video = f.Track
	} else {
		p.audio = f.Track
	}
	return true, p.init()
}

func (p *tsPacker) pack(dst []byte, f *media.Frame) ([]byte, error) {
	ok, err := p.carried(f)
	if !ok || err != nil || len(f.Payload) == 0 {
		return dst, err
	}
	if f.Track.Kind() == media.KindVideo {
		if !f.Key && !p.videoStarted {
			return dst, nil
		}
	} else if p.video != nil && !p.videoStarted {
		// The muxer makes the first track written the PCR track, which
		// must be the video.
		return dst, nil
	}
	defer p.buf.Reset()
	wrote, err := p.w.WriteFrame(f)
	if err != nil {
		return dst, fmt.Errorf("rtpsend: MPEG-TS: %w", err)
	}
	if !wrote {
		return dst, nil
	}
	if f.Track.Kind() == media.KindVideo {
		p.videoStarted = true
	}
	return p.out.emit(dst, p.buf.Bytes(), uint32(clock90k(f.DTS+hls.TimestampOffset)))
}
