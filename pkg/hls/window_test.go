package hls

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

func seg(seq uint64, d time.Duration, disc bool) *Segment {
	return &Segment{Seq: seq, Start: time.Duration(seq) * 2 * time.Second, Duration: d, Discontinuity: disc,
		Data: []byte(fmt.Sprintf("segment %d", seq)), Created: time.Now()}
}

func mustParse(t testing.TB, b []byte) *MediaPlaylist {
	t.Helper()
	p, err := ParsePlaylist(b)
	if err != nil {
		t.Fatalf("%v in:\n%s", err, b)
	}
	return p
}

func listedSeqs(p *MediaPlaylist) []uint64 {
	var out []uint64
	for _, s := range p.Segments {
		out = append(out, s.Seq)
	}
	return out
}

func TestWindowSliding(t *testing.T) {
	w := NewWindow(3, 2)
	if w.Playlist() != nil {
		t.Fatal("playlist before the first segment")
	}
	if _, ok := w.Segment(0); ok {
		t.Fatal("segment served before the first Add")
	}
	for i := uint64(0); i < 10; i++ {
		if err := w.Add(seg(i, 2*time.Second, false)); err != nil {
			t.Fatal(err)
		}
		p := mustParse(t, w.Playlist())
		first := uint64(0)
		if i >= 2 {
			first = i - 2
		}
		if p.MediaSequence != first {
			t.Errorf("after %d: media sequence %d, want %d", i, p.MediaSequence, first)
		}
		var want []uint64
		for s := first; s <= i; s++ {
			want = append(want, s)
		}
		if got := listedSeqs(p); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after %d: listed %v, want %v", i, got, want)
		}
		for k, s := range p.Segments {
			if s.URI != SegmentURI(s.Seq) || s.Duration != 2*time.Second || s.Discontinuity {
				t.Errorf("after %d: entry %d = %+v", i, k, s)
			}
		}
		if p.Version != 3 || p.TargetDuration != 2 || p.Ended || p.PlaylistType != "" || p.DiscontinuitySequence != 0 {
			t.Errorf("after %d: header %+v", i, p)
		}
		if got := w.Segments(); len(got) != len(want) || got[0].Seq != first {
			t.Errorf("after %d: Segments() = %d from %d", i, len(got), got[0].Seq)
		}
		// Listed and retained (the 2 before the listing) are served; older are gone.
		for s := uint64(0); s <= i+1; s++ {
			got, ok := w.Segment(s)
			wantOK := s <= i && s+5 > i
			if ok != wantOK {
				t.Errorf("after %d: Segment(%d) found=%v, want %v", i, s, ok, wantOK)
			}
			if ok && (got.Seq != s || string(got.Data) != fmt.Sprintf("segment %d", s)) {
				t.Errorf("after %d: Segment(%d) returned seq %d %q", i, s, got.Seq, got.Data)
			}
		}
	}
	if err := w.Add(seg(9, time.Second, false)); !errors.Is(err, ErrSequence) {
		t.Errorf("repeated seq: %v, want ErrSequence", err)
	}
	if err := w.Add(seg(3, time.Second, false)); !errors.Is(err, ErrSequence) {
		t.Errorf("older seq: %v, want ErrSequence", err)
	}
	if err := w.Add(nil); err == nil {
		t.Error("nil segment accepted")
	}
	// Gaps in the numbering are allowed and still served.
	if err := w.Add(seg(20, time.Second, false)); err != nil {
		t.Fatal(err)
	}
	if s, ok := w.Segment(20); !ok || s.Seq != 20 {
		t.Error("segment 20 after a gap not found")
	}
	if _, ok := w.Segment(15); ok {
		t.Error("segment 15 (never added) found")
	}
	if s, ok := w.Segment(7); !ok || s.Seq != 7 {
		t.Error("retained segment 7 not found after a gap")
	}
}

func TestWindowRendering(t *testing.T) {
	w := NewWindow(3, 0)
	for i, d := range []time.Duration{2 * time.Second, 1999500 * time.Microsecond, 2002 * time.Millisecond} {
		if err := w.Add(seg(uint64(i+5), d, false)); err != nil {
			t.Fatal(err)
		}
	}
	// 2.002 s rounds to 2: a few ms of jitter do not raise the target.
	want := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n" +
		"#EXTINF:2.000,\nhls-5.ts\n#EXTINF:2.000,\nhls-6.ts\n#EXTINF:2.002,\nhls-7.ts\n"
	if got := string(w.Playlist()); got != want {
		t.Errorf("playlist:\n%s\nwant:\n%s", got, want)
	}
	w.End()
	if got := string(w.Playlist()); got != want+"#EXT-X-ENDLIST\n" {
		t.Errorf("ended playlist:\n%s", got)
	}
	if p := mustParse(t, w.Playlist()); !p.Ended || p.PlaylistType != "" {
		t.Errorf("ended live playlist: %+v", p)
	}
	if err := w.Add(seg(8, time.Second, false)); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(w.Playlist(), []byte("ENDLIST")) {
		t.Error("playlist still ended after Add")
	}

	custom := NewWindow(2, 0, WithSegmentURI(func(seq uint64) string { return fmt.Sprintf("/live/cam/%d.ts?token=x", seq) }))
	_ = custom.Add(seg(1, time.Second, false))
	if !bytes.Contains(custom.Playlist(), []byte("\n/live/cam/1.ts?token=x\n")) {
		t.Errorf("custom URI missing:\n%s", custom.Playlist())
	}
}

func TestWindowTargetDuration(t *testing.T) {
	w := NewWindow(2, 1)
	steps := []struct {
		d      time.Duration
		target int
	}{
		{2 * time.Second, 2},
		{2000400 * time.Microsecond, 2}, // EXTINF 2.000
		{2400 * time.Millisecond, 2},    // EXTINF rounds to 2 (RFC 8216 4.3.3.1)
		{4200 * time.Millisecond, 4},
		{2 * time.Second, 4},
		{2 * time.Second, 4}, // 4.2 s left the playlist; the target never shrinks
		{4600 * time.Millisecond, 5},
	}
	for i, s := range steps {
		if err := w.Add(seg(uint64(i), s.d, false)); err != nil {
			t.Fatal(err)
		}
		if p := mustParse(t, w.Playlist()); p.TargetDuration != s.target {
			t.Errorf("after %d (%v): target %d, want %d", i, s.d, p.TargetDuration, s.target)
		}
	}
}

func TestWindowDiscontinuity(t *testing.T) {
	w := NewWindow(3, 1)
	disc := map[uint64]bool{2: true, 4: true, 5: true}
	// want: after adding seq i, the discontinuity sequence (tags that left
	// the 3-segment listing).
	wantSeq := []uint64{0, 0, 0, 0, 0, 1, 1, 2, 3, 3}
	for i := uint64(0); i < 10; i++ {
		if err := w.Add(seg(i, 2*time.Second, disc[i])); err != nil {
			t.Fatal(err)
		}
		pl := w.Playlist()
		p := mustParse(t, pl)
		if p.DiscontinuitySequence != wantSeq[i] {
			t.Errorf("after %d: discontinuity sequence %d, want %d:\n%s", i, p.DiscontinuitySequence, wantSeq[i], pl)
		}
		if has := bytes.Contains(pl, []byte("#EXT-X-DISCONTINUITY-SEQUENCE:")); has != (wantSeq[i] > 0) {
			t.Errorf("after %d: EXT-X-DISCONTINUITY-SEQUENCE present=%v", i, has)
		}
		for _, s := range p.Segments {
			if s.Discontinuity != disc[s.Seq] {
				t.Errorf("after %d: segment %d discontinuity %v", i, s.Seq, s.Discontinuity)
			}
		}
		// The tag sits right before the segment's EXTINF.
		for _, s := range p.Segments {
			tagged := strings.Contains(string(pl), "#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n"+SegmentURI(s.Seq)+"\n")
			if tagged != disc[s.Seq] {
				t.Errorf("after %d: segment %d tagged=%v", i, s.Seq, tagged)
			}
		}
	}
}

// TestWindowConcurrent runs readers against a writer; run with -race.
func TestWindowConcurrent(t *testing.T) {
	const total = 400
	w := NewWindow(3, 2)
	var done atomic.Bool
	var wg sync.WaitGroup
	var served, missed atomic.Int64
	errs := make(chan error, 8)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lastSeq uint64
			for !done.Load() {
				pl := w.Playlist()
				if pl == nil {
					continue
				}
				p, err := ParsePlaylist(pl)
				if err != nil {
					errs <- err
					return
				}
				if p.MediaSequence < lastSeq {
					errs <- fmt.Errorf("media sequence went back from %d to %d", lastSeq, p.MediaSequence)
					return
				}
				lastSeq = p.MediaSequence
				for _, s := range p.Segments {
					got, ok := w.Segment(s.Seq)
					if !ok {
						missed.Add(1) // the writer moved on by more than retain
						continue
					}
					if got.Seq != s.Seq || len(got.Data) == 0 {
						errs <- fmt.Errorf("Segment(%d) returned %d", s.Seq, got.Seq)
						return
					}
					served.Add(1)
				}
				_ = w.Segments()
			}
		}()
	}
	for i := uint64(0); i < total; i++ {
		if err := w.Add(seg(i, 2*time.Second, i%7 == 3)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // let readers catch up now and then
		}
	}
	// On a loaded machine the writer may be done before a reader ran:
	// the last segments stay served, so wait for a reader to get one
	// (or fail) rather than race them to the end.
	testutil.Eventually(t, 10*time.Second, "a reader to be served a segment", func() bool {
		return served.Load() > 0 || len(errs) > 0
	})
	w.End()
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p := mustParse(t, w.Playlist())
	if !p.Ended || p.MediaSequence != total-3 {
		t.Errorf("final playlist %+v", p)
	}
	if served.Load() == 0 {
		t.Error("readers served nothing")
	}
	t.Logf("served %d, missed %d", served.Load(), missed.Load())
}
