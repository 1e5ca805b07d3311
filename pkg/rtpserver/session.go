package rtpserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtp"
)

// Session is one RTP stream: the stream of a one-stream server, or one
// SSRC of a multiplexed port. It publishes into the engine at its first
// packet.
type Session struct {
	srv     *Server
	key     engine.Key // the name it publishes as (before any rename)
	ssrc    uint32
	from    netip.AddrPort
	tcp     bool
	conn    net.Conn // the TCP connection it arrives on; nil for UDP
	id      string
	created time.Time

	lastPacket  atomic.Int64
	pausedUntil atomic.Int64

	// pub and refused are atomic so the owner goroutine can tell an ended
	// stream without waiting for a frame in progress.
	pub     atomic.Pointer[engine.Publisher]
	refused atomic.Bool
	done    chan struct{} // closed by close

	// mu serialises the media path (packets may come from the UDP socket
	// and TCP connections of one server) and guards what follows.
	mu           sync.Mutex
	recv         *rtp.Receiver
	pipe         Pipeline
	pubKey       engine.Key
	closed       bool
	stopWatch    func() bool
	publishing   bool          // the publish goroutine was started
	early        []earlyPacket // packets that came while it runs
	earlyDropped int
	// batched: the pipeline writes a packet's frames inside Packet
	// (PipelineOptions.Batched) and the stream comes over UDP with paced
	// reads, so its frames may wake the players when the UDP reader
	// flushes its read (Server.flushBatch) rather than one by one.
	batched bool

	inBatch bool // in the server's batch; the UDP reader's only
}

func newSession(s *Server, key engine.Key, ssrc uint32, from netip.AddrPort, conn net.Conn) *Session {
	now := time.Now()
	ss := &Session{
		srv: s, key: key, ssrc: ssrc, from: from, tcp: conn != nil, conn: conn, created: now,
		id:   fmt.Sprintf("rtp-%d-%08X", s.id, ssrc),
		recv: &rtp.Receiver{},
		done: make(chan struct{}),
	}
	ss.lastPacket.Store(now.UnixNano())
	return ss
}

// maxEarly bounds the packets held while on_publish answers.
const maxEarly = 1024

// push handles one accepted packet, in arrival order; udp says the UDP
// reader delivers it, and flushes the stream after its read. The first packet
// starts publishing in a goroutine of its own: on_publish may take
// seconds, and the socket's reader serves every other stream of a
// multiplexed port meanwhile. Packets arriving until then are held
// (bounded) and replayed.
func (ss *Session) push(p *pionrtp.Packet, now time.Time, udp bool) {
	ss.lastPacket.Store(now.UnixNano())
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.closed || ss.refused.Load():
		return
	case ss.pub.Load() == nil:
		if len(ss.early) < maxEarly {
			ss.early = append(ss.early, earlyPacket{p, now})
		} else {
			ss.earlyDropped++
		}
		if !ss.publishing {
			ss.publishing = true
			// Jitter is in the payload's clock: 8 kHz for G.711.
			if rate := rtp.Detect(p.PayloadType, p.Payload).ClockRate(); rate > 0 {
				ss.recv.ClockRate = rate
			}
			ss.srv.publishers.Add(1)
			go ss.publish()
		}
		return
	}
	// The stream's bytes in (getMediaList's bytesSpeed), as RTP on the wire.
	pub := ss.pub.Load()
	pub.AddBytesIn(p.MarshalSize())
	ss.recv.Push(p, now, ss.pipe.Packet)
	if ss.batched && !udp {
		pub.Flush() // a packet of the stream over TCP: nobody flushes after it
	}
}

// flush wakes the players for the frames of the packets pushed since the
// last flush; window is the UDP reader's pacing now, which the setting
// may have changed (0: none, each frame wakes them again).
func (ss *Session) flush(window time.Duration) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	// closed: close flushes through the publisher's Close, outside mu.
	if ss.closed || !ss.batched {
		return
	}
	pub := ss.pub.Load()
	pub.Flush()
	pub.DeferWakes(window)
}

// deferWakes is PipelineOptions.Batched, called under mu: a UDP stream
// with paced reads wakes its players per read (Server.flushBatch).
func (ss *Session) deferWakes() {
	if window := ss.srv.reg.Config().MergeRead; !ss.tcp && canDrainUDP && window > 0 {
		ss.batched = true
		ss.pub.Load().DeferWakes(window)
	}
}

type earlyPacket struct {
	p  *pionrtp.Packet
	at time.Time
}

// publish attaches the stream to the engine (on_publish runs here; its
// stream_replace may rename the stream), then replays what arrived
// meanwhile. Closing the server cancels the wait.
func (ss *Session) publish() {
	s := ss.srv
	defer s.publishers.Done()
	ss.mu.Lock()
	from := ss.from
	ss.mu.Unlock()
	info := engine.SessionInfo{
		ID:       ss.id,
		Protocol: "rtp",
		Remote:   from.String(),
		Local:    fmt.Sprintf("%s:%d", localIP(s), s.port),
		// GB28181 platforms find their SSRC in the origin URL, which
		// keeps the id the stream was opened with even once renamed.
		OriginURL: "rtp://" + ss.key.Vhost + "/" + ss.key.App + "/" + ss.key.Stream,
	}
	pub, err := s.reg.Engine.Publish(s.ctx, ss.key, info)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err == nil && ss.closed {
		pub.Close() // the server closed while on_publish answered
		return
	}
	if err != nil {
		ss.refused.Store(true)
		ss.early = nil
		if s.ctx.Err() == nil {
			s.reg.Log.Info("rtp stream not published", "stream", ss.key.String(), "remote", info.Remote, "error", err.Error())
		}
		if !s.opts.Multiplex && !s.shared {
			s.requestClose(causeRefused)
		} else {
			s.poke() // the owner drops it at its next look
		}
		return
	}
	ss.pubKey = pub.Key()
	ss.pub.Store(pub)
	s.reg.addStream(ss.key, ss)
	if ss.pubKey != ss.key {
		s.reg.addStream(ss.pubKey, ss)
	}
	ss.pipe = s.reg.pipeline(PipelineOptions{
		Sink: pub, OnlyTrack: s.opts.OnlyTrack, Payload: s.opts.Payload,
		Log:     s.reg.Log.With("stream", ss.pubKey.String(), "session", ss.id),
		Batched: ss.deferWakes,
	})
	ss.stopWatch = pub.OnDone(func() {
		// The stream was closed (close_streams, a takeover, shutdown):
		// a one-stream server ends with it; a multiplexed stream is
		// dropped at the owner's next look.
		if s.opts.Multiplex || s.shared {
			s.poke()
			return
		}
		s.requestClose(causeStreamClosed)
	})
	s.reg.Log.Info("rtp stream published", "stream", ss.pubKey.String(), "remote", info.Remote,
		"ssrc", fmt.Sprintf("%08X", ss.ssrc), "transport", ss.transport())
	early := ss.early
	ss.early = nil
	for _, e := range early {
		pub.AddBytesIn(e.p.MarshalSize())
		ss.recv.Push(e.p, e.at, ss.pipe.Packet)
	}
	if ss.batched {
		pub.Flush()
	}
	if ss.earlyDropped > 0 {
		s.reg.Log.Warn("rtp packets dropped while on_publish answered", "stream", ss.pubKey.String(), "packets", ss.earlyDropped)
	}
}

func localIP(s *Server) string {
	if s.opts.LocalIP != "" && s.opts.LocalIP != "::" {
		return s.opts.LocalIP
	}
	return "0.0.0.0"
}

func (ss *Session) transport() string {
	if ss.tcp {
		return "tcp"
	}
	return "udp"
}

// moveTo follows the sender to a new UDP address.
func (ss *Session) moveTo(from netip.AddrPort) {
	ss.mu.Lock()
	ss.from = from
	ss.mu.Unlock()
}

// publisherGone reports whether the engine has let go of the stream.
func (ss *Session) publisherGone() bool {
	pub := ss.pub.Load()
	if pub == nil {
		return false
	}
	select {
	case <-pub.Done():
		return true
	default:
		return false
	}
}

// ended reports whether a multiplexed stream should be dropped: its
// publisher is gone, or it was refused.
func (ss *Session) ended() bool { return ss.refused.Load() || ss.publisherGone() }

// timeLeft is how long the stream may stay silent.
func (ss *Session) timeLeft(now time.Time, timeout time.Duration) (time.Duration, bool) {
	if until := ss.pausedUntil.Load(); until > now.UnixNano() {
		return min(time.Duration(until-now.UnixNano()), timeout), false
	}
	last := max(ss.lastPacket.Load(), ss.pausedUntil.Load())
	left := timeout - time.Duration(now.UnixNano()-last)
	return left, left <= 0
}

// close ends the stream: what the pipeline holds is flushed, and the
// publisher leaves (the engine's grace period then applies to players).
func (ss *Session) close(reason string) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	ss.early = nil
	// Moved to the registry's totals in the same step that hides the
	// stream from Counts, so /metrics counters never step back.
	if ss.pipe != nil {
		ss.recv.Flush(ss.pipe.Packet) // what the reorder buffer still holds
	}
	st := ss.recv.Stats()
	e := &ss.srv.reg.ended
	e.packets.Add(int64(st.Packets))
	e.bytes.Add(int64(st.Bytes))
	e.lost.Add(int64(st.Lost))
	e.reordered.Add(int64(st.Reordered))
	pipe, pub, stop := ss.pipe, ss.pub.Load(), ss.stopWatch
	close(ss.done)
	ss.mu.Unlock()
	if pipe != nil {
		pipe.Close()
	}
	if stop != nil {
		stop()
	}
	if pub != nil {
		pub.Close()
		ss.srv.reg.Log.Info("rtp stream ended", "stream", ss.pubKey.String(), "reason", reason,
			"packets", st.Packets, "lost", st.Lost, "reordered", st.Reordered)
	}
	ss.srv.reg.removeStream(ss)
}

// StreamInfo is a snapshot of one stream.
type StreamInfo struct {
	// Key is what the stream is published as (after stream_replace);
	// ID the name it was opened or detected as.
	Key        engine.Key
	ID         engine.Key
	SSRC       uint32
	Peer       netip.AddrPort
	LocalIP    string
	LocalPort  int
	Transport  string // "udp" or "tcp"
	Session    string // identifier
	Published  bool
	Payload    string   // detected or forced kind
	Codecs     []string // found inside PS/TS, or the RTP payload's
	Stats      rtp.Stats
	BitrateBPS float64 // over the last seconds
	Created    time.Time
	Ended      bool // closed; its figures are in the registry's totals
}

func (ss *Session) info() StreamInfo {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	in := StreamInfo{
		Key: ss.key, ID: ss.key, SSRC: ss.ssrc, Peer: ss.from, LocalIP: localIP(ss.srv), LocalPort: ss.srv.port,
		Transport: ss.transport(), Session: ss.id, Published: ss.pub.Load() != nil, Stats: ss.recv.Stats(), Created: ss.created,
		Ended: ss.closed, BitrateBPS: ss.recv.Bitrate(time.Now()),
	}
	if ss.pub.Load() != nil {
		in.Key = ss.pubKey
	}
	if ss.pipe != nil {
		in.Payload, in.Codecs = ss.pipe.Describe()
	}
	return in
}

// Info is a snapshot of one server.
type Info struct {
	Vhost, App, StreamID string
	Port                 int
	LocalIP              string
	TCPMode              TCPMode
	ReusePort            bool
	SSRC                 uint32
	OnlyTrack            int
	Multiplex            bool
	State                State
	Created              time.Time
	CheckPaused          bool
	Dropped              map[string]int64 // packets no stream got, by reason
	Streams              []StreamInfo
}

func (in Info) key() engine.Key { return engine.NewKey(in.Vhost, in.App, in.StreamID) }

func (s *Server) info() Info {
	in := Info{
		Vhost: s.opts.Vhost, App: s.opts.App, StreamID: s.opts.StreamID,
		Port: s.port, LocalIP: localIP(s), TCPMode: s.opts.TCPMode, ReusePort: s.opts.ReusePort,
		SSRC: s.ssrc.Load(), OnlyTrack: s.opts.OnlyTrack, Multiplex: s.opts.Multiplex,
		Created:     s.created,
		CheckPaused: s.pausedUntil.Load() > time.Now().UnixNano(),
		Dropped: map[string]int64{
			"invalid": s.drops.invalid.Load(), "ssrc_mismatch": s.drops.ssrcMismatch.Load(),
			"other_sender": s.drops.otherPeer.Load(), "rtcp": s.drops.rtcp.Load(),
			"too_many_streams": s.drops.tooMany.Load(), "tcp_refused": s.drops.tcpRefused.Load(),
			"larger_than_16k": s.drops.truncated.Load(),
		},
	}
	switch {
	case s.isEnding.Load():
		in.State = StateClosing
	case s.lastPacket.Load() != 0:
		in.State = StateReceiving
	default:
		in.State = StateWaiting
	}
	s.mu.Lock()
	list := make([]*Session, 0, len(s.sessions)+1)
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	if s.single != nil {
		list = append(list, s.single)
	}
	s.mu.Unlock()
	for _, ss := range list {
		in.Streams = append(in.Streams, ss.info())
	}
	return in
}

// ErrNoTalk is returned by Talk for a stream that has no link to answer
// on yet.
var ErrNoTalk = errors.New("rtp: the stream has no sender to talk back to")

// talk sends pkt back to the stream's sender over the link it arrives
// on: the server's UDP socket to its address, or its TCP connection with
// RFC 4571 framing.
func (ss *Session) talk(pkt []byte) error {
	if ss.conn != nil {
		_ = ss.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := ss.conn.Write(rtp.AppendFrame(make([]byte, 0, len(pkt)+2), pkt))
		return err
	}
	ss.mu.Lock()
	to := ss.from
	ss.mu.Unlock()
	if !to.IsValid() {
		return ErrNoTalk
	}
	_, err := ss.srv.udp.WriteToUDPAddrPort(pkt, to)
	return err
}
