package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestStreamsSnapshotsEveryStreamWhileStreamsComeAndGo: Streams lists the
// streams that stay, sorted, while others publish and end around it, and
// a cancelled context ends it with an error without leaving a request
// behind (goleak and -race check the rest).
func TestStreamsSnapshotsEveryStreamWhileStreamsComeAndGo(t *testing.T) {
	e := newTestEngine(t, testConfig())
	const stay = 60
	for i := range stay {
		p := publish(t, e, NewKey("", "live", fmt.Sprintf("s%03d", i)))
		t.Cleanup(p.Close)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p, err := e.Publish(context.Background(), NewKey("", "churn", fmt.Sprint(i%7)), SessionInfo{})
			if err == nil {
				_ = p.SetTracks(nil)
				p.Close()
			}
		}
	}()
	for range 50 {
		list, err := e.Streams(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i, info := range list {
			if i > 0 && list[i-1].Key.String() >= info.Key.String() {
				t.Fatalf("not sorted: %s before %s", list[i-1].Key, info.Key)
			}
			if info.Key.App == "live" {
				if want := fmt.Sprintf("s%03d", n); info.Key.Stream != want || info.State != StateLive {
					t.Fatalf("stream %d: %s in state %v, want live/%s live", n, info.Key, info.State, want)
				}
				n++
			}
		}
		if n != stay {
			t.Fatalf("%d of the %d steady streams listed", n, stay)
		}
	}
	close(stop)
	wg.Wait()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Streams(ctx); err == nil {
		t.Fatal("Streams with a cancelled context: no error")
	}
}
