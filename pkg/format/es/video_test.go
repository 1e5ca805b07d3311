package es

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestRawClips feeds the raw Annex-B clips access unit by access unit and
// checks the track, every frame and its payload.
func TestRawClips(t *testing.T) {
	tests := []struct {
		name     string
		clip     string
		opts     Options
		frames   int
		keyEvery int
		// declaredAfter is the number of access units written when the
		// tracks are declared.
		declaredAfter int
	}{
		{name: "h264 declared video", clip: "h264.h264", opts: Options{ExpectVideo: true}, frames: 150, keyEvery: 25, declaredAfter: 1},
		{name: "h265 declared video", clip: "h265.hevc", opts: Options{ExpectVideo: true}, frames: 100, keyEvery: 25, declaredAfter: 1},
		// Nothing declared: the ingest waits for audio, 1 s of media at most.
		{name: "h264 undeclared", clip: "h264.h264", frames: 150, keyEvery: 25, declaredAfter: 26},
		{name: "h265 only video wanted", clip: "h265.hevc", opts: Options{OnlyTrack: OnlyVideo}, frames: 100, keyEvery: 25, declaredAfter: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clip := loadRaw(t, tt.clip)
			if len(clip.aus) != tt.frames {
				t.Fatalf("%s has %d access units, want %d", tt.clip, len(clip.aus), tt.frames)
			}
			sink := &recSink{}
			in := NewIngest(sink, tt.opts)
			for i, au := range clip.aus {
				ts := ms(40 * i)
				if err := in.WriteVideo(clip.codec, ts, ts, annexB(au...)); err != nil {
					t.Fatalf("access unit %d: %v", i, err)
				}
				if declared := len(sink.declared) > 0; declared != (i+1 >= tt.declaredAfter) {
					t.Fatalf("after %d access units: declared %v, want after %d", i+1, declared, tt.declaredAfter)
				}
			}
			if err := in.Flush(); err != nil {
				t.Fatal(err)
			}
			sink.check(t)
			if len(sink.declared) != 1 || len(sink.declared[0]) != 1 {
				t.Fatalf("declared %v, want one video track once", sink.codecs())
			}
			tr := sink.declared[0][0]
			if tr.Codec != clip.codec || tr.Width != 320 || tr.Height != 240 || tr.FPS != 25 {
				t.Errorf("track %v %dx%d %v fps, want %v 320x240 25 fps", tr.Codec, tr.Width, tr.Height, tr.FPS, clip.codec)
			}
			checkTagsInRoom(t, sink.frames)
			if len(sink.frames) != tt.frames {
				t.Fatalf("%d frames, want %d", len(sink.frames), tt.frames)
			}
			for i, f := range sink.frames {
				if f.Track != tr || f.DTS != ms(40*i) || f.PTS != f.DTS {
					t.Fatalf("frame %d: track %p at %v/%v", i, f.Track, f.DTS, f.PTS)
				}
				if f.Key != (i%tt.keyEvery == 0) {
					t.Errorf("frame %d: Key %v", i, f.Key)
				}
				// The payload is the access unit without the parameter
				// sets the track carries.
				want := slices.DeleteFunc(slices.Clone(clip.aus[i]), func(n []byte) bool { return isParamSetOrAUD(clip.codec, n) })
				if got := avccUnits(f.Payload); !slices.EqualFunc(got, want, bytes.Equal) {
					t.Fatalf("frame %d: payload has %d NAL units, want %d (or they differ)", i, len(got), len(want))
				}
				if media.IsRandomAccess(clip.codec, f.Payload) != f.Key {
					t.Errorf("frame %d: Key %v disagrees with media.IsRandomAccess", i, f.Key)
				}
			}
			if s := in.Stats(); s.Frames != int64(tt.frames) || s.DroppedBeforeKey != 0 || s.Refused != 0 || s.TrackChanges != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestSeparateParameterSets: demuxers may send parameter sets, SEI and
// delimiters in access units of their own, before the picture.
func TestSeparateParameterSets(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	sps, pps, sei, idr := h264Units(t, clip)
	aud := []byte{0x09, 0xf0}
	filler := []byte{0x0c, 0xff, 0xff, 0x80}
	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectVideo: true})
	for i, au := range [][]byte{annexB(aud), annexB(sps), annexB(pps, sei), annexB(filler, idr)} {
		if err := in.WriteVideo(media.CodecH264, 0, 0, au); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if i < 3 && len(sink.frames) != 0 {
			t.Fatalf("a frame after write %d, which has no picture", i)
		}
	}
	sink.check(t)
	if len(sink.frames) != 1 || !sink.frames[0].Key {
		t.Fatalf("%d frames, want one keyframe", len(sink.frames))
	}
	if got := avccUnits(sink.frames[0].Payload); !slices.EqualFunc(got, [][]byte{sei, idr}, bytes.Equal) {
		t.Errorf("payload %s, want SEI and IDR", describe(got))
	}
	if tr := sink.declared[0][0]; !bytes.Equal(tr.SPS, sps) || !bytes.Equal(tr.PPS, pps) {
		t.Error("track parameter sets differ from the stream's")
	}
	// The carried units were used once.
	if err := in.WriteVideo(media.CodecH264, ms(40), ms(40), annexB(clip.aus[1]...)); err != nil {
		t.Fatal(err)
	}
	if got := avccUnits(sink.frames[1].Payload); !slices.EqualFunc(got, clip.aus[1], bytes.Equal) {
		t.Errorf("second payload %s, want %s", describe(got), describe(clip.aus[1]))
	}
}

// TestExtraParameterSets: a PPS the track cannot hold (a second one)
// stays in band, as does one that changes on a picture that is not a
// keyframe; the next keyframe makes a new track of the latest sets.
func TestExtraParameterSets(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	sps, pps, _, idr := h264Units(t, clip)
	pps2 := []byte{0x68, 0xde, 0xad}
	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectVideo: true})
	steps := []struct {
		au      []byte
		key     bool
		payload [][]byte
	}{
		{au: annexB(sps, pps, pps2, idr), key: true, payload: [][]byte{pps2, idr}},
		{au: annexB(pps2, clip.aus[1][0]), payload: [][]byte{pps2, clip.aus[1][0]}},
		{au: annexB(idr), key: true, payload: [][]byte{idr}},
	}
	for i, s := range steps {
		if err := in.WriteVideo(media.CodecH264, ms(40*i), ms(40*i), s.au); err != nil {
			t.Fatal(err)
		}
		f := sink.frames[i]
		if f.Key != s.key || !slices.EqualFunc(avccUnits(f.Payload), s.payload, bytes.Equal) {
			t.Errorf("frame %d: key %v payload %s, want %v %s", i, f.Key, describe(avccUnits(f.Payload)), s.key, describe(s.payload))
		}
	}
	sink.check(t)
	if len(sink.declared) != 2 {
		t.Fatalf("declared %d times, want 2", len(sink.declared))
	}
	if a, b := sink.declared[0][0], sink.declared[1][0]; !bytes.Equal(a.PPS, pps) || !bytes.Equal(b.PPS, pps2) || !bytes.Equal(b.SPS, sps) {
		t.Errorf("PPS %x then %x, want %x then %x", a.PPS, b.PPS, pps, pps2)
	}
}

// TestConfigurationChange: new parameter sets on a keyframe make a new
// Track, before or after the tracks were declared.
func TestConfigurationChange(t *testing.T) {
	a := loadFLV(t, "h264_aac.flv")
	b := loadFLV(t, "h264_bframes_aac.flv") // Main profile: another SPS
	hevc := loadRaw(t, "h265.hevc")
	videoOf := func(c flvClip) []*media.Frame {
		var out []*media.Frame
		for _, f := range c.frames {
			if f.Track.Kind() == media.KindVideo {
				out = append(out, f)
			}
		}
		return out
	}
	va, vb := videoOf(a), videoOf(b)
	shift := func(fs []*media.Frame, d time.Duration) []*media.Frame {
		out := make([]*media.Frame, len(fs))
		for i, f := range fs {
			out[i] = &media.Frame{Track: f.Track, DTS: f.DTS + d, PTS: f.PTS + d, Key: f.Key, Payload: f.Payload}
		}
		return out
	}

	t.Run("after declaration", func(t *testing.T) {
		sink := &recSink{}
		in := NewIngest(sink, Options{ExpectVideo: true})
		feedFLV(t, in, va[:60])
		feedFLV(t, in, shift(vb, 3*time.Second))
		sink.check(t)
		if len(sink.declared) != 2 {
			t.Fatalf("declared %v, want twice", sink.codecs())
		}
		first, second := sink.declared[0][0], sink.declared[1][0]
		if !first.SameConfig(a.video) || !second.SameConfig(b.video) || first == second {
			t.Errorf("tracks %v then %v", first, second)
		}
		if len(sink.frames) != 60+len(vb) {
			t.Fatalf("%d frames, want %d", len(sink.frames), 60+len(vb))
		}
		for i, f := range sink.frames {
			if want := i >= 60; (f.Track == second) != want {
				t.Fatalf("frame %d of the wrong track", i)
			}
			src := va[min(i, 59)]
			if i >= 60 {
				src = vb[i-60]
			}
			if !bytes.Equal(f.Payload, src.Payload) || f.Key != src.Key || f.PTS-f.DTS != src.PTS-src.DTS {
				t.Fatalf("frame %d differs from the source", i)
			}
		}
	})

	t.Run("before declaration", func(t *testing.T) {
		sink := &recSink{}
		in := NewIngest(sink, Options{ExpectVideo: true, ExpectAudio: true})
		feedFLV(t, in, va[:10])
		feedFLV(t, in, shift(vb[:5], 400*time.Millisecond))
		if len(sink.declared) != 0 {
			t.Fatal("declared without audio")
		}
		if err := in.WriteG711(media.CodecG711A, ms(600), make([]byte, 160)); err != nil {
			t.Fatal(err)
		}
		sink.check(t)
		if got := sink.codecs(); len(got) != 1 || !slices.Equal(got[0], []media.Codec{media.CodecH264, media.CodecG711A}) {
			t.Fatalf("declared %v", got)
		}
		if !sink.declared[0][0].SameConfig(b.video) || len(sink.frames) != 6 {
			t.Errorf("track %v, %d frames; want the second clip's track and 6 frames", sink.declared[0][0], len(sink.frames))
		}
		if s := in.Stats(); s.DroppedReplaced != 10 {
			t.Errorf("DroppedReplaced %d, want 10", s.DroppedReplaced)
		}
	})

	t.Run("codec change", func(t *testing.T) {
		sink := &recSink{}
		in := NewIngest(sink, Options{ExpectVideo: true})
		feedFLV(t, in, va[:30])
		// The H.265 stream starts mid-GOP: its first 5 access units cannot
		// be decoded.
		for i, au := range hevc.aus[20:60] {
			ts := ms(1200 + 40*i)
			if err := in.WriteVideo(media.CodecH265, ts, ts, annexB(au...)); err != nil {
				t.Fatal(err)
			}
		}
		sink.check(t)
		if got := sink.codecs(); len(got) != 2 || got[1][0] != media.CodecH265 {
			t.Fatalf("declared %v, want H.264 then H.265", got)
		}
		if len(sink.frames) != 30+35 {
			t.Errorf("%d frames, want 65", len(sink.frames))
		}
		if s := in.Stats(); s.DroppedBeforeKey != 5 {
			t.Errorf("DroppedBeforeKey %d, want 5", s.DroppedBeforeKey)
		}
	})
}

// TestBeforeKeyframe: a stream joined mid-GOP, and ResyncVideo after lost
// data, drop video until the next keyframe.
func TestBeforeKeyframe(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	buf, log := logBuffer()
	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectVideo: true, Log: log})
	for i := 10; i < len(clip.aus); i++ {
		if i == 60 {
			in.ResyncVideo()
		}
		ts := ms(40 * i)
		if err := in.WriteVideo(media.CodecH264, ts, ts, annexB(clip.aus[i]...)); err != nil {
			t.Fatal(err)
		}
	}
	sink.check(t)
	s := in.Stats()
	if s.DroppedBeforeKey != 15+15 || s.Frames != 150-10-30 {
		t.Errorf("DroppedBeforeKey %d, Frames %d; want 30 and 110", s.DroppedBeforeKey, s.Frames)
	}
	if sink.frames[0].DTS != ms(40*25) || !sink.frames[0].Key {
		t.Errorf("first frame at %v (key %v), want the keyframe at 1 s", sink.frames[0].DTS, sink.frames[0].Key)
	}
	if w := warnings(buf.String()); len(w) != 1 {
		t.Errorf("warnings %q, want one", w)
	}
}

// TestBadParameterSets: a keyframe whose SPS does not parse is refused,
// and later keyframes without parameter sets go on with the track.
func TestBadParameterSets(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	sps, pps, _, idr := h264Units(t, clip)
	bad := []byte{0x67, 0xff, 0xff}
	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectVideo: true})
	steps := []struct {
		au      []byte
		wantErr bool
		frames  int
	}{
		{au: annexB(sps, pps, idr), frames: 1},
		{au: annexB(bad, pps, idr), wantErr: true, frames: 1},
		{au: annexB(clip.aus[1]...), frames: 2},
		{au: annexB(idr), frames: 3},
	}
	for i, s := range steps {
		err := in.WriteVideo(media.CodecH264, ms(40*i), ms(40*i), s.au)
		if (err != nil) != s.wantErr {
			t.Fatalf("step %d: error %v, want one: %v", i, err, s.wantErr)
		}
		if len(sink.frames) != s.frames {
			t.Fatalf("step %d: %d frames, want %d", i, len(sink.frames), s.frames)
		}
	}
	sink.check(t)
	if len(sink.declared) != 1 {
		t.Errorf("declared %d times, want once", len(sink.declared))
	}
}
