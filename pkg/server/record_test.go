package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/record"
)

// The clip every recording test publishes.
const (
	clipName        = "h264_aac.flv"
	clipVideoFrames = 150
	clipAudioFrames = 260
	clipSeconds     = 6.0
)

// recordArgs are startRecord/stopRecord/isRecording parameters.
func recordArgs(stream string, typ record.Type, extra ...string) url.Values {
	v := url.Values{"type": {fmt.Sprint(int(typ))}, "vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {stream}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// recording is what ffprobe says of one recorded file.
type recording struct {
	path         string
	probe        *testutil.Probe
	video, audio []testutil.Packet
}

// probeRecording probes a recorded file (MP4, or an HLS playlist) and
// checks what every recording must satisfy: H.264 and AAC, video starting
// on a keyframe, strictly increasing DTS on each track.
func probeRecording(t *testing.T, path string) *recording {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, path)
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	pkts, err := testutil.FramePackets(ctx, t, path)
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", path, err)
	}
	r := &recording{path: path, probe: p}
	for _, pkt := range pkts {
		switch pkt.CodecType {
		case "video":
			r.video = append(r.video, pkt)
		case "audio":
			r.audio = append(r.audio, pkt)
		}
	}
	v, a := p.Video(), p.Audio()
	if v == nil || v.CodecName != "h264" || a == nil || a.CodecName != "aac" {
		t.Fatalf("%s: streams %+v, want h264 and aac", path, p.Streams)
	}
	if v.NbReadFrames != len(r.video) || a.NbReadFrames != len(r.audio) {
		t.Errorf("%s: decoded %d/%d frames of %d/%d packets", path, v.NbReadFrames, a.NbReadFrames, len(r.video), len(r.audio))
	}
	if len(r.video) == 0 || !r.video[0].Keyframe() {
		t.Errorf("%s: video does not start with a keyframe", path)
	}
	for name, list := range map[string][]testutil.Packet{"video": r.video, "audio": r.audio} {
		for i := 1; i < len(list); i++ {
			if list[i].DTS == testutil.NoTimestamp || list[i].DTS <= list[i-1].DTS {
				t.Errorf("%s: %s DTS %d ms after %d ms (packet %d)", path, name, list[i].DTS, list[i-1].DTS, i)
				break
			}
		}
	}
	return r
}

// span is the time a track covers: last DTS plus one frame, minus the first.
func span(pkts []testutil.Packet) float64 {
	if len(pkts) < 2 {
		return 0
	}
	first, last := pkts[0].DTSTime, pkts[len(pkts)-1].DTSTime
	frame := (last - first) / float64(len(pkts)-1)
	return last + frame - first
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance }

var mp4NameRE = regexp.MustCompile(`^\d{2}-\d{2}-\d{2}(-\d+)?\.mp4$`)

// mp4Files lists the .mp4 files under dir, recursively, by path.
func mp4Files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".mp4") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// hlsPlaylists lists the recorded HLS playlists under dir.
func hlsPlaylists(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && d.Name() == record.PlaylistName {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// endedPlaylist reads a recorded playlist, which must be complete.
func endedPlaylist(t *testing.T, path string) *hls.MediaPlaylist {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hls.ParsePlaylist(data)
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, data)
	}
	if !p.Ended || !strings.HasSuffix(string(data), "#EXT-X-ENDLIST\n") {
		t.Errorf("%s does not end with EXT-X-ENDLIST:\n%s", path, data)
	}
	for _, s := range p.Segments {
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), s.URI)); err != nil {
			t.Errorf("%s: segment %s: %v", path, s.URI, err)
		}
	}
	return p
}

// videoFrames is how many video frames live/STREAM has had.
func videoFrames(t *testing.T, ts *testServer, stream string) int64 {
	t.Helper()
	info, _ := streamInfo(t, ts, "live", stream)
	for tr, st := range info.TrackStats {
		if tr.Kind() == media.KindVideo {
			return st.Frames
		}
	}
	return 0
}

// waitMedia waits until live/STREAM has had d more of its 25 fps video
// than when it had from frames, however long a loaded machine takes.
func waitMedia(t *testing.T, ts *testServer, stream string, from int64, d time.Duration) {
	t.Helper()
	want := from + int64(d.Seconds()*25)
	waitFor(t, d+30*time.Second, fmt.Sprintf("%v of live/%s", d, stream), func() bool { return videoFrames(t, ts, stream) >= want })
}

// waitFor returns the first call of hook name whose body matches.
func (h *hookServer) waitFor(t *testing.T, name string, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h.mu.Lock()
		for i, b := range h.bodies[name] {
			if match(b) {
				h.bodies[name] = append(h.bodies[name][:i:i], h.bodies[name][i+1:]...)
				h.mu.Unlock()
				return b
			}
		}
		h.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no matching %s call within %v", name, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func num(body map[string]any, key string) float64 {
	f, _ := body[key].(float64)
	return f
}

// checkRecordMP4Body checks an on_record_mp4 body against ZLMediaKit's
// fields and the file it names, and returns the file's path.
func checkRecordMP4Body(t *testing.T, ts *testServer, body map[string]any, stream, params string, started time.Time) string {
	t.Helper()
	for k, want := range map[string]any{"app": "live", "stream": stream, "vhost": "__defaultVhost__", "params": params,
		"mediaServerId": ts.Config().General.MediaServerID} {
		if body[k] != want {
			t.Errorf("on_record_mp4 %s = %#v, want %#v", k, body[k], want)
		}
	}
	for _, k := range []string{"start_time", "file_size", "time_len", "file_path", "file_name", "folder", "url"} {
		if _, ok := body[k]; !ok {
			t.Errorf("on_record_mp4 without %s: %v", k, body)
		}
	}
	path, _ := body["file_path"].(string)
	if !filepath.IsAbs(path) {
		t.Fatalf("on_record_mp4 file_path %q is not absolute", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("on_record_mp4 file_path: %v", err)
	}
	if int64(num(body, "file_size")) != st.Size() || st.Size() == 0 {
		t.Errorf("on_record_mp4 file_size %v, file has %d bytes", body["file_size"], st.Size())
	}
	name := filepath.Base(path)
	if body["file_name"] != name || !mp4NameRE.MatchString(name) {
		t.Errorf("on_record_mp4 file_name %v, path %s", body["file_name"], path)
	}
	date := filepath.Base(filepath.Dir(path))
	if _, err := time.Parse("2006-01-02", date); err != nil {
		t.Errorf("file %s is not in a DATE directory", path)
	}
	// ZLMediaKit: folder is the stream's directory, url is
	// record/APP/STREAM/DATE/FILE.
	streamDir := filepath.Dir(filepath.Dir(path))
	if f, _ := body["folder"].(string); filepath.Clean(f) != streamDir {
		t.Errorf("on_record_mp4 folder %q, want the stream's directory %s", f, streamDir)
	}
	if want := "record/live/" + stream + "/" + date + "/" + name; body["url"] != want {
		t.Errorf("on_record_mp4 url %v, want %s", body["url"], want)
	}
	if start := time.Unix(int64(num(body, "start_time")), 0); start.Before(started.Add(-time.Second)) || start.After(time.Now()) {
		t.Errorf("on_record_mp4 start_time %v, recording started about %v", start, started)
	}
	return path
}

// TestRecordMP4ByConfig: protocol.enable_mp4 records a stream from its
// first frame; when the publisher is gone for good the file is finished
// and reported by on_record_mp4.
func TestRecordMP4ByConfig(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, nil)
	ts := startServer(t, func(c *config.Config) {
		c.Protocol.EnableMP4 = true
		c.Protocol.ContinuePush = 500 * time.Millisecond
		c.General.MediaServerID = "rec-node"
		c.Hook.Enable = true
		c.Hook.OnRecordMP4 = h.url("on_record_mp4")
	})
	started := time.Now()
	pub := testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/cfg?token=7", false)
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	body := h.wait(t, "on_record_mp4", 15*time.Second)
	path := checkRecordMP4Body(t, ts, body, "cfg", "token=7", started)
	root := filepath.Join(ts.Config().General.DataDir, "record")
	if !strings.HasPrefix(path, filepath.Join(root, "live", "cfg")+string(filepath.Separator)) {
		t.Errorf("file %s not under %s/live/cfg/DATE", path, root)
	}
	if tl := num(body, "time_len"); !near(tl, clipSeconds, 0.2) {
		t.Errorf("on_record_mp4 time_len %v, want %v", tl, clipSeconds)
	}
	r := probeRecording(t, path)
	if v, a := len(r.video), len(r.audio); v != clipVideoFrames || a != clipAudioFrames {
		t.Errorf("recorded %d video and %d audio frames, want %d and %d", v, a, clipVideoFrames, clipAudioFrames)
	}
	if d := r.probe.Format.Duration; !near(d, clipSeconds, 0.2) {
		t.Errorf("duration %.3f s, want %.1f s", d, clipSeconds)
	}
	if files := mp4Files(t, root); len(files) != 1 {
		t.Errorf("files %v, want one", files)
	}
	// Shutdown finishes every recording and sends the hook calls queued
	// before it returns: any other on_record_mp4 has been received.
	ts.stop(t)
	if n := h.count("on_record_mp4"); n != 0 {
		t.Errorf("%d more on_record_mp4 calls", n)
	}
}

// TestRecordMP4ByHookReply: enable_mp4 in the on_publish reply records a
// stream while the configuration does not; a reply without it does not.
func TestRecordMP4ByHookReply(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		if name == "on_publish" && body["stream"] == "yes" {
			return map[string]any{"code": 0, "msg": "success", "enable_mp4": true}
		}
		return nil
	})
	ts := startServer(t, func(c *config.Config) {
		c.Protocol.ContinuePush = 500 * time.Millisecond
		c.Hook.Enable = true
		c.Hook.OnPublish = h.url("on_publish")
		c.Hook.OnRecordMP4 = h.url("on_record_mp4")
	})
	started := time.Now()
	yes := testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/yes", false)
	no := testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/no", false)
	waitStream(t, ts, "live/yes")
	waitStream(t, ts, "live/no")
	for stream, want := range map[string]bool{"yes": true, "no": false} {
		r := ts.apiCall(t, "isRecording", recordArgs(stream, record.TypeMP4))
		if code(r) != 0 || r["status"] != want {
			t.Errorf("isRecording %s: %v, want status %v", stream, r, want)
		}
	}
	for _, p := range []*testutil.Process{yes, no} {
		if err := p.Wait(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	body := h.wait(t, "on_record_mp4", 15*time.Second)
	path := checkRecordMP4Body(t, ts, body, "yes", "", started)
	r := probeRecording(t, path)
	if len(r.video) != clipVideoFrames || !near(r.probe.Format.Duration, clipSeconds, 0.2) {
		t.Errorf("recorded %d video frames, %.3f s; want %d, %.1f s", len(r.video), r.probe.Format.Duration, clipVideoFrames, clipSeconds)
	}
	// Shutdown finishes every recording and sends the hook calls queued
	// before it returns: any other on_record_mp4 has been received.
	ts.stop(t)
	if n := h.count("on_record_mp4"); n != 0 {
		t.Errorf("%d more on_record_mp4 calls (stream without enable_mp4 recorded?)", n)
	}
	root := filepath.Join(ts.Config().General.DataDir, "record")
	if files := mp4Files(t, filepath.Join(root, "live", "no")); len(files) != 0 {
		t.Errorf("stream without enable_mp4 recorded: %v", files)
	}
}

// TestRecordMP4Rotation: files of mp4_max_second cut on keyframes follow
// each other with no gap and no overlap: their frames add up to the clip.
func TestRecordMP4Rotation(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, nil)
	ts := startServer(t, func(c *config.Config) {
		c.Protocol.EnableMP4 = true
		c.Protocol.MP4MaxSecond = 2 * time.Second
		c.Protocol.ContinuePush = 500 * time.Millisecond
		c.Hook.Enable = true
		c.Hook.OnRecordMP4 = h.url("on_record_mp4")
	})
	started := time.Now()
	pub := testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/rot", false)
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(ts.Config().General.DataDir, "record")
	var bodies []map[string]any
	waitFor(t, 15*time.Second, "the last on_record_mp4", func() bool {
		h.mu.Lock()
		bodies = append(bodies, h.bodies["on_record_mp4"]...)
		h.bodies["on_record_mp4"] = nil
		h.mu.Unlock()
		_, live := streamInfo(t, ts, "live", "rot")
		return !live && len(bodies) >= 3 && len(bodies) == len(mp4Files(t, root))
	})
	files := mp4Files(t, root)
	if len(files) < 3 || len(files) > 4 {
		t.Fatalf("%d files, want 3 (or 4): %v", len(files), files)
	}
	dir := filepath.Dir(files[0])
	byPath := map[string]map[string]any{}
	for _, b := range bodies {
		byPath[checkRecordMP4Body(t, ts, b, "rot", "", started)] = b
	}
	// In recording order: by start time, then name.
	sort.SliceStable(files, func(i, j int) bool {
		return num(byPath[files[i]], "start_time") < num(byPath[files[j]], "start_time")
	})
	var video, audio int
	var dur, timeLen float64
	for i, f := range files {
		if filepath.Dir(f) != dir {
			t.Errorf("%s not in %s", f, dir)
		}
		b, ok := byPath[f]
		if !ok {
			t.Fatalf("no on_record_mp4 for %s", f)
		}
		r := probeRecording(t, f)
		video += len(r.video)
		audio += len(r.audio)
		d := r.probe.Format.Duration
		dur += d
		timeLen += num(b, "time_len")
		if i < len(files)-1 {
			// every file but the last holds two whole GOPs
			if len(r.video) != 50 || !near(span(r.video), 2, 0.05) {
				t.Errorf("%s: %d video frames over %.3f s, want 50 over 2 s", f, len(r.video), span(r.video))
			}
		}
		t.Logf("%s: %d video, %d audio frames, %.3f s", filepath.Base(f), len(r.video), len(r.audio), d)
	}
	if video != clipVideoFrames || audio != clipAudioFrames {
		t.Errorf("files hold %d video and %d audio frames, want %d and %d", video, audio, clipVideoFrames, clipAudioFrames)
	}
	if !near(dur, clipSeconds, 0.2) || !near(timeLen, clipSeconds, 0.2) {
		t.Errorf("durations add up to %.3f s (time_len %.3f s), want %.1f s", dur, timeLen, clipSeconds)
	}
}

// TestRecordAPI drives startRecord, isRecording, stopRecord and
// getMP4RecordFile as a ZLMediaKit client does, for MP4 and HLS.
func TestRecordAPI(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, nil)
	ts := startServer(t, func(c *config.Config) {
		c.HLS.SegDur = time.Second
		c.Hook.Enable = true
		c.Hook.OnRecordMP4 = h.url("on_record_mp4")
		c.Hook.OnRecordTS = h.url("on_record_ts")
		c.Record.AllowPaths = t.TempDir()
	})
	testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/api?k=v", true)
	waitStream(t, ts, "live/api")
	root := filepath.Join(ts.Config().General.DataDir, "record")

	for _, typ := range []record.Type{record.TypeMP4, record.TypeHLS} {
		if r := ts.apiCall(t, "isRecording", recordArgs("api", typ)); code(r) != 0 || r["status"] != false {
			t.Errorf("isRecording %v before: %v", typ, r)
		}
		if r := ts.apiCall(t, "startRecord", recordArgs("api", typ)); code(r) != 0 || r["result"] != true {
			t.Fatalf("startRecord %v: %v", typ, r)
		}
		if r := ts.apiCall(t, "isRecording", recordArgs("api", typ)); code(r) != 0 || r["status"] != true {
			t.Errorf("isRecording %v: %v", typ, r)
		}
		if r := ts.apiCall(t, "startRecord", recordArgs("api", typ)); r["result"] != false || code(r) == 0 {
			t.Errorf("second startRecord %v: %v, want result false", typ, r)
		}
	}
	// customized_path and max_second: a second MP4 recording is not
	// possible on the same stream, so record another stream.
	testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/api2", true)
	waitStream(t, ts, "live/api2")
	// An allowed root outside the data dir (record.allow_paths).
	custom := ts.Config().Record.AllowPaths
	from := videoFrames(t, ts, "api2")
	if r := ts.apiCall(t, "startRecord", recordArgs("api2", record.TypeMP4, "customized_path", custom, "max_second", "1")); code(r) != 0 || r["result"] != true {
		t.Fatalf("startRecord customized_path: %v", r)
	}
	// 4.5 s of media into every recording (api's started before).
	waitMedia(t, ts, "api2", from, 4500*time.Millisecond)

	for _, typ := range []record.Type{record.TypeMP4, record.TypeHLS} {
		if r := ts.apiCall(t, "stopRecord", recordArgs("api", typ)); code(r) != 0 || r["result"] != true {
			t.Fatalf("stopRecord %v: %v", typ, r)
		}
		if r := ts.apiCall(t, "isRecording", recordArgs("api", typ)); code(r) != 0 || r["status"] != false {
			t.Errorf("isRecording %v after stop: %v", typ, r)
		}
		if r := ts.apiCall(t, "stopRecord", recordArgs("api", typ)); code(r) != -1 || r["result"] != false {
			t.Errorf("stopRecord %v when not recording: %v, want code -1", typ, r)
		}
	}
	if r := ts.apiCall(t, "stopRecord", recordArgs("api2", record.TypeMP4)); code(r) != 0 {
		t.Fatalf("stopRecord api2: %v", r)
	}

	// MP4: stopRecord returns once the file is finished.
	files := mp4Files(t, filepath.Join(root, "live", "api"))
	if len(files) != 1 {
		t.Fatalf("mp4 files %v, want one", files)
	}
	r := probeRecording(t, files[0])
	if len(r.video) < 100 || !near(r.probe.Format.Duration, span(r.video), 0.2) {
		t.Errorf("mp4: %d video frames, duration %.3f s, video %.3f s", len(r.video), r.probe.Format.Duration, span(r.video))
	}
	body := h.waitFor(t, "on_record_mp4", 10*time.Second, func(b map[string]any) bool { return b["stream"] == "api" })
	if checkRecordMP4Body(t, ts, body, "api", "k=v", time.Now().Add(-10*time.Second)) != files[0] {
		t.Errorf("on_record_mp4 for %v, want %s", body["file_path"], files[0])
	}
	if !near(num(body, "time_len"), r.probe.Format.Duration, 0.2) {
		t.Errorf("time_len %v, file lasts %.3f s", body["time_len"], r.probe.Format.Duration)
	}
	date := filepath.Base(filepath.Dir(files[0]))
	list := ts.apiCall(t, "getMP4RecordFile", url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"api"}})
	if data, _ := list["data"].(map[string]any); code(list) != 0 || fmt.Sprint(data["paths"]) != "["+date+"]" {
		t.Errorf("getMP4RecordFile days: %v", list)
	}
	list = ts.apiCall(t, "getMP4RecordFile", url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"api"}, "period": {date}})
	data, _ := list["data"].(map[string]any)
	if code(list) != 0 || fmt.Sprint(data["paths"]) != "["+filepath.Base(files[0])+"]" {
		t.Errorf("getMP4RecordFile %s: %v", date, list)
	} else if rp, _ := data["rootPath"].(string); filepath.Join(rp, filepath.Base(files[0])) != files[0] {
		t.Errorf("getMP4RecordFile rootPath %q for %s", rp, files[0])
	}

	// HLS: a complete playlist, and on_record_ts for each segment.
	playlists := hlsPlaylists(t, filepath.Join(root, "live", "api"))
	if len(playlists) != 1 {
		t.Fatalf("hls playlists %v, want one", playlists)
	}
	if rel, _ := filepath.Rel(root, playlists[0]); !regexp.MustCompile(`^live/api/hls/\d{4}-\d{2}-\d{2}/\d{2}-\d{2}-\d{2}/hls\.m3u8$`).MatchString(filepath.ToSlash(rel)) {
		t.Errorf("hls playlist at %s", rel)
	}
	p := endedPlaylist(t, playlists[0])
	if len(p.Segments) < 4 {
		t.Errorf("%d segments in 4.5 s of 1 s segments", len(p.Segments))
	}
	var listed float64
	for _, s := range p.Segments {
		listed += s.Duration.Seconds()
	}
	hr := probeRecording(t, playlists[0])
	if !near(span(hr.video), listed, 0.2) || len(hr.video) < 100 {
		t.Errorf("hls recording: %d video frames over %.3f s, playlist lists %.3f s", len(hr.video), span(hr.video), listed)
	}
	var tsBodies []map[string]any
	waitFor(t, 10*time.Second, "on_record_ts for every segment", func() bool {
		h.mu.Lock()
		tsBodies = append(tsBodies, h.bodies["on_record_ts"]...)
		h.bodies["on_record_ts"] = nil
		h.mu.Unlock()
		return len(tsBodies) >= len(p.Segments)
	})
	// No more than one call per segment: checked at the end, once
	// shutdown has sent every queued call.
	seen := map[string]bool{}
	for _, b := range tsBodies {
		fp, _ := b["file_path"].(string)
		st, err := os.Stat(fp)
		if err != nil || b["app"] != "live" || b["stream"] != "api" || int64(num(b, "file_size")) != st.Size() ||
			filepath.Dir(fp) != filepath.Dir(playlists[0]) || b["file_name"] != filepath.Base(fp) || num(b, "time_len") <= 0 {
			t.Errorf("on_record_ts body %v (%v)", b, err)
		}
		seen[filepath.Base(fp)] = true
	}
	for _, s := range p.Segments {
		if !seen[s.URI] {
			t.Errorf("no on_record_ts for %s", s.URI)
		}
	}

	// customized_path and max_second.
	cfiles := mp4Files(t, custom)
	if len(cfiles) < 3 {
		t.Errorf("max_second 1 over 4.5 s: files %v", cfiles)
	}
	for _, f := range cfiles {
		if rel, _ := filepath.Rel(custom, f); !strings.HasPrefix(filepath.ToSlash(rel), "live/api2/") {
			t.Errorf("file %s not under customized_path/live/api2", f)
		}
		cr := probeRecording(t, f)
		// cut at the first keyframe after 1 s: one GOP of 1 s
		if d := span(cr.video); d > 1.1 {
			t.Errorf("%s lasts %.3f s with max_second 1", f, d)
		}
	}
	if len(mp4Files(t, filepath.Join(root, "live", "api2"))) != 0 {
		t.Error("customized_path recording also wrote under the default root")
	}
	list = ts.apiCall(t, "getMP4RecordFile", url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"api2"},
		"customized_path": {custom}, "period": {date}})
	if data, _ := list["data"].(map[string]any); code(list) != 0 || len(data["paths"].([]any)) != len(cfiles) {
		t.Errorf("getMP4RecordFile customized_path: %v", list)
	}

	// Errors.
	if r := ts.apiCall(t, "startRecord", recordArgs("missing", record.TypeMP4)); code(r) != -500 || r["result"] != false {
		t.Errorf("startRecord on a missing stream: %v, want code -500", r)
	}
	if r := ts.apiCall(t, "stopRecord", recordArgs("missing", record.TypeHLS)); code(r) != -1 {
		t.Errorf("stopRecord on a missing stream: %v, want code -1", r)
	}
	if r := ts.apiCall(t, "startRecord", recordArgs("api", 2)); code(r) != -300 {
		t.Errorf("startRecord type 2: %v, want code -300", r)
	}

	// Shutdown finishes every recording and sends the hook calls queued
	// before it returns: any other on_record_ts has been received.
	ts.stop(t)
	if n := h.count("on_record_ts"); n != 0 || len(tsBodies) != len(p.Segments) {
		t.Errorf("%d on_record_ts calls for %d segments", len(tsBodies)+n, len(p.Segments))
	}
}

// TestRecordHLSTwiceInOneSecond: two HLS recordings of a stream started
// within the same second do not write into the same directory.
func TestRecordHLSTwiceInOneSecond(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.HLS.SegDur = time.Second })
	testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/twice", true)
	waitStream(t, ts, "live/twice")
	waitMedia(t, ts, "twice", 0, 1500*time.Millisecond) // a GOP cache to start from
	for range 2 {
		if r := ts.apiCall(t, "startRecord", recordArgs("twice", record.TypeHLS)); code(r) != 0 {
			t.Fatalf("startRecord: %v", r)
		}
		if r := ts.apiCall(t, "stopRecord", recordArgs("twice", record.TypeHLS)); code(r) != 0 {
			t.Fatalf("stopRecord: %v", r)
		}
	}
	playlists := hlsPlaylists(t, filepath.Join(ts.Config().General.DataDir, "record", "live", "twice"))
	if len(playlists) != 2 {
		t.Fatalf("two HLS recordings left playlists %v, want two", playlists)
	}
	for _, p := range playlists {
		endedPlaylist(t, p)
		probeRecording(t, p)
	}
}

// TestRecordStorm is failure-modes 1: 20 goroutines start and stop HLS
// and MP4 recording of one live stream at once, repeatedly, while the
// configuration and the on_publish reply record it too. The server stays
// healthy, the stream plays, and every file left is valid.
func TestRecordStorm(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		if name == "on_publish" {
			return map[string]any{"code": 0, "enable_mp4": true, "mp4_max_second": 1}
		}
		return nil
	})
	ts := startServer(t, func(c *config.Config) {
		c.HLS.SegDur = 500 * time.Millisecond
		c.Protocol.EnableMP4 = true
		c.Hook.Enable = true
		c.Hook.OnPublish = h.url("on_publish")
	})
	testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/storm", true)
	waitStream(t, ts, "live/storm")
	waitMedia(t, ts, "storm", 0, time.Second) // a GOP cache to start from

	const workers, rounds = 20, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	client := &http.Client{Timeout: 20 * time.Second}
	call := func(name string, params url.Values) map[string]any {
		resp, err := client.PostForm(ts.httpURL+"/index/api/"+name, params)
		if err != nil {
			fail("%s: %v", name, err)
			return nil
		}
		defer resp.Body.Close()
		var reply map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
			fail("%s: %v", name, err)
		}
		return reply
	}
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				var inner sync.WaitGroup
				for _, typ := range []record.Type{record.TypeHLS, record.TypeMP4} {
					inner.Add(1)
					go func() {
						defer inner.Done()
						r := call("startRecord", recordArgs("storm", typ))
						if r != nil && code(r) != 0 && code(r) != -1 {
							fail("startRecord %v: %v", typ, r)
						}
					}()
				}
				inner.Wait()
				// Spreads the stops, not a wait.
				time.Sleep(time.Duration((w*7+i*13)%10) * 30 * time.Millisecond)
				for _, typ := range []record.Type{record.TypeHLS, record.TypeMP4} {
					inner.Add(1)
					go func() {
						defer inner.Done()
						r := call("stopRecord", recordArgs("storm", typ))
						if r != nil && code(r) != 0 && code(r) != -1 {
							fail("stopRecord %v: %v", typ, r)
						}
					}()
				}
				inner.Wait()
				if r := call("isRecording", recordArgs("storm", record.TypeHLS)); r != nil && code(r) != 0 {
					fail("isRecording: %v", r)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d workers x %d rounds in %v", workers, rounds, time.Since(start).Round(time.Millisecond))
	for _, f := range failures {
		t.Error(f)
	}

	if code, body := ts.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz after the storm: %d %s", code, body)
	}
	// The stream still plays, as HTTP-FLV and as live HLS.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, ts.httpURL+"/live/storm.live.flv", "-read_intervals", "%+1")
	if err != nil || p.Video() == nil || p.Video().NbReadFrames < 20 {
		t.Fatalf("player after the storm: %v %+v", err, p)
	}
	livePlaylist(t, ts.httpURL+"/live/storm/hls.m3u8")
	// Stop what still records, so every file is finished.
	for _, typ := range []record.Type{record.TypeHLS, record.TypeMP4} {
		ts.apiCall(t, "stopRecord", recordArgs("storm", typ))
		if r := ts.apiCall(t, "isRecording", recordArgs("storm", typ)); r["status"] != false {
			t.Errorf("isRecording %v after the last stop: %v", typ, r)
		}
	}

	root := filepath.Join(ts.Config().General.DataDir, "record")
	files := mp4Files(t, root)
	playlists := hlsPlaylists(t, root)
	if len(files) == 0 || len(playlists) == 0 {
		t.Fatalf("storm left %d mp4 files and %d hls playlists", len(files), len(playlists))
	}
	t.Logf("%d mp4 files, %d hls recordings", len(files), len(playlists))
	for _, f := range files {
		probeRecording(t, f)
	}
	for _, pl := range playlists {
		endedPlaylist(t, pl)
		probeRecording(t, pl)
	}
	// Every HLS recording directory holds a finished playlist.
	dirs, _ := filepath.Glob(filepath.Join(root, "live", "storm", "hls", "*", "*"))
	if len(dirs) != len(playlists) {
		t.Errorf("%d HLS recording directories, %d playlists", len(dirs), len(playlists))
	}
	if code, _ := ts.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz at the end: %d", code)
	}
}
