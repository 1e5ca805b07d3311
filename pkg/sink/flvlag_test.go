package sink_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/sink"
)

// TestFLVFileLaggingAudio: an FLV recording of a stream whose audio lags
// its video (ffmpeg's RTSP muxer sends AAC in bursts, so audio stamped
// before a video frame arrives after it) has no timestamp going back in
// either track, its sequence headers included, and ffprobe reads it.
// The file's sequence headers were stamped with its first frame's DTS,
// and the audio after them could be older. Lagging audio in the first
// frames the recording gets (the GOP cache when it joins) is all written;
// lagging audio that comes after the file started is left out until
// audio catches up.
func TestFLVFileLaggingAudio(t *testing.T) {
	const lag = 150 * time.Millisecond
	tracks, clip := clipframes.Read(t, "h264_aac.flv")
	// The clip in the order a publisher with lagging audio sends it.
	frames := slices.Clone(clip)
	arrival := func(f *media.Frame) time.Duration {
		if f.Track.Kind() == media.KindAudio {
			return f.DTS + lag
		}
		return f.DTS
	}
	slices.SortStableFunc(frames, func(a, b *media.Frame) int { return int(arrival(a) - arrival(b)) })
	// The third keyframe: a recording that joins later starts there.
	var join int
	for i, keys := 0, 0; i < len(frames); i++ {
		if frames[i].Key && frames[i].Track.Kind() == media.KindVideo {
			if keys++; keys == 3 {
				join = i
				break
			}
		}
	}
	if keyframe := frames[join].DTS; frames[join+1].Track.Kind() != media.KindAudio || frames[join+1].DTS >= keyframe {
		t.Fatalf("frame after the keyframe at %v: %v at %v, want lagging audio", keyframe, frames[join+1].Track.Codec, frames[join+1].DTS)
	}

	for _, tc := range []struct {
		name string
		// cached is how many frames are published before the recording
		// joins (0: it runs from the stream's start).
		cached int
		// waitStart: the recording writes its start before the rest is
		// published.
		waitStart bool
		// lagged: audio stamped before the keyframe the recording joins
		// at is in the file (with a join).
		lagged bool
	}{
		{name: "from the stream's start"},
		{name: "lagging audio in the GOP cache", cached: join + 3, lagged: true},
		{name: "lagging audio after the start", cached: join + 1, waitStart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.flv")
			file := track(sink.NewFLVFile(path, nil))
			e := newEngine(t)
			if tc.cached == 0 {
				attachAll(e, file)
				publish(t, e, tracks, frames, true)
			} else {
				pub := publish(t, e, tracks, frames[:tc.cached], false)
				if err := e.AttachSink(context.Background(), testKey, "flv", func() engine.Sink { return file }); err != nil {
					t.Fatal(err)
				}
				if tc.waitStart {
					testutil.Eventually(t, 10*time.Second, "the recording's first frame", func() bool {
						return file.Sink.(sink.Progress).FramesWritten() > 0
					})
				}
				for _, f := range frames[tc.cached:] {
					c := &media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}
					if err := pub.WriteFrame(c); err != nil {
						t.Fatal(err)
					}
				}
				pub.Close()
			}
			file.wait(t, 10*time.Second, "the stream ended")
			res := file.Result()
			if res.Err != nil {
				t.Fatal(res.Err)
			}

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fr := flv.NewReader(bytes.NewReader(data), 0)
			last := map[flv.TagType]time.Duration{}
			counts := map[flv.TagType]int{}
			var firstVideo time.Duration = -1
			lagged := 0
			for i := 0; ; i++ {
				tag, err := fr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("tag %d: %v", i, err)
				}
				if tag.Type != flv.TagVideo && tag.Type != flv.TagAudio {
					continue
				}
				if prev, ok := last[tag.Type]; ok && tag.Timestamp < prev {
					t.Errorf("tag %d (type %d) at %v after %v: a timestamp went back", i, tag.Type, tag.Timestamp, prev)
				}
				last[tag.Type] = tag.Timestamp
				if tag.Type == flv.TagVideo {
					p, err := flv.ParseVideo(tag.Body)
					if err != nil || p.Type != flv.VideoFrame {
						continue
					}
					if firstVideo < 0 {
						firstVideo = tag.Timestamp
						if !p.Key {
							t.Errorf("the file starts with a video frame that is not a keyframe, at %v", tag.Timestamp)
						}
					}
				} else if p, err := flv.ParseAudio(tag.Body); err != nil || p.SequenceHeader {
					continue
				} else if firstVideo >= 0 && tag.Timestamp < firstVideo {
					lagged++
				}
				counts[tag.Type]++
			}
			if n := int64(counts[flv.TagVideo] + counts[flv.TagAudio]); n != res.Frames || n == 0 {
				t.Errorf("%d frames in the file, the result says %d", n, res.Frames)
			}
			if tc.cached > 0 && (lagged > 0) != tc.lagged {
				t.Errorf("%d audio frames stamped before the keyframe the file starts with; want some: %v", lagged, tc.lagged)
			}

			testutil.RequireFFmpeg(t)
			p, err := testutil.FFprobe(context.Background(), t, path)
			if err != nil {
				t.Fatal(err)
			}
			v, a := p.Video(), p.Audio()
			if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" ||
				v.NbReadFrames != counts[flv.TagVideo] || a.NbReadFrames != counts[flv.TagAudio] {
				t.Errorf("ffprobe %+v, want %d h264 and %d aac frames", p.Streams, counts[flv.TagVideo], counts[flv.TagAudio])
			}
		})
	}
}
