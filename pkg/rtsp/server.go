package rtsp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/session"
)

// Engine is what the RTSP server needs from the engine.
type Engine interface {
	Publish(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Publisher, error)
	Play(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Reader, error)
}

// SessionRegistry lists open connections for the API (getAllSession,
// kick_session).
type SessionRegistry interface {
	Add(info session.Info, close func()) (remove func())
}

// RealmAuth is ZLMediaKit's RTSP-specific player authentication
// (on_rtsp_realm, on_rtsp_auth): when Realm names a realm for a stream,
// its players must answer a Digest challenge, checked against the
// password Password returns, instead of going through on_play.
type RealmAuth interface {
	// Realm returns the realm of a stream's players; "" means no RTSP
	// authentication. An error refuses the player.
	Realm(ctx context.Context, key engine.Key, info engine.SessionInfo) (string, error)
	// Password returns user's password in realm, or with encrypted
	// MD5(user:realm:password); mustNoEncrypt asks for the password
	// itself (a Basic answer). An error refuses the player.
	Password(ctx context.Context, key engine.Key, info engine.SessionInfo, realm, user string, mustNoEncrypt bool) (encrypted bool, password string, err error)
	// Authenticated marks ctx as the context of a player that passed the
	// realm's authentication, so that the engine's authorizer skips
	// on_play for it, as ZLMediaKit does.
	Authenticated(ctx context.Context) context.Context
}

// Config names the listeners; an empty address is off.
type Config struct {
	// Addr is the RTSP listener (TCP; RTP interleaved on it too).
	Addr string
	// RTPAddr and RTCPAddr are the UDP ports of the UDP transport: RTP
	// on an even port, RTCP on the next. Both with port 0 pick a free
	// pair; both empty turn UDP off.
	RTPAddr, RTCPAddr string
	// TLSAddr serves RTSPS (RTSP over TLS, TCP transport) with TLS.
	TLSAddr string
	TLS     *tls.Config
}

// Server serves RTSP play and publish (ANNOUNCE/RECORD) over gortsplib,
// through the engine: every player is an engine reader, every publisher
// an engine publisher.
type Server struct {
	Engine Engine
	Log    *slog.Logger
	// Registry, if set, lists the server's connections.
	Registry SessionRegistry
	// Realm, if set, asks for RTSP Digest authentication of players.
	Realm RealmAuth
	// Limit, if set, wraps the TCP listeners (connection limits); name
	// is "rtsp" or "rtsps".
	Limit func(ln net.Listener, name string) net.Listener
	// WriteTimeout cuts a player whose socket accepts nothing for this
	// long. ReadTimeout ends a publisher that sends nothing for this
	// long. IdleTimeout ends a connection or a player that sends no
	// request (nor RTCP) for this long.
	WriteTimeout time.Duration
	ReadTimeout  time.Duration
	IdleTimeout  time.Duration
	// SetupTimeout closes a player that asked for a stream (DESCRIBE)
	// and did not start playing it within this time.
	SetupTimeout time.Duration

	mu       sync.Mutex
	closed   bool
	started  bool
	ln       *srvListener
	tlsLn    *srvListener
	udp      *udpPair
	plain    *gortsplib.Server
	secure   *gortsplib.Server
	conns    map[*conn]struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // players' goroutines
	nextID   atomic.Uint64
	udpAddrs [2]string
}

// NewServer returns a server with default timeouts.
func NewServer(e Engine, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		Engine:       e,
		Log:          log,
		WriteTimeout: 15 * time.Second,
		ReadTimeout:  15 * time.Second,
		IdleTimeout:  60 * time.Second,
		SetupTimeout: 10 * time.Second,
		conns:        make(map[*conn]struct{}),
		ctx:          ctx,
		cancel:       cancel,
	}
}

// Listen binds every listener of cfg; on an error nothing stays bound.
// Serving starts with Start.
func (s *Server) Listen(cfg Config) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	if s.ln != nil || s.tlsLn != nil {
		return errors.New("rtsp: already listening")
	}
	defer func() {
		if err != nil {
			s.closeListeners()
		}
	}()
	if cfg.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return fmt.Errorf("rtsp: listen %s: %w", cfg.Addr, listenErrCause(err))
		}
		s.ln = newSrvListener(s.limit(ln, "rtsp"), nil, s.acceptError("rtsp"))
		if cfg.RTPAddr != "" || cfg.RTCPAddr != "" {
			if cfg.RTPAddr == "" || cfg.RTCPAddr == "" {
				return errors.New("rtsp: the RTP and RTCP addresses of the UDP transport go together")
			}
			s.udp, err = listenUDPPair(cfg.RTPAddr, cfg.RTCPAddr)
			if err != nil {
				return err
			}
			s.udpAddrs = [2]string{s.udp.rtp.LocalAddr().String(), s.udp.rtcp.LocalAddr().String()}
		}
	}
	if cfg.TLSAddr != "" && cfg.TLS != nil {
		ln, err := net.Listen("tcp", cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("rtsps: listen %s: %w", cfg.TLSAddr, listenErrCause(err))
		}
		s.tlsLn = newSrvListener(s.limit(ln, "rtsps"), cfg.TLS, s.acceptError("rtsps"))
	}
	return nil
}

func (s *Server) limit(ln net.Listener, name string) net.Listener {
	if s.Limit == nil {
		return ln
	}
	return s.Limit(ln, name)
}

func (s *Server) acceptError(name string) func(error, time.Duration) {
	return func(err error, delay time.Duration) {
		s.Log.Warn(name+" accept failed", "error", err.Error(), "retry_in", delay.String())
	}
}

func (s *Server) closeListeners() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
	s.udp.close()
}

// Start serves on the listeners Listen bound.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	if s.started {
		return errors.New("rtsp: already started")
	}
	s.started = true
	if s.ln != nil {
		srv := s.newGortsplib(s.ln, false)
		if s.udp != nil {
			srv.UDPRTPAddress, srv.UDPRTCPAddress = s.udpAddrs[0], s.udpAddrs[1]
			srv.ListenPacket = s.udp.listenPacket()
		}
		if err := srv.Start(); err != nil {
			s.closeListeners()
			return fmt.Errorf("rtsp: start: %w", err)
		}
		s.plain = srv
	}
	if s.tlsLn != nil {
		srv := s.newGortsplib(s.tlsLn, true)
		if err := srv.Start(); err != nil {
			s.closeListeners()
			if s.plain != nil {
				s.plain.Close()
				s.plain = nil
			}
			return fmt.Errorf("rtsps: start: %w", err)
		}
		s.secure = srv
	}
	return nil
}

// newGortsplib returns a gortsplib server on ln. RTSPS is served by a
// server that does not know it: its connections come out of ln already
// wrapped in TLS, so gortsplib describes plain RTP/AVP (over the TLS
// connection) rather than SRTP, which ffmpeg and most players lack.
func (s *Server) newGortsplib(ln *srvListener, secure bool) *gortsplib.Server {
	h := &handler{s: s, secure: secure}
	// The first request is read within IdleTimeout, as every later
	// one is.
	ln.firstRead = s.IdleTimeout
	srv := &gortsplib.Server{
		Handler:      h,
		RTSPAddress:  ln.Addr().String(),
		ReadTimeout:  s.ReadTimeout,
		WriteTimeout: s.WriteTimeout,
		IdleTimeout:  s.IdleTimeout,
		// A GOP burst to a UDP player queues here; see player.writeSession.
		WriteQueueSize: 256,
		MaxPacketSize:  1472,
		Listen: func(string, string) (net.Listener, error) {
			return ln, nil
		},
	}
	h.srv = srv
	return srv
}

// Close stops accepting, closes every connection and session, and waits
// for the goroutines of players.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	plain, secure := s.plain, s.secure
	if !s.started {
		s.closeListeners()
	}
	s.mu.Unlock()
	s.cancel()
	if plain != nil {
		plain.Close()
	}
	if secure != nil {
		secure.Close()
	}
	s.wg.Wait()
}

// Addr is the bound RTSP address, or "" when off.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// TLSAddr is the bound RTSPS address, or "" when off.
func (s *Server) TLSAddr() string {
	if s.tlsLn == nil {
		return ""
	}
	return s.tlsLn.Addr().String()
}

// UDPAddrs are the bound RTP and RTCP addresses of the UDP transport, or
// "" when off.
func (s *Server) UDPAddrs() (rtp, rtcp string) { return s.udpAddrs[0], s.udpAddrs[1] }

// Sessions returns the number of open connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) addConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// goPlayer runs fn in a goroutine Close waits for, unless the server is
// closing.
func (s *Server) goPlayer(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}
