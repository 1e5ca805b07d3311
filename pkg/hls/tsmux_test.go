package hls

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	mcmpegts "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mpegts"
	"github.com/mediakit/mediakit/pkg/media"
)

// testTSMux is one of the two muxers under comparison.
type testTSMux interface {
	video(c media.Codec, pts, dts int64, au [][]byte) error
	aac(pts int64, au []byte) error
}

// mcMux is mediacommon's mpegts.Writer, the muxer tsMuxer replaces.
type mcMux struct {
	w            mcmpegts.Writer
	video, audio *mcmpegts.Track
}

func newMCMux(t testing.TB, w io.Writer, video media.Codec, asc []byte) *mcMux {
	t.Helper()
	m := &mcMux{}
	switch video {
	case media.CodecH264:
		m.video = &mcmpegts.Track{Codec: &codecs.H264{}}
	case media.CodecH265:
		m.video = &mcmpegts.Track{Codec: &codecs.H265{}}
	}
	if m.video != nil {
		m.w.Tracks = append(m.w.Tracks, m.video)
	}
	if asc != nil {
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(asc); err != nil {
			t.Fatal(err)
		}
		m.audio = &mcmpegts.Track{Codec: &codecs.MPEG4Audio{Config: conf}}
		m.w.Tracks = append(m.w.Tracks, m.audio)
	}
	m.w.W = w
	if err := m.w.Initialize(); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *mcMux) videoFrame(c media.Codec, pts, dts int64, au [][]byte) error {
	if c == media.CodecH265 {
		return m.w.WriteH265(m.video, pts, dts, au)
	}
	return m.w.WriteH264(m.video, pts, dts, au)
}

type mcMuxAdapter struct{ *mcMux }

func (m mcMuxAdapter) video(c media.Codec, pts, dts int64, au [][]byte) error {
	return m.videoFrame(c, pts, dts, au)
}

func (m mcMuxAdapter) aac(pts int64, au []byte) error {
	return m.w.WriteMPEG4Audio(m.audio, pts, [][]byte{au})
}

// newMux wraps tsMuxer.
type newMux struct {
	m        *tsMuxer
	vtr, atr *tsTrack
}

func newNewMux(t testing.TB, w io.Writer, video media.Codec, asc []byte) *newMux {
	t.Helper()
	n := &newMux{m: newTSMuxer(w)}
	var err error
	if video != 0 {
		if n.vtr, err = n.m.addTrack(video, nil); err != nil {
			t.Fatal(err)
		}
	}
	if asc != nil {
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(asc); err != nil {
			t.Fatal(err)
		}
		if n.atr, err = n.m.addTrack(media.CodecAAC, &conf); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func (n *newMux) video(c media.Codec, pts, dts int64, au [][]byte) error {
	if c == media.CodecH265 {
		return n.m.writeH265(n.vtr, pts, dts, au)
	}
	return n.m.writeH264(n.vtr, pts, dts, au)
}

func (n *newMux) aac(pts int64, au []byte) error {
	return n.m.writeAAC(n.atr, pts, [][]byte{au})
}

// muxFrames muxes the first video and the first AAC track of a clip the
// way the Segmenter does (AUD first, parameter sets before keyframes),
// with the old muxer or the new one.
func muxFrames(t testing.TB, useNew bool, tracks []*media.Track, frames []*media.Frame) []byte {
	t.Helper()
	var buf bytes.Buffer
	muxFramesTo(t, &buf, useNew, tracks, frames)
	return buf.Bytes()
}

func muxFramesTo(t testing.TB, w io.Writer, useNew bool, tracks []*media.Track, frames []*media.Frame) {
	t.Helper()
	var vt, at *media.Track
	for _, tr := range tracks {
		switch {
		case (tr.Codec == media.CodecH264 || tr.Codec == media.CodecH265) && vt == nil:
			vt = tr
		case tr.Codec == media.CodecAAC && at == nil:
			at = tr
		}
	}
	var vc media.Codec
	if vt != nil {
		vc = vt.Codec
	}
	var asc []byte
	if at != nil {
		asc = at.AACConfig
	}
	var m testTSMux
	if useNew {
		m = newNewMux(t, w, vc, asc)
	} else {
		m = mcMuxAdapter{newMCMux(t, w, vc, asc)}
	}
	var nalus [][]byte
	for _, f := range frames {
		var err error
		switch {
		case vt != nil && f.Track.Codec == vc:
			var n int
			nalus, n = media.AppendAccessUnit(append(nalus[:0], media.AccessUnitDelimiter(vc)), f)
			if n == 0 {
				continue
			}
			err = m.video(vc, ticks(f.PTS), ticks(f.DTS), nalus)
		case at != nil && f.Track.Codec == media.CodecAAC:
			if len(f.Payload) == 0 {
				continue
			}
			err = m.aac(ticks(f.PTS), f.Payload)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// checkTSPackets checks that ts is whole 188-byte packets with sync bytes
// and continuity counters that step by one per PID on packets with payload.
func checkTSPackets(t testing.TB, ts []byte) {
	t.Helper()
	if len(ts) == 0 || len(ts)%tsPacketSize != 0 {
		t.Fatalf("%d bytes: not whole 188-byte packets", len(ts))
	}
	last := map[int]int{}
	for i := 0; i < len(ts); i += tsPacketSize {
		p := ts[i : i+tsPacketSize]
		if p[0] != 0x47 {
			t.Fatalf("packet %d: sync byte %#x", i/tsPacketSize, p[0])
		}
		if p[3]&0x10 == 0 {
			continue // no payload: the counter does not advance
		}
		pid, cc := packetPID(p), int(p[3]&0x0f)
		if prev, ok := last[pid]; ok && cc != (prev+1)&0x0f {
			t.Fatalf("packet %d (PID %d): continuity counter %d after %d", i/tsPacketSize, pid, cc, prev)
		}
		last[pid] = cc
		if p[3]&0x20 != 0 && int(p[4]) > 183 {
			t.Fatalf("packet %d: adaptation field length %d", i/tsPacketSize, p[4])
		}
	}
}

// firstDiff describes where a and b first differ, by packet.
func firstDiff(a, b []byte) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			p := i / tsPacketSize * tsPacketSize
			return fmt.Sprintf("packet %d byte %d: old % x\nnew % x", p/tsPacketSize, i-p,
				a[p:min(p+tsPacketSize, len(a))], b[p:min(p+tsPacketSize, len(b))])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}

type tsClip struct {
	name   string
	tracks []*media.Track
	frames []*media.Frame
}

func tsClips(t testing.TB) []tsClip {
	t.Helper()
	var cs []tsClip
	for _, name := range []string{"h264_aac.flv", "h264_bframes_aac.flv", "h264_only.flv", "aac_only.flv"} {
		tracks, frames := clipFrames(t, name)
		cs = append(cs, tsClip{name, tracks, frames})
	}
	track, frames := hevcFrames(t)
	cs = append(cs, tsClip{"h265.hevc", []*media.Track{track}, frames})
	return cs
}

// TestTSMuxerMatchesMediacommon: for every clip the new muxer writes the
// same bytes as mediacommon's writer, in whole packets with continuous
// counters.
func TestTSMuxerMatchesMediacommon(t *testing.T) {
	for _, c := range tsClips(t) {
		t.Run(c.name, func(t *testing.T) {
			old := muxFrames(t, false, c.tracks, c.frames)
			got := muxFrames(t, true, c.tracks, c.frames)
			checkTSPackets(t, old)
			checkTSPackets(t, got)
			if !bytes.Equal(old, got) {
				t.Fatalf("outputs differ: %s", firstDiff(old, got))
			}
		})
	}
}

// pesCollector keeps what the project's demuxer hands over.
type pesCollector struct{ units []string }

func (p *pesCollector) Video(c media.Codec, pts, dts time.Duration, annexB []byte) error {
	p.units = append(p.units, fmt.Sprintf("V %s %v %v %x", c, pts, dts, annexB))
	return nil
}

func (p *pesCollector) AAC(pts time.Duration, asc, au []byte) error {
	p.units = append(p.units, fmt.Sprintf("A %v %x %x", pts, asc, au))
	return nil
}

func (p *pesCollector) Opus(pts time.Duration, packet []byte) error {
	p.units = append(p.units, fmt.Sprintf("O %v %x", pts, packet))
	return nil
}

func demuxUnits(t testing.TB, ts []byte) []string {
	t.Helper()
	d, err := mpegts.NewDemuxer(bytes.NewReader(ts))
	if err != nil {
		t.Fatal(err)
	}
	var c pesCollector
	if err := d.Run(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	return c.units
}

// TestTSMuxerDemuxedPayloads: the project's demuxer reads the same access
// units, with the same timestamps, from both muxers' outputs.
func TestTSMuxerDemuxedPayloads(t *testing.T) {
	for _, c := range tsClips(t) {
		t.Run(c.name, func(t *testing.T) {
			old := demuxUnits(t, muxFrames(t, false, c.tracks, c.frames))
			got := demuxUnits(t, muxFrames(t, true, c.tracks, c.frames))
			if len(old) == 0 || len(old) != len(got) {
				t.Fatalf("%d units from the old muxer, %d from the new", len(old), len(got))
			}
			for i := range old {
				if old[i] != got[i] {
					t.Fatalf("unit %d differs:\nold %.200s\nnew %.200s", i, old[i], got[i])
				}
			}
		})
	}
}

func countPackets(t testing.TB, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.DefaultProbeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_packets",
		"-show_entries", "stream=index,codec_name,nb_read_packets", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe -count_packets %s: %v: %s", path, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestTSMuxerFFprobe: ffprobe counts the same packets per stream in both
// outputs, with the same PTS and DTS, packet by packet.
func TestTSMuxerFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	for _, c := range tsClips(t) {
		t.Run(c.name, func(t *testing.T) {
			oldPath := filepath.Join(dir, c.name+".old.ts")
			newPath := filepath.Join(dir, c.name+".new.ts")
			if err := os.WriteFile(oldPath, muxFrames(t, false, c.tracks, c.frames), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(newPath, muxFrames(t, true, c.tracks, c.frames), 0o644); err != nil {
				t.Fatal(err)
			}
			oc, nc := countPackets(t, oldPath), countPackets(t, newPath)
			if oc == "" || oc != nc {
				t.Fatalf("packet counts: old %q, new %q", oc, nc)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testutil.DefaultProbeTimeout)
			defer cancel()
			op, err := testutil.FramePackets(ctx, t, oldPath)
			if err != nil {
				t.Fatal(err)
			}
			np, err := testutil.FramePackets(ctx, t, newPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(op) == 0 || len(op) != len(np) {
				t.Fatalf("%d packets from the old muxer, %d from the new", len(op), len(np))
			}
			for i := range op {
				o, n := op[i], np[i]
				if o.StreamIndex != n.StreamIndex || o.PTS != n.PTS || o.DTS != n.DTS || o.Size != n.Size {
					t.Fatalf("packet %d: old %+v, new %+v", i, o, n)
				}
			}
		})
	}
}

// TestTSMuxerEdgeSizes: frames of 1 byte, of exactly one packet's payload
// (184 bytes), and of 1 MB (AAC: the largest ADTS frame) come out as
// mediacommon writes them, in whole packets with continuous counters.
func TestTSMuxerEdgeSizes(t *testing.T) {
	asc := []byte{0x12, 0x10} // AAC LC, 44.1 kHz, stereo
	fill := func(n int, first byte) []byte {
		b := bytes.Repeat([]byte{0xab}, n)
		b[0] = first
		return b
	}
	for _, tc := range []struct {
		name  string
		codec media.Codec
		size  int
		key   bool
	}{
		{"h264 1 byte", media.CodecH264, 1, false},
		{"h264 184 bytes", media.CodecH264, 184, false},
		{"h264 1 MB key", media.CodecH264, 1 << 20, true},
		{"h265 1 byte", media.CodecH265, 1, false},
		{"h265 184 bytes key", media.CodecH265, 184, true},
		{"h265 1 MB", media.CodecH265, 1 << 20, false},
		{"aac 1 byte", media.CodecAAC, 1, false},
		{"aac 184 bytes", media.CodecAAC, 184, false},
		{"aac 177 bytes", media.CodecAAC, 177, false}, // PES fills the first packet exactly
		{"aac 8184 bytes", media.CodecAAC, 0x1fff - 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var payload []byte
			switch tc.codec {
			case media.CodecH264:
				typ := byte(1)
				if tc.key {
					typ = 5
				}
				payload = fill(tc.size, 0x60|typ)
			case media.CodecH265:
				typ := byte(1)
				if tc.key {
					typ = 19
				}
				payload = fill(tc.size, typ<<1)
			default:
				payload = fill(tc.size, 0x21)
			}
			var ob, nb bytes.Buffer
			var om, nm testTSMux
			if tc.codec == media.CodecAAC {
				om, nm = mcMuxAdapter{newMCMux(t, &ob, 0, asc)}, newNewMux(t, &nb, 0, asc)
			} else {
				om, nm = mcMuxAdapter{newMCMux(t, &ob, tc.codec, asc)}, newNewMux(t, &nb, tc.codec, asc)
			}
			for i := int64(0); i < 5; i++ { // several frames: PCR cadence, counters
				pts, dts := 900000+3600*i, 900000+3600*i
				if i%2 == 1 {
					pts += 7200
				}
				for _, m := range []testTSMux{om, nm} {
					var err error
					if tc.codec == media.CodecAAC {
						err = m.aac(pts, payload)
					} else {
						aud := media.AccessUnitDelimiter(tc.codec)
						if i == 0 {
							aud = payload[:1] // no AUD: the muxer prepends one
						}
						err = m.video(tc.codec, pts, dts, [][]byte{aud, payload})
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			checkTSPackets(t, ob.Bytes())
			checkTSPackets(t, nb.Bytes())
			if !bytes.Equal(ob.Bytes(), nb.Bytes()) {
				t.Fatalf("outputs differ: %s", firstDiff(ob.Bytes(), nb.Bytes()))
			}
		})
	}
}

// TestTSMuxerErrors: what mediacommon refuses, or would write corrupt,
// is an error and not a panic.
func TestTSMuxerErrors(t *testing.T) {
	m := newTSMuxer(io.Discard)
	v, err := m.addTrack(media.CodecH264, nil)
	if err != nil {
		t.Fatal(err)
	}
	conf := mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 44100, ChannelConfig: 2}
	a, err := m.addTrack(media.CodecAAC, &conf)
	if err != nil {
		t.Fatal(err)
	}
	bad := mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 12345, ChannelConfig: 2}
	b, err := m.addTrack(media.CodecAAC, &bad)
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"empty access unit": m.writeH264(v, 0, 0, nil),
		"empty NAL unit":    m.writeH264(v, 0, 0, [][]byte{{}}),
		"huge ADTS frame":   m.writeAAC(a, 0, [][]byte{make([]byte, 0x1fff)}),
		"bad sample rate":   m.writeAAC(b, 0, [][]byte{{1}}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := m.addTrack(media.CodecOpus, nil); err == nil {
		t.Error("Opus track: no error")
	}
}

// BenchmarkTSMuxer compares the muxers per frame on the H.264+AAC clip.
func BenchmarkTSMuxer(b *testing.B) {
	tracks, frames := clipFrames(b, "h264_aac.flv")
	for _, useNew := range []bool{false, true} {
		name := "mediacommon"
		if useNew {
			name = "tsmux"
		}
		b.Run(name, func(b *testing.B) {
			var w countingWriter
			b.ReportAllocs()
			for b.Loop() {
				muxFramesTo(b, &w, useNew, tracks, frames)
			}
			b.SetBytes(w.n / int64(b.N))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
		})
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
