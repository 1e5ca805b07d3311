package rtmp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/mediakit/mediakit/pkg/media"
)

// DefaultClientTimeout is the default read and write timeout of a Client.
const DefaultClientTimeout = 10 * time.Second

// DefaultStartTimeout is how long a Client waits, by default, for the
// server to start playing or publishing. Servers hold a player until the
// stream is published (mediakit's --max-stream-wait, 15 s by default), so
// it is longer than the read timeout.
const DefaultStartTimeout = 30 * time.Second

// DefaultPort is the RTMP port of URLs that do not name one.
const DefaultPort = "1935"

// Chunk stream ids only the client writes on. Commands addressed to a
// message stream (play, publish) go on their own chunk stream, as ffmpeg
// sends them.
const csidStream = 8

// clientAckWindow is the acknowledgement window the client announces.
const clientAckWindow = 2500000

// closeWait bounds how long Close of a publishing client waits for the
// server to take what was sent before dropping the connection.
const closeWait = 2 * time.Second

// ClientOptions tune a Client. Zero values select the defaults.
type ClientOptions struct {
	// ReadTimeout bounds connecting and each wait for the server: the
	// handshake, a reply during setup, the next message while playing.
	// Default DefaultClientTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write. Default DefaultClientTimeout.
	WriteTimeout time.Duration
	// StartTimeout bounds the wait for NetStream.Play.Start or
	// NetStream.Publish.Start after the play or publish command. Default
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// Limits bound what the server can make the client hold. Zero
	// selects DefaultLimits.
	Limits Limits
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultClientTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultClientTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits()
	}
	return o
}

// StatusError is a refusal or failure the server reported: an onStatus
// at level "error" or an _error reply.
type StatusError struct {
	Op          string // "play" or "publish"
	URL         string // the URL, password redacted
	Level       string // "error" usually
	Code        string // e.g. "NetStream.Play.StreamNotFound"
	Description string // the server's explanation, may be empty
}

func (e *StatusError) Error() string {
	s := "rtmp: " + e.Op + " " + e.URL + ": " + e.Code
	if e.Description != "" && e.Description != e.Code {
		s += " (" + e.Description + ")"
	}
	return s
}

// ClientURL is an rtmp:// URL split the way RTMP clients (ffmpeg) split
// it: the first path segment is the application, the rest of the path
// with the query is the stream name.
type ClientURL struct {
	Addr   string // host:port to dial
	App    string // first path segment
	Stream string // the rest of the path, with "?query" if any
	TCURL  string // rtmp://host[:port]/app, sent in connect
	// Display is the URL with its password redacted, for messages.
	Display string
}

// ParseClientURL parses rtmp://host[:port]/app[/...]/stream[?query].
func ParseClientURL(rawURL string) (ClientURL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ClientURL{}, fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	if !strings.EqualFold(u.Scheme, "rtmp") {
		return ClientURL{}, fmt.Errorf("invalid URL %q: scheme %q, want rtmp", u.Redacted(), u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return ClientURL{}, fmt.Errorf("invalid URL %q: no host (want rtmp://host[:port]/app/stream)", u.Redacted())
	}
	path := strings.TrimPrefix(u.Path, "/")
	app, stream, _ := strings.Cut(path, "/")
	if app == "" || stream == "" {
		return ClientURL{}, fmt.Errorf("invalid URL %q: want rtmp://host[:port]/app/stream", u.Redacted())
	}
	if u.RawQuery != "" {
		stream += "?" + u.RawQuery
	}
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	return ClientURL{
		Addr:    net.JoinHostPort(u.Hostname(), port),
		App:     app,
		Stream:  stream,
		TCURL:   "rtmp://" + u.Host + "/" + app,
		Display: u.Redacted(),
	}, nil
}

// displayURL is rawURL for an error message, password redacted when it
// parses.
func displayURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	return fmt.Sprintf("%q", rawURL)
}

// clientConn counts the bytes of a client connection, for
// acknowledgements and progress.
type clientConn struct {
	net.Conn
	read    atomic.Int64
	written atomic.Int64
}

func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *clientConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// Client is an RTMP client connection that plays or publishes one stream.
//
// A playing client is read with ReadMessage from one goroutine. A
// publishing client is written with WriteTracks and WriteFrame from one
// goroutine; a goroutine of its own reads what the server sends. Close may
// be called from any goroutine, at any time.
type Client struct {
	u        ClientURL
	op       string // "play" or "publish"
	opts     ClientOptions
	nc       *clientConn
	cr       *ChunkReader
	streamID uint32
	txn      float64

	// Reading side: the caller of ReadMessage (play) or the watch
	// goroutine (publish), after setup.
	ackWindow uint32
	lastAck   int64
	pending   []*Message // media and data waiting for ReadMessage
	eof       bool
	readErr   error

	// Writing side.
	wmu   sync.Mutex
	mw    messageWriter
	video *media.Track // last track whose sequence header was sent
	audio *media.Track

	failMu  sync.Mutex
	failure error // what ended a publishing client's connection

	closeOnce sync.Once
	closed    atomic.Bool
	watchDone chan struct{} // closed when the publish watcher exits
}

// DialPlay connects to rawURL (rtmp://host[:port]/app/stream[?query]) and
// plays its stream. It returns once the server said NetStream.Play.Start;
// a refusal is a *StatusError. ctx bounds the setup only.
func DialPlay(ctx context.Context, rawURL string, opts ClientOptions) (*Client, error) {
	return dial(ctx, rawURL, opts, "play")
}

// DialPublish connects to rawURL and publishes to its stream. It returns
// once the server said NetStream.Publish.Start; a refusal (BadName,
// BadAuth) is a *StatusError. ctx bounds the setup only.
func DialPublish(ctx context.Context, rawURL string, opts ClientOptions) (*Client, error) {
	return dial(ctx, rawURL, opts, "publish")
}

func dial(ctx context.Context, rawURL string, opts ClientOptions, op string) (*Client, error) {
	u, err := ParseClientURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rtmp: %s: %w", op, err)
	}
	opts = opts.withDefaults()
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, opts.ReadTimeout)
	raw, err := d.DialContext(dctx, "tcp", u.Addr)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("rtmp: %s %s: %w", op, u.Display, err)
	}
	c := &Client{u: u, op: op, opts: opts, nc: &clientConn{Conn: raw}}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	err = c.setup()
	if !stop() {
		// ctx ended and closed the connection, whatever setup said
		err = ctx.Err()
	}
	if err != nil {
		raw.Close()
		var se *StatusError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, fmt.Errorf("rtmp: %s %s: %w", op, u.Display, err)
	}
	_ = raw.SetDeadline(time.Time{})
	if op == "publish" {
		c.watchDone = make(chan struct{})
		go c.watch()
	}
	return c, nil
}

// URL returns the URL the client was dialed with, password redacted.
func (c *Client) URL() string { return c.u.Display }

// StreamID is the message stream id the server gave createStream.
func (c *Client) StreamID() uint32 { return c.streamID }

// BytesRead is the number of bytes received from the server so far. Safe
// for concurrent use.
func (c *Client) BytesRead() int64 { return c.nc.read.Load() }

// BytesWritten is the number of bytes sent to the server so far. Safe for
// concurrent use.
func (c *Client) BytesWritten() int64 { return c.nc.written.Load() }

func (c *Client) setup() error {
	_ = c.nc.SetDeadline(time.Now().Add(c.opts.ReadTimeout))
	if _, _, err := handshake.DoClient(c.nc, false, false); err != nil {
		return fmt.Errorf("handshake: %w", c.ioCause(err))
	}
	c.cr = NewChunkReader(bufio.NewReaderSize(c.nc, 64<<10), c.opts.Limits)

	connect := amf0.Object{
		{Key: "app", Value: c.u.App},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: c.flashVer()},
		{Key: "tcUrl", Value: c.u.TCURL},
	}
	if c.op == "play" {
		connect = append(connect,
			amf0.ObjectEntry{Key: "fpad", Value: false},
			amf0.ObjectEntry{Key: "capabilities", Value: float64(15)},
			amf0.ObjectEntry{Key: "audioCodecs", Value: float64(4071)},
			amf0.ObjectEntry{Key: "videoCodecs", Value: float64(252)},
			amf0.ObjectEntry{Key: "videoFunction", Value: float64(1)},
		)
	}
	connect = append(connect,
		amf0.ObjectEntry{Key: "objectEncoding", Value: float64(0)},
		// Enhanced RTMP: the codecs mediakit reads and writes.
		amf0.ObjectEntry{Key: "fourCcList", Value: amf0.StrictArray{"avc1", "hvc1", "mp4a"}},
	)
	connectTxn := c.nextTxn()
	err := c.send(func(w *messageWriter) error {
		w.setChunkSize(OutChunkSize)
		w.windowAckSize(clientAckWindow)
		return w.amf(csidCommand, MsgCommandAMF0, 0, "connect", connectTxn, connect)
	})
	if err != nil {
		return err
	}
	if _, err := c.waitResult("connect", connectTxn); err != nil {
		return err
	}

	createTxn := float64(0)
	err = c.send(func(w *messageWriter) error {
		if c.op == "publish" {
			if err := w.amf(csidCommand, MsgCommandAMF0, 0, "releaseStream", c.nextTxn(), nil, c.u.Stream); err != nil {
				return err
			}
			if err := w.amf(csidCommand, MsgCommandAMF0, 0, "FCPublish", c.nextTxn(), nil, c.u.Stream); err != nil {
				return err
			}
		}
		createTxn = c.nextTxn()
		return w.amf(csidCommand, MsgCommandAMF0, 0, "createStream", createTxn, nil)
	})
	if err != nil {
		return err
	}
	res, err := c.waitResult("createStream", createTxn)
	if err != nil {
		return err
	}
	id, ok := firstNumber(res.args)
	if !ok || id < 0 || id > 0x7fffffff || id != float64(uint32(id)) {
		return fmt.Errorf("createStream: the server answered no valid stream id (%v)", res.args)
	}
	c.streamID = uint32(id)

	startCode := "NetStream.Play.Start"
	err = c.send(func(w *messageWriter) error {
		if c.op == "publish" {
			startCode = "NetStream.Publish.Start"
			return w.amf(csidStream, MsgCommandAMF0, c.streamID, "publish", c.nextTxn(), nil, c.u.Stream, "live")
		}
		// Set Buffer Length (3 s), then play from the live edge or the
		// start of a recording (-2000, as ffmpeg sends it).
		b := make([]byte, 0, 10)
		b = binary.BigEndian.AppendUint16(b, ucSetBufferLength)
		b = binary.BigEndian.AppendUint32(b, c.streamID)
		b = binary.BigEndian.AppendUint32(b, 3000)
		w.control(MsgUserControl, b)
		return w.amf(csidStream, MsgCommandAMF0, c.streamID, "play", c.nextTxn(), nil, c.u.Stream, float64(-2000))
	})
	if err != nil {
		return err
	}
	return c.waitStatus(startCode)
}

func (c *Client) flashVer() string {
	if c.op == "publish" {
		return "FMLE/3.0 (compatible; mediakit)"
	}
	return "LNX 9,0,124,2"
}

func (c *Client) nextTxn() float64 {
	c.txn++
	return c.txn
}

func firstNumber(args []any) (float64, bool) {
	if len(args) == 0 {
		return 0, false
	}
	f, ok := args[0].(float64)
	return f, ok
}

// send builds messages with fill and writes them.
func (c *Client) send(fill func(w *messageWriter) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mw.reset()
	if err := fill(&c.mw); err != nil {
		return err
	}
	err := c.writeLocked(c.mw.buf)
	c.mw.reset()
	return err
}

// writeLocked writes bufs with the write timeout. c.wmu must be held.
func (c *Client) writeLocked(bufs ...[]byte) error {
	out := make(net.Buffers, 0, len(bufs))
	for _, b := range bufs {
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	// net.Buffers.WriteTo uses writev on the raw connection; count here.
	n, err := out.WriteTo(c.nc.Conn)
	c.nc.written.Add(n)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("write blocked for %v: %w", c.opts.WriteTimeout, err)
		}
		return c.ioCause(err)
	}
	return nil
}

// next reads the next message, applying and answering protocol control
// messages; it returns nil for those. A zero deadline waits forever.
func (c *Client) next(deadline time.Time) (*Message, error) {
	_ = c.nc.SetReadDeadline(deadline)
	msg, err := c.cr.ReadMessage()
	if err != nil {
		return nil, err
	}
	if err := c.maybeAck(); err != nil {
		return nil, err
	}
	consumed, ping, err := applyControl(c.cr, msg, &c.ackWindow)
	if err != nil {
		return nil, fmt.Errorf("%w from the server", err)
	}
	if ping != nil {
		value := *ping
		return nil, c.send(func(w *messageWriter) error {
			w.userControl(ucPingResponse, value)
			return nil
		})
	}
	if consumed {
		return nil, nil
	}
	return msg, nil
}

// maybeAck acknowledges received bytes once per window the server asked
// for.
func (c *Client) maybeAck() error {
	n := c.nc.read.Load()
	if c.ackWindow == 0 || n-c.lastAck < int64(c.ackWindow) {
		return nil
	}
	c.lastAck = n
	return c.send(func(w *messageWriter) error {
		w.ack(uint32(n))
		return nil
	})
}

// waitResult waits for the _result of transaction txn. Media and data
// that arrive meanwhile are kept for ReadMessage.
func (c *Client) waitResult(what string, txn float64) (*command, error) {
	deadline := time.Now().Add(c.opts.ReadTimeout)
	for {
		cmd, err := c.nextCommand(deadline)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, c.readCause(err, c.opts.ReadTimeout))
		}
		switch {
		case cmd.name == "_result" && cmd.txn == txn:
			if info := statusInfo(cmd); info != nil {
				if level, _ := info.GetString("level"); level == "error" {
					return nil, c.statusError(cmd)
				}
			}
			return cmd, nil
		case cmd.name == "_error" && (cmd.txn == txn || cmd.txn == 0):
			return nil, c.statusError(cmd)
		case cmd.name == "onStatus":
			if err := c.failedStatus(cmd); err != nil {
				return nil, err
			}
		}
	}
}

// waitStatus waits for an onStatus with code, for up to StartTimeout.
func (c *Client) waitStatus(code string) error {
	deadline := time.Now().Add(c.opts.StartTimeout)
	for {
		cmd, err := c.nextCommand(deadline)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", code, c.readCause(err, c.opts.StartTimeout))
		}
		switch cmd.name {
		case "onStatus":
			if err := c.failedStatus(cmd); err != nil {
				return err
			}
			if got, _ := statusInfo(cmd).GetString("code"); got == code {
				return nil
			}
			if c.op == "play" && isStopCode(statusCode(cmd)) {
				return c.statusError(cmd)
			}
		case "_error":
			return c.statusError(cmd)
		}
	}
}

// nextCommand returns the next command message; media and data are queued
// for ReadMessage.
func (c *Client) nextCommand(deadline time.Time) (*command, error) {
	for {
		msg, err := c.next(deadline)
		if err != nil {
			return nil, err
		}
		if msg == nil {
			continue
		}
		switch msg.Type {
		case MsgCommandAMF0, MsgCommandAMF3:
			return parseCommand(msg)
		default:
			if c.op == "play" {
				if err := c.queue(msg); err != nil {
					return nil, err
				}
			}
		}
	}
}

// statusInfo is the info object of an onStatus, _result or _error: the
// first argument after the command object, or the command object itself.
func statusInfo(cmd *command) amf0.Object {
	if len(cmd.args) > 0 {
		if o := objectOf(cmd.args[0]); o != nil {
			return o
		}
	}
	return cmd.object
}

func statusCode(cmd *command) string {
	code, _ := statusInfo(cmd).GetString("code")
	return code
}

// failedStatus returns a *StatusError for an onStatus that reports an
// error.
func (c *Client) failedStatus(cmd *command) error {
	info := statusInfo(cmd)
	level, _ := info.GetString("level")
	code, _ := info.GetString("code")
	if level == "error" || strings.HasSuffix(code, ".Failed") || strings.HasSuffix(code, ".StreamNotFound") ||
		strings.HasSuffix(code, ".BadName") || strings.HasSuffix(code, ".BadAuth") || strings.HasSuffix(code, ".Rejected") {
		return c.statusError(cmd)
	}
	return nil
}

func (c *Client) statusError(cmd *command) *StatusError {
	info := statusInfo(cmd)
	e := &StatusError{Op: c.op, URL: c.u.Display}
	e.Level, _ = info.GetString("level")
	e.Code, _ = info.GetString("code")
	e.Description, _ = info.GetString("description")
	if e.Code == "" {
		e.Code = cmd.name
	}
	return e
}

// isStopCode reports whether an onStatus code ends playback.
func isStopCode(code string) bool {
	switch code {
	case "NetStream.Play.Stop", "NetStream.Play.UnpublishNotify", "NetStream.Play.Complete":
		return true
	}
	return false
}

// readCause explains a read error.
func (c *Client) readCause(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("nothing from the server for %v: %w", timeout, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("connection closed by the server: %w", io.ErrUnexpectedEOF)
	}
	return c.ioCause(err)
}

// ioCause turns errors of a connection closed by Close into net.ErrClosed.
func (c *Client) ioCause(err error) error {
	if c.closed.Load() && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("client closed: %w", net.ErrClosed)
	}
	return err
}

// Close ends the session (deleteStream, and FCUnpublish when publishing)
// and closes the connection. A publishing client waits briefly for the
// server to take what was sent. Close is safe to call more than once and
// concurrently with reads and writes, which then fail.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		polite := false
		if c.wmu.TryLock() {
			// A writer blocked on a full socket holds the lock; then
			// there is no point saying goodbye.
			c.mw.reset()
			if c.op == "publish" {
				_ = c.mw.amf(csidStream, MsgCommandAMF0, c.streamID, "FCUnpublish", float64(0), nil, c.u.Stream)
			}
			_ = c.mw.amf(csidStream, MsgCommandAMF0, c.streamID, "deleteStream", float64(0), nil, float64(c.streamID))
			_ = c.nc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			_, err := c.nc.Write(c.mw.buf)
			polite = err == nil
			c.mw.reset()
			c.wmu.Unlock()
		}
		if polite && c.watchDone != nil {
			// Half-close and let the server read everything before it
			// closes its side: closing with unread data would reset the
			// connection and could lose the end of the stream.
			if tc, ok := c.nc.Conn.(interface{ CloseWrite() error }); ok && tc.CloseWrite() == nil {
				t := time.NewTimer(min(closeWait, c.opts.WriteTimeout))
				select {
				case <-c.watchDone:
				case <-t.C:
				}
				t.Stop()
			}
		}
		c.nc.Close()
	})
	if c.watchDone != nil {
		<-c.watchDone
	}
	return nil
}
