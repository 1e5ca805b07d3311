package rtpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/internal/pace"
	"github.com/mediakit/mediakit/pkg/engine"
)

// ErrExists is openRtpServer's refusal of an id that is open, with
// ZLMediaKit's message.
var ErrExists = errors.New("This stream already exists")

// ErrNotFound is returned for an id no server has.
var ErrNotFound = errors.New("RtpServer not found by stream_id")

// ErrClosed is returned once the registry is closed.
var ErrClosed = errors.New("rtp: registry closed")

// Engine is what the registry needs from the engine.
type Engine interface {
	Publish(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Publisher, error)
}

// Notifier is told of servers that timed out (on_rtp_server_timeout). It
// must not block.
type Notifier interface {
	RTPServerTimeout(TimeoutInfo)
}

// TimeoutInfo is on_rtp_server_timeout's body.
type TimeoutInfo struct {
	LocalPort int
	Vhost     string
	App       string
	StreamID  string
	TCPMode   TCPMode
	ReusePort bool
	SSRC      uint32
}

// Registry holds every RTP server.
type Registry struct {
	Engine Engine
	Config func() Config
	Notify Notifier
	Log    *slog.Logger
	// NewPipeline builds the media path of one stream; nil selects the
	// default (payload detection, PS/TS demuxing or RTP depacketizing,
	// elementary-stream ingest into the publisher). Tests replace it.
	NewPipeline func(PipelineOptions) Pipeline
	// MaxStreamsPerPort bounds the SSRCs a multiplexed port follows at
	// once; 0 selects DefaultMaxStreamsPerPort.
	MaxStreamsPerPort int

	readClock pace.Clock // paces the UDP servers' reads together

	mu      sync.Mutex
	servers map[engine.Key]*Server // by openRtpServer id
	streams map[engine.Key]*Session
	shared  []*Server // the shared ports: not API-managed
	ports   *portPool
	closed  bool
	wg      sync.WaitGroup // owner goroutines of servers
	nextID  atomic.Uint64

	// totals of streams that have ended, so /metrics counters never go
	// down when a server closes.
	ended struct{ packets, bytes, lost, reordered atomic.Int64 }
}

// NewRegistry returns an empty registry.
func NewRegistry(e Engine, cfg func() Config, notify Notifier, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		Engine: e, Config: cfg, Notify: notify, Log: log,
		servers: make(map[engine.Key]*Server),
		streams: make(map[engine.Key]*Session),
		ports:   newPortPool(cfg().Ports),
	}
}

// Open opens an RTP server and returns its port. An id that is open is
// refused with ErrExists; an id whose server is ending (closing, timed
// out, its stream closed) is waited for, so a reopen right after a close
// or a timeout succeeds.
func (r *Registry) Open(ctx context.Context, o Options) (int, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return 0, err
	}
	key := o.key()
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return 0, ErrClosed
		}
		if old := r.servers[key]; old != nil {
			r.mu.Unlock()
			if !old.ending() {
				return 0, ErrExists
			}
			if err := waitDone(ctx, old); err != nil {
				return 0, err
			}
			continue
		}
		if o.Port != 0 && r.ports.inUse(o.Port) && !o.ReusePort {
			holder := r.portHolder(o.Port)
			r.mu.Unlock()
			if holder == nil || !holder.ending() {
				return 0, fmt.Errorf("port %d is in use by another RTP server", o.Port)
			}
			if err := waitDone(ctx, holder); err != nil {
				return 0, err
			}
			continue
		}
		s := newServer(r, o, r.nextID.Add(1))
		if err := r.bindLocked(s); err != nil {
			r.mu.Unlock()
			return 0, err
		}
		r.servers[key] = s
		r.wg.Add(1)
		r.mu.Unlock()
		s.start()
		r.Log.Info("rtp server opened", "stream", key.String(), "port", s.port, "tcp_mode", int(o.TCPMode), "ssrc", o.SSRC)
		return s.port, nil
	}
}

// OpenShared opens a multiplexed port that the API does not manage (the
// shared --rtp-addr port): streams are told apart by SSRC, and it lives
// until the registry closes.
func (r *Registry) OpenShared(ip string, port int, tcp bool) (*Server, error) {
	o := Options{LocalIP: ip, Port: port, Multiplex: true}.withDefaults()
	if tcp {
		o.TCPMode = TCPPassive
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	s := newServer(r, o, r.nextID.Add(1))
	s.shared = true
	// The port as given (0: the system picks one), not the range.
	if err := s.bind(port, r.Config()); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	r.shared = append(r.shared, s)
	r.wg.Add(1)
	r.mu.Unlock()
	s.start()
	return s, nil
}

func (r *Registry) maxStreamsPerPort() int {
	if r.MaxStreamsPerPort > 0 {
		return r.MaxStreamsPerPort
	}
	return DefaultMaxStreamsPerPort
}

func waitDone(ctx context.Context, s *Server) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// portHolder is the API server bound to port (under mu).
func (r *Registry) portHolder(port int) *Server {
	for _, s := range r.servers {
		if s.port == port {
			return s
		}
	}
	return nil
}

// bindLocked binds s: its explicit port, or the first free even port of
// the range that the system also lets us bind.
func (r *Registry) bindLocked(s *Server) error {
	cfg := r.Config()
	r.ports.setRange(cfg.Ports)
	if s.opts.Port != 0 {
		if err := s.bind(s.opts.Port, cfg); err != nil {
			return err
		}
		r.ports.take(s.opts.Port)
		return nil
	}
	var lastErr error
	for _, port := range r.ports.candidates() {
		err := s.bind(port, cfg)
		if err == nil {
			r.ports.take(port)
			return nil
		}
		lastErr = err // taken by another program: try the next
	}
	if lastErr == nil {
		return fmt.Errorf("no free port left in rtp_proxy.port_range %s", cfg.Ports)
	}
	return fmt.Errorf("no port of rtp_proxy.port_range %s could be bound: %w", cfg.Ports, lastErr)
}

// remove takes s out of the registry and frees its port; called by the
// server's owner goroutine once its sockets are closed.
func (r *Registry) remove(s *Server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.servers[s.key] == s {
		delete(r.servers, s.key)
	}
	for k, ss := range r.streams {
		if ss.srv == s {
			delete(r.streams, k)
		}
	}
	if s.port != 0 && !s.shared {
		r.ports.release(s.port)
	}
}

// addStream indexes a published stream under its name (and a rename).
func (r *Registry) addStream(key engine.Key, ss *Session) {
	r.mu.Lock()
	r.streams[key] = ss
	r.mu.Unlock()
}

func (r *Registry) removeStream(ss *Session) {
	r.mu.Lock()
	for k, v := range r.streams {
		if v == ss {
			delete(r.streams, k)
		}
	}
	r.mu.Unlock()
}

// find resolves an id to its server: an openRtpServer id, or the renamed
// stream (stream_replace) of its stream.
func (r *Registry) find(key engine.Key) *Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.servers[key]; s != nil {
		return s
	}
	// A renamed stream stands for its one-stream server; a stream of a
	// multiplexed port is not its server (closing it would close every
	// camera on the port).
	if ss := r.streams[key]; ss != nil && !ss.srv.shared && !ss.srv.opts.Multiplex {
		return ss.srv
	}
	return nil
}

// Close closes the server of id (or of the stream renamed to id) and
// returns once its port is free and it has left the registry. It reports
// whether there was one.
func (r *Registry) Close(key engine.Key) bool {
	s := r.find(key)
	if s == nil {
		return false
	}
	s.requestClose(causeAPI)
	<-s.done
	return true
}

// Info returns a snapshot of the server of id (or of its renamed stream).
func (r *Registry) Info(key engine.Key) (Info, bool) {
	s := r.find(key)
	if s == nil {
		return Info{}, false
	}
	return s.info(), true
}

// Stream returns a snapshot of the stream published as key: an RTP
// server's stream under its id or its new name, or a stream of a
// multiplexed or shared port under app/SSRC.
func (r *Registry) Stream(key engine.Key) (StreamInfo, bool) {
	r.mu.Lock()
	ss := r.streams[key]
	r.mu.Unlock()
	if ss == nil {
		return StreamInfo{}, false
	}
	return ss.info(), true
}

// List returns every API-opened server, sorted by id.
func (r *Registry) List() []Info {
	r.mu.Lock()
	list := make([]*Server, 0, len(r.servers))
	for _, s := range r.servers {
		list = append(list, s)
	}
	r.mu.Unlock()
	out := make([]Info, 0, len(list))
	for _, s := range list {
		out = append(out, s.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key().String() < out[j].key().String() })
	return out
}

// Shared returns snapshots of the shared ports.
func (r *Registry) Shared() []Info {
	r.mu.Lock()
	list := append([]*Server(nil), r.shared...)
	r.mu.Unlock()
	out := make([]Info, 0, len(list))
	for _, s := range list {
		out = append(out, s.info())
	}
	return out
}

// UpdateSSRC changes the SSRC filter of the server of id.
func (r *Registry) UpdateSSRC(key engine.Key, ssrc uint32) error {
	s := r.find(key)
	if s == nil {
		return ErrNotFound
	}
	s.ssrc.Store(ssrc)
	return nil
}

// PauseCheck suspends the timeout of the server of id (or the shared-port
// stream of id) for d (0: until ResumeCheck).
func (r *Registry) PauseCheck(key engine.Key, d time.Duration) error {
	until := time.Now().Add(d).UnixNano()
	if d <= 0 {
		until = 1<<63 - 1
	}
	return r.setPause(key, until)
}

// ResumeCheck ends a PauseCheck.
func (r *Registry) ResumeCheck(key engine.Key) error { return r.setPause(key, 0) }

func (r *Registry) setPause(key engine.Key, until int64) error {
	if s := r.find(key); s != nil && !s.opts.Multiplex {
		s.pausedUntil.Store(until)
		s.poke()
		return nil
	}
	r.mu.Lock()
	ss := r.streams[key]
	r.mu.Unlock()
	if ss == nil {
		return ErrNotFound
	}
	ss.pausedUntil.Store(until)
	return nil
}

// Connect dials the sender of a tcp_mode 2 server from its port
// (connectRtpServer).
func (r *Registry) Connect(ctx context.Context, key engine.Key, addr netip.AddrPort) error {
	s := r.find(key)
	if s == nil {
		return fmt.Errorf("can not find the stream")
	}
	return s.connect(ctx, addr)
}

// Counts sums the servers and streams for /metrics; the packet figures
// include streams that have ended.
type Counts struct {
	Servers   map[State]int
	Streams   int
	Packets   int64
	Bytes     int64
	Lost      int64
	Reordered int64
	// Live are the streams being received.
	Live []StreamInfo
}

// Counts returns the totals of every server.
func (r *Registry) Counts() Counts {
	c := Counts{Servers: map[State]int{}}
	r.mu.Lock()
	list := make([]*Server, 0, len(r.servers)+len(r.shared))
	for _, s := range r.servers {
		list = append(list, s)
	}
	list = append(list, r.shared...)
	r.mu.Unlock()
	c.Packets, c.Bytes = r.ended.packets.Load(), r.ended.bytes.Load()
	c.Lost, c.Reordered = r.ended.lost.Load(), r.ended.reordered.Load()
	for _, s := range list {
		in := s.info()
		if !s.shared {
			c.Servers[in.State]++
		}
		for _, st := range in.Streams {
			if st.Ended {
				continue
			}
			c.Streams++
			c.Live = append(c.Live, st)
			c.Packets += int64(st.Stats.Packets)
			c.Bytes += int64(st.Stats.Bytes)
			c.Lost += int64(st.Stats.Lost)
			c.Reordered += int64(st.Stats.Reordered)
		}
	}
	return c
}

// CloseAll closes every server and waits for them.
func (r *Registry) CloseAll() {
	r.mu.Lock()
	r.closed = true
	list := make([]*Server, 0, len(r.servers)+len(r.shared))
	for _, s := range r.servers {
		list = append(list, s)
	}
	list = append(list, r.shared...)
	r.mu.Unlock()
	for _, s := range list {
		s.requestClose(causeShutdown)
	}
	r.wg.Wait()
}

// Talk returns a function that sends RTP packets back to the sender of the
// stream of key (startSendRtpTalk: voice talk-back over the camera's own
// link), and a channel closed when that stream ends.
func (r *Registry) Talk(key engine.Key) (send func(pkt []byte) error, done <-chan struct{}, err error) {
	r.mu.Lock()
	ss := r.streams[key]
	r.mu.Unlock()
	if ss == nil {
		return nil, nil, ErrNotFound
	}
	return ss.talk, ss.done, nil
}
