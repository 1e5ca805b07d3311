package httpts

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// readSession runs enc over r until the reader ends, as a session does.
func readSession(t *testing.T, r *engine.Reader, enc *encoder) []byte {
	t.Helper()
	var out []byte
	buf := make([]*media.Frame, 0, 64)
	for {
		var err error
		buf, err = r.Next(buf[:0])
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, engine.ErrReaderClosed) {
				t.Errorf("reader: %v", err)
			}
			return out
		}
		for _, b := range enc.Append(nil, buf) {
			out = append(out, b...)
		}
	}
}

// TestTracksChanged: a session whose publisher comes back with tracks
// its program tables do not describe (another AAC configuration, here)
// ends, with a log line saying why, so that the player reconnects and
// gets the new tracks' PAT and PMT; a new track of a codec MPEG-TS
// cannot carry is dropped (reported once) and the session goes on.
func TestTracksChanged(t *testing.T) {
	for _, tc := range []struct {
		name string
		ends bool
	}{
		{"aac config", true},
		{"g711", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := engine.New(testConfig(), nil)
			defer e.Close()
			key := engine.NewKey("", "live", "change")
			tracks := publishClipTracks(t)
			video := tracks[0]
			pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			if err := pub.SetTracks(tracks); err != nil {
				t.Fatal(err)
			}
			logs := &testutil.SyncBuffer{}
			log := slog.New(slog.NewTextHandler(logs, nil))
			var ms muxes
			r, err := e.Play(context.Background(), key, engine.SessionInfo{ID: "p", Protocol: "http-ts"})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			m, release, err := ms.acquire(key, r.Tracks())
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			enc := newEncoder(m, r, log)
			done := make(chan []byte, 1)
			go func() { done <- readSession(t, r, enc) }()

			var changed *media.Track
			if tc.ends {
				changed, err = media.NewAACTrack([]byte{0x11, 0x88}) // 48 kHz mono
			} else {
				changed, err = media.NewG711Track(media.CodecG711A, 8000, 1)
			}
			if err != nil {
				t.Fatal(err)
			}
			idr := media.AppendAVCC(nil, []byte{0x65, 0x88, 0x80})
			write := func(f *media.Frame) {
				if err := pub.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				d := time.Duration(i) * 40 * time.Millisecond
				write(&media.Frame{Track: video, DTS: d, PTS: d, Key: i == 0, Payload: idr})
			}
			if err := pub.SetTracks([]*media.Track{video, changed}); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				d := time.Duration(i+3) * 40 * time.Millisecond
				write(&media.Frame{Track: changed, DTS: d, PTS: d, Key: true, Payload: []byte{0x21, 0x10, 0x04}})
				write(&media.Frame{Track: video, DTS: d, PTS: d, Payload: media.AppendAVCC(nil, []byte{0x41, 0x9a})})
			}
			if !tc.ends {
				waitFor(t, 10*time.Second, "the G.711 drop report", func() bool {
					n := int64(0)
					e.Stats().TrackDrops.Each(func(o string, c media.Codec, k int64) {
						if o == outputName && c == media.CodecG711A {
							n = k
						}
					})
					return n == 1
				})
				pub.Close()
			}
			var out []byte
			select {
			case out = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the session did not end")
			}
			st := parseTS(t, out)
			if got := strings.Contains(logs.String(), "tracks changed"); got != tc.ends {
				t.Errorf("log says tracks changed: %v, want %v:\n%s", got, tc.ends, logs.String())
			}
			// Video frames: 3 before the change; all 6 when it goes on.
			want := 3
			if !tc.ends {
				want = 6
			}
			if st.pes[256] != want || st.pes[257] != 0 {
				t.Errorf("%d video PES, %d audio PES; want %d and no audio", st.pes[256], st.pes[257], want)
			}
		})
	}
}
