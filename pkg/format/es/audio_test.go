package es

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestADTSFromFFmpeg reads the ADTS that ffmpeg makes of a clip's audio,
// frame by frame and as one buffer, and compares the frames with what
// flv.Ingest reads from the clip.
func TestADTSFromFFmpeg(t *testing.T) {
	testutil.RequireFFmpeg(t)
	src := loadFLV(t, "h264_aac.flv")
	want := slices.DeleteFunc(slices.Clone(src.frames), func(f *media.Frame) bool { return f.Track.Kind() != media.KindAudio })
	out := filepath.Join(t.TempDir(), "out.aac")
	p := testutil.StartFFmpeg(t, "-i", testutil.Clip(t, "h264_aac.flv"), "-vn", "-c:a", "copy", "-f", "adts", out)
	if err := p.Wait(time.Minute); err != nil {
		t.Fatalf("%v: %v", p, err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	frameLen := func(b []byte) int { return int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5 }
	tests := []struct {
		name  string
		write func(in *Ingest) error
		// tolerance of timestamps against the FLV's (whole milliseconds)
		tolerance time.Duration
	}{
		{name: "one call per frame", tolerance: 0, write: func(in *Ingest) error {
			for i, b := 0, data; len(b) > 0; i++ {
				n := frameLen(b)
				if err := in.WriteAAC(want[i].DTS, b[:n]); err != nil {
					return err
				}
				b = b[n:]
			}
			return nil
		}},
		{name: "one call", tolerance: time.Millisecond, write: func(in *Ingest) error { return in.WriteAAC(0, data) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recSink{}
			in := NewIngest(sink, Options{ExpectAudio: true})
			if err := tt.write(in); err != nil {
				t.Fatal(err)
			}
			sink.check(t)
			if len(sink.declared) != 1 || !sameAudio(sink.declared[0][0], src.audio) {
				t.Fatalf("declared %v, want %v once", sink.declared, src.audio)
			}
			if len(sink.frames) != len(want) || len(want) != 260 {
				t.Fatalf("%d frames, want %d (260)", len(sink.frames), len(want))
			}
			for i, f := range sink.frames {
				if !bytes.Equal(f.Payload, want[i].Payload) {
					t.Fatalf("frame %d: payload differs", i)
				}
				if d := f.DTS - want[i].DTS; d < -tt.tolerance || d > tt.tolerance || f.PTS != f.DTS {
					t.Fatalf("frame %d at %v, the FLV's at %v", i, f.DTS, want[i].DTS)
				}
			}
		})
	}
}

// TestFLVClips feeds FLV clips as a PS demuxer would (Annex-B video with
// parameter sets before keyframes, ADTS audio) and checks that the frames
// are exactly flv.Ingest's.
func TestFLVClips(t *testing.T) {
	tests := []struct {
		clip         string
		opts         Options
		video, audio int
	}{
		{clip: "h264_aac.flv", opts: Options{ExpectVideo: true, ExpectAudio: true}, video: 150, audio: 260},
		{clip: "h264_aac.flv", video: 150, audio: 260},
		{clip: "h264_bframes_aac.flv", opts: Options{ExpectVideo: true, ExpectAudio: true}, video: 150, audio: 260},
		{clip: "h264_only.flv", opts: Options{ExpectVideo: true}, video: 100},
		{clip: "h264_only.flv", video: 100},
		{clip: "aac_only.flv", opts: Options{ExpectAudio: true}, audio: 174},
		{clip: "aac_only.flv", audio: 174},
	}
	for _, tt := range tests {
		name := tt.clip
		if !tt.opts.ExpectVideo && !tt.opts.ExpectAudio {
			name += " undeclared"
		}
		t.Run(name, func(t *testing.T) {
			src := loadFLV(t, tt.clip)
			sink := &recSink{}
			in := NewIngest(sink, tt.opts)
			feedFLV(t, in, src.frames)
			if err := in.Flush(); err != nil {
				t.Fatal(err)
			}
			sink.check(t)
			if len(sink.declared) != 1 {
				t.Fatalf("declared %v, want once", sink.codecs())
			}
			for _, tr := range sink.declared[0] {
				want := map[media.Kind]*media.Track{media.KindVideo: src.video, media.KindAudio: src.audio}[tr.Kind()]
				if !tr.SameConfig(want) && !(tr.Kind() == media.KindAudio && sameAudio(tr, want)) {
					t.Errorf("track %v, the FLV's %v", tr, want)
				}
			}
			if v, a := len(sink.framesOf(media.KindVideo)), len(sink.framesOf(media.KindAudio)); v != tt.video || a != tt.audio {
				t.Fatalf("%d video and %d audio frames, want %d and %d", v, a, tt.video, tt.audio)
			}
			// Same frames in the same order: the ingest holds frames back
			// but never reorders them.
			for i, f := range sink.frames {
				w := src.frames[i]
				if f.Track.Kind() != w.Track.Kind() || f.DTS != w.DTS || f.PTS != w.PTS || f.Key != w.Key || !bytes.Equal(f.Payload, w.Payload) {
					t.Fatalf("frame %d: %v at %v/%v key %v; the FLV's %v at %v/%v key %v",
						i, f.Track.Kind(), f.DTS, f.PTS, f.Key, w.Track.Kind(), w.DTS, w.PTS, w.Key)
				}
			}
			checkTagsInRoom(t, sink.frames)
		})
	}
}

// TestOnlyTrack filters one kind out, as ZLMediaKit's only_track does.
func TestOnlyTrack(t *testing.T) {
	src := loadFLV(t, "h264_aac.flv")
	tests := []struct {
		name         string
		opts         Options
		want         []media.Codec
		video, audio int
		filtered     int64
	}{
		{name: "all", want: []media.Codec{media.CodecH264, media.CodecAAC}, video: 150, audio: 260},
		{name: "audio only", opts: Options{OnlyTrack: OnlyAudio}, want: []media.Codec{media.CodecAAC}, audio: 260, filtered: 150},
		{name: "video only", opts: Options{OnlyTrack: OnlyVideo}, want: []media.Codec{media.CodecH264}, video: 150, filtered: 260},
		{name: "audio only, both declared", opts: Options{OnlyTrack: OnlyAudio, ExpectVideo: true, ExpectAudio: true},
			want: []media.Codec{media.CodecAAC}, audio: 260, filtered: 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recSink{}
			in := NewIngest(sink, tt.opts)
			feedFLV(t, in, src.frames)
			if err := in.Flush(); err != nil {
				t.Fatal(err)
			}
			sink.check(t)
			if got := sink.codecs(); len(got) != 1 || !slices.Equal(got[0], tt.want) {
				t.Fatalf("declared %v, want [%v]", got, tt.want)
			}
			if v, a := len(sink.framesOf(media.KindVideo)), len(sink.framesOf(media.KindAudio)); v != tt.video || a != tt.audio {
				t.Errorf("%d video and %d audio frames, want %d and %d", v, a, tt.video, tt.audio)
			}
			if s := in.Stats(); s.DroppedFiltered != tt.filtered {
				t.Errorf("DroppedFiltered %d, want %d", s.DroppedFiltered, tt.filtered)
			}
		})
	}
}

// TestG711 covers G.711 alone, with video, and a law change.
func TestG711(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	samples := func(b byte) []byte { return bytes.Repeat([]byte{b}, 160) } // 20 ms
	t.Run("audio only", func(t *testing.T) {
		sink := &recSink{}
		in := NewIngest(sink, Options{ExpectAudio: true})
		for i := range 100 {
			if err := in.WriteG711(media.CodecG711A, ms(20*i), samples(byte(i))); err != nil {
				t.Fatal(err)
			}
		}
		sink.check(t)
		if len(sink.declared) != 1 || len(sink.frames) != 100 {
			t.Fatalf("declared %v, %d frames", sink.codecs(), len(sink.frames))
		}
		if tr := sink.declared[0][0]; tr.Codec != media.CodecG711A || tr.SampleRate != 8000 || tr.Channels != 1 {
			t.Errorf("track %v", tr)
		}
		if f := sink.frames[7]; f.DTS != ms(140) || !bytes.Equal(f.Payload, samples(7)) {
			t.Errorf("frame 7 at %v", f.DTS)
		}
	})
	t.Run("with video, law change", func(t *testing.T) {
		sink := &recSink{}
		in := NewIngest(sink, Options{})
		for i, au := range clip.aus[:50] {
			ts := ms(40 * i)
			codec := media.CodecG711U
			if i >= 30 {
				codec = media.CodecG711A
			}
			if err := in.WriteG711(codec, ts, samples(1)); err != nil {
				t.Fatal(err)
			}
			if err := in.WriteG711(codec, ts+ms(20), samples(2)); err != nil {
				t.Fatal(err)
			}
			if err := in.WriteVideo(media.CodecH264, ts, ts, annexB(au...)); err != nil {
				t.Fatal(err)
			}
		}
		sink.check(t)
		got := sink.codecs()
		want := [][]media.Codec{{media.CodecH264, media.CodecG711U}, {media.CodecH264, media.CodecG711A}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("declared %v, want %v", got, want)
		}
		// Declared at the first keyframe: the first two audio frames came
		// before it and are held, not lost.
		if v, a := len(sink.framesOf(media.KindVideo)), len(sink.framesOf(media.KindAudio)); v != 50 || a != 100 {
			t.Errorf("%d video and %d audio frames, want 50 and 100", v, a)
		}
	})
}

// TestOpus: Opus packets become frames of a 48 kHz stereo track
// (mono with WriteOpusChannels), declared with the video at its first
// keyframe; Opus alone is declared by Flush.
func TestOpus(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	for _, opts := range []Options{{}, {ExpectVideo: true, ExpectAudio: true}} {
		sink := &recSink{}
		in := NewIngest(sink, opts)
		for i, au := range clip.aus[:10] {
			ts := ms(40 * i)
			if err := in.WriteVideo(media.CodecH264, ts, ts, annexB(au...)); err != nil {
				t.Fatal(err)
			}
			if err := in.WriteOpus(ts, []byte{0xfc, 0xff, 0xfe}); err != nil {
				t.Fatal(err)
			}
			if len(sink.declared) != 1 {
				t.Fatalf("%+v: not declared at the first keyframe and Opus packet", opts)
			}
		}
		sink.check(t)
		a := sink.framesOf(media.KindAudio)
		if len(a) != 10 || a[0].Track.Codec != media.CodecOpus || a[0].Track.Channels != 2 ||
			a[0].Track.SampleRate != 48000 || a[9].PTS != ms(360) || len(sink.framesOf(media.KindVideo)) != 10 {
			t.Errorf("%+v: %d audio frames (%+v), %d video frames", opts, len(a), a, len(sink.framesOf(media.KindVideo)))
		}
	}

	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectAudio: true})
	if err := in.WriteOpusChannels(0, 1, []byte{0xf8}); err != nil {
		t.Fatal(err)
	}
	if err := in.WriteOpusChannels(0, 3, []byte{0xf8}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("3 channels: %v, want ErrUnsupported", err)
	}
	if err := in.Flush(); err != nil || len(sink.declared) != 1 || sink.declared[0][0].Channels != 1 {
		t.Errorf("Flush: %v, declared %v", err, sink.codecs())
	}
}

// mp3Frame is an MPEG-1 layer III frame header (128 kb/s, 44.1 kHz,
// stereo, or mono) and a silent body: 417 bytes, 1152 samples.
func mp3Frame(mono bool) []byte {
	f := make([]byte, 417)
	copy(f, []byte{0xff, 0xfb, 0x90, 0x00})
	if mono {
		f[3] = 0xc0
	}
	return f
}

// TestMP3: MPEG audio frames, several per call as a PES holds them,
// become one frame each, stamped 1152/44100 s apart; a change of channel
// mode makes a new track; damage keeps the frames before it.
func TestMP3(t *testing.T) {
	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectAudio: true})
	three := slices.Concat(mp3Frame(false), mp3Frame(false), mp3Frame(false))
	if err := in.WriteMP3(0, three); err != nil {
		t.Fatal(err)
	}
	if err := in.WriteMP3(ms(1000), mp3Frame(true)); err != nil {
		t.Fatal(err)
	}
	if err := in.WriteMP3(ms(2000), append(mp3Frame(false), 0xff, 0xfb, 0x90)); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated second frame: %v, want ErrMalformed", err)
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	a := sink.framesOf(media.KindAudio)
	if len(a) != 5 {
		t.Fatalf("%d frames, want 5", len(a))
	}
	if a[0].Track.Codec != media.CodecMP3 || a[0].Track.SampleRate != 44100 || a[0].Track.Channels != 2 ||
		a[3].Track.Channels != 1 || a[4].Track.Channels != 2 || a[1].Track != a[0].Track {
		t.Errorf("tracks %v %v %v", a[0].Track, a[3].Track, a[4].Track)
	}
	if want := 2 * 1152 * time.Second / 44100; a[2].PTS != want || len(a[2].Payload) != 417 {
		t.Errorf("third frame at %v (%d bytes), want %v", a[2].PTS, len(a[2].Payload), want)
	}
	if in.Stats().Refused != 1 {
		t.Errorf("stats %+v", in.Stats())
	}

	// MPEG-2 layer III (22.05 kHz, 64 kb/s, mono): 576 samples and 208
	// bytes a frame.
	lsf := make([]byte, 208)
	copy(lsf, []byte{0xff, 0xf3, 0x80, 0xc0})
	sink = &recSink{}
	in = NewIngest(sink, Options{ExpectAudio: true})
	if err := in.WriteMP3(0, slices.Concat(lsf, lsf)); err != nil {
		t.Fatal(err)
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	a = sink.framesOf(media.KindAudio)
	if len(a) != 2 || a[1].PTS != 576*time.Second/22050 || a[0].Track.SampleRate != 22050 || a[0].Track.Channels != 1 {
		t.Errorf("MPEG-2 layer III: %d frames, second at %v", len(a), a[len(a)-1].PTS)
	}
}

// TestAACRaw covers RTP mpeg4-generic access units with their config.
func TestAACRaw(t *testing.T) {
	src := loadFLV(t, "aac_only.flv")
	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectAudio: true})
	// No configuration yet: dropped.
	if err := in.WriteAACRaw(0, nil, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	for i, f := range src.frames {
		config := src.audio.AACConfig
		if i%2 == 1 {
			config = nil // the current track's
		}
		if err := in.WriteAACRaw(f.DTS, config, f.Payload); err != nil {
			t.Fatal(err)
		}
	}
	sink.check(t)
	if len(sink.declared) != 1 || !sink.declared[0][0].SameConfig(src.audio) || len(sink.frames) != len(src.frames) {
		t.Fatalf("declared %v, %d frames", sink.declared, len(sink.frames))
	}
	for i, f := range sink.frames {
		if f.DTS != src.frames[i].DTS || !bytes.Equal(f.Payload, src.frames[i].Payload) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if s := in.Stats(); s.DroppedNoConfig != 1 {
		t.Errorf("DroppedNoConfig %d, want 1", s.DroppedNoConfig)
	}
	// A new configuration is a new track.
	if err := in.WriteAACRaw(ms(5000), []byte{0x11, 0x90}, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if len(sink.declared) != 2 || sink.declared[1][0].SampleRate != 48000 {
		t.Errorf("declared %v", sink.declared)
	}
}

func TestParseADTS(t *testing.T) {
	lc := adts([]byte{0x12, 0x10}, []byte{1, 2, 3}) // AAC-LC 44100 Hz stereo
	withCRC := slices.Clone(lc[:7])
	withCRC[1] &^= 1
	withCRC = append(withCRC, 0xab, 0xcd, 1, 2, 3)
	withCRC[4], withCRC[5] = byte(12>>3), byte(12&7)<<5|0x1f
	set := func(b []byte, i int, v byte) []byte { b = slices.Clone(b); b[i] = v; return b }
	tests := []struct {
		name    string
		in      []byte
		config  [2]byte
		header  int
		length  int
		wantErr error
	}{
		{name: "LC", in: lc, config: [2]byte{0x12, 0x10}, header: 7, length: 10},
		{name: "with CRC", in: withCRC, config: [2]byte{0x12, 0x10}, header: 9, length: 12},
		{name: "8 kHz mono", in: adts([]byte{0x15, 0x88}, []byte{9}), config: [2]byte{0x15, 0x88}, header: 7, length: 8},
		{name: "short", in: lc[:6], wantErr: ErrMalformed},
		{name: "no sync", in: set(lc, 0, 0xfe), wantErr: ErrMalformed},
		{name: "layer 1", in: set(lc, 1, 0xf3), wantErr: ErrMalformed},
		{name: "rate index 13", in: set(lc, 2, 0x50|13<<2), wantErr: ErrMalformed},
		{name: "channel config 0", in: set(set(lc, 2, 0x50), 3, lc[3]&0x3f), wantErr: ErrUnsupported},
		{name: "two raw blocks", in: set(lc, 6, 0xfd), wantErr: ErrUnsupported},
		{name: "length beyond data", in: lc[:9], wantErr: ErrMalformed},
		{name: "length under header", in: set(set(lc, 4, 0), 5, 0xbf), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseADTS(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.config != tt.config || h.header != tt.header || h.length != tt.length {
				t.Errorf("header %+v", h)
			}
			if _, err := media.NewAACTrack(h.config[:]); err != nil {
				t.Errorf("config %x: %v", h.config, err)
			}
		})
	}
}

// TestMP3Stream: frames cut across calls (as MPEG-PS muxers cut them
// across PES packets) are finished by the next call, at their own time.
func TestMP3Stream(t *testing.T) {
	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectAudio: true})
	stream := slices.Concat(mp3Frame(false), mp3Frame(false), mp3Frame(false))
	cuts := []int{0, 100, 600, len(stream)} // the second piece ends inside the second frame
	for i := 0; i+1 < len(cuts); i++ {
		at := time.Duration(i) * time.Hour // PES times the carried frames must not take
		if err := in.WriteMP3Stream(at, stream[cuts[i]:cuts[i+1]]); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	a := sink.framesOf(media.KindAudio)
	if len(a) != 3 {
		t.Fatalf("%d frames, want 3", len(a))
	}
	frame := 1152 * time.Second / 44100
	for i, f := range a {
		if want := time.Duration(i) * frame; f.PTS != want || !bytes.Equal(f.Payload, mp3Frame(false)) {
			t.Errorf("frame %d at %v (%d bytes), want %v and the whole frame", i, f.PTS, len(f.Payload), want)
		}
	}
	if in.Stats().Refused != 0 {
		t.Errorf("stats %+v", in.Stats())
	}
}
