package testutil

import (
	"bytes"
	"os"
	"sync"
	"testing"
)

// NALUnits splits an Annex-B byte stream (start codes 00 00 01 or
// 00 00 00 01) into NAL units without their start codes and trailing zero
// bytes, empty units left out. ok is false when buf holds no start code.
// It takes no testing.TB, so that internal/gbsender can use it too.
func NALUnits(buf []byte) (nalus [][]byte, ok bool) {
	start := bytes.Index(buf, []byte{0, 0, 1})
	if start < 0 {
		return nil, false
	}
	buf = buf[start+3:]
	for len(buf) > 0 {
		end := bytes.Index(buf, []byte{0, 0, 1})
		next := len(buf)
		if end < 0 {
			end = len(buf)
		} else {
			next = end + 3
		}
		nalu := bytes.TrimRight(buf[:end], "\x00") // a 4-byte start code's leading zero
		if len(nalu) > 0 {
			nalus = append(nalus, nalu)
		}
		buf = buf[next:]
	}
	return nalus, true
}

// SplitAnnexB is NALUnits for a test, which fails when buf holds no start
// code.
func SplitAnnexB(t testing.TB, buf []byte) [][]byte {
	t.Helper()
	nalus, ok := NALUnits(buf)
	if !ok {
		t.Fatal("testutil: no Annex-B start code")
	}
	return nalus
}

// AccessUnits groups the NAL units of an H.264 or H.265 elementary stream
// into access units: a new one starts at a parameter set, AUD or SEI, or
// at the first slice of a picture, once the current one holds a picture.
func AccessUnits(nalus [][]byte, hevc bool) [][][]byte {
	var aus [][][]byte
	var cur [][]byte
	hasPicture := false
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		var vcl, firstSlice, prefix bool
		if hevc {
			typ := (n[0] >> 1) & 0x3f
			vcl = typ < 32
			firstSlice = vcl && len(n) > 2 && n[2]&0x80 != 0
			// VPS, SPS, PPS, AUD, prefix SEI, reserved 41-44 and 48-55
			prefix = (typ >= 32 && typ <= 35) || typ == 39 || (typ >= 41 && typ <= 44) || (typ >= 48 && typ <= 55)
		} else {
			typ := n[0] & 0x1f
			vcl = typ >= 1 && typ <= 5
			firstSlice = vcl && len(n) > 1 && n[1]&0x80 != 0
			// SEI, SPS, PPS, AUD, reserved 14-18
			prefix = (typ >= 6 && typ <= 9) || (typ >= 14 && typ <= 18)
		}
		if hasPicture && (prefix || firstSlice) {
			aus = append(aus, cur)
			cur, hasPicture = nil, false
		}
		cur = append(cur, n)
		hasPicture = hasPicture || vcl
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// ClipAccessUnits reads a raw H.264 or H.265 clip from testdata/clips and
// groups its NAL units into access units (AccessUnits).
func ClipAccessUnits(t testing.TB, name string, hevc bool) [][][]byte {
	t.Helper()
	raw, err := os.ReadFile(Clip(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return AccessUnits(SplitAnnexB(t, raw), hevc)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers, for capturing
// a server's log in a test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
