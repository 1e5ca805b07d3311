package llhls

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

// BenchmarkPartLatency estimates LL-HLS glass-to-glass latency on the
// server side: from the moment a video frame is handed to the engine (a
// publisher paced in real time) to the moment an LL-HLS client that waits
// on the preload hint, as hls.js does, has received the part holding that
// frame over loopback HTTP. It reports the p50, p95 and max over every
// video frame of LLHLS_BENCH_SECONDS (default 20) of the 25 fps clip
// (keyframe every second), with the default settings: 200 ms parts, 2 s
// segments. As a reference measured in the same run, ts-p50-ms and
// ts-p95-ms are the same figure for MPEG-TS HLS (pkg/hls's segmenter on
// an engine reader of the same stream): frame written to the segment
// holding it being complete, before any HTTP.
//
//	go test -run '^$' -bench BenchmarkPartLatency -benchtime 1x ./pkg/llhls
func BenchmarkPartLatency(b *testing.B) {
	seconds := 20
	if v, err := strconv.Atoi(os.Getenv("LLHLS_BENCH_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	ms := func(lat []time.Duration, q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	for range b.N {
		lat, ts := measurePartLatency(b, time.Duration(seconds)*time.Second)
		slices.Sort(lat)
		slices.Sort(ts)
		b.ReportMetric(ms(lat, 0.5), "p50-ms")
		b.ReportMetric(ms(lat, 0.95), "p95-ms")
		b.ReportMetric(ms(lat, 1), "max-ms")
		b.ReportMetric(float64(len(lat)), "frames")
		b.ReportMetric(ms(ts, 0.5), "ts-p50-ms")
		b.ReportMetric(ms(ts, 0.95), "ts-p95-ms")
	}
}

func measurePartLatency(b *testing.B, dur time.Duration) (ll, ts []time.Duration) {
	b.Helper()
	cfg := engine.DefaultConfig()
	e := engine.New(cfg, nil)
	defer e.Close()
	settings := Settings{SegDur: 2 * time.Second, SegCount: 7, PartDur: 200 * time.Millisecond, IdleTimeout: time.Minute}
	srv := NewServer(e, func() Settings { return settings }, nil)
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	tracks, frames := clip(b, "h264_aac.flv")
	key := engine.NewKey("", "live", "bench")
	p, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "bench", Protocol: "test"})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.SetTracks(tracks); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	published := map[time.Duration]time.Time{} // engine DTS of a video frame -> when written
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer p.Close()
		clipDur := frames[len(frames)-1].DTS + 40*time.Millisecond
		start := time.Now()
		for loop := 0; ; loop++ {
			for _, fr := range frames {
				c := &media.Frame{Track: fr.Track, Key: fr.Key, Payload: fr.Payload,
					DTS: fr.DTS + time.Duration(loop)*clipDur, PTS: fr.PTS + time.Duration(loop)*clipDur}
				if d := time.Until(start.Add(c.DTS)); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				now := time.Now()
				if p.WriteFrame(c) != nil {
					return
				}
				if c.Track.Kind() == media.KindVideo {
					mu.Lock()
					published[c.DTS.Round(time.Millisecond)] = now // the engine rewrote c.DTS onto its timeline
					mu.Unlock()
				}
			}
		}
	}()
	defer func() { cancel(); <-done }()

	// The MPEG-TS HLS reference: a segmenter on a reader of the stream.
	var tsLat []time.Duration
	r, err := e.Play(context.Background(), key, engine.SessionInfo{ID: "ts-ref", Protocol: "test"})
	if err != nil {
		b.Fatal(err)
	}
	tsDone := make(chan struct{})
	go func() {
		defer close(tsDone)
		seg, err := hls.NewSegmenter(r.Tracks(), settings.SegDur, func(s *hls.Segment) {
			now := time.Now()
			mu.Lock()
			for dts, at := range published {
				if dts >= s.Start && dts < s.Start+s.Duration {
					tsLat = append(tsLat, now.Sub(at))
				}
			}
			mu.Unlock()
		})
		if err != nil {
			return
		}
		buf := make([]*media.Frame, 0, 64)
		for {
			frames, err := r.Next(buf[:0])
			for _, f := range frames {
				_ = seg.WriteFrame(f)
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { r.Close(); <-tsDone }()

	client := &http.Client{Timeout: 30 * time.Second}
	getBody := func(url string) ([]byte, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
		}
		return body, err
	}
	base := hs.URL + "/live/bench/"
	mv, err := getBody(base + "hls.fmp4.m3u8")
	if err != nil {
		b.Fatal(err)
	}
	var mediaURI string
	for _, line := range strings.Split(string(mv), "\n") {
		if strings.HasPrefix(line, Dir+"/video") {
			mediaURI = strings.TrimSpace(line)
		}
	}
	body, err := getBody(base + mediaURI)
	if err != nil {
		b.Fatal(err)
	}
	pl := mediaPlaylist(b, body)
	hint := pl.PreloadHint.URI // PREFIX_video1_partN.mp4
	i := strings.LastIndex(hint, "_part")
	prefix := hint[:i+len("_part")]
	next, err := strconv.Atoi(strings.TrimSuffix(hint[i+len("_part"):], ".mp4"))
	if err != nil {
		b.Fatal(err)
	}

	var lat []time.Duration
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		data, err := getBody(base + Dir + "/" + prefix + strconv.Itoa(next) + ".mp4")
		if err != nil {
			b.Fatal(err)
		}
		got := time.Now()
		next++
		var parts fmp4.Parts
		if err := parts.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
		for _, part := range parts {
			for _, pt := range part.Tracks {
				if pt.ID != 1 {
					continue
				}
				dts := pt.BaseTime
				for _, s := range pt.Samples {
					// gohlslib starts timestamps at 10 s (90 kHz).
					engineDTS := time.Duration(int64(dts)-90000*10) * time.Second / 90000
					mu.Lock()
					at, ok := published[engineDTS.Round(time.Millisecond)]
					mu.Unlock()
					if ok {
						lat = append(lat, got.Sub(at))
					}
					dts += uint64(s.Duration)
				}
			}
		}
	}
	if len(lat) < int(dur.Seconds())*20 {
		b.Fatalf("%d frames matched in %v, want about %d", len(lat), dur, int(dur.Seconds())*25)
	}
	r.Close()
	<-tsDone
	if len(tsLat) < len(lat)/2 {
		b.Fatalf("MPEG-TS reference: %d frames", len(tsLat))
	}
	return lat, tsLat
}
