package mpegts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// callLog is a Handler that logs every call with what it got.
type callLog struct {
	calls []string
	limit int // calls after which it fails; 0: never
}

var errLogFull = errors.New("call log full")

func (l *callLog) add(s string) error {
	l.calls = append(l.calls, s)
	if l.limit > 0 && len(l.calls) >= l.limit {
		return errLogFull
	}
	return nil
}

func (l *callLog) Video(c media.Codec, pts, dts time.Duration, annexB []byte) error {
	return l.add(fmt.Sprintf("video %v %d %d %x", c, pts, dts, annexB))
}

func (l *callLog) AAC(pts time.Duration, asc, au []byte) error {
	return l.add(fmt.Sprintf("aac %d %x %x", pts, asc, au))
}

func (l *callLog) Opus(pts time.Duration, packet []byte) error {
	return l.add(fmt.Sprintf("opus %d %x", pts, packet))
}

// differ demuxes b with the legacy (go-astits) demuxer and with Demuxer
// and returns a description of the first difference in what their
// handlers got, "" when there is none.
func differ(t testing.TB, b []byte, limit int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	old, oerr := newLegacyDemuxer(b)
	d, nerr := NewDemuxer(bytes.NewReader(b))
	if (oerr == nil) != (nerr == nil) {
		return fmt.Sprintf("probe: legacy %v, new %v", oerr, nerr)
	}
	if oerr != nil {
		return ""
	}
	ol, nl := &callLog{limit: limit}, &callLog{limit: limit}
	orun := old.Run(ctx, ol)
	nrun := d.Run(ctx, nl)
	if ctx.Err() != nil {
		return "timed out"
	}
	if d.core.differs {
		return "" // Demuxer mended a PES that go-astits drops: not comparable
	}
	if d.core.losses.Cut > 0 {
		// Demuxer also hands out the PES the end of the input cut.
		if limit > 0 || orun != nil || nrun != nil {
			return ""
		}
		return subsequence(ol.calls, nl.calls)
	}
	if !errors.Is(orun, nrun) && orun != nrun { //nolint:errorlint
		return fmt.Sprintf("Run: legacy %v, new %v", orun, nrun)
	}
	for i := range min(len(ol.calls), len(nl.calls)) {
		if ol.calls[i] != nl.calls[i] {
			short := func(s string) string { return s[:min(len(s), 120)] }
			return fmt.Sprintf("call %d of %d/%d:\nlegacy %s\nnew    %s", i, len(ol.calls), len(nl.calls), short(ol.calls[i]), short(nl.calls[i]))
		}
	}
	if len(ol.calls) != len(nl.calls) {
		return fmt.Sprintf("legacy made %d calls, new %d", len(ol.calls), len(nl.calls))
	}
	return ""
}

// subsequence describes the first call of sub missing, in order, from
// all; "" when all holds every call of sub in order.
func subsequence(sub, all []string) string {
	j := 0
	for i, c := range sub {
		for j < len(all) && all[j] != c {
			j++
		}
		if j == len(all) {
			return fmt.Sprintf("legacy call %d of %d not made by new: %s", i, len(sub), c[:min(len(c), 120)])
		}
		j++
	}
	return ""
}

// ffmpegTS makes MPEG-TS files from the clips with ffmpeg.
func ffmpegTS(t *testing.T) map[string][]byte {
	t.Helper()
	testutil.RequireFFmpeg(t)
	out := map[string][]byte{}
	for _, tc := range []struct {
		name, clip string
		args       []string
	}{
		{"h264 aac", "h264_aac.flv", []string{"-c", "copy"}},
		{"h264 b-frames aac", "h264_bframes_aac.flv", []string{"-c", "copy"}},
		{"h265 aac", "h265_aac.mp4", []string{"-c", "copy"}},
		{"h264 only", "h264_only.flv", []string{"-c", "copy"}},
		{"aac only", "aac_only.flv", []string{"-c", "copy"}},
		{"h264 opus", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "libopus", "-ar", "48000"}},
		{"h264 mp3", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "libmp3lame"}},
		{"h264 aac clock wrap", "h264_aac.flv", []string{"-c", "copy", "-output_ts_offset", "95441"}},
		{"h264 aac m2ts-ish bitrate", "h264_aac.flv", []string{"-c", "copy", "-muxrate", "4000000"}},
	} {
		path := filepath.Join(t.TempDir(), "a.ts")
		args := append([]string{"-i", testutil.Clip(t, tc.clip)}, tc.args...)
		if err := testutil.StartFFmpeg(t, append(args, "-f", "mpegts", "-y", path)...).Wait(60 * time.Second); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out[tc.name] = b
	}
	return out
}

// seedInputs are the committed fuzz seeds of the named targets (both
// demuxer targets when none is named), by file.
func seedInputs(t testing.TB, targets ...string) map[string][]byte {
	t.Helper()
	if len(targets) == 0 {
		targets = []string{"FuzzDemuxer", "FuzzFastDemuxer"}
	}
	out := map[string][]byte{}
	for _, dir := range targets {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, lit, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[f] = []byte(s)
		}
	}
	return out
}

// damage returns variants of b with the kinds of damage the demuxer
// tolerates: lost, repeated and garbled packets, stray bytes, a cut end.
func damage(b []byte, seed uint64) map[string][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := len(b) / tsPacketSize
	out := map[string][]byte{}
	if n < 4 {
		return out
	}
	var lost, repeated, garbled, stray []byte
	for i := range n {
		p := b[i*tsPacketSize : (i+1)*tsPacketSize]
		switch rng.IntN(50) {
		case 0:
			continue
		case 1:
			repeated = append(repeated, p...)
		}
		lost = append(lost, p...)
		repeated = append(repeated, p...)
		q := bytes.Clone(p)
		if rng.IntN(40) == 0 {
			q[rng.IntN(len(q))] ^= byte(1 + rng.IntN(255))
		}
		garbled = append(garbled, q...)
		if rng.IntN(60) == 0 {
			stray = append(stray, make([]byte, 1+rng.IntN(300))...)
		}
		stray = append(stray, p...)
	}
	out["lost packets"] = lost
	out["repeated packets"] = repeated
	out["garbled bytes"] = garbled
	out["stray bytes"] = stray
	out["cut"] = b[:len(b)-tsPacketSize/2-n/3*tsPacketSize]
	return out
}

// TestDifferential: on every input, ffmpeg's files from the clips, the
// fuzz seeds and damaged copies of them, the handler gets exactly the
// same calls from Demuxer as from the go-astits reader it replaced.
func TestDifferential(t *testing.T) {
	t.Parallel()
	inputs := ffmpegTS(t)
	for name, b := range seedInputs(t) {
		inputs[name] = b
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "clips", "*.ts"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = b
	}
	damaged := map[string][]byte{}
	for name, b := range inputs {
		for dname, db := range damage(b, uint64(len(b))) {
			damaged[name+" "+dname] = db
		}
	}
	for name, b := range damaged {
		inputs[name] = b
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			if d := differ(t, b, 0); d != "" {
				t.Error(d)
			}
			// and when the handler ends Run
			if d := differ(t, b, 7); d != "" {
				t.Errorf("handler failing at its 7th call: %s", d)
			}
		})
	}
}

// TestDifferentialMutations: the same on copies of the fuzz seeds with
// random bytes changed (mostly in packet headers), bytes inserted, the
// end cut.
func TestDifferentialMutations(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for name, s := range seedInputs(t) {
		for i := range 500 {
			b := bytes.Clone(s)
			for range 1 + rng.IntN(8) {
				if rng.IntN(2) == 0 {
					b[rng.IntN(len(b))] = byte(rng.IntN(256))
					continue
				}
				j := rng.IntN(len(b)/tsPacketSize)*tsPacketSize + rng.IntN(24)
				if rng.IntN(2) == 0 {
					b[j] ^= 1 << rng.IntN(8)
				} else {
					b[j] = byte(rng.IntN(256))
				}
			}
			if rng.IntN(4) == 0 {
				j := rng.IntN(len(b))
				b = append(b[:j:j], append(make([]byte, rng.IntN(200)), b[j:]...)...)
			}
			if rng.IntN(3) == 0 {
				b = b[:rng.IntN(len(b))]
			}
			if d := differ(t, b, 0); d != "" {
				t.Fatalf("%s, mutation %d: %s", name, i, d)
			}
		}
	}
}

// TestPESBound: a PES packet larger than MaxPES is dropped and counted,
// and the next ones are read.
func TestPESBound(t *testing.T) {
	t.Parallel()
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	big := bytes.Repeat([]byte{0, 0, 0, 1, 0x65, 0x88}, MaxPES/6+10)
	tv := newTSWriter(t, &tscodecs.H264{})
	tv.check(tv.w.WriteH264(tv.tracks[0], 0, 0, aus[0]))
	tv.check(tv.w.WriteH264(tv.tracks[0], 3600, 3600, [][]byte{big[4:]}))
	tv.check(tv.w.WriteH264(tv.tracks[0], 7200, 7200, aus[1]))
	tv.check(tv.w.WriteH264(tv.tracks[0], 10800, 10800, aus[2]))
	d, r, err := run(t, tv.buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if l := d.Losses(); len(r.units) != 3 || l != (Losses{Dropped: 1}) {
		t.Fatalf("%d units, losses %+v; want 3 and 1 dropped", len(r.units), l)
	}
	for i, want := range []time.Duration{0, 80 * time.Millisecond, 120 * time.Millisecond} {
		if r.units[i].dts != want {
			t.Errorf("unit %d at %v, want %v", i, r.units[i].dts, want)
		}
	}
}

// FuzzFastDemuxer: whatever the input, Demuxer hands the handler what the
// go-astits reader it replaced does.
func FuzzFastDemuxer(f *testing.F) {
	for _, b := range seedInputs(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if d := differ(t, b, 0); d != "" {
			t.Fatal(d)
		}
	})
}

// BenchmarkDemuxer: the go-astits reader against Demuxer on ffmpeg's
// MPEG-TS of the H.264 + AAC clip.
func BenchmarkDemuxer(b *testing.B) {
	testutil.RequireFFmpeg(b)
	path := filepath.Join(b.TempDir(), "a.ts")
	if err := testutil.StartFFmpeg(b, "-stream_loop", "3", "-i", testutil.Clip(b, "h264_aac.flv"), "-c", "copy", "-f", "mpegts", "-y", path).Wait(60 * time.Second); err != nil {
		b.Fatal(err)
	}
	ts, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	h := &nopHandler{}
	b.Run("legacy", func(b *testing.B) {
		b.SetBytes(int64(len(ts)))
		for b.Loop() {
			d, err := newLegacyDemuxer(ts)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Run(b.Context(), h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(ts)))
		for b.Loop() {
			d, err := NewDemuxer(bytes.NewReader(ts))
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Run(b.Context(), h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type nopHandler struct{}

func (nopHandler) Video(media.Codec, time.Duration, time.Duration, []byte) error { return nil }
func (nopHandler) AAC(time.Duration, []byte, []byte) error                       { return nil }
func (nopHandler) Opus(time.Duration, []byte) error                              { return nil }

// TestLosses: a PES_packet_length that does not match the payload is
// read as ffmpeg reads it (nothing lost, the PES counted as mended); a
// continuity gap drops the PES it breaks, and the cut end of the input is
// counted.
func TestLosses(t *testing.T) {
	t.Parallel()
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)[:12]
	tv := newTSWriter(t, &tscodecs.H264{})
	for i, au := range aus {
		tv.check(tv.w.WriteH264(tv.tracks[0], int64(i)*3600, int64(i)*3600, au))
	}
	clean := tv.buf.Bytes()
	// the packets that start a PES of the video PID
	var starts []int
	for off := 0; off+tsPacketSize <= len(clean); off += tsPacketSize {
		p := clean[off:]
		if p[1]&0x40 != 0 && uint16(p[1]&0x1f)<<8|uint16(p[2]) == tv.tracks[0].PID {
			starts = append(starts, off)
		}
	}
	if len(starts) != len(aus) {
		t.Fatalf("%d PES starts for %d access units", len(starts), len(aus))
	}
	pesAt := func(off int) int { // offset of the PES header in the packet at off
		p := clean[off:]
		if p[3]&0x20 != 0 {
			return off + 5 + int(p[4])
		}
		return off + 4
	}
	withLength := func(n int) []byte {
		b := bytes.Clone(clean)
		s := pesAt(starts[5])
		b[s+4], b[s+5] = byte(n>>8), byte(n)
		return b
	}
	// the second packet of a PES spanning several is lost
	lost := -1
	for i := 4; i+1 < len(starts) && lost < 0; i++ {
		if starts[i+1]-starts[i] > tsPacketSize {
			lost = starts[i] + tsPacketSize
		}
	}
	if lost < 0 {
		t.Fatal("no PES over two packets")
	}
	for _, tc := range []struct {
		name  string
		b     []byte
		units int
		want  Losses
	}{
		{"clean", clean, len(aus), Losses{}},
		{"length shorter than the header", withLength(5), len(aus), Losses{Mended: 1}},
		{"length past the payload", withLength(60000), len(aus), Losses{Mended: 1}},
		{"lost packet", append(bytes.Clone(clean[:lost]), clean[lost+tsPacketSize:]...), len(aus) - 1, Losses{Dropped: 1}},
		{"cut inside a packet", clean[:len(clean)-100], len(aus), Losses{Trailing: 88}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, r, err := run(t, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.units) != tc.units || d.Losses() != tc.want {
				t.Errorf("%d units, losses %+v; want %d and %+v", len(r.units), d.Losses(), tc.units, tc.want)
			}
		})
	}
}
