package httpts

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// A stream with a track MPEG-TS cannot carry gets one muxer of its other
// tracks, shared by its readers; a stream of such tracks only gets none.
// (The engine's DropTrack reports the drop once: see pkg/server's
// TestTSCodecs.)
func TestDroppedCodecSharedMuxer(t *testing.T) {
	tracks := publishClipTracks(t)
	g711, err := media.NewG711Track(media.CodecG711A, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var ms muxes
	key := engine.NewKey("", "live", "g711")
	all := []*media.Track{tracks[0], g711}
	m1, release1, err := ms.acquire(key, all)
	if err != nil {
		t.Fatal(err)
	}
	m2, release2, err := ms.acquire(key, all) // a second reader: same muxer
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 || m1.w.Audio() != nil || m1.w.Video() != tracks[0] {
		t.Errorf("muxers %p %p, audio %v", m1, m2, m1.w.Audio())
	}
	release1()
	release2()
	if _, _, err := ms.acquire(key, []*media.Track{g711}); err == nil {
		t.Error("a G.711-only stream got a muxer")
	}
	if ms.shared.Len() != 0 {
		t.Errorf("%d muxers left after every reader left", ms.shared.Len())
	}
}

// Frames built concurrently by many readers get one encoding each, and
// the encodings of consecutive frames have continuous counters.
func TestFrameBytesConcurrent(t *testing.T) {
	tracks := publishClipTracks(t)
	m, err := newStreamMux(tracks)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]*media.Frame, 100)
	for i := range frames {
		d := time.Duration(i) * 40 * time.Millisecond
		nal := []byte{0x41, 0x9a, byte(i)}
		if i%25 == 0 {
			nal[0] = 0x65
		}
		frames[i] = &media.Frame{Track: tracks[0], DTS: d, PTS: d, Key: i%25 == 0, Payload: media.AppendAVCC(nil, nal)}
	}
	const readers = 8
	out := make([][]byte, readers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range frames {
				out[r] = append(out[r], m.frameBytes(f)...)
			}
		}()
	}
	wg.Wait()
	for r := 1; r < readers; r++ {
		if !bytes.Equal(out[r], out[0]) {
			t.Fatalf("reader %d got different bytes", r)
		}
	}
	st := parseTS(t, out[0])
	if st.firstPID != 0 || st.pes[256] != len(frames) || len(st.ccErrors) != 0 {
		t.Errorf("first PID %d, %d video PES, CC jumps %v", st.firstPID, st.pes[256], st.ccErrors)
	}
}
