package rtpsend

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/pkg/media"
)

// tsPacketsPerRTP is how many 188-byte MPEG-TS packets one RTP packet
// carries (RFC 2250: an integral number; seven fit an Ethernet MTU).
const tsPacketsPerRTP = 7

// tsOffset keeps MPEG-TS timestamps, and the PCR the muxer puts 100 ms
// before the DTS, positive from the stream's first frame.
const tsOffset = 10 * time.Second

// tsPacker sends MPEG-TS (mediacommon's muxer, as live HLS): H.264 or
// H.265 and AAC; other codecs have no place in MPEG-TS here.
type tsPacker struct {
	out          packetWriter
	onlyAudio    bool
	w            *mpegts.Writer
	buf          bytes.Buffer
	video, audio *tsTrack
	videoStarted bool
	nalus        [][]byte
	aus          [1][]byte
}

type tsTrack struct {
	codec media.Codec
	asc   []byte
	ts    *mpegts.Track
}

func tsCarries(t *media.Track, onlyAudio bool) bool {
	switch t.Codec {
	case media.CodecH264, media.CodecH265:
		return !onlyAudio
	case media.CodecAAC:
		return true
	}
	return false
}

func newTSPacker(o Options, ssrc uint32, tracks []*media.Track) (*tsPacker, []*media.Track, error) {
	p := &tsPacker{out: newPacketWriter(ssrc, o.PayloadType, nil), onlyAudio: o.OnlyAudio}
	p.out.pz.MTU = 12 + tsPacketsPerRTP*188
	var used []*media.Track
	for _, t := range tracks {
		if !tsCarries(t, o.OnlyAudio) || (t.Kind() == media.KindVideo && p.video != nil) || (t.Kind() == media.KindAudio && p.audio != nil) {
			continue
		}
		tt, err := newTSTrack(t)
		if err != nil {
			return nil, nil, err
		}
		if t.Kind() == media.KindVideo {
			p.video = tt
		} else {
			p.audio = tt
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

func newTSTrack(t *media.Track) (*tsTrack, error) {
	tt := &tsTrack{codec: t.Codec}
	switch t.Codec {
	case media.CodecH264:
		tt.ts = &mpegts.Track{Codec: &tscodecs.H264{}}
	case media.CodecH265:
		tt.ts = &mpegts.Track{Codec: &tscodecs.H265{}}
	case media.CodecAAC:
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(t.AACConfig); err != nil {
			return nil, fmt.Errorf("rtpsend: AAC config %x: %w", t.AACConfig, err)
		}
		tt.asc = t.AACConfig
		tt.ts = &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: conf}}
	}
	return tt, nil
}

// init starts a muxer for the current tracks, video first (PID 256).
func (p *tsPacker) init() error {
	p.w = &mpegts.Writer{W: &p.buf}
	for _, t := range []*tsTrack{p.video, p.audio} {
		if t != nil {
			t.ts.PID = 0
			p.w.Tracks = append(p.w.Tracks, t.ts)
		}
	}
	p.videoStarted = false
	if err := p.w.Initialize(); err != nil {
		return fmt.Errorf("rtpsend: MPEG-TS muxer: %w", err)
	}
	return nil
}

// trackFor returns the muxer track of f, starting a new muxer when a
// publisher that came back changed a codec or added a track.
func (p *tsPacker) trackFor(f *media.Frame) (*tsTrack, error) {
	if !tsCarries(f.Track, p.onlyAudio) {
		return nil, nil
	}
	cur := &p.audio
	if f.Track.Kind() == media.KindVideo {
		cur = &p.video
	}
	if *cur != nil && (*cur).codec == f.Track.Codec && bytes.Equal((*cur).asc, f.Track.AACConfig) {
		return *cur, nil
	}
	tt, err := newTSTrack(f.Track)
	if err != nil {
		return nil, err
	}
	*cur = tt
	return tt, p.init()
}

func (p *tsPacker) pack(dst []byte, f *media.Frame) ([]byte, error) {
	t, err := p.trackFor(f)
	if t == nil || err != nil || len(f.Payload) == 0 {
		return dst, err
	}
	pts, dts := clock90k(f.PTS+tsOffset), clock90k(f.DTS+tsOffset)
	switch t.codec {
	case media.CodecH264, media.CodecH265:
		if !f.Key && !p.videoStarted {
			return dst, nil
		}
		// Our own AUD first: the muxer would copy the access unit to
		// prepend one.
		var n int
		if p.nalus, n = media.AppendAccessUnit(append(p.nalus[:0], media.AccessUnitDelimiter(t.codec)), f); n == 0 {
			return dst, nil
		}
		p.videoStarted = true
		if t.codec == media.CodecH264 {
			err = p.w.WriteH264(t.ts, pts, dts, p.nalus)
		} else {
			err = p.w.WriteH265(t.ts, pts, dts, p.nalus)
		}
		clear(p.nalus)
	case media.CodecAAC:
		p.aus[0] = f.Payload
		err = p.w.WriteMPEG4Audio(t.ts, pts, p.aus[:])
		p.aus[0] = nil
	}
	defer p.buf.Reset()
	if err != nil {
		return dst, fmt.Errorf("rtpsend: MPEG-TS %s frame at %v: %w", t.codec, f.DTS, err)
	}
	return p.out.emit(dst, p.buf.Bytes(), uint32(dts))
}
