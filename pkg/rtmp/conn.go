package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/mediakit/mediakit/pkg/engine"
)

// countingReader counts bytes read from the connection, for
// acknowledgements and byte metrics.
type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// conn is one RTMP connection. Until publish or play, one goroutine owns
// it; a playing session adds a goroutine that only reads.
type conn struct {
	srv *Server
	nc  net.Conn
	id  string
	log *slog.Logger
	// ctx ends when the server closes the connection, so a publish or
	// play waiting on a hook or a stream stops waiting.
	ctx    context.Context
	cancel context.CancelFunc

	in            *countingReader
	src           io.Reader // what the chunk reader's buffer reads from: in, after a rebuffer what the old buffer held first
	cr            *ChunkReader
	msg           Message // the last message read (readMessage)
	mw            messageWriter
	peerAckWindow uint32
	lastAck       uint64

	app      string
	tcURL    string
	appQuery string
	streamID uint32

	// handedOff is set when a goroutine of the session took the
	// connection over (startPlay); done is called once the connection
	// is finished, by whichever goroutine finishes it.
	handedOff bool
	done      func()
}

func newConn(s *Server, nc net.Conn, id string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv:    s,
		nc:     nc,
		id:     id,
		log:    s.Log.With("session", id, "remote", nc.RemoteAddr().String()),
		ctx:    ctx,
		cancel: cancel,
	}
}

// serve runs the connection; done is called when it is finished, which
// for a player is after serve returned.
func (c *conn) serve(done func()) {
	c.done = done
	err := c.run()
	if c.handedOff {
		return
	}
	c.cancel()
	c.nc.Close()
	c.logClosed(err)
	if done != nil {
		done()
	}
}

func (c *conn) logClosed(err error) {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug("rtmp connection closed")
	default:
		c.log.Info("rtmp connection closed", "error", err.Error())
	}
}

func (c *conn) run() error {
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.HandshakeTimeout))
	keyIn, _, err := handshake.DoServer(c.nc, false)
	if err != nil {
		return fmt.Errorf("rtmp: handshake: %w", err)
	}
	if keyIn != nil {
		return errors.New("rtmp: handshake: encrypted RTMP (RTMPE) is not supported")
	}
	c.in = &countingReader{r: c.nc}
	// Commands need little buffer; a publishing session gets a larger one
	// (rebuffer) and a playing one keeps this small one, since thousands
	// of idle players each hold it.
	c.src = c.in
	c.cr = NewChunkReader(bufio.NewReaderSize(c.src, 2<<10), c.srv.Limits)

	for {
		msg, err := c.readMessage()
		if err != nil {
			return err
		}
		if msg == nil {
			continue
		}
		if msg.Type != MsgCommandAMF0 && msg.Type != MsgCommandAMF3 {
			continue // media before publish, stray data: ignore
		}
		cmd, err := parseCommand(msg)
		if err != nil {
			return err
		}
		done, err := c.handleCommand(cmd)
		if err != nil || done {
			return err
		}
	}
}

// readMessage reads a message and applies protocol control messages. It
// returns nil for messages consumed here. The Message is valid until the
// next readMessage (the session handles each before it reads on).
func (c *conn) readMessage() (*Message, error) {
	msg := &c.msg
	if err := c.cr.ReadMessageTo(msg); err != nil {
		return nil, err
	}
	if err := c.maybeAck(); err != nil {
		return nil, err
	}
	consumed, ping, err := applyControl(c.cr, msg, &c.peerAckWindow)
	if err != nil {
		return nil, fmt.Errorf("rtmp: %w", err)
	}
	if ping != nil {
		c.mw.reset()
		c.mw.userControl(ucPingResponse, *ping)
		return nil, c.flush()
	}
	if consumed {
		return nil, nil
	}
	return msg, nil
}

// maybeAck acknowledges received bytes once per window the peer asked for.
func (c *conn) maybeAck() error {
	if c.peerAckWindow == 0 || c.in.n-c.lastAck < uint64(c.peerAckWindow) {
		return nil
	}
	c.lastAck = c.in.n
	c.mw.reset()
	c.mw.ack(uint32(c.in.n))
	return c.flush()
}

func (c *conn) flush() error {
	if len(c.mw.buf) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.mw.buf)
	c.mw.reset()
	return err
}

// handleCommand answers NetConnection and NetStream commands. It reports
// done when the session (publish or play) has run to its end.
func (c *conn) handleCommand(cmd *command) (bool, error) {
	c.mw.reset()
	switch cmd.name {
	case "connect":
		return false, c.onConnect(cmd)
	case "createStream":
		c.streamID = 1
		if err := c.mw.result(cmd.txn, nil, float64(c.streamID)); err != nil {
			return false, err
		}
		return false, c.flush()
	case "releaseStream", "FCPublish", "FCUnpublish", "getStreamLength":
		if cmd.txn != 0 {
			if err := c.mw.result(cmd.txn, nil, amf0Undefined); err != nil {
				return false, err
			}
		}
		return false, c.flush()
	case "publish":
		return true, c.onPublish(cmd)
	case "play":
		return true, c.onPlay(cmd)
	case "deleteStream", "closeStream":
		return false, nil
	}
	c.log.Debug("rtmp command ignored", "command", cmd.name)
	return false, nil
}

func (c *conn) onConnect(cmd *command) error {
	if cmd.object == nil {
		return errors.New("rtmp: connect without a command object")
	}
	app, _ := cmd.object.GetString("app")
	c.tcURL, _ = cmd.object.GetString("tcUrl")
	if c.tcURL == "" {
		c.tcURL, _ = cmd.object.GetString("tcurl")
	}
	app, c.appQuery, _ = strings.Cut(app, "?")
	c.app = strings.Trim(app, "/")
	if c.app == "" {
		_ = c.mw.amf(csidCommand, MsgCommandAMF0, 0, "_error", cmd.txn, nil, statusObject(
			"error", "NetConnection.Connect.Rejected", "missing app"))
		_ = c.flush()
		return errors.New("rtmp: connect without an app")
	}
	c.mw.windowAckSize(2500000)
	c.mw.setPeerBandwidth(2500000)
	c.mw.setChunkSize(OutChunkSize)
	info := statusObject("status", "NetConnection.Connect.Success", "Connection succeeded.")
	info = append(info, amf0ObjectEntry("objectEncoding", float64(0)))
	props := []any{fmsProperties()}
	if cmd.object != nil {
		if _, ok := cmd.object.Get("fourCcList"); ok {
			// Enhanced RTMP: tell the client which FourCCs we carry.
			info = append(info, amf0ObjectEntry("fourCcList", amf0StrictArray("avc1", "hvc1", "mp4a")))
		}
	}
	if err := c.mw.result(cmd.txn, append(props, info)...); err != nil {
		return err
	}
	return c.flush()
}

// streamKey builds the engine key from the connect app and the stream
// name of publish or play, which may carry a query (?vhost=...&token=...).
func (c *conn) streamKey(name string) (engine.Key, string) {
	name, query, _ := strings.Cut(name, "?")
	q := query
	if c.appQuery != "" {
		if q != "" {
			q = c.appQuery + "&" + q
		} else {
			q = c.appQuery
		}
	}
	vals, _ := url.ParseQuery(q)
	app := c.app
	if strings.Trim(name, "/") == "" {
		// Clients such as gortmplib's send rtmp://host/app/stream as app
		// "app/stream" with an empty stream name.
		app, name, _ = strings.Cut(app, "/")
	}
	return engine.NewKey(vals.Get("vhost"), app, strings.Trim(name, "/")), q
}

func (c *conn) sessionInfo(params string) engine.SessionInfo {
	return engine.SessionInfo{
		ID:       c.id,
		Protocol: "rtmp",
		Remote:   c.nc.RemoteAddr().String(),
		Local:    c.nc.LocalAddr().String(),
		Params:   params,
	}
}

func (c *conn) refuse(code, description string) {
	c.mw.reset()
	_ = c.mw.onStatus(c.streamID, "error", code, description)
	_ = c.flush()
}

func (c *conn) onPublish(cmd *command) error {
	name, _ := cmd.stringArg(0)
	key, params := c.streamKey(name)
	c.log = c.log.With("stream", key.String())
	pub, err := c.srv.Engine.Publish(c.ctx, key, c.sessionInfo(params))
	if err != nil {
		switch {
		case errors.Is(err, engine.ErrAlreadyPublishing):
			c.refuse("NetStream.Publish.BadName", "Already publishing: "+key.String())
		case errors.Is(err, engine.ErrDenied):
			c.refuse("NetStream.Publish.BadAuth", "Publish denied: "+key.String())
		default:
			c.refuse("NetStream.Publish.BadName", err.Error())
		}
		return fmt.Errorf("rtmp: publish %s: %w", key, err)
	}
	return c.runPublish(pub, cmd)
}

func (c *conn) onPlay(cmd *command) error {
	name, _ := cmd.stringArg(0)
	key, params := c.streamKey(name)
	c.log = c.log.With("stream", key.String())
	return c.startPlay(key, params)
}

// rebuffer replaces the chunk reader's buffer with one of size bytes,
// keeping whatever the old one had read ahead.
//
// The new buffer reads the old one's unread bytes first, then the old
// one's source, which may itself still hold bytes of an earlier buffer.
func (c *conn) rebuffer(size int) {
	if n := c.cr.r.Buffered(); n > 0 {
		ahead, _ := c.cr.r.Peek(n)
		c.src = io.MultiReader(bytes.NewReader(bytes.Clone(ahead)), c.src)
	}
	c.cr.r = bufio.NewReaderSize(c.src, size)
}
