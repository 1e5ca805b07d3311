package flv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"

	"github.com/mediakit/mediakit/pkg/media"
)

// fuzzMaxTagSize keeps FuzzReader's memory small whatever the input says.
const fuzzMaxTagSize = 64 << 10

// checkSink discards what it gets after checking the FrameSink contract and
// that every frame's FLV tag reads back as the frame.
type checkSink struct {
	declared []*media.Track
	err      error
}

func (s *checkSink) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *checkSink) SetTracks(tracks []*media.Track) error {
	if len(tracks) == 0 {
		s.fail(errors.New("SetTracks without tracks"))
	}
	s.declared = slices.Clone(tracks)
	return nil
}

func (s *checkSink) SetMetadata(media.Metadata) {}

func (s *checkSink) WriteFrame(f *media.Frame) error {
	if err := checkFrame(s.declared, f); err != nil {
		s.fail(err)
		return nil
	}
	if err := checkFrameTag(f); err != nil {
		s.fail(err)
	}
	return nil
}

// checkFrameTag parses FrameTag(f) back and compares it with f.
func checkFrameTag(f *media.Frame) error {
	tag := FrameTag(f)
	r := NewReader(bytes.NewReader(append(AppendHeader(nil, true, true), tag...)), 0)
	got, err := r.Next()
	if err != nil {
		return fmt.Errorf("frame tag: %w", err)
	}
	if got.Type != FrameTagType(f) || got.Timestamp != f.DTS {
		return fmt.Errorf("frame tag type %d at %v, frame at %v", got.Type, got.Timestamp, f.DTS)
	}
	if f.Track.Kind() == media.KindVideo {
		p, err := ParseVideo(got.Body)
		if err != nil {
			return fmt.Errorf("frame tag body: %w", err)
		}
		if p.Codec == media.CodecAV1 {
			// The tag opens with a temporal delimiter the ingest removes.
			if p.Data, err = av1Frame(p.Data); err != nil {
				return fmt.Errorf("AV1 tag body: %w", err)
			}
		}
		if p.Type != VideoFrame || p.Codec != f.Track.Codec || p.Key != f.Key || p.CTS != f.CTS() || !bytes.Equal(p.Data, f.Payload) {
			return fmt.Errorf("video tag reads back as %+v", p)
		}
		return nil
	}
	p, err := ParseAudio(got.Body)
	if err != nil {
		return fmt.Errorf("frame tag body: %w", err)
	}
	if p.Codec != f.Track.Codec || p.SequenceHeader || !bytes.Equal(p.Data, f.Payload) {
		return fmt.Errorf("audio tag reads back as %+v", p)
	}
	return nil
}

func FuzzReader(f *testing.F) {
	f.Add(AppendTag(AppendHeader(nil, false, true), TagVideo, 0, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}))
	f.Fuzz(func(t *testing.T, data []byte) {
		sink := &checkSink{}
		in := NewIngest(sink)
		// A small bufio.Reader (NewReader takes it as is) keeps each run
		// cheap and makes reads cross buffer boundaries.
		r := NewReader(bufio.NewReaderSize(bytes.NewReader(data), 512), fuzzMaxTagSize)
		for {
			tag, err := r.Next()
			if err != nil {
				if err == io.EOF && len(data) < HeaderLen {
					t.Fatal("io.EOF from a stream without a header")
				}
				break
			}
			if len(tag.Body) > fuzzMaxTagSize || cap(r.buf) > fuzzMaxTagSize {
				t.Fatalf("tag of %d bytes, buffer %d", len(tag.Body), cap(r.buf))
			}
			// Ingest keeps bodies; Reader reuses its buffer.
			tag.Body = slices.Clone(tag.Body)
			_ = in.Tag(tag) // keep going after errors: state must stay sound
			if len(in.pending) > probeFrames {
				t.Fatalf("%d frames held back", len(in.pending))
			}
		}
		if err := in.Flush(); err != nil {
			t.Fatal(err)
		}
		if len(in.pending) != 0 && len(in.Tracks()) > 0 {
			t.Fatalf("%d frames held back after Flush", len(in.pending))
		}
		if sink.err != nil {
			t.Fatal(sink.err)
		}
	})
}

// within reports whether sub lies inside buf.
func within(buf, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := 0; i+len(sub) <= len(buf); i++ {
		if &buf[i] == &sub[0] {
			return true
		}
	}
	return false
}

func FuzzParseVideo(f *testing.F) {
	f.Add([]byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65})
	f.Add([]byte{0x80 | 1<<4 | exVideoCodedFramesX, 'h', 'v', 'c', '1', 0, 0, 0, 1, 0x26})
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseVideo(body)
		if err != nil {
			return
		}
		if !within(body, p.Data) {
			t.Fatal("Data outside the body")
		}
		if !SupportsCodec(p.Codec) || p.Codec.Kind() != media.KindVideo {
			if p.Type != VideoIgnored {
				t.Fatalf("codec %v", p.Codec)
			}
			return
		}
		switch p.Type {
		case VideoFrame:
			// What we write for the frame reads back the same.
			fr := &media.Frame{Track: &media.Track{Codec: p.Codec}, PTS: p.CTS, Key: p.Key, Payload: p.Data}
			if p.Codec == media.CodecAV1 {
				// Frames hold AV1 without temporal delimiters, which the
				// body written for them opens with.
				if fr.Payload, err = av1Frame(p.Data); err != nil {
					return
				}
			}
			q, err := ParseVideo(AppendVideoBody(nil, fr))
			if err != nil {
				t.Fatal(err)
			}
			if p.Codec == media.CodecAV1 {
				p.Data = fr.Payload
				if q.Data, err = av1Frame(q.Data); err != nil {
					t.Fatal(err)
				}
			}
			if q.Type != VideoFrame || q.Codec != p.Codec || q.Key != p.Key || q.CTS != p.CTS || !bytes.Equal(q.Data, p.Data) {
				t.Fatalf("round trip: %+v -> %+v", p, q)
			}
		case VideoSequenceHeader:
			if p.Codec != media.CodecH264 && p.Codec != media.CodecH265 {
				return
			}
			tr, lengthSize, err := videoTrack(p)
			if err != nil {
				return
			}
			if lengthSize != 1 && lengthSize != 2 && lengthSize != 4 {
				t.Fatalf("length size %d", lengthSize)
			}
			q, err := ParseVideo(VideoSequenceHeaderBody(tr))
			if err != nil {
				t.Fatal(err)
			}
			tr2, _, err := videoTrack(q)
			if err != nil {
				t.Fatalf("our sequence header of %v does not parse: %v", tr, err)
			}
			if !tr2.SameConfig(tr) {
				t.Fatalf("sequence header round trip changed the track")
			}
		}
	})
}

func FuzzParseAudio(f *testing.F) {
	f.Add([]byte{0xaf, 0, 0x12, 0x10})
	f.Add([]byte{0x72, 0xd5})
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseAudio(body)
		if err != nil {
			return
		}
		if !within(body, p.Data) {
			t.Fatal("Data outside the body")
		}
		if p.Ignored {
			return
		}
		if p.SequenceHeader {
			if p.Codec != media.CodecAAC {
				return // Opus, MP3: checked by FuzzEnhancedAudio
			}
			tr, err := media.NewAACTrack(p.Data)
			if err != nil {
				return
			}
			q, err := ParseAudio(AudioSequenceHeaderBody(tr))
			if err != nil || !q.SequenceHeader || !bytes.Equal(q.Data, p.Data) {
				t.Fatalf("sequence header round trip: %+v, %v", q, err)
			}
			return
		}
		tr := &media.Track{Codec: p.Codec, SampleRate: p.SampleRate, Channels: p.Channels}
		q, err := ParseAudio(AppendAudioBody(nil, &media.Frame{Track: tr, Payload: p.Data}))
		if err != nil {
			t.Fatal(err)
		}
		if q.Codec != p.Codec || q.SequenceHeader || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("round trip: %+v -> %+v", p, q)
		}
		if (p.Codec == media.CodecG711A || p.Codec == media.CodecG711U) && (q.SampleRate != p.SampleRate || q.Channels != p.Channels) {
			t.Fatalf("round trip: %+v -> %+v", p, q)
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add(MetadataBody(nil, media.Metadata{{Key: "title", Value: "x"}}))
	f.Fuzz(func(t *testing.T, payload []byte) {
		md, ok, err := ParseMetadata(payload)
		if err != nil || !ok {
			if md != nil {
				t.Fatal("metadata without ok")
			}
			return
		}
		for _, p := range md {
			if len(p.Key) > 256 {
				t.Fatalf("key of %d bytes", len(p.Key))
			}
			switch v := p.Value.(type) {
			case float64, bool:
			case string:
				if len(v) > 1024 {
					t.Fatalf("string of %d bytes", len(v))
				}
			default:
				t.Fatalf("value of type %T", v)
			}
		}
		// What we write from it parses back with the publisher's keys and
		// never a computed key twice.
		body := MetadataBody(nil, md)
		if body == nil {
			t.Fatal("MetadataBody failed")
		}
		md2, ok, err := ParseMetadata(body)
		if err != nil || !ok {
			t.Fatalf("MetadataBody output: %v, %v", ok, err)
		}
		count := map[string]int{}
		for _, p := range md2 {
			count[p.Key]++
		}
		for k := range computedKeys {
			if count[k] > 1 {
				t.Fatalf("computed key %q written %d times", k, count[k])
			}
		}
		for _, p := range md {
			if computedKeys[p.Key] {
				continue
			}
			v, ok := md2.Get(p.Key)
			if !ok {
				t.Fatalf("key %q lost", p.Key)
			}
			if x, isNum := v.(float64); isNum && math.IsNaN(x) {
				continue
			}
			if first, _ := md.Get(p.Key); v != first {
				t.Fatalf("key %q: %v, want %v", p.Key, v, first)
			}
		}
	})
}
