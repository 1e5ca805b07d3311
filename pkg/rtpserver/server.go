package rtpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtp"
)

// State is where a server is in its life.
type State string

// States. A server that timed out or was closed has left the registry:
// it has no state to report.
const (
	StateWaiting   State = "waiting"   // open, nothing received yet
	StateReceiving State = "receiving" // packets arrive
	StateClosing   State = "closing"   // ending: its id and port are free once it is gone
)

// closeCause tells the owner goroutine why it ends.
type closeCause int

const (
	causeAPI closeCause = iota
	causeTimeout
	causeStreamClosed
	causeRefused
	causeShutdown
)

func (c closeCause) String() string {
	return [...]string{"closed through the API", "no RTP packet within the timeout", "its stream was closed", "publish refused", "server shutting down"}[c]
}

// Server is one RTP port: an openRtpServer, or a shared port.
type Server struct {
	reg    *Registry
	opts   Options
	key    engine.Key
	id     uint64
	shared bool

	port    int
	udp     *net.UDPConn
	tcpLn   *net.TCPListener
	created time.Time

	ssrc        atomic.Uint32
	pausedUntil atomic.Int64 // unix ns; 0: not paused
	lastPacket  atomic.Int64 // unix ns of the last accepted packet; 0: none
	isEnding    atomic.Bool
	// ctx is cancelled when the server starts closing, ending waits on
	// on_publish.
	ctx      context.Context
	cancel   context.CancelFunc
	closeReq chan closeCause
	pokeCh   chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	conns    map[net.Conn]struct{} // TCP connections (passive or active)
	sessions map[uint32]*Session   // multiplexed: by SSRC
	probes   map[uint32]probe      // multiplexed: SSRCs seen once
	// newStreams bounds the streams a multiplexed port starts per second.
	newStreams rateLimit
	single     *Session       // one-stream server
	peer       netip.AddrPort // the UDP sender a one-stream server took
	closing    bool

	readers    sync.WaitGroup
	publishers sync.WaitGroup // sessions waiting on on_publish
	drops      dropCounts

	// batch holds the streams the UDP reader delivered packets to since
	// its last read; it flushes them after each (see flushBatch). Only
	// the UDP reader goroutine touches it.
	batch []*Session
}

// dropCounts are packets not delivered to any stream, by reason.
type dropCounts struct {
	invalid, ssrcMismatch, otherPeer, rtcp, tooMany, tcpRefused, truncated atomic.Int64
	warned                                                                 atomic.Int64 // unix ns of the last aggregated warning
}

func newServer(r *Registry, o Options, id uint64) *Server {
	s := &Server{
		reg: r, opts: o, key: o.key(), id: id,
		created:  time.Now(),
		closeReq: make(chan closeCause, 1),
		pokeCh:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
		sessions: make(map[uint32]*Session),
		probes:   make(map[uint32]probe),
		// Cameras come up a few at a time; a platform restarting brings
		// hundreds within seconds, which this still lets in.
		newStreams: rateLimit{n: 200},
	}
	s.ssrc.Store(o.SSRC)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// bind opens the sockets on port: UDP always, and a TCP listener for
// tcp_mode 1. Called under the registry lock; nothing is left open on
// failure.
func (s *Server) bind(port int, cfg Config) error {
	// Port 0 lets the system choose a UDP port whose TCP twin may be
	// taken (an outgoing connection's ephemeral port, say): choose again
	// rather than fail a request that named no port.
	for attempt := 0; ; attempt++ {
		err := s.bindOnce(port, cfg)
		if port != 0 || attempt == 9 || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
	}
}

func (s *Server) bindOnce(port int, cfg Config) error {
	ip := s.opts.LocalIP
	if ip == "::" {
		ip = ""
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	lc := net.ListenConfig{Control: socketControl(s.opts.ReusePort)}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return fmt.Errorf("rtp: listen udp %s: %w", addr, opCause(err))
	}
	udp := pc.(*net.UDPConn)
	if cfg.UDPReadBuffer > 0 {
		_ = udp.SetReadBuffer(cfg.UDPReadBuffer)
	}
	bound := udp.LocalAddr().(*net.UDPAddr).Port
	var ln *net.TCPListener
	if s.opts.TCPMode == TCPPassive {
		// The port UDP got (port 0 lets the system choose): one number
		// for both, as a camera is told one port.
		tcpAddr := net.JoinHostPort(ip, strconv.Itoa(bound))
		l, err := lc.Listen(context.Background(), "tcp", tcpAddr)
		if err != nil {
			udp.Close()
			return fmt.Errorf("rtp: listen tcp %s: %w", tcpAddr, opCause(err))
		}
		ln = l.(*net.TCPListener)
	}
	s.udp, s.tcpLn, s.port = udp, ln, bound
	return nil
}

// opCause drops the "listen udp ADDR:" prefix the caller already names.
func opCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// start runs the readers and the owner goroutine.
func (s *Server) start() {
	s.readers.Add(1)
	go func() {
		defer s.readers.Done()
		s.readUDP()
	}()
	if s.tcpLn != nil {
		s.readers.Add(1)
		go func() {
			defer s.readers.Done()
			s.acceptTCP()
		}()
	}
	go s.run()
}

// ending reports whether the server is on its way out: asked to close,
// or its stream was closed (close_streams) and the close request has not
// reached the owner yet.
func (s *Server) ending() bool {
	if s.isEnding.Load() {
		return true
	}
	s.mu.Lock()
	ss := s.single
	s.mu.Unlock()
	return ss != nil && ss.publisherGone()
}

func (s *Server) requestClose(c closeCause) {
	s.isEnding.Store(true)
	select {
	case s.closeReq <- c:
	default: // a close is already asked for
	}
}

// poke makes the owner look at its timers again (a pause changed).
func (s *Server) poke() {
	select {
	case s.pokeCh <- struct{}{}:
	default:
	}
}

func (s *Server) timeout() time.Duration {
	if t := s.reg.Config().Timeout; t > 0 {
		return t
	}
	return 15 * time.Second
}

// run owns the server's end: it waits for a close request or a timeout,
// then closes the sockets, the streams, leaves the registry, and only
// then reports the end.
func (s *Server) run() {
	defer s.reg.wg.Done()
	timer := time.NewTimer(s.timeout())
	defer timer.Stop()
	var cause closeCause
loop:
	for {
		select {
		case cause = <-s.closeReq:
			break loop
		case <-s.pokeCh:
		case <-timer.C:
		}
		next, expired := s.checkTimeouts(time.Now())
		if expired {
			cause = causeTimeout
			break loop
		}
		timer.Reset(next)
	}
	s.isEnding.Store(true)
	s.shutdown()
	s.reg.remove(s)
	close(s.done)
	if s.shared {
		return
	}
	s.reg.Log.Info("rtp server closed", "stream", s.key.String(), "port", s.port, "reason", cause.String())
	if cause == causeTimeout && s.reg.Notify != nil {
		s.reg.Notify.RTPServerTimeout(TimeoutInfo{
			LocalPort: s.port, Vhost: s.key.Vhost, App: s.key.App, StreamID: s.key.Stream,
			TCPMode: s.opts.TCPMode, ReusePort: s.opts.ReusePort, SSRC: s.ssrc.Load(),
		})
	}
}

// checkTimeouts ends silent streams of a multiplexed server, reports
// whether a one-stream server has timed out, and says when to look again.
func (s *Server) checkTimeouts(now time.Time) (time.Duration, bool) {
	timeout := s.timeout()
	next := timeout
	if s.opts.Multiplex {
		s.mu.Lock()
		var silent []*Session
		for ssrc, ss := range s.sessions {
			if ss.ended() {
				delete(s.sessions, ssrc)
				silent = append(silent, ss)
				continue
			}
			if left, expired := ss.timeLeft(now, timeout); expired {
				delete(s.sessions, ssrc)
				silent = append(silent, ss)
			} else if left < next {
				next = left
			}
		}
		s.mu.Unlock()
		for _, ss := range silent {
			ss.close("no RTP packet within the timeout")
		}
		return next, false // a multiplexed port outlives its streams
	}
	if until := s.pausedUntil.Load(); until > now.UnixNano() {
		return min(time.Duration(until-now.UnixNano()), timeout), false
	}
	last := s.lastPacket.Load()
	if last == 0 {
		last = s.created.UnixNano()
	}
	if until := s.pausedUntil.Load(); until > last {
		last = until // the pause just ended: count from its end
	}
	left := timeout - time.Duration(now.UnixNano()-last)
	if left <= 0 {
		return 0, true
	}
	return left, false
}

// shutdown closes the sockets, waits for the readers, and closes the
// streams (their publishers leave the engine).
func (s *Server) shutdown() {
	s.cancel()
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.udp.Close()
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
	s.readers.Wait()
	// Readers start publish goroutines; with the readers gone and the
	// context cancelled, none starts and the running ones return.
	s.publishers.Wait()
	s.mu.Lock()
	list := make([]*Session, 0, len(s.sessions)+1)
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	if s.single != nil {
		list = append(list, s.single)
	}
	s.sessions, s.single = map[uint32]*Session{}, nil
	s.mu.Unlock()
	for _, ss := range list {
		ss.close("rtp server closed")
	}
}

// Port is the bound port.
func (s *Server) Port() int { return s.port }

// DefaultMaxStreamsPerPort bounds the SSRCs one multiplexed port follows
// at once; more are dropped and counted until some time out.
const DefaultMaxStreamsPerPort = 4096

// maxPacket bounds an RTP packet (UDP datagram or RFC 4571 frame).
const maxPacket = 65535

// udpBufSize (reuse_unix.go, reuse_other.go) is the read buffer of an RTP
// server's UDP socket. Cameras send RTP in datagrams that fit an Ethernet
// frame (about 1400 bytes); 16 KiB leaves room for jumbo frames and odd
// senders, where the 64 KiB an IP datagram can reach would cost every
// waiting server (a platform opens one per camera call) 48 KiB more. A
// bigger datagram is dropped and counted (larger_than_16k), never
// half-read. Where the system reports truncation as an error rather than
// a flag (Windows), the buffer stays at maxPacket.

// readUDP reads the server's datagrams. A waiting server blocks in a
// read. Once packets flow, and while they do, it reads what arrived at
// each tick of the registry's shared clock (Config.MergeRead) in one go:
// a camera sends 25 to 400 datagrams a second, and a wake-up of this
// goroutine for each, times a thousand cameras, was most of the server's
// CPU. The pacing adds at most MergeRead to the latency; the socket's
// receive buffer (UDPReadBuffer) holds what arrives meanwhile.
func (s *Server) readUDP() {
	buf := make([]byte, udpBufSize)
	rc, rcErr := s.udp.SyscallConn()
	for {
		n, _, flags, from, err := s.udp.ReadMsgUDPAddrPort(buf, nil)
		if err != nil {
			s.udpReadFailed(err)
			return
		}
		s.datagram(buf[:n], flags, from)
		window := s.reg.Config().MergeRead
		s.flushBatch(window)
		if window > 0 && rcErr == nil && canDrainUDP {
			if err := s.pacedReads(rc, buf, window); err != nil {
				s.udpReadFailed(err)
				return
			}
		}
	}
}

// pacedReads drains the socket at each tick of the registry's clock
// until a tick finds nothing. The server holds a phase of the clock only
// while packets flow: a thousand servers waiting for a camera's call
// take no place in it.
func (s *Server) pacedReads(rc syscall.RawConn, buf []byte, window time.Duration) error {
	phase := s.reg.readClock.Join()
	defer s.reg.readClock.Leave(phase)
	deliver := func(n, flags int, from netip.AddrPort) { s.datagram(buf[:n], flags, from) }
	for {
		<-s.reg.readClock.Next(window, phase)
		got, err := drainUDP(rc, buf, deliver)
		window = s.reg.Config().MergeRead // the setting may have changed
		s.flushBatch(window)
		if err != nil || got == 0 {
			return err // quiet: wait in a read again
		}
		if window <= 0 {
			return nil // read each datagram as it comes
		}
	}
}

func (s *Server) udpReadFailed(err error) {
	if errors.Is(err, net.ErrClosed) {
		return
	}
	s.reg.Log.Warn("rtp udp read failed", "stream", s.key.String(), "port", s.port, "error", err.Error())
}

func (s *Server) datagram(b []byte, flags int, from netip.AddrPort) {
	if msgTrunc != 0 && flags&msgTrunc != 0 {
		s.drops.truncated.Add(1)
		s.warnDrops()
		return
	}
	s.packet(b, from, nil)
}

func (s *Server) acceptTCP() {
	for {
		c, err := s.tcpLn.Accept()
		if err != nil {
			return // closed
		}
		if err := s.track(c); err != nil {
			c.Close()
			if errors.Is(err, errClosing) {
				return
			}
			s.drops.tcpRefused.Add(1)
			s.warnDrops()
			continue
		}
		go func() {
			defer s.readers.Done()
			s.readTCP(c)
		}()
	}
}

// maxTCPConns bounds the TCP connections of one server: a camera needs
// one, a multiplexed port one per camera.
func (s *Server) maxTCPConns() int {
	if s.opts.Multiplex || s.shared {
		return s.reg.maxStreamsPerPort()
	}
	return 4
}

var errClosing = errors.New("rtp: server closing")

// track registers a TCP connection so shutdown can close it, and counts
// its reader goroutine in the same step, so shutdown's wait can never
// miss one.
func (s *Server) track(c net.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errClosing
	}
	if len(s.conns) >= s.maxTCPConns() {
		return fmt.Errorf("rtp: %d TCP connections already", len(s.conns))
	}
	s.conns[c] = struct{}{}
	s.readers.Add(1)
	return nil
}

func (s *Server) readTCP(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	from, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	fr := rtp.NewFrameReader(c)
	// A connection that goes quiet for the RTP timeout ends, whatever the
	// server does (a shared port never times out). The deadline moves
	// when half of it is used, not at every packet.
	var deadline time.Time
	for {
		if now := time.Now(); deadline.Sub(now) < s.timeout()/2 {
			deadline = now.Add(s.timeout())
			_ = c.SetReadDeadline(deadline)
		}
		pkt, err := fr.ReadPacket()
		if err != nil {
			return
		}
		s.packet(pkt, from, c)
	}
}

// connect dials the sender for tcp_mode 2, from the server's port.
func (s *Server) connect(ctx context.Context, to netip.AddrPort) error {
	if s.opts.TCPMode != TCPActive {
		return fmt.Errorf("connectRtpServer needs an RTP server opened with tcp_mode 2")
	}
	d := net.Dialer{
		LocalAddr: &net.TCPAddr{Port: s.port},
		Control:   socketControl(true),
		Timeout:   5 * time.Second,
	}
	// Closing the server cancels a dial in progress, so it does not hold
	// the port after the server is gone.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	c, err := d.DialContext(ctx, "tcp", to.String())
	if err != nil {
		return fmt.Errorf("rtp: connect %s: %w", to, err)
	}
	if err := s.track(c); err != nil {
		c.Close()
		return fmt.Errorf("rtp: connect %s: %w", to, err)
	}
	go func() {
		defer s.readers.Done()
		s.readTCP(c)
	}()
	return nil
}

// packet handles one RTP packet from a socket. It runs in the socket's
// reader goroutine; b is reused after it returns.
func (s *Server) packet(b []byte, from netip.AddrPort, conn net.Conn) {
	// A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d.
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if len(b) < 12 || b[0]>>6 != 2 {
		s.drops.invalid.Add(1)
		return
	}
	if rtp.IsRTCP(b) {
		s.drops.rtcp.Add(1) // RTCP sent to the RTP port (rtcp-mux)
		return
	}
	p := new(pionrtp.Packet)
	if err := p.Unmarshal(append([]byte(nil), b...)); err != nil {
		s.drops.invalid.Add(1)
		return
	}
	if want := s.ssrc.Load(); want != 0 && p.SSRC != want {
		s.drops.ssrcMismatch.Add(1)
		s.warnDrops()
		return
	}
	ss, pkts := s.sessionFor(p, from, conn)
	if ss == nil {
		return
	}
	now := time.Now()
	s.lastPacket.Store(now.UnixNano())
	udp := conn == nil
	for _, q := range pkts {
		ss.push(q, now, udp)
	}
	if udp && !ss.inBatch {
		ss.inBatch = true
		s.batch = append(s.batch, ss)
	}
}

// flushBatch wakes the players of the streams that got packets in the
// UDP reader's last read, once per stream and read: with the reads paced
// every window (Config.MergeRead, as it is now), a read's frames then
// reach the players together (engine.Publisher's DeferWakes).
func (s *Server) flushBatch(window time.Duration) {
	for i, ss := range s.batch {
		ss.inBatch = false
		ss.flush(window)
		s.batch[i] = nil
	}
	s.batch = s.batch[:0]
}

// sessionFor returns the stream a packet belongs to, creating it when its
// SSRC has proved itself. A one-stream server takes the first sender and
// follows it if its address changes (NAT rebinding) while its SSRC stays;
// another address with another SSRC is dropped (a second camera, or a
// stale one sending to a reused port). Called with the packet p; it may
// hold p back during probation and return the packets to deliver.
func (s *Server) sessionFor(p *pionrtp.Packet, from netip.AddrPort, conn net.Conn) (*Session, []*pionrtp.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, nil
	}
	ssrc := p.SSRC
	if s.opts.Multiplex {
		if ss := s.sessions[ssrc]; ss != nil {
			return ss, []*pionrtp.Packet{p}
		}
		held, ok := s.probation(p)
		if !ok {
			return nil, nil
		}
		if len(s.sessions) >= s.reg.maxStreamsPerPort() || !s.newStreams.allow(time.Now()) {
			// A flood of made-up SSRCs must not become a flood of
			// streams, hooks and memory.
			s.drops.tooMany.Add(1)
			return nil, nil
		}
		key := engine.NewKey(s.opts.Vhost, s.opts.App, SSRCStreamID(ssrc))
		ss := newSession(s, key, ssrc, from, conn)
		s.sessions[ssrc] = ss
		return ss, append(held, p)
	}
	if s.single == nil {
		s.single = newSession(s, s.key, ssrc, from, conn)
		if conn == nil {
			s.peer = from
		}
		return s.single, []*pionrtp.Packet{p}
	}
	if conn == nil && s.peer.IsValid() && from != s.peer {
		if ssrc != s.single.ssrc {
			s.drops.otherPeer.Add(1)
			return nil, nil
		}
		s.reg.Log.Info("rtp sender moved", "stream", s.key.String(), "from", s.peer.String(), "to", from.String())
		s.peer = from
		s.single.moveTo(from)
	}
	return s.single, []*pionrtp.Packet{p}
}

// probationSize bounds the SSRCs on probation at once.
const probationSize = 1024

// probe is an SSRC seen once: it becomes a stream at its next packet in
// sequence (RFC 3550's MIN_SEQUENTIAL), so one spoofed packet per SSRC
// does not.
type probe struct {
	seq uint16
	at  time.Time
	p   *pionrtp.Packet
}

// probation reports whether p confirms its SSRC, and the packet it held
// (under s.mu).
func (s *Server) probation(p *pionrtp.Packet) ([]*pionrtp.Packet, bool) {
	now := time.Now()
	if pr, ok := s.probes[p.SSRC]; ok {
		delete(s.probes, p.SSRC)
		if d := p.SequenceNumber - pr.seq; d >= 1 && d <= 3 && now.Sub(pr.at) < 5*time.Second {
			return []*pionrtp.Packet{pr.p}, true
		}
	}
	if len(s.probes) >= probationSize {
		clear(s.probes)
	}
	s.probes[p.SSRC] = probe{seq: p.SequenceNumber, at: now, p: p}
	return nil, false
}

// rateLimit allows n events per second (under s.mu).
type rateLimit struct {
	n      int
	second int64
	count  int
}

func (r *rateLimit) allow(now time.Time) bool {
	if sec := now.Unix(); sec != r.second {
		r.second, r.count = sec, 0
	}
	r.count++
	return r.count <= r.n
}

// warnDrops logs dropped packets at most once every 10 s per server.
func (s *Server) warnDrops() {
	now := time.Now().UnixNano()
	last := s.drops.warned.Load()
	if now-last < int64(10*time.Second) || !s.drops.warned.CompareAndSwap(last, now) {
		return
	}
	s.reg.Log.Warn("rtp packets dropped", "stream", s.key.String(), "port", s.port,
		"ssrc_mismatch", s.drops.ssrcMismatch.Load(), "other_sender", s.drops.otherPeer.Load(),
		"invalid", s.drops.invalid.Load(), "too_many_streams", s.drops.tooMany.Load(),
		"tcp_refused", s.drops.tcpRefused.Load(), "larger_than_16k", s.drops.truncated.Load(), "want_ssrc", s.ssrc.Load())
}

// socketControl sets SO_REUSEADDR (and SO_REUSEPORT with reuse) so a
// port just closed can be bound again at once.
func socketControl(reuse bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = setReuse(fd, network, reuse)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
