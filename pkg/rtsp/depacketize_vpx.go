package rtsp

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpav1"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp9"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/media"
)

// dpFrameVideo reassembles AV1 temporal units (RFC draft "RTP Payload
// Format For AV1") or VP9 frames with gortsplib's decoders, which end a
// unit on the marker bit. Their SDP declares no track: an AV1 track
// comes from the first sequence header, a VP9 track from the first
// keyframe, and frames before that are dropped. After a loss, a packet
// that could not be used or a unit left without its marker, video waits
// for the next keyframe.
type dpFrameVideo struct {
	codec media.Codec
	av1   *rtpav1.Decoder
	vp9   *rtpvp9.Decoder
	track *media.Track

	open    bool   // packets of an unfinished unit were fed
	openTS  uint32 // their RTP timestamp
	needKey bool
}

func newDPFrameVideo(codec media.Codec) *dpFrameVideo {
	v := &dpFrameVideo{codec: codec}
	v.reset()
	return v
}

// reset drops whatever the decoder holds; the next unit must be a
// keyframe.
func (v *dpFrameVideo) reset() {
	if v.codec == media.CodecAV1 {
		v.av1 = &rtpav1.Decoder{}
		_ = v.av1.Init()
	} else {
		v.vp9 = &rtpvp9.Decoder{}
		_ = v.vp9.Init()
	}
	v.open, v.needKey = false, true
}

func (v *dpFrameVideo) decode(pkt *rtp.Packet, pts int64, lost bool, st *DepacketizerStats) ([]dpFrame, error) {
	if lost || (v.open && pkt.Timestamp != v.openTS) {
		if v.open {
			st.Damaged++
		}
		v.reset()
	}
	v.open, v.openTS = true, pkt.Timestamp
	var payload []byte
	var err error
	if v.av1 != nil {
		var obus [][]byte
		obus, err = v.av1.Decode(pkt)
		switch {
		case errors.Is(err, rtpav1.ErrMorePacketsNeeded):
			return nil, nil
		case errors.Is(err, rtpav1.ErrNonStartingPacketAndNoPrevious):
			err = errDPNoStart
		case err == nil:
			payload, err = media.AV1LowOverhead(obus)
		}
	} else {
		payload, err = v.vp9.Decode(pkt)
		switch {
		case errors.Is(err, rtpvp9.ErrMorePacketsNeeded):
			return nil, nil
		case errors.Is(err, rtpvp9.ErrNonStartingPacketAndNoPrevious):
			err = errDPNoStart
		case err == nil:
			payload = bytes.Clone(payload)
		}
	}
	v.open = false
	if errors.Is(err, errDPNoStart) {
		// joined in the middle of a unit: not an error
		st.DroppedBeforeKey++
		return nil, nil
	}
	if err != nil {
		st.Damaged++
		v.reset()
		return nil, err
	}
	key := media.IsRandomAccess(v.codec, payload)
	if key {
		if err := v.updateTrack(payload); err != nil {
			st.DroppedNoParams++
			v.needKey = true
			return nil, err
		}
	}
	if v.needKey {
		if !key {
			st.DroppedBeforeKey++
			return nil, nil
		}
		v.needKey = false
	}
	if v.track == nil {
		st.DroppedNoParams++
		return nil, nil
	}
	return []dpFrame{{track: v.track, dts: pts, pts: pts, key: key, payload: payload}}, nil
}

// updateTrack makes a new track when a keyframe's configuration differs
// from the current track's.
func (v *dpFrameVideo) updateTrack(key []byte) error {
	var t *media.Track
	var err error
	if v.codec == media.CodecAV1 {
		sh := media.AV1SequenceHeaderOf(key)
		if sh == nil {
			return errors.New("av1: random access unit without a sequence header")
		}
		if v.track != nil && bytes.Equal(v.track.AV1SequenceHeader, sh) {
			return nil
		}
		t, err = media.NewAV1Track(sh)
	} else {
		t, err = media.NewVP9TrackFromKeyframe(key)
		if err == nil && v.track != nil && v.track.SameConfig(t) &&
			v.track.Width == t.Width && v.track.Height == t.Height {
			return nil
		}
	}
	if err != nil {
		return err
	}
	v.track = t
	return nil
}

// dpMP3 reassembles MPEG audio frames from RFC 2250 packets: a 4-byte
// header (16 bits that must be zero, then the offset of the payload in
// its frame), then whole frames or a fragment of one. gortsplib's
// decoder is not used: it splits frames with mediacommon's
// FrameHeader.FrameLen, twice too long for MPEG-2 layer III (22.05, 24
// and 16 kHz MP3).
type dpMP3 struct {
	frag []byte // the fragments of a frame so far
	want int    // its length
}

var errMP3Partial = errors.New("mp3: a partial frame after whole ones")

// decode returns the frames a packet completes. lost drops a frame in
// progress.
func (m *dpMP3) decode(payload []byte, lost bool) ([][]byte, error) {
	if lost {
		m.frag = nil
	}
	if len(payload) < 5 {
		m.frag = nil
		return nil, fmt.Errorf("mp3: payload of %d bytes", len(payload))
	}
	if payload[0] != 0 || payload[1] != 0 {
		m.frag = nil
		return nil, errors.New("mp3: MBZ bits set")
	}
	off := int(payload[2])<<8 | int(payload[3])
	body := payload[4:]
	if off != 0 {
		if m.frag == nil || off != len(m.frag) {
			m.frag = nil
			return nil, nil // the start of the frame was lost (or never seen)
		}
		if len(m.frag)+len(body) > m.want {
			m.frag = nil
			return nil, errors.New("mp3: fragment beyond its frame")
		}
		m.frag = append(m.frag, body...)
		if len(m.frag) < m.want {
			return nil, nil
		}
		f := m.frag
		m.frag = nil
		return [][]byte{f}, nil
	}
	m.frag = nil
	var frames [][]byte
	for len(body) > 0 {
		var h mpeg1audio.FrameHeader
		if err := h.Unmarshal(body); err != nil {
			return frames, fmt.Errorf("mp3: frame header: %w", err)
		}
		n := media.MP3FrameLen(&h)
		if n <= 4 {
			return frames, errors.New("mp3: frame header without a length")
		}
		if n > len(body) {
			if len(frames) > 0 {
				return frames, errMP3Partial
			}
			m.frag, m.want = bytes.Clone(body), n
			return nil, nil
		}
		frames = append(frames, bytes.Clone(body[:n]))
		body = body[n:]
	}
	return frames, nil
}

// decodeMP3 returns the MP3 frames of an RFC 2250 packet, the i-th
// stamped i frame durations after pts. The track comes from the first
// frame header and changes when a header declares another sample rate
// or channel mode.
func (d *Depacketizer) decodeMP3(pkt *rtp.Packet, pts int64, lost bool) ([]dpFrame, error) {
	frames, err := d.mp3.decode(pkt.Payload, lost)
	units := make([]dpFrame, 0, len(frames))
	samples := int64(0) // before the frame
	for _, fr := range frames {
		var h mpeg1audio.FrameHeader
		if err := h.Unmarshal(fr); err != nil || h.SampleRate <= 0 {
			return units, fmt.Errorf("mp3 frame header: %w", err)
		}
		t, err := media.NewMP3Track(fr)
		if err != nil {
			return units, err
		}
		if !t.SameConfig(d.track) {
			d.track = t
		}
		at := pts + samples*int64(d.clockRate)/int64(h.SampleRate)
		units = append(units, dpFrame{track: d.track, dts: at, pts: at, key: true, payload: fr})
		samples += int64(h.SampleCount())
	}
	return units, err
}
