package server

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
)

// TestDeleteRecordDirectory: ZLMediaKit's deleteRecordDirectory deletes a
// file of a day, a day, a month or every recording of a stream, never
// anything outside the stream's directory.
func TestDeleteRecordDirectory(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	rels := []string{
		"live/cam/2026-11-30/23-00-00.mp4",
		"live/cam/2026-12-01/10-00-00.mp4", "live/cam/2026-12-01/11-00-00.mp4",
		"live/cam/2026-12-02/09-00-00.mp4",
		"live/other/2026-12-01/10-00-00.mp4",
		"live/cam/sub/2026-12-01/10-00-00.mp4", // the stream cam/sub, below cam
	}
	paths := map[string]string{}
	for _, rel := range rels {
		paths[rel], _, _ = plantRecording(t, ts, rel, 10)
	}
	exists := func(rel string) bool {
		_, err := os.Stat(paths[rel])
		return err == nil
	}
	del := func(extra url.Values) map[string]any {
		v := url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"cam"}}
		for k, vals := range extra {
			v[k] = vals
		}
		return ts.apiCall(t, "deleteRecordDirectory", v)
	}
	for _, bad := range []url.Values{
		{"name": {"10-00-00.mp4"}}, // a name needs its day
		{"period": {"2026-12-01"}, "name": {"../../other/2026-12-01/10-00-00.mp4"}},
		{"period": {"../other"}},
		{"period": {"2026-12-01"}, "customized_path": {"/etc"}},
	} {
		if r := del(bad); code(r) != -300 {
			t.Errorf("%v: %v, want -300", bad, r)
		}
	}
	if r := del(url.Values{"period": {"2026-12-01"}, "name": {"10-00-00.mp4"}}); code(r) != 0 || r["path"] != paths["live/cam/2026-12-01/10-00-00.mp4"] {
		t.Fatalf("one file: %v", r)
	}
	if exists("live/cam/2026-12-01/10-00-00.mp4") || !exists("live/cam/2026-12-01/11-00-00.mp4") {
		t.Fatal("deleting one file deleted the wrong ones")
	}
	if r := del(url.Values{"period": {"2026-12-01"}, "name": {"10-00-00.mp4"}}); code(r) != -1 {
		t.Errorf("a file already deleted: %v", r)
	}
	if r := del(url.Values{"period": {"2026-11"}}); code(r) != 0 || r["deleted"] != 1.0 || exists("live/cam/2026-11-30/23-00-00.mp4") {
		t.Fatalf("a month: %v", r)
	}
	if r := del(url.Values{"period": {"2026-12-01"}}); code(r) != 0 || exists("live/cam/2026-12-01/11-00-00.mp4") {
		t.Fatalf("a day: %v", r)
	}
	if _, err := os.Stat(filepath.Dir(paths["live/cam/2026-12-01/11-00-00.mp4"])); !os.IsNotExist(err) {
		t.Errorf("the emptied day directory stays: %v", err)
	}
	if r := del(nil); code(r) != 0 || exists("live/cam/2026-12-02/09-00-00.mp4") {
		t.Fatalf("every recording: %v", r)
	}
	if r := del(nil); code(r) != -1 {
		t.Errorf("nothing left: %v", r)
	}
	if !exists("live/other/2026-12-01/10-00-00.mp4") || !exists("live/cam/sub/2026-12-01/10-00-00.mp4") {
		t.Error("another stream's recording was deleted")
	}
	// A stream directory that is a link out of the root is not followed.
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, "2026-12-01"), 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(outside, "2026-12-01", "keep.mp4")
	if err := os.WriteFile(victim, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ts.Config().General.DataDir, "record", "live", "linked")); err != nil {
		t.Fatal(err)
	}
	if r := ts.apiCall(t, "deleteRecordDirectory", url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"linked"}}); code(r) != -300 {
		t.Errorf("a linked stream directory: %v", r)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("a file out of the root was deleted: %v", err)
	}
}

type recordingList struct {
	Code   int `json:"code"`
	Ranges []struct {
		Start, End time.Time
		Duration   float64
	} `json:"ranges"`
	Gaps  []struct{ Start, End time.Time } `json:"gaps"`
	Files []struct {
		Start, End time.Time
		Duration   float64
		URL        string `json:"url"`
		Path       string `json:"file_path"`
	} `json:"files"`
}

func listRecordings(t *testing.T, ts *testServer, stream string, from, to time.Time) recordingList {
	t.Helper()
	q := url.Values{"start": {from.Format(time.RFC3339Nano)}, "end": {to.Format(time.RFC3339Nano)}}
	status, _, body := fetch(t, ts.httpURL+"/record/live/"+stream+"/list?"+q.Encode())
	var l recordingList
	if err := json.Unmarshal(body, &l); err != nil || status != 200 {
		t.Fatalf("list: %d %.200s (%v)", status, body, err)
	}
	return l
}

// TestRecordingIndex: the files a recording is cut into are listed from
// the index as one covered range, each playable from its url; deleting
// them through the API empties the list; and after a restart the index
// agrees with the disk (a file removed by hand is gone, one left behind
// unindexed is found).
func TestRecordingIndex(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	dataDir := t.TempDir()
	h := newHookServer(t, nil)
	withRecording := func(c *config.Config) {
		c.General.DataDir = dataDir
		c.Protocol.EnableMP4 = true
		c.Protocol.MP4MaxSecond = 2 * time.Second
		c.Protocol.ContinuePush = 300 * time.Millisecond
		c.Hook.Enable = true
		c.Hook.OnRecordMP4 = h.url("on_record_mp4")
	}
	ts := startServer(t, withRecording)
	from := time.Now().Add(-time.Minute)
	pub := testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/idx", false)
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	var l recordingList
	deadline := time.Now().Add(15 * time.Second)
	for {
		l = listRecordings(t, ts, "idx", from, time.Now().Add(time.Minute))
		total := 0.0
		for _, f := range l.Files {
			total += f.Duration
		}
		if len(l.Files) >= 3 && near(total, clipSeconds, 0.3) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list after recording: %d files, %.3f s", len(l.Files), total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(l.Ranges) != 1 || !near(l.Ranges[0].Duration, clipSeconds, 0.5) || len(l.Gaps) != 2 {
		t.Errorf("ranges %+v gaps %+v, want one range of about %.0f s between two gaps", l.Ranges, l.Gaps, clipSeconds)
	}
	for _, f := range l.Files {
		if status, hdr, _ := fetch(t, ts.httpURL+f.URL, "Range", "bytes=0-7"); status != 206 || hdr.Get("Content-Type") != "video/mp4" {
			t.Errorf("%s: %d", f.URL, status)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if p, err := testutil.FFprobe(ctx, t, ts.httpURL+l.Files[1].URL); err != nil || !near(p.Format.Duration, l.Files[1].Duration, 0.1) {
		t.Errorf("ffprobe %s: %v", l.Files[1].URL, err)
	}

	// A span across the files, as one file: from the keyframe at or before
	// its start (the clip's GOP is 1 s) to its end.
	spanStart := l.Files[0].Start.Add(1500 * time.Millisecond)
	for _, ext := range []string{".mp4", ".flv", ".ts"} {
		q := url.Values{"start": {spanStart.Format(time.RFC3339Nano)}, "duration": {"3.5"}}
		status, hdr, body := fetch(t, ts.httpURL+"/record/live/idx"+ext+"?"+q.Encode())
		if status != 200 || hdr.Get("Content-Type") == "" {
			t.Fatalf("span %s: %d %.100s", ext, status, body)
		}
		// Streamed without a length, so read whole before ffprobe judges it.
		file := filepath.Join(t.TempDir(), "span"+ext)
		if err := os.WriteFile(file, body, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := testutil.FFprobe(ctx, t, file)
		if err != nil {
			t.Fatalf("span %s: %v", ext, err)
		}
		t.Logf("span %s: %.3f s, %d bytes", ext, p.Format.Duration, len(body))
		if d := p.Format.Duration; d < 3.45 || d > 3.5+1.1 {
			t.Errorf("span %s: %.3f s, want 3.5 s and at most a GOP more", ext, d)
		}
		if len(p.Streams) != 2 {
			t.Errorf("span %s: %d streams", ext, len(p.Streams))
		}
	}
	for _, tc := range []struct {
		q      url.Values
		status int
	}{
		{url.Values{"start": {from.Add(-time.Hour).Format(time.RFC3339)}, "duration": {"60"}}, 404},
		{url.Values{"start": {spanStart.Format(time.RFC3339)}, "duration": {"-1"}}, 400},
		{url.Values{"start": {spanStart.Format(time.RFC3339)}, "duration": {"48h"}}, 400},
		{url.Values{"start": {"yesterday"}, "duration": {"60"}}, 400},
	} {
		if status, _, body := fetch(t, ts.httpURL+"/record/live/idx.mp4?"+tc.q.Encode()); status != tc.status {
			t.Errorf("%v: %d %.100s, want %d", tc.q, status, body, tc.status)
		}
	}

	// A restart after hand edits: one file removed, one copied in unindexed.
	ts.stop(t)
	removed, kept := l.Files[0].Path, l.Files[1].Path
	if err := os.Remove(removed); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(filepath.Dir(kept), "00-00-01.mp4")
	data, err := os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(extra, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(extra, old, old); err != nil {
		t.Fatal(err)
	}
	ts = startServer(t, withRecording)
	dayStart := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.Local)
	deadline = time.Now().Add(10 * time.Second)
	for {
		l = listRecordings(t, ts, "idx", dayStart, time.Now().Add(time.Minute))
		paths := map[string]bool{}
		for _, f := range l.Files {
			paths[f.Path] = true
		}
		if paths[extra] && !paths[removed] && paths[kept] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart the list is %+v", l.Files)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Deleting the day through the API empties the list.
	listed := len(l.Files)
	day := filepath.Base(filepath.Dir(kept))
	r := ts.apiCall(t, "deleteRecordDirectory", url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"idx"}, "period": {day}})
	if code(r) != 0 || r["deleted"] != float64(listed) {
		t.Fatalf("deleteRecordDirectory: %v, want %d deleted", r, listed)
	}
	if l = listRecordings(t, ts, "idx", dayStart, time.Now().Add(time.Minute)); len(l.Files) != 0 {
		t.Errorf("after deleting the day: %d files listed", len(l.Files))
	}
}

// TestDeleteRecordDirectoryWhileRecording: the file being written stays,
// and is finished and reported as any other.
func TestDeleteRecordDirectoryWhileRecording(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, nil)
	ts := startServer(t, func(c *config.Config) {
		c.Protocol.EnableMP4 = true
		c.Protocol.ContinuePush = 300 * time.Millisecond
		c.Hook.Enable = true
		c.Hook.OnRecordMP4 = h.url("on_record_mp4")
	})
	pub := testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/busy", true)
	dir := filepath.Join(ts.Config().General.DataDir, "record", "live", "busy")
	var writing string
	deadline := time.Now().Add(15 * time.Second)
	for writing == "" {
		files, _ := filepath.Glob(filepath.Join(dir, "*", "*.mp4"))
		if len(files) > 0 {
			writing = files[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("no recording started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	day := filepath.Base(filepath.Dir(writing))
	args := url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"busy"}, "period": {day}}
	if r := ts.apiCall(t, "deleteRecordDirectory", args); code(r) != 0 || r["kept"] != 1.0 || r["deleted"] != 0.0 {
		t.Fatalf("deleteRecordDirectory while recording: %v", r)
	}
	args.Set("name", filepath.Base(writing))
	if r := ts.apiCall(t, "deleteRecordDirectory", args); code(r) != -1 {
		t.Fatalf("deleting the file being written: %v", r)
	}
	pub.Stop()
	body := h.wait(t, "on_record_mp4", 15*time.Second)
	if body["file_path"] != writing {
		t.Fatalf("on_record_mp4 for %v, want %s", body["file_path"], writing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if p, err := testutil.FFprobe(ctx, t, writing); err != nil || p.Format.Duration <= 0 {
		t.Errorf("the kept file: %v", err)
	}
}

// TestStartRecordTask: ZLMediaKit's startRecordTask writes the stream
// from its GOP cache for forward_ms into the file at path, and refuses
// paths out of the recording root.
//
// Not parallel: forward_ms is wall-clock time while the file's duration is
// media time, and on a machine loaded by other tests the real-time
// publisher falls behind the wall clock.
func TestStartRecordTask(t *testing.T) {
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/task", true)
	args := url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"task"}, "path": {"events/alarm-1.mp4"},
		"back_ms": {"5000"}, "forward_ms": {"2000"}}
	var r map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		if r = ts.apiCall(t, "startRecordTask", args); code(r) == 0 {
			break
		}
		if code(r) != -500 || time.Now().After(deadline) {
			t.Fatalf("startRecordTask: %v", r)
		}
		time.Sleep(100 * time.Millisecond) // until ffmpeg's stream is published
	}
	data, _ := r["data"].(map[string]any)
	want := filepath.Join(ts.Config().General.DataDir, "record", "events", "alarm-1.mp4")
	if data == nil || data["path"] != want {
		t.Fatalf("startRecordTask: %v, want data.path %s", r, want)
	}
	if r := ts.apiCall(t, "startRecordTask", args); code(r) != -1 {
		t.Errorf("the same path again: %v", r)
	}
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ts.Config().General.DataDir, "record"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ts.Config().General.DataDir, "record", "link")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"../../escape.mp4", "a/./../../b.mp4", "link/x.mp4", ""} {
		args.Set("path", bad)
		if r := ts.apiCall(t, "startRecordTask", args); code(r) != -300 {
			t.Errorf("path %q: %v", bad, r)
		}
	}
	// Two seconds forward and up to a GOP (1 s) of pre-roll, then the file
	// is finished (a progressive MP4 whose duration ffprobe reads).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deadline = time.Now().Add(20 * time.Second)
	for {
		p, err := testutil.FFprobe(ctx, t, want)
		if err == nil && p.Format.Duration >= 2 {
			if p.Format.Duration > 3.3 {
				t.Errorf("task file of %.3f s, want 2 s and at most a GOP more", p.Format.Duration)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task's file: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
