package media

import (
	"bytes"
	"testing"
	"unsafe"
)

// checkWithin fails the test unless every slice in groups lies inside buf
// (the parsers promise that their results alias the input).
func checkWithin(t testing.TB, buf []byte, groups ...[][]byte) {
	t.Helper()
	if len(buf) == 0 {
		for _, g := range groups {
			for _, s := range g {
				if len(s) != 0 {
					t.Fatalf("non-empty unit %x from an empty input", s)
				}
			}
		}
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	hi := lo + uintptr(len(buf))
	for _, g := range groups {
		for _, s := range g {
			if len(s) == 0 {
				continue
			}
			p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
			if p < lo || p+uintptr(len(s)) > hi {
				t.Fatalf("unit of %d bytes lies outside the %d byte input", len(s), len(buf))
			}
		}
	}
}

func FuzzParseAVCConfig(f *testing.F) {
	f.Add(avcRecord(3, [][]byte{{0x67, 0x42, 0xc0, 0x1e}}, [][]byte{{0x68, 0xce}}))
	f.Add(avcRecord(0, nil, nil))
	f.Fuzz(func(t *testing.T, buf []byte) {
		c, err := ParseAVCConfig(buf)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4 {
			t.Fatalf("LengthSize %d", c.LengthSize)
		}
		checkWithin(t, buf, c.SPS, c.PPS)
		for _, u := range append(append([][]byte(nil), c.SPS...), c.PPS...) {
			if len(u) == 0 {
				t.Fatal("empty parameter set")
			}
		}
		if len(c.SPS) == 0 || len(c.PPS) == 0 {
			return
		}
		// What we write from the first SPS and PPS reads back.
		rec := AppendAVCConfig(nil, c.SPS[0], c.PPS[0])
		c2, err := ParseAVCConfig(rec)
		if err != nil {
			t.Fatalf("re-encoded record: %v", err)
		}
		if len(c2.SPS) != 1 || len(c2.PPS) != 1 || !bytes.Equal(c2.SPS[0], c.SPS[0]) || !bytes.Equal(c2.PPS[0], c.PPS[0]) || c2.LengthSize != 4 {
			t.Fatalf("round trip changed the record: %+v -> %+v", c, c2)
		}
		_, _ = NewH264Track(c.SPS[0], c.PPS[0])
	})
}

func FuzzParseHEVCConfig(f *testing.F) {
	f.Add(hvcRecord(3,
		hvcArray{32, [][]byte{{0x40, 1, 0x0c}}},
		hvcArray{33, [][]byte{{0x42, 1, 1}}},
		hvcArray{34, [][]byte{{0x44, 1, 0xc1}}}))
	f.Add(hvcRecord(1))
	f.Fuzz(func(t *testing.T, buf []byte) {
		c, err := ParseHEVCConfig(buf)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4 {
			t.Fatalf("LengthSize %d", c.LengthSize)
		}
		checkWithin(t, buf, c.VPS, c.SPS, c.PPS)
		if len(c.VPS) == 0 || len(c.SPS) == 0 || len(c.PPS) == 0 {
			return
		}
		// AppendHEVCConfig must cope with any SPS, and what it writes
		// reads back.
		rec := AppendHEVCConfig(nil, c.VPS[0], c.SPS[0], c.PPS[0])
		c2, err := ParseHEVCConfig(rec)
		if err != nil {
			t.Fatalf("re-encoded record: %v", err)
		}
		if len(c2.VPS) != 1 || len(c2.SPS) != 1 || len(c2.PPS) != 1 || c2.LengthSize != 4 ||
			!bytes.Equal(c2.VPS[0], c.VPS[0]) || !bytes.Equal(c2.SPS[0], c.SPS[0]) || !bytes.Equal(c2.PPS[0], c.PPS[0]) {
			t.Fatalf("round trip changed the record: %+v -> %+v", c, c2)
		}
		_, _ = NewH265Track(c.VPS[0], c.SPS[0], c.PPS[0])
	})
}

func FuzzParseAACConfig(f *testing.F) {
	for _, s := range []string{"1210", "1230 56e5 00", "1180 04c8 0500 0108 80", ascPCE61, "2b11 8800", "eb09 8800", "1308 56e5 9d48 80"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, asc []byte) {
		c, err := ParseAACConfig(asc)
		if err != nil {
			return
		}
		// At most 15 CPEs in each of front, side and back, and 3 LFEs.
		if c.CoreRate <= 0 || c.SampleRate <= 0 || c.Channels <= 0 || c.Channels > 93 {
			t.Fatalf("%x: %+v", asc, c)
		}
		if c.PCE != nil && (c.ChannelConfig != 0 || c.PCE[0]>>5 != 5 || len(c.PCE) > len(asc)+2) {
			t.Fatalf("%x: PCE element %x", asc, c.PCE)
		}
		// A track takes what the parser reads, when mediacommon takes the config.
		if tr, err := NewAACTrack(asc); err == nil && (tr.SampleRate != c.SampleRate || tr.Channels != c.Channels) {
			t.Fatalf("%x: track %v, config %+v", asc, tr, c)
		}
	})
}
