package flv

import (
	"bytes"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// AppendStart: header flags for the kinds present, metadata stamped 0,
// then video's sequence header before audio's, both stamped ts, whatever
// order the tracks come in.
func TestAppendStart(t *testing.T) {
	aac, err := media.NewAACTrack([]byte{0x12, 0x10})
	if err != nil {
		t.Fatal(err)
	}
	avc, err := media.NewH264Track([]byte{0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x58, 0xb9, 0x20}, []byte{0x68, 0xce, 0x3c, 0x80})
	if err != nil {
		t.Fatal(err)
	}
	const ts = 1500 * time.Millisecond
	for _, tc := range []struct {
		name       string
		tracks     []*media.Track
		wantTypes  []TagType
		audio, vid bool
	}{
		{"audio listed first", []*media.Track{aac, avc}, []TagType{TagScript, TagVideo, TagAudio}, true, true},
		{"audio only", []*media.Track{aac}, []TagType{TagScript, TagAudio}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, video, audio := AppendStart(nil, tc.tracks, nil, ts)
			if (video != nil) != tc.vid || (audio != nil) != tc.audio {
				t.Fatalf("returned video %v audio %v", video, audio)
			}
			r := NewReader(bytes.NewReader(b), 1<<20)
			if err := r.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			if r.HasAudio != tc.audio || r.HasVideo != tc.vid {
				t.Errorf("header audio=%v video=%v, want %v %v", r.HasAudio, r.HasVideo, tc.audio, tc.vid)
			}
			for i, want := range tc.wantTypes {
				tag, err := r.Next()
				if err != nil {
					t.Fatalf("tag %d: %v", i, err)
				}
				wantTS := ts
				if want == TagScript {
					wantTS = 0
				}
				if tag.Type != want || tag.Timestamp != wantTS {
					t.Errorf("tag %d: type %d at %v, want %d at %v", i, tag.Type, tag.Timestamp, want, wantTS)
				}
			}
			if _, err := r.Next(); err == nil {
				t.Error("more tags than the header, metadata and sequence headers")
			}
		})
	}
}
