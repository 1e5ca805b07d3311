package gbsender

import (
	"fmt"
	"os"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/mediakit/mediakit/internal/testutil"
)

// VideoFrames groups an Annex-B elementary stream (a .h264 or .hevc clip)
// into access units (testutil.AccessUnits) at fps, PTS from 0, each with
// 4-byte start codes and marked Key when it holds an H.264 IDR or H.265
// IRAP picture.
func VideoFrames(annexB []byte, hevc bool, fps int) ([]Frame, error) {
	if fps <= 0 {
		return nil, fmt.Errorf("gbsender: %d fps", fps)
	}
	nalus, _ := testutil.NALUnits(annexB)
	if len(nalus) == 0 {
		return nil, fmt.Errorf("gbsender: no NAL units")
	}
	aus := testutil.AccessUnits(nalus, hevc)
	out := make([]Frame, 0, len(aus))
	for i, au := range aus {
		data, err := h264.AnnexB(au).Marshal() // start codes are the same for H.265
		if err != nil {
			return nil, err
		}
		out = append(out, Frame{Video: true, Key: randomAccess(au, hevc), PTS: int64(i) * 90000 / int64(fps), Data: data})
	}
	return out, nil
}

// randomAccess reports whether an access unit holds an H.264 IDR or an
// H.265 IRAP (BLA, IDR or CRA) slice.
func randomAccess(au [][]byte, hevc bool) bool {
	for _, n := range au {
		if hevc {
			if t := (n[0] >> 1) & 0x3f; t >= 16 && t <= 21 {
				return true
			}
		} else if n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

// G711Frames makes that many seconds of G.711 in 20 ms frames (160
// samples at 8 kHz), a 440 Hz tone, PTS from 0.
func G711Frames(seconds int, alaw bool) []Frame {
	var out []Frame
	for i := 0; i < seconds*50; i++ {
		b := make([]byte, 160)
		for k := range b {
			// A coarse tone: alternating codes around silence.
			if (i*160+k)/9%2 == 0 {
				b[k] = 0x55 ^ 0x20
			} else {
				b[k] = 0x55
			}
			if !alaw {
				b[k] ^= 0x7f
			}
		}
		out = append(out, Frame{Key: true, PTS: int64(i) * 1800, Data: b})
	}
	return out
}

// Interleave merges video and audio frames in PTS order.
func Interleave(video, audio []Frame) []Frame {
	out := make([]Frame, 0, len(video)+len(audio))
	i, j := 0, 0
	for i < len(video) || j < len(audio) {
		if j >= len(audio) || (i < len(video) && video[i].PTS <= audio[j].PTS) {
			out = append(out, video[i])
			i++
		} else {
			out = append(out, audio[j])
			j++
		}
	}
	return out
}

// CameraClip is the test camera's media: 6 s of the H.264 clip at 25 fps
// (150 frames, a keyframe a second) interleaved with G.711 A-law (300
// frames).
func CameraClip(t testing.TB) []Frame {
	t.Helper()
	raw, err := os.ReadFile(testutil.Clip(t, "h264.h264"))
	if err != nil {
		t.Fatal(err)
	}
	video, err := VideoFrames(raw, false, 25)
	if err != nil {
		t.Fatal(err)
	}
	return Interleave(video, G711Frames(6, true))
}
