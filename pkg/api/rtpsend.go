package api

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtpsend"
)

// RTPSenders runs RTP senders (pkg/rtpsend's Manager).
type RTPSenders interface {
	Start(ctx context.Context, o rtpsend.Options) (int, error)
	Stop(ctx context.Context, key engine.Key, ssrc string) (int, error)
	List(ctx context.Context, key engine.Key) ([]rtpsend.Info, error)
}

// RegisterRTPSend registers startSendRtp, startSendRtpPassive,
// startSendRtpTalk, listRtpSender and stopSendRtp.
func (s *Server) RegisterRTPSend(senders RTPSenders) {
	e := &rtpSendEndpoints{senders: senders}
	s.Handle("startSendRtp", e.start(false))
	s.Handle("startSendRtpPassive", e.start(true))
	s.Handle("startSendRtpTalk", e.talk)
	s.Handle("listRtpSender", e.list)
	s.Handle("stopSendRtp", e.stop)
}

type rtpSendEndpoints struct{ senders RTPSenders }

func streamKey(p *Params) engine.Key {
	return engine.NewKey(p.Get("vhost"), p.Get("app"), p.Get("stream"))
}

// sendOptions reads the parameters every start endpoint shares.
func sendOptions(p *Params) (rtpsend.Options, error) {
	o := rtpsend.Options{Key: streamKey(p), SSRC: p.Get("ssrc"), Format: rtpsend.FormatPS}
	if _, err := rtpsend.ParseSSRC(o.SSRC); err != nil {
		return o, Errorf(CodeInvalidArgs, "parameter \"ssrc\": %q is not a 32-bit decimal SSRC", o.SSRC)
	}
	typ, err := p.Int("type", int64(rtpsend.FormatPS))
	if err != nil {
		return o, err
	}
	if p.Get("use_ps") != "" {
		// Older clients: use_ps overrides type, as in ZLMediaKit.
		if typ, err = p.Int("use_ps", 1); err != nil {
			return o, err
		}
	}
	if typ < 0 || typ > 2 {
		return o, Errorf(CodeInvalidArgs, "parameter \"type\": %d is not 0 (es), 1 (ps) or 2 (ts)", typ)
	}
	o.Format = rtpsend.Format(typ)
	pt, err := p.Int("pt", rtpsend.DefaultPayloadType)
	if err != nil {
		return o, err
	}
	if pt < 0 || pt > 127 {
		return o, Errorf(CodeInvalidArgs, "parameter \"pt\": %d is not an RTP payload type", pt)
	}
	o.PayloadType = int(pt)
	if o.OnlyAudio, err = p.Bool("only_audio", false); err != nil {
		return o, err
	}
	return o, nil
}

// portParam reads a port parameter; 0 when absent.
func portParam(p *Params, name string) (int, error) {
	v, err := p.Int(name, 0)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > 65535 {
		return 0, Errorf(CodeInvalidArgs, "parameter %q: %d is not a port", name, v)
	}
	return int(v), nil
}

func (e *rtpSendEndpoints) start(passive bool) HandlerFunc {
	return func(ctx context.Context, p *Params) (Reply, error) {
		required := []string{"vhost", "app", "stream", "ssrc"}
		if !passive {
			required = append(required, "dst_url", "dst_port", "is_udp")
		}
		if err := p.RequireAll(required...); err != nil {
			return nil, err
		}
		o, err := sendOptions(p)
		if err != nil {
			return nil, err
		}
		udp, err := p.Bool("is_udp", false)
		if err != nil {
			return nil, err
		}
		switch {
		case passive && udp:
			o.Mode = rtpsend.UDPPassive
		case passive:
			o.Mode = rtpsend.TCPPassive
		case udp:
			o.Mode = rtpsend.UDPActive
		default:
			o.Mode = rtpsend.TCPActive
		}
		o.DstURL = p.Get("dst_url")
		if o.DstPort, err = portParam(p, "dst_port"); err != nil {
			return nil, err
		}
		if !passive && o.DstPort == 0 {
			return nil, Errorf(CodeInvalidArgs, "parameter \"dst_port\": %q is not a port", p.Get("dst_port"))
		}
		if o.SrcPort, err = portParam(p, "src_port"); err != nil {
			return nil, err
		}
		delay, err := p.Int("close_delay_ms", 0)
		if err != nil {
			return nil, err
		}
		if delay < 0 || delay > int64(math.MaxInt64/time.Millisecond) {
			return nil, Errorf(CodeInvalidArgs, "parameter \"close_delay_ms\": %d is not a duration in milliseconds", delay)
		}
		o.CloseDelay = time.Duration(delay) * time.Millisecond
		// recv_stream_id, which asks ZLMediaKit to also receive RTP over
		// the sender's link, is not supported: mediakit only sends here
		// (startSendRtpTalk answers over a received stream's link).
		return e.startReply(ctx, o)
	}
}

func (e *rtpSendEndpoints) talk(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("vhost", "app", "stream", "ssrc", "recv_stream_id"); err != nil {
		return nil, err
	}
	o, err := sendOptions(p)
	if err != nil {
		return nil, err
	}
	o.Mode = rtpsend.VoiceTalk
	o.RecvStreamID = p.Get("recv_stream_id")
	return e.startReply(ctx, o)
}

// startReply starts a sender and answers as ZLMediaKit: local_port, and
// with an error code -1 and the socket error's message when connecting
// failed.
func (e *rtpSendEndpoints) startReply(ctx context.Context, o rtpsend.Options) (Reply, error) {
	port, err := e.senders.Start(ctx, o)
	switch {
	case err == nil:
		return Reply{"local_port": port}, nil
	case errors.Is(err, rtpsend.ErrStreamNotFound):
		return nil, &Error{Code: CodeNotFound, Msg: "can not find the source stream"}
	case errors.Is(err, rtpsend.ErrInvalidOptions):
		return nil, &Error{Code: CodeInvalidArgs, Msg: err.Error()}
	}
	return Reply{"local_port": 0}, &Error{Code: CodeOtherFailed, Msg: err.Error()}
}

func (e *rtpSendEndpoints) list(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("vhost", "app", "stream"); err != nil {
		return nil, err
	}
	list, err := e.senders.List(ctx, streamKey(p))
	if errors.Is(err, rtpsend.ErrStreamNotFound) {
		return nil, &Error{Code: CodeNotFound, Msg: "can not find the source stream"}
	}
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return Reply{}, nil // no data key, as ZLMediaKit
	}
	ssrcs := make([]string, 0, len(list))
	var speed, total int64
	for _, in := range list {
		ssrcs = append(ssrcs, in.SSRC)
		speed += in.BytesPerSecond
		total += in.BytesSent
	}
	// ZLMediaKit writes one bytesSpeed and totalBytes per reply (its
	// last sender's); with several senders, these are their sums.
	return Reply{"data": ssrcs, "bytesSpeed": speed, "totalBytes": total}, nil
}

func (e *rtpSendEndpoints) stop(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("vhost", "app", "stream"); err != nil {
		return nil, err
	}
	n, err := e.senders.Stop(ctx, streamKey(p), p.Get("ssrc"))
	if errors.Is(err, rtpsend.ErrStreamNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, &Error{Code: CodeOtherFailed, Msg: "stopSendRtp failed"}
	}
	return Reply{}, nil
}
