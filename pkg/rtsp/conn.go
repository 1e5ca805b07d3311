package rtsp

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/session"
)

// conn is one RTSP connection (one TCP or TLS connection, one id in
// getAllSession). Its gortsplib callbacks run in the connection's
// goroutine (DESCRIBE, responses) and in its sessions' goroutines
// (SETUP, PLAY, ANNOUNCE, RECORD), so its mutable state is under mu.
type conn struct {
	s      *Server
	sc     *gortsplib.ServerConn
	nc     *netConn // nil when the connection is an HTTP tunnel
	id     string
	secure bool
	log    *slog.Logger
	// ctx ends when the connection closes or the server shuts down: a
	// DESCRIBE waiting for its stream stops waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	pending  *pendingPlay         // DESCRIBE answered, no SETUP yet
	sessions map[*rtspSession]int // sessions this connection drives
	// setupFor is the play session whose SETUP response comes next: its
	// Transport header tells the interleaved channel of the media.
	setupFor   *player
	setupIndex int
	nonce      string
	realmKey   engine.Key
	realm      string
	realmKnown bool
	// refs keeps the registry entry while the connection or any of its
	// sessions (a UDP session outlives its connection) is open.
	refs   int
	remove func()
}

func newConn(s *Server, sc *gortsplib.ServerConn, secure bool) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	id := "rtsp-" + uitoa(s.nextID.Add(1))
	c := &conn{
		s:        s,
		sc:       sc,
		id:       id,
		secure:   secure,
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[*rtspSession]int),
		refs:     1,
	}
	c.nc, _ = sc.NetConn().(*netConn)
	c.log = s.Log.With("session", id, "remote", remoteString(sc.NetConn()))
	return c
}

func uitoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func remoteString(nc net.Conn) string {
	if a := nc.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

func (c *conn) protocol() string {
	if c.secure {
		return "rtsps"
	}
	return "rtsp"
}

// register lists the connection for getAllSession; kick_session closes
// it and every session it drives.
func (c *conn) register() {
	if c.s.Registry == nil {
		return
	}
	nc := c.sc.NetConn()
	c.remove = c.s.Registry.Add(session.Info{ID: c.id, Protocol: c.protocol(), TypeID: "mediakit::RtspSession",
		Local: nc.LocalAddr(), Remote: nc.RemoteAddr()}, c.kick)
}

func (c *conn) kick() {
	c.mu.Lock()
	sessions := make([]*rtspSession, 0, len(c.sessions))
	for s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()
	c.sc.Close()
	for _, s := range sessions {
		s.ss.Close()
	}
}

// unref drops one reference to the registry entry (see refs).
func (c *conn) unref() {
	c.mu.Lock()
	c.refs--
	done := c.refs == 0
	c.mu.Unlock()
	if done && c.remove != nil {
		c.remove()
	}
}

// link ties a session to this connection.
func (c *conn) link(s *rtspSession) {
	c.mu.Lock()
	if c.sessions[s] == 0 {
		c.refs++
	}
	c.sessions[s]++
	c.mu.Unlock()
}

func (c *conn) unlink(s *rtspSession) {
	c.mu.Lock()
	_, ok := c.sessions[s]
	delete(c.sessions, s)
	c.mu.Unlock()
	if ok {
		c.unref()
	}
}

// closeConn runs when gortsplib closed the connection.
func (c *conn) closeConn() {
	c.cancel()
	c.mu.Lock()
	c.closed = true
	p := c.pending
	c.pending = nil
	c.setupFor = nil
	c.mu.Unlock()
	p.close()
	c.unref()
}

// sessionInfo describes the connection to the engine and the hooks.
func (c *conn) sessionInfo(query string, req *base.Request) engine.SessionInfo {
	nc := c.sc.NetConn()
	info := engine.SessionInfo{
		ID:       c.id,
		Protocol: c.protocol(),
		Remote:   remoteString(nc),
		Local:    nc.LocalAddr().String(),
		Params:   query,
	}
	// A Basic or Bearer Authorization is for the built-in auth rules,
	// as over HTTP; a Digest one answers the RTSP realm (auth.go).
	if req != nil {
		if v := req.Header["Authorization"]; len(v) == 1 &&
			(strings.HasPrefix(v[0], "Basic ") || strings.HasPrefix(v[0], "Bearer ")) {
			info.Authorization = v[0]
		}
	}
	return info
}

// setPending keeps the player a DESCRIBE prepared for the SETUP that
// follows, replacing (and closing) an earlier one. A player that is not
// set up within timeout is closed: its reader would hold the stream's
// frames from its GOP on.
func (c *conn) setPending(p *pendingPlay, timeout time.Duration) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	old := c.pending
	c.pending = p
	p.timer = time.AfterFunc(timeout, func() { c.dropPending(p) })
	c.mu.Unlock()
	old.close()
	return true
}

// takePending hands the prepared player of path to a SETUP.
func (c *conn) takePending(path, query string) *pendingPlay {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending
	if p == nil || p.path != path || p.query != query {
		return nil
	}
	c.pending = nil
	p.timer.Stop()
	return p
}

// dropPending closes p if it is still pending (its SETUP never came).
func (c *conn) dropPending(p *pendingPlay) {
	c.mu.Lock()
	mine := c.pending == p
	if mine {
		c.pending = nil
	}
	c.mu.Unlock()
	if mine {
		c.log.Info("rtsp player did not set up in time", "stream", p.key.String())
		p.close()
	}
}
