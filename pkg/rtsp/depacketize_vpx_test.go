package rtsp

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	psdp "github.com/pion/sdp/v3"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/media"
)

// vpxClip returns the tracks and frames of a clip, FLV or MP4.
func vpxClip(t *testing.T, name string) ([]*media.Track, []*media.Frame) {
	if bytes.HasSuffix([]byte(name), []byte(".mp4")) {
		return clipframes.ReadMP4(t, name)
	}
	return clipframes.Read(t, name)
}

// vpxRoundTrip packetizes the frames of kind k as a player does, reads
// the SDP back and depacketizes: every frame comes back with the same
// content (AV1: the same OBUs), key flag and PTS, and the track the
// depacketizer found has the clip's configuration.
func vpxRoundTrip(t *testing.T, tracks []*media.Track, frames []*media.Frame, k media.Kind, wantFormat format.Format) {
	t.Helper()
	_, medias, _, err := describeTracks(tracks)
	if err != nil {
		t.Fatal(err)
	}
	var m *outMedia
	for _, om := range medias {
		if om.kind == k {
			m = om
		}
	}
	desc := &description.Session{Medias: []*description.Media{m.media}}
	sdp, err := desc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var raw psdp.SessionDescription
	var back description.Session
	if err := raw.Unmarshal(sdp); err != nil {
		t.Fatal(err)
	}
	if err := back.Unmarshal2(&raw); err != nil {
		t.Fatalf("SDP does not parse back: %v\n%s", err, sdp)
	}
	f := back.Medias[0].Formats[0]
	if fmtType, want := FormatName(f), FormatName(wantFormat); fmtType != want {
		t.Fatalf("format %s, want %s\n%s", fmtType, want, sdp)
	}
	d, err := NewDepacketizer(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, isOpus := f.(*format.Opus); !isOpus && d.Track() != nil {
		t.Errorf("a track before any packet: %v", d.Track())
	}
	var in, out []*media.Frame
	seq := uint16(100)
	for _, fr := range frames {
		if fr.Track.Kind() != k {
			continue
		}
		in = append(in, fr)
		pts := ticks(fr.PTS, m.clock)
		for _, p := range pktRTP(fr, m, &seq, uint32(pts)) {
			got, err := d.Decode(p, pts+int64(p.Timestamp-uint32(pts)))
			if err != nil {
				t.Fatalf("frame %d: decode: %v", len(in)-1, err)
			}
			out = append(out, got...)
		}
	}
	if len(out) != len(in) {
		t.Fatalf("%d frames in, %d out (stats %+v)", len(in), len(out), d.Stats())
	}
	src := in[0].Track
	for i, o := range out {
		fr := in[i]
		same := bytes.Equal(o.Payload, fr.Payload)
		if src.Codec == media.CodecAV1 {
			a, errA := media.AV1OBUs(fr.Payload)
			b, errB := media.AV1OBUs(o.Payload)
			same = errA == nil && errB == nil && slices.EqualFunc(a, b, bytes.Equal)
		}
		if !same || o.Key != fr.Key || (o.PTS-fr.PTS).Abs() > time.Millisecond || o.DTS != o.PTS {
			t.Fatalf("frame %d: key %v pts %v (%d bytes), want key %v pts %v (%d bytes)", i, o.Key, o.PTS,
				len(o.Payload), fr.Key, fr.PTS, len(fr.Payload))
		}
	}
	got := out[0].Track
	if got.Codec != src.Codec || got.Width != src.Width || got.Height != src.Height ||
		got.SampleRate != src.SampleRate || got.Channels != src.Channels || got.VP9 != src.VP9 {
		t.Errorf("track %+v, want %+v", got, src)
	}
	if src.Codec == media.CodecAV1 {
		if _, err := media.NewAV1Track(got.AV1SequenceHeader); err != nil {
			t.Errorf("AV1 sequence header: %v", err)
		}
	}
	if out[len(out)-1].Track != got {
		t.Error("the track changed within the clip")
	}
}

// TestPacketizeAV1VP9MP3: AV1 (OBU elements), VP9 and MP3 (RFC 2250)
// frames survive an RTSP player's packetization and an RTSP publisher's
// depacketization; their tracks come from the first keyframe (AV1: its
// sequence header) or frame header, not from the SDP.
func TestPacketizeAV1VP9MP3(t *testing.T) {
	for _, tc := range []struct {
		clip string
		kind media.Kind
		f    format.Format
	}{
		{"av1_opus.mp4", media.KindVideo, &format.AV1{PayloadTyp: 96}},
		{"vp9_opus.mp4", media.KindVideo, &format.VP9{PayloadTyp: 96}},
		{"vp9_opus.mp4", media.KindAudio, &format.Opus{PayloadTyp: 97, ChannelCount: 2}},
		{"h264_mp3.flv", media.KindAudio, &format.MPEG1Audio{}},
	} {
		t.Run(tc.clip+"/"+tc.kind.String(), func(t *testing.T) {
			tracks, frames := vpxClip(t, tc.clip)
			vpxRoundTrip(t, tracks, frames, tc.kind, tc.f)
		})
	}
}

// TestDepacketizerVPXLoss: AV1 and VP9 start at a keyframe, and after a
// lost packet wait for the next one.
func TestDepacketizerVPXLoss(t *testing.T) {
	for _, clip := range []string{"av1_opus.mp4", "vp9_opus.mp4"} {
		t.Run(clip, func(t *testing.T) {
			tracks, frames := vpxClip(t, clip)
			_, medias, _, err := describeTracks(tracks)
			if err != nil {
				t.Fatal(err)
			}
			m := medias[0]
			d, err := NewDepacketizer(m.format)
			if err != nil {
				t.Fatal(err)
			}
			var out, video []*media.Frame
			seq, n := uint16(0), 0
			for _, fr := range frames {
				if fr.Track.Kind() != media.KindVideo {
					continue
				}
				video = append(video, fr)
				pts := ticks(fr.PTS, m.clock)
				pkts := pktRTP(fr, m, &seq, uint32(pts))
				if n == 10 {
					pkts = pkts[1:] // the start of frame 10 is lost
				}
				if n == 0 {
					n++
					continue // joined after the first keyframe
				}
				for _, p := range pkts {
					got, _ := d.Decode(p, int64(p.Timestamp))
					out = append(out, got...)
				}
				n++
			}
			// Frames 25-49: the second GOP.
			if len(out) != 25 || !out[0].Key || (out[0].PTS-video[25].PTS).Abs() > time.Millisecond {
				t.Fatalf("%d frames from %v, want the 25 of the second GOP (stats %+v)", len(out), out[0].PTS, d.Stats())
			}
			if s := d.Stats(); s.Lost != 1 || s.DroppedBeforeKey == 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestAV1OBUForms converts between OBU elements (RTP) and the
// low-overhead form (frames): size fields added and removed, extension
// headers kept, temporal delimiters and tile lists dropped, elements
// that already have a size field checked.
func TestAV1OBUForms(t *testing.T) {
	seq := []byte{0x08, 0x00, 0x00, 0x00}   // sequence header, no size field
	ext := []byte{0x34, 0x28, 0xaa, 0xbb}   // frame OBU (6) with extension header
	sized := []byte{0x32, 0x02, 0xcc, 0xdd} // frame OBU with its size field
	td := []byte{0x10}                      // temporal delimiter
	tileList := []byte{0x40, 0x01}          // tile list
	lo, err := media.AV1LowOverhead([][]byte{td, seq, ext, sized, tileList})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x0a, 0x03, 0x00, 0x00, 0x00, 0x36, 0x28, 0x02, 0xaa, 0xbb, 0x32, 0x02, 0xcc, 0xdd}
	if !bytes.Equal(lo, want) {
		t.Fatalf("low overhead % x, want % x", lo, want)
	}
	if sh := media.AV1SequenceHeaderOf(lo); !bytes.Equal(sh, []byte{0x0a, 0x03, 0x00, 0x00, 0x00}) {
		t.Errorf("sequence header % x", sh)
	}
	obus, err := media.AV1OBUs(append([]byte{0x12, 0x00}, lo...))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(obus, [][]byte{seq, ext, {0x30, 0xcc, 0xdd}}, bytes.Equal) {
		t.Errorf("elements % x", obus)
	}
	for _, bad := range [][][]byte{{{0x32, 0x05, 0xcc}}, {{0x88}}, {{0x10}}, {{0x34}}} {
		if _, err := media.AV1LowOverhead(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
	for _, bad := range [][]byte{{0x30, 0xcc}, {0x32, 0x09, 0xcc}, {0x32, 0x80}, {0x36}} {
		if _, err := media.AV1OBUs(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

// FuzzAV1OBUs: whatever AV1OBUs accepts converts back to the same OBUs.
func FuzzAV1OBUs(f *testing.F) {
	f.Add([]byte{0x0a, 0x03, 0x00, 0x00, 0x00, 0x36, 0x28, 0x02, 0xaa, 0xbb, 0x12, 0x00})
	f.Add([]byte{0x32, 0x80, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		obus, err := media.AV1OBUs(data)
		if err != nil || len(obus) == 0 {
			return
		}
		lo, err := media.AV1LowOverhead(obus)
		if err != nil {
			// a tile list, or an OBU left empty of its header byte,
			// may be all there is
			return
		}
		again, err := media.AV1OBUs(lo)
		if err != nil {
			t.Fatalf("% x: %v", lo, err)
		}
		for _, o := range again {
			if o[0]&0x02 != 0 {
				t.Fatalf("element % x keeps its size field", o)
			}
		}
		_ = media.AV1SequenceHeaderOf(lo)
	})
}

// TestPlayerSkipsLeftOutTracks: a stream with two audio tracks is
// described with the first; frames of the second are not sent, and do
// not count as a codec change that ends the player.
func TestPlayerSkipsLeftOutTracks(t *testing.T) {
	tracks, _ := clipframes.Read(t, "h264_aac.flv")
	mp3 := &media.Track{Codec: media.CodecMP3, SampleRate: 44100, Channels: 2}
	_, medias, skipped, err := describeTracks(append(tracks, mp3))
	if err != nil || len(medias) != 2 || len(skipped) != 1 || skipped[0] != mp3 {
		t.Fatalf("medias %v skipped %v: %v", medias, skipped, err)
	}
	p := &player{pendingPlay: &pendingPlay{medias: medias, skipped: skipped}}
	for _, m := range medias {
		p.out = append(p.out, &outTrack{m: m, setup: true})
	}
	if o, err := p.track(&media.Frame{Track: mp3}); o != nil || err != nil {
		t.Errorf("frame of the left-out track: %v, %v", o, err)
	}
	if o, err := p.track(&media.Frame{Track: tracks[1]}); o == nil || err != nil {
		t.Errorf("frame of the described track: %v, %v", o, err)
	}
	opus, _ := media.NewOpusTrack(2)
	if _, err := p.track(&media.Frame{Track: opus}); err != errCodecChanged {
		t.Errorf("frame of a new audio codec: %v, want errCodecChanged", err)
	}
}

// TestDepacketizerMP3Packets: RFC 2250 packets with several frames (of
// MPEG-2 layer III, 208 bytes, which mediacommon's FrameLen gets wrong),
// a frame in fragments, and a fragment whose start was lost.
func TestDepacketizerMP3Packets(t *testing.T) {
	lsf := make([]byte, 208) // 22.05 kHz, 64 kb/s, mono: 576 samples
	copy(lsf, []byte{0xff, 0xf3, 0x80, 0xc0})
	d, err := NewDepacketizer(&format.MPEG1Audio{})
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(off int) []byte { return []byte{0, 0, byte(off >> 8), byte(off)} }
	pkts := []*rtp.Packet{
		dptPkt(1, 0, true, slices.Concat(hdr(0), lsf, lsf)...),
		dptPkt(2, 2351, true, slices.Concat(hdr(0), lsf[:100])...),
		dptPkt(3, 2351, true, slices.Concat(hdr(100), lsf[100:])...),
		dptPkt(5, 3527, true, slices.Concat(hdr(100), lsf[100:])...), // its start was lost
		dptPkt(6, 4702, true, slices.Concat(hdr(0), lsf)...),
	}
	frames, errs := dptFeed(t, d, pkts)
	if len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4", len(frames))
	}
	for i, want := range []time.Duration{0, 26122448, 26122448, 52244897} {
		if f := frames[i]; (f.PTS-want).Abs() > time.Microsecond || !bytes.Equal(f.Payload, lsf) ||
			f.Track.SampleRate != 22050 || f.Track.Channels != 1 {
			t.Errorf("frame %d at %v (%d bytes, %v), want %v", i, f.PTS, len(f.Payload), f.Track, want)
		}
	}
	if _, err := d.Decode(dptPkt(7, 5880, true, 0, 1, 0, 0, 0xff), 5880); err == nil {
		t.Error("MBZ bits set: no error")
	}
}
