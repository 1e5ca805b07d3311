package media

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ffmpeg 5.1's native encoder with -fflags +bitexact, for a 6.1(back)
// layout (no channel configuration has it): a PCE with the comment
// "Lavc", then a sync extension without SBR.
const ascPCE61 = "1180 04c8 4800 2000 c440 044c 6176 6356 e500"

// TestParseAACConfig: rates, channels and SBR/PS of AudioSpecificConfigs
// as decoders read them, HE-AAC signalled in all three ways.
func TestParseAACConfig(t *testing.T) {
	for _, tc := range []struct {
		name, asc       string
		core, rate, ch  int
		sbr, ps, hasPCE bool
	}{
		{"LC 44.1k stereo", "1210", 44100, 44100, 2, false, false, false},
		{"LC 5.1 by channel configuration, sync extension without SBR", "1230 56e5 00", 44100, 44100, 6, false, false, false},
		{"PCE 5.1 without its comment byte", "1180 04c8 0500 0108 80", 48000, 48000, 6, false, false, true},
		{"PCE 6.1 with comment and sync extension (ffmpeg)", ascPCE61, 48000, 48000, 7, false, false, true},
		{"PCE cut short: 2 channels", "1180 04", 48000, 48000, 2, false, false, false},
		{"HE-AAC v1 explicit (object type 5)", "2b11 8800", 24000, 48000, 2, true, false, false},
		{"HE-AAC v2 explicit (object type 29)", "eb09 8800", 24000, 48000, 2, true, true, false},
		{"HE-AAC v1 implicit (sync extension 0x2b7)", "1310 56e5 98", 24000, 48000, 2, true, false, false},
		{"HE-AAC v2 implicit (0x2b7, then 0x548)", "1308 56e5 9d48 80", 24000, 48000, 2, true, true, false},
		{"sync extension with an explicit rate", "1310 56e5 f805 dc00", 24000, 48000, 2, true, false, false},
		{"sync extension cut short: the core", "1310 56e5", 24000, 24000, 2, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asc := unhex(t, tc.asc)
			c, err := ParseAACConfig(asc)
			if err != nil {
				t.Fatal(err)
			}
			if c.CoreRate != tc.core || c.SampleRate != tc.rate || c.Channels != tc.ch || c.SBR != tc.sbr || c.PS != tc.ps ||
				(c.PCE != nil) != tc.hasPCE {
				t.Errorf("%+v, want core %d Hz, %d Hz, %d channels, SBR %v, PS %v, PCE %v", c, tc.core, tc.rate, tc.ch, tc.sbr, tc.ps, tc.hasPCE)
			}
			tr, err := NewAACTrack(asc)
			if err != nil {
				t.Fatal(err)
			}
			if tr.SampleRate != tc.rate || tr.Channels != tc.ch || !bytes.Equal(tr.AACConfig, asc) {
				t.Errorf("track %v config %x, want %d Hz %d channels, config %x", tr, tr.AACConfig, tc.rate, tc.ch, asc)
			}
		})
	}
}

// TestParseAACConfigErrors: configs a decoder cannot start from.
func TestParseAACConfigErrors(t *testing.T) {
	for _, asc := range []string{"", "12", "1f90", "17f0", "12 f0", "e0"} {
		if c, err := ParseAACConfig(unhex(t, asc)); err == nil {
			t.Errorf("%s: %+v, want an error", asc, c)
		}
	}
}

// TestAACConfigPCEElement: the PCE rewritten for a raw_data_block is
// what ffmpeg's ADTS muxer puts at the start of the first frame of the
// same stream (`ffmpeg -i 61.mp4 -c copy -f adts`: the bytes after the
// 7-byte header), its alignment counted from the block's start.
func TestAACConfigPCEElement(t *testing.T) {
	c, err := ParseAACConfig(unhex(t, ascPCE61))
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "a099 0900 0400 1888 044c 6176 63"); !bytes.Equal(c.PCE, want) {
		t.Errorf("PCE element %x, want %x", c.PCE, want)
	}
}
