package engine

import (
	"context"
	"slices"
	"testing"

	"github.com/mediakit/mediakit/pkg/media"
)

func TestDropTrackOncePerStreamOutputAndCodec(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	defer p.Close()
	readers := []*Reader{play(t, e, testKey), play(t, e, testKey), play(t, e, testKey)}
	for _, r := range readers {
		defer r.Close()
		r.DropTrack("hls", testAudio, "MPEG-TS cannot carry it")
		r.DropTrack("rtsp", testAudio, "no RTP payload format")
	}
	readers[0].DropTrack("hls", testVideo, "test")
	readers[0].DropTrack("hls", nil, "nil tracks are ignored")

	info, ok, err := e.Stream(context.Background(), testKey)
	if err != nil || !ok {
		t.Fatalf("Stream: %v %v", ok, err)
	}
	want := []TrackDrop{
		{"hls", testAudio.Codec, "MPEG-TS cannot carry it"},
		{"rtsp", testAudio.Codec, "no RTP payload format"},
		{"hls", testVideo.Codec, "test"},
	}
	if !slices.Equal(info.Drops, want) {
		t.Errorf("Drops = %v, want %v", info.Drops, want)
	}
	type count struct {
		output string
		codec  media.Codec
		n      int64
	}
	var got []count
	e.Stats().TrackDrops.Each(func(o string, c media.Codec, n int64) { got = append(got, count{o, c, n}) })
	wantCounts := []count{{"hls", testVideo.Codec, 1}, {"hls", testAudio.Codec, 1}, {"rtsp", testAudio.Codec, 1}}
	slices.SortFunc(wantCounts, func(a, b count) int {
		if a.output != b.output {
			return map[bool]int{true: -1, false: 1}[a.output < b.output]
		}
		return int(a.codec) - int(b.codec)
	})
	if !slices.Equal(got, wantCounts) {
		t.Errorf("counts = %v, want %v", got, wantCounts)
	}
}
