package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Setting describes one configuration value.
type Setting struct {
	Key   string // "section.key", the TOML and API name
	Flag  string // command-line flag of `serve`, "" if none
	Usage string
	// Unit of a duration given as a plain number in the file or the API
	// (ZLMediaKit writes "15000" for ms keys and "10.0" for seconds
	// keys); zero derives it from the key's name (see msKey).
	Unit time.Duration
	// Restart marks settings that apply only at the next start; the API
	// does not change them.
	Restart bool
	// Secret settings are never logged, and masked in getServerConfig,
	// hook bodies and --print-config.
	Secret bool
	// Confined settings are paths that, when they come from the API,
	// must resolve inside the data dir or record.allow_paths.
	Confined bool
	// field returns a pointer into c: *string, *bool, *int64 or
	// *time.Duration.
	field func(c *Config) any
}

// Env is the environment variable of a setting that has a flag.
func (s Setting) Env() string {
	if s.Flag == "" {
		return ""
	}
	return "MEDIAKIT_" + strings.ToUpper(strings.ReplaceAll(s.Flag, "-", "_"))
}

// msKey reports whether the key is a ZLMediaKit millisecond key, whose
// plain numbers are milliseconds.
func (s Setting) msKey() bool {
	return strings.HasSuffix(s.Key, "MS") || strings.HasSuffix(s.Key, "_ms")
}

// NumberUnit is the unit of a plain number for this duration key in the
// file and the API (milliseconds, seconds), or 0 when a plain number is
// refused or the setting is not a duration.
func (s Setting) NumberUnit() time.Duration {
	if _, ok := s.field(Default()).(*time.Duration); !ok {
		return 0
	}
	return s.numberUnit()
}

// numberUnit is the unit of a plain number for this duration key in the
// file and the API, or 0 when a plain number is refused.
func (s Setting) numberUnit() time.Duration {
	if s.Unit != 0 {
		return s.Unit
	}
	if s.msKey() {
		return time.Millisecond
	}
	return 0
}

// Settings lists every setting, in the order --print-config shows them.
func Settings() []Setting { return settings }

var settings = []Setting{
	{Key: "api.secret", Flag: "secret", Secret: true, Usage: "secret every API call must carry (empty: only loopback clients may call the API)",
		field: func(c *Config) any { return &c.API.Secret }},
	{Key: "api.allow_origin", Usage: "web origins (https://console.example.com, comma-separated; * for any) whose pages may call the API from a browser",
		field: func(c *Config) any { return &c.API.AllowOrigin }},
	{Key: "general.mediaServerId", Usage: "this server's id in hooks and the API",
		field: func(c *Config) any { return &c.General.MediaServerID }},
	{Key: "general.dataDir", Flag: "data-dir", Restart: true, Usage: "embedded database, recordings and HLS files",
		field: func(c *Config) any { return &c.General.DataDir }},
	{Key: "general.maxStreamWaitMS", Flag: "max-stream-wait", Usage: "how long a player waits for a stream that is not published yet",
		field: func(c *Config) any { return &c.General.MaxStreamWait }},
	{Key: "general.takeover", Flag: "takeover", Usage: "a new publisher replaces a live one instead of being refused",
		field: func(c *Config) any { return &c.General.Takeover }},
	{Key: "general.mergeWriteMS", Flag: "merge-write", Usage: "batch writes to players over this window (0: write every frame at once)",
		field: func(c *Config) any { return &c.General.MergeWrite }},
	{Key: "general.streamNoneReaderDelayMS", Usage: "how long a stream has no reader before on_stream_none_reader",
		field: func(c *Config) any { return &c.General.NoneReaderDelay }},
	{Key: "general.flowThreshold", Usage: "KiB a session must move to be reported by on_flow_report",
		field: func(c *Config) any { return &c.General.FlowThreshold }},
	{Key: "general.writeTimeoutMS", Flag: "write-timeout", Restart: true, Usage: "a player or HTTP reply whose socket accepts nothing for this long is cut",
		field: func(c *Config) any { return &c.General.WriteTimeout }},
	{Key: "general.maxConns", Flag: "max-conns", Usage: "open RTMP and HTTP connections at most; more are closed at once (0: no limit)",
		field: func(c *Config) any { return &c.General.MaxConns }},
	{Key: "general.maxConnsPerIP", Flag: "max-conns-per-ip", Usage: "open RTMP and HTTP connections from one address at most (0: no limit)",
		field: func(c *Config) any { return &c.General.MaxConnsPerIP }},
	{Key: "general.maxStreams", Flag: "max-streams", Usage: "published streams at most; more publishers are refused (0: no limit)",
		field: func(c *Config) any { return &c.General.MaxStreams }},
	{Key: "general.maxReadersPerStream", Flag: "max-readers", Usage: "players of one stream at most; more are refused (0: no limit)",
		field: func(c *Config) any { return &c.General.MaxReadersPerStream }},
	{Key: "hook.enable", Usage: "call the web hooks below",
		field: func(c *Config) any { return &c.Hook.Enable }},
	{Key: "hook.timeoutSec", Unit: time.Second, Usage: "timeout of one hook request",
		field: func(c *Config) any { return &c.Hook.Timeout }},
	{Key: "hook.retry", Usage: "retries of a hook request that failed (no reply, not HTTP 200, not JSON)",
		field: func(c *Config) any { return &c.Hook.Retry }},
	{Key: "hook.retry_delay", Unit: time.Second, Usage: "delay between hook retries",
		field: func(c *Config) any { return &c.Hook.RetryDelay }},
	{Key: "hook.alive_interval", Unit: time.Second, Usage: "period of on_server_keepalive",
		field: func(c *Config) any { return &c.Hook.AliveInterval }},
	{Key: "hook.on_publish", Usage: "URL asked whether a publisher may publish (a non-zero code denies)",
		field: func(c *Config) any { return &c.Hook.OnPublish }},
	{Key: "hook.on_play", Usage: "URL asked whether a player may play (a non-zero code denies)",
		field: func(c *Config) any { return &c.Hook.OnPlay }},
	{Key: "hook.on_flow_report", Usage: "URL told the traffic of a session that ended",
		field: func(c *Config) any { return &c.Hook.OnFlowReport }},
	{Key: "hook.on_stream_changed", Usage: "URL told when a stream appears (regist true) or ends (false)",
		field: func(c *Config) any { return &c.Hook.OnStreamChanged }},
	{Key: "hook.on_stream_none_reader", Usage: "URL asked whether a stream without readers should close",
		field: func(c *Config) any { return &c.Hook.OnStreamNoneReader }},
	{Key: "hook.on_stream_not_found", Usage: "URL told that a player waits for a stream that is not published",
		field: func(c *Config) any { return &c.Hook.OnStreamNotFound }},
	{Key: "hook.on_server_started", Usage: "URL told that the server started, with its configuration",
		field: func(c *Config) any { return &c.Hook.OnServerStarted }},
	{Key: "hook.on_server_exited", Usage: "URL told that the server is exiting",
		field: func(c *Config) any { return &c.Hook.OnServerExited }},
	{Key: "hook.on_server_keepalive", Usage: "URL told every hook.alive_interval that the server is alive",
		field: func(c *Config) any { return &c.Hook.OnServerKeepalive }},
	{Key: "hook.on_rtsp_realm", Usage: "URL asked the RTSP authentication realm of a player's stream (a realm: Digest authentication through on_rtsp_auth instead of on_play; empty realm: none)",
		field: func(c *Config) any { return &c.Hook.OnRTSPRealm }},
	{Key: "hook.on_rtsp_auth", Usage: "URL asked the password of an RTSP player's user in the realm on_rtsp_realm gave",
		field: func(c *Config) any { return &c.Hook.OnRTSPAuth }},
	{Key: "hook.on_http_access", Usage: "URL asked whether a client may read a recorded file over HTTP (/record/..., downloadFile); not set: clients inside http.allow_ip_range may, as in ZLMediaKit",
		field: func(c *Config) any { return &c.Hook.OnHTTPAccess }},
	{Key: "rtmp.addr", Flag: "rtmp-addr", Restart: true, Usage: "RTMP listener for publish and play (empty: off)",
		field: func(c *Config) any { return &c.RTMP.Addr }},
	{Key: "rtmp.handshakeSecond", Unit: time.Second, Restart: true, Usage: "time an RTMP client has for the handshake and the commands up to publish or play",
		field: func(c *Config) any { return &c.RTMP.Handshake }},
	{Key: "rtmp.keepAliveSecond", Unit: time.Second, Restart: true, Usage: "an RTMP publisher that sends nothing for this long, once its media flows, is closed",
		field: func(c *Config) any { return &c.RTMP.KeepAlive }},
	{Key: "rtmp.mergeReadMS", Unit: time.Millisecond, Restart: true, Usage: "after a read that emptied a publisher's socket, wait this long before the next, so messages arriving meanwhile come in one read (SRS's merged read; at most general.mergeWriteMS as it was at start; when equal to it, each read's frames go to the players at once; 0: read each message at once)",
		field: func(c *Config) any { return &c.RTMP.MergeRead }},
	{Key: "rtmp.firstPacketSecond", Unit: time.Second, Restart: true, Usage: "time an RTMP publisher has, after publish, to send its first audio or video message (SRS's firstpkt_timeout)",
		field: func(c *Config) any { return &c.RTMP.FirstPacket }},
	{Key: "webrtc.addr", Restart: true, Usage: "UDP port of WebRTC's ICE for every session, and ICE-TCP on the same TCP port (empty: WebRTC off)",
		field: func(c *Config) any { return &c.WebRTC.Addr }},
	{Key: "webrtc.additional_hosts", Restart: true, Usage: "addresses announced to browsers besides the local ones, e.g. a 1:1 NAT's public address (comma-separated)",
		field: func(c *Config) any { return &c.WebRTC.AdditionalHosts }},
	{Key: "webrtc.stun_servers", Restart: true, Usage: "STUN servers (stun:host:port, comma-separated) asked from the ICE port for its public address, which is then announced to browsers too; answers never wait for them",
		field: func(c *Config) any { return &c.WebRTC.STUNServers }},
	{Key: "rtsp.addr", Flag: "rtsp-addr", Restart: true, Usage: "RTSP listener for publish and play, RTP interleaved on it too (empty: off)",
		field: func(c *Config) any { return &c.RTSP.Addr }},
	{Key: "rtsp.rtpAddr", Flag: "rtsp-rtp-addr", Restart: true, Usage: "UDP port of RTSP's UDP transport for RTP, even (empty, with rtsp.rtcpAddr: no UDP transport)",
		field: func(c *Config) any { return &c.RTSP.RTPAddr }},
	{Key: "rtsp.rtcpAddr", Flag: "rtsp-rtcp-addr", Restart: true, Usage: "UDP port of RTSP's UDP transport for RTCP, the RTP port + 1",
		field: func(c *Config) any { return &c.RTSP.RTCPAddr }},
	{Key: "rtsp.tlsAddr", Flag: "rtsps-addr", Restart: true, Usage: "RTSPS listener, served when rtsp.cert and rtsp.key are set (empty: off)",
		field: func(c *Config) any { return &c.RTSP.TLSAddr }},
	{Key: "rtsp.cert", Flag: "rtsp-cert", Restart: true, Usage: "certificate (PEM) of RTSPS",
		field: func(c *Config) any { return &c.RTSP.Cert }},
	{Key: "rtsp.key", Flag: "rtsp-key", Restart: true, Usage: "private key (PEM file) of the RTSPS certificate",
		field: func(c *Config) any { return &c.RTSP.Key }},
	{Key: "rtsp.keepAliveSecond", Unit: time.Second, Restart: true, Usage: "an RTSP publisher that sends nothing for this long is closed",
		field: func(c *Config) any { return &c.RTSP.KeepAlive }},
	{Key: "http.addr", Flag: "http-addr", Restart: true, Usage: "HTTP listener: API, HTTP-FLV, WS-FLV, /metrics, /healthz (empty: off)",
		field: func(c *Config) any { return &c.HTTP.Addr }},
	{Key: "http.allow_ip_range", Usage: "addresses that may call the API, secret or not: a.b.c.d, LOW-HIGH or CIDR, comma-separated (empty: any)",
		field: func(c *Config) any { return &c.HTTP.AllowIPRange }},
	{Key: "http.trusted_proxies", Usage: "proxies whose X-Forwarded-For names the client (same syntax as allow_ip_range; empty: none)",
		field: func(c *Config) any { return &c.HTTP.TrustedProxies }},
	{Key: "http.allow_host", Usage: "host names, besides this server's addresses and localhost, the API answers to without a secret (comma-separated, *.example.com)",
		field: func(c *Config) any { return &c.HTTP.AllowHost }},
	{Key: "http.handshakeSecond", Unit: time.Second, Restart: true, Usage: "time an HTTP client has to send a request head",
		field: func(c *Config) any { return &c.HTTP.Handshake }},
	{Key: "http.keepAliveSecond", Unit: time.Second, Restart: true, Usage: "an idle keep-alive HTTP connection is closed after this long",
		field: func(c *Config) any { return &c.HTTP.KeepAlive }},
	{Key: "http.pprof", Restart: true, Usage: "serve Go's profiler at /debug/pprof/ on the HTTP listener, authorized as the API (secret, or loopback without one)",
		field: func(c *Config) any { return &c.HTTP.Pprof }},
	{Key: "protocol.continue_push_ms", Flag: "continue-push", Usage: "grace period for a dropped publisher to come back before players are ended",
		field: func(c *Config) any { return &c.Protocol.ContinuePush }},
	{Key: "protocol.enable_hls", Usage: "live HLS for every stream at APP/STREAM/hls.m3u8",
		field: func(c *Config) any { return &c.Protocol.EnableHLS }},
	{Key: "protocol.hls_demand", Usage: "start live MPEG-TS HLS at a stream's first HLS request, from its GOP cache, and stop it when unwatched; false muxes every stream from publish (fMP4 HLS: enable_hls_fmp4)",
		field: func(c *Config) any { return &c.Protocol.HLSDemand }},
	{Key: "protocol.enable_hls_fmp4", Usage: "run fMP4/low-latency HLS (APP/STREAM/hls.fmp4.m3u8) from publish; off, it starts at a stream's first request and stops when unwatched",
		field: func(c *Config) any { return &c.Protocol.EnableHLSFMP4 }},
	{Key: "protocol.enable_mp4", Usage: "record every stream to MP4",
		field: func(c *Config) any { return &c.Protocol.EnableMP4 }},
	{Key: "protocol.mp4_max_second", Unit: time.Second, Usage: "length of one MP4 recording file before the next starts",
		field: func(c *Config) any { return &c.Protocol.MP4MaxSecond }},
	{Key: "protocol.mp4_save_path", Confined: true, Usage: "root of MP4 recordings, relative to the data dir (empty: DATA_DIR/record)",
		field: func(c *Config) any { return &c.Protocol.MP4SavePath }},
	{Key: "protocol.hls_save_path", Confined: true, Usage: "root of HLS recordings, relative to the data dir (empty: DATA_DIR/record)",
		field: func(c *Config) any { return &c.Protocol.HLSSavePath }},
	{Key: "rtp_proxy.addr", Flag: "rtp-addr", Restart: true, Usage: "shared RTP port, UDP and TCP, streams told apart by SSRC (app rtp, stream = the SSRC as 8 hex digits; empty: off)",
		field: func(c *Config) any { return &c.RTPProxy.Addr }},
	{Key: "rtp_proxy.port_range", Flag: "rtp-port-range", Usage: "ports openRtpServer hands out when asked for port 0",
		field: func(c *Config) any { return &c.RTPProxy.PortRange }},
	{Key: "rtp_proxy.timeoutSec", Flag: "rtp-timeout", Unit: time.Second, Usage: "an RTP server that receives nothing for this long is closed (on_rtp_server_timeout)",
		field: func(c *Config) any { return &c.RTPProxy.Timeout }},
	{Key: "rtp_proxy.mergeReadMS", Unit: time.Millisecond, Usage: "a UDP RTP server that receives packets reads what arrived once per this window instead of waking for each datagram (at most general.mergeWriteMS; when equal to it, each read's frames go to the players at once, MPEG-TS excepted; 0: read each datagram as it comes)",
		field: func(c *Config) any { return &c.RTPProxy.MergeRead }},
	{Key: "hook.on_rtp_server_timeout", Usage: "URL told of an RTP server closed for receiving nothing",
		field: func(c *Config) any { return &c.Hook.OnRTPServerTimeout }},
	{Key: "hook.on_send_rtp_stopped", Usage: "URL told when an RTP sender (startSendRtp) stops",
		field: func(c *Config) any { return &c.Hook.OnSendRTPStopped }},
	{Key: "record.allow_paths", Restart: true, Usage: "directories besides the data dir that recording paths from the API or hooks may resolve into (comma-separated)",
		field: func(c *Config) any { return &c.Record.AllowPaths }},
	{Key: "hls.segDur", Unit: time.Second, Usage: "target HLS segment duration (segments are cut on keyframes)",
		field: func(c *Config) any { return &c.HLS.SegDur }},
	{Key: "hls.segNum", Usage: "segments in a live HLS playlist",
		field: func(c *Config) any { return &c.HLS.SegNum }},
	{Key: "hls.segRetain", Usage: "segments kept after they leave the playlist, for players that are behind",
		field: func(c *Config) any { return &c.HLS.SegRetain }},
	{Key: "hls.partDurMS", Usage: "minimum part duration of low-latency HLS (hls.fmp4.m3u8)",
		field: func(c *Config) any { return &c.HLS.PartDur }},
	{Key: "hls.viewerSecond", Unit: time.Second, Usage: "an HLS viewer that makes no request for this long has left (its on_flow_report; readerCount)",
		field: func(c *Config) any { return &c.HLS.ViewerTimeout }},
	{Key: "hook.on_record_mp4", Usage: "URL told of every finished MP4 recording file",
		field: func(c *Config) any { return &c.Hook.OnRecordMP4 }},
	{Key: "hook.on_record_ts", Usage: "URL told of every HLS recording segment",
		field: func(c *Config) any { return &c.Hook.OnRecordTS }},
	{Key: "ffmpeg.bin", Restart: true, Usage: "ffmpeg executable run by addFFmpegSource (a name in PATH or a path)",
		field: func(c *Config) any { return &c.FFmpeg.Bin }},
	{Key: "ffmpeg.cmd", Restart: true, Usage: "FFmpeg source command template: %s executable, %s source URL, %s destination URL",
		field: func(c *Config) any { return &c.FFmpeg.Cmd }},
	{Key: "ffmpeg.snap", Restart: true, Usage: "getSnap command template: %s executable, %s input URL, %s output file",
		field: func(c *Config) any { return &c.FFmpeg.Snap }},
	{Key: "ffmpeg.restart_sec", Unit: time.Second, Usage: "restart an FFmpeg source after it ran this long (0: never)",
		field: func(c *Config) any { return &c.FFmpeg.RestartSec }},
	{Key: "cluster.origin_url", Usage: "origin URL template(s) pulled on demand for a stream nobody publishes (%s app, %s stream; ';' between origins)",
		field: func(c *Config) any { return &c.Cluster.OriginURL }},
	{Key: "cluster.timeout_sec", Unit: time.Second, Usage: "time an on-demand origin pull has to connect, split between the origins",
		field: func(c *Config) any { return &c.Cluster.Timeout }},
	{Key: "cluster.retry_count", Usage: "retries of an on-demand origin pull that fails (-1: forever)",
		field: func(c *Config) any { return &c.Cluster.RetryCount }},
	{Key: "log.level", Flag: "log-level", Usage: "debug, info, warn or error",
		field: func(c *Config) any { return &c.Log.Level }},
	{Key: "log.format", Flag: "log-format", Restart: true, Usage: "text or json",
		field: func(c *Config) any { return &c.Log.Format }},
}

// Lookup returns the setting of key.
func Lookup(key string) (Setting, bool) {
	for _, s := range settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// DefaultAllowIPRange is ZLMediaKit's http.allow_ip_range default.
const DefaultAllowIPRange = "::1,127.0.0.1,172.16.0.0-172.31.255.255,192.168.0.0-192.168.255.255,10.0.0.0-10.255.255.255"

// Default returns the built-in configuration.
func Default() *Config {
	return &Config{
		General: General{
			MediaServerID: "mediakit",
			DataDir:       "./mediakit-data",
			MaxStreamWait: 15 * time.Second,
			MergeWrite:    100 * time.Millisecond,
			// ZLMediaKit's defaults
			NoneReaderDelay: 20 * time.Second,
			FlowThreshold:   1024,
			WriteTimeout:    15 * time.Second,
			// Room for 10 000 players and a few thousand cameras on one
			// box; below the file descriptors Go raises the soft limit to.
			MaxConns:            20000,
			MaxStreams:          10000,
			MaxReadersPerStream: 20000,
		},
		RTMP: RTMP{Addr: ":1935", Handshake: 15 * time.Second, KeepAlive: 15 * time.Second, FirstPacket: 20 * time.Second, MergeRead: 100 * time.Millisecond},
		// MediaMTX's ports: 554 and ZLMediaKit's 322 need root.
		RTSP: RTSP{Addr: ":8554", RTPAddr: ":8000", RTCPAddr: ":8001", TLSAddr: ":8322", KeepAlive: 15 * time.Second},
		HTTP: HTTP{
			Addr: ":8080",
			// ZLMediaKit's default: loopback and the private ranges.
			AllowIPRange: DefaultAllowIPRange,
			Handshake:    10 * time.Second,
			KeepAlive:    30 * time.Second,
		},
		Hook: Hook{
			Timeout:       10 * time.Second,
			Retry:         1,
			RetryDelay:    3 * time.Second,
			AliveInterval: 10 * time.Second,
		},
		Protocol: Protocol{ContinuePush: 15 * time.Second, EnableHLS: true, HLSDemand: true, MP4MaxSecond: time.Hour},
		// ZLMediaKit's defaults, but for the shared port's address form.
		RTPProxy: RTPProxy{Addr: ":10000", PortRange: "30000-35000", Timeout: 15 * time.Second, MergeRead: 100 * time.Millisecond},
		HLS:      HLS{SegDur: 2 * time.Second, SegNum: 3, SegRetain: 5, PartDur: 200 * time.Millisecond, ViewerTimeout: 60 * time.Second},
		// ZLMediaKit's template, with -c copy instead of a transcode: the
		// template is what a user changes to transcode.
		FFmpeg:  FFmpeg{Bin: "ffmpeg", Cmd: "%s -re -i %s -c copy -f flv %s", Snap: "%s -i %s -y -f mjpeg -frames:v 1 -an %s"},
		Cluster: Cluster{Timeout: 15 * time.Second, RetryCount: 3},
		Log:     Log{Level: "info", Format: "text"},
	}
}

// Get returns the value of a setting as text.
func (c *Config) Get(key string) (string, bool) {
	s, ok := Lookup(key)
	if !ok {
		return "", false
	}
	return format(s, s.field(c)), true
}

// Set parses text into a setting.
func (c *Config) Set(key, value string) error {
	s, ok := Lookup(key)
	if !ok {
		return fmt.Errorf("config: unknown key %q", key)
	}
	if err := s.set(c, value); err != nil {
		return fmt.Errorf("config: %s: %w", key, err)
	}
	return nil
}

// set parses value as the TOML file and the API give it: a plain number
// for a duration key is in the key's unit (milliseconds for ZLMediaKit's
// ...MS keys, seconds for hook.timeoutSec and the like).
func (s Setting) set(c *Config, value string) error {
	return s.setText(c, value, s.numberUnit())
}

// setFlag parses value as the flag and its MEDIAKIT_* variable give it:
// durations need a unit whatever the key, as on the command line, so
// MEDIAKIT_CONTINUE_PUSH=30 is an error rather than 30 milliseconds.
func (s Setting) setFlag(c *Config, value string) error {
	return s.setText(c, value, 0)
}

func (s Setting) setText(c *Config, value string, unit time.Duration) error {
	switch p := s.field(c).(type) {
	case *string:
		*p = value
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("%q is not a boolean", value)
		}
		*p = b
	case *int64:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return fmt.Errorf("%q is not an integer", value)
			}
			n = int64(f)
		}
		*p = n
	case *time.Duration:
		d, err := parseDuration(value, unit)
		if err != nil {
			return err
		}
		*p = d
	}
	return nil
}

// parseDuration accepts Go durations ("15s", "500ms"); with a unit (the
// ZLMediaKit keys in the file and the API) a plain number counts in that
// unit, otherwise only 0 may lack a unit.
func parseDuration(value string, unit time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(value)
	if f, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "xXpP") {
		if unit == 0 && f != 0 {
			return 0, fmt.Errorf("%q needs a unit, such as %ss or %sms", value, v, v)
		}
		if unit == 0 {
			return 0, nil
		}
		d := f * float64(unit)
		if math.IsNaN(d) || d > math.MaxInt64 || d < math.MinInt64 {
			return 0, fmt.Errorf("%q is out of range", value)
		}
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (such as 15s or 500ms)", value)
	}
	return d, nil
}

func format(s Setting, v any) string {
	switch p := v.(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *time.Duration:
		switch unit := s.numberUnit(); {
		case unit == time.Millisecond && *p%time.Millisecond == 0:
			return strconv.FormatInt(p.Milliseconds(), 10)
		case unit == time.Second && *p%time.Millisecond == 0:
			return strconv.FormatFloat(p.Seconds(), 'f', -1, 64)
		}
		// Not a whole number of the key's unit: a duration string keeps
		// the value exact.
		return p.String()
	}
	return ""
}

// APIValue returns a setting as ZLMediaKit's getServerConfig shows it:
// booleans as "1"/"0", durations in the key's unit.
func (c *Config) APIValue(key string) (string, bool) {
	s, ok := Lookup(key)
	if !ok {
		return "", false
	}
	if b, ok := s.field(c).(*bool); ok {
		if *b {
			return "1", true
		}
		return "0", true
	}
	return format(s, s.field(c)), true
}

// Clone returns a copy of c.
func (c *Config) Clone() *Config {
	cp := *c
	return &cp
}

// Sections returns the section names in order of first appearance.
func sections() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range settings {
		sec, _, _ := strings.Cut(s.Key, ".")
		if !seen[sec] {
			seen[sec] = true
			out = append(out, sec)
		}
	}
	return out
}

// Keys returns every key, sorted.
func Keys() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.Key
	}
	sort.Strings(out)
	return out
}
