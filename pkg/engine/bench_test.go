package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// BenchmarkFanOut measures the engine's cost per frame for N readers, each
// in its own goroutine doing what a player does minus the socket: take the
// available frames and touch their shared bytes. allocs/op is per frame for
// all readers together; it stays flat as readers grow, so a reader
// allocates nothing in steady state. ns/frame/reader is the per-reader
// cost.
func BenchmarkFanOut(b *testing.B) {
	for _, readers := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MaxReaderLag = 0 // the benchmark publishes faster than real time
			e := New(cfg, nil)
			defer e.Close()
			key := NewKey("", "bench", "fanout")
			p, err := e.Publish(context.Background(), key, SessionInfo{})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.SetTracks([]*media.Track{testVideo}); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 8000)
			var wg sync.WaitGroup
			for i := 0; i < readers; i++ {
				r, err := e.Play(context.Background(), key, SessionInfo{})
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer r.Close()
					buf := make([]*media.Frame, 0, 256)
					var sum int
					for {
						frames, err := r.Next(buf[:0])
						if err != nil {
							return
						}
						for _, f := range frames {
							sum += len(f.Payload)
						}
						clear(frames)
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts := time.Duration(i) * 40 * time.Millisecond
				f := &media.Frame{Track: testVideo, DTS: ts, PTS: ts, Key: i%50 == 0, Payload: payload}
				if err := p.WriteFrame(f); err != nil {
					b.Fatal(err)
				}
			}
			p.Close()
			e.CloseStream(context.Background(), key, "done")
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(readers), "ns/frame/reader")
		})
	}
}

// BenchmarkReaderNext is one reader draining frames already appended: the
// per-reader hot path alone. It must not allocate.
func BenchmarkReaderNext(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxReaderLag = 0
	e := New(cfg, nil)
	defer e.Close()
	key := NewKey("", "bench", "next")
	p, _ := e.Publish(context.Background(), key, SessionInfo{})
	_ = p.SetTracks([]*media.Track{testVideo})
	r, err := e.Play(context.Background(), key, SessionInfo{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const batch = 64
	payload := make([]byte, 100)
	buf := make([]*media.Frame, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		for j := 0; j < batch; j++ {
			_ = p.WriteFrame(&media.Frame{Track: testVideo, Key: j == 0, Payload: payload})
		}
		b.StartTimer()
		got, err := r.Next(buf[:0])
		if err != nil || len(got) != batch {
			b.Fatalf("got %d frames, %v", len(got), err)
		}
	}
}

// BenchmarkStreams lists 1000 published streams, each with one reader,
// alone and with busy goroutines competing for the processors (a loaded
// server): a list that waited for each stream's owner goroutine in turn
// queued behind them once per stream. "Streams" copies every snapshot;
// "EachStream" refills one, as getMediaList walks them.
func BenchmarkStreams(b *testing.B) {
	for _, busy := range []int{0, 8} {
		b.Run(fmt.Sprintf("streams=1000/busy=%d", busy), func(b *testing.B) {
			e := New(DefaultConfig(), nil)
			defer e.Close()
			for i := range 1000 {
				key := NewKey("", "bench", fmt.Sprintf("s%04d", i))
				p, err := e.Publish(context.Background(), key, SessionInfo{ID: "pub"})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				if err := p.SetTracks([]*media.Track{testVideo, testAudio}); err != nil {
					b.Fatal(err)
				}
				r, err := e.Play(context.Background(), key, SessionInfo{ID: "player"})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range busy {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; ; n++ {
						if n%1024 == 0 {
							select {
							case <-stop:
								return
							default:
							}
						}
					}
				}()
			}
			b.Run("Streams", func(b *testing.B) {
				for b.Loop() {
					list, err := e.Streams(context.Background())
					if err != nil || len(list) != 1000 {
						b.Fatalf("%d streams, %v", len(list), err)
					}
				}
			})
			b.Run("EachStream", func(b *testing.B) {
				for b.Loop() {
					n := 0
					err := e.EachStream(context.Background(), func(*StreamInfo) error { n++; return nil })
					if err != nil || n != 1000 {
						b.Fatalf("%d streams, %v", n, err)
					}
				}
			})
			close(stop)
			wg.Wait()
		})
	}
}
