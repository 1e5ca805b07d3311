package proxy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/store"
)

func spec(stream string) PullSpec {
	return PullSpec{Vhost: engine.DefaultVhost, App: "proxy", Stream: stream, URL: "rtmp://origin/live/" + stream, RetryCount: -1,
		Options: map[string]string{"enable_mp4": "0"}}
}

func TestPullGoesLiveIsStoredAndRestored(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	m := f.manager(t, nil)
	sp := spec("a")
	key, err := m.AddPull(context.Background(), sp, false)
	if err != nil {
		t.Fatal(err)
	}
	if key != "__defaultVhost__/proxy/a" {
		t.Fatalf("key = %q", key)
	}
	info := f.stream(t, sp.Key())
	if len(info.Tracks) != 2 || info.Publisher.Protocol != "pull" || info.Options.Values["enable_mp4"] != "0" {
		t.Fatalf("stream = tracks %v, publisher %+v, options %v", info.Tracks, info.Publisher, info.Options.Values)
	}
	if _, st, ok := m.PullStatus(key); !ok || st.State != StatePlaying || st.Text != "playing" {
		t.Fatalf("status = %+v, %v", st, ok)
	}
	if _, err := m.AddPull(context.Background(), sp, false); !errors.Is(err, ErrExists) {
		t.Fatalf("second AddPull: %v, want ErrExists", err)
	}
	stored, err := f.store.Tasks(store.KindProxy)
	if err != nil || len(stored) != 1 || stored[0].Key != key {
		t.Fatalf("stored = %+v, %v", stored, err)
	}

	// A restart: the manager goes, its stream ends; a new one restores
	// the proxy from the store.
	m.Close()
	waitFor(t, "the stream to end with its manager", func() bool { return !f.live(sp.Key()) })
	m2 := f.manager(t, nil)
	if err := m2.Restore(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restored proxy to play", func() bool { return f.live(sp.Key()) })
	if got := m2.Pulls(); len(got) != 1 || got[0].Spec.URL != sp.URL || got[0].Spec.Options["enable_mp4"] != "0" {
		t.Fatalf("restored = %+v", got)
	}

	found, err := m2.DeletePull(key)
	if err != nil || !found {
		t.Fatalf("DeletePull = %v, %v", found, err)
	}
	waitFor(t, "the stream to end", func() bool { return !f.live(sp.Key()) })
	if stored, _ := f.store.Tasks(store.KindProxy); len(stored) != 0 {
		t.Fatalf("deleted proxy still stored: %+v", stored)
	}
	if found, _ := m2.DeletePull(key); found {
		t.Fatal("a second delete found the proxy")
	}
}

func TestPullRetriesUntilSourceReturns(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	f.sources.setDown(errDown)
	m := f.manager(t, nil)
	sp := spec("b")
	if _, err := m.AddPull(context.Background(), sp, false); err == nil || !errors.Is(err, errDown) {
		t.Fatalf("AddPull of a source that is down: %v, want its error", err)
	}
	if len(m.Pulls()) != 0 {
		t.Fatal("a failed AddPull left its proxy")
	}
	if stored, _ := f.store.Tasks(store.KindProxy); len(stored) != 0 {
		t.Fatalf("a failed AddPull left its proxy stored: %+v", stored)
	}

	// force keeps it, retrying, until the source is back.
	key, err := m.AddPull(context.Background(), sp, true)
	if err != nil {
		t.Fatal(err)
	}
	// The status, not the count of opens: an attempt is counted when it
	// opens its source, its failure a moment later.
	waitFor(t, "failed attempts in the status", func() bool {
		_, st, _ := m.PullStatus(key)
		return st.Failures >= 2 && st.LastError != ""
	})
	if _, st, _ := m.PullStatus(key); st.State == StatePlaying || f.sources.attempts() < 3 {
		t.Fatalf("status while down = %+v after %d attempts", st, f.sources.attempts())
	}
	f.sources.setDown(nil)
	waitFor(t, "the proxy to play once the source is back", func() bool { return f.live(sp.Key()) })
	waitFor(t, "status playing", func() bool { _, st, _ := m.PullStatus(key); return st.State == StatePlaying && st.Failures == 0 })
}

func TestPullGivesUpAfterRetryCount(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	m := f.manager(t, nil)
	sp := spec("c")
	sp.RetryCount = 2
	key, err := m.AddPull(context.Background(), sp, false)
	if err != nil {
		t.Fatal(err)
	}
	f.sources.setDown(errDown)
	before := f.sources.attempts()
	// The connection drops and the source stays down: the proxy tries
	// again, fails twice more in a row, and gives up.
	f.sources.dropConnections()
	waitFor(t, "the proxy to give up", func() bool { _, st, _ := m.PullStatus(key); return st.State == StateFailed })
	if got := f.sources.attempts() - before; got != 2 {
		t.Fatalf("attempts after the connection dropped = %d, want 2 (retry_count 2 failures in a row, the drop being the first)", got)
	}
	if _, st, _ := m.PullStatus(key); st.Restarts != 1 || st.LastError != errDown.Error() {
		t.Fatalf("status after giving up = %+v", st)
	}
	// A stored proxy that gave up stays listed and stored: the next start
	// tries again.
	if stored, _ := f.store.Tasks(store.KindProxy); len(stored) != 1 {
		t.Fatal("a proxy that gave up was removed from the store")
	}
}

func TestPullRemovedWhenItsStreamIsClosed(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	m := f.manager(t, nil)
	sp := spec("d")
	key, err := m.AddPull(context.Background(), sp, false)
	if err != nil {
		t.Fatal(err)
	}
	if found, err := f.engine.CloseStream(context.Background(), sp.Key(), "closed by the API"); err != nil || !found {
		t.Fatalf("CloseStream = %v, %v", found, err)
	}
	waitFor(t, "the proxy to be removed", func() bool { _, _, ok := m.PullStatus(key); return !ok })
	waitFor(t, "the proxy to leave the store", func() bool { s, _ := f.store.Tasks(store.KindProxy); return len(s) == 0 })
}

func TestPullAudioOptions(t *testing.T) {
	cases := []struct {
		name, clip string
		drop, mute bool
		wantAudio  bool
		wantMute   bool
	}{
		{name: "drop audio", clip: "h264_aac.flv", drop: true},
		{name: "mute added to video only", clip: "h264_only.flv", mute: true, wantAudio: true, wantMute: true},
		{name: "mute not added when audio exists", clip: "h264_aac.flv", mute: true, wantAudio: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.clip)
			m := f.manager(t, nil)
			sp := spec(string(rune('a' + i)))
			sp.DropAudio, sp.AddMuteAudio = tc.drop, tc.mute
			if _, err := m.AddPull(context.Background(), sp, false); err != nil {
				t.Fatal(err)
			}
			info := f.stream(t, sp.Key())
			var audio *media.Track
			for _, tr := range info.Tracks {
				if tr.Kind() == media.KindAudio {
					audio = tr
				}
			}
			if (audio != nil) != tc.wantAudio {
				t.Fatalf("audio track = %v, want present %v", audio, tc.wantAudio)
			}
			if tc.wantMute {
				if audio.Codec != media.CodecAAC || audio.SampleRate != 44100 || audio.Channels != 1 {
					t.Fatalf("mute track = %v", audio)
				}
				// Silence follows the video: about 43 frames per second.
				waitFor(t, "silent frames", func() bool {
					info := f.stream(t, sp.Key())
					return info.TrackStats[audio].Frames > 40
				})
				info := f.stream(t, sp.Key())
				var video *media.Track
				for _, tr := range info.Tracks {
					if tr.Kind() == media.KindVideo {
						video = tr
					}
				}
				vd, ad := info.TrackStats[video].Duration, info.TrackStats[audio].Duration
				if d := vd - ad; d < -100*time.Millisecond || d > 100*time.Millisecond {
					t.Fatalf("silence covers %v of %v of video", ad, vd)
				}
			}
		})
	}
}

func TestOnDemandPullIsNotStoredAndClosesWhenUnwatched(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	m := f.manager(t, nil)
	key := engine.NewKey("", "live", "ondemand")
	m.OnDemand(key, "rtmp://origin/live/ondemand", nil, 3, time.Second)
	m.OnDemand(key, "rtmp://origin/live/ondemand", nil, 3, time.Second) // a second waiting player
	waitFor(t, "the on-demand pull to play", func() bool { return f.live(key) })
	if n := len(m.Pulls()); n != 1 {
		t.Fatalf("%d pulls for one key", n)
	}
	if stored, _ := f.store.Tasks(store.KindProxy); len(stored) != 0 {
		t.Fatalf("on-demand pull stored: %+v", stored)
	}
	m.StreamNoReaders(key)
	waitFor(t, "the on-demand pull to stop", func() bool { return len(m.Pulls()) == 0 && !f.live(key) })
}

func TestOnDemandTriesOriginsInTurnAndGivesUp(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	f.sources.setDown(errDown)
	m := f.manager(t, nil)
	key := engine.NewKey("", "live", "nowhere")
	m.OnDemand(key, "rtmp://a/live/nowhere", []string{"rtmp://b/live/nowhere"}, 1, time.Second)
	waitFor(t, "the on-demand pull to give up and go", func() bool { return len(m.Pulls()) == 0 })
	if got := f.sources.attempts(); got != 2 {
		t.Fatalf("attempts = %d, want 2 (retry_count 1)", got)
	}
}

func TestAddPullRefusesUnsupportedURLAndForeignPublisher(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	m := f.manager(t, nil)
	sp := spec("e")
	sp.URL = "unsupported://x"
	if _, err := m.AddPull(context.Background(), sp, true); err == nil {
		t.Fatal("AddPull of an unsupported URL succeeded")
	}
	pub, err := f.engine.Publish(context.Background(), spec("f").Key(), engine.SessionInfo{ID: "obs", Protocol: "rtmp"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := m.AddPull(context.Background(), spec("f"), false); !errors.Is(err, ErrExists) {
		t.Fatalf("AddPull over a stream published by someone else: %v, want ErrExists", err)
	}
	if stored, _ := f.store.Tasks(store.KindProxy); len(stored) != 0 {
		t.Fatalf("refused proxies stored: %+v", stored)
	}
}

// TestPullWaitsOutAnotherPublisher: a publisher that takes the stream
// over (--takeover) is not fought: the proxy waits, without taking it
// back or counting failures, and returns once the stream is free.
func TestPullWaitsOutAnotherPublisher(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	cfg := f.engine.Config()
	cfg.Takeover = true
	f.engine.SetConfig(cfg)
	m := f.manager(t, nil)
	sp := spec("w")
	sp.RetryCount = 1
	key, err := m.AddPull(context.Background(), sp, false)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := f.engine.Publish(context.Background(), sp.Key(), engine.SessionInfo{ID: "obs", Protocol: "rtmp"})
	if err != nil {
		t.Fatal(err)
	}
	opens := f.sources.attempts()
	waitFor(t, "the proxy to wait", func() bool {
		_, st, _ := m.PullStatus(key)
		return st.State == StateRetrying && strings.Contains(st.Text, "waiting")
	})
	// Over several waits (5-20 ms each here) it does not take the stream
	// back, open its source, or give up.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		info := f.stream(t, sp.Key())
		if info.Publisher == nil || info.Publisher.ID != "obs" {
			t.Fatalf("the proxy took the stream back: publisher %+v", info.Publisher)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, st, _ := m.PullStatus(key); st.State == StateFailed || f.sources.attempts() != opens {
		t.Fatalf("while waiting: status %+v, sources opened %d more times", st, f.sources.attempts()-opens)
	}
	obs.Close()
	waitFor(t, "the proxy to play again", func() bool {
		info, live, _ := f.engine.Stream(context.Background(), sp.Key())
		return live && info.Publisher != nil && info.Publisher.Protocol == "pull"
	})
}

// TestLateCleanupKeepsSuccessorRecord: the cleanup of a proxy that a new
// one of the same key has replaced leaves the new one's record.
func TestLateCleanupKeepsSuccessorRecord(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	m := f.manager(t, nil)
	sp := spec("r")
	if _, err := m.AddPull(context.Background(), sp, true); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	first := m.pulls[sp.Key()]
	m.mu.Unlock()
	if _, err := m.DeletePull(sp.Key().String()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddPull(context.Background(), sp, true); err != nil {
		t.Fatal(err)
	}
	if err := m.deletePull(first, false); err != nil {
		t.Fatal(err)
	}
	if stored, _ := f.store.Tasks(store.KindProxy); len(stored) != 1 {
		t.Fatalf("the successor's record is gone: %+v", stored)
	}
	// A record no proxy runs (unreadable at restore) can still be deleted.
	if err := f.store.PutTask(store.KindProxy, "__defaultVhost__/proxy/orphan", "not a spec"); err != nil {
		t.Fatal(err)
	}
	if found, err := m.DeletePull("__defaultVhost__/proxy/orphan"); err != nil || !found {
		t.Fatalf("DeletePull of a stored record nothing runs = %v, %v", found, err)
	}
}

// The /metrics counters (restarts, bytes) are counters: deleting the
// proxy that counted them must not make them go down.
func TestCountsDoNotFallWhenAProxyGoes(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	m := f.manager(t, nil)
	sp := spec("counts")
	key, err := m.AddPull(context.Background(), sp, false)
	if err != nil {
		t.Fatal(err)
	}
	// A dropped connection is a restart; wait until it plays again with
	// bytes counted.
	f.sources.dropConnections()
	waitFor(t, "a restart and bytes", func() bool {
		_, st, _ := m.PullStatus(key)
		return st.Restarts >= 1 && st.Bytes > 0 && st.State == StatePlaying
	})
	_, _, restarts, in, _ := m.Counts()
	if restarts < 1 || in <= 0 {
		t.Fatalf("Counts while playing: restarts %d, bytes in %d", restarts, in)
	}
	if found, err := m.DeletePull(key); !found || err != nil {
		t.Fatalf("DeletePull = %v, %v", found, err)
	}
	pulls, _, restarts2, in2, _ := m.Counts()
	if len(pulls) != 0 {
		t.Fatalf("pulls by state after the delete: %v", pulls)
	}
	if restarts2 < restarts || in2 < in {
		t.Fatalf("counters fell when the proxy went: restarts %d -> %d, bytes in %d -> %d", restarts, restarts2, in, in2)
	}
}
