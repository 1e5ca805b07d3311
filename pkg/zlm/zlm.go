// Package zlm holds the JSON shapes mediakit shares with ZLMediaKit: the
// media source object of getMediaList, on_stream_changed and getMediaInfo,
// origin types, codec ids and session objects. The API and the hooks both
// build their bodies from here, so they always agree.
package zlm

import (
	"maps"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// Schemas: ZLMediaKit registers one media source per protocol family,
// and platforms act on them by name (WVP-GB28181-pro waits for the
// "rtsp" one). mediakit's RTMP, HTTP-FLV and WebSocket-FLV players all
// read the "rtmp" source, as in ZLMediaKit.
const (
	SchemaRTMP    = "rtmp"
	SchemaRTSP    = "rtsp"
	SchemaTS      = "ts"
	SchemaFMP4    = "fmp4"
	SchemaHLS     = "hls"
	SchemaHLSFMP4 = "hls.fmp4"
)

// AllSchemas are every schema, in the order ZLMediaKit registers a new
// stream's sources: the four served from the first frame, then the HLS
// variants once their first segment is written.
var AllSchemas = []string{SchemaRTMP, SchemaRTSP, SchemaTS, SchemaFMP4, SchemaHLS, SchemaHLSFMP4}

// IsSchema reports whether s names a schema.
func IsSchema(s string) bool {
	for _, a := range AllSchemas {
		if a == s {
			return true
		}
	}
	return false
}

// IsSegmented reports whether schema is an HLS variant, registered by its
// muxer when its first segment exists rather than when the stream is
// ready.
func IsSegmented(schema string) bool { return schema == SchemaHLS || schema == SchemaHLSFMP4 }

// SchemaSet returns the schemas a stream is served in now, in
// AllSchemas order.
type SchemaSet func(info engine.StreamInfo) []string

// RTMPOnly is the SchemaSet of a server that serves nothing but RTMP.
func RTMPOnly(engine.StreamInfo) []string { return []string{SchemaRTMP} }

// ReaderSchema is the schema a reader protocol reads from.
func ReaderSchema(protocol string) string {
	switch protocol {
	case "rtmp", "http-flv", "ws-flv":
		return SchemaRTMP
	case "rtsp", "rtsps", "webrtc":
		return SchemaRTSP // ZLMediaKit's WebRTC players read the RTSP source
	case "http-ts", "ws-ts":
		return SchemaTS
	case "http-fmp4", "ws-fmp4":
		return SchemaFMP4
	case "hls":
		return SchemaHLS
	case "hls-fmp4":
		return SchemaHLSFMP4
	}
	return protocol
}

// HookProtocol is the "protocol" field of hook bodies for a session
// protocol.
func HookProtocol(protocol string) string {
	switch protocol {
	case "http-flv", "http-ts", "http-fmp4", "hls", "hls-fmp4":
		return "http"
	case "ws-flv", "ws-ts", "ws-fmp4":
		return "ws"
	case "webrtc":
		return "rtc"
	}
	return protocol
}

// OriginType is ZLMediaKit's MediaOriginType.
type OriginType int

// Origin types.
const (
	OriginUnknown    OriginType = 0
	OriginRTMPPush   OriginType = 1
	OriginRTSPPush   OriginType = 2
	OriginRTPPush    OriginType = 3
	OriginPull       OriginType = 4
	OriginFFmpegPull OriginType = 5
	OriginMP4VOD     OriginType = 6
	OriginDeviceChn  OriginType = 7
	OriginRTCPush    OriginType = 8
	OriginSRTPush    OriginType = 9
)

var originNames = map[OriginType]string{
	OriginUnknown: "unknown", OriginRTMPPush: "rtmp_push", OriginRTSPPush: "rtsp_push",
	OriginRTPPush: "rtp_push", OriginPull: "pull", OriginFFmpegPull: "ffmpeg_pull",
	OriginMP4VOD: "mp4_vod", OriginDeviceChn: "device_chn", OriginRTCPush: "rtc_push", OriginSRTPush: "srt_push",
}

func (o OriginType) String() string {
	if s, ok := originNames[o]; ok {
		return s
	}
	return "unknown"
}

// Origin is the origin type of a publisher protocol.
func Origin(protocol string) OriginType {
	switch protocol {
	case "rtmp":
		return OriginRTMPPush
	case "rtsp", "rtsps":
		return OriginRTSPPush
	case "rtp", "gb28181":
		return OriginRTPPush
	case "pull":
		return OriginPull
	case "mp4":
		return OriginMP4VOD
	}
	return OriginUnknown
}

// SplitAddr returns the host and port of an address "host:port".
func SplitAddr(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

// SockInfo is ZLMediaKit's originSock / session object.
func SockInfo(s engine.SessionInfo) map[string]any {
	lip, lport := SplitAddr(s.Local)
	pip, pport := SplitAddr(s.Remote)
	return map[string]any{
		"identifier": s.ID,
		"local_ip":   lip,
		"local_port": lport,
		"peer_ip":    pip,
		"peer_port":  pport,
	}
}

// Tuple is the vhost/app/stream/params part of a media object.
func Tuple(key engine.Key, params string) map[string]any {
	return map[string]any{"vhost": key.Vhost, "app": key.App, "stream": key.Stream, "params": params}
}

// MediaSource is one getMediaList item: stream info as ZLMediaKit's
// makeMediaSourceJson writes it for schema. speed is the publisher's
// receive rate in bytes per second.
func MediaSource(info engine.StreamInfo, schema string, speed int64, now time.Time) map[string]any {
	return MediaSources(info, []string{schema}, speed, now)[0]
}

// MediaSources is MediaSource for each of schemas. What does not depend
// on the schema (the tuple, the origin, the tracks) is built once and the
// nested values are shared by the items. Callers may add keys to an item,
// never change a nested value.
func MediaSources(info engine.StreamInfo, schemas []string, speed int64, now time.Time) []map[string]any {
	if len(schemas) == 0 {
		return nil
	}
	lo, hi := mediaSourceParts(info, speed, now)
	out := make([]map[string]any, len(schemas))
	for i, schema := range schemas {
		m := make(map[string]any, len(lo)+len(hi)+2)
		maps.Copy(m, lo)
		maps.Copy(m, hi)
		m["readerCount"] = readerCount(info.Readers, schema)
		m["schema"] = schema
		out[i] = m
	}
	return out
}

// readerCount is the number of readers that read schema.
func readerCount(readers []engine.ReaderInfo, schema string) int {
	n := 0
	for _, r := range readers {
		if ReaderSchema(r.Protocol) == schema {
			n++
		}
	}
	return n
}

// mediaSourceParts returns the members of a media source object that do
// not depend on the schema, split around the two that do: lo holds the
// keys that sort before "readerCount", hi those that sort after
// "schema". JSON objects are written with sorted keys, so an item for any
// schema is lo, readerCount, schema and hi in that order (AppendMediaItems).
func mediaSourceParts(info engine.StreamInfo, speed int64, now time.Time) (lo, hi map[string]any) {
	created := createdAt(info, now)
	origin := OriginUnknown
	var sock any
	if info.Publisher != nil {
		origin = Origin(info.Publisher.Protocol)
		sock = SockInfo(*info.Publisher)
	}
	lo = map[string]any{
		"aliveSecond":    aliveSeconds(created, now),
		"app":            info.Key.App,
		"bytesSpeed":     speed,
		"createStamp":    created.Unix(),
		"isRecordingHLS": hasSink(info.Sinks, "record-hls"),
		"isRecordingMP4": hasSink(info.Sinks, "record-mp4"),
		"originSock":     sock,
		"originType":     int(origin),
		"originTypeStr":  origin.String(),
		"originUrl":      OriginURL(info),
		"params":         publisherParams(info),
	}
	tracks := make([]map[string]any, 0, len(info.Tracks))
	for _, t := range info.Tracks {
		tracks = append(tracks, Track(t, info.TrackStats[t], info.Drops))
	}
	hi = map[string]any{
		"stream":           info.Key.Stream,
		"totalBytes":       info.BytesIn,
		"totalReaderCount": len(info.Readers),
		"tracks":           tracks,
		"vhost":            info.Key.Vhost,
	}
	return lo, hi
}

// createdAt is when the stream was created, now when not known.
func createdAt(info engine.StreamInfo, now time.Time) time.Time {
	if info.CreatedAt.IsZero() {
		return now
	}
	return info.CreatedAt
}

func aliveSeconds(created, now time.Time) int64 { return int64(now.Sub(created).Seconds()) }

// publisherParams is the query string the publisher gave, if any.
func publisherParams(info engine.StreamInfo) string {
	if info.Publisher == nil {
		return ""
	}
	return info.Publisher.Params
}

// OriginURL is where the stream came from; for a push, the URL it was
// pushed to, as ZLMediaKit writes it.
func OriginURL(info engine.StreamInfo) string {
	if info.Publisher != nil && info.Publisher.OriginURL != "" {
		return info.Publisher.OriginURL
	}
	scheme := "rtmp"
	host := info.Key.Vhost
	if info.Publisher != nil {
		scheme = info.Publisher.Protocol
		switch scheme {
		case "rtmp", "rtsp", "rtsps":
			if info.Publisher.Local != "" {
				host = info.Publisher.Local
			}
		}
	}
	u := scheme + "://" + host + "/" + info.Key.App + "/" + info.Key.Stream
	if info.Publisher != nil && info.Publisher.Params != "" {
		u += "?" + info.Publisher.Params
	}
	return u
}

// Track is one track object of a media source. Beyond ZLMediaKit's
// fields it lists in dropped_by the outputs that leave the track out
// because they cannot carry its codec (from drops, the stream's).
func Track(t *media.Track, st engine.TrackStats, drops []engine.TrackDrop) map[string]any {
	droppedBy := []string{}
	for _, d := range drops {
		if d.Codec == t.Codec {
			droppedBy = append(droppedBy, d.Output)
		}
	}
	m := map[string]any{
		"codec_id":      t.Codec.ZLMCodecID(),
		"codec_id_name": t.Codec.DisplayName(),
		"ready":         true,
		"frames":        st.Frames,
		"duration":      st.Duration.Milliseconds(),
		"dropped_by":    droppedBy,
	}
	switch t.Kind() {
	case media.KindVideo:
		m["codec_type"] = 0
		m["width"] = t.Width
		m["height"] = t.Height
		m["fps"] = trackFPS(t, st)
		m["key_frames"] = st.KeyFrames
		m["gop_size"] = st.GOPSize
		m["gop_interval_ms"] = st.GOPInterval.Milliseconds()
		m["b_frames"] = st.BFrames
	case media.KindAudio:
		m["codec_type"] = 1
		m["sample_rate"] = t.SampleRate
		m["channels"] = t.Channels
		m["sample_bit"] = 16
	}
	return m
}

// trackFPS is a video track's frame rate, whole: as declared, or from its
// GOPs when not declared.
func trackFPS(t *media.Track, st engine.TrackStats) float64 {
	fps := t.FPS
	if math.IsNaN(fps) || math.IsInf(fps, 0) {
		fps = 0
	}
	if fps <= 1 && st.GOPInterval > 0 {
		fps = float64(st.GOPSize) * float64(time.Second) / float64(st.GOPInterval)
	}
	return math.Round(fps)
}

// SessionTypeID is ZLMediaKit's typeid for a session protocol (its C++
// class name).
func SessionTypeID(protocol string) string {
	switch protocol {
	case "rtmp":
		return "mediakit::RtmpSession"
	case "rtsp", "rtsps":
		return "mediakit::RtspSession"
	case "http-flv", "http-ts", "http-fmp4", "hls", "hls-fmp4":
		return "mediakit::HttpSession"
	case "ws-flv", "ws-ts", "ws-fmp4":
		return "mediakit::WebSocketSession"
	case "webrtc":
		return "mediakit::WebRtcSession"
	}
	return "mediakit::" + protocol
}

func hasSink(sinks []string, name string) bool {
	for _, s := range sinks {
		if s == name {
			return true
		}
	}
	return false
}
