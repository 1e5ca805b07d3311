package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/config"
	mmedia "github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// opusSilence is one 20 ms Opus frame of silence (CELT, fullband).
var opusSilence = []byte{0xf8, 0xff, 0xfe}

// whipPublisher is a browser-like WHIP peer (pion) sending the test
// clip's H.264 access units at 25 fps and Opus silence at 50 packets a
// second, until ctx ends.
func whipPublisher(t *testing.T, ctx context.Context) (pc *pwebrtc.PeerConnection, offer string, start func()) {
	t.Helper()
	pc = newTestPeer(t)
	video, err := pwebrtc.NewTrackLocalStaticSample(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "whip")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := pwebrtc.NewTrackLocalStaticSample(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "whip")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []pwebrtc.TrackLocal{video, audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer = offerOf(t, pc)
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	start = func() {
		go func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				_ = audio.WriteSample(media.Sample{Data: opusSilence, Duration: 20 * time.Millisecond})
				if i%2 == 0 {
					var au []byte
					for _, nalu := range aus[(i/2)%len(aus)] {
						au = append(au, 0, 0, 0, 1)
						au = append(au, nalu...)
					}
					_ = video.WriteSample(media.Sample{Data: au, Duration: 40 * time.Millisecond})
				}
			}
		}()
	}
	return pc, offer, start
}

// TestWHIPPublish: a WHIP peer publishes H.264 and Opus at
// /APP/STREAM/whip; the stream is live with both tracks and plays over
// RTSP (ffprobe judges); a second publisher of the stream is refused
// with 409; DELETE ends the publish.
func TestWHIPPublish(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.WebRTC.Addr = "127.0.0.1:0" })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pc, offer, start := whipPublisher(t, ctx)
	resp, err := http.Post(ts.httpURL+"/live/whip/whip", "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(location, "/webrtc/session/") {
		t.Fatalf("WHIP POST: %d %q\n%s", resp.StatusCode, location, answer)
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}
	start()
	waitFor(t, 20*time.Second, "the WHIP stream with video and audio", func() bool {
		info, ok := streamInfo(t, ts, "live", "whip")
		if !ok || !info.Ready || len(info.Tracks) != 2 {
			return false
		}
		return info.Tracks[0].Codec == mmedia.CodecH264 && info.Tracks[1].Codec == mmedia.CodecOpus
	})
	info, _ := streamInfo(t, ts, "live", "whip")
	if info.Publisher == nil || info.Publisher.Protocol != "webrtc" {
		t.Errorf("publisher %+v, want protocol webrtc", info.Publisher)
	}

	// A second publisher of the same stream.
	_, offer2, _ := whipPublisher(t, ctx)
	if resp, err := http.Post(ts.httpURL+"/live/whip/whip", "application/sdp", strings.NewReader(offer2)); err != nil || resp.StatusCode != http.StatusConflict {
		t.Errorf("second WHIP publisher: %v %v, want 409", resp, err)
	}

	probeCtx, probeCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer probeCancel()
	packets, err := testutil.FramePackets(probeCtx, t, ts.rtspURL("live/whip"), "-rtsp_transport", "tcp", "-read_intervals", "%+2")
	if err != nil {
		t.Fatal(err)
	}
	var video, audio, keys int
	for _, p := range packets {
		switch p.CodecType {
		case "video":
			video++
			if p.Keyframe() {
				keys++
			}
		case "audio":
			audio++
		}
	}
	// 2 s at 25 fps and 50 Opus packets a second.
	if video < 30 || audio < 60 || keys == 0 {
		t.Fatalf("over RTSP: %d video frames (%d keyframes), %d audio packets in 2 s", video, keys, audio)
	}

	req, _ := http.NewRequest(http.MethodDelete, ts.httpURL+location, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	waitFor(t, 10*time.Second, "the publish to end", func() bool {
		info, ok := streamInfo(t, ts, "live", "whip")
		return ts.rtc.Sessions() == 0 && (!ok || info.Publisher == nil)
	})
}

// TestViewerPLIReachesRTSPPublisher: a WHEP viewer's PLI is passed to an
// RTSP publisher (ANNOUNCE/RECORD) as an RTCP PLI on its video media.
func TestViewerPLIReachesRTSPPublisher(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.WebRTC.Addr = "127.0.0.1:0" })
	tracks, frames := clipframes.Read(t, "h264_only.flv")
	ft, err := rtsp.FormatForTrack(tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{ft}}
	u, err := base.ParseURL(ts.rtspURL("live/rtsppli"))
	if err != nil {
		t.Fatal(err)
	}
	gc := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := gc.Start(); err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	desc := &description.Session{Medias: []*description.Media{medi}}
	if _, err := gc.Announce(u, desc); err != nil {
		t.Fatal(err)
	}
	if err := gc.SetupAll(u, desc.Medias); err != nil {
		t.Fatal(err)
	}
	var plis atomic.Int32
	gc.OnPacketRTCP(medi, func(p rtcp.Packet) {
		if _, ok := p.(*rtcp.PictureLossIndication); ok {
			plis.Add(1)
		}
	})
	if _, err := gc.Record(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			f := frames[i%len(frames)]
			if f.Track.Kind() != mmedia.KindVideo {
				continue
			}
			ts := uint32(i) * 3600
			rtsp.EachPacket(rtsp.FramePackets(f), func(marker bool, off uint32, payload []byte) bool {
				seq++
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: ft.PayloadType(), SequenceNumber: seq, Timestamp: ts + off}, Payload: payload}
				return gc.WritePacketRTP(medi, pkt) == nil
			})
		}
	}()
	waitFor(t, 20*time.Second, "the RTSP-published stream", func() bool {
		info, ok := streamInfo(t, ts, "live", "rtsppli")
		return ok && info.Ready
	})

	pc, got, _, offer := newViewer(t)
	resp, err := http.Post(ts.httpURL+"/live/rtsppli/whep", "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, got, 5)
	ssrc := uint32(pc.GetReceivers()[0].Track().SSRC())
	waitFor(t, 10*time.Second, "the viewer's PLI at the RTSP publisher", func() bool {
		_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		return plis.Load() > 0
	})
}
