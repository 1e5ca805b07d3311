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
	if tag := tagInRoom(f, f.ClaimTagRoom()); tag != nil {
		return tag
	}
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

// tagInRoom writes f's tag header, body header and size around its
// payload in room and returns the tag, when room is laid out for it:
// TagHeaderLen plus the body header's length before Payload, where Payload
// lies, and PrevSizeLen after it; else nil. Everything before the payload
// is written, so the tag is what buildFrameTag would build, whatever an
// RTMP publisher wrote there (the engine may have moved the DTS since).
func tagInRoom(f *media.Frame, room []byte) []byte {
	if room == nil || len(f.Payload) == 0 {
		return nil
	}
	var scratch [16]byte
	var hdr []byte
	if f.Track.Kind() == media.KindVideo {
		hdr = appendVideoBodyHeader(scratch[:0], f)
	} else {
		hdr = appendAudioBodyHeader(scratch[:0], f.Track)
	}
	size := len(hdr) + len(f.Payload)
	if len(room) != TagHeaderLen+size+PrevSizeLen || &room[TagHeaderLen+len(hdr)] != &f.Payload[0] {
		return nil
	}
	b := AppendTagHeader(room[:0], FrameTagType(f), size, f.DTS)
	_ = append(b, hdr...)
	AppendPrevSize(room[:TagHeaderLen+size], size)
	return room
}

// NewTagRoom allocates a payload of n bytes for a frame of t inside room
// for its FLV tag, to set as the frame's TagRoom: FrameTag then writes the
// tag around the payload instead of copying it. Fill payload (length n)
// before the frame goes to the engine.
func NewTagRoom(t *media.Track, n int) (room, payload []byte) {
	head := TagHeaderLen
	if t.Kind() == media.KindVideo {
		head += videoBodyHeaderLen(t.Codec)
	} else {
		head += audioBodyHeaderLen(t.Codec)
	}
	room = make([]byte, head+n+PrevSizeLen)
	return room, room[head : head+n : head+n]
}
