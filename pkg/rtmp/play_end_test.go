package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
)

// Players of a stream that ends get NetStream.Play.UnpublishNotify before
// the connection closes (the client reports io.EOF, not a closed
// connection), every time: the end of the stream interrupts the socket
// reader, which must not close the connection under those messages.
func TestPlayersGetEndOfStream(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0 // the stream ends when its publisher leaves
	ts := startServer(t, cfg, nil)
	const rounds, players = 5, 10
	for round := range rounds {
		pub := startGoodPublisher(t, ts.url(t, "live", "end"))
		errs := make(chan error, players)
		for range players {
			c, err := DialPlay(t.Context(), "rtmp://"+ts.addr+"/live/end", ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				defer c.Close()
				for {
					if _, err := c.ReadMessage(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		key := engine.NewKey("", "live", "end")
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("round %d's %d players to attach", round, players), func() bool {
			info, ok, err := ts.eng.Stream(context.Background(), key)
			return err == nil && ok && len(info.Readers) == players
		})
		pub.stop()
		for i := range players {
			select {
			case err := <-errs:
				if !errors.Is(err, io.EOF) {
					t.Errorf("round %d, player %d: %v, want io.EOF (NetStream.Play.UnpublishNotify)", round, i, err)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("round %d: a player did not end with the stream", round)
			}
		}
	}
}
