package media

import "testing"

// TestCachedTagRoomNeedsNoBox: a frame's FLV tag built in its TagRoom is
// cached without an allocation (the cache points at the TagRoom field),
// while bytes of their own are still cached and returned.
func TestCachedTagRoomNeedsNoBox(t *testing.T) {
	frames := make([]Frame, 102)
	for i := range frames {
		frames[i].TagRoom = make([]byte, 32)
	}
	inRoom := func(f *Frame) []byte { return f.ClaimTagRoom() }
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		f := &frames[i]
		i++
		if b := f.Cached(EncodingFLV, inRoom); len(b) != 32 || &b[0] != &f.TagRoom[0] {
			t.Fatalf("frame %d: not its TagRoom", i)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame caching its TagRoom, want 0", allocs)
	}
	for i := range 3 {
		f := &frames[i]
		if b := f.Cached(EncodingFLV, func(*Frame) []byte { return []byte("other") }); &b[0] != &f.TagRoom[0] {
			t.Fatal("a cached tag was built again")
		}
	}
	// Bytes in the room but not all of it are cached as they are.
	part := &frames[len(frames)-1]
	if b := part.Cached(EncodingTS, func(f *Frame) []byte { return f.TagRoom[:7] }); len(b) != 7 {
		t.Fatalf("a prefix of the room: %d bytes", len(b))
	}
	if b := part.Cached(EncodingTS, func(*Frame) []byte { return nil }); len(b) != 7 || &b[0] != &part.TagRoom[0] {
		t.Fatalf("a prefix of the room, cached: %d bytes", len(b))
	}
	var f Frame
	own := f.Cached(EncodingRTMP, func(*Frame) []byte { return []byte("chunks") })
	if string(own) != "chunks" || string(f.Cached(EncodingRTMP, func(*Frame) []byte { return nil })) != "chunks" {
		t.Fatalf("bytes of their own: %q", own)
	}
}
