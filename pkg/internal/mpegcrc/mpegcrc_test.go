package mpegcrc

import "testing"

func TestChecksum(t *testing.T) {
	if got := Checksum([]byte("123456789")); got != 0x0376E6E7 { // the catalogue's check value
		t.Fatalf("Checksum = %#x, want 0x0376E6E7", got)
	}
	b := Append([]byte("123456789"), []byte("123456789"))
	if Checksum(b) != 0 {
		t.Fatalf("data followed by its CRC sums to %#x, want 0", Checksum(b))
	}
}
