// Package livehttp serves live streams over HTTP (chunked or HTTP/1.0)
// and WebSocket in a Format: the handler shared by HTTP-FLV and HTTP-TS.
package livehttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/internal/pushwrite"
	"github.com/mediakit/mediakit/pkg/session"
	"github.com/mediakit/mediakit/pkg/websocket"
)

// Engine is what the handler needs from the engine.
type Engine interface {
	Play(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Reader, error)
}

// SessionRegistry lists open connections for the API (getAllSession,
// kick_session).
type SessionRegistry interface {
	Add(info session.Info, close func()) (remove func())
}

// Format is what a live format adds to the shared handler.
type Format struct {
	// Name prefixes errors ("httpflv").
	Name string
	// Short prefixes session IDs ("flv" makes "flv-1") and log messages.
	Short string
	// HTTPProtocol and WSProtocol name sessions ("http-flv", "ws-flv").
	HTTPProtocol, WSProtocol string
	// ContentType is the Content-Type of an HTTP reply.
	ContentType string
	// ParsePath returns the stream key of a request.
	ParsePath func(path string, query url.Values) (engine.Key, bool)
	// Open prepares a session of reader: its encoder, and release, called
	// when the session ends. An error refuses the player with 404 and
	// the message Unplayable.
	Open func(key engine.Key, r *engine.Reader, log *slog.Logger) (enc Encoder, release func(), err error)
	// Unplayable is the 404 message when Open fails.
	Unplayable string
}

// Handler serves a live Format over HTTP and WebSocket.
type Handler struct {
	// Format is the format served.
	Format *Format
	Engine Engine
	Log    *slog.Logger
	// Registry, if set, lists the handler's sessions for the API.
	Registry SessionRegistry
	// WriteTimeout ends a player when one write (a batch of frames) does
	// not complete within this long. It bounds what a stuck player holds.
	WriteTimeout time.Duration
	// CORS sets the CORS headers of a reply; nil allows any origin
	// without credentials.
	CORS func(h http.Header, r *http.Request)
	// Remote, if set, names the client of r as HOST:PORT (the client a
	// trusted proxy forwarded, rather than the proxy); nil uses
	// r.RemoteAddr.
	Remote func(r *http.Request) string
	// Writers, if set, writes the players' streams, shared with other
	// servers (the caller closes it after them); nil: a pool of the
	// handler's own.
	Writers *pushwrite.Pool

	nextID     atomic.Uint64
	sessions   atomic.Int64
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	closed     bool
	base       context.Context
	cancelBase context.CancelFunc
	pool       pushwrite.Pool // the handler's own, when Writers is nil
}

// Sessions returns the number of sessions being served.
func (h *Handler) Sessions() int64 { return h.sessions.Load() }

// track registers a hijacked connection, which net/http no longer knows
// about, so Close can end it. It reports false once the handler is closed.
func (h *Handler) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.conns == nil {
		h.conns = make(map[net.Conn]struct{})
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *Handler) untrack(c net.Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.wg.Done()
}

// baseContext is cancelled by Close.
func (h *Handler) baseContext() context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.base == nil {
		h.base, h.cancelBase = context.WithCancel(context.Background())
	}
	return h.base
}

// Close ends every session, and every request still waiting for a stream
// or a hook, and waits for their goroutines.
func (h *Handler) Close() {
	h.baseContext()
	h.mu.Lock()
	h.cancelBase()
	h.closed = true
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
	if h.Writers == nil {
		h.pool.Close()
	}
}

// writers is the pool that writes the players' streams.
func (h *Handler) writers() *pushwrite.Pool {
	if h.Writers != nil {
		return h.Writers
	}
	return &h.pool
}

// NewHandler returns a handler of f with default timeouts.
func NewHandler(f *Format, e Engine, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{Format: f, Engine: e, Log: log, WriteTimeout: 15 * time.Second}
}

// corsHeaders lets browser players (flv.js, mpegts.js) on other origins
// read the stream; only origins the CORS policy lists get credentials.
func (h *Handler) corsHeaders(r *http.Request, hdr http.Header) {
	if h.CORS != nil {
		h.CORS(hdr, r)
		return
	}
	hdr.Set("Access-Control-Allow-Origin", "*")
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := h.Format.ParsePath(r.URL.Path, r.URL.Query())
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodOptions:
		h.corsHeaders(r, w.Header())
		w.Header().Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			w.Header().Set("Access-Control-Allow-Headers", req)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.isClosed() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	ws := websocket.IsUpgradeRequest(r)
	if ws && websocket.CheckRequest(w, r) != nil {
		return // a malformed upgrade is refused before waiting for the stream
	}
	info := engine.SessionInfo{
		ID:       fmt.Sprintf("%s-%d", h.Format.Short, h.nextID.Add(1)),
		Protocol: h.Format.HTTPProtocol,
		Remote:   r.RemoteAddr,
		Params:   r.URL.RawQuery,

		Authorization: r.Header.Get("Authorization"),
	}
	if h.Remote != nil {
		info.Remote = h.Remote(r)
	}
	if ws {
		info.Protocol = h.Format.WSProtocol
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.Local = la.String()
	}
	log := h.Log.With("session", info.ID, "remote", info.Remote, "stream", key.String(), "protocol", info.Protocol)

	// Wait for the stream before answering, so a missing stream is a 404.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stopCancel := context.AfterFunc(h.baseContext(), cancel) // Close ends waits for hooks and streams
	defer stopCancel()
	reader, err := h.Engine.Play(ctx, key, info)
	if err != nil {
		switch {
		case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrInvalidKey):
			http.Error(w, "stream not found", http.StatusNotFound)
		case errors.Is(err, engine.ErrDenied):
			http.Error(w, "play denied", http.StatusForbidden)
		case errors.Is(err, engine.ErrTooManyReaders):
			http.Error(w, "too many players of this stream", http.StatusServiceUnavailable)
		case errors.Is(err, context.Canceled):
			// the player left while waiting
		default:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		}
		log.Debug(h.Format.Short+" play refused", "error", err.Error())
		return
	}
	enc, release, err := h.Format.Open(key, reader, log)
	if err != nil {
		reader.Close()
		http.Error(w, h.Format.Unplayable, http.StatusNotFound)
		log.Info(h.Format.Short+" play refused", "error", err.Error())
		return
	}

	var conn net.Conn
	var br *bufio.Reader
	var fr Framing
	if ws {
		hdr := http.Header{}
		h.corsHeaders(r, hdr)
		conn, br, err = websocket.Upgrade(w, r, hdr)
		if err != nil {
			log.Info("websocket upgrade failed", "error", err.Error())
		}
		fr = FramingWebSocket
	} else {
		conn, br, fr, err = h.hijack(w, r)
		if err != nil {
			log.Info(h.Format.Short+" response failed", "error", err.Error())
		}
	}
	if err != nil || !h.track(conn) {
		if conn != nil {
			conn.Close()
		}
		release()
		reader.Close()
		return
	}
	// The session goes on without net/http: returning lets its
	// connection goroutine end and frees its buffers, request and stack,
	// which thousands of idle players would each hold otherwise.
	sess := &playSession{h: h, conn: conn, reader: reader, enc: enc, framing: fr, ws: ws, log: log, info: info}
	if !ws && br.Buffered() == 0 {
		br = nil // a player sends nothing after its request: read the socket itself
	}
	sess.br = br
	go func() {
		defer h.untrack(conn)
		defer release()
		defer reader.Close()
		defer func() {
			// net/http recovered a handler's panic; this goroutine is
			// ours: one broken session must not end the server.
			if v := recover(); v != nil {
				log.Error(h.Format.Short+" session panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}()
		sess.run()
	}()
}

// playSession is one player after its response head: a writer of the
// stream and a reader of the socket.
type playSession struct {
	h       *Handler
	conn    net.Conn
	br      *bufio.Reader // nil: read conn directly
	reader  *engine.Reader
	enc     Encoder
	framing Framing
	ws      bool
	log     *slog.Logger
	info    engine.SessionInfo
	// peerClosed is set when the player sent a WebSocket Close.
	peerClosed atomic.Bool
}

func (s *playSession) run() {
	h, conn, reader := s.h, s.conn, s.reader
	defer conn.Close()
	if h.Registry != nil {
		remove := h.Registry.Add(session.Info{ID: s.info.ID, Protocol: s.info.Protocol, Local: conn.LocalAddr(), Remote: conn.RemoteAddr()},
			func() { conn.Close() })
		defer remove()
	}
	h.sessions.Add(1)
	defer h.sessions.Add(-1)
	// Closing the connection unblocks a write stuck on a player that
	// stopped reading; not when the player sent a WebSocket Close, which
	// is answered before closing.
	closeConn := reader.OnDone(func() {
		if !s.peerClosed.Load() {
			conn.Close()
		}
	})
	defer closeConn()

	s.log.Info(h.Format.Short + " play started")
	start := time.Now()
	fw := NewWriter(conn, reader, s.enc, s.framing, h.WriteTimeout)
	why := s.push(fw)
	s.log.Info(h.Format.Short+" play ended", "duration", time.Since(start).Round(time.Millisecond).String(),
		"bytes", fw.Sent(), "skipped", reader.Skipped(), "reason", why)
}

// push serves the player from the handler's pool of writers, so that
// this goroutine only reads the socket; where the pool cannot write
// (TLS), from a goroutine of its own (pull).
func (s *playSession) push(fw *Writer) (why string) {
	// Why is taken when the writer ends: the session closes the reader
	// after that, and its cause would hide why the stream ended.
	pushed := fw.Push(s.h.writers(), s.log, func(err error) {
		why = reason(err, s.reader)
		_ = s.conn.SetReadDeadline(aLongTimeAgo) // interrupts readSocket
	})
	if !pushed {
		return s.pull(fw)
	}
	s.readSocket()
	// Closing the reader would close the connection (OnDone) under a
	// last chunk still to write, so not when the writer ended: its end
	// interrupted the read, and Ended is set before that.
	if !fw.Ended() {
		s.reader.Close() // the player left
	}
	<-fw.Done()
	if errors.Is(fw.Err(), io.EOF) {
		finish(s.conn, s.framing)
	}
	s.close()
	return why
}

var aLongTimeAgo = time.Unix(1, 0)

// pull serves the player from a goroutine that waits for its frames,
// with a second one reading the socket.
func (s *playSession) pull(fw *Writer) (why string) {
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer s.reader.Close()
		s.readSocket()
	}()
	err := fw.Run()
	why = reason(err, s.reader)
	if errors.Is(err, io.EOF) {
		finish(s.conn, s.framing)
	}
	s.close()
	<-readDone
	return why
}

// close closes the connection, answering a WebSocket Close first (RFC
// 6455 5.5.1). The reader of the socket has set peerClosed before it
// closed the engine reader, so before the writer ended.
func (s *playSession) close() {
	if s.peerClosed.Load() {
		_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = s.conn.Write(wsCloseReply)
	}
	s.conn.Close()
}

// readSocket reads the player's socket until it leaves, or its read is
// interrupted: it notices a player leaving while the stream is quiet
// (grace period) and reads WebSocket control frames.
func (s *playSession) readSocket() {
	if s.ws {
		if websocket.NewFrameReader(s.br, 512).Drain(func([]byte) error { return nil }) == websocket.ErrClosed {
			s.peerClosed.Store(true)
		}
		return
	}
	var src io.Reader = s.conn
	if s.br != nil {
		src = s.br
	}
	// Small, since thousands of idle players each hold one.
	var buf [64]byte
	for n := 0; n < 1<<20; {
		m, err := src.Read(buf[:])
		if err != nil {
			return
		}
		n += m
	}
}

func reason(err error, r *engine.Reader) string {
	switch {
	case errors.Is(err, io.EOF):
		if cause := r.Err(); cause != nil {
			return "stream ended: " + cause.Error()
		}
		return "stream ended"
	case errors.Is(err, engine.ErrReaderClosed):
		return "player left"
	case err == nil:
		return ""
	}
	return err.Error()
}

// hijack takes the connection from net/http and writes the response head
// itself, so frames can go out with writev and no extra buffering.
func (h *Handler) hijack(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.Reader, Framing, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, 0, fmt.Errorf("%s: %T cannot be hijacked", h.Format.Name, w)
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: hijack: %w", h.Format.Name, err)
	}
	_ = conn.SetDeadline(time.Time{})
	fr := FramingChunked
	if !r.ProtoAtLeast(1, 1) {
		fr = FramingRaw
	}
	hdr := http.Header{}
	h.corsHeaders(r, hdr)
	hdr.Set("Content-Type", h.Format.ContentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "close")
	hdr.Set("Server", "mediakit")
	hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if fr == FramingChunked {
		hdr.Set("Transfer-Encoding", "chunked")
	}
	head := []byte("HTTP/1.1 200 OK\r\n")
	if !r.ProtoAtLeast(1, 1) {
		head = []byte("HTTP/1.0 200 OK\r\n")
	}
	buf := &headerBuffer{b: head}
	_ = hdr.Write(buf)
	buf.b = append(buf.b, '\r', '\n')
	_ = conn.SetWriteDeadline(time.Now().Add(h.WriteTimeout))
	if _, err := conn.Write(buf.b); err != nil {
		conn.Close()
		return nil, nil, 0, fmt.Errorf("%s: write response head: %w", h.Format.Name, err)
	}
	return conn, brw.Reader, fr, nil
}

type headerBuffer struct{ b []byte }

func (h *headerBuffer) Write(p []byte) (int, error) {
	h.b = append(h.b, p...)
	return len(p), nil
}

// isClosed reports whether Close was called.
func (h *Handler) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}
