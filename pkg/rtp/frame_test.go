package rtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	pionrtp "github.com/pion/rtp"
)

// rtpBytes is a marshalled RTP packet with a payload of n bytes.
func rtpBytes(t testing.TB, seq uint16, n int) []byte {
	t.Helper()
	p := pionrtp.Packet{
		Header:  pionrtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 1000, SSRC: 7},
		Payload: bytes.Repeat([]byte{byte(seq)}, n),
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// interleaved frames pkt as RTSP does: '$', channel, length.
func interleaved(ch byte, pkt []byte) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{'$', ch}, uint16(len(pkt))), pkt...)
}

func TestFrameReader(t *testing.T) {
	a, b := rtpBytes(t, 1, 100), rtpBytes(t, 2, 1)
	// An RFC 4571 frame whose length's high byte is '$' (0x2400 = 9216).
	dollar := rtpBytes(t, 3, 0x2400-12)
	big := rtpBytes(t, 4, MaxFrameSize-12)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	type want struct {
		pkt []byte
		ch  int
	}
	tests := []struct {
		name    string
		in      []byte
		want    []want
		wantErr error // after the packets; nil means io.EOF itself
	}{
		{"empty stream", nil, nil, nil},
		{"one frame", AppendFrame(nil, a), []want{{a, -1}}, nil},
		{"two frames", AppendFrame(AppendFrame(nil, a), b), []want{{a, -1}, {b, -1}}, nil},
		{"zero-length frames skipped", cat([]byte{0, 0}, AppendFrame(nil, a), []byte{0, 0, 0, 0}, AppendFrame(nil, b)), []want{{a, -1}, {b, -1}}, nil},
		{"largest frame", AppendFrame(nil, big), []want{{big, -1}}, nil},
		{"interleaved", cat(interleaved(0, a), interleaved(1, b)), []want{{a, 0}, {b, 1}}, nil},
		{"mixed framings", cat(interleaved(2, a), AppendFrame(nil, b), interleaved(0, b)), []want{{a, 2}, {b, -1}, {b, 0}}, nil},
		{"RFC 4571 length starting with '$'", cat(AppendFrame(nil, dollar), AppendFrame(nil, a)), []want{{dollar, -1}, {a, -1}}, nil},
		{"EOF inside a length", cat(AppendFrame(nil, a), []byte{0}), []want{{a, -1}}, io.ErrUnexpectedEOF},
		{"EOF inside a packet", AppendFrame(nil, a)[:50], nil, io.ErrUnexpectedEOF},
		{"EOF inside an interleaved header", cat(AppendFrame(nil, a), []byte{'$', 0, 0}), []want{{a, -1}}, io.ErrUnexpectedEOF},
		{"EOF inside an interleaved packet", interleaved(0, a)[:20], nil, io.ErrUnexpectedEOF},
	}
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"data+EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for _, tc := range tests {
		for rname, mk := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				fr := NewFrameReader(mk(tc.in))
				for i, w := range tc.want {
					got, err := fr.ReadPacket()
					if err != nil {
						t.Fatalf("packet %d: %v", i, err)
					}
					if !bytes.Equal(got, w.pkt) || fr.Channel() != w.ch {
						t.Fatalf("packet %d: %d bytes on channel %d, want %d bytes on %d", i, len(got), fr.Channel(), len(w.pkt), w.ch)
					}
				}
				_, err := fr.ReadPacket()
				switch {
				case tc.wantErr == nil && err != io.EOF:
					t.Fatalf("end: %v, want io.EOF itself", err)
				case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
					t.Fatalf("end: %v, want %v", err, tc.wantErr)
				}
				if _, again := fr.ReadPacket(); !errors.Is(again, io.EOF) && !errors.Is(again, io.ErrUnexpectedEOF) {
					t.Fatalf("second read at the end: %v", again)
				}
			})
		}
	}
}

func TestFrameReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	a := rtpBytes(t, 1, 10)
	fr := NewFrameReader(io.MultiReader(bytes.NewReader(AppendFrame(nil, a)), iotest.ErrReader(boom)))
	if _, err := fr.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	_, err := fr.ReadPacket()
	if !errors.Is(err, boom) || err.Error() != "rtp: read frame: boom" {
		t.Fatalf("got %v, want the reader's error wrapped", err)
	}

	fr = NewFrameReader(zeroReader{})
	if _, err := fr.ReadPacket(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("reader that never returns data: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// repeatReader yields data over and over, for allocation counts and
// benchmarks.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func TestFrameReaderAllocs(t *testing.T) {
	var stream []byte
	for i := range 7 {
		stream = AppendFrame(stream, rtpBytes(t, uint16(i), 200+i*97))
	}
	fr := NewFrameReader(&repeatReader{data: stream})
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := fr.ReadPacket(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 1400, MaxFrameSize} {
		pkt := bytes.Repeat([]byte{0xab}, n)
		got := AppendFrame([]byte{9}, pkt)
		if len(got) != 3+n || got[0] != 9 || int(binary.BigEndian.Uint16(got[1:])) != n || !bytes.Equal(got[3:], pkt) {
			t.Fatalf("%d bytes: framed as %x...", n, got[:min(len(got), 8)])
		}
	}
	dst := []byte{1, 2}
	if got := AppendFrame(dst, make([]byte, MaxFrameSize+1)); !bytes.Equal(got, dst) {
		t.Fatalf("oversized packet appended %d bytes", len(got)-len(dst))
	}
}

func TestIsRTCP(t *testing.T) {
	for _, tc := range []struct {
		pkt  []byte
		want bool
	}{
		{[]byte{0x80, 200, 0, 6}, true},   // sender report
		{[]byte{0x81, 201, 0, 7}, true},   // receiver report
		{[]byte{0x80, 96, 0, 1}, false},   // RTP, PT 96
		{[]byte{0x80, 0xe0, 0, 1}, false}, // RTP, marker and PT 96
		{[]byte{0x00, 200}, false},        // version 0
		{[]byte{0x80}, false},
	} {
		if got := IsRTCP(tc.pkt); got != tc.want {
			t.Errorf("IsRTCP(%x) = %v", tc.pkt, got)
		}
	}
}
