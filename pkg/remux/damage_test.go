package remux

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// pesStarts returns the offsets of the PES packets of pid that start in a
// packet of ts (after the packet's adaptation field).
func pesStarts(ts []byte, pid uint16) []int {
	var out []int
	for off := 0; off+188 <= len(ts); off += 188 {
		p := ts[off : off+188]
		if p[0] != 0x47 || p[1]&0x40 == 0 || uint16(p[1]&0x1f)<<8|uint16(p[2]) != pid {
			continue
		}
		o := 4
		if p[3]&0x20 != 0 {
			o += 1 + int(p[4])
		}
		if o+6 <= len(p) && p[o] == 0 && p[o+1] == 0 && p[o+2] == 1 {
			out = append(out, off+o)
		}
	}
	return out
}

// setPESLength sets the PES_packet_length of the PES packet of pid a
// third into ts.
func setPESLength(t *testing.T, ts []byte, pid uint16, length int) []byte {
	t.Helper()
	starts := pesStarts(ts, pid)
	if len(starts) < 3 {
		t.Fatalf("%d PES packets on PID %#x", len(starts), pid)
	}
	b := append([]byte(nil), ts...)
	s := starts[len(starts)/3]
	b[s+4], b[s+5] = byte(length>>8), byte(length)
	return b
}

// TestDamagedTS: a PES_packet_length that does not match the payload
// loses nothing (ffprobe reads every frame, and so does remux, saying
// what it mended), and a cut file keeps what was read and says what was
// dropped.
func TestDamagedTS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	ts := filepath.Join(dir, "in.ts")
	ffmpeg(t, "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy", "-f", "mpegts", ts)
	clean, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	const video, audio = 0x100, 0x101 // ffmpeg's PIDs
	for _, tc := range []struct {
		name    string
		data    []byte
		warning string
		cut     bool
	}{
		{"video PES length shorter than its header", setPESLength(t, clean, video, 5), "PES_packet_length did not match", false},
		{"video PES length longer than its payload", setPESLength(t, clean, video, 60000), "PES_packet_length did not match", false},
		{"audio PES length shorter than its header", setPESLength(t, clean, audio, 5), "PES_packet_length did not match", false},
		{"audio PES length longer than its payload", setPESLength(t, clean, audio, 4000), "PES_packet_length did not match", false},
		{"cut inside a packet", clean[:len(clean)*3/5+100], "truncated: the last", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".ts")
			if err := os.WriteFile(in, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			out := in + ".mp4"
			res := run(t, Options{Inputs: []string{in}, Output: out})
			want := probeCounts(t, in)
			if !tc.cut && (want.video != 150 || want.audio != 260) {
				t.Fatalf("ffprobe reads %+v of the damaged file, want all 150 + 260 frames", want)
			}
			if got := probeCounts(t, out); got.video != want.video || got.audio != want.audio || res.Frames != int64(want.video+want.audio) {
				t.Errorf("remux: %+v (summary %d frames), ffprobe of the input %+v", got, res.Frames, want)
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], tc.warning) || !strings.Contains(res.Warnings[0], in) {
				t.Errorf("warnings %q, want one naming %s and saying %q", res.Warnings, in, tc.warning)
			}
		})
	}
}

// TestHostilePlaylist: a local playlist that is not a regular file, or
// is huge, is refused at once without being read; so is a segment that
// is not a regular file.
func TestHostilePlaylist(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.m3u8")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// sparse: 3 GB that take no disk
	if _, err := f.WriteString("#EXTM3U\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	zero := filepath.Join(dir, "zero.m3u8")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.ts")); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, "seg.m3u8")
	pl := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nzero.ts\n#EXT-X-ENDLIST\n"
	if err := os.WriteFile(seg, []byte(pl), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{huge, "playlist larger than 16 MiB"},
		{zero, "not a regular file"},
		{seg, "segment zero.ts is not a regular file"},
		{filepath.Join(dir, "zero.ts"), "not a regular file"},
	} {
		t.Run(filepath.Base(tc.in), func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out := filepath.Join(dir, filepath.Base(tc.in)+".mp4")
			_, err := Run(ctx, Options{Inputs: []string{tc.in}, Output: out})
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line saying %q", err, tc.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB refusing it", alloc>>20)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("output left behind")
			}
		})
	}
}

// TestLiveHLS: a playlist without EXT-X-ENDLIST is refused with a hint,
// unless Duration bounds the remux, which then ends after that much
// media with a finished file.
func TestLiveHLS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	ffmpeg(t, "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
		"-hls_segment_filename", filepath.Join(dir, "s%d.ts"), filepath.Join(dir, "vod.m3u8"))
	vod, err := os.ReadFile(filepath.Join(dir, "vod.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	live := strings.Replace(string(vod), "#EXT-X-ENDLIST\n", "", 1)
	live = strings.Replace(live, "#EXT-X-PLAYLIST-TYPE:VOD\n", "", 1)
	if live == string(vod) {
		t.Fatalf("no ENDLIST in %s", vod)
	}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/live.m3u8" { // a live window that never moves on
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			fmt.Fprint(w, live)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/live.m3u8"

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(dir, "live.mp4")
	_, err = Run(ctx, Options{Inputs: []string{url}, Output: out})
	want := "remux: " + url + " is a live playlist (no EXT-X-ENDLIST); use --duration or mediakit record"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output left behind")
	}

	res := run(t, Options{Inputs: []string{url}, Output: out, Duration: 2 * time.Second})
	if res.Duration < 1900*time.Millisecond || res.Duration > 2100*time.Millisecond {
		t.Errorf("summary duration %v, want 2 s", res.Duration)
	}
	if got := probeCounts(t, out); got.duration < 1.9 || got.duration > 2.1 || got.video != 50 {
		t.Errorf("ffprobe %+v, want 2 s with 50 video frames", got)
	}
}

// TestTruncatedPS: an MPEG-PS file cut inside a packet keeps what was
// readable and says it was truncated.
func TestTruncatedPS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	ps := filepath.Join(dir, "in.mpg")
	ffmpeg(t, "-i", testutil.Clip(t, "h264_aac.flv"), "-an", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "vob", ps)
	clean, err := os.ReadFile(ps)
	if err != nil {
		t.Fatal(err)
	}
	// Cut inside a pack: 100 bytes past a pack header (00 00 01 BA) in the
	// file's second half lands in that pack's first packet.
	at := len(clean) / 2
	for at+4 < len(clean) && !(clean[at] == 0 && clean[at+1] == 0 && clean[at+2] == 1 && clean[at+3] == 0xba) {
		at++
	}
	in := filepath.Join(dir, "cut.mpg")
	if err := os.WriteFile(in, clean[:at+100], 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(t, Options{Inputs: []string{in}, Output: in + ".mp4"})
	if res.Frames == 0 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "truncated: the input ends inside an MPEG-PS packet") {
		t.Fatalf("%d frames, warnings %q; want frames and a truncation warning", res.Frames, res.Warnings)
	}
	whole := run(t, Options{Inputs: []string{ps}, Output: ps + ".mp4"})
	if len(whole.Warnings) != 0 || res.Frames >= whole.Frames {
		t.Fatalf("the whole file: %d frames, warnings %q; the cut one %d frames", whole.Frames, whole.Warnings, res.Frames)
	}
}
