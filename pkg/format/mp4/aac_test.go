package mp4_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// aacConfigCases are AudioSpecificConfigs mediacommon does not write
// back as they are, and one it does.
var aacConfigCases = []struct {
	name, asc string
	channels  int
}{
	{"LC stereo", "1210", 2},
	// ffmpeg's native encoder for 6.1(back): a PCE (comment "Lavc") and
	// a sync extension without SBR.
	{"PCE 6.1", "118004c848002000c440044c6176635 6e500", 7},
	{"PCE 5.1 without comment byte", "118004c80500010880", 6},
	{"HE-AAC v1 implicit", "131056e598", 2},
	{"HE-AAC v2 implicit", "130856e59d4880", 2},
	{"HE-AAC v1 explicit", "2b118800", 2},
}

func aacCaseTrack(t testing.TB, asc string) *media.Track {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(asc, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := media.NewAACTrack(b)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// esdsConfig returns the DecoderSpecificInfo of the mp4a entry of moov's
// sound track, and the entry's channel count.
func esdsConfig(t testing.TB, moov *node) ([]byte, int) {
	t.Helper()
	typ, p := soundEntry(t, moov)
	if typ != "mp4a" {
		t.Fatalf("sample entry %q", typ)
	}
	channels := int(u16(p[16:]))
	entry, err := parseNode(append(binary.BigEndian.AppendUint32(nil, uint32(8+len(p))), append([]byte("mp4a"), p...)...))
	if err != nil {
		t.Fatal(err)
	}
	esds := entry.one(t, "esds")
	_, d := fullPayload(esds)
	// ES_Descriptor (tag 3), DecoderConfigDescriptor (4),
	// DecoderSpecificInfo (5); mediacommon and we write no optional
	// ES_Descriptor fields.
	for _, tag := range []byte{3, 4, 5} {
		if len(d) < 2 || d[0] != tag {
			t.Fatalf("esds: no descriptor %d in %x", tag, d)
		}
		n, i := 0, 1
		for ; i < len(d) && i < 5; i++ {
			n = n<<7 | int(d[i]&0x7f)
			if d[i]&0x80 == 0 {
				i++
				break
			}
		}
		if i+n > len(d) {
			t.Fatalf("esds: descriptor %d of %d bytes overruns", tag, n)
		}
		d = d[i : i+n]
		switch tag {
		case 3:
			d = d[3:] // ES_ID, flags
		case 4:
			d = d[13:] // objectTypeIndication to avgBitrate
		}
	}
	return d, channels
}

// initMoov returns the moov of an init segment.
func initMoov(t testing.TB, init []byte) *node {
	t.Helper()
	for len(init) >= 8 {
		n := int(binary.BigEndian.Uint32(init))
		if n < 8 || n > len(init) {
			t.Fatalf("bad top-level box size %d", n)
		}
		if string(init[4:8]) == "moov" {
			return parseTree(t, init[:n])
		}
		init = init[n:]
	}
	t.Fatal("no moov")
	return nil
}

// TestMarshalInitAACConfig: an fMP4 init segment (HTTP-fMP4, remux
// --format fmp4) carries each AAC track's AudioSpecificConfig byte for
// byte, after a video track too, and the mp4a entry the decoded channel
// count; plain configs keep mediacommon's bytes.
func TestMarshalInitAACConfig(t *testing.T) {
	video, _ := flvFrames(t, "h264_only.flv")
	for _, tc := range aacConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			audio := aacCaseTrack(t, tc.asc)
			c, err := mp4.SampleEntryCodec(audio)
			if err != nil {
				t.Fatal(err)
			}
			vc, err := mp4.SampleEntryCodec(video[0])
			if err != nil {
				t.Fatal(err)
			}
			init := &fmp4.Init{Tracks: []*fmp4.InitTrack{
				{ID: 1, TimeScale: 90000, Codec: vc},
				{ID: 2, TimeScale: mp4.Timescale(audio), Codec: c},
			}}
			b, err := mp4.MarshalInit(init, []*media.Track{video[0], audio})
			if err != nil {
				t.Fatal(err)
			}
			moov := initMoov(t, b)
			got, ch := esdsConfig(t, moov)
			if !bytes.Equal(got, audio.AACConfig) || ch != tc.channels {
				t.Errorf("esds config %x, %d channels; want %x, %d", got, ch, audio.AACConfig, tc.channels)
			}
			if n := len(moov.all("trak")); n != 2 {
				t.Errorf("%d traks", n)
			}
			// mediacommon reads the segment back (sizes add up).
			var back fmp4.Init
			if err := back.Unmarshal(bytes.NewReader(b)); err != nil || len(back.Tracks) != 2 || back.Tracks[1].ID != 2 {
				t.Errorf("mediacommon reads back %+v: %v", back.Tracks, err)
			}
		})
	}
}

// TestWithAACConfigsLeavesInput: the segment given is not written to.
func TestWithAACConfigsLeavesInput(t *testing.T) {
	audio := aacCaseTrack(t, aacConfigCases[1].asc)
	c, err := mp4.SampleEntryCodec(audio)
	if err != nil {
		t.Fatal(err)
	}
	init := &fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: mp4.Timescale(audio), Codec: c}}}
	plain, err := mp4.MarshalInit(init, nil)
	if err != nil {
		t.Fatal(err)
	}
	keep := bytes.Clone(plain)
	fixed, err := mp4.WithAACConfigs(plain, []*media.Track{audio})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, keep) || bytes.Equal(fixed, plain) {
		t.Error("WithAACConfigs changed its input, or left the config as mediacommon wrote it")
	}
	if _, err := mp4.WithAACConfigs([]byte("not an init segment"), []*media.Track{audio}); err == nil {
		t.Error("no error for a segment without moov")
	}
}

// TestRecordingAACConfig: MP4 recordings carry the config byte for byte.
func TestRecordingAACConfig(t *testing.T) {
	for _, tc := range aacConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			audio := aacCaseTrack(t, tc.asc)
			var frames []*media.Frame
			for i := range 10 {
				at := time.Duration(i) * 20 * time.Millisecond
				frames = append(frames, &media.Frame{Track: audio, DTS: at, PTS: at, Key: true, Payload: []byte{0x21, 0x10, 0x04, 0x60}})
			}
			path, _ := record(t, []*media.Track{audio}, frames, mp4.Options{}, true)
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, ch := esdsConfig(t, initMoov(t, file))
			if !bytes.Equal(got, audio.AACConfig) || ch != tc.channels {
				t.Errorf("esds config %x, %d channels; want %x, %d", got, ch, audio.AACConfig, tc.channels)
			}
		})
	}
}
