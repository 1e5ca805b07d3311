package record

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/source"
)

// readBack reads a recorded .mp4 or .ts file with pkg/source, as
// mediakit would play it back.
func readBack(t *testing.T, path string) *clipframes.FrameCollector {
	t.Helper()
	src, err := source.Open(path, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := &clipframes.FrameCollector{}
	if err := src.Run(context.Background(), got); err != nil {
		t.Fatalf("reading back %s: %v", path, err)
	}
	return got
}

// videoOf returns the video frames of frames.
func videoOf(frames []*media.Frame) []*media.Frame {
	return slices.DeleteFunc(slices.Clone(frames), func(f *media.Frame) bool { return f.Track.Kind() != media.KindVideo })
}

// checkRecorded fails unless the files, read back in order, hold the
// clip's video frames (each file starting on a keyframe) and audio, each
// file no longer than maxLen of video when maxLen is set.
func checkRecorded(t *testing.T, files []string, clip []*media.Frame, maxLen time.Duration) {
	t.Helper()
	var video, audio int
	for _, path := range files {
		got := readBack(t, path)
		v := videoOf(got.Frames)
		if len(v) == 0 || !v[0].Key {
			t.Errorf("%s: %d video frames, not starting on a keyframe", path, len(v))
			continue
		}
		if d := v[len(v)-1].DTS - v[0].DTS; maxLen > 0 && d > maxLen {
			t.Errorf("%s: %v of video, want at most %v", path, d, maxLen)
		}
		video += len(v)
		audio += len(got.Frames) - len(v)
	}
	wantVideo := len(videoOf(clip))
	if video != wantVideo {
		t.Errorf("%d video frames recorded in %d files, the clip has %d", video, len(files), wantVideo)
	}
	// Audio before the first keyframe may be left out (at most a second).
	if wantAudio := len(clip) - wantVideo; audio > wantAudio || audio < wantAudio*5/6 {
		t.Errorf("%d audio frames recorded, the clip has %d", audio, wantAudio)
	}
}

// probeFiles checks with ffprobe, where it is installed, that every file
// is a playable H.264 and AAC recording.
func probeFiles(t *testing.T, files []string) {
	t.Run("ffprobe", func(t *testing.T) {
		testutil.RequireFFmpeg(t)
		for _, path := range files {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			p, err := testutil.FFprobe(ctx, t, path)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if v, a := p.Video(), p.Audio(); v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" ||
				v.Width != 320 || v.Height != 240 || v.NbReadFrames == 0 {
				t.Errorf("%s: streams %+v", path, p.Streams)
			}
		}
	})
}

// TestManagerRecords starts recordings through Manager.Start, the way
// startRecord does, publishes the 6 s clip, ends the stream, and reads the
// files back: what was published is what was recorded, where the options
// put it, and each finished file was notified as it is on disk.
func TestManagerRecords(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
		opts func(t *testing.T) Options
		// check checks the notifications against root (the customized
		// path when there is one) and returns the recorded files in
		// order.
		check func(t *testing.T, root string, mp4s, ts []Info) []string
		// maxLen bounds each file's video (0: no bound).
		maxLen time.Duration
	}{{
		name: "mp4",
		typ:  TypeMP4,
		check: func(t *testing.T, root string, mp4s, ts []Info) []string {
			if len(mp4s) != 1 || len(ts) != 0 {
				t.Fatalf("%d on_record_mp4 and %d on_record_ts, want 1 and 0", len(mp4s), len(ts))
			}
			checkMP4Info(t, root, mp4s[0])
			if d := mp4s[0].TimeLen; d < 5500*time.Millisecond || d > 6500*time.Millisecond {
				t.Errorf("TimeLen %v of the 6 s clip", d)
			}
			return []string{mp4s[0].FilePath}
		},
	}, {
		name: "mp4 max_second",
		typ:  TypeMP4,
		opts: func(*testing.T) Options { return Options{MaxSecond: 2 * time.Second} },
		check: func(t *testing.T, root string, mp4s, ts []Info) []string {
			// cut at the first keyframe after 2 s, one a second
			if len(mp4s) < 3 || len(ts) != 0 {
				t.Fatalf("%d on_record_mp4 and %d on_record_ts, want 3 or more files of 2 s and 0", len(mp4s), len(ts))
			}
			var files []string
			for _, i := range mp4s {
				checkMP4Info(t, root, i)
				files = append(files, i.FilePath)
			}
			return files
		},
		maxLen: 2*time.Second + 100*time.Millisecond,
	}, {
		name: "mp4 customized_path",
		typ:  TypeMP4,
		opts: func(t *testing.T) Options { return Options{CustomizedPath: t.TempDir()} },
		check: func(t *testing.T, root string, mp4s, ts []Info) []string {
			if len(mp4s) != 1 {
				t.Fatalf("%d on_record_mp4, want 1", len(mp4s))
			}
			checkMP4Info(t, root, mp4s[0])
			return []string{mp4s[0].FilePath}
		},
	}, {
		name: "hls",
		typ:  TypeHLS,
		check: func(t *testing.T, root string, mp4s, ts []Info) []string {
			if len(mp4s) != 0 || len(ts) < 5 {
				t.Fatalf("%d on_record_mp4 and %d on_record_ts, want 0 and a segment a second", len(mp4s), len(ts))
			}
			dir := ts[0].Folder
			data, err := os.ReadFile(filepath.Join(dir, PlaylistName))
			if err != nil {
				t.Fatal(err)
			}
			p, err := hls.ParsePlaylist(data)
			if err != nil || !p.Ended {
				t.Fatalf("playlist (%v) not ended:\n%s", err, data)
			}
			if len(p.Segments) != len(ts) {
				t.Fatalf("playlist lists %d segments, %d notified", len(p.Segments), len(ts))
			}
			var files []string
			var listed time.Duration
			for i, s := range p.Segments {
				info := ts[i]
				if info.Key != testKey || info.Folder != dir || info.FileName != s.URI || info.FilePath != filepath.Join(dir, s.URI) ||
					(info.TimeLen-s.Duration).Abs() > time.Millisecond || info.URL != filepath.ToSlash(must(filepath.Rel(root, info.FilePath))) {
					t.Errorf("on_record_ts %+v for playlist segment %+v", info, s)
				}
				checkSize(t, info.FilePath, info.FileSize)
				listed += s.Duration
				files = append(files, info.FilePath)
			}
			if listed < 5500*time.Millisecond || listed > 6500*time.Millisecond {
				t.Errorf("segments of %v in all from the 6 s clip", listed)
			}
			if rel := filepath.ToSlash(must(filepath.Rel(root, dir))); !strings.HasPrefix(rel, "live/integrity/hls/") {
				t.Errorf("recording in %s, want ROOT/APP/STREAM/hls/DATE/TIME", rel)
			}
			return files
		},
		maxLen: 2 * time.Second, // 1 s segments cut on 1 s keyframes
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			r, frames := newRig(t, root, time.Second, time.Hour)
			ctx := context.Background()
			opts := Options{}
			if tc.opts != nil {
				opts = tc.opts(t)
			}
			if rec, err := r.m.IsRecording(ctx, testKey, tc.typ); rec || err != nil {
				t.Fatalf("IsRecording before Start: %v, %v", rec, err)
			}
			if ok, err := r.m.Start(ctx, testKey, tc.typ, opts); !ok || err != nil {
				t.Fatalf("Start: %v, %v", ok, err)
			}
			if rec, err := r.m.IsRecording(ctx, testKey, tc.typ); !rec || err != nil {
				t.Fatalf("IsRecording after Start: %v, %v", rec, err)
			}
			if ok, err := r.m.Start(ctx, testKey, tc.typ, opts); ok || err != nil {
				t.Errorf("a second Start: %v, %v; want false, nil", ok, err)
			}
			other := TypeHLS + TypeMP4 - tc.typ
			if rec, err := r.m.IsRecording(ctx, testKey, other); rec || err != nil {
				t.Errorf("IsRecording %v: %v, %v; only %v was started", other, rec, err, tc.typ)
			}
			for _, f := range frames {
				if err := r.pub.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			// The stream ends (no grace period): the recording ends with
			// it, and there is nothing left to stop.
			r.pub.Close()
			testutil.Eventually(t, 10*time.Second, "the recording to end with the stream", func() bool {
				rec, err := r.m.IsRecording(ctx, testKey, tc.typ)
				return !rec && err == nil
			})
			if ok, err := r.m.Stop(ctx, testKey, tc.typ); ok || err != nil {
				t.Errorf("Stop after the stream ended: %v, %v; want false, nil", ok, err)
			}
			r.e.Close() // returns once the recorders have finished their files
			if opts.CustomizedPath != "" {
				if entries, _ := os.ReadDir(root); len(entries) != 0 {
					t.Errorf("written under the configured root as well: %v", entries)
				}
				root = opts.CustomizedPath
			}
			mp4s, ts := r.notes.get()
			files := tc.check(t, root, mp4s, ts)
			if t.Failed() {
				return
			}
			checkRecorded(t, files, frames, tc.maxLen)
			if n := r.m.Failures(tc.typ); n != 0 {
				t.Errorf("Failures = %d; log:\n%s", n, r.log)
			}
			if lines := r.errorLines(); len(lines) != 0 {
				t.Errorf("errors logged: %q", lines)
			}
			for _, f := range files {
				if r.m.Writing(f) {
					t.Errorf("%s still held as being written", f)
				}
			}
			probeFiles(t, files)
		})
	}
}

// checkMP4Info fails unless an on_record_mp4 Info describes its file as
// ZLMediaKit does, under root.
func checkMP4Info(t *testing.T, root string, i Info) {
	t.Helper()
	checkSize(t, i.FilePath, i.FileSize)
	streamDir := filepath.Join(root, "live", "integrity")
	if i.Key != testKey || i.FileName != filepath.Base(i.FilePath) || i.Folder != streamDir+string(filepath.Separator) ||
		filepath.Dir(filepath.Dir(i.FilePath)) != streamDir || i.URL != "record/"+filepath.ToSlash(must(filepath.Rel(root, i.FilePath))) {
		t.Errorf("on_record_mp4 %+v under root %s", i, root)
	}
	if day := filepath.Base(filepath.Dir(i.FilePath)); day != i.StartTime.Format("2006-01-02") {
		t.Errorf("%s in directory %s, started %v", i.FilePath, day, i.StartTime)
	}
	if time.Since(i.StartTime) > time.Hour || i.TimeLen <= 0 {
		t.Errorf("StartTime %v, TimeLen %v", i.StartTime, i.TimeLen)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestManagerStop: Stop ends a recording while the stream goes on and
// returns with its file finished and notified; the stream can be recorded
// again, into a new file.
func TestManagerStop(t *testing.T) {
	for _, typ := range []Type{TypeMP4, TypeHLS} {
		t.Run(typ.String(), func(t *testing.T) {
			root := t.TempDir()
			r, frames := newRig(t, root, time.Second, time.Hour)
			ctx := context.Background()
			half := len(frames) / 2
			for round, part := range [][]*media.Frame{frames[:half], frames[half:]} {
				if ok, err := r.m.Start(ctx, testKey, typ, Options{}); !ok || err != nil {
					t.Fatalf("round %d: Start: %v, %v", round, ok, err)
				}
				for _, f := range part {
					if err := r.pub.WriteFrame(f); err != nil {
						t.Fatal(err)
					}
				}
				if ok, err := r.m.Stop(ctx, testKey, typ); !ok || err != nil {
					t.Fatalf("round %d: Stop: %v, %v; want true, nil", round, ok, err)
				}
				if rec, err := r.m.IsRecording(ctx, testKey, typ); rec || err != nil {
					t.Errorf("round %d: IsRecording after Stop: %v, %v", round, rec, err)
				}
				if ok, err := r.m.Stop(ctx, testKey, typ); ok || err != nil {
					t.Errorf("round %d: a second Stop: %v, %v; want false, nil", round, ok, err)
				}
			}
			// Stop returned with the files finished and notified: one
			// recording of the first half, one from the keyframe the
			// second started on (the GOP cache) to the end.
			mp4s, ts := r.notes.get()
			var recordings [][]string // files by recording
			switch typ {
			case TypeMP4:
				for _, i := range mp4s {
					checkMP4Info(t, root, i)
					recordings = append(recordings, []string{i.FilePath})
				}
			case TypeHLS:
				for n, i := range ts {
					checkSize(t, i.FilePath, i.FileSize)
					if n == 0 || i.Folder != ts[n-1].Folder {
						endedRecording(t, i.Folder)
						recordings = append(recordings, nil)
					}
					recordings[len(recordings)-1] = append(recordings[len(recordings)-1], i.FilePath)
				}
			}
			if len(recordings) != 2 {
				t.Fatalf("%d recordings notified (%v), want 2", len(recordings), recordings)
			}
			var files []string
			for n, want := range [][]*media.Frame{frames[:half], frames[gopStart(frames[:half]):]} {
				video := 0
				for _, f := range recordings[n] {
					v := videoOf(readBack(t, f).Frames)
					if len(v) == 0 || !v[0].Key {
						t.Errorf("%s: %d video frames, not starting on a keyframe", f, len(v))
					}
					video += len(v)
				}
				if w := len(videoOf(want)); video != w {
					t.Errorf("recording %d: %d video frames, want %d", n, video, w)
				}
				files = append(files, recordings[n]...)
			}
			probeFiles(t, files)
		})
	}
}

// gopStart is the index of the last video keyframe of frames: where a
// reader that joins after them starts (the GOP cache).
func gopStart(frames []*media.Frame) int {
	for i := len(frames) - 1; i >= 0; i-- {
		if frames[i].Track.Kind() == media.KindVideo && frames[i].Key {
			return i
		}
	}
	return 0
}

// endedRecording reads the playlist of an HLS recording in dir and fails
// unless it is ended.
func endedRecording(t *testing.T, dir string) *hls.MediaPlaylist {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, PlaylistName))
	if err != nil {
		t.Fatal(err)
	}
	p, err := hls.ParsePlaylist(data)
	if err != nil || !p.Ended {
		t.Fatalf("%s: playlist (%v) not ended:\n%s", dir, err, data)
	}
	return p
}

// TestManagerStartNotPublished: a stream that is not published, or not
// ready (its tracks unknown), is not recorded, and nothing is written.
func TestManagerStartNotPublished(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0
	e := engine.New(cfg, nil)
	t.Cleanup(e.Close)
	root := t.TempDir()
	m := &Manager{Engine: e, Settings: func() Settings {
		return Settings{MP4Root: root, HLSRoot: root, MP4MaxSecond: time.Hour, SegDur: time.Second}
	}}
	ctx := context.Background()
	pub, err := e.Publish(ctx, engine.NewKey("", "live", "unready"), engine.SessionInfo{ID: "test", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	for _, key := range []engine.Key{engine.NewKey("", "live", "missing"), pub.Key()} {
		for _, typ := range []Type{TypeMP4, TypeHLS} {
			if ok, err := m.Start(ctx, key, typ, Options{}); ok || !errors.Is(err, ErrNotPublished) {
				t.Errorf("Start %v of %v: %v, %v; want ErrNotPublished", typ, key, ok, err)
			}
			if rec, err := m.IsRecording(ctx, key, typ); rec || err != nil {
				t.Errorf("IsRecording %v of %v: %v, %v", typ, key, rec, err)
			}
			if ok, err := m.Stop(ctx, key, typ); ok || err != nil {
				t.Errorf("Stop %v of %v: %v, %v", typ, key, ok, err)
			}
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("written under the root: %v", entries)
	}
}
