package rtpsend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// detachTimeout bounds the wait for the stream's owner when a sender
// ends; the sink itself is unblocked by closing its reader and link.
const detachTimeout = 10 * time.Second

// sender is one RTP sender. Its goroutine (run) owns its life; stop may
// be called from anywhere, any number of times: the first cause wins.
type sender struct {
	m      *Manager
	o      Options
	ssrc   uint32
	id     senderKey
	name   string // the sink's name
	origin StoppedInfo
	log    *slog.Logger
	since  time.Time

	// Set by open, before the sender is shared.
	port     int
	ln       *net.TCPListener // passive TCP, until the peer connects
	udp      *net.UDPConn     // passive UDP
	talkDone <-chan struct{}
	// link is set by open (active, talk) or by run (passive) before the
	// sink is attached, which orders it before the sink's reads.
	link link
	peer atomic.Pointer[string]

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc

	mu      sync.Mutex // guards what follows; never held across I/O
	stopped bool
	why     cause
	closers []func()

	ready    chan error    // active and talk: the outcome of Start
	sinkDone chan struct{} // closed when the sink's Run returned
	done     chan struct{} // closed when everything is freed and reported
	wg       sync.WaitGroup
	meter    meter

	// Owned by the run goroutine.
	attached  bool
	announced bool // Start reported success: the end is notified
}

func newSender(m *Manager, o Options, ssrc uint32, info engine.StreamInfo) *sender {
	s := &sender{
		m: m, o: o, ssrc: ssrc, id: senderKey{o.Key, ssrc},
		name:      "rtp-send-" + strconv.FormatUint(uint64(ssrc), 10),
		log:       m.Log.With("stream", o.Key.String(), "ssrc", o.SSRC),
		since:     time.Now(),
		ready:     make(chan error, 1),
		sinkDone:  make(chan struct{}),
		done:      make(chan struct{}),
		announced: o.Mode.Passive(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.origin = StoppedInfo{Key: o.Key, SSRC: o.SSRC, OriginURL: zlm.OriginURL(info)}
	if info.Publisher != nil {
		s.origin.Params = info.Publisher.Params
		s.origin.Origin = zlm.Origin(info.Publisher.Protocol)
	}
	return s
}

// open connects an active sender, binds a passive one, or finds the
// link of a talk sender.
func (s *sender) open(ctx context.Context) error {
	o := s.o
	switch o.Mode {
	case TCPActive, UDPActive:
		network := "tcp"
		d := net.Dialer{Timeout: o.connectTimeout()}
		if o.SrcPort != 0 {
			d.LocalAddr = &net.TCPAddr{Port: o.SrcPort}
		}
		if o.Mode == UDPActive {
			network = "udp"
			if o.SrcPort != 0 {
				d.LocalAddr = &net.UDPAddr{Port: o.SrcPort}
			}
		}
		addr := net.JoinHostPort(o.DstURL, strconv.Itoa(o.DstPort))
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return netCause("rtpsend: connect "+network+" "+addr, err)
		}
		if o.Mode == TCPActive {
			s.useTCP(conn)
		} else {
			u := conn.(*net.UDPConn)
			_ = u.SetWriteBuffer(4 << 20) // a keyframe leaves in a burst
			s.setLink(&udpLink{conn: u, timeout: s.m.writeTimeout()})
		}
		s.port = s.link.localPort()
	case TCPPassive:
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{Port: o.SrcPort})
		if err != nil {
			return fmt.Errorf("rtpsend: listen tcp port %d: %w", o.SrcPort, err)
		}
		s.ln, s.port = ln, addrPort(ln.Addr())
		s.onStop(func() { _ = ln.Close() })
	case UDPPassive:
		conn, err := net.ListenUDP("udp", &net.UDPAddr{Port: o.SrcPort})
		if err != nil {
			return fmt.Errorf("rtpsend: listen udp port %d: %w", o.SrcPort, err)
		}
		_ = conn.SetWriteBuffer(4 << 20)
		s.udp, s.port = conn, addrPort(conn.LocalAddr())
		s.onStop(func() { _ = conn.Close() })
	case VoiceTalk:
		key := o.talkKey()
		if s.m.Talker == nil {
			return fmt.Errorf("%w: %s (no RTP server)", ErrTalkNotFound, key)
		}
		send, done, err := s.m.Talker.Talk(key)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrTalkNotFound, key, err)
		}
		if s.m.TalkPort != nil {
			s.port = s.m.TalkPort(key)
		}
		s.talkDone = done
		s.setLink(&talkLink{send: send, port: s.port, key: key.String()})
	}
	return nil
}

// setLink makes l the sender's link; stop closes it.
func (s *sender) setLink(l link) {
	s.link = l
	p := l.peer()
	s.peer.Store(&p)
	s.onStop(l.close)
}

// useTCP sends over conn and reads from it, so a peer that leaves is
// noticed at once (what it sends, RTCP say, is discarded).
func (s *sender) useTCP(conn net.Conn) {
	s.setLink(&tcpLink{conn: conn, timeout: s.m.writeTimeout()})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 2048)
		for {
			if _, err := conn.Read(buf); err != nil {
				if errors.Is(err, io.EOF) {
					s.stop(causePeerClosed)
				} else {
					s.stop(netCause("rtpsend: read from "+conn.RemoteAddr().String(), err))
				}
				return
			}
		}
	}()
}

// onStop runs fn when the sender stops, at once if it has.
func (s *sender) onStop(fn func()) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		fn()
		return
	}
	s.closers = append(s.closers, fn)
	s.mu.Unlock()
}

// stop ends the sender for c (unless it was stopped already): its
// sockets and its reader are closed, which unblocks every wait and
// write; run then frees the rest and reports.
func (s *sender) stop(c cause) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped, s.why = true, c
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	s.cancel()
	for _, fn := range closers {
		fn()
	}
}

func (s *sender) cause() cause {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

// abort frees a sender that never ran.
func (s *sender) abort() {
	s.stop(causeCancelled)
	s.wg.Wait()
}

// run is the sender's goroutine: it waits for the sender it replaces to
// be gone, for a passive peer, attaches the sink, and waits for the end.
func (s *sender) run(old *sender) {
	defer s.m.wg.Done()
	defer s.finish()
	if old != nil {
		old.stop(causeReplaced)
		<-old.done
	}
	if s.o.Mode.Passive() && !s.waitPeer() {
		return
	}
	err := s.m.Engine.AttachSink(s.ctx, s.o.Key, s.name, func() engine.Sink { return s })
	if err != nil {
		c := cause{ErrCodeOther, "rtpsend: attach to " + s.o.Key.String() + ": " + err.Error()}
		switch {
		case s.ctx.Err() != nil: // stopped while attaching: say why
			err = fmt.Errorf("rtpsend: sender of %s stopped: %s", s.o.Key, s.cause().msg)
		case errors.Is(err, engine.ErrNotFound):
			c, err = causeStreamEnd, fmt.Errorf("%w: %s", ErrStreamNotFound, s.o.Key)
		}
		s.stop(c)
		s.ready <- err
		return
	}
	s.attached, s.announced = true, true
	s.ready <- nil
	s.log.Info("rtp sender started", "mode", s.o.Mode.String(), "type", s.o.Format.String(),
		"local_port", s.port, "peer", *s.peer.Load(), "pt", s.o.PayloadType)
	select {
	case <-s.ctx.Done():
	case <-s.sinkDone:
	case <-s.talkDone: // nil, so never, unless talking
		s.stop(causeTalkEnded)
	}
}

// waitPeer waits for a passive sender's peer: a TCP client, or the first
// datagram, whose source address packets then go to.
func (s *sender) waitPeer() bool {
	deadline := time.Now().Add(s.o.passiveWait())
	if s.ln != nil {
		_ = s.ln.SetDeadline(deadline)
		conn, err := s.ln.Accept()
		_ = s.ln.Close() // one peer
		if err != nil {
			if isTimeout(err) {
				s.stop(cause{ErrCodeTimeout, "wait tcp connection timeout"})
			} else {
				s.stop(netCause(fmt.Sprintf("rtpsend: accept on tcp port %d", s.port), err))
			}
			return false
		}
		s.useTCP(conn)
	} else {
		_ = s.udp.SetReadDeadline(deadline)
		buf := make([]byte, 2048)
		_, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if isTimeout(err) {
				s.stop(cause{ErrCodeTimeout, "wait udp connection timeout"})
			} else {
				s.stop(netCause(fmt.Sprintf("rtpsend: read on udp port %d", s.port), err))
			}
			return false
		}
		_ = s.udp.SetReadDeadline(time.Time{})
		s.setLink(&udpLink{conn: s.udp, to: from, timeout: s.m.writeTimeout()})
	}
	s.log.Info("rtp sender peer arrived", "local_port", s.port, "peer", *s.peer.Load())
	return s.ctx.Err() == nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// finish frees what is left once the sender has stopped, takes it out of
// the manager and reports the end, once.
func (s *sender) finish() {
	s.stop(cause{ErrCodeOther, "sender ended"}) // a no-op: every path stops first
	if s.attached {
		ctx, cancel := context.WithTimeout(context.Background(), detachTimeout)
		if _, err := s.m.Engine.DetachSink(ctx, s.o.Key, s.name); err != nil && !errors.Is(err, engine.ErrEngineClosed) {
			s.log.Warn("rtp sender: detach from the stream failed", "error", err.Error())
		}
		cancel()
		<-s.sinkDone
	}
	s.wg.Wait()
	s.m.remove(s)
	why := s.cause()
	bytes := s.meter.total.Load()
	s.log.Info("rtp sender stopped", "reason", why.msg, "err", why.code, "bytes", bytes,
		"duration", time.Since(s.since).Round(time.Millisecond).String())
	if s.announced && s.m.Notify != nil {
		info := s.origin
		info.Msg, info.Err = why.msg, why.code
		s.m.Notify.SendRTPStopped(info)
	}
	close(s.done)
}

// info is a snapshot for List.
func (s *sender) info(now time.Time) Info {
	in := Info{
		Key: s.o.Key, SSRC: s.o.SSRC, Mode: s.o.Mode, Format: s.o.Format, LocalPort: s.port, Since: s.since,
		BytesSent: s.meter.total.Load(), BytesPerSecond: s.meter.rate(now, s.since),
	}
	if p := s.peer.Load(); p != nil {
		in.Peer = *p
	}
	return in
}
