//go:build unix

package mp4_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mp4"
)

// requireSparse skips the test unless the temporary directory's file
// system makes sparse files: a 5 GiB hole must not take disk space.
func requireSparse(t *testing.T) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte{1}, 5<<30)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Skipf("skipping: cannot make a 5 GiB sparse file: %v", err)
	}
	defer os.Remove(path)
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if used := int64(st.Blocks) * 512; used > 1<<20 {
		t.Skipf("skipping: the file system does not make sparse files (a 5 GiB hole takes %d bytes)", used)
	}
}

// TestCo64 pushes every sample beyond 4 GiB with a sparse free box after
// ftyp: the finalised file must use co64, and ffprobe must read it.
func TestCo64(t *testing.T) {
	requireSparse(t)
	tracks, frames := flvFrames(t, "h264_aac.flv")
	var opts mp4.Options
	mp4.SetPadding(&opts, 1<<32+4096)
	path, w := record(t, tracks, frames, opts, true)

	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if size := fileSize(t, path); size < 1<<32 || w.Bytes() != size {
		t.Fatalf("file of %d bytes (Bytes() %d), want over 4 GiB", size, w.Bytes())
	}
	if used := int64(st.Blocks) * 512; used > 16<<20 {
		t.Errorf("the file takes %d bytes on disk, the hole should not", used)
	}
	// ftyp, the padding, the old moov, then the fragments.
	info := checkFinalLayout(t, path, "ftyp free free [free mdat]... moov", tracks, frames)
	for h, ti := range info {
		if !ti.co64 {
			t.Errorf("%s: stco, want co64", h)
		}
		for _, s := range ti.samples {
			if s.off < 1<<32 {
				t.Fatalf("%s: a sample at %d, below 4 GiB", h, s.off)
			}
		}
	}

	testutil.RequireFFmpeg(t)
	ctx := context.Background()
	p, err := testutil.FFprobe(ctx, t, path)
	if err != nil {
		t.Fatal(err)
	}
	checkStreams(t, p, clipCase{video: 150, audio: 260, videoCodec: "h264"})
	pkts, err := testutil.FramePackets(ctx, t, path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := testutil.FramePackets(ctx, t, testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	comparePackets(t, pkts, src, "video")
	comparePackets(t, pkts, src, "audio")
}
