package mp4_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mp4"
)

// TestCrashDuringClose stops after each step of the finalisation, and in
// the middle of the moov append, and checks that the file plays with every
// frame at that point. With maxFree lowered, Close hides the fragments
// under a free box with a 64-bit size, as for a recording over 4 GiB.
func TestCrashDuringClose(t *testing.T) {
	testutil.RequireFFmpeg(t)
	ctx := context.Background()
	tracks, frames := flvFrames(t, "h264_aac.flv")
	src, err := testutil.FramePackets(ctx, t, testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, large := range []bool{false, true} {
		t.Run(fmt.Sprintf("large=%v", large), func(t *testing.T) {
			t.Parallel()
			var opts mp4.Options
			if large {
				mp4.SetMaxFree(&opts, 1000)
			}
			path := filepath.Join(t.TempDir(), "out.mp4")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w, err := mp4.NewWriter(f, tracks, opts)
			if err != nil {
				t.Fatal(err)
			}
			snapshots := map[string]string{}
			var moovStart int64
			mp4.SetStageHook(w, func(stage string) {
				snapshots[stage] = truncatedCopy(t, path, fileSize(t, path))
				if stage == "moov" {
					boxes := topBoxes(t, path)
					moovStart = boxes[len(boxes)-1].off
				}
			})
			for _, fr := range frames {
				if err := w.WriteFrame(fr); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			snapshots["partial moov"] = truncatedCopy(t, snapshots["moov"], moovStart+(w.Bytes()-moovStart)/2)
			checkFinal(t, path, tracks, frames)

			for _, c := range []struct{ stage, layout string }{
				{"partial moov", "ftyp moov [moof mdat]..."},
				{"moov", "ftyp moov [moof mdat]... moov"},
				{"init", "ftyp free moov"},
				{"moofs", "ftyp free moov"},
			} {
				t.Run(c.stage, func(t *testing.T) {
					snap, ok := snapshots[c.stage]
					if !ok {
						t.Fatal("stage not reached")
					}
					if got := layout(t, snap); got != c.layout {
						t.Errorf("layout %q, want %q", got, c.layout)
					}
					p, err := testutil.FFprobe(ctx, t, snap)
					if err != nil {
						t.Fatal(err)
					}
					checkStreams(t, p, clipCase{video: 150, audio: 260, videoCodec: "h264"})
					pkts, err := testutil.FramePackets(ctx, t, snap)
					if err != nil {
						t.Fatal(err)
					}
					comparePackets(t, pkts, src, "video")
					comparePackets(t, pkts, src, "audio")
				})
			}
		})
	}
}

// layout describes the top-level boxes of a file, folding repeated
// moof+mdat or free+mdat pairs; a box cut short at the end of the file is
// left out.
func layout(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boxes, _ := walk(f, 0, fileSize(t, path)) // a truncated last box ends the walk
	var parts []string
	for i := 0; i < len(boxes); i++ {
		if i+1 < len(boxes) && boxes[i+1].typ == "mdat" && (boxes[i].typ == "moof" || boxes[i].typ == "free") {
			pair := "[" + boxes[i].typ + " mdat]..."
			if len(parts) == 0 || parts[len(parts)-1] != pair {
				parts = append(parts, pair)
			}
			i++
			continue
		}
		parts = append(parts, boxes[i].typ)
	}
	return strings.Join(parts, " ")
}
