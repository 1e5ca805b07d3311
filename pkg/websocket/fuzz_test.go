package websocket

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzFrameReader feeds arbitrary bytes to a FrameReader. Besides "no panic"
// it checks every frame that is accepted against the raw bytes it came from:
// the limits hold, and re-masking the payload with the key from the header
// gives back the bytes on the wire.
func FuzzFrameReader(f *testing.F) {
	const limit = 1024
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		fr := NewFrameReader(src, limit)
		for {
			if cap(fr.buf) > limit {
				t.Fatalf("buffer capacity %d exceeds limit %d", cap(fr.buf), limit)
			}
			f, err := fr.Next()
			if err != nil {
				if f.Payload != nil {
					t.Fatalf("payload returned with error %v", err)
				}
				if _, err2 := fr.Next(); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
				break
			}
			if len(f.Payload) > limit {
				t.Fatalf("payload of %d bytes exceeds limit %d", len(f.Payload), limit)
			}
			if !f.Op.known() {
				t.Fatalf("accepted %v", f.Op)
			}
			if f.Op.IsControl() && (!f.Fin || len(f.Payload) > MaxControlPayload) {
				t.Fatalf("accepted control frame fin=%v len=%d", f.Fin, len(f.Payload))
			}
			end := len(data) - src.Len()
			start := end - len(f.Payload)
			key := [4]byte(data[start-4 : start])
			masked := bytes.Clone(f.Payload)
			maskBytes(key, masked)
			if !bytes.Equal(masked, data[start:end]) {
				t.Fatalf("payload does not match the wire bytes")
			}
		}

		// Drain over the same bytes must end with an error too, and only hand
		// control-sized payloads to onPing.
		err := NewFrameReader(bytes.NewReader(data), limit).Drain(func(p []byte) error {
			if len(p) > MaxControlPayload {
				t.Fatalf("ping payload of %d bytes", len(p))
			}
			return nil
		})
		if err == nil {
			t.Fatal("Drain returned nil")
		}
		if errors.Is(err, ErrClosed) && err != ErrClosed {
			t.Fatalf("ErrClosed returned wrapped: %v", err)
		}
	})
}
