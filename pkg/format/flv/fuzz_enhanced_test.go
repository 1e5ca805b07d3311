package flv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// enhancedVideoSeeds are pairs of video bodies (a configuration, then a
// frame) for FuzzEnhancedVideo; the same pairs are in
// testdata/fuzz/FuzzEnhancedVideo.
func enhancedVideoSeeds() [][2][]byte {
	av1C := appendAV1Config(nil, av1SeqHdr)
	tu := append(append([]byte{0x12, 0x00}, av1SeqHdr...), 0x32, 2, 0x10, 0x00)
	vpcC := appendVP9Config(nil, media.VP9Params{BitDepth: 8, ChromaSubsampling: 1})
	ex := func(frameType, packetType byte, fourCC string, body []byte) []byte {
		return append(append([]byte{0x80 | frameType<<4 | packetType}, fourCC...), body...)
	}
	return [][2][]byte{
		{ex(1, exVideoSequenceStart, "av01", av1C), ex(1, exVideoCodedFramesX, "av01", tu)},
		{ex(1, exVideoSequenceStart, "vp09", vpcC), ex(1, exVideoCodedFrames, "vp09", []byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6})},
		{multitrackVideo(multitrackManyTracksManyCodecs, exVideoSequenceStart, 1, mtTrack{"av01", 0, av1C}, mtTrack{"vp09", 1, vpcC}),
			multitrackVideo(multitrackManyTracksManyCodecs, exVideoCodedFramesX, 1, mtTrack{"vp09", 1, []byte{1}}, mtTrack{"av01", 0, tu})},
		{multitrackVideo(multitrackOneTrack, exVideoSequenceStart, 1, mtTrack{"av01", 0, av1C}),
			multitrackVideo(multitrackManyTracks, exVideoCodedFramesX, 1, mtTrack{"av01", 0, tu}, mtTrack{"av01", 2, tu})},
		{[]byte{0x80 | 1<<4 | exVideoModEx, 2, 0, 0, 1, exVideoSequenceStart, 'a', 'v', '0', '1'}, ex(1, exVideoCodedFrames, "av01", tu)},
	}
}

// enhancedAudioSeeds are pairs of audio bodies for FuzzEnhancedAudio.
func enhancedAudioSeeds() [][2][]byte {
	head := appendOpusHead(nil, &media.Track{Channels: 2})
	ex := func(packetType byte, fourCC string, body []byte) []byte {
		return append(append([]byte{soundExHeader<<4 | packetType}, fourCC...), body...)
	}
	mp3 := append([]byte{0xff, 0xfb, 0x90, 0x64}, make([]byte, 16)...)
	return [][2][]byte{
		{ex(exAudioSequenceStart, "Opus", head), ex(exAudioCodedFrames, "Opus", []byte{0xfc, 0xff, 0xfe})},
		{ex(exAudioSequenceStart, ".mp3", nil), ex(exAudioCodedFrames, ".mp3", mp3)},
		{append([]byte{0x2f}, mp3...), append([]byte{0x2e}, mp3...)},
		{multitrackAudio(multitrackManyTracksManyCodecs, exAudioSequenceStart, mtTrack{"Opus", 0, head}, mtTrack{"mp4a", 1, []byte{0x12, 0x10}}),
			multitrackAudio(multitrackManyTracks, exAudioCodedFrames, mtTrack{"Opus", 1, []byte{0xfc}}, mtTrack{"Opus", 0, []byte{0x78, 1}})},
		{[]byte{soundExHeader<<4 | exAudioModEx, 0, 0, exAudioMultitrack, multitrackOneTrack<<4 | exAudioSequenceStart, 'O', 'p', 'u', 's', 0}, ex(exAudioMultichannelConfig, "Opus", []byte{1, 2})},
	}
}

// FuzzEnhancedVideo feeds a configuration body and a frame body (Enhanced
// RTMP v2: FourCC codecs, ModEx, multitrack) to the parser and an Ingest:
// no panic, packet data inside the body, and what the ingest declares and
// writes keeps the sink's contract and reads back from its own FLV tags.
func FuzzEnhancedVideo(f *testing.F) {
	for _, s := range enhancedVideoSeeds() {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, config, frame []byte) {
		for _, body := range [][]byte{config, frame} {
			_ = EachVideoPacket(body, func(p VideoPacket) error {
				if !within(body, p.Data) {
					t.Fatal("Data outside the body")
				}
				if p.Unsupported != "" && p.Codec != media.CodecUnknown {
					t.Fatalf("unsupported %q with codec %v", p.Unsupported, p.Codec)
				}
				return nil
			})
		}
		sink := &checkSink{}
		in := NewIngest(sink)
		_ = in.Video(0, config)
		_ = in.Video(40*time.Millisecond, frame)
		if err := in.Flush(); err != nil {
			t.Fatal(err)
		}
		if sink.err != nil {
			t.Fatal(sink.err)
		}
		for _, tr := range in.Tracks() {
			if body := VideoSequenceHeaderBody(tr); body != nil {
				p, err := ParseVideo(body)
				if err != nil || p.Type != VideoSequenceHeader || p.Codec != tr.Codec {
					t.Fatalf("our sequence header of %v reads back as %+v, %v", tr, p, err)
				}
			}
		}
	})
}

// FuzzEnhancedAudio is FuzzEnhancedVideo for audio bodies (Opus, MP3,
// AAC, multitrack, ModEx).
func FuzzEnhancedAudio(f *testing.F) {
	for _, s := range enhancedAudioSeeds() {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, config, frame []byte) {
		for _, body := range [][]byte{config, frame} {
			_ = EachAudioPacket(body, func(p AudioPacket) error {
				if !within(body, p.Data) {
					t.Fatal("Data outside the body")
				}
				return nil
			})
		}
		sink := &checkSink{}
		in := NewIngest(sink)
		_ = in.Audio(0, config)
		_ = in.Audio(20*time.Millisecond, frame)
		if err := in.Flush(); err != nil {
			t.Fatal(err)
		}
		if sink.err != nil {
			t.Fatal(sink.err)
		}
		for _, tr := range in.Tracks() {
			if body := AudioSequenceHeaderBody(tr); body != nil {
				p, err := ParseAudio(body)
				if err != nil || !p.SequenceHeader || p.Codec != tr.Codec {
					t.Fatalf("our sequence header of %v reads back as %+v, %v", tr, p, err)
				}
			}
		}
	})
}

// TestEnhancedSeedFiles writes the seed corpus files when
// MEDIAKIT_WRITE_SEEDS is set; otherwise it checks they are there.
func TestEnhancedSeedFiles(t *testing.T) {
	for name, seeds := range map[string][][2][]byte{"FuzzEnhancedVideo": enhancedVideoSeeds(), "FuzzEnhancedAudio": enhancedAudioSeeds()} {
		for i, s := range seeds {
			writeOrCheckSeed(t, name, i, s[0], s[1])
		}
	}
}

func writeOrCheckSeed(t *testing.T, target string, i int, args ...[]byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		fmt.Fprintf(&b, "[]byte(%q)\n", a)
	}
	path := filepath.Join("testdata", "fuzz", target, fmt.Sprintf("seed%d", i))
	if os.Getenv("MEDIAKIT_WRITE_SEEDS") != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != b.String() {
		t.Errorf("%s is missing or stale: run with MEDIAKIT_WRITE_SEEDS=1 (%v)", path, err)
	}
}
