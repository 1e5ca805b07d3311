package logring

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func warnings(l slog.Level) bool { return l >= slog.LevelWarn && l < slog.Level(16) }

// TestKeepsWarningsWhateverTheLevel: the ring keeps warnings and errors
// with their attributes (handler attributes and groups too), the inner
// handler still sees exactly what its level lets through, and the ring
// keeps warnings even when the log's level is "error".
func TestKeepsWarningsWhateverTheLevel(t *testing.T) {
	var out bytes.Buffer
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelError)
	r := New(10)
	log := slog.New(Wrap(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: lv}), r, warnings))
	log.Info("quiet")
	log.With("component", "rtp").WithGroup("srv").Warn("port closed", "port", 30000, "why", "no packets for 15s")
	log.Error("failed", "error", `say "no"`)
	log.Log(context.Background(), slog.Level(16), "mediakit ready") // the lifecycle level: not a warning

	got := r.Since(0)
	if len(got) != 2 {
		t.Fatalf("kept %d entries, want 2: %+v", len(got), got)
	}
	if e := got[0]; e.Level != "WARN" || e.Msg != "port closed" || e.Attrs != `component=rtp srv.port=30000 srv.why="no packets for 15s"` || e.Seq != 1 || e.Time.IsZero() {
		t.Errorf("first entry %+v", e)
	}
	if e := got[1]; e.Level != "ERROR" || e.Attrs != `error="say \"no\""` || e.Seq != 2 {
		t.Errorf("second entry %+v", e)
	}
	text := out.String()
	if strings.Contains(text, "quiet") || strings.Contains(text, "port closed") || !strings.Contains(text, "failed") || !strings.Contains(text, "mediakit ready") {
		t.Errorf("inner handler saw other lines than its level lets through:\n%s", text)
	}
	if n := len(r.Since(1)); n != 1 {
		t.Errorf("Since(1): %d entries, want 1", n)
	}
}

// TestBounded: the ring keeps the last n entries, oldest first, each line
// cut at MaxLine bytes on a rune boundary, under concurrent writers.
func TestBounded(t *testing.T) {
	r := New(5)
	log := slog.New(Wrap(slog.DiscardHandler, r, warnings))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				log.Warn(fmt.Sprintf("g%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	got := r.Since(0)
	if len(got) != 5 {
		t.Fatalf("kept %d, want 5", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("not oldest first and consecutive: %+v", got)
		}
	}
	if got[4].Seq != 200 {
		t.Errorf("last seq %d, want 200", got[4].Seq)
	}

	log.Warn(strings.Repeat("é", MaxLine), "k", strings.Repeat("x", 5000))
	e := r.Since(200)[0]
	if len(e.Msg)+len(e.Attrs) > MaxLine || !strings.HasSuffix(e.Msg, "…") || strings.ContainsRune(e.Msg, '\uFFFD') {
		t.Errorf("long line kept as %d+%d bytes: %.40q…", len(e.Msg), len(e.Attrs), e.Msg)
	}
}
