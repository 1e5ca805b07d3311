package webrtc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestH265BothWays: a WHIP peer publishing H.265 (RFC 7798, as pion and
// Safari send it) is ingested, and a WHEP viewer that offers H.265 (pion's
// default codecs; Chrome and Safari with a hardware decoder) is sent it,
// starting at a keyframe that carries VPS, SPS and PPS in band. A viewer
// that offers only H.264 is refused: nothing it can play.
func TestH265BothWays(t *testing.T) {
	e := engine.New(engine.DefaultConfig(), nil)
	defer e.Close()
	srv, err := Listen(e, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	key := engine.NewKey("", "live", "hevc")
	pub, _, stop := whipPeerOf(t, srv, key, testutil.ClipAccessUnits(t, "h265.hevc", true),
		pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH265, ClockRate: 90000})
	defer pub.Close()
	defer stop()
	waitLive(t, e, key)
	info, _, err := e.Stream(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Tracks) != 1 || info.Tracks[0].Codec != media.CodecH265 {
		t.Fatalf("ingested tracks %v, want one H.265", info.Tracks)
	}

	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		mime  string
		first []byte // NAL unit types of the first access unit
		aus   int
		err   error
	}
	got := make(chan result, 1)
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		d := &rtph265.Decoder{}
		if err := d.Init(); err != nil {
			got <- result{err: err}
			return
		}
		r := result{mime: tr.Codec().MimeType}
		for r.aus < 25 {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				r.err = err
				break
			}
			au, err := d.Decode(pkt)
			if err != nil {
				continue // a fragment, or packets before the first complete one
			}
			if r.aus == 0 {
				for _, n := range au {
					r.first = append(r.first, (n[0]>>1)&0x3f)
				}
			}
			r.aus++
		}
		got <- r
	})
	playOn(t, srv, key, pc)
	var r result
	select {
	case r = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no H.265 access units reached the viewer in 20 s")
	}
	if r.err != nil {
		t.Fatalf("after %d access units: %v", r.aus, r.err)
	}
	if r.mime != pwebrtc.MimeTypeH265 {
		t.Errorf("viewer track %s, want H.265", r.mime)
	}
	has := func(typ byte) bool { return strings.ContainsRune(string(r.first), rune(typ)) }
	if !has(32) || !has(33) || !has(34) || !(has(19) || has(20) || has(21)) {
		t.Errorf("first access unit has NAL types %v, want VPS, SPS, PPS and an IRAP picture", r.first)
	}

	// A viewer that offers only H.264 gets nothing to play.
	me := &pwebrtc.MediaEngine{}
	if err := me.RegisterCodec(pwebrtc.RTPCodecParameters{RTPCodecCapability: h264Capability("42e01f"), PayloadType: 102}, pwebrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	h264Only, err := pwebrtc.NewAPI(pwebrtc.WithMediaEngine(me)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer h264Only.Close()
	if _, err := h264Only.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, _ := h264Only.CreateOffer(nil)
	if _, _, err := srv.Play(context.Background(), key, engine.SessionInfo{ID: "v2", Protocol: "webrtc"}, offer.SDP); !errors.Is(err, ErrNoTrack) {
		t.Errorf("H.264-only viewer of an H.265 stream: %v, want ErrNoTrack", err)
	}
}

func TestPickH265(t *testing.T) {
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	var sps []byte
	for _, n := range aus[0] {
		if (n[0]>>1)&0x3f == 33 {
			sps = n
		}
	}
	if h265ProfileTier(sps) != "1/0" {
		t.Fatalf("clip SPS reads as %q, want Main, main tier", h265ProfileTier(sps))
	}
	for _, tc := range []struct {
		offer string
		want  string
	}{
		{"a=rtpmap:116 H265/90000\r\n", "1/0"}, // no fmtp: Main
		{"a=rtpmap:49 H265/90000\r\na=fmtp:49 level-id=180;profile-id=1;tier-flag=0;tx-mode=SRST\r\n", "1/0"},
		{"a=rtpmap:49 H265/90000\r\na=fmtp:49 level-id=180;profile-id=2;tier-flag=0;tx-mode=SRST\r\n", "2/0"}, // Main 10 decodes Main
		{"a=rtpmap:49 H265/90000\r\na=fmtp:49 profile-id=1;tx-mode=MRST\r\n", ""},
		{"a=rtpmap:49 h265/90000\r\na=fmtp:49 profile-id=1;tier-flag=1\r\n", ""},
		{"a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n", ""},
	} {
		offer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 49 102 116\r\nc=IN IP4 0.0.0.0\r\n" + tc.offer
		oc, err := parseOffer(offer)
		if err != nil {
			t.Fatal(err)
		}
		if got := oc.pickH265(sps); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.offer, got, tc.want)
		}
		if got := oc.accepts(&media.Track{Codec: media.CodecH265, SPS: sps}); got != (tc.want != "") {
			t.Errorf("%q: accepts %v", tc.offer, got)
		}
	}
}
