package rtsp

import (
	"strings"
	"testing"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestPublishClientTrackRemap: a stream that declares its tracks again
// (a publisher that came back) goes on being sent when the new tracks
// are configured as the announced ones; a changed one ends the session
// with an error (the push announces again), never silently.
func TestPublishClientTrackRemap(t *testing.T) {
	video := &media.Track{Codec: media.CodecH264, SPS: []byte{0x67, 0x42, 0xc0, 0x1e}, PPS: []byte{0x68}}
	audio := &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	pv, pa := &publishTrack{pt: 96}, &publishTrack{pt: 97}
	p := &PublishClient{display: "rtsp://h/live/x", tracks: map[*media.Track]*publishTrack{video: pv, audio: pa}}

	same := &media.Track{Codec: media.CodecH264, SPS: []byte{0x67, 0x42, 0xc0, 0x1e}, PPS: []byte{0x68}}
	if got, err := p.track(same); got != pv || err != nil {
		t.Fatalf("a redeclared identical video track: %v, %v; want the announced one", got, err)
	}
	changed := &media.Track{Codec: media.CodecH264, SPS: []byte{0x67, 0x64, 0x00, 0x28}, PPS: []byte{0x68}}
	if got, err := p.track(changed); got != nil || err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("a video track with new parameter sets: %v, %v; want an error", got, err)
	}
	only := &PublishClient{tracks: map[*media.Track]*publishTrack{video: pv}}
	if got, err := only.track(audio); got != nil || err != nil {
		t.Fatalf("a track of a kind never announced: %v, %v; want it skipped", got, err)
	}
}
