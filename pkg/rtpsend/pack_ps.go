package rtpsend

import (
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
)

// PES stream ids of the video and the audio stream.
const (
	psVideoID = 0xE0
	psAudioID = 0xC0
)

// psType is the PSM stream type of codec c; 0 for codecs GB28181's PS
// does not carry here.
func psType(c media.Codec) ps.StreamType {
	switch c {
	case media.CodecH264:
		return ps.StreamH264
	case media.CodecH265:
		return ps.StreamH265
	case media.CodecAAC:
		return ps.StreamAAC
	case media.CodecG711A:
		return ps.StreamG711A
	case media.CodecG711U:
		return ps.StreamG711U
	case media.CodecMP3:
		return ps.StreamMPEG1Audio
	case media.CodecOpus:
		return ps.StreamOpus
	}
	return ps.StreamUnknown
}

// psTypeOf is psType with MP3 told apart by its version: MPEG-1
// (32-48 kHz) or MPEG-2/2.5 (8-24 kHz) audio.
func psTypeOf(t *media.Track) ps.StreamType {
	if t.Codec == media.CodecMP3 && t.SampleRate > 0 && t.SampleRate < 32000 {
		return ps.StreamMPEG2Audio
	}
	return psType(t.Codec)
}

// psDropReason says why PS leaves out a track of codec c, "" if it
// carries it.
func psDropReason(c media.Codec) string {
	if psType(c) != ps.StreamUnknown {
		return ""
	}
	return "GB28181 PS has no stream type for " + c.String()
}

// psPacker sends MPEG-PS in the layout of GB28181 cameras (ps.Muxer):
// video as Annex-B with parameter sets before each keyframe, AAC as ADTS,
// MP3 frames with their headers, Opus packets and G.711 raw (ZLMediaKit's
// layout); AV1 and VP9 have no PS stream type and are left out; one RTP frame per access unit, timestamped with its DTS on
// the 90 kHz clock.
type psPacker struct {
	out          packetWriter
	onlyAudio    bool
	streams      []ps.Stream
	mux          *ps.Muxer
	videoStarted bool
	aacTrack     *media.Track // the track adts is the header of
	adts         adts
	nalus        [][]byte
	data, buf    []byte
}

func newPSPacker(o Options, ssrc uint32, tracks []*media.Track) (*psPacker, []*media.Track, error) {
	p := &psPacker{out: newPacketWriter(ssrc, o.PayloadType, nil), onlyAudio: o.OnlyAudio}
	var used []*media.Track
	for _, t := range tracks {
		id := p.streamID(t)
		if id == 0 || p.declared(id) != ps.StreamUnknown {
			continue
		}
		p.streams = append(p.streams, ps.Stream{ID: id, Type: psTypeOf(t)})
		used = append(used, t)
	}
	if len(p.streams) == 0 {
		return nil, nil, noTrack(FormatPS, o.OnlyAudio, tracks)
	}
	p.mux = ps.NewMuxer(p.streams)
	return p, used, nil
}

// streamID is the PES stream id frames of t go in; 0 leaves them out.
func (p *psPacker) streamID(t *media.Track) byte {
	switch {
	case psType(t.Codec) == ps.StreamUnknown:
		return 0
	case t.Kind() == media.KindVideo && !p.onlyAudio:
		return psVideoID
	case t.Kind() == media.KindAudio:
		return psAudioID
	}
	return 0
}

// declared is the stream type the muxer announces for id.
func (p *psPacker) declared(id byte) ps.StreamType {
	for _, s := range p.streams {
		if s.ID == id {
			return s.Type
		}
	}
	return ps.StreamUnknown
}

// redeclare starts a new muxer, whose first frame carries a new system
// header and PSM, when a publisher that came back changed a codec or
// added a track.
func (p *psPacker) redeclare(id byte, typ ps.StreamType) {
	streams := make([]ps.Stream, 0, len(p.streams)+1)
	for _, s := range p.streams {
		if s.ID != id {
			streams = append(streams, s)
		}
	}
	p.streams = append(streams, ps.Stream{ID: id, Type: typ})
	p.mux = ps.NewMuxer(p.streams)
	if id == psVideoID {
		p.videoStarted = false
	}
}

func (p *psPacker) pack(dst []byte, f *media.Frame) ([]byte, error) {
	id := p.streamID(f.Track)
	if id == 0 || len(f.Payload) == 0 {
		return dst, nil
	}
	typ := psTypeOf(f.Track)
	if p.declared(id) != typ {
		p.redeclare(id, typ)
	}
	switch {
	case id == psVideoID:
		if !f.Key && !p.videoStarted {
			return dst, nil // nothing decodes before the first keyframe
		}
		var n int
		if p.nalus, n = media.AppendAccessUnit(p.nalus[:0], f); n == 0 {
			return dst, nil
		}
		p.videoStarted = true
		p.data = media.AppendAnnexB(p.data[:0], p.nalus)
		clear(p.nalus)
	case typ == ps.StreamAAC:
		if f.Track != p.aacTrack {
			h, err := newADTS(f.Track.AACConfig)
			if err != nil {
				return dst, err
			}
			p.aacTrack, p.adts = f.Track, h
		}
		p.data = p.adts.appendFrame(p.data[:0], f.Payload)
	default:
		p.data = append(p.data[:0], f.Payload...)
	}
	pts, dts := clock90k(f.PTS), clock90k(f.DTS)
	p.buf = p.mux.AppendFrame(p.buf[:0], ps.Frame{StreamID: id, Type: typ, PTS: pts, DTS: dts, Key: f.Key, Data: p.data}, f.Key)
	return p.out.emit(dst, p.buf, uint32(dts))
}
