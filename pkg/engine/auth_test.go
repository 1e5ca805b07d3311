package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

type testAuth struct {
	denyPublish, denyPlay bool
	opts                  PublishOptions
}

func (a testAuth) AuthorizePublish(ctx context.Context, key Key, s SessionInfo) (PublishOptions, error) {
	if a.denyPublish {
		return PublishOptions{}, fmt.Errorf("%w: no", ErrDenied)
	}
	return a.opts, nil
}

func (a testAuth) AuthorizePlay(ctx context.Context, key Key, s SessionInfo) error {
	if a.denyPlay {
		return fmt.Errorf("%w: no", ErrDenied)
	}
	return nil
}

func TestAuthorizerDenies(t *testing.T) {
	e := newTestEngine(t, testConfig())
	e.SetAuthorizer(testAuth{denyPublish: true, denyPlay: true})
	if _, err := e.Publish(context.Background(), testKey, SessionInfo{}); !errors.Is(err, ErrDenied) {
		t.Fatalf("publish: %v", err)
	}
	if _, err := e.Play(context.Background(), testKey, SessionInfo{}); !errors.Is(err, ErrDenied) {
		t.Fatalf("play: %v", err)
	}
	if n, _ := e.Ping(context.Background()); n != 0 {
		t.Fatalf("%d streams after denials", n)
	}
}

func TestStreamReplaceAndContinuePush(t *testing.T) {
	cfg := testConfig()
	cfg.ContinuePush = time.Minute // what the stream would wait without its own
	e := newTestEngine(t, cfg)
	grace := 50 * time.Millisecond
	e.SetAuthorizer(testAuth{opts: PublishOptions{StreamReplace: "renamed", ContinuePush: &grace}})
	p, err := e.Publish(context.Background(), NewKey("", "rtp", "0A0B0C0D"), SessionInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Key(); got.App != "rtp" || got.Stream != "renamed" {
		t.Fatalf("publisher key %v", got)
	}
	if err := p.SetTracks([]*media.Track{testVideo}); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := e.Stream(context.Background(), NewKey("", "rtp", "renamed")); !found {
		t.Fatal("renamed stream not found")
	}
	start := time.Now()
	p.Close()
	// Gone after its own 50ms, not the configured minute; the 10 s only
	// tell the two apart.
	testutil.Eventually(t, 10*time.Second, "the stream to end after its own grace period", func() bool {
		_, found, _ := e.Stream(context.Background(), NewKey("", "rtp", "renamed"))
		return !found
	})
	if d := time.Since(start); d < grace {
		t.Fatalf("ended %v after its publisher, before its own grace period", d)
	}
}

func TestStreamReplaceInvalid(t *testing.T) {
	e := newTestEngine(t, testConfig())
	e.SetAuthorizer(testAuth{opts: PublishOptions{StreamReplace: "../x"}})
	if _, err := e.Publish(context.Background(), testKey, SessionInfo{}); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("got %v, want ErrInvalidKey", err)
	}
}
