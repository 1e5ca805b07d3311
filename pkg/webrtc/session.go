package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtsp"
	sessions "github.com/mediakit/mediakit/pkg/session"
)

// Errors of Play that are the viewer's: nothing to play, or an offer that
// is not one.
var (
	ErrNoTrack = errors.New("webrtc: the stream has no track WebRTC carries (H.264, H.265, VP9, AV1, Opus, G.711 at 8 kHz mono) that the offer accepts")
	ErrOffer   = errors.New("webrtc: unusable offer")
)

// connectTimeout bounds the wait for a viewer's ICE and DTLS after the
// answer.
const connectTimeout = 10 * time.Second

// session is one viewer: its peer connection and the goroutine (pump)
// that owns what is sent.
type session struct {
	id     string
	srv    *Server
	pc     *pwebrtc.PeerConnection
	reader *engine.Reader

	video, audio           *pwebrtc.TrackLocalStaticRTP
	videoCodec, audioCodec media.Codec
	audioClock             int64
	connected              chan struct{}
	connectOnce, closeOnce sync.Once
	done                   chan struct{}
	rtcpWG                 sync.WaitGroup
	reason                 string
	unregister             func() // from the session registry; nil when none
	videoSeq, audioSeq     uint16
	videoBase, audioBase   uint32
	keyframeSent           bool
	bFramesSeen            bool
	vp9PictureID           uint16     // the next VP9 frame's, per viewer
	scratch                []byte     // the pump's VP9 payload copy
	pkt                    rtp.Packet // the pump's, for WriteRTP
	// reported are the tracks already handed to DropTrack (by Play, then
	// the pump).
	reported map[*media.Track]bool
	// peer is the viewer's address while ICE runs over UDP (the selected
	// pair's remote end), where a frame's packets are sent in one batch.
	peer atomic.Pointer[netip.AddrPort]
	// history answers the viewer's NACKs (video only).
	history history
}

// OutputName names WebRTC viewers (WHEP) in track drop reports.
const OutputName = "webrtc"

// sendable reports whether viewers are sent tracks like t: H.264, H.265
// (to browsers that offer it), VP9, AV1, Opus, and G.711 at 8 kHz mono (PCMA and PCMU as browsers take
// them).
func sendable(t *media.Track) bool {
	switch t.Codec {
	case media.CodecH264, media.CodecH265, media.CodecVP9, media.CodecAV1, media.CodecOpus:
		return true
	case media.CodecG711A, media.CodecG711U:
		return t.SampleRate == 8000 && t.Channels <= 1
	}
	return false
}

// dropped reports a track viewers are not sent, once per session (the
// engine logs it once per stream).
func (ss *session) dropped(t *media.Track) {
	if ss.reported[t] {
		return
	}
	if ss.reported == nil {
		ss.reported = map[*media.Track]bool{}
	}
	ss.reported[t] = true
	reason := "WebRTC viewers are sent H.264, H.265, VP9, AV1, Opus and G.711 only here"
	if t.Codec == media.CodecG711A || t.Codec == media.CodecG711U {
		reason = "WebRTC's PCMA and PCMU are 8 kHz mono"
	}
	ss.reader.DropTrack(OutputName, t, reason)
}

// Play answers a WHEP offer for the stream of key and starts the viewer's
// session. It returns the SDP answer and the session's id. The engine
// authorises the viewer (info's protocol "webrtc") as any player.
func (s *Server) Play(ctx context.Context, key engine.Key, info engine.SessionInfo, offer string) (answer, id string, err error) {
	if err := s.reserve(); err != nil {
		return "", "", err
	}
	defer s.unreserve()
	offered, err := parseOffer(offer)
	if err != nil {
		return "", "", err
	}
	reader, err := s.engine.Play(ctx, key, info)
	if err != nil {
		return "", "", err
	}
	ss := &session{id: newID(), srv: s, reader: reader, connected: make(chan struct{}), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			if ss.pc != nil {
				ss.pc.Close()
			}
			reader.Close()
		}
	}()
	var video, audio *media.Track
	for _, t := range reader.Tracks() {
		switch {
		case t == nil:
		case !sendable(t):
			ss.dropped(t)
		case video == nil && t.Kind() == media.KindVideo:
			if offered.accepts(t) {
				video = t
			}
		case audio == nil && t.Kind() == media.KindAudio:
			audio = t
		}
	}
	if video == nil && audio == nil {
		return "", "", ErrNoTrack
	}
	ss.videoSeq, ss.audioSeq = uint16(randomUint32()), uint16(randomUint32())
	if ss.pc, err = s.api.Load().NewPeerConnection(pwebrtc.Configuration{}); err != nil {
		return "", "", fmt.Errorf("webrtc: %w", err)
	}
	if video != nil {
		var c pwebrtc.RTPCodecCapability
		switch video.Codec {
		case media.CodecH264:
			c = h264Capability(pickProfile(video.SPS, offered.h264))
		case media.CodecH265:
			c = h265Capability(offered.pickH265(video.SPS))
		case media.CodecVP9:
			c = vp9Capability
		case media.CodecAV1:
			c = av1Capability
		}
		if ss.video, err = ss.addTrack(c, "video"); err != nil {
			return "", "", err
		}
		ss.videoCodec, ss.videoBase = video.Codec, randomUint32()
	}
	if audio != nil {
		c := opusCapability
		ss.audioClock = 48000
		switch audio.Codec {
		case media.CodecG711A:
			c, ss.audioClock = pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypePCMA, ClockRate: 8000}, 8000
		case media.CodecG711U:
			c, ss.audioClock = pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypePCMU, ClockRate: 8000}, 8000
		}
		if ss.audio, err = ss.addTrack(c, "audio"); err != nil {
			return "", "", err
		}
		ss.audioCodec, ss.audioBase = audio.Codec, randomUint32()
	}
	watchState(ss.pc, func() { ss.connectOnce.Do(func() { close(ss.connected) }) }, ss.close)
	ss.pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(ss.setPeer)
	if _, err := answerOffer(ctx, ss.pc, offer); err != nil {
		return "", "", err
	}
	if err := s.add(ss); err != nil {
		return "", "", err
	}
	ok = true
	ss.unregister = s.register(info, func() { ss.close("kicked") })
	go ss.pump()
	s.log.Info("webrtc play started", "stream", key.String(), "session", ss.id, "remote", info.Remote)
	return ss.pc.LocalDescription().SDP, ss.id, nil
}

// addTrack adds a send-only track and drains its RTCP (NACKs are
// answered by the interceptor on that path).
func (ss *session) addTrack(c pwebrtc.RTPCodecCapability, kind string) (*pwebrtc.TrackLocalStaticRTP, error) {
	t, err := pwebrtc.NewTrackLocalStaticRTP(c, kind, "mediakit")
	if err != nil {
		return nil, fmt.Errorf("webrtc: %s track: %w", kind, err)
	}
	sender, err := ss.pc.AddTrack(t)
	if err != nil {
		return nil, fmt.Errorf("webrtc: %s track: %w", kind, err)
	}
	ss.rtcpWG.Add(1)
	go func() {
		defer ss.rtcpWG.Done()
		var scratch []byte
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return // the connection closed
			}
			if kind != "video" {
				continue
			}
			for _, p := range pkts {
				if nack, ok := p.(*rtcp.TransportLayerNack); ok {
					var n int
					n, scratch = ss.resend(nack, scratch)
					ss.reader.AddBytesOut(n)
				}
			}
			if asksKeyframe(pkts) {
				// The viewer lost a picture NACKs could not mend: the
				// publisher is asked, where it can make one (a WHIP peer).
				ss.reader.RequestKeyframe()
			}
		}
	}()
	return t, nil
}

// asksKeyframe reports whether RTCP from a viewer asks for a keyframe
// (PLI or FIR).
func asksKeyframe(pkts []rtcp.Packet) bool {
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			return true
		}
	}
	return false
}

// setPeer notes the selected pair's remote address when it is UDP.
func (ss *session) setPeer(p *pwebrtc.ICECandidatePair) {
	if p == nil || p.Remote == nil || p.Remote.Protocol != pwebrtc.ICEProtocolUDP {
		ss.peer.Store(nil)
		return
	}
	ip, err := netip.ParseAddr(p.Remote.Address)
	if err != nil {
		ss.peer.Store(nil)
		return
	}
	ap := netip.AddrPortFrom(ip.Unmap(), p.Remote.Port)
	ss.peer.Store(&ap)
}

// close ends the session once: the pump stops, the connection and the
// reader close.
func (ss *session) close(reason string) {
	ss.closeOnce.Do(func() {
		ss.reason = reason
		close(ss.done)
		ss.reader.Close()
		ss.pc.Close()
	})
}

// pump sends the reader's frames once the viewer is connected, and
// cleans up when the session ends.
func (ss *session) pump() {
	defer ss.srv.wg.Done()
	defer func() {
		ss.close("stream ended")
		ss.rtcpWG.Wait()
		ss.history.clear() // the frames it holds
		ss.srv.remove(ss)
		if ss.unregister != nil {
			ss.unregister()
		}
		ss.srv.log.Info("webrtc play ended", "stream", ss.reader.Key().String(), "session", ss.id, "reason", ss.reason)
	}()
	select {
	case <-ss.connected:
	case <-ss.done:
		return
	case <-time.After(connectTimeout):
		ss.close("not connected within " + connectTimeout.String())
		return
	}
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := ss.reader.Next(buf[:0])
		// What one wake-up sends leaves in one system call: a message
		// per frame (UDP GSO), all in one sendmmsg.
		h, peer := ss.srv.holder, ss.peer.Load()
		held := h != nil && peer != nil && len(frames) > 0
		if held {
			h.Hold(*peer)
		}
		var werr error
		for _, f := range frames {
			if werr = ss.send(f); werr != nil {
				break
			}
		}
		if held {
			h.Release(*peer)
		}
		if werr != nil {
			ss.close("send: " + werr.Error())
			return
		}
		clear(frames)
		if err != nil {
			return
		}
	}
}

// send writes one frame as RTP: the RTSP packetizer's payloads (cached
// per frame), numbered and stamped for this viewer.
func (ss *session) send(f *media.Frame) error {
	var t *pwebrtc.TrackLocalStaticRTP
	var seq *uint16
	var ts uint32
	switch {
	case ss.video != nil && f.Track.Codec == ss.videoCodec:
		if !ss.keyframeSent && !f.Key {
			return nil // a viewer starts at a keyframe
		}
		ss.keyframeSent = true
		if f.PTS != f.DTS && !ss.bFramesSeen {
			ss.bFramesSeen = true
			ss.srv.warnBFrames(ss.reader.Key())
		}
		t, seq, ts = ss.video, &ss.videoSeq, ss.videoBase+ticks(f.PTS, 90000)
	case ss.audio != nil && f.Track.Codec == ss.audioCodec:
		t, seq, ts = ss.audio, &ss.audioSeq, ss.audioBase+ticks(f.PTS, ss.audioClock)
	default:
		// A track WebRTC does not carry (AAC), or one that changed codec.
		if !sendable(f.Track) {
			ss.dropped(f.Track)
		}
		return nil
	}
	vp9 := t == ss.video && ss.videoCodec == media.CodecVP9
	list := rtsp.FramePackets(f)
	var err error
	sent := 0
	index := uint16(0)
	rtsp.EachPacket(list, func(marker bool, offset uint32, payload []byte) bool {
		*seq++
		if vp9 {
			ss.scratch = vp9PictureID(ss.scratch, payload, ss.vp9PictureID)
			payload = ss.scratch
		}
		if t == ss.video {
			ss.history.add(sentPacket{frame: f, index: index, seq: *seq, ts: ts + offset, marker: marker,
				picture: ss.vp9PictureID, vp9: vp9})
			index++
		}
		// WriteRTP copies the packet before it returns: one per session
		// is reused rather than one allocated per packet and viewer.
		ss.pkt = rtp.Packet{
			Header:  rtp.Header{Version: 2, Marker: marker, SequenceNumber: *seq, Timestamp: ts + offset},
			Payload: payload,
		}
		if err = t.WriteRTP(&ss.pkt); err == nil {
			sent += 12 + len(payload)
		}
		return err == nil
	})
	// Once per frame: the counters are shared with the stream's other
	// readers.
	ss.reader.AddBytesOut(sent)
	if vp9 {
		ss.vp9PictureID = (ss.vp9PictureID + 1) & 0x7fff
	}
	return err
}

// vp9PictureID returns payload, in dst, with a viewer's picture ID: the
// shared payloads carry one derived from the PTS, which RTSP players take,
// but a WebRTC receiver infers references from consecutive IDs
// (non-flexible mode) and shows only keyframes otherwise. The payload is
// copied into dst (always: dst is reused, and the payload is shared with
// every player); one without a 15-bit ID is copied as is.
func vp9PictureID(dst, payload []byte, id uint16) []byte {
	dst = append(dst[:0], payload...)
	// I=1 and M=1: a 15-bit picture ID in bytes 1 and 2 (pion's payloader).
	if len(dst) >= 3 && dst[0]&0x80 != 0 && dst[1]&0x80 != 0 {
		dst[1] = 0x80 | byte(id>>8)
		dst[2] = byte(id)
	}
	return dst
}

// ticks is d in units of 1/clock seconds, modulo 2^32 as RTP wants,
// exact to the nanosecond and without overflow.
func ticks(d time.Duration, clock int64) uint32 {
	return uint32(int64(d/time.Second)*clock + int64(d%time.Second)*clock/int64(time.Second))
}

// randomUint32 starts an RTP timestamp (RFC 3550: random).
func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// watchState calls connected once the peer connection is up, and end
// (in a goroutine of its own: it waits for pion's callbacks) when it
// fails or closes. Disconnected may recover; ICE declares Failed when
// not.
func watchState(pc *pwebrtc.PeerConnection, connected func(), end func(reason string)) {
	pc.OnConnectionStateChange(func(st pwebrtc.PeerConnectionState) {
		switch st {
		case pwebrtc.PeerConnectionStateConnected:
			connected()
		case pwebrtc.PeerConnectionStateFailed, pwebrtc.PeerConnectionStateClosed:
			go end("connection " + st.String())
		}
	})
}

// answerOffer applies the peer's offer to pc and returns the answer with
// every candidate: they are the server's own ports, so gathering takes
// no network round trip (and no trickle is needed).
func answerOffer(ctx context.Context, pc *pwebrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrOffer, err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		// pion cannot answer an offer that accepts none of the tracks.
		return "", fmt.Errorf("%w: %w", ErrOffer, err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("webrtc: answer: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return "", errors.New("webrtc: ICE gathering did not complete")
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// register lists a session for getAllSession and kick_session; the
// returned func removes it (nil without a registry).
func (s *Server) register(info engine.SessionInfo, kick func()) (unregister func()) {
	if s.registry == nil {
		return nil
	}
	si := sessions.Info{ID: info.ID, Protocol: "webrtc", TypeID: "mediakit::WebRtcSession"}
	if a, err := net.ResolveTCPAddr("tcp", info.Remote); err == nil {
		si.Remote = a
	}
	if a, err := net.ResolveTCPAddr("tcp", info.Local); err == nil {
		si.Local = a
	}
	return s.registry.Add(si, kick)
}
