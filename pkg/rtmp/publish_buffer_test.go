package rtmp

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"
)

func TestPublishBufferOutgrown(t *testing.T) {
	const window = 100 * time.Millisecond // rtmp.mergeReadMS's default
	for _, tc := range []struct {
		name    string
		kbits   int // bitrate over the period
		elapsed time.Duration
		want    bool
	}{
		{"256 kbit/s camera", 256, 4 * time.Second, false},
		{"300 kbit/s", 300, 4 * time.Second, false},
		{"400 kbit/s", 400, 4 * time.Second, true},
		{"1 Mbit/s", 1000, 4 * time.Second, true},
		{"6 Mbit/s", 6000, 4 * time.Second, true},
		{"too early to tell", 6000, time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			b := &publishBuffer{window: window, since: now.Add(-tc.elapsed), bytes: 1000}
			read := 1000 + uint64(tc.kbits*1000/8)*uint64(tc.elapsed/time.Second)
			if got := b.outgrown(read, now); got != tc.want {
				t.Errorf("outgrown = %v, want %v", got, tc.want)
			}
			if tc.elapsed >= publishRateEvery && (b.bytes != read || !b.since.Equal(now)) {
				t.Errorf("a check did not restart the period: bytes %d, want %d", b.bytes, read)
			}
		})
	}
}

// TestRebufferKeepsReadAhead: a connection's buffer replaced twice, the
// second time before the first replacement's copy of read-ahead bytes
// was read, still yields the byte stream in order.
func TestRebufferKeepsReadAhead(t *testing.T) {
	stream := make([]byte, 100_000)
	for i := range stream {
		stream[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name          string
		first, second int // bytes read before each rebuffer
		sizes         [2]int
	}{
		{"grown after reading", 100, 5000, [2]int{4 << 10, 32 << 10}},
		{"twice at once", 100, 0, [2]int{4 << 10, 32 << 10}},
		{"smaller buffers than the read-ahead", 10, 1, [2]int{16, 32 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &conn{in: &countingReader{r: bytes.NewReader(stream)}}
			c.src = c.in
			c.cr = NewChunkReader(bufio.NewReaderSize(c.src, 2<<10), Limits{})
			var got []byte
			read := func(n int) {
				b := make([]byte, n)
				if _, err := io.ReadFull(c.cr.r, b); err != nil {
					t.Fatal(err)
				}
				got = append(got, b...)
			}
			read(tc.first)
			c.rebuffer(tc.sizes[0])
			read(tc.second)
			c.rebuffer(tc.sizes[1])
			rest, err := io.ReadAll(c.cr.r)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rest...)
			if !bytes.Equal(got, stream) {
				t.Fatalf("read %d bytes, not the stream of %d in order", len(got), len(stream))
			}
		})
	}
}
