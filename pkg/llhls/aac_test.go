package llhls

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestAACConfigKept: the audio init file of fMP4 HLS carries the
// publisher's AudioSpecificConfig byte for byte where mediacommon (behind
// gohlslib) would write another: a program config element (6.1, as
// ffmpeg's encoder writes it) and implicit HE-AAC (the sync extension),
// with the core rate as timescale.
func TestAACConfigKept(t *testing.T) {
	for _, tc := range []struct {
		name, asc string
		core      int
	}{
		{"PCE 6.1", "118004c848002000c440044c61766356e500", 48000},
		{"HE-AAC implicit", "131056e598", 24000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asc, err := hex.DecodeString(tc.asc)
			if err != nil {
				t.Fatal(err)
			}
			aac, err := media.NewAACTrack(asc)
			if err != nil {
				t.Fatal(err)
			}
			tracks, video := clip(t, "h264_only.flv")
			frame := time.Second * 1024 / time.Duration(tc.core)
			var frames []*media.Frame
			at := time.Duration(0)
			for _, v := range video {
				for ; at <= v.DTS; at += frame {
					frames = append(frames, &media.Frame{Track: aac, DTS: at, PTS: at, Key: true, Payload: []byte{0x21, 0x10, 0x04, 0x60}})
				}
				frames = append(frames, v)
			}
			h := newHarness(t, testSettings(), 5*time.Second)
			publishClip(t, h.e, engine.NewKey("", "live", "aac"), append(tracks, aac), frames, 4)
			code, _, body := h.get(t, "/live/aac/hls.fmp4.m3u8")
			if code != http.StatusOK {
				t.Fatalf("multivariant: %d %s", code, body)
			}
			_, uris := multivariant(t, body)
			if len(uris) != 2 {
				t.Fatalf("multivariant without an audio rendition:\n%s", body)
			}
			_, _, body = h.get(t, "/live/aac/"+uris[1])
			apl := mediaPlaylist(t, body)
			code, hdr, init := h.get(t, "/live/aac/"+Dir+"/"+apl.Map.URI)
			if code != http.StatusOK || hdr.Get("Content-Type") != "audio/mp4" {
				t.Fatalf("audio init: %d %q", code, hdr.Get("Content-Type"))
			}
			// The DecoderSpecificInfo descriptor (tag 5, 4-byte length),
			// then the SLConfigDescriptor (tag 6).
			dsi := append([]byte{5, 0x80, 0x80, 0x80, byte(len(asc))}, asc...)
			if !bytes.Contains(init, append(dsi, 6)) {
				t.Errorf("audio init lacks the config %x:\n%x", asc, init)
			}
			if _, ts := initCodec(t, init); ts != uint32(tc.core) {
				t.Errorf("audio timescale %d, want %d", ts, tc.core)
			}
		})
	}
}
