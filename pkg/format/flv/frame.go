package flv

import (
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// FrameTag returns the complete FLV tag of f (header, body and
// PreviousTagSize). It is built once per frame and shared by every FLV
// reader; the timestamp is the frame's DTS on the stream timeline.
func FrameTag(f *media.Frame) []byte {
	return f.Cached(media.EncodingFLV, buildFrameTag)
}

// FrameBody returns the tag body of f: the payload of an RTMP audio or
// video message. It aliases FrameTag(f).
func FrameBody(f *media.Frame) []byte {
	tag := FrameTag(f)
	return tag[TagHeaderLen : len(tag)-PrevSizeLen]
}

// FrameTagType is the tag type of f.
func FrameTagType(f *media.Frame) TagType {
	if f.Track.Kind() == media.KindVideo {
		return TagVideo
	}
	return TagAudio
}

func buildFrameTag(f *media.Frame) []byte {
	var size int
	if f.Track.Kind() == media.KindVideo {
		size = videoBodyHeaderLen(f.Track.Codec) + len(f.Payload)
	} else {
		size = audioBodyHeaderLen(f.Track.Codec) + len(f.Payload)
	}
	b := make([]byte, 0, TagHeaderLen+size+PrevSizeLen)
	b = AppendTagHeader(b, FrameTagType(f), size, f.DTS)
	if f.Track.Kind() == media.KindVideo {
		b = AppendVideoBody(b, f)
	} else {
		b = AppendAudioBody(b, f)
	}
	return AppendPrevSize(b, size)
}

// SequenceHeaderBody returns the body of t's sequence header tag, or nil
// when the codec has none.
func SequenceHeaderBody(t *media.Track) []byte {
	if t.Kind() == media.KindVideo {
		return VideoSequenceHeaderBody(t)
	}
	return AudioSequenceHeaderBody(t)
}

// TrackTagType is the tag type of t's frames.
func TrackTagType(t *media.Track) TagType {
	if t.Kind() == media.KindVideo {
		return TagVideo
	}
	return TagAudio
}

// AppendSequenceHeaderTag appends t's sequence header tag stamped ts, or
// nothing when the codec has none.
func AppendSequenceHeaderTag(dst []byte, t *media.Track, ts time.Duration) []byte {
	body := SequenceHeaderBody(t)
	if body == nil {
		return dst
	}
	return AppendTag(dst, TrackTagType(t), ts, body)
}

// AppendStart appends what an FLV stream opens with: the file header, the
// onMetaData tag and the sequence headers of the first video and the
// first audio track of tracks, video first. Both sequence headers go
// before any coded frame (as ffmpeg writes FLV), so a player can set up
// both decoders even when the stream starts with audio. They are stamped
// ts, the first frame's DTS, so timestamps never go back; the metadata is
// stamped 0, as ffmpeg takes a script tag with any other timestamp for a
// data stream. It returns the tracks whose headers it wrote.
func AppendStart(dst []byte, tracks []*media.Track, publisher media.Metadata, ts time.Duration) (_ []byte, video, audio *media.Track) {
	for _, t := range tracks {
		switch {
		case !SupportsCodec(t.Codec):
		case t.Kind() == media.KindVideo && video == nil:
			video = t
		case t.Kind() == media.KindAudio && audio == nil:
			audio = t
		}
	}
	dst = AppendHeader(dst, audio != nil, video != nil)
	if md := MetadataBody(tracks, publisher); md != nil {
		dst = AppendTag(dst, TagScript, 0, md)
	}
	for _, t := range [...]*media.Track{video, audio} {
		if t != nil {
			dst = AppendSequenceHeaderTag(dst, t, ts)
		}
	}
	return dst, video, audio
}
