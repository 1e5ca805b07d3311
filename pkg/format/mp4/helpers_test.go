package mp4_test

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// flvFrames reads a clip of testdata/clips into tracks and frames.
func flvFrames(t testing.TB, clip string) ([]*media.Track, []*media.Frame) {
	t.Helper()
	return clipframes.Read(t, clip)
}

// h265Frames returns the H.265 clip as 25 fps frames.
func h265Frames(t testing.TB) ([]*media.Track, []*media.Frame) {
	t.Helper()
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	var vps, sps, pps []byte
	for _, n := range aus[0] {
		switch (n[0] >> 1) & 0x3f {
		case 32:
			vps = n
		case 33:
			sps = n
		case 34:
			pps = n
		}
	}
	track, err := media.NewH265Track(vps, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]*media.Frame, len(aus))
	for i, au := range aus {
		payload := media.AppendAVCC(nil, au...)
		ts := time.Duration(i) * 40 * time.Millisecond
		frames[i] = &media.Frame{
			Track: track, DTS: ts, PTS: ts, Payload: payload,
			Key: media.IsRandomAccess(media.CodecH265, payload),
		}
	}
	return []*media.Track{track}, frames
}

// record writes frames to a new file in a temporary directory. With
// finish it closes the writer; without it the test simulates a kill -9:
// the file is closed under the writer's feet.
func record(t testing.TB, tracks []*media.Track, frames []*media.Frame, opts mp4.Options, finish bool) (string, *mp4.Writer) {
	t.Helper()
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
	for _, fr := range frames {
		if err := w.WriteFrame(fr); err != nil {
			t.Fatal(err)
		}
	}
	if finish {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, w
}

// box is one box of a file.
type box struct {
	typ       string
	off, size int64 // size includes the header
	hdr       int64 // header length
}

// topBoxes walks the top-level boxes of a file, reading only their
// headers, and checks that their sizes add up to the file's length.
func topBoxes(t testing.TB, path string) []box {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := walk(f, 0, fi.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return boxes
}

// walk reads the box headers in [off, end) of r; the boxes must tile the
// range exactly.
func walk(r io.ReaderAt, off, end int64) ([]box, error) {
	var out []box
	for off < end {
		if end-off < 8 {
			return out, errors.New("trailing bytes after the last box")
		}
		var h [16]byte
		if _, err := r.ReadAt(h[:8], off); err != nil {
			return out, err
		}
		b := box{typ: string(h[4:8]), off: off, size: int64(binary.BigEndian.Uint32(h[:4])), hdr: 8}
		switch b.size {
		case 0:
			b.size = end - off
		case 1:
			if _, err := r.ReadAt(h[8:16], off+8); err != nil {
				return out, err
			}
			b.size, b.hdr = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if b.size < b.hdr || b.size > end-off {
			return out, errors.New("box " + b.typ + " overruns its parent or the file")
		}
		out = append(out, b)
		off += b.size
	}
	return out, nil
}

// types returns the types of boxes.
func types(boxes []box) []string {
	out := make([]string, len(boxes))
	for i, b := range boxes {
		out[i] = b.typ
	}
	return out
}

// readBox returns the bytes of a box (small boxes only: moov, moof).
func readBox(t testing.TB, path string, b box) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, b.size)
	if _, err := f.ReadAt(buf, b.off); err != nil {
		t.Fatal(err)
	}
	return buf
}

// containers are the box types whose payload is a list of boxes.
var containers = map[string]int{
	"moov": 0, "trak": 0, "mdia": 0, "minf": 0, "stbl": 0, "dinf": 0, "edts": 0,
	"mvex": 0, "moof": 0, "traf": 0,
	"stsd": 8, // full box header and entry count, then sample entries
	"avc1": 78, "hvc1": 78, "mp4a": 28, "alaw": 28, "ulaw": 28,
}

// node is a parsed box and its children.
type node struct {
	typ      string
	payload  []byte // after the (possibly full box) header of a leaf
	children []*node
}

// parseTree parses a box (small, in memory) into a tree.
func parseTree(t testing.TB, buf []byte) *node {
	t.Helper()
	n, err := parseNode(buf)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func parseNode(buf []byte) (*node, error) {
	if len(buf) < 8 || int(binary.BigEndian.Uint32(buf)) != len(buf) {
		return nil, errors.New("bad box size")
	}
	n := &node{typ: string(buf[4:8]), payload: buf[8:]}
	skip, ok := containers[n.typ]
	if !ok {
		return n, nil
	}
	if len(n.payload) < skip {
		return nil, errors.New(n.typ + " too short")
	}
	rest := n.payload[skip:]
	for len(rest) > 0 {
		if len(rest) < 8 {
			return nil, errors.New("trailing bytes in " + n.typ)
		}
		size := int(binary.BigEndian.Uint32(rest))
		if size < 8 || size > len(rest) {
			return nil, errors.New("child of " + n.typ + " overruns it")
		}
		c, err := parseNode(rest[:size])
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, c)
		rest = rest[size:]
	}
	return n, nil
}

// all returns every descendant at a path of types ("trak/mdia/mdhd").
func (n *node) all(path ...string) []*node {
	if len(path) == 0 {
		return []*node{n}
	}
	var out []*node
	for _, c := range n.children {
		if c.typ == path[0] {
			out = append(out, c.all(path[1:]...)...)
		}
	}
	return out
}

// one returns the only descendant at path, failing the test otherwise.
func (n *node) one(t testing.TB, path ...string) *node {
	t.Helper()
	got := n.all(path...)
	if len(got) != 1 {
		t.Fatalf("%s: %d boxes at %v, want 1", n.typ, len(got), path)
	}
	return got[0]
}

func u32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func u64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
