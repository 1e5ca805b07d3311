package webrtc

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const chromeOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102 103 104 106\r\nc=IN IP4 0.0.0.0\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n" +
	"a=rtpmap:103 H264/90000\r\na=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n" +
	"a=rtpmap:104 H264/90000\r\na=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:106 h264/90000\r\na=fmtp:106 packetization-mode=1;profile-level-id=640C1F\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"

func TestParseOffer(t *testing.T) {
	got, err := parseOffer(chromeOffer)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"42001f", "42e01f", "640c1f"}; !slices.Equal(got.h264, want) {
		t.Errorf("offered %v, want %v (mode 1 only, lower case)", got.h264, want)
	}
	if !got.names["VP8"] || got.names["VP9"] || len(got.h265) != 0 {
		t.Errorf("names %v, H.265 %v: want VP8 and no H.265", got.names, got.h265)
	}
	if _, err := parseOffer("not sdp"); err == nil {
		t.Error("no error for a non-SDP offer")
	}
}

func TestPickProfile(t *testing.T) {
	offered := []string{"42001f", "42e01f", "640c1f"}
	for _, tc := range []struct {
		sps  []byte
		want string
	}{
		{[]byte{0x67, 0x42, 0xe0, 0x1e}, "42e01e"}, // offered profile and constraints: the stream's own
		{[]byte{0x67, 0x64, 0x00, 0x28}, "640c1f"}, // high, other constraints: the offered high
		{[]byte{0x67, 0x4d, 0x40, 0x1f}, "42001f"}, // main, not offered: the first offered
		{nil, "42001f"},
	} {
		if got := pickProfile(tc.sps, offered); got != tc.want {
			t.Errorf("SPS % x: %s, want %s", tc.sps, got, tc.want)
		}
	}
	if got := pickProfile([]byte{0x67, 0x64, 0, 0x28}, nil); got != "42e01f" {
		t.Errorf("nothing offered: %s", got)
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		d     time.Duration
		clock int64
		want  uint32
	}{
		{time.Second, 90000, 90000},
		{time.Second / 60 * 1001 / 1000, 90000, 1501}, // 59.94 fps: 1501.5 ticks, not 1440
		{125 * time.Microsecond, 8000, 1},             // one G.711 sample
		{100 * 24 * time.Hour, 90000, uint32(uint64(100*24*3600*90000) % (1 << 32))},
	} {
		if got := ticks(tc.d, tc.clock); got != tc.want {
			t.Errorf("ticks(%v, %d) = %d, want %d", tc.d, tc.clock, got, tc.want)
		}
	}
}

// FuzzParseOffer: any offer gives codecs or an error, never a panic; every
// H.264 profile listed is six characters and every H.265 one a profile
// and a tier.
func FuzzParseOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add("v=0\r\nm=video 9 RTP 1\r\na=rtpmap:1 H264/90000\r\na=fmtp:1 packetization-mode=1;profile-level-id=zz\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		oc, err := parseOffer(offer)
		if err != nil {
			return
		}
		for _, p := range oc.h265 {
			if !strings.Contains(p, "/") {
				t.Fatalf("H.265 %q", p)
			}
		}
		_ = oc.pickH265([]byte{0x42, 1, 2, 3})
		list := oc.h264
		for _, p := range list {
			if len(p) != 6 {
				t.Fatalf("profile %q", p)
			}
			_ = pickProfile([]byte{0x67, 1, 2, 3}, list)
		}
	})
}
