package httpfmp4

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// marshalPart is the one-sample fragment as mediacommon writes it.
func marshalPart(tb testing.TB, seq uint32, s *sample, payload []byte) []byte {
	tb.Helper()
	var buf seekablebuffer.Buffer
	part := fmp4.Part{SequenceNumber: seq, Tracks: []*fmp4.PartTrack{{
		ID:       int(s.trackID),
		BaseTime: s.baseTime,
		Samples: []*fmp4.Sample{{
			Duration: s.duration, PTSOffset: s.cts, IsNonSyncSample: s.nonSync, Payload: payload,
		}},
	}}}
	if err := part.Marshal(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestAppendFragmentMatchesMediacommon: the hand-written boxes are
// mediacommon's, byte for byte, and read back through its parser.
func TestAppendFragmentMatchesMediacommon(t *testing.T) {
	payload := []byte{0, 0, 0, 3, 0x65, 1, 2}
	for _, s := range []sample{
		{trackID: 1, baseTime: 0, duration: 3600},
		{trackID: 1, baseTime: 1 << 40, duration: 3600, nonSync: true},
		{trackID: 1, baseTime: 90000, duration: 3600, cts: 7200, nonSync: true},
		{trackID: 1, baseTime: 90000, duration: 3600, cts: -3600},
		{trackID: 2, baseTime: 44100 * 3600, duration: 1024},
	} {
		want := marshalPart(t, 42, &s, payload)
		got := appendFragment([]byte("x"), 42, &s, payload)
		if !bytes.Equal(got[1:], want) {
			t.Errorf("%+v:\n got %x\nwant %x", s, got[1:], want)
			continue
		}
		if n := fragmentSize(&s, len(payload)); n != len(want) {
			t.Errorf("%+v: fragmentSize %d, want %d", s, n, len(want))
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(got[1:]); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		pt := parts[0].Tracks[0]
		smp := pt.Samples[0]
		if parts[0].SequenceNumber != 42 || pt.ID != int(s.trackID) || pt.BaseTime != s.baseTime ||
			smp.Duration != s.duration || smp.PTSOffset != s.cts || smp.IsNonSyncSample != s.nonSync || !bytes.Equal(smp.Payload, payload) {
			t.Errorf("%+v: read back %+v %+v", s, pt, smp)
		}
	}
}
