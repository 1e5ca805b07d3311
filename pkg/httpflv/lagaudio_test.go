package httpflv

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestLaggingAudioAtJoin: a player that joins at a keyframe of a stream
// whose audio lags its video (ffmpeg's RTSP muxer sends AAC in bursts,
// so audio stamped before a keyframe arrives after it) sees no timestamp
// go back, sequence headers included. Found by cmd/mediakit's TestSoak:
// the sequence headers were stamped with the keyframe's DTS, and the
// audio frames after them were older. Lagging audio that is in the GOP
// cache when the player joins is all delivered; lagging audio that
// arrives after the start went out is left out until audio catches up.
func TestLaggingAudioAtJoin(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lagCached  bool // the lagging audio is in the GOP cache at the join
		wantLagged int  // audio frames stamped before the keyframe the player gets
	}{
		{"lagging audio in the GOP cache", true, 5},
		{"lagging audio after the join", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, testConfig())
			pub, err := ts.e.Publish(context.Background(), engine.NewKey("", "live", "lag"), engine.SessionInfo{ID: "pub", Protocol: "test"})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			video, audio := clipTracks(t)
			if err := pub.SetTracks([]*media.Track{video, audio}); err != nil {
				t.Fatal(err)
			}
			var keyframe, frame, aac []byte
			for _, tag := range loadClip(t) {
				if tag.Type == flv.TagVideo {
					if p, err := flv.ParseVideo(tag.Body); err == nil && p.Type == flv.VideoFrame {
						if p.Key && keyframe == nil {
							keyframe = p.Data
						} else if !p.Key && frame == nil {
							frame = p.Data
						}
					}
				} else if p, err := flv.ParseAudio(tag.Body); tag.Type == flv.TagAudio && err == nil && !p.SequenceHeader && aac == nil {
					aac = p.Data
				}
			}
			write := func(tr *media.Track, ms int, key bool) {
				t.Helper()
				payload := aac
				if tr == video {
					payload = frame
					if key {
						payload = keyframe
					}
				}
				d := time.Duration(ms) * time.Millisecond
				if err := pub.WriteFrame(&media.Frame{Track: tr, DTS: d, PTS: d, Key: key || tr == audio, Payload: payload}); err != nil {
					t.Fatal(err)
				}
			}
			// A first GOP, audio up to 880 ms, then the keyframe at 1 s;
			// the audio of 900-969 ms comes after it.
			for ms := 0; ms < 1000; ms += 40 {
				write(video, ms, ms == 0)
			}
			for ms := 0; ms <= 880; ms += 23 {
				write(audio, ms, true)
			}
			write(video, 1000, true)
			lagging := func() {
				for _, ms := range []int{900, 923, 946, 969} {
					write(audio, ms, true)
				}
			}
			if tc.lagCached {
				lagging()
			}

			r := readHead(t, sendRequest(t, ts.addr, http.MethodGet, "/live/lag.live.flv", "HTTP/1.1"))
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			fr := flv.NewReader(&chunkedReader{br: r.br}, 0)
			var tags []flv.Tag
			next := func() error {
				tag, err := fr.Next()
				if err == nil {
					tag.Body = append([]byte(nil), tag.Body...)
					tags = append(tags, tag)
				}
				return err
			}
			// The player has its start (through the keyframe) before the
			// rest is published.
			for keyframes := 0; keyframes == 0; {
				if err := next(); err != nil {
					t.Fatalf("before the keyframe: %v", err)
				}
				if tag := tags[len(tags)-1]; tag.Type == flv.TagVideo && tag.Timestamp == time.Second {
					keyframes++
				}
			}
			if !tc.lagCached {
				lagging()
			}
			write(video, 1040, false)
			write(audio, 992, true)
			write(audio, 1015, true)
			pub.Close() // the stream ends after the 200 ms grace period
			for {
				err := next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}

			last := map[flv.TagType]time.Duration{}
			lagged, audioFrames := 0, 0
			for i, tag := range tags {
				if tag.Type != flv.TagVideo && tag.Type != flv.TagAudio {
					continue
				}
				if prev, ok := last[tag.Type]; ok && tag.Timestamp < prev {
					t.Errorf("tag %d (type %d) at %v after %v: a timestamp went back", i, tag.Type, tag.Timestamp, prev)
				}
				last[tag.Type] = tag.Timestamp
				if tag.Type == flv.TagAudio {
					if p, err := flv.ParseAudio(tag.Body); err == nil && !p.SequenceHeader {
						audioFrames++
						if tag.Timestamp >= 900*time.Millisecond && tag.Timestamp < time.Second {
							lagged++
						}
					}
				}
			}
			// 900-969 and 992 ms are stamped before the keyframe: all
			// delivered when the player starts with them, none when they
			// come after its start; 1015 ms always plays.
			if lagged != tc.wantLagged || audioFrames != lagged+1 {
				t.Errorf("%d audio frames, %d of them stamped before the keyframe; want %d of those and the one after",
					audioFrames, lagged, tc.wantLagged)
			}
		})
	}
}
