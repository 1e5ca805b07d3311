// Package webrtc plays streams to browsers over WebRTC (WHEP, on
// pion/webrtc): one UDP port and one TCP port carry every session's ICE,
// and the media is the RTSP packetizer's RTP payloads, built once per
// frame and shared by every viewer.
package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	sessions "github.com/mediakit/mediakit/pkg/session"
)

// Player is what a WebRTC viewer needs from the engine.
type Player interface {
	Play(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Reader, error)
}

// Engine is what the server needs: viewers play, WHIP peers publish.
type Engine interface {
	Player
	Ingester
}

// SessionRegistry lists open sessions for the API (getAllSession,
// kick_session).
type SessionRegistry interface {
	Add(info sessions.Info, close func()) (remove func())
}

// Options configure a Server.
type Options struct {
	// Addr is the UDP address for ICE, and the TCP address for ICE-TCP
	// on the same port ("host:port"; port 0 picks one of each).
	Addr string
	// Hosts are addresses announced as host candidates instead of the
	// local ones (a public address of a 1:1 NAT).
	Hosts []string
	// STUNServers ("stun:host:port") are asked for the server's public
	// address, through the ICE UDP port itself, at start and every few
	// minutes; an answer is announced as a host candidate like Hosts. An
	// offer's answer never waits for them.
	STUNServers []string
	Log         *slog.Logger
	// Registry, if set, lists the sessions.
	Registry SessionRegistry
}

// Server holds the ICE ports and the sessions.
type Server struct {
	engine   Player
	ingester Ingester
	log      *slog.Logger
	registry SessionRegistry
	api      atomic.Pointer[pwebrtc.API]
	settings apiSettings
	udp      net.PacketConn
	holder   holder // udp, when it can coalesce a frame's packets
	tcp      net.Listener
	udpMux   ice.UDPMux
	tcpMux   ice.TCPMux

	bMu     sync.Mutex
	bWarned map[engine.Key]bool // streams warned of for B-frames

	mu        sync.Mutex
	sessions  map[string]*session
	publishes map[string]*publishSession
	pending   int // offers being answered (reserve)
	closed    bool
	wg        sync.WaitGroup

	stop    context.CancelFunc // ends the STUN discovery
	stunned sync.WaitGroup
}

// h264Profiles are the H.264 profile-level-ids registered (packetization
// mode 1 only: pion would otherwise pick a mode-0 codec for a track).
// pion negotiates a codec when profile_idc and the constraint flags (the
// first two bytes) match an offered one, so the variants encoders and
// browsers use are all here: baseline, constrained baseline (two
// spellings), main (two), high, constrained high.
var h264Profiles = []string{"42001f", "42e01f", "42c01f", "4d001f", "4d401f", "64001f", "640c1f"}

// Listen binds the ICE ports and returns a server whose sessions play
// from e and publish into it.
func Listen(e Engine, o Options) (*Server, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stunServers, err := parseSTUNServers(o.STUNServers)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenPacket("udp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("webrtc: listen udp %s: %w", o.Addr, err)
	}
	// The same port number for TCP (port 0: a port of its own).
	tcpAddr := o.Addr
	tcp, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("webrtc: listen tcp %s: %w", tcpAddr, err)
	}
	udp = newBatchConn(udp, log)
	s := &Server{engine: e, ingester: e, log: log, registry: o.Registry, udp: udp, tcp: tcp,
		sessions: map[string]*session{}, publishes: map[string]*publishSession{}}
	s.holder, _ = udp.(holder)
	var universal *ice.UniversalUDPMuxDefault
	if len(stunServers) > 0 {
		// The universal mux also sends STUN binding requests from the
		// ICE port and takes their answers, so the address a STUN
		// server sees is the one browsers must reach.
		universal = ice.NewUniversalUDPMuxDefault(ice.UniversalUDPMuxParams{UDPConn: udp})
		s.udpMux = universal
	} else {
		s.udpMux = pwebrtc.NewICEUDPMux(nil, udp)
	}
	s.tcpMux = pwebrtc.NewICETCPMux(nil, tcp, 8)
	s.settings = apiSettings{udpMux: s.udpMux, tcpMux: s.tcpMux, addr: o.Addr, hosts: o.Hosts}
	api, err := s.settings.build(nil)
	if err != nil {
		s.closePorts()
		return nil, err
	}
	s.api.Store(api)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if universal != nil {
		s.stunned.Add(1)
		go func() {
			defer s.stunned.Done()
			s.discover(ctx, universal, stunServers)
		}()
	}
	return s, nil
}

// holder coalesces the packets written to a destination between Hold and
// Release into one send (batchConn, on Linux).
type holder interface {
	Hold(to netip.AddrPort)
	Release(to netip.AddrPort)
}

// apiSettings are what every pion API of the server is built from; the
// API is built again when STUN finds a new public address.
type apiSettings struct {
	udpMux ice.UDPMux
	tcpMux ice.TCPMux
	addr   string
	hosts  []string
}

// build returns an API announcing the configured hosts and extra ones.
func (a apiSettings) build(extra []string) (*pwebrtc.API, error) {
	var se pwebrtc.SettingEngine
	se.SetICEUDPMux(a.udpMux)
	se.SetICETCPMux(a.tcpMux)
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4, pwebrtc.NetworkTypeUDP6, pwebrtc.NetworkTypeTCP4, pwebrtc.NetworkTypeTCP6})
	// A server bound to loopback (tests, a local proxy) must offer it;
	// one bound elsewhere does not show viewers its loopback address.
	if ip := net.ParseIP(hostOf(a.addr)); ip != nil && ip.IsLoopback() {
		se.SetIncludeLoopbackCandidate(true)
	}
	se.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	if hosts := append(append([]string(nil), a.hosts...), extra...); len(hosts) > 0 {
		if err := se.SetICEAddressRewriteRules(pwebrtc.ICEAddressRewriteRule{
			External: hosts, AsCandidateType: pwebrtc.ICECandidateTypeHost, Mode: pwebrtc.ICEAddressRewriteAppend,
		}); err != nil {
			return nil, fmt.Errorf("webrtc: additional hosts %v: %w", hosts, err)
		}
	}
	me := &pwebrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	// NACKs and sender reports (browsers sync audio and video with them);
	// none of pion's other default interceptors. Viewers' NACKs are
	// answered by the session from the stream's shared packets (history),
	// not by pion's responder, which copies every packet it sends.
	// Publishers' lost packets are asked for by pion's generator.
	ir := &interceptor.Registry{}
	generator, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	me.RegisterFeedback(pwebrtc.RTCPFeedback{Type: "nack"}, pwebrtc.RTPCodecTypeVideo)
	me.RegisterFeedback(pwebrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, pwebrtc.RTPCodecTypeVideo)
	ir.Add(generator)
	if err := pwebrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	return pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se), pwebrtc.WithMediaEngine(me), pwebrtc.WithInterceptorRegistry(ir)), nil
}

func registerCodecs(me *pwebrtc.MediaEngine) error {
	pt := pwebrtc.PayloadType(102)
	for _, profile := range h264Profiles {
		c := pwebrtc.RTPCodecParameters{
			RTPCodecCapability: h264Capability(profile),
			PayloadType:        pt,
		}
		if err := me.RegisterCodec(c, pwebrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("webrtc: register H.264 %s: %w", profile, err)
		}
		pt++
	}
	for _, c := range []pwebrtc.RTPCodecParameters{
		{RTPCodecCapability: h265Capability("1/0"), PayloadType: 116},
		{RTPCodecCapability: h265Capability("2/0"), PayloadType: 118},
		{RTPCodecCapability: vp9Capability, PayloadType: 98},
		{RTPCodecCapability: av1Capability, PayloadType: 45},
	} {
		if err := me.RegisterCodec(c, pwebrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("webrtc: register %s: %w", c.MimeType, err)
		}
	}
	audio := []pwebrtc.RTPCodecParameters{
		{RTPCodecCapability: opusCapability, PayloadType: 111},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
		{RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
	}
	for _, c := range audio {
		if err := me.RegisterCodec(c, pwebrtc.RTPCodecTypeAudio); err != nil {
			return fmt.Errorf("webrtc: register %s: %w", c.MimeType, err)
		}
	}
	return nil
}

// VP9 profile 0 and AV1 main profile, as browsers offer them; streams
// published as VP9 or AV1 (Enhanced RTMP, RTSP, WHIP) pass through.
var (
	vp9Capability = pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
	av1Capability = pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeAV1, ClockRate: 90000, SDPFmtpLine: "level-idx=5;profile=0;tier=0"}
)

// rtpName is a video codec's RTP encoding name.
func rtpName(c media.Codec) string {
	switch c {
	case media.CodecVP9:
		return "VP9"
	case media.CodecAV1:
		return "AV1"
	case media.CodecH265:
		return "H265"
	}
	return "H264"
}

var opusCapability = pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}

func h264Capability(profile string) pwebrtc.RTPCodecCapability {
	return pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile}
}

// h265Capability is H.265 (RFC 7798, as browsers offer it: tx-mode SRST)
// of profileTier ("1/0": Main, main tier). pion matches it to an offered
// codec by profile, tier and tx-mode, not level.
func h265Capability(profileTier string) pwebrtc.RTPCodecCapability {
	profile, tier, _ := strings.Cut(profileTier, "/")
	return pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH265, ClockRate: 90000,
		SDPFmtpLine: "level-id=180;profile-id=" + profile + ";tier-flag=" + tier + ";tx-mode=SRST"}
}

// Addr is the bound ICE address (UDP; TCP on the same port unless the
// port asked was 0).
func (s *Server) Addr() string { return s.udp.LocalAddr().String() }

// Sessions is the number of sessions, viewers and publishers.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions) + len(s.publishes)
}

// Errors of Play besides the engine's.
var (
	ErrClosed  = errors.New("webrtc: server closed")
	ErrTooMany = fmt.Errorf("webrtc: %d sessions already", MaxSessions)
)

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}

// reserve holds a session slot from the offer on (a viewer that never
// connects holds one until connectTimeout), so that offers alone cannot
// take more than MaxSessions.
func (s *Server) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if len(s.sessions)+len(s.publishes)+s.pending >= MaxSessions {
		return ErrTooMany
	}
	s.pending++
	return nil
}

func (s *Server) unreserve() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

// nackHistory is the number of a viewer's last video packets it can ask
// again with a NACK: about 2.7 s of a 2 Mbit/s stream, 0.7 s of 8 Mbit/s.
// A power of two, so that a sequence number's slot survives wrapping.
const nackHistory = 512

// MaxSessions bounds the sessions of a server: each holds a peer
// connection (about 20 goroutines) from the offer on, connected or not.
const MaxSessions = 4096

func (s *Server) add(ss *session) error               { return track(s, s.sessions, ss.id, ss) }
func (s *Server) remove(ss *session)                  { untrack(s, s.sessions, ss.id, ss) }
func (s *Server) addPublish(ps *publishSession) error { return track(s, s.publishes, ps.id, ps) }
func (s *Server) removePublish(ps *publishSession)    { untrack(s, s.publishes, ps.id, ps) }

// track enters a session in its table, unless the server is closing;
// Close then waits for it (wg).
func track[T comparable](s *Server, table map[string]T, id string, v T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	table[id] = v
	s.wg.Add(1)
	return nil
}

// untrack removes a session from its table, if it is still the one there.
func untrack[T comparable](s *Server, table map[string]T, id string, v T) {
	s.mu.Lock()
	if table[id] == v {
		delete(table, id)
	}
	s.mu.Unlock()
}

// End ends the session id (a WHEP or WHIP DELETE); it reports whether
// there was one.
func (s *Server) End(id string) bool {
	s.mu.Lock()
	ss, ps := s.sessions[id], s.publishes[id]
	s.mu.Unlock()
	switch {
	case ss != nil:
		ss.close("ended by the player")
	case ps != nil:
		ps.close("ended by the publisher")
	default:
		return false
	}
	return true
}

// Close ends every session and releases the ports.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	pubs := make([]*publishSession, 0, len(s.publishes))
	for _, ps := range s.publishes {
		pubs = append(pubs, ps)
	}
	s.mu.Unlock()
	for _, ss := range list {
		ss.close("server shutting down")
	}
	for _, ps := range pubs {
		ps.close("server shutting down")
	}
	s.wg.Wait()
	s.stop()
	s.stunned.Wait()
	s.closePorts()
}

func (s *Server) closePorts() {
	if s.udpMux != nil {
		s.udpMux.Close()
	}
	if s.tcpMux != nil {
		s.tcpMux.Close()
	}
	s.udp.Close()
	s.tcp.Close()
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// warnBFrames says once per stream (for the first 4096 streams, then
// again) that its video has B-frames: browsers decode them, but WebRTC
// has no reordering delay, so playback stutters. getMediaInfo's b_frames
// counts them.
func (s *Server) warnBFrames(key engine.Key) {
	s.bMu.Lock()
	if s.bWarned == nil || len(s.bWarned) >= 4096 {
		s.bWarned = map[engine.Key]bool{}
	}
	seen := s.bWarned[key]
	s.bWarned[key] = true
	s.bMu.Unlock()
	if !seen {
		s.log.Warn("webrtc: the stream's video has B-frames; browsers may stutter (encode without them: x264 -bf 0, OBS profile baseline)",
			"stream", key.String())
	}
}
