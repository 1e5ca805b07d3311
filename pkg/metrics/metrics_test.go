package metrics_test

import (
	"bufio"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/metrics"
)

// exposition is one scrape of a Registry's handler in the Prometheus text
// format.
type exposition struct {
	types   map[string]string  // metric family -> counter, gauge, histogram...
	help    map[string]string  // metric family -> help text
	samples map[string]float64 // sample as printed before its value -> value
}

// scrape GETs the handler and parses what it serves.
func scrape(t *testing.T, r *metrics.Registry) exposition {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q, want the text format", ct)
	}
	e := exposition{types: map[string]string{}, help: map[string]string{}, samples: map[string]float64{}}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("bad TYPE line %q", line)
			}
			e.types[f[2]] = f[3]
		case strings.HasPrefix(line, "# HELP "):
			name, text, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			e.help[name] = text
		case strings.HasPrefix(line, "#"):
		default:
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				t.Fatalf("bad sample line %q", line)
			}
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("sample %q: %v", line, err)
			}
			if _, dup := e.samples[line[:i]]; dup {
				t.Fatalf("sample %s served twice", line[:i])
			}
			e.samples[line[:i]] = v
		}
	}
	return e
}

// value returns sample s (as printed: name{label="value",...}), failing
// the test when it is missing.
func (e exposition) value(t *testing.T, s string) float64 {
	t.Helper()
	v, ok := e.samples[s]
	if !ok {
		t.Fatalf("no sample %s", s)
	}
	return v
}

// family returns the samples of metric family name (with its suffixes).
func (e exposition) family(name string) map[string]float64 {
	out := map[string]float64{}
	for s, v := range e.samples {
		if base, _, _ := strings.Cut(s, "{"); base == name || strings.HasPrefix(base, name+"_") {
			out[s] = v
		}
	}
	return out
}

// TestEngineStats: every engine counter and gauge is served under its
// name and type with the value the engine holds at scrape time; counters
// only go up between scrapes, by what the engine counted.
func TestEngineStats(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		counter func(*engine.Stats) *atomic.Int64
	}{
		{"mediakit_streams", "gauge", func(s *engine.Stats) *atomic.Int64 { return &s.Streams }},
		{"mediakit_readers", "gauge", func(s *engine.Stats) *atomic.Int64 { return &s.Readers }},
		{"mediakit_readers_waiting", "gauge", func(s *engine.Stats) *atomic.Int64 { return &s.WaitingReaders }},
		{"mediakit_bytes_in_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.BytesIn }},
		{"mediakit_bytes_out_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.BytesOut }},
		{"mediakit_frames_in_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.FramesIn }},
		{"mediakit_frames_skipped_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.FramesSkipped }},
		{"mediakit_readers_dropped_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.ReadersDropped }},
		{"mediakit_publishers_refused_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.PublishersRefused }},
		{"mediakit_publishers_replaced_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.PublishersReplaced }},
		{"mediakit_publisher_returns_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.PublisherReturns }},
		{"mediakit_readers_not_found_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.ReadersNotFound }},
		{"mediakit_streams_refused_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.StreamsRefused }},
		{"mediakit_readers_refused_total", "counter", func(s *engine.Stats) *atomic.Int64 { return &s.ReadersRefused }},
	}
	stats := &engine.Stats{}
	r := metrics.New(stats)

	// Zero before anything happened: every metric is there from the
	// start, so rate() has a first sample.
	first := scrape(t, r)
	for _, tc := range tests {
		if got := first.value(t, tc.name); got != 0 {
			t.Errorf("%s = %v before anything happened, want 0", tc.name, got)
		}
	}

	for i, tc := range tests {
		tc.counter(stats).Store(int64(1000 + i))
	}
	before := scrape(t, r)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if typ := before.types[tc.name]; typ != tc.typ {
				t.Errorf("TYPE %q, want %q", typ, tc.typ)
			}
			if before.help[tc.name] == "" {
				t.Error("no HELP")
			}
			if got := before.value(t, tc.name); got != float64(1000+i) {
				t.Errorf("value %v, want %d", got, 1000+i)
			}
		})
	}

	// Between two scrapes counters rise by what was counted; gauges
	// follow the engine, down as well as up.
	for i, tc := range tests {
		if tc.typ == "counter" {
			tc.counter(stats).Add(int64(i + 1))
		} else {
			tc.counter(stats).Add(-int64(i + 1))
		}
	}
	after := scrape(t, r)
	for i, tc := range tests {
		got, was := after.value(t, tc.name), before.value(t, tc.name)
		switch {
		case tc.typ == "counter" && got != was+float64(i+1):
			t.Errorf("%s went from %v to %v, want +%d", tc.name, was, got, i+1)
		case tc.typ == "gauge" && got != was-float64(i+1):
			t.Errorf("%s went from %v to %v, want -%d", tc.name, was, got, i+1)
		}
	}
}

// TestProcessCollectors: the Go runtime and process collectors are
// registered beside mediakit's.
func TestProcessCollectors(t *testing.T) {
	e := scrape(t, metrics.New(&engine.Stats{}))
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds", "process_open_fds"} {
		if v := e.value(t, name); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
}

// TestTrackDrops: a track an output leaves out is counted once per
// stream, output and codec, labelled by output and codec, through the
// real engine.
func TestTrackDrops(t *testing.T) {
	e := engine.New(engine.DefaultConfig(), nil)
	t.Cleanup(e.Close)
	r := metrics.New(e.Stats())
	if got := scrape(t, r).family("mediakit_tracks_dropped_total"); len(got) != 0 {
		t.Errorf("drops before any: %v", got)
	}

	video := &media.Track{Codec: media.CodecH264, Width: 320, Height: 240}
	alaw := &media.Track{Codec: media.CodecG711A, SampleRate: 8000, Channels: 1}
	opus := &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	ctx := context.Background()
	for _, stream := range []string{"a", "b"} {
		key := engine.NewKey("", "live", stream)
		pub, err := e.Publish(ctx, key, engine.SessionInfo{ID: "pub-" + stream, Protocol: "test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pub.Close)
		if err := pub.SetTracks([]*media.Track{video, alaw, opus}); err != nil {
			t.Fatal(err)
		}
		rd, err := e.Play(ctx, key, engine.SessionInfo{ID: "player-" + stream, Protocol: "test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rd.Close)
		// Every player of an output reports the drop; it counts once
		// per stream.
		for range 3 {
			rd.DropTrack("hls", alaw, "MPEG-TS cannot carry G.711")
		}
		rd.DropTrack("flv", opus, "FLV cannot carry Opus")
	}

	got := scrape(t, r)
	if typ := got.types["mediakit_tracks_dropped_total"]; typ != "counter" {
		t.Errorf("TYPE %q, want counter", typ)
	}
	want := map[string]float64{
		`mediakit_tracks_dropped_total{codec="pcm_alaw",output="hls"}`: 2,
		`mediakit_tracks_dropped_total{codec="opus",output="flv"}`:     2,
	}
	if fam := got.family("mediakit_tracks_dropped_total"); len(fam) != len(want) {
		t.Errorf("samples %v, want %v", fam, want)
	}
	for s, v := range want {
		if g := got.value(t, s); g != v {
			t.Errorf("%s = %v, want %v", s, g, v)
		}
	}
}

// TestRegisteredFuncs: gauges and counters registered by the server are
// read from their functions at every scrape, with their constant labels;
// gauges of one name differ by label.
func TestRegisteredFuncs(t *testing.T) {
	r := metrics.New(&engine.Stats{})
	var conns [2]atomic.Int64
	var refused atomic.Int64
	var sessions atomic.Int64
	r.Gauge("webrtc_sessions", "WebRTC sessions.", func() float64 { return float64(sessions.Load()) })
	for i, name := range []string{"rtmp", "http"} {
		r.GaugeWith("listener_conns", "Open connections by listener.", map[string]string{"listener": name},
			func() float64 { return float64(conns[i].Load()) })
	}
	r.CounterWith("conns_refused_total", "Connections refused.", map[string]string{"limit": "max_conns"},
		func() float64 { return float64(refused.Load()) })

	tests := []struct {
		sessions, rtmp, http, refused int64
	}{
		{0, 0, 0, 0},
		{3, 10, 2, 1},
		{1, 4, 7, 5}, // gauges down and up, the counter up
	}
	for _, tc := range tests {
		sessions.Store(tc.sessions)
		conns[0].Store(tc.rtmp)
		conns[1].Store(tc.http)
		refused.Store(tc.refused)
		e := scrape(t, r)
		for s, want := range map[string]int64{
			"mediakit_webrtc_sessions":                        tc.sessions,
			`mediakit_listener_conns{listener="rtmp"}`:        tc.rtmp,
			`mediakit_listener_conns{listener="http"}`:        tc.http,
			`mediakit_conns_refused_total{limit="max_conns"}`: tc.refused,
		} {
			if got := e.value(t, s); got != float64(want) {
				t.Errorf("%s = %v, want %d", s, got, want)
			}
		}
		for name, typ := range map[string]string{"mediakit_webrtc_sessions": "gauge", "mediakit_listener_conns": "gauge",
			"mediakit_conns_refused_total": "counter"} {
			if e.types[name] != typ {
				t.Errorf("%s TYPE %q, want %s", name, e.types[name], typ)
			}
		}
	}
}

// TestCalls: API calls and hook requests are counted by endpoint and
// result, and their latency goes into histograms; a dropped hook request
// took no time and is not a latency.
func TestCalls(t *testing.T) {
	r := metrics.New(&engine.Stats{})
	m := r.Calls()
	calls := []struct {
		api  string
		code int
		d    time.Duration
	}{
		{"getMediaList", 0, 2 * time.Millisecond},
		{"getMediaList", 0, 30 * time.Millisecond},
		{"getMediaList", -100, time.Millisecond},
		{"startRecord", -500, 3 * time.Second},
	}
	for _, c := range calls {
		m.ObserveAPI(c.api, c.code, c.d)
	}
	hooks := []struct {
		hook, result string
		d            time.Duration
	}{
		{"on_publish", "ok", 20 * time.Millisecond},
		{"on_publish", "denied", 40 * time.Millisecond},
		{"on_play", "failed", 10 * time.Second},
		{"on_play", "dropped", 0},
		{"on_play", "dropped", 0},
	}
	for _, h := range hooks {
		m.ObserveHook(h.hook, h.result, h.d)
	}

	e := scrape(t, r)
	for name, typ := range map[string]string{
		"mediakit_api_requests_total": "counter", "mediakit_api_request_duration_seconds": "histogram",
		"mediakit_hook_requests_total": "counter", "mediakit_hook_duration_seconds": "histogram",
	} {
		if e.types[name] != typ {
			t.Errorf("%s TYPE %q, want %s", name, e.types[name], typ)
		}
	}
	for s, want := range map[string]float64{
		`mediakit_api_requests_total{api="getMediaList",code="0"}`:                    2,
		`mediakit_api_requests_total{api="getMediaList",code="-100"}`:                 1,
		`mediakit_api_requests_total{api="startRecord",code="-500"}`:                  1,
		`mediakit_api_request_duration_seconds_count{api="getMediaList"}`:             3,
		`mediakit_api_request_duration_seconds_sum{api="getMediaList"}`:               0.033,
		`mediakit_api_request_duration_seconds_bucket{api="getMediaList",le="0.001"}`: 1,
		`mediakit_api_request_duration_seconds_bucket{api="getMediaList",le="0.005"}`: 2,
		`mediakit_api_request_duration_seconds_bucket{api="getMediaList",le="0.05"}`:  3,
		`mediakit_api_request_duration_seconds_bucket{api="startRecord",le="2.5"}`:    0,
		`mediakit_api_request_duration_seconds_bucket{api="startRecord",le="5"}`:      1,
		`mediakit_api_request_duration_seconds_bucket{api="startRecord",le="+Inf"}`:   1,
		`mediakit_hook_requests_total{hook="on_publish",result="ok"}`:                 1,
		`mediakit_hook_requests_total{hook="on_publish",result="denied"}`:             1,
		`mediakit_hook_requests_total{hook="on_play",result="failed"}`:                1,
		`mediakit_hook_requests_total{hook="on_play",result="dropped"}`:               2,
		`mediakit_hook_duration_seconds_count{hook="on_publish"}`:                     2,
		`mediakit_hook_duration_seconds_count{hook="on_play"}`:                        1, // the drops are not latencies
		`mediakit_hook_duration_seconds_sum{hook="on_play"}`:                          10,
	} {
		if got := e.value(t, s); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", s, got, want)
		}
	}

	// Counters and histogram counts only go up.
	m.ObserveAPI("getMediaList", 0, time.Millisecond)
	m.ObserveHook("on_play", "dropped", 0)
	again := scrape(t, r)
	for s, delta := range map[string]float64{
		`mediakit_api_requests_total{api="getMediaList",code="0"}`:        1,
		`mediakit_api_request_duration_seconds_count{api="getMediaList"}`: 1,
		`mediakit_hook_requests_total{hook="on_play",result="dropped"}`:   1,
		`mediakit_hook_duration_seconds_count{hook="on_play"}`:            0,
		`mediakit_api_requests_total{api="startRecord",code="-500"}`:      0,
	} {
		if got, was := again.value(t, s), e.value(t, s); got != was+delta {
			t.Errorf("%s went from %v to %v, want +%v", s, was, got, delta)
		}
	}
}

// TestBatch: the metrics of a batch are read from one snapshot per
// scrape, so labelled sets may come and go; samples of undeclared names
// or with the wrong number of labels are left out, not served broken.
func TestBatch(t *testing.T) {
	r := metrics.New(&engine.Stats{})
	type stream struct {
		id      string
		packets float64
		loss    float64
	}
	var snapshot []stream
	var snapshots atomic.Int64
	r.Batch([]metrics.BatchMetric{
		{Name: "rtp_packets_total", Help: "RTP packets by stream.", Counter: true, Labels: []string{"stream_id"}},
		{Name: "rtp_loss_ratio", Help: "RTP loss by stream.", Labels: []string{"stream_id"}},
	}, func(emit func(string, float64, ...string)) {
		snapshots.Add(1)
		for _, s := range snapshot {
			emit("rtp_packets_total", s.packets, s.id)
			emit("rtp_loss_ratio", s.loss, s.id)
		}
		emit("not_declared", 1, "x")
		emit("rtp_loss_ratio", 1) // no label value
	})

	tests := []struct {
		name    string
		streams []stream
	}{
		{"none", nil},
		{"two", []stream{{"cam1", 100, 0.5}, {"cam2", 7, 0}}},
		{"one gone, one new", []stream{{"cam2", 9, 0.25}, {"cam3", 1, 1}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snapshot = tc.streams
			e := scrape(t, r)
			if n := snapshots.Load(); n != int64(i+1) {
				t.Errorf("%d snapshots after %d scrapes, want one per scrape", n, i+1)
			}
			want := map[string]float64{}
			for _, s := range tc.streams {
				want[`mediakit_rtp_packets_total{stream_id="`+s.id+`"}`] = s.packets
				want[`mediakit_rtp_loss_ratio{stream_id="`+s.id+`"}`] = s.loss
			}
			got := e.family("mediakit_rtp")
			if len(got) != len(want) {
				t.Errorf("samples %v, want %v", got, want)
			}
			for s, v := range want {
				if g := e.value(t, s); g != v {
					t.Errorf("%s = %v, want %v", s, g, v)
				}
			}
			if len(e.family("mediakit_not_declared")) != 0 {
				t.Error("an undeclared metric was served")
			}
			if len(tc.streams) > 0 {
				if e.types["mediakit_rtp_packets_total"] != "counter" || e.types["mediakit_rtp_loss_ratio"] != "gauge" {
					t.Errorf("types %q and %q, want counter and gauge", e.types["mediakit_rtp_packets_total"], e.types["mediakit_rtp_loss_ratio"])
				}
			}
		})
	}
}
