package httpfmp4

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/mediakit/mediakit/pkg/media"
)

// FuzzFragment builds the fragment of an arbitrary video or audio frame
// (a payload from the network, any timestamps) and reads it back through
// mediacommon's fMP4 parser: the boxes must parse, and carry the frame's
// decode time, composition offset, sync flag and (stripped) payload.
func FuzzFragment(f *testing.F) {
	video, audio := clipTracks(f)
	f.Add(media.AppendAVCC(nil, []byte{0x65, 0x88, 0x84}), int64(0), int64(0), true, true)
	f.Add(media.AppendAVCC(nil, []byte{0x09, 0xf0}, video.SPS, video.PPS, []byte{0x65, 0x88}), int64(40e6), int64(80e6), true, true)
	f.Add(media.AppendAVCC(nil, []byte{0x41, 0x9a}), int64(3600e9), int64(-1), false, true)
	f.Add([]byte{0, 0, 0, 9, 1}, int64(1), int64(2), false, true) // truncated NAL unit
	f.Add([]byte{0x21, 0x10, 0x05}, int64(23e6), int64(0), true, false)
	f.Fuzz(func(t *testing.T, payload []byte, dts, cts int64, key, isVideo bool) {
		var seq atomic.Uint32
		m, err := newStreamMux([]*media.Track{video, audio}, &seq, discard)
		if err != nil {
			t.Fatal(err)
		}
		track := audio
		if isVideo {
			track = video
		}
		st, _, _ := m.state(track)
		fr := &media.Frame{Track: track, DTS: time.Duration(dts), PTS: time.Duration(dts + cts), Key: key, Payload: payload}
		want := payload
		if isVideo {
			want = bytes.Clone(m.stripParameterSets(payload, track))
		}
		b := m.fragment(fr, st)
		if len(want) == 0 {
			if b != nil {
				t.Fatalf("a fragment of an empty frame: %x", b)
			}
			return
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(b); err != nil {
			t.Fatalf("fragment %x: %v", b, err)
		}
		if len(parts) != 1 || len(parts[0].Tracks) != 1 || len(parts[0].Tracks[0].Samples) != 1 {
			t.Fatalf("parts %+v", parts)
		}
		pt := parts[0].Tracks[0]
		smp := pt.Samples[0]
		if pt.ID != int(st.id) || pt.BaseTime != ticks(fr.DTS, st.timescale) || !bytes.Equal(smp.Payload, want) {
			t.Errorf("track %d at %d, payload %x; want %d at %d, %x", pt.ID, pt.BaseTime, smp.Payload, st.id, ticks(fr.DTS, st.timescale), want)
		}
		if isVideo && smp.IsNonSyncSample == key {
			t.Errorf("non-sync %v for key %v", smp.IsNonSyncSample, key)
		}
		if !isVideo && (smp.IsNonSyncSample || smp.PTSOffset != 0) {
			t.Errorf("audio sample %+v", smp)
		}
	})
}
