package clipframes

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// ReadMP4 reads an MP4 clip of testdata/clips (AV1, VP9, H.264 video;
// Opus audio) into its tracks and its frames ordered by DTS, without
// mediakit's own MP4 reader: ffmpeg rewrites it as fragmented MP4 and
// mediacommon's fmp4 parses that.
func ReadMP4(t testing.TB, name string) ([]*media.Track, []*media.Frame) {
	t.Helper()
	testutil.RequireFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", testutil.Clip(t, name),
		"-c", "copy", "-f", "mp4", "-movflags", "frag_keyframe+empty_moov", "pipe:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %s to fMP4: %v: %s", name, err, stderr.String())
	}
	tracks, frames, err := mp4Frames(out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tracks, frames
}

func mp4Frames(data []byte) ([]*media.Track, []*media.Frame, error) {
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(data)); err != nil {
		return nil, nil, fmt.Errorf("fMP4 init: %w", err)
	}
	byID := map[int]*media.Track{}
	scale := map[int]uint32{}
	var tracks []*media.Track
	for _, it := range init.Tracks {
		t, err := mp4Track(it.Codec)
		if err != nil {
			return nil, nil, err
		}
		byID[it.ID], scale[it.ID] = t, it.TimeScale
		tracks = append(tracks, t)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(data); err != nil {
		return nil, nil, fmt.Errorf("fMP4 parts: %w", err)
	}
	var frames []*media.Frame
	for _, p := range parts {
		for _, pt := range p.Tracks {
			t := byID[pt.ID]
			if t == nil {
				continue
			}
			ts := pt.BaseTime
			for _, s := range pt.Samples {
				dts := time.Duration(ts) * time.Second / time.Duration(scale[pt.ID])
				pts := time.Duration(int64(ts)+int64(s.PTSOffset)) * time.Second / time.Duration(scale[pt.ID])
				// Sync flags are not used: mediacommon misses the trun's
				// first-sample flags that ffmpeg writes.
				key := t.Kind() == media.KindAudio || media.IsRandomAccess(t.Codec, s.Payload)
				frames = append(frames, &media.Frame{Track: t, DTS: dts, PTS: pts, Key: key, Payload: s.Payload})
				ts += uint64(s.Duration)
			}
		}
	}
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].DTS < frames[j].DTS })
	return tracks, frames, nil
}

func mp4Track(c codecs.Codec) (*media.Track, error) {
	switch c := c.(type) {
	case *codecs.AV1:
		return media.NewAV1Track(c.SequenceHeader)
	case *codecs.VP9:
		return media.NewVP9Track(c.Width, c.Height, media.VP9Params{Profile: c.Profile, BitDepth: c.BitDepth,
			ChromaSubsampling: c.ChromaSubsampling, FullRange: c.ColorRange})
	case *codecs.H264:
		return media.NewH264Track(c.SPS, c.PPS)
	case *codecs.Opus:
		return media.NewOpusTrack(c.ChannelCount)
	}
	return nil, fmt.Errorf("fMP4 codec %T: not read by clipframes", c)
}
