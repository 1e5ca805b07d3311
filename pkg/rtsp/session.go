package rtsp

import (
	"log/slog"
	"sync"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// rtspSession is one RTSP session: a player (DESCRIBE/SETUP/PLAY) or a
// publisher (ANNOUNCE/SETUP/RECORD). gortsplib runs its request
// callbacks in the session's goroutine; packets and the close come from
// others, hence mu.
type rtspSession struct {
	srv  *Server
	ss   *gortsplib.ServerSession
	conn *conn // the connection that opened it

	mu     sync.Mutex
	closed bool
	player *player
	pub    *publisher
	done   chan struct{} // closed when gortsplib closed the session
}

func newRTSPSession(srv *Server, ss *gortsplib.ServerSession, c *conn) *rtspSession {
	return &rtspSession{srv: srv, ss: ss, conn: c, done: make(chan struct{})}
}

func (s *rtspSession) log() *slog.Logger {
	if s.conn != nil {
		return s.conn.log
	}
	return s.srv.Log
}

// close runs when gortsplib closed the session.
func (s *rtspSession) close(reason error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	p, pub := s.player, s.pub
	s.mu.Unlock()
	close(s.done)
	if p != nil {
		p.close()
	}
	if pub != nil {
		pub.close(reason)
	}
}

func (s *rtspSession) setupPlay(h *handler, c *conn, ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s.mu.Lock()
	p, pub := s.player, s.pub
	s.mu.Unlock()
	if pub != nil {
		return &base.Response{StatusCode: base.StatusMethodNotValidInThisState}, nil, nil
	}
	if p == nil {
		pp := c.takePending(ctx.Path, ctx.Query)
		if pp == nil {
			// SETUP without a DESCRIBE on this connection (some clients
			// describe on another connection, or not at all).
			var res *base.Response
			var err error
			pp, res, err = h.preparePlay(c, ctx.Request, ctx.Path, ctx.Query)
			if pp == nil {
				return res, nil, err
			}
		}
		p = newPlayer(s, pp)
		s.mu.Lock()
		closed := s.closed
		if !closed {
			s.player = p
		}
		s.mu.Unlock()
		if closed {
			pp.close()
			return &base.Response{StatusCode: base.StatusSessionNotFound}, nil, nil
		}
	}
	idx := setupTrackID(ctx.Request.URL)
	if idx >= 0 && idx < len(p.medias) {
		p.markSetup(idx)
		if ctx.Transport.Protocol == gortsplib.ProtocolTCP {
			c.mu.Lock()
			c.setupFor, c.setupIndex = p, idx
			c.mu.Unlock()
		}
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

func (s *rtspSession) play(c *conn, ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	s.mu.Lock()
	p := s.player
	s.mu.Unlock()
	if p == nil {
		return &base.Response{StatusCode: base.StatusMethodNotValidInThisState}, nil
	}
	if p.isStarted() {
		return &base.Response{StatusCode: base.StatusOK}, nil // PLAY again: go on
	}
	tr := ctx.Session.Transport()
	direct := tr != nil && tr.Protocol == gortsplib.ProtocolTCP && c.nc != nil &&
		ctx.Conn.Transport().Tunnel == gortsplib.TunnelNone && p.channelsKnown()
	var gate <-chan struct{}
	if c.nc != nil {
		// The PLAY response is the next thing written on the connection
		// that sent PLAY: media must follow it.
		gate = c.nc.afterNextWrite()
	}
	if !p.start(c, direct, gate) {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *rtspSession) packetsLost(n uint64) {
	s.mu.Lock()
	pub := s.pub
	s.mu.Unlock()
	if pub != nil {
		pub.lost.Add(n)
	}
}

func (s *rtspSession) decodeError(err error) {
	s.mu.Lock()
	pub := s.pub
	s.mu.Unlock()
	if pub != nil {
		pub.decodeError(err)
		return
	}
	s.log().Debug("rtsp decode error", "error", err.Error())
}
