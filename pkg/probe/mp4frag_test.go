package probe

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
)

// TestBufReadSeeker reads and seeks at random through a bufReadSeeker and
// a bytes.Reader over the same bytes: same data, same offsets, same EOF.
func TestBufReadSeeker(t *testing.T) {
	data := make([]byte, 3*mp4BufSize+123)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	got, want := newBufReadSeeker(bytes.NewReader(data), int64(len(data))), bytes.NewReader(data)
	sizes := []int{1, 4, 8, 100, mp4BufSize - 1, mp4BufSize, 2 * mp4BufSize}
	for i := range 2000 {
		if rng.IntN(5) == 0 { // a hint only bounds refills: reads stay the same
			got.Hint(int64(rng.IntN(len(data) + 20)))
		}
		if rng.IntN(3) == 0 {
			off, whence := int64(rng.IntN(len(data)+20)), rng.IntN(3)
			if whence != io.SeekStart {
				off -= int64(len(data) / 2)
			}
			g, gerr := got.Seek(off, whence)
			w, werr := want.Seek(off, whence)
			if (gerr == nil) != (werr == nil) || (gerr == nil && g != w) {
				t.Fatalf("op %d: Seek(%d, %d) = %d, %v; bytes.Reader %d, %v", i, off, whence, g, gerr, w, werr)
			}
			continue
		}
		n := sizes[rng.IntN(len(sizes))]
		g, w := make([]byte, n), make([]byte, n)
		gn, gerr := io.ReadFull(got, g)
		wn, werr := io.ReadFull(want, w)
		if gn != wn || !bytes.Equal(g[:gn], w[:wn]) || (gerr == nil) != (werr == nil) {
			t.Fatalf("op %d: read %d: got %d bytes, %v; bytes.Reader %d, %v", i, n, gn, gerr, wn, werr)
		}
	}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestMP4HeadersOnly: the walk of a fragmented MP4 reads its moov and
// moof boxes, not its media: a few percent of the file.
func TestMP4HeadersOnly(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	cases := []struct{ name, movflags string }{
		{"frag.mp4", "frag_keyframe+empty_moov"},
		{"progressive.mp4", "+faststart"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			ffmpeg(t, "-stream_loop", "20", "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy", "-movflags", c.movflags, p)
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			cr := &countingReaderAt{r: f}
			info, err := readMP4Info(cr, fi.Size())
			if err != nil {
				t.Fatal(err)
			}
			if len(info.tracks) != 2 || info.tracks[0].frames != 21*150 {
				t.Fatalf("tracks %d, video frames %d; want 2, %d", len(info.tracks), info.tracks[0].frames, 21*150)
			}
			read := cr.n.Load()
			if read > fi.Size()/20 {
				t.Errorf("read %d of %d bytes", read, fi.Size())
			}
			t.Logf("read %d of %d bytes", read, fi.Size())
		})
	}
}

func TestReduce(t *testing.T) {
	cases := []struct {
		num, den uint64
		want     string
	}{
		{25, 1, "25/1"},
		{12800 * 150, 76800, "25/1"},
		{1000 * 150, 6023, "150000/6023"},
		{1000 * 30150, 1209023, "30150000/1209023"},
		{30000, 1001, "30000/1001"},
		{0, 5, "0/1"},
		{5, 0, "0/0"},
		// too large for 31 bits: the closest fraction that fits
		{1 << 40, 3, "2147483647/1"},
		{3, 1 << 40, "0/1"},
		{1<<40 + 1, 1 << 40, "1/1"},
	}
	for _, c := range cases {
		if got := reduce(c.num, c.den); got != c.want {
			t.Errorf("reduce(%d, %d) = %s, want %s", c.num, c.den, got, c.want)
		}
	}
}
