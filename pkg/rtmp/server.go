package rtmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mediakit/mediakit/internal/pace"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/internal/pushwrite"
	"github.com/mediakit/mediakit/pkg/session"
)

// Engine is what the RTMP server needs from the engine.
type Engine interface {
	Publish(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Publisher, error)
	Play(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Reader, error)
}

// SessionRegistry lists open connections for the API (getAllSession,
// kick_session).
type SessionRegistry interface {
	Add(info session.Info, close func()) (remove func())
}

// Server accepts RTMP connections for publishing and playing.
type Server struct {
	Engine Engine
	Log    *slog.Logger
	// Registry, if set, lists the server's connections.
	Registry SessionRegistry
	Limits   Limits
	// HandshakeTimeout bounds the handshake and the commands up to
	// publish or play.
	HandshakeTimeout time.Duration
	// IdleTimeout ends a publisher that sends nothing for this long once
	// its media flows.
	IdleTimeout time.Duration
	// MergeRead paces a publisher's reads (mergedReader); 0 reads each
	// message as it arrives.
	MergeRead time.Duration
	// FirstPacketTimeout is how long a publisher may take, after
	// NetStream.Publish.Start, to send its first audio or video message.
	FirstPacketTimeout time.Duration
	// WriteTimeout ends a player whose socket accepts nothing for this
	// long.
	WriteTimeout time.Duration
	// Writers, if set, writes the players' streams, shared with other
	// servers (the caller closes it after them); nil: a pool of the
	// server's own.
	Writers *pushwrite.Pool

	readClock pace.Clock     // paces publishers' merged reads together
	writers   pushwrite.Pool // the server's own, when Writers is nil

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
	nextID atomic.Uint64
}

// NewServer returns a server with default limits and timeouts.
func NewServer(e Engine, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		Engine:             e,
		Log:                log,
		Limits:             DefaultLimits(),
		HandshakeTimeout:   10 * time.Second,
		IdleTimeout:        15 * time.Second,
		FirstPacketTimeout: 20 * time.Second,
		WriteTimeout:       15 * time.Second,
	}
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.ln = ln
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.mu.Unlock()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// out of file descriptors, say: back off instead of spinning
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.Log.Warn("rtmp accept failed", "error", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("rtmp: accept: %w", err)
		}
		delay = 0
		c := newConn(s, nc, fmt.Sprintf("rtmp-%d", s.nextID.Add(1)))
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		var remove func()
		if s.Registry != nil {
			remove = s.Registry.Add(session.Info{ID: c.id, Protocol: "rtmp", Local: nc.LocalAddr(), Remote: nc.RemoteAddr()},
				func() { nc.Close() })
		}
		go c.serve(func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			if remove != nil {
				remove()
			}
			s.wg.Done()
		})
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.cancel()
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.Writers == nil {
		s.writers.Close()
	}
	return nil
}

// playWriters is the pool that writes the players' streams.
func (s *Server) playWriters() *pushwrite.Pool {
	if s.Writers != nil {
		return s.Writers
	}
	return &s.writers
}

// Sessions returns the number of open connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

var errTooManyFiles = syscall.EMFILE
