package flv

import (
	"testing"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestIngestAllocs: an audio message costs the ingest the frame it
// makes, nothing per parse.
func TestIngestAllocs(t *testing.T) {
	_, aac := clipTracks(t, "h264_aac.flv")
	sink := &recSink{}
	in := NewIngest(sink)
	if err := in.Audio(0, AudioSequenceHeaderBody(aac)); err != nil {
		t.Fatal(err)
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	body := AppendAudioBody(nil, &media.Frame{Track: aac, Payload: []byte{0x21, 0x10, 0x04}})
	sink.frames = make([]*media.Frame, 0, 1000)
	sink.calls = make([]string, 0, 1000)
	allocs := testing.AllocsPerRun(100, func() {
		if err := in.Audio(0, body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations per audio message, want 1 (the frame)", allocs)
	}
}
