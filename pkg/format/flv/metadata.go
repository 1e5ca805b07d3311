package flv

import (
	"fmt"
	"math"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/mediakit/mediakit/pkg/media"
)

// Metadata keys mediakit computes from the tracks; a publisher's values for
// these are replaced, since a returning publisher or a remux may change them.
var computedKeys = map[string]bool{
	"duration": true, "filesize": true, "width": true, "height": true,
	"videocodecid": true, "audiocodecid": true, "framerate": true,
	"audiosamplerate": true, "audiosamplesize": true, "stereo": true,
	"audiochannels": true, "encoder": true, "hasVideo": true, "hasAudio": true,
}

// MaxScriptSize caps script data before AMF0 decoding: real metadata is a
// few hundred bytes. Nesting is capped separately (MaxAMFDepth): within
// this size a payload can nest over ten thousand levels.
const MaxScriptSize = 64 << 10

// ParseMetadata decodes the AMF0 payload of an onMetaData script tag or
// RTMP data message ("@setDataFrame", "onMetaData", {...} or "onMetaData",
// {...}). It reports ok=false for other data messages. Only scalar values
// are kept. A payload nesting deeper than MaxAMFDepth is refused with an
// error wrapping ErrScriptTooDeep, whatever its name: the name is only
// known after decoding, which is what the limit protects.
func ParseMetadata(payload []byte) (md media.Metadata, ok bool, err error) {
	if len(payload) > MaxScriptSize {
		return nil, false, fmt.Errorf("flv: metadata of %d bytes exceeds %d", len(payload), MaxScriptSize)
	}
	if AMFTooDeep(payload, MaxAMFDepth) {
		return nil, false, fmt.Errorf("flv: metadata: %w: more than %d levels", ErrScriptTooDeep, MaxAMFDepth)
	}
	data, err := amf0.Unmarshal(payload)
	if err != nil {
		return nil, false, fmt.Errorf("flv: metadata: %w", err)
	}
	return MetadataFromAMF(data)
}

// MetadataFromAMF is ParseMetadata for already decoded AMF0 values.
func MetadataFromAMF(data amf0.Data) (media.Metadata, bool, error) {
	if len(data) > 0 {
		if s, _ := data[0].(string); s == "@setDataFrame" {
			data = data[1:]
		}
	}
	if len(data) < 2 {
		return nil, false, nil
	}
	if s, _ := data[0].(string); s != "onMetaData" {
		return nil, false, nil
	}
	var obj amf0.Object
	switch v := data[1].(type) {
	case amf0.Object:
		obj = v
	case amf0.ECMAArray:
		obj = amf0.Object(v)
	default:
		return nil, false, fmt.Errorf("flv: onMetaData value is %T, not an object", data[1])
	}
	md := make(media.Metadata, 0, len(obj))
	for _, e := range obj {
		if len(e.Key) > 256 {
			continue
		}
		switch v := e.Value.(type) {
		case float64, bool:
			md = append(md, media.Property{Key: e.Key, Value: v})
		case string:
			if len(v) <= 1024 {
				md = append(md, media.Property{Key: e.Key, Value: v})
			}
		}
	}
	return md, true, nil
}

// fourCCNumber is how Enhanced RTMP writes a FourCC codec id as a number.
func fourCCNumber(cc [4]byte) float64 {
	return float64(uint32(cc[0])<<24 | uint32(cc[1])<<16 | uint32(cc[2])<<8 | uint32(cc[3]))
}

// videoCodecID is onMetaData's videocodecid: the legacy id for H.264, the
// FourCC as a number for the Enhanced FLV codecs.
func videoCodecID(c media.Codec) float64 {
	switch c {
	case media.CodecH265:
		return fourCCNumber(fourCCHEVC)
	case media.CodecAV1:
		return fourCCNumber(fourCCAV1)
	case media.CodecVP9:
		return fourCCNumber(fourCCVP9)
	}
	return videoCodecAVC
}

// MetadataBody builds the onMetaData script tag body describing tracks,
// followed by the publisher's own keys that mediakit does not compute. It
// returns nil if the values cannot be encoded.
func MetadataBody(tracks []*media.Track, publisher media.Metadata) []byte {
	obj := amf0.ECMAArray{{Key: "duration", Value: float64(0)}}
	for _, t := range tracks {
		switch t.Kind() {
		case media.KindVideo:
			if !SupportsCodec(t.Codec) {
				continue
			}
			obj = append(obj,
				amf0.ObjectEntry{Key: "width", Value: float64(t.Width)},
				amf0.ObjectEntry{Key: "height", Value: float64(t.Height)})
			if t.FPS > 0 && !math.IsInf(t.FPS, 0) {
				obj = append(obj, amf0.ObjectEntry{Key: "framerate", Value: t.FPS})
			} else if fps, ok := publisher.Number("framerate"); ok {
				obj = append(obj, amf0.ObjectEntry{Key: "framerate", Value: fps})
			}
			obj = append(obj, amf0.ObjectEntry{Key: "videocodecid", Value: videoCodecID(t.Codec)})
		case media.KindAudio:
			if !SupportsCodec(t.Codec) {
				continue
			}
			id := float64(audioHeaderByte(t) >> 4)
			if t.Codec == media.CodecOpus {
				id = fourCCNumber(fourCCOpus)
			}
			obj = append(obj,
				amf0.ObjectEntry{Key: "audiocodecid", Value: id},
				amf0.ObjectEntry{Key: "audiosamplerate", Value: float64(t.SampleRate)},
				amf0.ObjectEntry{Key: "audiosamplesize", Value: float64(16)},
				amf0.ObjectEntry{Key: "stereo", Value: t.Channels > 1},
				amf0.ObjectEntry{Key: "audiochannels", Value: float64(t.Channels)})
		}
	}
	for _, p := range publisher {
		if !computedKeys[p.Key] {
			obj = append(obj, amf0.ObjectEntry{Key: p.Key, Value: p.Value})
		}
	}
	obj = append(obj, amf0.ObjectEntry{Key: "encoder", Value: "mediakit"})
	b, err := amf0.Data{"onMetaData", obj}.Marshal()
	if err != nil {
		// Only scalars are ever put in obj, so this cannot happen; a
		// stream without metadata still plays.
		return nil
	}
	return b
}
