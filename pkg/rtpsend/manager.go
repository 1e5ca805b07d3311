package rtpsend

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// Engine is what the manager needs from the engine.
type Engine interface {
	Stream(ctx context.Context, key engine.Key) (engine.StreamInfo, bool, error)
	AttachSink(ctx context.Context, key engine.Key, name string, newSink func() engine.Sink) error
	DetachSink(ctx context.Context, key engine.Key, name string) (bool, error)
}

// Talker finds the link of an RTP stream being received, for VoiceTalk
// (pkg/rtpserver's Registry): send writes one RTP packet back to that
// stream's sender; done is closed when the stream's server ends.
type Talker interface {
	Talk(key engine.Key) (send func(pkt []byte) error, done <-chan struct{}, err error)
}

// Notifier is told of every sender that stops after it was started
// successfully (on_send_rtp_stopped). It must not block.
type Notifier interface {
	SendRTPStopped(StoppedInfo)
}

// StoppedInfo is on_send_rtp_stopped's body.
type StoppedInfo struct {
	Key    engine.Key
	Params string // the publisher's URL query
	SSRC   string // as given to Start
	// Origin and OriginURL describe the stream's publisher.
	Origin    zlm.OriginType
	OriginURL string
	Msg       string // why it stopped
	Err       int    // ZLToolKit's error code (ErrCode*)
}

// Info is a snapshot of one sender.
type Info struct {
	Key       engine.Key
	SSRC      string
	Mode      Mode
	Format    Format
	LocalPort int
	// Peer is the address packets go to; "" while a passive sender
	// waits for its peer.
	Peer           string
	Since          time.Time
	BytesSent      int64
	BytesPerSecond int64
}

// Counts sums the senders for /metrics.
type Counts struct {
	Senders   int
	BytesSent int64 // including senders that have stopped
}

// Manager runs the RTP senders of one server.
type Manager struct {
	Engine Engine
	// Talker is nil when RTP is not received: VoiceTalk then fails.
	Talker Talker
	// TalkPort, if set, returns the local port of the RTP stream a
	// VoiceTalk sender answers over (startSendRtpTalk's local_port).
	TalkPort func(key engine.Key) int
	Notify   Notifier
	Log      *slog.Logger
	// WriteTimeout ends a sender whose peer accepts nothing for this
	// long (default DefaultWriteTimeout).
	WriteTimeout time.Duration

	mu      sync.Mutex
	senders map[senderKey]*sender
	closed  bool
	wg      sync.WaitGroup // sender goroutines
	ended   atomic.Int64   // bytes sent by senders that have stopped
}

// senderKey identifies a sender: the stream and the SSRC's value, so
// "0200000001" and "200000001" name the same one.
type senderKey struct {
	key  engine.Key
	ssrc uint32
}

// NewManager returns a manager without senders. talk and notify may be
// nil.
func NewManager(e Engine, talk Talker, notify Notifier, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{Engine: e, Talker: talk, Notify: notify, Log: log, senders: make(map[senderKey]*sender)}
}

func (m *Manager) writeTimeout() time.Duration {
	if m.WriteTimeout > 0 {
		return m.WriteTimeout
	}
	return DefaultWriteTimeout
}

// Start starts a sender and returns its local port. Active and talk
// senders are connected and attached to the stream when it returns;
// passive ones listen, and start sending once their peer is there. A
// sender with the SSRC of a running one on the same stream replaces it
// once connected (for a passive one: once listening).
//
// Errors: ErrInvalidOptions, ErrStreamNotFound, ErrNoTrack,
// ErrTalkNotFound, ErrClosed, or the socket error of connecting or
// listening.
func (m *Manager) Start(ctx context.Context, o Options) (int, error) {
	o = o.withDefaults()
	ssrc, err := o.validate()
	if err != nil {
		return 0, err
	}
	if m.isClosed() {
		return 0, ErrClosed
	}
	info, found, err := m.Engine.Stream(ctx, o.Key)
	if err != nil {
		return 0, fmt.Errorf("rtpsend: look up stream %s: %w", o.Key, err)
	}
	if !found || !info.Ready {
		return 0, fmt.Errorf("%w: %s", ErrStreamNotFound, o.Key)
	}
	if _, _, err := newPacker(o, ssrc, info.Tracks); err != nil {
		return 0, err
	}
	s := newSender(m, o, ssrc, info)
	if err := s.open(ctx); err != nil {
		s.abort()
		return 0, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		s.abort()
		return 0, ErrClosed
	}
	old := m.senders[s.id]
	m.senders[s.id] = s
	m.wg.Add(1)
	m.mu.Unlock()
	go s.run(old)
	if o.Mode.Passive() {
		s.log.Info("rtp sender listening", "mode", o.Mode.String(), "type", o.Format.String(), "local_port", s.port,
			"wait", o.passiveWait().String())
		return s.port, nil
	}
	select {
	case err := <-s.ready:
		if err != nil {
			return 0, err
		}
		return s.port, nil
	case <-ctx.Done():
		s.stop(causeCancelled)
		return 0, ctx.Err()
	}
}

// Stop stops the senders of the stream of key with SSRC ssrc, or all of
// them when ssrc is "", and waits until they are gone (their sockets
// closed, on_send_rtp_stopped queued). It returns how many there were;
// ErrStreamNotFound when the stream is not published.
func (m *Manager) Stop(ctx context.Context, key engine.Key, ssrc string) (int, error) {
	key = engine.NewKey(key.Vhost, key.App, key.Stream)
	if err := m.requireStream(ctx, key); err != nil {
		return 0, err
	}
	var want uint32
	if ssrc != "" {
		v, err := ParseSSRC(ssrc)
		if err != nil {
			return 0, nil // no sender has such an SSRC
		}
		want = v
	}
	m.mu.Lock()
	var list []*sender
	for id, s := range m.senders {
		if id.key == key && (ssrc == "" || id.ssrc == want) {
			list = append(list, s)
		}
	}
	m.mu.Unlock()
	for _, s := range list {
		s.stop(causeAPI)
	}
	for _, s := range list {
		select {
		case <-s.done:
		case <-ctx.Done():
			return len(list), ctx.Err()
		}
	}
	return len(list), nil
}

// List returns the senders of the stream of key, by SSRC;
// ErrStreamNotFound when the stream is not published.
func (m *Manager) List(ctx context.Context, key engine.Key) ([]Info, error) {
	key = engine.NewKey(key.Vhost, key.App, key.Stream)
	if err := m.requireStream(ctx, key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	var list []*sender
	for id, s := range m.senders {
		if id.key == key {
			list = append(list, s)
		}
	}
	m.mu.Unlock()
	now := time.Now()
	out := make([]Info, 0, len(list))
	for _, s := range list {
		out = append(out, s.info(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SSRC < out[j].SSRC })
	return out, nil
}

// Counts returns the number of senders and the bytes sent.
func (m *Manager) Counts() Counts {
	m.mu.Lock()
	c := Counts{Senders: len(m.senders), BytesSent: m.ended.Load()}
	for _, s := range m.senders {
		c.BytesSent += s.meter.total.Load()
	}
	m.mu.Unlock()
	return c
}

// Close stops every sender and waits for them; Start fails afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	list := make([]*sender, 0, len(m.senders))
	for _, s := range m.senders {
		list = append(list, s)
	}
	m.mu.Unlock()
	for _, s := range list {
		s.stop(causeShutdown)
	}
	m.wg.Wait()
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *Manager) requireStream(ctx context.Context, key engine.Key) error {
	_, found, err := m.Engine.Stream(ctx, key)
	if err != nil {
		return fmt.Errorf("rtpsend: look up stream %s: %w", key, err)
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrStreamNotFound, key)
	}
	return nil
}

// remove forgets s, once it has stopped.
func (m *Manager) remove(s *sender) {
	m.mu.Lock()
	if m.senders[s.id] == s {
		delete(m.senders, s.id)
	}
	m.ended.Add(s.meter.total.Load())
	m.mu.Unlock()
}
