package hls

import (
	"reflect"
	"testing"
	"time"
)

// FuzzParsePlaylist checks that the parser never panics, and that what it
// accepts survives Marshal: the re-rendered playlist parses, equal except
// for durations rounded to milliseconds, and rendering is then stable.
func FuzzParsePlaylist(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzParsePlaylist.
	f.Add([]byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\nhls-0.ts\n"))
	f.Add(EndedPlaylist([]*Segment{seg(1, time.Second, true), seg(2, 1500*time.Millisecond, false)}, time.Second, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlaylist(data)
		if err != nil {
			return
		}
		out := p.Marshal()
		q, err := ParsePlaylist(out)
		if err != nil {
			t.Fatalf("re-rendered playlist rejected: %v\ninput:\n%q\nrendered:\n%q", err, data, out)
		}
		if len(q.Segments) != len(p.Segments) {
			t.Fatalf("%d segments became %d", len(p.Segments), len(q.Segments))
		}
		for i := range p.Segments {
			d := p.Segments[i].Duration - q.Segments[i].Duration
			if d < -time.Millisecond/2 || d > time.Millisecond/2 {
				t.Fatalf("segment %d: duration %v became %v", i, p.Segments[i].Duration, q.Segments[i].Duration)
			}
			p.Segments[i].Duration = q.Segments[i].Duration
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the playlist:\n%+v\n%+v", p, q)
		}
		if again := q.Marshal(); string(again) != string(out) {
			t.Fatalf("rendering is not stable:\n%q\n%q", out, again)
		}
	})
}
