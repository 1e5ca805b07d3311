package mpegts

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// fuzzHandler checks what the demuxer hands out of n bytes of input:
// units no larger than the input (Annex-B adds 4 bytes per NAL unit to
// what may have been 3-byte start codes), a bounded number of them, and
// timestamps within a few wraps of the clock.
type fuzzHandler struct {
	t     *testing.T
	n     int
	units int
}

func (h *fuzzHandler) unit(codec media.Codec, pts, dts time.Duration, size int) error {
	if size > 2*h.n+16 {
		h.t.Fatalf("%v unit of %d bytes from %d bytes of input", codec, size, h.n)
	}
	// An Opus PES packet holds at most one packet per 2 bytes; others
	// at most one unit per 7 bytes (an ADTS header).
	if h.units++; h.units > h.n/2+10 {
		h.t.Fatalf("%d units from %d bytes of input", h.units, h.n)
	}
	// Each step of the unwrapped clock is below half of 2^33 ticks.
	limit := time.Duration(h.units+1) * Ticks(wrap)
	if pts > limit || pts < -limit || dts > limit || dts < -limit {
		h.t.Fatalf("%v unit %d at PTS %v DTS %v", codec, h.units, pts, dts)
	}
	return nil
}

func (h *fuzzHandler) Video(c media.Codec, pts, dts time.Duration, annexB []byte) error {
	if (c != media.CodecH264 && c != media.CodecH265) || !bytes.HasPrefix(annexB, []byte{0, 0, 0, 1}) {
		h.t.Fatalf("video of codec %v: % x", c, annexB[:min(len(annexB), 8)])
	}
	return h.unit(c, pts, dts, len(annexB))
}

func (h *fuzzHandler) AAC(pts time.Duration, asc, au []byte) error {
	if len(asc) < 2 {
		h.t.Fatalf("AAC configuration of %d bytes", len(asc))
	}
	return h.unit(media.CodecAAC, pts, pts, len(au))
}

func (h *fuzzHandler) Opus(pts time.Duration, packet []byte) error {
	return h.unit(media.CodecOpus, pts, pts, len(packet))
}

func (h *fuzzHandler) MP3(pts time.Duration, frame []byte) error {
	if media.MP3FrameDuration(frame) == 0 {
		h.t.Fatalf("MP3 frame without a valid header: % x", frame[:min(len(frame), 4)])
	}
	return h.unit(media.CodecMP3, pts, pts, len(frame))
}

// FuzzDemuxer: whatever the input, the demuxer neither panics nor hands
// out more than the input holds, and it ends in time.
func FuzzDemuxer(f *testing.F) {
	null := append([]byte{0x47, 0x1f, 0xff, 0x10}, bytes.Repeat([]byte{0xff}, 184)...)
	f.Add(null)
	f.Add(bytes.Repeat([]byte{0x47, 0x1f, 0xff, 0x10}, 47))
	f.Add([]byte{0x47, 0x40, 0, 0x10, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The bound catches a demuxer that loops on its input, not a
		// slow machine: kilobytes take milliseconds even with -race.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		d, err := NewDemuxer(bytes.NewReader(b))
		if err != nil {
			if d != nil {
				t.Fatal("a demuxer and an error")
			}
			return
		}
		for _, s := range d.Streams() {
			if (s.Err == nil) != (s.Codec != media.CodecUnknown) || s.Name == "" {
				t.Fatalf("stream %+v", s)
			}
		}
		_ = d.Run(ctx, &fuzzHandler{t: t, n: len(b)})
		if ctx.Err() != nil {
			t.Fatalf("reading %d bytes took more than 10 s", len(b))
		}
	})
}

// TestFuzzSeeds checks that the committed seeds (copies of pkg/source's
// FuzzTS seeds, which TestWriteFuzzSeeds there writes) are media the
// demuxer reads, so that fuzzing starts from the interesting paths.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	seeds := seedInputs(t, "FuzzDemuxer")
	if len(seeds) == 0 {
		t.Fatal("no seeds")
	}
	for f, s := range seeds {
		_, r, err := run(t, s)
		var video, audio int
		if r != nil {
			for _, u := range r.units {
				if u.codec.Kind() == media.KindVideo {
					video++
				} else {
					audio++
				}
			}
		}
		if err != nil || video == 0 || audio == 0 {
			t.Errorf("%s: %d video and %d audio units, error %v", f, video, audio, err)
		}
	}
}
