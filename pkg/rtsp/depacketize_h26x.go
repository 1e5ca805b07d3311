package rtsp

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/media"
)

// Parameter set kinds, indexes of dpVideo.params.
const (
	dpVPS = iota
	dpSPS
	dpPPS
	dpNumPS
)

type dpNALUClass uint8

const (
	dpOther    dpNALUClass = iota // SEI, end of sequence, ...: kept
	dpDrop                        // AUD, filler data, invalid or RTP-only types: dropped
	dpParam                       // VPS, SPS or PPS
	dpSlice                       // a slice of a picture
	dpKeySlice                    // a slice of an IDR (H.264) or IRAP (H.265) picture
)

// Filler-data NAL units, which the depacketizer feeds its decoder to
// close an access unit (and then drops with every other filler).
var (
	dpH264Filler = []byte{12}
	dpH265Filler = []byte{38 << 1, 1}
)

// dpVideo reassembles H.264 or H.265 access units with gortsplib's
// decoders.
//
// The decoders end an access unit on the marker bit (and H.264's also
// on a change of timestamp, returning the previous unit while keeping
// the packet); they do not say which timestamp a unit had. So that each
// unit gets the PTS of its own packets, dpVideo closes the open unit
// itself whenever the timestamp changes, by feeding a filler NAL unit
// with the open unit's timestamp and the marker bit set: the decoder
// then always returns the unit of the packets fed since the last one.
type dpVideo struct {
	codec  media.Codec
	h264   *rtph264.Decoder
	h265   *rtph265.Decoder
	filler []byte

	open    bool   // packets of an unfinished access unit were fed
	openTS  uint32 // their RTP timestamp
	openPTS int64
	openSeq uint16

	// A packet was lost or malformed while the unit of timestamp dropTS
	// was open (or about to be): that unit is dropped whole.
	dropping bool
	dropTS   uint32

	needKey bool
	sdp     [dpNumPS][]byte // parameter sets of the SDP
	params  [dpNumPS][]byte // latest in-band parameter sets (owned)
	track   *media.Track

	dts264 h264.DTSExtractor
	dts265 h265.DTSExtractor
}

func newDPVideo(f format.Format, t *media.Track) (*dpVideo, error) {
	v := &dpVideo{track: t, needKey: true}
	var err error
	switch f := f.(type) {
	case *format.H264:
		v.codec, v.filler = media.CodecH264, dpH264Filler
		v.sdp[dpSPS], v.sdp[dpPPS] = f.SafeParams()
		v.h264, err = f.CreateDecoder()
		v.dts264.Initialize()
	case *format.H265:
		v.codec, v.filler = media.CodecH265, dpH265Filler
		v.sdp[dpVPS], v.sdp[dpSPS], v.sdp[dpPPS] = f.SafeParams()
		v.h265, err = f.CreateDecoder()
		v.dts265.Initialize()
	}
	return v, err
}

// feed gives one packet to the codec's decoder.
func (v *dpVideo) feed(pkt *rtp.Packet) ([][]byte, error) {
	var au [][]byte
	var err error
	if v.h264 != nil {
		au, err = v.h264.Decode(pkt)
		switch {
		case errors.Is(err, rtph264.ErrMorePacketsNeeded):
			err = errDPMore
		case errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
			err = errDPNoStart
		}
	} else {
		au, err = v.h265.Decode(pkt)
		switch {
		case errors.Is(err, rtph265.ErrMorePacketsNeeded):
			err = errDPMore
		case errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
			err = errDPNoStart
		}
	}
	return au, err
}

var (
	errDPMore    = errors.New("more packets needed")
	errDPNoStart = errors.New("fragment without its start")
)

// close ends the open access unit and returns it, or nil when nothing
// was open.
func (v *dpVideo) close() [][]byte {
	if !v.open {
		return nil
	}
	v.open = false
	au, err := v.feed(&rtp.Packet{
		Header:  rtp.Header{Marker: true, Timestamp: v.openTS, SequenceNumber: v.openSeq},
		Payload: v.filler,
	})
	if err != nil {
		return nil
	}
	return au
}

func (v *dpVideo) decode(pkt *rtp.Packet, pts int64, lost bool, st *DepacketizerStats) ([]dpFrame, error) {
	var out []dpFrame
	var errs []error
	emit := func(au [][]byte, ts uint32, pts int64) {
		if v.dropping {
			// Units come out in timestamp order: the one to drop is
			// this one or has passed.
			v.dropping = false
			if ts == v.dropTS {
				st.Damaged++
				return
			}
		}
		if au == nil {
			return
		}
		f, err := v.accessUnit(au, pts, st)
		if err != nil {
			errs = append(errs, err)
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	switch {
	case lost:
		// The open unit lost its end (or a middle part), and the unit
		// this packet belongs to may have lost its beginning: drop
		// both, unless this packet plainly starts a unit (the parameter
		// sets cameras send before each keyframe), and resync on a
		// keyframe.
		sameUnit := v.open && pkt.Timestamp == v.openTS
		if v.open {
			v.close()
			st.Damaged++
		}
		v.needKey = true
		if sameUnit || !dpStartsAU(v.codec, pkt.Payload) {
			v.dropping, v.dropTS = true, pkt.Timestamp
		}
	case v.open && pkt.Timestamp != v.openTS:
		emit(v.close(), v.openTS, v.openPTS)
	}

	au, err := v.feed(pkt)
	switch {
	case err == nil:
		v.open = false
		emit(au, pkt.Timestamp, pts)
	case errors.Is(err, errDPMore):
		if !v.open {
			v.open, v.openTS, v.openPTS = true, pkt.Timestamp, pts
		}
		v.openSeq = pkt.SequenceNumber
	case errors.Is(err, errDPNoStart):
		// The middle of a unit whose start was never received (before
		// the first PTS): nothing to do.
	default:
		if !lost {
			// (after a loss, fragments without their start are expected)
			errs = append(errs, err)
		}
		// The open unit lost a part: drop it, and resync.
		if v.open {
			v.close()
			st.Damaged++
		} else {
			v.dropping, v.dropTS = true, pkt.Timestamp
		}
		v.needKey = true
	}
	return out, errors.Join(errs...)
}

// dpStartsAU reports whether an RTP payload plainly begins an access
// unit: its first NAL unit (alone, or first of an aggregation packet) is
// a parameter set, an access unit delimiter or an SEI, which only come
// before the pictures of a unit.
func dpStartsAU(c media.Codec, payload []byte) bool {
	if c == media.CodecH264 {
		if len(payload) >= 4 && payload[0]&0x1f == 24 { // STAP-A: first NAL unit after its size
			payload = payload[3:]
		}
		if len(payload) == 0 {
			return false
		}
		switch payload[0] & 0x1f {
		case 6, 7, 8, 9:
			return true
		}
		return false
	}
	if len(payload) >= 5 && (payload[0]>>1)&0x3f == 48 { // AP
		payload = payload[4:]
	}
	if len(payload) < 2 {
		return false
	}
	switch (payload[0] >> 1) & 0x3f {
	case 32, 33, 34, 35, 39: // VPS, SPS, PPS, AUD, prefix SEI
		return true
	}
	return false
}

// dpClassify finds the class of a NAL unit of codec c, and for a
// parameter set its kind.
func dpClassify(c media.Codec, n []byte) (dpNALUClass, int) {
	if len(n) == 0 || n[0]&0x80 != 0 { // forbidden_zero_bit: not a NAL unit
		return dpDrop, 0
	}
	if c == media.CodecH264 {
		switch n[0] & 0x1f {
		case 5:
			return dpKeySlice, 0
		case 1, 2, 3, 4:
			return dpSlice, 0
		case 7:
			return dpParam, dpSPS
		case 8:
			return dpParam, dpPPS
		case 0, 9, 12, 24, 25, 26, 27, 28, 29, 30, 31: // unspecified, AUD, filler, RTP aggregates
			return dpDrop, 0
		}
		return dpOther, 0
	}
	if len(n) < 2 { // the H.265 NAL unit header has two bytes
		return dpDrop, 0
	}
	switch typ := (n[0] >> 1) & 0x3f; {
	case typ >= 16 && typ <= 23:
		return dpKeySlice, 0
	case typ < 32:
		return dpSlice, 0
	case typ == 32:
		return dpParam, dpVPS
	case typ == 33:
		return dpParam, dpSPS
	case typ == 34:
		return dpParam, dpPPS
	case typ == 35 || typ == 38 || typ >= 48: // AUD, filler, RTP aggregates and fragments
		return dpDrop, 0
	}
	return dpOther, 0
}

// accessUnit turns a complete access unit into a frame (ticks of 90 kHz
// in DTS and PTS), or nil when it is dropped.
func (v *dpVideo) accessUnit(au [][]byte, pts int64, st *DepacketizerStats) (*dpFrame, error) {
	key, picture := false, false
	for _, n := range au {
		class, ps := dpClassify(v.codec, n)
		switch class {
		case dpKeySlice:
			key, picture = true, true
		case dpSlice:
			picture = true
		case dpParam:
			if !bytes.Equal(v.params[ps], n) {
				v.params[ps] = bytes.Clone(n)
			}
		}
	}
	if !picture {
		return nil, nil // parameter sets (kept above) or SEI on their own
	}
	if key && !v.matches(v.track) {
		t, err := v.newTrack()
		if errors.Is(err, errDPNoParams) {
			st.DroppedNoParams++
			return nil, nil
		}
		if err != nil {
			// Forget the bad sets: a later keyframe may bring good ones.
			v.params = [dpNumPS][]byte{}
			v.needKey = true
			return nil, fmt.Errorf("%s keyframe: %w", v.codec, err)
		}
		v.track = t
	}
	if v.track == nil {
		st.DroppedNoParams++
		return nil, nil
	}
	if v.needKey && !key {
		st.DroppedBeforeKey++
		return nil, nil
	}
	dts, err := v.extractDTS(au, pts, key)
	if err != nil {
		v.needKey = true
		v.resetDTS()
		return nil, fmt.Errorf("%s DTS: %w", v.codec, err)
	}
	v.needKey = false
	return &dpFrame{track: v.track, dts: dts, pts: pts, key: key, payload: v.payload(au)}, nil
}

var errDPNoParams = errors.New("no parameter sets seen yet")

// candidate returns the parameter sets a keyframe uses: the latest in
// band, else the SDP's.
func (v *dpVideo) candidate() [dpNumPS][]byte {
	c := v.params
	for i := range c {
		if c[i] == nil {
			c[i] = v.sdp[i]
		}
	}
	return c
}

// matches reports whether t is the track of the current parameter sets.
func (v *dpVideo) matches(t *media.Track) bool {
	if t == nil {
		return false
	}
	c := v.candidate()
	return bytes.Equal(c[dpSPS], t.SPS) && bytes.Equal(c[dpPPS], t.PPS) &&
		(v.codec == media.CodecH264 || bytes.Equal(c[dpVPS], t.VPS))
}

func (v *dpVideo) newTrack() (*media.Track, error) {
	c := v.candidate()
	if c[dpSPS] == nil || c[dpPPS] == nil || (v.codec == media.CodecH265 && c[dpVPS] == nil) {
		return nil, errDPNoParams
	}
	if v.codec == media.CodecH264 {
		return media.NewH264Track(c[dpSPS], c[dpPPS])
	}
	return media.NewH265Track(c[dpVPS], c[dpSPS], c[dpPPS])
}

// extractDTS runs the DTS extractor, which needs the parameter sets in
// front of a keyframe when the stream sends them out of band.
func (v *dpVideo) extractDTS(au [][]byte, pts int64, key bool) (int64, error) {
	in := au
	if key {
		t := v.track
		ps := [][]byte{t.SPS, t.PPS}
		if v.codec == media.CodecH265 {
			ps = [][]byte{t.VPS, t.SPS, t.PPS}
		}
		in = append(ps, au...)
	}
	if v.codec == media.CodecH264 {
		return v.dts264.Extract(in, pts)
	}
	return v.dts265.Extract(in, pts)
}

func (v *dpVideo) resetDTS() {
	v.dts264 = h264.DTSExtractor{}
	v.dts264.Initialize()
	v.dts265 = h265.DTSExtractor{}
	v.dts265.Initialize()
}

// payload builds the AVCC payload of an access unit: every NAL unit but
// dropped kinds and the parameter sets the track carries.
func (v *dpVideo) payload(au [][]byte) []byte {
	t := v.track
	own := [dpNumPS][]byte{t.VPS, t.SPS, t.PPS}
	keep := func(n []byte) bool {
		class, ps := dpClassify(v.codec, n)
		return class != dpDrop && (class != dpParam || !bytes.Equal(n, own[ps]))
	}
	size := 0
	for _, n := range au {
		if keep(n) {
			size += 4 + len(n)
		}
	}
	out := make([]byte, 0, size)
	for _, n := range au {
		if keep(n) {
			out = media.AppendAVCC(out, n)
		}
	}
	return out
}
