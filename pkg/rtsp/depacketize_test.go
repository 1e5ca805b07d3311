package rtsp

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/rtptime"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/media"
)

// dptFeed gives pkts to d with PTS from gortsplib's time decoder, as the
// client does (packets before the first that may start decoding are
// skipped, as PacketPTS says !ok for them), and returns the frames.
func dptFeed(t testing.TB, d *Depacketizer, pkts []*rtp.Packet) ([]*media.Frame, []error) {
	t.Helper()
	var td rtptime.GlobalDecoder
	td.Initialize()
	var frames []*media.Frame
	var errs []error
	for _, p := range pkts {
		pts, ok := td.Decode(d.Format(), p)
		if !ok {
			continue
		}
		fs, err := d.Decode(p, pts)
		if err != nil {
			errs = append(errs, err)
		}
		frames = append(frames, fs...)
	}
	return frames, errs
}

// dptEncodeH264 packetizes access units stamped with pts (90 kHz) into
// payloads of at most mtu bytes.
func dptEncodeH264(t testing.TB, aus [][][]byte, pts []int64, mtu int, seq uint16, ts0 uint32) []*rtp.Packet {
	t.Helper()
	e := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: mtu, InitialSequenceNumber: &seq}
	if err := e.Init(); err != nil {
		t.Fatal(err)
	}
	var out []*rtp.Packet
	for i, au := range aus {
		pkts, err := e.Encode(au)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			p.Timestamp = ts0 + uint32(pts[i])
		}
		out = append(out, pkts...)
	}
	return out
}

func dptEncodeH265(t testing.TB, aus [][][]byte, pts []int64, mtu int) []*rtp.Packet {
	t.Helper()
	seq := uint16(65000)
	e := &rtph265.Encoder{PayloadType: 96, PayloadMaxSize: mtu, InitialSequenceNumber: &seq}
	if err := e.Init(); err != nil {
		t.Fatal(err)
	}
	var out []*rtp.Packet
	for i, au := range aus {
		pkts, err := e.Encode(au)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			p.Timestamp = uint32(pts[i])
		}
		out = append(out, pkts...)
	}
	return out
}

// dptAVCC is the payload the depacketizer should make of an access unit
// of a track carrying params: without AUD, filler and those params.
func dptAVCC(c media.Codec, au [][]byte, params ...[]byte) []byte {
	var out []byte
next:
	for _, n := range au {
		class, _ := dpClassify(c, n)
		if class == dpDrop {
			continue
		}
		for _, p := range params {
			if bytes.Equal(p, n) {
				continue next
			}
		}
		out = media.AppendAVCC(out, n)
	}
	return out
}

// dptParams returns the parameter sets of the first access unit holding
// them: for H.264 SPS, PPS; for H.265 VPS, SPS, PPS.
func dptParams(c media.Codec, aus [][][]byte) [dpNumPS][]byte {
	var ps [dpNumPS][]byte
	for _, au := range aus {
		for _, n := range au {
			if class, k := dpClassify(c, n); class == dpParam && ps[k] == nil {
				ps[k] = n
			}
		}
		if ps[dpSPS] != nil {
			return ps
		}
	}
	return ps
}

func dptKeys(frames []*media.Frame) int {
	n := 0
	for _, f := range frames {
		if f.Key {
			n++
		}
	}
	return n
}

// TestDepacketizerH264Clip sends the 150 frames of the H.264 clip
// through gortsplib's encoder (STAP-A for the parameter sets, FU-A for
// large slices) with an SDP without parameter sets: the track comes from
// the in-band sets, every frame comes out whole, with its PTS.
func TestDepacketizerH264Clip(t *testing.T) {
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	if len(aus) != 150 {
		t.Fatalf("clip has %d access units, want 150", len(aus))
	}
	pts := make([]int64, len(aus))
	for i := range pts {
		pts[i] = int64(i) * 3600
	}
	pkts := dptEncodeH264(t, aus, pts, 1000, 100, 12345)
	var fuA, stapA int
	for _, p := range pkts {
		switch p.Payload[0] & 0x1f {
		case 28:
			fuA++
		case 24:
			stapA++
		}
	}
	if fuA == 0 || stapA == 0 {
		t.Fatalf("encoder made %d FU-A and %d STAP-A packets; the test needs both", fuA, stapA)
	}

	f := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	tr, err := TrackFromFormat(f)
	if tr != nil || err != nil {
		t.Fatalf("TrackFromFormat without sprop = %v, %v; want nil, nil", tr, err)
	}
	d, err := NewDepacketizer(f)
	if err != nil {
		t.Fatal(err)
	}
	frames, errs := dptFeed(t, d, pkts)
	if len(errs) > 0 {
		t.Fatalf("decode errors: %v", errs)
	}
	if len(frames) != 150 {
		t.Fatalf("%d frames, want 150 (stats %+v)", len(frames), d.Stats())
	}
	if got := dptKeys(frames); got != 6 {
		t.Errorf("%d keyframes, want 6", got)
	}
	ps := dptParams(media.CodecH264, aus)
	track := d.Track()
	if track == nil || track.Codec != media.CodecH264 || track.Width != 320 || track.Height != 240 ||
		!bytes.Equal(track.SPS, ps[dpSPS]) || !bytes.Equal(track.PPS, ps[dpPPS]) {
		t.Fatalf("track %v, want H.264 320x240 with the clip's SPS/PPS", track)
	}
	for i, fr := range frames {
		if fr.Track != track {
			t.Fatalf("frame %d has another track", i)
		}
		want := time.Duration(i) * 40 * time.Millisecond
		if fr.PTS != want || fr.DTS != want {
			t.Fatalf("frame %d: DTS %v PTS %v, want %v", i, fr.DTS, fr.PTS, want)
		}
		if fr.Key != (i%25 == 0) {
			t.Fatalf("frame %d: key %v", i, fr.Key)
		}
		if w := dptAVCC(media.CodecH264, aus[i], track.SPS, track.PPS); !bytes.Equal(fr.Payload, w) {
			t.Fatalf("frame %d: payload of %d bytes differs from the clip's %d", i, len(fr.Payload), len(w))
		}
	}
	if st := d.Stats(); st.Frames != 150 || st.Lost != 0 || st.Packets != int64(len(pkts)) {
		t.Errorf("stats %+v", st)
	}
}

// TestDepacketizerH264BFrames: DTS comes from PTS through the DTS
// extractor; with the clip's two B-frames per P it equals the original
// DTS shifted by a constant.
func TestDepacketizerH264BFrames(t *testing.T) {
	tracks, all := clipframes.Read(t, "h264_bframes_aac.flv")
	var vt *media.Track
	for _, tr := range tracks {
		if tr.Kind() == media.KindVideo {
			vt = tr
		}
	}
	var aus [][][]byte
	var pts []int64
	var dts []time.Duration
	for _, fr := range all {
		if fr.Track.Kind() != media.KindVideo {
			continue
		}
		var au [][]byte
		if fr.Key {
			au = append(au, vt.SPS, vt.PPS)
		}
		fr.NALUs(func(n []byte) bool { au = append(au, n); return true })
		aus = append(aus, au)
		pts = append(pts, int64(fr.PTS)*90000/int64(time.Second))
		dts = append(dts, fr.DTS)
	}
	if len(aus) != 150 {
		t.Fatalf("clip has %d video frames, want 150", len(aus))
	}
	pkts := dptEncodeH264(t, aus, pts, 1400, 65530, 0xfff00000) // sequence numbers wrap too
	d, err := NewDepacketizer(&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: vt.SPS, PPS: vt.PPS})
	if err != nil {
		t.Fatal(err)
	}
	if d.Track() == nil || !d.Track().SameConfig(vt) {
		t.Fatalf("SDP track %v, want %v", d.Track(), vt)
	}
	frames, errs := dptFeed(t, d, pkts)
	if len(errs) > 0 {
		t.Fatalf("decode errors: %v", errs)
	}
	if len(frames) != 150 {
		t.Fatalf("%d frames, want 150", len(frames))
	}
	if frames[0].Track != d.Track() || frames[0].Track.SPS == nil {
		t.Fatal("in-band parameter sets equal to the SDP's made a new track")
	}
	shift := frames[2].DTS - dts[2]
	reordered := 0
	for i, fr := range frames {
		wantPTS := time.Duration(pts[i]-pts[0]) * time.Second / 90000
		if d := fr.PTS - wantPTS; d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("frame %d: PTS %v, want %v", i, fr.PTS, wantPTS)
		}
		if fr.DTS > fr.PTS {
			t.Fatalf("frame %d: DTS %v after PTS %v", i, fr.DTS, fr.PTS)
		}
		if i > 0 && fr.DTS <= frames[i-1].DTS {
			t.Fatalf("frame %d: DTS %v not after %v", i, fr.DTS, frames[i-1].DTS)
		}
		if fr.PTS != fr.DTS {
			reordered++
		}
		// the extractor reproduces the encoder's DTS, shifted, once it has
		// seen the reordering (its first frames are a guess)
		if i >= 2 {
			if diff := fr.DTS - (dts[i] + shift); diff < -time.Millisecond || diff > time.Millisecond {
				t.Fatalf("frame %d: DTS %v, want %v", i, fr.DTS, dts[i]+shift)
			}
		}
	}
	if reordered < 50 { // the 54 I and P frames
		t.Errorf("only %d frames with PTS != DTS", reordered)
	}
}

func TestDepacketizerH265Clip(t *testing.T) {
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	if len(aus) != 100 {
		t.Fatalf("clip has %d access units, want 100", len(aus))
	}
	pts := make([]int64, len(aus))
	for i := range pts {
		pts[i] = int64(i) * 3600
	}
	pkts := dptEncodeH265(t, aus, pts, 1000)
	d, err := NewDepacketizer(&format.H265{PayloadTyp: 96})
	if err != nil {
		t.Fatal(err)
	}
	frames, errs := dptFeed(t, d, pkts)
	if len(errs) > 0 {
		t.Fatalf("decode errors: %v", errs)
	}
	if len(frames) != 100 || dptKeys(frames) != 4 {
		t.Fatalf("%d frames, %d keys; want 100, 4", len(frames), dptKeys(frames))
	}
	tr := d.Track()
	if tr == nil || tr.Codec != media.CodecH265 || tr.Width != 320 || tr.Height != 240 || len(tr.VPS) == 0 {
		t.Fatalf("track %v", tr)
	}
	for i, fr := range frames {
		if w := dptAVCC(media.CodecH265, aus[i], tr.VPS, tr.SPS, tr.PPS); !bytes.Equal(fr.Payload, w) {
			t.Fatalf("frame %d: payload differs", i)
		}
		if fr.PTS != time.Duration(i)*40*time.Millisecond || fr.DTS != fr.PTS {
			t.Fatalf("frame %d: DTS %v PTS %v", i, fr.DTS, fr.PTS)
		}
	}
}

// Hand-made H.264 NAL units: an SPS of the clip, a PPS, and slices.
func dptH264Clip(t testing.TB) (sps, pps []byte, aus [][][]byte) {
	aus = testutil.ClipAccessUnits(t, "h264.h264", false)
	ps := dptParams(media.CodecH264, aus)
	return ps[dpSPS], ps[dpPPS], aus
}

func dptPkt(seq uint16, ts uint32, marker bool, payload ...byte) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: marker},
		Payload: payload,
	}
}

func dptSTAPA(nalus ...[]byte) []byte {
	out := []byte{24}
	for _, n := range nalus {
		out = append(out, byte(len(n)>>8), byte(len(n)))
		out = append(out, n...)
	}
	return out
}

// dptFUA splits a NAL unit into n FU-A payloads.
func dptFUA(nalu []byte, n int) [][]byte {
	body := nalu[1:]
	step := (len(body) + n - 1) / n
	var out [][]byte
	for i := 0; i < n; i++ {
		lo, hi := i*step, min((i+1)*step, len(body))
		h := nalu[0]&0x1f | 0
		if i == 0 {
			h |= 0x80
		}
		if i == n-1 {
			h |= 0x40
		}
		out = append(out, append([]byte{nalu[0]&0xe0 | 28, h}, body[lo:hi]...))
	}
	return out
}

func TestDepacketizerH264Packets(t *testing.T) {
	sps, pps, aus := dptH264Clip(t)
	idr := aus[0][len(aus[0])-1]
	if idr[0]&0x1f != 5 {
		t.Fatalf("last NAL unit of the first access unit is type %d, want IDR", idr[0]&0x1f)
	}
	p1 := aus[1][len(aus[1])-1] // non-IDR slices
	p2 := aus[2][len(aus[2])-1]
	idr2 := aus[25][len(aus[25])-1]
	fu := dptFUA(idr, 3)
	aud := []byte{9, 0xf0}

	type step struct {
		seq    uint16
		ts     uint32
		marker bool
		pl     []byte
	}
	type want struct {
		pts time.Duration
		key bool
		n   int // NAL units in the payload
	}
	cases := []struct {
		name    string
		sdp     bool // parameter sets in the SDP
		steps   []step
		want    []want
		lost    int64
		wantErr bool
	}{
		{
			name: "STAP-A then single NAL units",
			steps: []step{
				{1, 1000, true, dptSTAPA(aud, sps, pps, idr)},
				{2, 4600, true, p1},
				{3, 8200, true, p2},
			},
			want: []want{{0, true, 1}, {40 * time.Millisecond, false, 1}, {80 * time.Millisecond, false, 1}},
		},
		{
			name: "fragmented FU-A keyframe, parameter sets in the SDP",
			sdp:  true,
			steps: []step{
				{10, 90000, false, fu[0]},
				{11, 90000, false, fu[1]},
				{12, 90000, true, fu[2]},
				{13, 93600, true, p1},
			},
			want: []want{{0, true, 1}, {40 * time.Millisecond, false, 1}},
		},
		{
			name: "no marker bits: units end when the timestamp changes",
			steps: []step{
				{1, 0, false, sps},
				{2, 0, false, pps},
				{3, 0, false, fu[0]},
				{4, 0, false, fu[1]},
				{5, 0, false, fu[2]},
				{6, 3600, false, p1},
				{7, 7200, false, p2},
				{8, 10800, false, p1},
			},
			want: []want{{0, true, 1}, {40 * time.Millisecond, false, 1}, {80 * time.Millisecond, false, 1}},
		},
		{
			name: "a lost FU-A fragment drops the keyframe and what follows until the next one",
			sdp:  true,
			steps: []step{
				{1, 0, false, fu[0]},
				{3, 0, true, fu[2]}, // 2 lost
				{4, 3600, true, p1},
				{5, 7200, true, p2},
				{6, 90000, true, dptSTAPA(sps, pps, idr2)},
				{7, 93600, true, p1},
			},
			want: []want{{1 * time.Second, true, 1}, {1040 * time.Millisecond, false, 1}},
			lost: 1,
		},
		{
			name: "a lost packet between pictures waits for the next keyframe",
			steps: []step{
				{100, 0, true, dptSTAPA(sps, pps, idr)},
				{101, 3600, true, p1},
				{103, 10800, true, p1}, // 102 lost
				{104, 14400, true, p2},
				{105, 18000, true, dptSTAPA(sps, pps, idr2)},
			},
			want: []want{{0, true, 1}, {40 * time.Millisecond, false, 1}, {200 * time.Millisecond, true, 1}},
			lost: 1,
		},
		{
			name: "a loss just before a keyframe that starts with its parameter sets keeps the keyframe",
			steps: []step{
				{100, 0, true, dptSTAPA(sps, pps, idr)},
				{101, 3600, false, fu[0]},
				{103, 7200, true, dptSTAPA(sps, pps, idr2)}, // 102, the end of the open unit, lost
				{104, 10800, true, p1},
			},
			want: []want{{0, true, 1}, {80 * time.Millisecond, true, 1}, {120 * time.Millisecond, false, 1}},
			lost: 1,
		},
		{
			name: "RTP timestamps wrap",
			steps: []step{
				{65534, 0xfffff000, true, dptSTAPA(sps, pps, idr)},
				{65535, 0xfffff000 + 3600, true, p1},
				{0, 3104, true, p2}, // 0xfffff000 + 7200, wrapped
				{1, 6704, true, p1},
			},
			want: []want{{0, true, 1}, {40 * time.Millisecond, false, 1}, {80 * time.Millisecond, false, 1}, {120 * time.Millisecond, false, 1}},
		},
		{
			name: "frames before the first keyframe are dropped",
			steps: []step{
				{1, 0, true, p1},
				{2, 3600, true, p2},
				{3, 7200, true, dptSTAPA(sps, pps, idr)},
			},
			want: []want{{0, true, 1}}, // PTS counts from the first packet that may start decoding
		},
		{
			name: "duplicate and late packets are ignored",
			steps: []step{
				{5, 0, true, dptSTAPA(sps, pps, idr)},
				{5, 0, true, dptSTAPA(sps, pps, idr)},
				{6, 3600, true, p1},
				{4, 0, true, p2},
				{7, 7200, true, p2},
			},
			want: []want{{0, true, 1}, {40 * time.Millisecond, false, 1}, {80 * time.Millisecond, false, 1}},
		},
		{
			name: "a malformed STAP-A is an error and the stream resyncs",
			steps: []step{
				{1, 0, true, dptSTAPA(sps, pps, idr)},
				{2, 3600, true, []byte{24, 0, 50, 1}},
				{3, 7200, true, p2},
				{4, 10800, true, dptSTAPA(sps, pps, idr2)},
			},
			want:    []want{{0, true, 1}, {120 * time.Millisecond, true, 1}},
			wantErr: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
			if c.sdp {
				f.SPS, f.PPS = sps, pps
			}
			d, err := NewDepacketizer(f)
			if err != nil {
				t.Fatal(err)
			}
			var pkts []*rtp.Packet
			for _, s := range c.steps {
				pkts = append(pkts, dptPkt(s.seq, s.ts, s.marker, s.pl...))
			}
			frames, errs := dptFeed(t, d, pkts)
			if (len(errs) > 0) != c.wantErr {
				t.Fatalf("errors %v, want some: %v", errs, c.wantErr)
			}
			if len(frames) != len(c.want) {
				t.Fatalf("%d frames, want %d (stats %+v)", len(frames), len(c.want), d.Stats())
			}
			for i, w := range c.want {
				fr := frames[i]
				n := 0
				fr.NALUs(func([]byte) bool { n++; return true })
				if fr.PTS != w.pts || fr.DTS != w.pts || fr.Key != w.key || n != w.n {
					t.Errorf("frame %d: PTS %v DTS %v key %v NALUs %d; want %v %v %d", i, fr.PTS, fr.DTS, fr.Key, n, w.pts, w.key, w.n)
				}
				if fr.Track == nil || !bytes.Equal(fr.Track.SPS, sps) {
					t.Errorf("frame %d: track %v", i, fr.Track)
				}
			}
			if st := d.Stats(); st.Lost != c.lost {
				t.Errorf("lost %d, want %d", st.Lost, c.lost)
			}
		})
	}
}

// TestDepacketizerParameterSetChange: a keyframe with other parameter
// sets makes a new track; frames after it belong to it.
func TestDepacketizerParameterSetChange(t *testing.T) {
	sps, pps, aus := dptH264Clip(t)
	idr := aus[0][len(aus[0])-1]
	p1 := aus[1][len(aus[1])-1]
	pps2 := append(bytes.Clone(pps), 0x80) // another PPS: trailing bits differ
	d, err := NewDepacketizer(&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps})
	if err != nil {
		t.Fatal(err)
	}
	first := d.Track()
	frames, errs := dptFeed(t, d, []*rtp.Packet{
		dptPkt(1, 0, true, idr...),
		dptPkt(2, 3600, true, p1...),
		dptPkt(3, 7200, true, dptSTAPA(sps, pps2, idr)...),
		dptPkt(4, 10800, true, p1...),
	})
	if len(errs) > 0 || len(frames) != 4 {
		t.Fatalf("%d frames, errors %v", len(frames), errs)
	}
	if frames[0].Track != first || frames[1].Track != first {
		t.Fatal("frames before the change are not of the SDP's track")
	}
	second := frames[2].Track
	if second == first || !bytes.Equal(second.PPS, pps2) || frames[3].Track != second || d.Track() != second {
		t.Fatal("a new PPS did not make a new track for the frames from its keyframe on")
	}
}

func TestDepacketizerAAC(t *testing.T) {
	cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 2}
	f := &format.MPEG4Audio{PayloadTyp: 97, Config: cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	tr, err := TrackFromFormat(f)
	if err != nil || tr.Codec != media.CodecAAC || tr.SampleRate != 44100 || tr.Channels != 2 {
		t.Fatalf("track %v, %v", tr, err)
	}
	enc, err := f.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	// 20 access units of growing size; the encoder aggregates several
	// into a packet, and fragments a large one over several.
	var aus [][]byte
	for i := range 20 {
		aus = append(aus, bytes.Repeat([]byte{byte(i + 1)}, 50+i*20))
	}
	aus[10] = bytes.Repeat([]byte{0xaa}, 3000)
	var pkts []*rtp.Packet
	for i := 0; i < len(aus); {
		// AUs 0-9 in one call (aggregated), then one at a time
		n := 1
		if i == 0 {
			n = 10
		}
		ps, err := enc.Encode(aus[i : i+n])
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			p.Timestamp += uint32(i * 1024)
		}
		pkts = append(pkts, ps...)
		i += n
	}
	if len(pkts) >= 20 {
		t.Fatalf("%d packets for 20 access units: nothing was aggregated", len(pkts))
	}
	d, err := NewDepacketizer(f)
	if err != nil {
		t.Fatal(err)
	}
	frames, errs := dptFeed(t, d, pkts)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(frames) != 20 {
		t.Fatalf("%d frames, want 20", len(frames))
	}
	for i, fr := range frames {
		want := time.Duration(i) * 1024 * time.Second / 44100
		if fr.DTS != want || fr.PTS != want || !fr.Key || !bytes.Equal(fr.Payload, aus[i]) || fr.Track != d.Track() {
			t.Fatalf("frame %d: DTS %v (want %v) key %v %d bytes", i, fr.DTS, want, fr.Key, len(fr.Payload))
		}
	}
}

func TestDepacketizerOpusG711(t *testing.T) {
	for _, c := range []struct {
		f     format.Format
		codec media.Codec
		rate  int
		step  uint32
	}{
		{&format.Opus{PayloadTyp: 111, ChannelCount: 2}, media.CodecOpus, 48000, 960},
		{&format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}, media.CodecG711A, 8000, 160},
		{&format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}, media.CodecG711U, 8000, 160},
	} {
		d, err := NewDepacketizer(c.f)
		if err != nil {
			t.Fatal(err)
		}
		if tr := d.Track(); tr.Codec != c.codec || tr.SampleRate != c.rate {
			t.Fatalf("%s: track %v", FormatName(c.f), tr)
		}
		var pkts []*rtp.Packet
		for i := range 5 {
			pkts = append(pkts, dptPkt(uint16(i), 7777+uint32(i)*c.step, true, byte(i), 1, 2, 3))
		}
		frames, errs := dptFeed(t, d, pkts)
		if len(errs) > 0 || len(frames) != 5 {
			t.Fatalf("%s: %d frames, %v", FormatName(c.f), len(frames), errs)
		}
		for i, fr := range frames {
			want := time.Duration(i) * time.Duration(c.step) * time.Second / time.Duration(c.rate)
			if fr.DTS != want || fr.Payload[0] != byte(i) || len(fr.Payload) != 4 || !fr.Key {
				t.Fatalf("%s frame %d: DTS %v want %v", FormatName(c.f), i, fr.DTS, want)
			}
		}
	}
}

func TestTrackFromFormatUnsupported(t *testing.T) {
	for _, f := range []format.Format{
		&format.VP8{PayloadTyp: 96},
		&format.MJPEG{},
		&format.Opus{PayloadTyp: 96, ChannelCount: 6},
	} {
		if _, err := TrackFromFormat(f); !errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("%s: error %v, want ErrUnsupportedFormat", FormatName(f), err)
		}
		if _, err := NewDepacketizer(f); !errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("%s: NewDepacketizer error %v", FormatName(f), err)
		}
	}
	// An AAC format without its AU-header sizes would make gortsplib's
	// decoder loop forever: refused.
	cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 2}
	if _, err := NewDepacketizer(&format.MPEG4Audio{Config: cfg}); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("AAC without sizelength: %v", err)
	}
}
