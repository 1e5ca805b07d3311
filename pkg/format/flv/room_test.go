package flv

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// inRoom copies body into a tag room, as the RTMP chunk reader reads a
// message: header room, the body, size room.
func inRoom(body []byte) (room, inside []byte) {
	room = make([]byte, TagHeaderLen+len(body)+PrevSizeLen)
	copy(room[TagHeaderLen:], body)
	return room, room[TagHeaderLen : TagHeaderLen+len(body) : TagHeaderLen+len(body)]
}

// TestFrameTagInRoom: frames ingested with their tag room get the same FLV
// tag as frames copied into a new one, stamped with their DTS at the time
// of the first FrameTag (the engine moves it onto the stream timeline
// after the ingest), and the tag is the room itself whenever the body is
// what the encoder would write.
func TestFrameTagInRoom(t *testing.T) {
	for _, tc := range []struct {
		clip    string
		inPlace float64 // share of frames whose tag must be their room, at least
	}{
		{"h264_aac.flv", 0.99},
		{"h264_bframes_aac.flv", 0.99},
		{"h264_mp3.flv", 0.99},
		{"h264_pcma.flv", 0.99},
		{"aac_only.flv", 0.99},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			sink := &recSink{}
			in := NewIngest(sink)
			for _, tag := range readTags(t, testutil.Clip(t, tc.clip)) {
				room, body := inRoom(tag.Body)
				var err error
				switch tag.Type {
				case TagVideo:
					err = in.VideoInRoom(tag.Timestamp, body, room)
				case TagAudio:
					err = in.AudioInRoom(tag.Timestamp, body, room)
				case TagScript:
					err = in.Script(tag.Body)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := in.Flush(); err != nil {
				t.Fatal(err)
			}
			sink.check(t)
			if len(sink.frames) < 50 {
				t.Fatalf("%d frames", len(sink.frames))
			}
			inPlace := 0
			for i, f := range sink.frames {
				f.DTS += 3 * time.Second // the engine's timeline
				f.PTS += 3 * time.Second
				if i%7 == 0 {
					f.DTS, f.PTS = 0, f.PTS-f.DTS // a timeline that starts over
				}
				copied := buildFrameTag(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload})
				tag := FrameTag(f)
				if !bytes.Equal(tag, copied) {
					t.Fatalf("frame %d (%v at %v): tag in its room\n% x\nwant\n% x", i, f.Track.Codec, f.DTS, tag[:min(len(tag), 32)], copied[:min(len(copied), 32)])
				}
				if &tag[0] == &f.TagRoom[0] {
					inPlace++
				}
			}
			if share := float64(inPlace) / float64(len(sink.frames)); share < tc.inPlace {
				t.Errorf("%d of %d frame tags written in their room, want at least %.0f%%", inPlace, len(sink.frames), 100*tc.inPlace)
			}
		})
	}
}

// TestFrameTagInRoomCases: whatever the publisher wrote before the payload
// (another AAC header byte, a CTS or frame type the engine or ingest
// changed) the tag is the one the encoder builds, written in the room; a
// payload that is not at the room's place is copied into a new tag, and
// the room is left alone.
func TestFrameTagInRoomCases(t *testing.T) {
	fx := newIngestFixture(t)
	key := videoBody(fx.avc, true, 0)
	for _, tc := range []struct {
		name    string
		body    []byte
		inPlace bool
		frame   func(body, room []byte) *media.Frame
	}{
		{"another AAC header byte", append([]byte{0xAE, 1}, 0x21, 0x10), true, func(body, room []byte) *media.Frame {
			return &media.Frame{Track: fx.aac, DTS: ms(40), PTS: ms(40), Key: true, Payload: body[2:], TagRoom: room}
		}},
		{"other CTS", key, true, func(body, room []byte) *media.Frame {
			return &media.Frame{Track: fx.avc, DTS: ms(40), PTS: ms(80), Key: true, Payload: body[5:], TagRoom: room}
		}},
		{"not a keyframe", key, true, func(body, room []byte) *media.Frame {
			return &media.Frame{Track: fx.avc, DTS: ms(40), PTS: ms(40), Key: false, Payload: body[5:], TagRoom: room}
		}},
		{"payload not at the body's end", key, false, func(body, room []byte) *media.Frame {
			return &media.Frame{Track: fx.avc, DTS: ms(40), PTS: ms(40), Key: true, Payload: body[5 : len(body)-1], TagRoom: room}
		}},
		{"payload elsewhere", key, false, func(body, room []byte) *media.Frame {
			return &media.Frame{Track: fx.avc, DTS: ms(40), PTS: ms(40), Key: true, Payload: bytes.Clone(body[5:]), TagRoom: room}
		}},
		{"a body header of another length", append([]byte{0x17, 1, 0, 0, 0, 0}, body5(key)...), false, func(body, room []byte) *media.Frame {
			return &media.Frame{Track: fx.avc, DTS: ms(40), PTS: ms(40), Key: true, Payload: body[6:], TagRoom: room}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room, body := inRoom(tc.body)
			before := bytes.Clone(room)
			f := tc.frame(body, room)
			copied := buildFrameTag(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload})
			tag := FrameTag(f)
			if !bytes.Equal(tag, copied) {
				t.Errorf("tag\n% x\nwant\n% x", tag, copied)
			}
			if inPlace := &tag[0] == &room[0]; inPlace != tc.inPlace {
				t.Errorf("tag written in the room: %v, want %v", inPlace, tc.inPlace)
			}
			if !tc.inPlace && !bytes.Equal(room, before) {
				t.Errorf("the room was written")
			}
		})
	}
}

func body5(b []byte) []byte { return b[5:] }

// TestNewTagRoom: a payload allocated in a tag room gets its tag there.
func TestNewTagRoom(t *testing.T) {
	fx := newIngestFixture(t)
	h265 := &media.Track{Codec: media.CodecH265}
	for _, tr := range []*media.Track{fx.avc, fx.aac, h265, {Codec: media.CodecG711A, SampleRate: 8000, Channels: 1}} {
		room, payload := NewTagRoom(tr, 6)
		copy(payload, media.AppendAVCC(nil, []byte{0x65, 1}))
		f := &media.Frame{Track: tr, DTS: ms(80), PTS: ms(120), Key: true, Payload: payload, TagRoom: room}
		copied := buildFrameTag(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload})
		if tag := FrameTag(f); !bytes.Equal(tag, copied) || &tag[0] != &room[0] {
			t.Errorf("%v: tag % x (in its room: %v), want % x", tr.Codec, tag, &tag[0] == &room[0], copied)
		}
	}
}

// TestFrameTagInRoomConcurrent: readers that ask for a frame's tag at once
// all get the same bytes, and only one writes the room (the race detector
// checks the latter).
func TestFrameTagInRoomConcurrent(t *testing.T) {
	fx := newIngestFixture(t)
	for range 50 {
		room, body := inRoom(videoBody(fx.avc, true, 0))
		f := &media.Frame{Track: fx.avc, DTS: ms(40), PTS: ms(40), Key: true, Payload: body[5:], TagRoom: room}
		want := buildFrameTag(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if got := FrameTag(f); !bytes.Equal(got, want) {
					t.Errorf("tag % x, want % x", got, want)
				}
			})
		}
		wg.Wait()
	}
}

// TestFrameTagInRoomEnhanced: the enhanced-RTMP codecs' body headers
// (FourCC, with or without a CTS) have the length the room is laid out
// for, so a body as mediakit's own encoder writes it gets its tag in
// place, equal to a copied one.
func TestFrameTagInRoomEnhanced(t *testing.T) {
	for _, tc := range []struct {
		track *media.Track
		key   bool
		cts   time.Duration
	}{
		{&media.Track{Codec: media.CodecH265}, true, 0},
		{&media.Track{Codec: media.CodecH265}, false, ms(80)},
		{&media.Track{Codec: media.CodecAV1}, true, 0},
		{&media.Track{Codec: media.CodecVP9}, false, 0},
		{&media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}, true, 0},
	} {
		payload := []byte{0x26, 0x01, 0xaf, 0x10, 0x20}
		if tc.track.Codec == media.CodecH265 {
			payload = media.AppendAVCC(nil, payload)
		}
		src := &media.Frame{Track: tc.track, DTS: ms(40), PTS: ms(40) + tc.cts, Key: tc.key, Payload: payload}
		var body []byte
		if tc.track.Kind() == media.KindVideo {
			body = AppendVideoBody(nil, src)
		} else {
			body = AppendAudioBody(nil, src)
		}
		room, inside := inRoom(body)
		f := &media.Frame{Track: src.Track, DTS: src.DTS, PTS: src.PTS, Key: src.Key, Payload: inside[len(body)-len(payload):], TagRoom: room}
		want := buildFrameTag(src)
		if tag := FrameTag(f); !bytes.Equal(tag, want) || &tag[0] != &room[0] {
			t.Errorf("%v key %v cts %v: tag % x (in its room: %v), want % x", tc.track.Codec, tc.key, tc.cts, tag, &tag[0] == &room[0], want)
		}
	}
}
