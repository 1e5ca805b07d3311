package rtsp

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/mediakit/mediakit/pkg/engine"
)

// handler receives gortsplib's callbacks for one listener (plain or
// TLS). Every callback that gortsplib would otherwise answer with a
// log.Println is implemented, so nothing reaches the standard logger.
type handler struct {
	s      *Server
	srv    *gortsplib.Server
	secure bool
}

var (
	_ gortsplib.ServerHandlerOnConnOpen         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnConnClose        = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSessionOpen      = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSessionClose     = (*handler)(nil)
	_ gortsplib.ServerHandlerOnDescribe         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnAnnounce         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSetup            = (*handler)(nil)
	_ gortsplib.ServerHandlerOnPlay             = (*handler)(nil)
	_ gortsplib.ServerHandlerOnRecord           = (*handler)(nil)
	_ gortsplib.ServerHandlerOnResponse         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnPacketsLost      = (*handler)(nil)
	_ gortsplib.ServerHandlerOnDecodeError      = (*handler)(nil)
	_ gortsplib.ServerHandlerOnStreamWriteError = (*handler)(nil)
)

func connOf(sc *gortsplib.ServerConn) *conn {
	c, _ := sc.UserData().(*conn)
	return c
}

func sessionOf(ss *gortsplib.ServerSession) *rtspSession {
	s, _ := ss.UserData().(*rtspSession)
	return s
}

func (h *handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	c := newConn(h.s, ctx.Conn, h.secure)
	ctx.Conn.SetUserData(c)
	if !h.s.addConn(c) {
		ctx.Conn.Close()
		return
	}
	c.register()
	c.log.Debug("rtsp connection opened")
}

func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	c := connOf(ctx.Conn)
	if c == nil {
		return
	}
	h.s.removeConn(c)
	c.closeConn()
	if ctx.Error != nil {
		c.log.Debug("rtsp connection closed", "reason", ctx.Error.Error())
	}
}

func (h *handler) OnSessionOpen(ctx *gortsplib.ServerHandlerOnSessionOpenCtx) {
	c := connOf(ctx.Conn)
	s := newRTSPSession(h.s, ctx.Session, c)
	ctx.Session.SetUserData(s)
	if c != nil {
		c.link(s)
	}
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s := sessionOf(ctx.Session)
	if s == nil {
		return
	}
	s.close(ctx.Error)
	if s.conn != nil {
		s.conn.unlink(s)
	}
}

// OnResponse reads the interleaved channels gortsplib gave a play
// SETUP: a player writes its RTP on them itself.
func (h *handler) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	c := connOf(sc)
	if c == nil {
		return
	}
	c.mu.Lock()
	p, idx := c.setupFor, c.setupIndex
	c.setupFor = nil
	c.mu.Unlock()
	if p == nil || res.StatusCode != base.StatusOK {
		return
	}
	var th headers.Transport
	if err := th.Unmarshal(res.Header["Transport"]); err != nil || th.InterleavedIDs == nil {
		return
	}
	p.setChannel(idx, th.InterleavedIDs[0])
}

// refusal maps an engine error to an RTSP status, as ZLMediaKit answers
// them.
func refusal(err error) base.StatusCode {
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return base.StatusNotFound
	case errors.Is(err, engine.ErrInvalidKey):
		return base.StatusBadRequest
	case errors.Is(err, engine.ErrDenied):
		return base.StatusUnauthorized
	case errors.Is(err, engine.ErrAlreadyPublishing):
		return base.StatusNotAcceptable
	case errors.Is(err, engine.ErrTooManyReaders), errors.Is(err, engine.ErrTooManyStreams),
		errors.Is(err, engine.ErrEngineClosed):
		return base.StatusServiceUnavailable
	}
	return base.StatusInternalServerError
}

func textResponse(code base.StatusCode, text string) *base.Response {
	return &base.Response{
		StatusCode: code,
		Header:     base.Header{"Content-Type": base.HeaderValue{"text/plain"}},
		Body:       []byte(text + "\n"),
	}
}

// OnDescribe authorises a player and waits for its stream (both through
// engine.Play, which runs on_play and waits up to the stream wait time),
// then describes the stream's tracks. The reader it got waits for the
// SETUP that follows.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c := connOf(ctx.Conn)
	if c == nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil, nil
	}
	p, res, err := h.preparePlay(c, ctx.Request, ctx.Path, ctx.Query)
	if p == nil {
		return res, nil, err
	}
	if !c.setPending(p, h.s.SetupTimeout) {
		p.close()
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

// preparePlay runs the RTSP authentication, engine.Play and the
// description of the stream for a DESCRIBE (or a SETUP without one). A
// nil player comes with the response to send and, when the connection
// must close (a wrong password), an error.
func (h *handler) preparePlay(c *conn, req *base.Request, path, query string) (*pendingPlay, *base.Response, error) {
	key, err := StreamKey(path, query)
	if err != nil {
		c.log.Info("rtsp play refused", "path", path, "error", err.Error())
		return nil, textResponse(base.StatusBadRequest, "invalid stream path"), nil
	}
	log := c.log.With("stream", key.String())
	info := c.sessionInfo(query, req)
	playCtx, res, err := c.realmAuth(c.ctx, req, key, info)
	if res != nil {
		return nil, res, err
	}
	reader, err := h.s.Engine.Play(playCtx, key, info)
	if err != nil {
		log.Info("rtsp play refused", "error", err.Error())
		return nil, textResponse(refusal(err), err.Error()), nil
	}
	desc, medias, skipped, err := describeTracks(reader.Tracks())
	var extra []string
	for _, t := range skipped {
		if !Carries(t.Codec) {
			reader.DropTrack("rtsp", t, "RTSP players are sent no "+t.Codec.String())
		} else {
			extra = append(extra, t.String())
		}
	}
	if len(extra) > 0 {
		log.Info("rtsp player gets the first track of each kind and no other", "left_out", fmt.Sprint(extra))
	}
	if err != nil {
		reader.Close()
		log.Info("rtsp play refused", "error", err.Error())
		return nil, textResponse(base.StatusUnsupportedMediaType, err.Error()), nil
	}
	stream := &gortsplib.ServerStream{Server: h.srv, Desc: desc}
	if err := stream.Initialize(); err != nil {
		reader.Close()
		log.Warn("rtsp play failed", "error", err.Error())
		return nil, &base.Response{StatusCode: base.StatusInternalServerError}, nil
	}
	return &pendingPlay{key: key, path: path, query: query, info: info, reader: reader, stream: stream, medias: medias, skipped: skipped}, nil, nil
}

// OnAnnounce authorises a publisher (engine.Publish runs on_publish) and
// picks the tracks it will carry.
func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	s := sessionOf(ctx.Session)
	if s == nil || s.conn == nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil
	}
	return s.announce(ctx)
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s := sessionOf(ctx.Session)
	c := connOf(ctx.Conn)
	if s == nil || c == nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil, nil
	}
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return s.setupRecord(ctx)
	}
	return s.setupPlay(h, c, ctx)
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	s := sessionOf(ctx.Session)
	c := connOf(ctx.Conn)
	if s == nil || c == nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil
	}
	return s.play(c, ctx)
}

func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s := sessionOf(ctx.Session)
	if s == nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil
	}
	return s.record(ctx)
}

func (h *handler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	if s := sessionOf(ctx.Session); s != nil {
		s.packetsLost(ctx.Lost)
	}
}

func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	if s := sessionOf(ctx.Session); s != nil {
		s.decodeError(ctx.Error)
	}
}

// OnStreamWriteError is never expected: players write to their sessions,
// not to the ServerStream.
func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	if s := sessionOf(ctx.Session); s != nil {
		s.log().Debug("rtsp stream write error", "error", ctx.Error.Error())
	}
}
