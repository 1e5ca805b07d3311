package zlm

import (
	"strconv"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/jsonw"
	"github.com/mediakit/mediakit/pkg/media"
)

// AppendMediaItems appends the getMediaList items of the stream info
// describes, one per schema, separated by commas, with a comma before
// the first when more is true (items came before it). The items are the
// bytes encoding/json writes for MediaSources(*info, schemas, speed, now)
// (a test holds the two together), at a fraction of the cost: no map is
// built, and the members a stream's items share are written once and
// copied for its other schemas. A thousand streams are five thousand
// items; the caller can write them out stream by stream.
func AppendMediaItems(dst []byte, more bool, info *engine.StreamInfo, schemas []string, speed int64, now time.Time) []byte {
	// The stream's members before readerCount and after schema, in sorted
	// key order as encoding/json writes a map: written once into dst,
	// copied for the other schemas.
	var head, tail []byte
	for _, schema := range schemas {
		if more {
			dst = append(dst, ',')
		}
		more = true
		dst = append(dst, '{')
		if head == nil {
			start := len(dst)
			dst = appendSourceHead(dst, *info, speed, now)
			head = dst[start:len(dst):len(dst)]
		} else {
			dst = append(dst, head...)
		}
		dst = append(dst, `,"readerCount":`...)
		dst = strconv.AppendInt(dst, int64(readerCount(info.Readers, schema)), 10)
		dst = append(dst, `,"schema":`...)
		dst = jsonw.AppendString(dst, schema)
		if tail == nil {
			start := len(dst)
			dst = appendSourceTail(dst, *info)
			tail = dst[start:len(dst):len(dst)]
		} else {
			dst = append(dst, tail...)
		}
		dst = append(dst, '}')
	}
	return dst
}

// appendSourceHead writes the members of mediaSourceParts' lo.
func appendSourceHead(dst []byte, info engine.StreamInfo, speed int64, now time.Time) []byte {
	created := createdAt(info, now)
	dst = append(dst, `"aliveSecond":`...)
	dst = strconv.AppendInt(dst, aliveSeconds(created, now), 10)
	dst = appendString(dst, "app", info.Key.App)
	dst = appendInt(dst, "bytesSpeed", speed)
	dst = appendInt(dst, "createStamp", created.Unix())
	dst = appendBool(dst, "isRecordingHLS", hasSink(info.Sinks, "record-hls"))
	dst = appendBool(dst, "isRecordingMP4", hasSink(info.Sinks, "record-mp4"))
	dst = appendKey(dst, "originSock")
	origin := OriginUnknown
	if info.Publisher != nil {
		origin = Origin(info.Publisher.Protocol)
		dst = appendSockInfo(dst, *info.Publisher)
	} else {
		dst = append(dst, "null"...)
	}
	dst = appendInt(dst, "originType", int64(origin))
	dst = appendString(dst, "originTypeStr", origin.String())
	dst = appendString(dst, "originUrl", OriginURL(info))
	return appendString(dst, "params", publisherParams(info))
}

// appendSourceTail writes the members of mediaSourceParts' hi.
func appendSourceTail(dst []byte, info engine.StreamInfo) []byte {
	dst = appendString(dst, "stream", info.Key.Stream)
	dst = appendInt(dst, "totalBytes", info.BytesIn)
	dst = appendInt(dst, "totalReaderCount", int64(len(info.Readers)))
	dst = appendKey(dst, "tracks")
	dst = append(dst, '[')
	for i, t := range info.Tracks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTrack(dst, t, info.TrackStats[t], info.Drops)
	}
	dst = append(dst, ']')
	return appendString(dst, "vhost", info.Key.Vhost)
}

// appendSockInfo writes the object of SockInfo.
func appendSockInfo(dst []byte, s engine.SessionInfo) []byte {
	lip, lport := SplitAddr(s.Local)
	pip, pport := SplitAddr(s.Remote)
	dst = append(dst, `{"identifier":`...)
	dst = jsonw.AppendString(dst, s.ID)
	dst = appendString(dst, "local_ip", lip)
	dst = appendInt(dst, "local_port", int64(lport))
	dst = appendString(dst, "peer_ip", pip)
	dst = appendInt(dst, "peer_port", int64(pport))
	return append(dst, '}')
}

// appendTrack writes the object of Track.
func appendTrack(dst []byte, t *media.Track, st engine.TrackStats, drops []engine.TrackDrop) []byte {
	kind := t.Kind()
	dst = append(dst, '{')
	if kind == media.KindVideo {
		dst = append(dst, `"b_frames":`...)
		dst = strconv.AppendInt(dst, st.BFrames, 10)
		dst = append(dst, ',')
	}
	if kind == media.KindAudio {
		dst = append(dst, `"channels":`...)
		dst = strconv.AppendInt(dst, int64(t.Channels), 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"codec_id":`...)
	dst = strconv.AppendInt(dst, int64(t.Codec.ZLMCodecID()), 10)
	dst = appendString(dst, "codec_id_name", t.Codec.DisplayName())
	switch kind {
	case media.KindVideo:
		dst = appendInt(dst, "codec_type", 0)
	case media.KindAudio:
		dst = appendInt(dst, "codec_type", 1)
	}
	dst = appendKey(dst, "dropped_by")
	dst = append(dst, '[')
	n := 0
	for _, d := range drops {
		if d.Codec == t.Codec {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = jsonw.AppendString(dst, d.Output)
		}
	}
	dst = append(dst, ']')
	dst = appendInt(dst, "duration", st.Duration.Milliseconds())
	if kind == media.KindVideo {
		dst = appendKey(dst, "fps")
		dst = jsonw.AppendFloat(dst, trackFPS(t, st))
	}
	dst = appendInt(dst, "frames", st.Frames)
	if kind == media.KindVideo {
		dst = appendInt(dst, "gop_interval_ms", st.GOPInterval.Milliseconds())
		dst = appendInt(dst, "gop_size", int64(st.GOPSize))
		dst = appendInt(dst, "height", int64(t.Height))
		dst = appendInt(dst, "key_frames", st.KeyFrames)
	}
	dst = appendBool(dst, "ready", true)
	switch kind {
	case media.KindVideo:
		dst = appendInt(dst, "width", int64(t.Width))
	case media.KindAudio:
		dst = appendInt(dst, "sample_bit", 16)
		dst = appendInt(dst, "sample_rate", int64(t.SampleRate))
	}
	return append(dst, '}')
}

// appendKey writes a member's comma and key; keys here are plain ASCII.
func appendKey(dst []byte, key string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendString(dst []byte, key, v string) []byte {
	return jsonw.AppendString(appendKey(dst, key), v)
}

func appendInt(dst []byte, key string, v int64) []byte {
	return strconv.AppendInt(appendKey(dst, key), v, 10)
}

func appendBool(dst []byte, key string, v bool) []byte {
	return strconv.AppendBool(appendKey(dst, key), v)
}
