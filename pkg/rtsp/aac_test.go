package rtsp

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	psdp "github.com/pion/sdp/v3"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestFormatForTrackAACConfig: the SDP of an AAC track carries its
// AudioSpecificConfig byte for byte (config=), a program config element
// and HE-AAC's sync extension too, and declares the core rate, which
// the packets are stamped in, with the decoded channels; gortsplib reads
// it back as AAC at that clock.
func TestFormatForTrackAACConfig(t *testing.T) {
	for _, tc := range []struct {
		name, asc string
		rtpmap    string
	}{
		{"LC stereo", "1210", "mpeg4-generic/44100/2"},
		{"PCE 6.1 (ffmpeg)", "118004c848002000c440044c61766356e500", "mpeg4-generic/48000/7"},
		{"HE-AAC v1 implicit", "131056e598", "mpeg4-generic/24000/2"},
		{"HE-AAC v2 explicit", "eb098800", "mpeg4-generic/24000/2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asc, _ := hex.DecodeString(tc.asc)
			tr, err := media.NewAACTrack(asc)
			if err != nil {
				t.Fatal(err)
			}
			desc, medias, _, err := describeTracks([]*media.Track{tr})
			if err != nil {
				t.Fatal(err)
			}
			sdp, err := desc.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"a=rtpmap:97 " + tc.rtpmap, "config=" + tc.asc + ";", "mode=AAC-hbr", "sizelength=13"} {
				if !strings.Contains(string(sdp)+";", want) {
					t.Errorf("SDP lacks %q:\n%s", want, sdp)
				}
			}
			var raw psdp.SessionDescription
			var back description.Session
			if err := raw.Unmarshal(sdp); err != nil {
				t.Fatal(err)
			}
			if err := back.Unmarshal2(&raw); err != nil {
				t.Fatalf("SDP does not parse back: %v\n%s", err, sdp)
			}
			f, ok := back.Medias[0].Formats[0].(*format.MPEG4Audio)
			if !ok || f.ClockRate() != medias[0].clock {
				t.Errorf("read back as %#v, clock %d; want MPEG4Audio at %d", back.Medias[0].Formats[0], back.Medias[0].Formats[0].ClockRate(), medias[0].clock)
			}
		})
	}
}
