package mp4_test

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestWalk checks the test-side box walker itself: it must accept boxes
// that tile a file and reject any whose sizes do not add up.
func TestWalk(t *testing.T) {
	hdr := func(size uint32, typ string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, size), typ...)
	}
	large := append(hdr(1, "free"), binary.BigEndian.AppendUint64(nil, 24)...)
	large = append(large, make([]byte, 8)...)
	good := bytes.Join([][]byte{hdr(8, "ftyp"), large, hdr(12, "mdat"), {1, 2, 3, 4}, hdr(0, "moov"), {5, 6}}, nil)
	boxes, err := walk(bytes.NewReader(good), 0, int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	if got := types(boxes); len(got) != 4 || got[1] != "free" || boxes[1].size != 24 || boxes[3].size != 10 {
		t.Errorf("boxes %+v", boxes)
	}
	for name, bad := range map[string][]byte{
		"overrun":  bytes.Join([][]byte{hdr(8, "ftyp"), hdr(16, "mdat"), {1, 2}}, nil),
		"trailing": bytes.Join([][]byte{hdr(8, "ftyp"), {1, 2, 3}}, nil),
		"short":    hdr(4, "ftyp"),
	} {
		if _, err := walk(bytes.NewReader(bad), 0, int64(len(bad))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
