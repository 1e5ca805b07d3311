package hook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/record"
	"github.com/mediakit/mediakit/pkg/rtpserver"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// Hook names, as ZLMediaKit calls them.
const (
	OnPublish          = "on_publish"
	OnPlay             = "on_play"
	OnFlowReport       = "on_flow_report"
	OnStreamChanged    = "on_stream_changed"
	OnStreamNoneReader = "on_stream_none_reader"
	OnStreamNotFound   = "on_stream_not_found"
	OnServerStarted    = "on_server_started"
	OnServerExited     = "on_server_exited"
	OnServerKeepalive  = "on_server_keepalive"
	OnRTPServerTimeout = "on_rtp_server_timeout"
)

// StreamCloser closes a stream when on_stream_none_reader says so.
type StreamCloser interface {
	CloseStream(ctx context.Context, key engine.Key, reason string) (bool, error)
}

var (
	_ engine.Observer    = (*Hooks)(nil)
	_ engine.Authorizer  = (*Hooks)(nil)
	_ record.Notifier    = (*Hooks)(nil)
	_ rtpserver.Notifier = (*Hooks)(nil)
)

// Hooks turns engine events and authorization questions into
// ZLMediaKit's web hooks. It implements engine.Observer and
// engine.Authorizer.
type Hooks struct {
	client        *Client
	log           *slog.Logger
	closer        StreamCloser
	flowThreshold func() int64 // bytes
	speed         zlm.SpeedMeter

	// Pull, when set, is told of every stream a player waits for that is
	// not published, once on_stream_not_found has answered (or at once
	// when that hook is not configured): url is the "url" field of the
	// reply, "" when it named none, the hook failed or is not configured.
	// It runs in a hook worker or the stream's owner: no blocking.
	Pull func(key engine.Key, url string)
	// Schemas tells which schemas a stream is served in; nil: rtmp only.
	// The HLS variants are announced by their muxers (SchemaChanged).
	Schemas zlm.SchemaSet
}

// NewHooks wires hooks to client; closer closes streams nobody watches
// when on_stream_none_reader answers close:true; flowThreshold returns the
// byte count below which sessions are not reported.
func NewHooks(client *Client, closer StreamCloser, flowThreshold func() int64, log *slog.Logger) *Hooks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hooks{client: client, log: log, closer: closer, flowThreshold: flowThreshold}
}

// sessionFields are the fields ZLMediaKit adds for hooks a session
// triggers: schema, protocol, media tuple, peer ip/port and session id.
func sessionFields(key engine.Key, s engine.SessionInfo, schema string) map[string]any {
	m := zlm.Tuple(key, s.Params)
	m["schema"] = schema
	m["protocol"] = zlm.HookProtocol(s.Protocol)
	ip, port := zlm.SplitAddr(s.Remote)
	m["ip"] = ip
	m["port"] = port
	m["id"] = s.ID
	return m
}

// AuthorizePublish asks on_publish. No hook configured: allowed. A reply
// with a non-zero code, or no usable reply after the retries: denied.
func (h *Hooks) AuthorizePublish(ctx context.Context, key engine.Key, s engine.SessionInfo) (engine.PublishOptions, error) {
	body := sessionFields(key, s, zlm.ReaderSchema(s.Protocol))
	origin := zlm.Origin(s.Protocol)
	body["originType"] = int(origin)
	body["originTypeStr"] = origin.String()
	reply, err := h.client.Call(ctx, OnPublish, body)
	if errors.Is(err, ErrNotConfigured) {
		return engine.PublishOptions{}, nil
	}
	if err != nil {
		h.log.Info("publish denied by hook", "stream", key.String(), "session", s.ID, "remote", s.Remote, "error", err.Error())
		return engine.PublishOptions{}, fmt.Errorf("%w: %w", engine.ErrDenied, err)
	}
	return publishOptions(reply, h.log), nil
}

// publishOptions reads the per-stream options of an on_publish reply.
// JSON null means "the default", as WVP-GB28181-pro sends it.
func publishOptions(reply map[string]any, log *slog.Logger) engine.PublishOptions {
	opts := engine.PublishOptions{Values: map[string]string{}}
	for k, v := range reply {
		if v == nil || k == "code" || k == "msg" {
			continue
		}
		switch x := v.(type) {
		case string:
			opts.Values[k] = x
		case json.Number:
			opts.Values[k] = x.String()
		case bool:
			if x {
				opts.Values[k] = "1"
			} else {
				opts.Values[k] = "0"
			}
		}
	}
	opts.StreamReplace = strings.TrimSpace(opts.Values["stream_replace"])
	if v, ok := opts.Values["continue_push_ms"]; ok {
		var ms json.Number = json.Number(v)
		if n, err := ms.Float64(); err == nil && n >= 0 {
			// Saturated: converting a float beyond int64 gives a
			// negative duration, no grace at all for a huge one.
			d := time.Duration(math.MaxInt64)
			if n < float64(math.MaxInt64/int64(time.Millisecond)) {
				d = time.Duration(n * float64(time.Millisecond))
			}
			opts.ContinuePush = &d
		} else {
			log.Warn("on_publish reply: continue_push_ms is not a number", "value", v)
		}
	}
	return opts
}

// AuthorizePlay asks on_play.
func (h *Hooks) AuthorizePlay(ctx context.Context, key engine.Key, s engine.SessionInfo) error {
	if rtspAuthenticated(ctx) {
		return nil // on_rtsp_auth stood in for on_play (see WithRTSPAuthenticated)
	}
	_, err := h.client.Call(ctx, OnPlay, sessionFields(key, s, zlm.ReaderSchema(s.Protocol)))
	if errors.Is(err, ErrNotConfigured) {
		return nil
	}
	if err != nil {
		h.log.Info("play denied by hook", "stream", key.String(), "session", s.ID, "remote", s.Remote, "error", err.Error())
		return fmt.Errorf("%w: %w", engine.ErrDenied, err)
	}
	return nil
}

// StreamReady sends on_stream_changed with regist=true, one per schema
// served from the first frame.
func (h *Hooks) StreamReady(info engine.StreamInfo) {
	now := time.Now()
	speed := h.speed.Speed(info, now)
	for _, schema := range h.schemas(info) {
		if zlm.IsSegmented(schema) {
			continue
		}
		body := zlm.MediaSource(info, schema, speed, now)
		body["regist"] = true
		h.client.Notify(OnStreamChanged, body)
	}
}

// StreamEnded sends on_stream_changed with regist=false, one per schema
// served from the first frame.
func (h *Hooks) StreamEnded(info engine.StreamInfo) {
	h.speed.Drop(info.Key)
	for _, schema := range h.schemas(info) {
		if !zlm.IsSegmented(schema) {
			h.notifyUnregistered(info, schema)
		}
	}
}

// SchemaChanged sends on_stream_changed for one schema that starts or
// stops later than its stream: an HLS variant, at its first segment and
// when its muxer stops.
func (h *Hooks) SchemaChanged(info engine.StreamInfo, schema string, regist bool) {
	if !regist {
		h.notifyUnregistered(info, schema)
		return
	}
	now := time.Now()
	body := zlm.MediaSource(info, schema, h.speed.Speed(info, now), now)
	body["regist"] = true
	h.client.Notify(OnStreamChanged, body)
}

func (h *Hooks) notifyUnregistered(info engine.StreamInfo, schema string) {
	params := ""
	if info.Publisher != nil {
		params = info.Publisher.Params
	}
	body := zlm.Tuple(info.Key, params)
	body["schema"] = schema
	body["regist"] = false
	h.client.Notify(OnStreamChanged, body)
}

func (h *Hooks) schemas(info engine.StreamInfo) []string {
	if h.Schemas == nil {
		return zlm.RTMPOnly(info)
	}
	return h.Schemas(info)
}

// StreamNoReaders asks on_stream_none_reader and closes the stream when
// the reply says close:true.
func (h *Hooks) StreamNoReaders(info engine.StreamInfo) {
	params := ""
	if info.Publisher != nil {
		params = info.Publisher.Params
	}
	body := zlm.Tuple(info.Key, params)
	body["schema"] = zlm.SchemaRTMP
	h.client.NotifyFunc(OnStreamNoneReader, body, func(reply map[string]any, err error) {
		if err != nil || !truthy(reply["close"]) || h.closer == nil {
			return
		}
		h.log.Info("closing stream without readers, as on_stream_none_reader asked", "stream", info.Key.String())
		if _, err := h.closer.CloseStream(context.Background(), info.Key, "no readers (on_stream_none_reader)"); err != nil {
			h.log.Warn("close stream without readers failed", "stream", info.Key.String(), "error", err.Error())
		}
	})
}

// StreamNotFound sends on_stream_not_found. A reply with close:true ends
// the player's wait at once.
//
// A reply may name a URL to pull the stream from ("url", mediakit's
// extension): the player then waits for that pull (see Hooks.Pull).
func (h *Hooks) StreamNotFound(key engine.Key, reader engine.SessionInfo, reject func()) {
	if !h.client.Configured(OnStreamNotFound) {
		if h.Pull != nil {
			h.Pull(key, "")
		}
		return
	}
	h.client.NotifyFunc(OnStreamNotFound, sessionFields(key, reader, zlm.ReaderSchema(reader.Protocol)),
		func(reply map[string]any, err error) {
			if err == nil && truthy(reply["close"]) {
				if reject != nil {
					reject()
				}
				return
			}
			url := ""
			if err == nil {
				url, _ = reply["url"].(string)
			}
			if h.Pull != nil {
				h.Pull(key, strings.TrimSpace(url))
			}
		})
}

// SessionEnded sends on_flow_report for sessions above the threshold.
func (h *Hooks) SessionEnded(r engine.SessionReport) {
	if h.flowThreshold != nil && r.Bytes < h.flowThreshold() {
		return
	}
	body := sessionFields(r.Key, r.Session, zlm.ReaderSchema(r.Session.Protocol))
	body["totalBytes"] = r.Bytes
	body["duration"] = int64(r.Duration.Seconds())
	body["player"] = r.Player
	h.client.Notify(OnFlowReport, body)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case json.Number:
		n, err := x.Int64()
		return err == nil && n != 0
	case string:
		return x == "1" || strings.EqualFold(x, "true")
	}
	return false
}

// ServerStarted sends on_server_started with the configuration.
func (h *Hooks) ServerStarted(config map[string]string) {
	body := make(map[string]any, len(config))
	for k, v := range config {
		body[k] = v
	}
	h.client.Notify(OnServerStarted, body)
}

// ServerExited sends on_server_exited and waits for it (bounded by ctx).
func (h *Hooks) ServerExited(ctx context.Context) {
	if _, err := h.client.Call(ctx, OnServerExited, map[string]any{}); err != nil && !errors.Is(err, ErrNotConfigured) {
		h.log.Warn("on_server_exited failed", "error", err.Error())
	}
}

// Keepalive sends on_server_keepalive every interval() until ctx ends.
// The interval is read again at least twice a second, so a change through
// setServerConfig applies at once rather than after the old period.
func (h *Hooks) Keepalive(ctx context.Context, interval func() time.Duration, statistic func() map[string]any) {
	last := time.Now()
	for {
		d := interval()
		if d <= 0 {
			d = 10 * time.Second
		}
		wait := min(time.Until(last.Add(d)), 500*time.Millisecond)
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		last = time.Now()
		h.client.Notify(OnServerKeepalive, map[string]any{"data": statistic()})
	}
}

// Record hook names.
const (
	OnRecordMP4 = "on_record_mp4"
	OnRecordTS  = "on_record_ts"
)

// RTPServerTimeout sends on_rtp_server_timeout, with ZLMediaKit's body,
// for an RTP server closed for receiving nothing.
func (h *Hooks) RTPServerTimeout(t rtpserver.TimeoutInfo) {
	h.client.Notify(OnRTPServerTimeout, map[string]any{
		"local_port":  t.LocalPort,
		"vhost":       t.Vhost,
		"app":         t.App,
		"stream_id":   t.StreamID,
		"tcp_mode":    int(t.TCPMode),
		"re_use_port": t.ReusePort,
		"ssrc":        t.SSRC,
	})
}

// RecordMP4 sends on_record_mp4 for a finished MP4 file.
func (h *Hooks) RecordMP4(info record.Info) { h.client.Notify(OnRecordMP4, recordBody(info)) }

// RecordTS sends on_record_ts for a finished HLS recording segment.
func (h *Hooks) RecordTS(info record.Info) { h.client.Notify(OnRecordTS, recordBody(info)) }

// recordBody is ZLMediaKit's getRecordInfo.
func recordBody(info record.Info) map[string]any {
	m := zlm.Tuple(info.Key, info.Params)
	m["start_time"] = info.StartTime.Unix()
	m["file_size"] = info.FileSize
	m["time_len"] = info.TimeLen.Seconds()
	m["file_path"] = info.FilePath
	m["file_name"] = info.FileName
	m["folder"] = info.Folder
	m["url"] = info.URL
	return m
}
