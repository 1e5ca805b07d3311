package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
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

// TestSnapshotsDoNotWaitForABusyOwner: a stream whose owner goroutine is
// busy (here: blocked in a command) is still listed and looked up at
// once, and what a caller changed through the owner shows in the next
// snapshot: a reader joining and leaving, a sink, the publisher leaving.
func TestSnapshotsDoNotWaitForABusyOwner(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	defer p.Close()
	r, err := e.Play(context.Background(), testKey, SessionInfo{ID: "player", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	info, found, err := e.Stream(context.Background(), testKey)
	if err != nil || !found || len(info.Readers) != 1 || info.Readers[0].ID != "player" || info.Publisher == nil || info.Publisher.ID != "pub" {
		t.Fatalf("after play: found %v, err %v, readers %+v, publisher %+v", found, err, info.Readers, info.Publisher)
	}
	if err := e.AttachSink(context.Background(), testKey, "rec", func() Sink { return &countingSink{} }); err != nil {
		t.Fatal(err)
	}
	if info, _, _ := e.Stream(context.Background(), testKey); len(info.Sinks) != 1 || info.Sinks[0] != "rec" {
		t.Fatalf("after AttachSink: sinks %v", info.Sinks)
	}

	s, err := e.lookup(testKey, false)
	if err != nil || s == nil {
		t.Fatalf("lookup: %v", err)
	}
	release := make(chan struct{})
	busy := make(chan struct{})
	go func() { _ = s.do(context.Background(), func() { close(busy); <-release }) }()
	<-busy
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	list, err := e.Streams(ctx)
	cancel()
	close(release)
	if err != nil || len(list) != 1 || list[0].Key != testKey || len(list[0].Readers) != 1 {
		t.Fatalf("Streams while the owner is busy: %v, %+v", err, list)
	}

	r.Close()
	testutil.Eventually(t, 5*time.Second, "the reader that left is not listed", func() bool {
		info, _, _ := e.Stream(context.Background(), testKey)
		return len(info.Readers) == 0
	})
	p.Close()
	info, _, _ = e.Stream(context.Background(), testKey)
	if info.State != StateGrace || info.Publisher == nil || info.Publisher.ID != "pub" {
		t.Fatalf("after the publisher left: state %v, publisher %+v", info.State, info.Publisher)
	}
}

// TestEachStreamSeesWhatStreamsSees: EachStream refills one StreamInfo for
// every stream, and nothing of one stream shows in the next: a stream
// with readers, a sink, frames and a dropped track between streams with
// none of these, and one in its grace period, each equal to what Streams
// returns for it.
func TestEachStreamSeesWhatStreamsSees(t *testing.T) {
	e := newTestEngine(t, testConfig())
	ctx := context.Background()
	full := publish(t, e, NewKey("", "live", "b-full"))
	t.Cleanup(full.Close)
	writeN(t, full, &frameSource{gop: 5}, 12)
	for range 3 {
		play(t, e, NewKey("", "live", "b-full"))
	}
	if err := e.AttachSink(ctx, NewKey("", "live", "b-full"), "rec", func() Sink { return &countingSink{} }); err != nil {
		t.Fatal(err)
	}
	s, err := e.lookup(NewKey("", "live", "b-full"), false)
	if err != nil || s == nil {
		t.Fatalf("lookup: %v", err)
	}
	s.DropTrack("webrtc", testAudio, "no AAC in WebRTC")
	for _, name := range []string{"a-bare", "c-bare"} {
		p := publish(t, e, NewKey("", "live", name))
		t.Cleanup(p.Close)
		if name == "c-bare" {
			// Frames of its video track only: no stale audio statistics
			// from b-full may show in its refilled map.
			if err := p.WriteFrame(&media.Frame{Track: testVideo, Key: true, Payload: make([]byte, 10)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	gone := publish(t, e, NewKey("", "live", "d-grace"))
	gone.Close()
	testutil.Eventually(t, 5*time.Second, "every stream is listed, b-full with its readers and sink", func() bool {
		list, _ := e.Streams(ctx)
		return len(list) == 4 && len(list[1].Readers) == 3 && len(list[1].Sinks) == 1 && list[3].State == StateGrace
	})

	want, err := e.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []StreamInfo
	if err := e.EachStream(ctx, func(info *StreamInfo) error {
		got = append(got, *info)
		// Deep enough a copy to compare: the refilled storage is reused.
		got[len(got)-1].Readers = slices.Clone(info.Readers)
		got[len(got)-1].Sinks = slices.Clone(info.Sinks)
		got[len(got)-1].Drops = slices.Clone(info.Drops)
		got[len(got)-1].TrackStats = maps.Clone(info.TrackStats)
		if info.Publisher != nil {
			pub := *info.Publisher
			got[len(got)-1].Publisher = &pub
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("EachStream saw %d streams, Streams %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		// Counters move between the two looks; the rest must not.
		if g.Key != w.Key || g.State != w.State || g.Ready != w.Ready || !g.CreatedAt.Equal(w.CreatedAt) ||
			!reflect.DeepEqual(g.Publisher, w.Publisher) || len(g.Readers) != len(w.Readers) ||
			!slices.Equal(g.Sinks, w.Sinks) || !slices.Equal(g.Drops, w.Drops) ||
			!slices.Equal(statsTracks(g.TrackStats), statsTracks(w.TrackStats)) || !slices.Equal(g.Tracks, w.Tracks) {
			t.Fatalf("stream %d: EachStream\n%+v\nStreams\n%+v", i, g, w)
		}
		for j := range w.Readers {
			if g.Readers[j].ID != w.Readers[j].ID {
				t.Fatalf("stream %d reader %d: %q, want %q", i, j, g.Readers[j].ID, w.Readers[j].ID)
			}
		}
	}
	if got[1].TrackStats[testVideo].Frames != 12 || len(got[1].Drops) != 1 || got[0].TrackStats != nil || len(got[2].Drops) != 0 ||
		len(got[2].TrackStats) != 1 || got[2].TrackStats[testVideo].Frames != 1 {
		t.Fatalf("b-full's stats and drops, or a-bare's and c-bare's lack of them: %+v %+v %+v", got[0], got[1], got[2])
	}

	stop := errors.New("stop")
	calls := 0
	if err := e.EachStream(ctx, func(*StreamInfo) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("fn's error: %v after %d calls, want it after 1", err, calls)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.EachStream(cancelled, func(*StreamInfo) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled context: %v", err)
	}
}

// statsTracks are the tracks a TrackStats map has statistics of, in the
// order of their codecs.
func statsTracks(m map[*media.Track]TrackStats) []media.Codec {
	var out []media.Codec
	for t := range m {
		out = append(out, t.Codec)
	}
	slices.Sort(out)
	return out
}
