package webrtc

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/rtptime"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// Ingester is what a WHIP publisher needs of the engine.
type Ingester interface {
	Publish(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Publisher, error)
}

// pliInterval is how often a publisher is asked for a keyframe. Browser
// encoders send one at the start and then only when asked: without a
// PLI now and then, a player that joins waits for ever, and the GOP
// cache would grow without bound.
const pliInterval = 2 * time.Second

// publishSession is one WHIP publisher: its peer connection, the
// engine publisher, and the ingest its RTP goes through (the RTSP
// depacketizers: the same RTP payload formats).
type publishSession struct {
	id  string
	srv *Server
	pc  *pwebrtc.PeerConnection
	pub *engine.Publisher

	// formats by kind, from the answer: the codec the browser sends.
	video, audio format.Format
	// the codec names of video and audio ("H264", "OPUS", "PCMU").
	videoName, audioName string
	decoder              rtptime.GlobalDecoder

	ingestMu sync.Mutex // ingest is single-threaded; video and audio read apart
	ingest   *rtsp.Ingest

	// mu guards what close and startReading share: a reader starts only
	// while the session is open (run waits for the readers after close),
	// and one track per kind is read.
	mu        sync.Mutex
	ended     bool
	reading   [2]bool // video, audio
	stopWatch func() bool

	connected              chan struct{}
	done                   chan struct{}
	pliNow                 chan struct{} // a viewer asked for a keyframe
	connectOnce, closeOnce sync.Once
	readers                sync.WaitGroup
	reason                 string
	unregister             func()
	plisForwarded          atomic.Int64 // PLIs sent for viewers' requests (tests)
}

// Publish answers a WHIP offer: the peer publishes the stream of key
// (authorised by the engine as any publisher: on_publish, users, a
// stream already published). It returns the SDP answer and the
// session's id.
func (s *Server) Publish(ctx context.Context, key engine.Key, info engine.SessionInfo, offer string) (answer, id string, err error) {
	if err := s.reserve(); err != nil {
		return "", "", err
	}
	defer s.unreserve()
	// Before on_publish is asked: a body that is no offer to send media
	// publishes nothing.
	if err := checkPublishOffer(offer); err != nil {
		return "", "", err
	}
	pub, err := s.ingester.Publish(ctx, key, info)
	if err != nil {
		return "", "", err
	}
	ps := &publishSession{id: newID(), srv: s, pub: pub, connected: make(chan struct{}), done: make(chan struct{}),
		pliNow: make(chan struct{}, 1)}
	ps.decoder.Initialize()
	ok := false
	defer func() {
		if !ok {
			ps.close("not started")
			if ps.unregister != nil {
				ps.unregister()
			}
			pub.Close()
		}
	}()
	if ps.pc, err = s.api.Load().NewPeerConnection(pwebrtc.Configuration{}); err != nil {
		return "", "", fmt.Errorf("webrtc: %w", err)
	}
	watchState(ps.pc, func() { ps.connectOnce.Do(func() { close(ps.connected) }) }, ps.close)
	sdp, err := answerOffer(ctx, ps.pc, offer)
	if err != nil {
		return "", "", err
	}
	if err := ps.receivedFormats(sdp); err != nil {
		return "", "", err
	}
	var formats []format.Format
	for _, f := range []format.Format{ps.video, ps.audio} {
		if f != nil {
			formats = append(formats, f)
		}
	}
	if ps.ingest, err = rtsp.NewIngest(pub, formats, rtsp.IngestOptions{Log: s.log.With("stream", key.String(), "session", ps.id)}); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrNoTrack, err)
	}
	// Before the peer has the answer, so before any packet.
	ps.pc.OnTrack(func(t *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) { ps.startReading(t) })
	// Everything close reads is set before the session can be found
	// (addPublish): End, kick_session and Close may close it from then on.
	stopWatch := pub.OnDone(func() { go ps.close("the stream was closed") })
	ps.mu.Lock()
	ps.stopWatch = stopWatch
	ps.mu.Unlock()
	// A viewer's PLI or FIR (Reader.RequestKeyframe) asks the browser at
	// once, not at the next tick.
	pub.OnKeyframeRequest(func() {
		select {
		case ps.pliNow <- struct{}{}:
		default:
		}
	})
	ps.unregister = s.register(info, func() { ps.close("kicked") })
	if err := s.addPublish(ps); err != nil {
		return "", "", err
	}
	ok = true
	go ps.run()
	s.log.Info("webrtc publish started", "stream", key.String(), "session", ps.id, "remote", info.Remote)
	return sdp, ps.id, nil
}

// receivedFormats reads, from our answer, the codec of each media the
// peer sends: the first payload type of its m-line, which is the one a
// sender uses (RFC 3264, 6.1). Only the codecs registered in Listen can
// be there.
func (ps *publishSession) receivedFormats(answer string) error {
	var d sdp.SessionDescription
	if err := d.Unmarshal([]byte(answer)); err != nil {
		return fmt.Errorf("webrtc: our answer: %w", err)
	}
	for _, m := range d.MediaDescriptions {
		_, recv := m.Attribute("recvonly")
		_, both := m.Attribute("sendrecv")
		if !recv && !both || len(m.MediaName.Formats) == 0 {
			continue
		}
		pt, err := strconv.ParseUint(m.MediaName.Formats[0], 10, 7)
		if err != nil {
			continue
		}
		codec, err := d.GetCodecForPayloadType(uint8(pt))
		if err != nil {
			continue
		}
		name := strings.ToUpper(codec.Name)
		f := formatOf(name, uint8(pt), codec.EncodingParameters)
		switch {
		case f == nil:
		case m.MediaName.Media == "video" && ps.video == nil:
			ps.video, ps.videoName = f, name
		case m.MediaName.Media == "audio" && ps.audio == nil:
			ps.audio, ps.audioName = f, name
		}
	}
	if ps.video == nil && ps.audio == nil {
		return fmt.Errorf("%w: the offer sends no H.264, H.265, VP9, AV1, Opus or G.711", ErrNoTrack)
	}
	return nil
}

// formatOf is the gortsplib format of a negotiated codec (nil for one
// mediakit does not ingest).
func formatOf(name string, pt uint8, params string) format.Format {
	switch name {
	case "H264":
		return &format.H264{PayloadTyp: pt, PacketizationMode: 1}
	case "H265":
		return &format.H265{PayloadTyp: pt}
	case "VP9":
		return &format.VP9{PayloadTyp: pt}
	case "AV1":
		return &format.AV1{PayloadTyp: pt}
	case "OPUS":
		channels := 2
		if params == "1" {
			channels = 1
		}
		return &format.Opus{PayloadTyp: pt, ChannelCount: channels}
	case "PCMU":
		return &format.G711{PayloadTyp: pt, MULaw: true, SampleRate: 8000, ChannelCount: 1}
	case "PCMA":
		return &format.G711{PayloadTyp: pt, MULaw: false, SampleRate: 8000, ChannelCount: 1}
	}
	return nil
}

// startReading reads a track the peer sends into the ingest, and asks
// for keyframes on a video track.
func (ps *publishSession) startReading(t *pwebrtc.TrackRemote) {
	f, want := ps.audio, ps.audioName
	if t.Kind() == pwebrtc.RTPCodecTypeVideo {
		f, want = ps.video, ps.videoName
	}
	// The answer's first codec is the one senders use; a peer that picks
	// another of the kind is not ingested rather than misread.
	if _, name, _ := strings.Cut(t.Codec().MimeType, "/"); f == nil || !strings.EqualFold(name, want) {
		ps.srv.log.Warn("webrtc publish: track not ingested", "session", ps.id, "codec", t.Codec().MimeType, "expected", want)
		return
	}
	slot := 1
	if t.Kind() == pwebrtc.RTPCodecTypeVideo {
		slot = 0
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.ended {
		return
	}
	if ps.reading[slot] {
		// Simulcast layers, or a second m-line of the kind: one track per
		// kind goes into the stream, as from any publisher.
		ps.srv.log.Warn("webrtc publish: a second track of the kind not ingested", "session", ps.id,
			"codec", t.Codec().MimeType, "rid", t.RID())
		return
	}
	ps.reading[slot] = true
	ps.readers.Add(1)
	go func() {
		defer ps.readers.Done()
		ps.read(t, f)
	}()
	if t.Kind() == pwebrtc.RTPCodecTypeVideo {
		ps.readers.Add(1)
		go func() {
			defer ps.readers.Done()
			ps.askKeyframes(uint32(t.SSRC()))
		}()
	}
}

func (ps *publishSession) read(t *pwebrtc.TrackRemote, f format.Format) {
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return // the connection closed
		}
		pts, ok := ps.decoder.Decode(f, pkt)
		if !ok {
			continue // a track starts at a packet whose PTS is its DTS
		}
		ps.pub.AddBytesIn(pkt.MarshalSize())
		ps.ingestMu.Lock()
		err = ps.ingest.WritePacket(f, pkt, pts)
		ps.ingestMu.Unlock()
		if err != nil {
			go ps.close("ingest: " + err.Error())
			return
		}
	}
}

// askKeyframes sends a PLI at once, every pliInterval, and when a viewer
// asks for a keyframe.
func (ps *publishSession) askKeyframes(ssrc uint32) {
	tick := time.NewTicker(pliInterval)
	defer tick.Stop()
	for {
		if err := ps.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-ps.pliNow:
			ps.plisForwarded.Add(1)
		case <-ps.done:
			return
		}
	}
}

// run waits for the connection, then for the end, and cleans up.
func (ps *publishSession) run() {
	defer ps.srv.wg.Done()
	defer func() {
		ps.close("ended")
		ps.readers.Wait()
		ps.ingestMu.Lock()
		_ = ps.ingest.Flush()
		ps.ingestMu.Unlock()
		ps.pub.Close()
		ps.srv.removePublish(ps)
		if ps.unregister != nil {
			ps.unregister()
		}
		ps.srv.log.Info("webrtc publish ended", "stream", ps.pub.Key().String(), "session", ps.id, "reason", ps.reason)
	}()
	select {
	case <-ps.connected:
	case <-ps.done:
		return
	case <-time.After(connectTimeout):
		ps.close("not connected within " + connectTimeout.String())
		return
	}
	<-ps.done
}

// close ends the session once: the connection closes, which ends the
// readers; run then closes the publisher.
func (ps *publishSession) close(reason string) {
	ps.closeOnce.Do(func() {
		ps.mu.Lock()
		ps.ended = true
		stopWatch := ps.stopWatch
		ps.mu.Unlock()
		ps.reason = reason
		close(ps.done)
		if stopWatch != nil {
			stopWatch()
		}
		if ps.pc != nil {
			ps.pc.Close()
		}
	})
}

// checkPublishOffer checks that offer is an SDP offer that sends media.
func checkPublishOffer(offer string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %w", ErrOffer, err)
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" {
			continue
		}
		_, sendonly := m.Attribute("sendonly")
		_, sendrecv := m.Attribute("sendrecv")
		if sendonly || sendrecv {
			return nil
		}
	}
	return fmt.Errorf("%w: it sends no audio or video", ErrOffer)
}
