package source

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// toCo64 rewrites the stco boxes of an MP4 whose moov follows its mdat
// as co64 boxes (so no chunk moves), as a recorder past 4 GiB writes
// them.
func toCo64(t *testing.T, b []byte) []byte {
	t.Helper()
	containers := map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "stbl": true}
	var rewrite func(b []byte) []byte
	rewrite = func(b []byte) []byte {
		var out []byte
		for len(b) >= 8 {
			size := int(binary.BigEndian.Uint32(b))
			if size < 8 || size > len(b) {
				t.Fatalf("box size %d", size)
			}
			typ, body := string(b[4:8]), b[8:size]
			switch {
			case containers[typ]:
				inner := rewrite(body)
				out = binary.BigEndian.AppendUint32(out, uint32(8+len(inner)))
				out = append(out, typ...)
				out = append(out, inner...)
			case typ == "stco":
				n := int(binary.BigEndian.Uint32(body[4:]))
				out = binary.BigEndian.AppendUint32(out, uint32(16+8*n))
				out = append(out, "co64"...)
				out = append(out, body[:8]...)
				for i := 0; i < n; i++ {
					out = binary.BigEndian.AppendUint64(out, uint64(binary.BigEndian.Uint32(body[8+4*i:])))
				}
			default:
				out = append(out, b[:size]...)
			}
			b = b[size:]
		}
		return out
	}
	out := rewrite(b)
	if bytes.Equal(out, b) || !bytes.Contains(out, []byte("co64")) {
		t.Fatal("no stco rewritten")
	}
	return out
}

func TestMP4Co64(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	dir := t.TempDir()
	path := remux(t, "h264_bframes_aac.flv", dir, "a.mp4")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Index(b, []byte("mdat")) > bytes.Index(b, []byte("moov")) {
		t.Fatal("ffmpeg wrote the moov first")
	}
	co64 := filepath.Join(dir, "co64.mp4")
	if err := os.WriteFile(co64, toCo64(t, b), 0o644); err != nil {
		t.Fatal(err)
	}
	want, got := &recSink{}, &recSink{}
	if err := mustOpen(t, path, Options{}).Run(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if err := mustOpen(t, co64, Options{}).Run(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	sameFrames(t, got, want)
	matchProbe(t, got, probe(t, co64), 1)
}

// TestMP4Start: Options.Start begins a file with sample tables at the
// video keyframe at or before it, every frame from there as in a full
// read, without reading the media before it.
func TestMP4Start(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	path := remux(t, "h264_aac.flv", t.TempDir(), "a.mp4")
	all := &recSink{}
	full := mustOpen(t, path, Options{})
	if err := full.Run(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	start := 2500 * time.Millisecond
	var key time.Duration
	for _, f := range all.frames {
		if f.Track.Kind() == media.KindVideo && f.Key && f.DTS <= start {
			key = f.DTS
		}
	}
	var want []*media.Frame
	for _, f := range all.frames {
		if f.DTS >= key {
			want = append(want, f)
		}
	}
	got := &recSink{}
	src := mustOpen(t, path, Options{Start: start})
	if err := src.Run(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if len(got.frames) != len(want) || got.frames[0].DTS != key {
		t.Fatalf("%d frames from %v, want %d from the keyframe at %v", len(got.frames), got.frames[0].DTS, len(want), key)
	}
	for i := range want {
		if got.frames[i].DTS != want[i].DTS || !bytes.Equal(got.frames[i].Payload, want[i].Payload) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if src.BytesRead() >= full.BytesRead()*3/4 {
		t.Errorf("read %d bytes of the file from 2.5 s of 6, %d for all of it", src.BytesRead(), full.BytesRead())
	}
}
