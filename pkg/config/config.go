// Package config holds mediakit's settings: defaults, the TOML file, the
// MEDIAKIT_* environment and command-line flags, with that precedence
// reversed (flag > env > file > default). Every setting has a
// "section.key" name; where ZLMediaKit has the same concept the name is
// ZLMediaKit's, so its HTTP API (getServerConfig/setServerConfig) and its
// users' habits carry over.
package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
)

// Config is the effective configuration of `mediakit serve`.
type Config struct {
	API      API
	General  General
	HLS      HLS
	Hook     Hook
	RTMP     RTMP
	RTSP     RTSP
	WebRTC   WebRTC
	HTTP     HTTP
	Protocol Protocol
	Record   Record
	RTPProxy RTPProxy
	FFmpeg   FFmpeg
	Cluster  Cluster
	Log      Log
	// Auth is the built-in publish/play/API authorisation; off while it
	// has no users.
	Auth Auth
}

// API configures the HTTP API.
type API struct {
	// Secret every API call must carry; empty serves loopback clients
	// only.
	Secret string
	// AllowOrigin lists the web origins (https://console.example.com)
	// whose pages may call the API from a browser; "*" allows any.
	AllowOrigin string
}

// RTMP configures the RTMP listener.
type RTMP struct {
	Addr string
	// Handshake bounds the handshake and the commands up to publish or
	// play; KeepAlive ends a publisher that sends nothing for this long.
	Handshake time.Duration
	KeepAlive time.Duration
	// MergeRead paces a publisher's reads: after a read that emptied the
	// socket the next waits this long (at most general.mergeWriteMS).
	MergeRead time.Duration
	// FirstPacket is how long a publisher may wait, after publish, before
	// its first audio or video message: an encoder or an ffmpeg opening
	// many outputs one by one sits there for a while.
	FirstPacket time.Duration
}

// WebRTC configures WebRTC playback (WHEP).
type WebRTC struct {
	// Addr is the UDP address of ICE for every session, and the TCP
	// address of ICE-TCP on the same port; empty: off.
	Addr string
	// AdditionalHosts are addresses announced as host candidates besides
	// the local ones (a 1:1 NAT's public address), comma-separated.
	AdditionalHosts string
	// STUNServers ("stun:host:port", comma-separated) are asked for the
	// ICE port's public address, which is then announced too.
	STUNServers string
}

// RTSP configures the RTSP server: ZLMediaKit's [rtsp] section, with
// MediaMTX's listener settings.
type RTSP struct {
	// Addr is the RTSP listener (TCP, RTP interleaved); empty: off.
	Addr string
	// RTPAddr and RTCPAddr are the UDP transport's ports (RTP even,
	// RTCP the next); both empty: no UDP transport.
	RTPAddr  string
	RTCPAddr string
	// TLSAddr serves RTSPS when Cert and Key name a certificate and its
	// key (PEM files).
	TLSAddr string
	Cert    string
	Key     string
	// KeepAlive ends a publisher that sends nothing for this long.
	KeepAlive time.Duration
}

// HTTP configures the HTTP listener and who may call the API.
type HTTP struct {
	Addr string
	// AllowIPRange is ZLMediaKit's http.allow_ip_range: API callers
	// outside it are refused, secret or not; empty allows every address.
	AllowIPRange string
	// TrustedProxies may name their client in X-Forwarded-For.
	TrustedProxies string
	// AllowHost lists host names (besides this server's addresses and
	// localhost) the API answers to when no secret is set.
	AllowHost string
	// Handshake bounds the reading of a request head; KeepAlive ends an
	// idle keep-alive connection.
	Handshake time.Duration
	KeepAlive time.Duration
	// Pprof serves Go's profiler at /debug/pprof/, behind the API's
	// authorization, for bug reports.
	Pprof bool
}

// RTPProxy configures RTP ingest: ZLMediaKit's [rtp_proxy] section.
type RTPProxy struct {
	// Addr is the shared RTP port (UDP and TCP), streams told apart by
	// SSRC; empty: off.
	Addr string
	// PortRange is where openRtpServer with port 0 picks from.
	PortRange string
	// Timeout closes an RTP server that receives nothing for this long.
	Timeout time.Duration
	// MergeRead paces the reads of a UDP RTP server that receives
	// packets: what arrived is read once per window.
	MergeRead time.Duration
}

// Ports parses PortRange ("30000-35000").
func (r *RTPProxy) Ports() (min, max int, err error) {
	lo, hi, ok := strings.Cut(strings.TrimSpace(r.PortRange), "-")
	if ok {
		min, err = strconv.Atoi(strings.TrimSpace(lo))
		if err == nil {
			max, err = strconv.Atoi(strings.TrimSpace(hi))
		}
	}
	if !ok || err != nil || min < 1 || max > 65535 || max-min < 1 {
		return 0, 0, fmt.Errorf("rtp_proxy.port_range: %q is not LOW-HIGH with 1 <= LOW < HIGH <= 65535", r.PortRange)
	}
	return min, max, nil
}

// FFmpeg configures FFmpeg sources (addFFmpegSource): ZLMediaKit's
// [ffmpeg] section. Both are read at start only: a command that the API
// could change would run anything on the server.
type FFmpeg struct {
	// Bin is the ffmpeg executable (a name looked up in PATH, or a path).
	Bin string
	// Cmd is the command template: ZLMediaKit's three %s are the
	// executable, the source URL and the destination URL, in that order.
	Cmd string
	// Snap is getSnap's template: executable, input URL, output file.
	Snap string
	// RestartSec restarts a running ffmpeg after this long (0: never),
	// ZLMediaKit's remedy for the drift of long transcodes.
	RestartSec time.Duration
	// Templates are further command templates, named by their key in
	// the [ffmpeg] section ("cmd_hd = ..."; TemplatePrefix): an
	// addFFmpegSource call picks one with ffmpeg_cmd_key=ffmpeg.cmd_hd,
	// as in ZLMediaKit. Read from the file only.
	Templates map[string]string
}

// TemplatePrefix starts the [ffmpeg] keys that name command templates.
const TemplatePrefix = "cmd_"

// Cluster configures on-demand pulls from origin servers: ZLMediaKit's
// [cluster] section.
type Cluster struct {
	// OriginURL is a template (first %s the app, second the stream; several
	// separated by ';') pulled when a player asks for a stream that is not
	// published and on_stream_not_found names no URL. Empty: off.
	OriginURL string
	// Timeout bounds one origin pull's connect (split between origins).
	Timeout time.Duration
	// RetryCount retries of an origin pull that fails (-1: forever).
	RetryCount int64
}

// Record confines recording paths given through the API or a hook reply.
type Record struct {
	// AllowPaths lists directories, besides the data dir, that such paths
	// may resolve into (comma-separated).
	AllowPaths string
}

// General holds server-wide settings.
type General struct {
	MediaServerID string
	DataDir       string
	MaxStreamWait time.Duration
	Takeover      bool
	MergeWrite    time.Duration
	// NoneReaderDelay is how long a stream has no reader before
	// on_stream_none_reader.
	NoneReaderDelay time.Duration
	// FlowThreshold (KiB): sessions that moved less are not reported by
	// on_flow_report.
	FlowThreshold int64
	// WriteTimeout ends a player or an HTTP reply whose socket accepts
	// nothing for this long.
	WriteTimeout time.Duration
	// Limits (0: none). MaxConns and MaxConnsPerIP count RTMP and HTTP
	// connections together.
	MaxConns            int64
	MaxConnsPerIP       int64
	MaxStreams          int64
	MaxReadersPerStream int64
}

// Hook configures web hooks: ZLMediaKit's [hook] section.
type Hook struct {
	Enable        bool
	Timeout       time.Duration
	Retry         int64
	RetryDelay    time.Duration
	AliveInterval time.Duration
	// URLs by hook name (on_publish, on_play, ...); empty: not called.
	OnPublish          string
	OnPlay             string
	OnFlowReport       string
	OnStreamChanged    string
	OnStreamNoneReader string
	OnStreamNotFound   string
	OnServerStarted    string
	OnServerExited     string
	OnServerKeepalive  string
	OnRecordMP4        string
	OnRecordTS         string
	OnRTPServerTimeout string
	OnSendRTPStopped   string
	OnRTSPRealm        string
	OnRTSPAuth         string
	OnHTTPAccess       string
}

// URLs returns the hook URLs by hook name.
func (h *Hook) URLs() map[string]string {
	return map[string]string{
		"on_publish":            h.OnPublish,
		"on_play":               h.OnPlay,
		"on_flow_report":        h.OnFlowReport,
		"on_stream_changed":     h.OnStreamChanged,
		"on_stream_none_reader": h.OnStreamNoneReader,
		"on_stream_not_found":   h.OnStreamNotFound,
		"on_server_started":     h.OnServerStarted,
		"on_server_exited":      h.OnServerExited,
		"on_server_keepalive":   h.OnServerKeepalive,
		"on_record_mp4":         h.OnRecordMP4,
		"on_record_ts":          h.OnRecordTS,
		"on_rtp_server_timeout": h.OnRTPServerTimeout,
		"on_send_rtp_stopped":   h.OnSendRTPStopped,
		"on_rtsp_realm":         h.OnRTSPRealm,
		"on_rtsp_auth":          h.OnRTSPAuth,
		"on_http_access":        h.OnHTTPAccess,
	}
}

// Protocol holds per-stream defaults; an on_publish reply may override
// them for one stream.
type Protocol struct {
	ContinuePush time.Duration
	EnableHLS    bool
	HLSDemand    bool
	EnableMP4    bool
	MP4MaxSecond time.Duration
	// MP4SavePath and HLSSavePath are where recordings go; empty means
	// DATA_DIR/record.
	MP4SavePath string
	HLSSavePath string

	// EnableHLSFMP4 runs a stream's fMP4 (low-latency) HLS muxer from
	// publish; off, it starts at the first request.
	EnableHLSFMP4 bool
}

// HLS configures live HLS and HLS recording.
type HLS struct {
	SegDur    time.Duration
	SegNum    int64
	SegRetain int64
	// PartDur is the minimum LL-HLS part duration of fMP4 HLS.
	PartDur time.Duration
	// ViewerTimeout ends an HLS viewer after this long without a request.
	ViewerTimeout time.Duration
}

// Log configures logging.
type Log struct {
	Level  string
	Format string
}

// namedDuration is a duration setting with its key, for error messages.
type namedDuration struct {
	key string
	v   time.Duration
}

// Validate checks values that parse but make no sense.
func (c *Config) Validate() error {
	for _, l := range []struct{ key, addr string }{{"rtmp.addr", c.RTMP.Addr}, {"http.addr", c.HTTP.Addr}, {"rtp_proxy.addr", c.RTPProxy.Addr},
		{"rtsp.addr", c.RTSP.Addr}, {"rtsp.rtpAddr", c.RTSP.RTPAddr}, {"rtsp.rtcpAddr", c.RTSP.RTCPAddr}, {"rtsp.tlsAddr", c.RTSP.TLSAddr}} {
		if l.addr == "" {
			continue // listener off
		}
		_, port, err := net.SplitHostPort(l.addr)
		if err != nil {
			return fmt.Errorf("config: %s: %q is not HOST:PORT", l.key, l.addr)
		}
		if _, err := net.LookupPort("tcp", port); err != nil {
			return fmt.Errorf("config: %s: %q: port %q is not a port number from 0 to 65535", l.key, l.addr, port)
		}
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format: %q is not text or json", c.Log.Format)
	}
	for _, d := range []namedDuration{
		{"protocol.continue_push_ms", c.Protocol.ContinuePush},
		{"general.maxStreamWaitMS", c.General.MaxStreamWait},
		{"general.mergeWriteMS", c.General.MergeWrite},
		{"general.streamNoneReaderDelayMS", c.General.NoneReaderDelay},
		{"hook.timeoutSec", c.Hook.Timeout},
		{"hook.retry_delay", c.Hook.RetryDelay},
		{"hook.alive_interval", c.Hook.AliveInterval},
		{"ffmpeg.restart_sec", c.FFmpeg.RestartSec},
		{"cluster.timeout_sec", c.Cluster.Timeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("config: %s: negative duration %v", d.key, d.v)
		}
	}
	if c.Cluster.RetryCount < -1 {
		return fmt.Errorf("config: cluster.retry_count: %d is below -1 (forever)", c.Cluster.RetryCount)
	}
	if strings.Count(c.FFmpeg.Snap, "%s") != 3 || strings.Count(c.FFmpeg.Snap, "%") != 3 {
		return fmt.Errorf("config: ffmpeg.snap: %q must hold exactly three %%s (executable, input URL, output file) and no other %%", c.FFmpeg.Snap)
	}
	if err := checkCommandTemplate("ffmpeg.cmd", c.FFmpeg.Cmd); err != nil {
		return err
	}
	for name, tmpl := range c.FFmpeg.Templates {
		if err := checkCommandTemplate("ffmpeg."+name, tmpl); err != nil {
			return err
		}
	}
	for _, origin := range strings.Split(c.Cluster.OriginURL, ";") {
		if origin = strings.TrimSpace(origin); origin != "" && (strings.Count(origin, "%s") != 2 || strings.Count(origin, "%") != 2) {
			return fmt.Errorf("config: cluster.origin_url: %q must hold exactly two %%s (app, stream) and no other %%", origin)
		}
	}
	if c.Hook.Retry < 0 || c.Hook.Retry > 10 {
		return fmt.Errorf("config: hook.retry: %d is not between 0 and 10", c.Hook.Retry)
	}
	if c.HLS.SegDur < 100*time.Millisecond {
		return fmt.Errorf("config: hls.segDur: %v is shorter than 100ms", c.HLS.SegDur)
	}
	if c.HLS.SegNum < 1 || c.HLS.SegNum > 100 {
		return fmt.Errorf("config: hls.segNum: %d is not between 1 and 100", c.HLS.SegNum)
	}
	if c.HLS.SegRetain < 0 || c.HLS.SegRetain > 100 {
		return fmt.Errorf("config: hls.segRetain: %d is not between 0 and 100", c.HLS.SegRetain)
	}
	if c.HLS.PartDur < 50*time.Millisecond || c.HLS.PartDur > 5*time.Second {
		return fmt.Errorf("config: hls.partDurMS: %v is not between 50ms and 5s", c.HLS.PartDur)
	}
	if c.Protocol.MP4MaxSecond < time.Second {
		return fmt.Errorf("config: protocol.mp4_max_second: %v is shorter than a second", c.Protocol.MP4MaxSecond)
	}
	if c.General.FlowThreshold < 0 {
		return fmt.Errorf("config: general.flowThreshold: negative %d", c.General.FlowThreshold)
	}
	for name, u := range c.Hook.URLs() {
		if u == "" {
			continue
		}
		parsed, err := url.Parse(u)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return fmt.Errorf("config: hook.%s: %q is not an http(s) URL", name, u)
		}
	}
	if c.RTMP.MergeRead < 0 || c.RTMP.MergeRead > time.Second {
		return fmt.Errorf("config: rtmp.mergeReadMS: %v is not between 0 and 1s", c.RTMP.MergeRead)
	}
	if c.RTPProxy.MergeRead < 0 || c.RTPProxy.MergeRead > time.Second {
		return fmt.Errorf("config: rtp_proxy.mergeReadMS: %v is not between 0 and 1s", c.RTPProxy.MergeRead)
	}
	if c.General.MergeWrite > time.Second {
		return fmt.Errorf("config: general.mergeWriteMS: %v adds more than a second of latency", c.General.MergeWrite)
	}
	if c.General.DataDir == "" {
		return fmt.Errorf("config: general.dataDir: empty")
	}
	for _, d := range []namedDuration{
		{"general.writeTimeoutMS", c.General.WriteTimeout},
		{"rtmp.handshakeSecond", c.RTMP.Handshake},
		{"rtmp.keepAliveSecond", c.RTMP.KeepAlive},
		{"rtmp.firstPacketSecond", c.RTMP.FirstPacket},
		{"rtsp.keepAliveSecond", c.RTSP.KeepAlive},
		{"http.handshakeSecond", c.HTTP.Handshake},
		{"http.keepAliveSecond", c.HTTP.KeepAlive},
		{"rtp_proxy.timeoutSec", c.RTPProxy.Timeout},
	} {
		// Zero would mean "never": a client could hold a connection
		// forever, which these settings exist to prevent.
		if d.v <= 0 {
			return fmt.Errorf("config: %s: %v is not a positive duration", d.key, d.v)
		}
	}
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"general.maxConns", c.General.MaxConns},
		{"general.maxConnsPerIP", c.General.MaxConnsPerIP},
		{"general.maxStreams", c.General.MaxStreams},
		{"general.maxReadersPerStream", c.General.MaxReadersPerStream},
	} {
		if n.v < 0 {
			return fmt.Errorf("config: %s: negative %d (0 means no limit)", n.key, n.v)
		}
	}
	if _, _, err := c.RTPProxy.Ports(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := c.AccessPolicy(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := c.Auth.Rules(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for _, p := range c.Record.AllowPathList() {
		if strings.ContainsRune(p, 0) {
			return fmt.Errorf("config: record.allow_paths: %q is not a path", p)
		}
	}
	return nil
}

// AccessPolicy parses the settings that say who may call the API.
func (c *Config) AccessPolicy() (*access.Policy, error) {
	return access.NewPolicy(access.Settings{
		AllowIPRange:   c.HTTP.AllowIPRange,
		TrustedProxies: c.HTTP.TrustedProxies,
		AllowOrigin:    c.API.AllowOrigin,
		AllowHost:      c.HTTP.AllowHost,
	})
}

// AllowPathList returns record.allow_paths as a list.
func (r *Record) AllowPathList() []string { return access.SplitList(r.AllowPaths) }

// checkCommandTemplate checks an FFmpeg source template: buildArgs fills
// exactly three %s and nothing else may be a verb.
func checkCommandTemplate(key, tmpl string) error {
	if strings.Count(tmpl, "%s") != 3 || strings.Count(tmpl, "%") != 3 {
		return fmt.Errorf("config: %s: %q must hold exactly three %%s (executable, source URL, destination URL) and no other %%", key, tmpl)
	}
	return nil
}
