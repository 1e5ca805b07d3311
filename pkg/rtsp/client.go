package rtsp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// Transport is how a client asks the server to send RTP.
type Transport string

// Transports. ZLMediaKit's rtp_type numbers them 0, 1 and 2.
const (
	// TransportTCP interleaves RTP in the RTSP connection: it crosses
	// NAT and firewalls and loses nothing, so it is the default.
	TransportTCP Transport = "tcp"
	// TransportUDP receives RTP on a pair of UDP ports of the client.
	TransportUDP Transport = "udp"
	// TransportMulticast joins the multicast group the server offers.
	TransportMulticast Transport = "multicast"
)

// Transports lists the transport names, for flags and completion.
var Transports = []string{string(TransportTCP), string(TransportUDP), string(TransportMulticast)}

// ParseTransport reads a transport name; "" is TransportTCP.
func ParseTransport(s string) (Transport, error) {
	switch t := Transport(strings.ToLower(strings.TrimSpace(s))); t {
	case "":
		return TransportTCP, nil
	case TransportTCP, TransportUDP, TransportMulticast:
		return t, nil
	}
	return "", fmt.Errorf("rtsp: unknown transport %q (want tcp, udp or multicast)", s)
}

// TransportFromRTPType maps ZLMediaKit's rtp_type (0 TCP, 1 UDP, 2
// multicast) to a transport.
func TransportFromRTPType(n int) (Transport, error) {
	switch n {
	case 0:
		return TransportTCP, nil
	case 1:
		return TransportUDP, nil
	case 2:
		return TransportMulticast, nil
	}
	return "", fmt.Errorf("rtsp: invalid rtp_type %d (want 0 TCP, 1 UDP or 2 multicast)", n)
}

func (t Transport) protocol() gortsplib.Protocol {
	switch t {
	case TransportUDP:
		return gortsplib.ProtocolUDP
	case TransportMulticast:
		return gortsplib.ProtocolUDPMulticast
	}
	return gortsplib.ProtocolTCP
}

// Defaults of ClientOptions.
const (
	DefaultClientTimeout = 10 * time.Second
	// clQueue bounds the packets between gortsplib's readers and the
	// goroutine that depacketizes them; a full queue holds the readers
	// back (TCP pushes back on the server, UDP drops in the socket).
	clQueue = 512
)

// Errors of a Client, wrapped with the URL and the operation.
var (
	// ErrNoPackets: the server sent nothing for ClientOptions.ReadTimeout
	// while playing.
	ErrNoPackets = errors.New("no packets")
	// ErrUnauthorized: the server wants credentials that the URL does
	// not have, or refused those it has.
	ErrUnauthorized = errors.New("unauthorized")
)

// ClientOptions configure a Client. Zero values select the defaults.
type ClientOptions struct {
	// Transport of RTP; default TransportTCP.
	Transport Transport
	// ReadTimeout bounds connecting and, while playing, silence: a
	// session that receives nothing at all for this long ends with
	// ErrNoPackets. Default DefaultClientTimeout.
	ReadTimeout time.Duration
	// StartTimeout bounds the wait for each response of the handshake
	// (OPTIONS, DESCRIBE, SETUP, PLAY): a server may hold a DESCRIBE
	// until the stream is published. Default ReadTimeout.
	StartTimeout time.Duration
	// WriteTimeout bounds each request. Default DefaultClientTimeout.
	WriteTimeout time.Duration
	// TLSConfig is for rtsps:// URLs. Nil verifies the server's
	// certificate against the system roots, as https:// sources do.
	TLSConfig *tls.Config
	// Log gets warnings (tracks dropped for their codec, packets lost or
	// undecodable), each kind once per Play. Nil discards them.
	Log *slog.Logger
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.Transport == "" {
		o.Transport = TransportTCP
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultClientTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = o.ReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultClientTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Client plays an rtsp:// or rtsps:// URL into an flv.FrameSink:
// OPTIONS, DESCRIBE, SETUP of the medias it can carry (the first H.264,
// H.265, AV1 or VP9 video and the first AAC, MP3, Opus or G.711 audio;
// the others are dropped with a warning), PLAY. Credentials come from the URL's
// userinfo (Basic or Digest, as the server asks) and never appear in
// String, errors or logs.
type Client struct {
	url     *base.URL
	display string
	opts    ClientOptions

	// read counts the bytes received over every Play: the RTSP
	// connection (RTP interleaved in it included) and RTP over UDP.
	// Counted here, not read from gortsplib's Client.Stats, which races
	// with the client closing itself (Stats reads what doClose clears
	// without its lock), and BytesRead is called for every frame.
	read atomic.Int64
}

// NewClient checks rawURL (an rtsp:// or rtsps:// URL with a host) and
// returns a client for it; nothing is sent before Play.
func NewClient(rawURL string, opts ClientOptions) (*Client, error) {
	opts = opts.withDefaults()
	u, display, err := parseClientURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	return &Client{url: u, display: display, opts: opts}, nil
}

// ParseClientURL checks an rtsp:// or rtsps:// URL for a client (a
// host, no bad escapes) and returns it with the password redacted, for
// messages.
func ParseClientURL(rawURL string) (display string, err error) {
	_, display, err = parseClientURL(rawURL, ClientOptions{})
	return display, err
}

// parseClientURL checks a client's rtsp:// or rtsps:// URL (with a host)
// and its transport; display is the URL with the password redacted.
func parseClientURL(rawURL string, opts ClientOptions) (u *base.URL, display string, err error) {
	pu, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("rtsp: invalid URL: %w", clRedactURLError(err))
	}
	display = pu.Redacted()
	scheme := strings.ToLower(pu.Scheme)
	if scheme != "rtsp" && scheme != "rtsps" {
		return nil, "", fmt.Errorf("rtsp: %s: scheme %q is not rtsp or rtsps", display, pu.Scheme)
	}
	if pu.Hostname() == "" {
		return nil, "", fmt.Errorf("rtsp: %s: no host", display)
	}
	if _, err := ParseTransport(string(opts.Transport)); err != nil {
		return nil, "", err
	}
	pu.Scheme = scheme
	if u, err = base.ParseURL(pu.String()); err != nil {
		return nil, "", fmt.Errorf("rtsp: %s: %w", display, clRedactURLError(err))
	}
	return u, display, nil
}

// clRedactURLError keeps a URL parse error from repeating the URL, whose
// password it may hold.
func clRedactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// String names the URL, password redacted.
func (c *Client) String() string { return c.display }

// BytesRead is the number of bytes received so far, RTSP and RTP, over
// every Play. Safe for concurrent use.
func (c *Client) BytesRead() int64 { return c.read.Load() }

// countingConn counts what is read from the RTSP connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// clPacket is a packet on its way to the depacketizing goroutine.
type clPacket struct {
	f   format.Format
	pkt *rtp.Packet
	pts int64
}

// Play connects, plays the URL into sink until the session ends and
// returns: nil when the server closed the connection, ctx.Err() when
// ctx ended first (promptly: the session is torn down), an error
// wrapping ErrNoPackets when the server went silent, ErrUnauthorized
// when the server refused access, ErrNoUsableTrack when no media can be
// carried, and an error naming the URL otherwise. Frames held back
// while tracks were being detected are written before Play returns. Play
// may be called again, not concurrently, to pull anew.
func (c *Client) Play(ctx context.Context, sink flv.FrameSink) error {
	return c.PlayNotify(ctx, sink, nil)
}

// PlayNotify is Play that calls playing, if not nil, once the server has
// accepted PLAY (before any frame is written): a caller's stall timer
// may then switch from the handshake's timeout to the media's.
func (c *Client) PlayNotify(ctx context.Context, sink flv.FrameSink, playing func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	log := c.opts.Log.With("url", c.display)
	dialer := &net.Dialer{Timeout: c.opts.ReadTimeout}
	lostCount := atomic.Uint64{}
	var lostOnce, decodeOnce sync.Once
	gc := &gortsplib.Client{
		Scheme:       c.url.Scheme,
		Host:         c.url.Host,
		ReadTimeout:  max(c.opts.ReadTimeout, c.opts.StartTimeout),
		WriteTimeout: c.opts.WriteTimeout,
		TLSConfig:    c.opts.TLSConfig,
		Protocol:     new(c.opts.Transport.protocol()),
		// The first UDP packet may take as long as any other read.
		InitialUDPReadTimeout: c.opts.ReadTimeout,
		UserAgent:             "mediakit",
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: conn, n: &c.read}, nil
		},
		OnTransportSwitch: func(err error) {
			log.Warn("rtsp: transport switched", "error", err.Error())
		},
		OnPacketsLost: func(n uint64) {
			lostCount.Add(n)
			lostOnce.Do(func() { log.Warn("rtsp: RTP packets lost (further losses are counted, not logged)", "lost", n) })
		},
		OnDecodeError: func(err error) {
			decodeOnce.Do(func() {
				log.Warn("rtsp: undecodable packet (further ones are counted, not logged)", "error", err.Error())
			})
		},
	}
	if err := gc.Start(); err != nil {
		return fmt.Errorf("rtsp: %s: %w", c.display, err)
	}

	// stopping is closed before gc.Close, which waits for the readers:
	// a reader blocked on a full queue must let go first.
	stopping := make(chan struct{})
	var closeOnce sync.Once
	closeAll := func() {
		closeOnce.Do(func() {
			close(stopping)
			gc.Close()
		})
	}
	defer closeAll()
	stop := context.AfterFunc(ctx, closeAll)
	defer stop()

	queue := make(chan clPacket, clQueue)
	in, err := c.setup(gc, sink, log, queue, stopping)
	if err != nil {
		return c.result(ctx, err)
	}
	if _, err := gc.Play(nil); err != nil {
		return c.result(ctx, &clOpError{"PLAY", err})
	}
	log.Debug("rtsp: playing", "transport", string(c.opts.Transport), "tracks", len(in.Formats()))
	if playing != nil {
		playing()
	}

	waitErr := make(chan error, 1)
	go func() { waitErr <- gc.Wait() }()
	for {
		select {
		case p := <-queue:
			if err := in.WritePacket(p.f, p.pkt, p.pts); err != nil {
				return c.result(ctx, &clOpError{"sink", err})
			}
		case err := <-waitErr:
			// Packets already queued are still media of the session.
			for drained := false; !drained; {
				select {
				case p := <-queue:
					if werr := in.WritePacket(p.f, p.pkt, p.pts); werr != nil {
						return c.result(ctx, &clOpError{"sink", werr})
					}
				default:
					drained = true
				}
			}
			if ferr := in.Flush(); ferr != nil {
				return c.result(ctx, &clOpError{"sink", ferr})
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				if in.Stats().Frames == 0 {
					return fmt.Errorf("rtsp: %s: the server ended the session before sending any media (over %s)",
						c.display, c.opts.Transport)
				}
				return nil
			}
			return c.result(ctx, err)
		}
	}
}

// setup describes the URL, sets up the medias the ingest chose and
// routes their packets into queue.
func (c *Client) setup(gc *gortsplib.Client, sink flv.FrameSink, log *slog.Logger,
	queue chan<- clPacket, stopping <-chan struct{},
) (*Ingest, error) {
	desc, _, err := gc.Describe(c.url)
	if err != nil {
		return nil, &clOpError{"DESCRIBE", err}
	}
	var formats []format.Format
	owner := map[format.Format]*description.Media{}
	for _, m := range desc.Medias {
		if m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			formats = append(formats, f)
			owner[f] = m
		}
	}
	in, err := NewIngest(sink, formats, IngestOptions{Log: log})
	if err != nil {
		return nil, err
	}
	setUp := map[*description.Media]bool{}
	udp := c.opts.Transport != TransportTCP
	for _, f := range in.Formats() {
		m := owner[f]
		if !setUp[m] {
			if _, err := gc.Setup(desc.BaseURL, m, 0, 0); err != nil {
				return nil, &clOpError{fmt.Sprintf("SETUP %s over %s", m.Type, c.opts.Transport), err}
			}
			setUp[m] = true
		}
		gc.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
			if udp {
				// RTP over UDP does not pass through the connection.
				c.read.Add(int64(pkt.MarshalSize()))
			}
			pts, ok := gc.PacketPTS(m, pkt)
			if !ok {
				return // before the first packet that can start decoding
			}
			select {
			case queue <- clPacket{f: f, pkt: pkt, pts: pts}:
			case <-stopping:
			}
		})
	}
	return in, nil
}

// clOpError names the request (or step) that failed.
type clOpError struct {
	op  string
	err error
}

func (e *clOpError) Error() string { return e.op + ": " + e.err.Error() }
func (e *clOpError) Unwrap() error { return e.err }

// result is what Play returns for err: ctx's error when ctx ended,
// else err named with the URL (and the request), given a sentinel where
// one applies.
func (c *Client) result(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	prefix := "rtsp: " + c.display
	var op *clOpError
	if errors.As(err, &op) {
		prefix += ": " + op.op
	}
	timeout := max(c.opts.ReadTimeout, c.opts.StartTimeout)
	var bad liberrors.ErrClientBadStatusCode
	switch {
	case errors.As(err, &bad) && bad.Code == base.StatusUnauthorized:
		why := "the URL has no credentials"
		if c.url.User != nil {
			why = "the server refused the URL's credentials"
		}
		return fmt.Errorf("%s: %w: %s", prefix, ErrUnauthorized, why)
	case errors.As(err, &bad):
		return fmt.Errorf("%s: server answered %d %s", prefix, bad.Code, bad.Message)
	case errors.As(err, new(liberrors.ErrClientTCPTimeout)):
		return fmt.Errorf("%s: %w for %v", prefix, ErrNoPackets, timeout)
	case errors.As(err, new(liberrors.ErrClientUDPTimeout)):
		// gortsplib checks multicast after 1 s and UDP after
		// InitialUDPReadTimeout, then every second.
		return fmt.Errorf("%s: %w over %s (a firewall or NAT may drop them; TCP crosses both)", prefix, ErrNoPackets, c.opts.Transport)
	case errors.As(err, new(liberrors.ErrClientRequestTimedOut)):
		return fmt.Errorf("%s: no response within %v", prefix, timeout)
	}
	if op != nil {
		err = op.err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
