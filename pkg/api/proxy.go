package api

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/proxy"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// Proxies are the pull and push proxies (pkg/proxy's Manager).
type Proxies interface {
	AddPull(ctx context.Context, spec proxy.PullSpec, force bool) (string, error)
	DeletePull(key string) (bool, error)
	Pulls() []proxy.PullEntry
	PullStatus(key string) (proxy.PullSpec, proxy.Status, bool)
	AddPush(ctx context.Context, spec proxy.PushSpec) (string, error)
	DeletePush(key string) (bool, error)
	Pushes() []proxy.PushEntry
	PushStatus(key string) (proxy.PushEntry, bool)
}

// RegisterProxies registers ZLMediaKit's pull and push proxy endpoints;
// streams reports a proxied stream's readers and tracks.
func (s *Server) RegisterProxies(p Proxies, streams Engine) {
	e := &proxyEndpoints{proxies: p, streams: streams}
	s.Handle("addStreamProxy", e.addPull)
	s.Handle("delStreamProxy", e.delPull)
	s.Handle("listStreamProxy", e.listPull)
	s.Handle("getProxyInfo", e.getPull)
	s.Handle("addStreamPusherProxy", e.addPush)
	s.Handle("delStreamPusherProxy", e.delPush)
	s.Handle("listStreamPusherProxy", e.listPush)
	s.Handle("getProxyPusherInfo", e.getPush)
}

type proxyEndpoints struct {
	proxies Proxies
	streams Engine
}

// streamOptions are the addStreamProxy parameters (ZLMediaKit's
// ProtocolOption) kept with the proxy and applied by its stream's owner
// like an on_publish reply's.
var streamOptions = []string{
	"enable_hls", "enable_hls_fmp4", "enable_mp4", "enable_rtsp", "enable_rtmp", "enable_ts", "enable_fmp4",
	"hls_demand", "rtsp_demand", "rtmp_demand", "ts_demand", "fmp4_demand",
	"mp4_as_player", "mp4_max_second", "mp4_save_path", "hls_save_path", "modify_stamp",
}

// streamOptionValues are the streamOptions among p.
func streamOptionValues(p *Params) map[string]string {
	opts := map[string]string{}
	for _, name := range streamOptions {
		if v, ok := p.Lookup(name); ok {
			opts[name] = v
		}
	}
	return opts
}

// answerWait bounds how long an add call waits for the first attempt
// beyond the source's own timeout.
const answerWait = 5 * time.Second

func (e *proxyEndpoints) addPull(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("app", "stream", "url"); err != nil {
		return nil, err
	}
	tp, err := taskParameters(p)
	if err != nil {
		return nil, err
	}
	force, err := p.Bool("force", false)
	if err != nil {
		return nil, err
	}
	audio, err := p.Bool("enable_audio", true)
	if err != nil {
		return nil, err
	}
	mute, err := p.Bool("add_mute_audio", false)
	if err != nil {
		return nil, err
	}
	autoClose, err := p.Bool("auto_close", false)
	if err != nil {
		return nil, err
	}
	opts := streamOptionValues(p)
	key := engine.NewKey(p.Get("vhost"), p.Get("app"), p.Get("stream"))
	if err := key.Validate(); err != nil {
		return nil, Errorf(CodeInvalidArgs, "%s", err)
	}
	spec := proxy.PullSpec{
		Vhost: key.Vhost, App: key.App, Stream: key.Stream, URL: strings.TrimSpace(p.Get("url")),
		RetryCount: tp.retry, Timeout: tp.timeout, RTPType: tp.rtpType,
		DropAudio: !audio, AddMuteAudio: mute, AutoClose: autoClose,
	}
	if len(opts) > 0 {
		spec.Options = opts
	}
	ctx, cancel := tp.answerContext(ctx)
	defer cancel()
	k, err := e.proxies.AddPull(ctx, spec, force)
	if err != nil {
		return nil, Errorf(CodeOtherFailed, "%s", err)
	}
	return Reply{"data": map[string]any{"key": k}}, nil
}

// taskParams are what both add calls take: retry_count (default -1,
// forever), timeout_sec and rtp_type.
type taskParams struct {
	retry   int
	timeout time.Duration
	rtpType int
}

func taskParameters(p *Params) (taskParams, error) {
	retry, err := p.Int("retry_count", -1)
	if err != nil {
		return taskParams{}, err
	}
	timeout, err := seconds(p, "timeout_sec")
	if err != nil {
		return taskParams{}, err
	}
	rtpType, err := p.Int("rtp_type", 0)
	if err != nil {
		return taskParams{}, err
	}
	return taskParams{retry: clampRetry(retry), timeout: timeout, rtpType: int(rtpType)}, nil
}

// answerContext bounds an add call's wait for the first attempt: the
// task's own timeout (10 s by default) and a margin.
func (tp taskParams) answerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	wait := tp.timeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	return context.WithTimeout(ctx, wait+answerWait)
}

// seconds reads a float number of seconds (timeout_sec); 0 when absent.
func seconds(p *Params, name string) (time.Duration, error) {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 3600 {
		return 0, Errorf(CodeInvalidArgs, "parameter %q: %q is not a number of seconds from 0 to 3600", name, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// clampRetry keeps retry counts in range: below -1 is forever, as
// ZLMediaKit treats every negative count.
func clampRetry(n int64) int {
	if n < 0 {
		return -1
	}
	return int(min(n, math.MaxInt32))
}

func (e *proxyEndpoints) delPull(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("key"); err != nil {
		return nil, err
	}
	return flagReply(e.proxies.DeletePull(p.Get("key")))
}

func (e *proxyEndpoints) listPull(ctx context.Context, p *Params) (Reply, error) {
	filter := p.Get("key")
	data := []any{}
	for _, entry := range e.proxies.Pulls() {
		if filter != "" && entry.Status.Key != filter {
			continue
		}
		item := e.pullJSON(ctx, entry.Spec, entry.Status)
		item["key"] = entry.Status.Key
		data = append(data, item)
	}
	return listReply(data), nil
}

func (e *proxyEndpoints) getPull(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("key"); err != nil {
		return nil, err
	}
	spec, st, ok := e.proxies.PullStatus(p.Get("key"))
	if !ok {
		return nil, Errorf(CodeNotFound, "can not find the proxy")
	}
	return Reply{"data": e.pullJSON(ctx, spec, st)}, nil
}

// pullJSON is ZLMediaKit's ToJson(PlayerProxy), plus mediakit's fields.
func (e *proxyEndpoints) pullJSON(ctx context.Context, spec proxy.PullSpec, st proxy.Status) map[string]any {
	key := spec.Key()
	status := 1
	if st.State == proxy.StatePlaying {
		status = 0
	}
	readers := 0
	tracks := []any{}
	if info, live, err := e.streams.Stream(ctx, key); err == nil && live {
		readers = len(info.Readers)
		for _, t := range info.Tracks {
			tracks = append(tracks, zlm.Track(t, info.TrackStats[t], info.Drops))
		}
	}
	return map[string]any{
		"url":              st.URL,
		"status":           status,
		"status_str":       st.Text,
		"liveSecs":         int64(st.Live.Seconds()),
		"rePullCount":      st.Restarts,
		"totalReaderCount": readers,
		"bytesSpeed":       st.Speed,
		"totalBytes":       st.Bytes,
		"src":              zlm.Tuple(key, ""),
		"tracks":           tracks,
		// mediakit's
		"state":       string(st.State),
		"retry_count": spec.RetryCount,
		"failures":    st.Failures,
		"error":       st.LastError,
		"on_demand":   spec.OnDemand,
		"auto_close":  spec.AutoClose,
		"options":     spec.Options,
	}
}

func (e *proxyEndpoints) addPush(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("schema", "app", "stream", "dst_url"); err != nil {
		return nil, err
	}
	tp, err := taskParameters(p)
	if err != nil {
		return nil, err
	}
	dst := strings.TrimSpace(p.Get("dst_url"))
	scheme, _, _ := strings.Cut(dst, "://")
	if !strings.EqualFold(scheme, "rtmp") && !strings.EqualFold(scheme, "rtsp") {
		return nil, Errorf(CodeInvalidArgs, "dst_url %q: mediakit pushes to rtmp:// and rtsp:// URLs (rtmps:// and rtsps:// not yet)", dst)
	}
	if strings.EqualFold(scheme, "rtsp") && tp.rtpType == 2 {
		return nil, Errorf(CodeInvalidArgs, "rtp_type 2 (multicast) is for playing; an RTSP push sends over TCP (0) or UDP (1)")
	}
	key := engine.NewKey(p.Get("vhost"), p.Get("app"), p.Get("stream"))
	if err := key.Validate(); err != nil {
		return nil, Errorf(CodeInvalidArgs, "%s", err)
	}
	spec := proxy.PushSpec{
		Schema: p.Get("schema"), Vhost: key.Vhost, App: key.App, Stream: key.Stream, URL: dst,
		RetryCount: tp.retry, Timeout: tp.timeout, RTPType: tp.rtpType,
	}
	ctx, cancel := tp.answerContext(ctx)
	defer cancel()
	k, err := e.proxies.AddPush(ctx, spec)
	if err != nil {
		if errors.Is(err, proxy.ErrNoSource) {
			return nil, Errorf(CodeOtherFailed, "%s", proxy.ErrNoSource)
		}
		return nil, Errorf(CodeOtherFailed, "%s", err)
	}
	return Reply{"data": map[string]any{"key": k}}, nil
}

func (e *proxyEndpoints) delPush(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("key"); err != nil {
		return nil, err
	}
	return flagReply(e.proxies.DeletePush(p.Get("key")))
}

func (e *proxyEndpoints) listPush(ctx context.Context, p *Params) (Reply, error) {
	filter := p.Get("key")
	data := []any{}
	for _, entry := range e.proxies.Pushes() {
		if filter != "" && entry.Status.Key != filter {
			continue
		}
		item := pushJSON(entry)
		item["key"] = entry.Status.Key
		data = append(data, item)
	}
	return listReply(data), nil
}

func (e *proxyEndpoints) getPush(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("key"); err != nil {
		return nil, err
	}
	entry, ok := e.proxies.PushStatus(p.Get("key"))
	if !ok {
		return nil, Errorf(CodeNotFound, "can not find pusher")
	}
	return Reply{"data": pushJSON(entry)}, nil
}

// pushJSON is ZLMediaKit's ToJson(PusherProxy), plus mediakit's fields.
func pushJSON(entry proxy.PushEntry) map[string]any {
	st := entry.Status
	status := 1
	if st.State == proxy.StatePlaying {
		status = 0
	}
	return map[string]any{
		"url":            st.URL,
		"status":         status,
		"status_str":     st.Text,
		"liveSecs":       int64(st.Live.Seconds()),
		"rePublishCount": st.Restarts,
		"bytesSpeed":     st.Speed,
		"totalBytes":     st.Bytes,
		"src":            zlm.Tuple(entry.Spec.Source(), ""),
		"state":          string(st.State),
		"retry_count":    entry.Spec.RetryCount,
		"failures":       st.Failures,
		"error":          st.LastError,
	}
}

// flagReply is a delete's answer: {"data":{"flag":found}}.
func flagReply(found bool, err error) (Reply, error) {
	if err != nil {
		return nil, Errorf(CodeOtherFailed, "%s", err)
	}
	return Reply{"data": map[string]any{"flag": found}}, nil
}

// listReply is a list's answer; like ZLMediaKit's, it has no "data" key
// when the list is empty.
func listReply(data []any) Reply {
	if len(data) == 0 {
		return Reply{}
	}
	return Reply{"data": data}
}
