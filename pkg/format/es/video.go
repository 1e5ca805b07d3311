package es

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// Parameter set kinds, indexes of videoState.params.
const (
	psVPS = iota
	psSPS
	psPPS
	numPS
)

// Bounds of the NAL units carried from an access unit without a picture
// (parameter sets or SEI sent on their own) to the next one.
const (
	maxCarryNALUs = 32
	maxCarryBytes = 1 << 20
)

// maxNALUs bounds the NAL units of an access unit, and so the scratch
// list kept between calls: an 8 MiB access unit of 4-byte NAL units
// would otherwise cost 80 MB. Encoders use at most a few hundred slices
// per picture (one per macroblock row of 4K is 135).
const maxNALUs = 1024

type naluKind uint8

const (
	naluOther    naluKind = iota // SEI, end of sequence, ...: kept
	naluDrop                     // AUD, filler data, invalid header: dropped
	naluParam                    // VPS, SPS or PPS
	naluSlice                    // a slice of a picture
	naluKeySlice                 // a slice of an IDR (H.264) or IRAP (H.265) picture
)

type nalu struct {
	data []byte
	kind naluKind
	ps   int // for naluParam: psVPS, psSPS or psPPS
}

// videoState is what an ingest remembers of the video elementary stream.
type videoState struct {
	codec media.Codec
	// params are the latest parameter sets seen (owned copies): a
	// keyframe without its own uses them.
	params [numPS][]byte
	// carry holds NAL units (owned copies) of access units without a
	// picture, which demuxers send when a PES or RTP frame holds only
	// parameter sets or SEI; they belong to the next picture.
	carry      []nalu
	carryBytes int
	nalus      []nalu // scratch: the current access unit
}

// classify finds the kind of a NAL unit of codec c.
func classify(c media.Codec, n []byte) nalu {
	out := nalu{data: n}
	if n[0]&0x80 != 0 { // forbidden_zero_bit: not a NAL unit
		out.kind = naluDrop
		return out
	}
	if c == media.CodecH264 {
		switch n[0] & 0x1f {
		case 5:
			out.kind = naluKeySlice
		case 1, 2, 3, 4:
			out.kind = naluSlice
		case 7:
			out.kind, out.ps = naluParam, psSPS
		case 8:
			out.kind, out.ps = naluParam, psPPS
		case 0, 9, 12: // unspecified, AUD, filler data
			out.kind = naluDrop
		}
		return out
	}
	if len(n) < 2 { // the H.265 NAL unit header has two bytes
		out.kind = naluDrop
		return out
	}
	switch typ := (n[0] >> 1) & 0x3f; {
	case typ >= 16 && typ <= 23:
		out.kind = naluKeySlice
	case typ < 32:
		out.kind = naluSlice
	case typ == 32:
		out.kind, out.ps = naluParam, psVPS
	case typ == 33:
		out.kind, out.ps = naluParam, psSPS
	case typ == 34:
		out.kind, out.ps = naluParam, psPPS
	case typ == 35 || typ == 38: // AUD, filler data
		out.kind = naluDrop
	}
	return out
}

// WriteVideo handles one H.264 or H.265 access unit in Annex-B form (with
// start codes). Parameter sets in it (or in earlier access units without
// a picture) make the track, and a keyframe whose parameter sets differ
// from the track's makes a new track. Frames are marked Key on IDR (H.264)
// and IRAP (H.265) pictures; those before the track's first keyframe are
// dropped and counted. PTS earlier than DTS is raised to DTS.
func (in *Ingest) WriteVideo(codec media.Codec, pts, dts time.Duration, annexB []byte) error {
	if codec != media.CodecH264 && codec != media.CodecH265 {
		return in.refuse(warnUnsupported, fmt.Errorf("es: video access unit at %v: codec %s: %w", dts, codec, ErrUnsupported))
	}
	if in.opts.OnlyTrack == OnlyAudio {
		in.stats.DroppedFiltered++
		return nil
	}
	if len(annexB) > MaxAccessUnitSize {
		return in.refuse(warnTooLarge, fmt.Errorf("es: %s access unit at %v of %d bytes: %w", codec, dts, len(annexB), ErrTooLarge))
	}
	vs := &in.vs
	if codec != vs.codec {
		// Parameter sets of another codec mean nothing to this one.
		*vs = videoState{codec: codec, nalus: vs.nalus[:0]}
	}
	vs.nalus = append(vs.nalus[:0], vs.carry...)
	carried, count := len(vs.nalus), 0
	ok, leading := splitAnnexB(annexB, func(n []byte) {
		if count++; count <= maxNALUs {
			vs.nalus = append(vs.nalus, classify(codec, n))
		}
	})
	defer clear(vs.nalus) // do not pin the caller's buffer
	if !ok {
		return in.refuse(warnNoStartCode, fmt.Errorf("es: %s access unit at %v: no start code in %d bytes: %w", codec, dts, len(annexB), ErrMalformed))
	}
	if count > maxNALUs {
		return in.refuse(warnManyNALUs, fmt.Errorf("es: %s access unit at %v: %d NAL units, more than %d: %w", codec, dts, count, maxNALUs, ErrMalformed))
	}
	if leading > 0 {
		in.warn(warnLeadingBytes, "es: skipped bytes before the first start code of a video access unit", "bytes", leading)
	}

	key, picture := false, false
	var ps [numPS][]byte
	for _, n := range vs.nalus {
		switch n.kind {
		case naluKeySlice:
			key, picture = true, true
		case naluSlice:
			picture = true
		case naluParam:
			if ps[n.ps] == nil {
				ps[n.ps] = n.data
			}
		}
	}
	if !picture {
		in.carry(vs.nalus[carried:])
		return nil
	}
	vs.carry, vs.carryBytes = nil, 0
	for i, p := range ps {
		if p != nil && !bytes.Equal(vs.params[i], p) {
			vs.params[i] = bytes.Clone(p)
		}
	}
	if pts < dts {
		in.warn(warnPTSBeforeDTS, "es: video PTS before DTS raised to DTS", "pts", pts, "dts", dts)
		pts = dts
	}

	t := in.video
	if t != nil && t.Codec != codec {
		t = nil // a new codec starts at its own keyframe
	}
	if key && !vs.matches(t) {
		nt, err := vs.newTrack(t)
		if errors.Is(err, errNoParams) {
			in.stats.DroppedNoConfig++
			in.warn(warnNoConfig, "es: video keyframe without parameter sets dropped", "codec", codec.String(), "error", err.Error())
			return nil
		}
		if err != nil {
			// Forget the bad sets: later keyframes without their own
			// go on with the current track's.
			vs.params = [numPS][]byte{}
			return in.refuse(warnParamSets, fmt.Errorf("es: %s keyframe at %v: %w", codec, dts, err))
		}
		t = nt
	}
	if t == nil || (!key && !in.videoKeyed) {
		in.stats.DroppedBeforeKey++
		in.warn(warnBeforeKey, "es: video dropped until its first keyframe", "codec", codec.String())
		return nil
	}
	payload, room := vs.payload(t)
	if t != in.video {
		in.video = t
		if err := in.tracksChanged(); err != nil {
			return err
		}
	}
	if key {
		in.videoKeyed = true
	}
	return in.frame(&media.Frame{Track: t, DTS: dts, PTS: pts, Key: key, Payload: payload, TagRoom: room})
}

// ResyncVideo drops video until the next keyframe; for a caller that lost
// data (RTP packets), after which pictures would decode with errors.
func (in *Ingest) ResyncVideo() {
	in.videoKeyed = false
}

// carry keeps copies of the NAL units of an access unit without a picture
// for the next one.
func (in *Ingest) carry(nalus []nalu) {
	vs := &in.vs
	for _, n := range nalus {
		if n.kind == naluDrop {
			continue
		}
		if len(vs.carry) >= maxCarryNALUs || vs.carryBytes+len(n.data) > maxCarryBytes {
			// Nothing but pictures should follow so many: start over.
			in.warn(warnCarry, "es: too many NAL units without a picture; older ones dropped", "nalus", len(vs.carry))
			vs.carry, vs.carryBytes = nil, 0
			if len(n.data) > maxCarryBytes {
				continue
			}
		}
		n.data = bytes.Clone(n.data)
		vs.carry = append(vs.carry, n)
		vs.carryBytes += len(n.data)
	}
}

var errNoParams = errors.New("no SPS or PPS (or VPS) seen yet")

// candidate returns the parameter sets a keyframe uses: the latest seen,
// or the current track's for a kind not seen since the codec changed.
func (vs *videoState) candidate(t *media.Track) [numPS][]byte {
	c := vs.params
	if t != nil {
		for i, p := range [numPS][]byte{t.VPS, t.SPS, t.PPS} {
			if c[i] == nil {
				c[i] = p
			}
		}
	}
	return c
}

// matches reports whether t is the track of the latest parameter sets.
func (vs *videoState) matches(t *media.Track) bool {
	if t == nil {
		return false
	}
	c := vs.candidate(t)
	return bytes.Equal(c[psSPS], t.SPS) && bytes.Equal(c[psPPS], t.PPS) &&
		(vs.codec == media.CodecH264 || bytes.Equal(c[psVPS], t.VPS))
}

// newTrack builds the track of the latest parameter sets.
func (vs *videoState) newTrack(cur *media.Track) (*media.Track, error) {
	c := vs.candidate(cur)
	if c[psSPS] == nil || c[psPPS] == nil || (vs.codec == media.CodecH265 && c[psVPS] == nil) {
		return nil, errNoParams
	}
	if vs.codec == media.CodecH264 {
		return media.NewH264Track(c[psSPS], c[psPPS])
	}
	return media.NewH265Track(c[psVPS], c[psSPS], c[psPPS])
}

// payload builds the AVCC payload of the current access unit for track t
// (every NAL unit but dropped kinds and the parameter sets t carries)
// inside the room of its FLV tag (flv.NewTagRoom), and returns both.
func (vs *videoState) payload(t *media.Track) (payload, room []byte) {
	own := [numPS][]byte{t.VPS, t.SPS, t.PPS}
	keep := func(n nalu) bool {
		return n.kind != naluDrop && (n.kind != naluParam || !bytes.Equal(n.data, own[n.ps]))
	}
	size := 0
	for _, n := range vs.nalus {
		if keep(n) {
			size += 4 + len(n.data)
		}
	}
	room, out := flv.NewTagRoom(t, size)
	out = out[:0]
	for _, n := range vs.nalus {
		if keep(n) {
			out = media.AppendAVCC(out, n.data)
		}
	}
	return out, room
}
