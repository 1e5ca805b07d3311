package mpegts

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/substructs"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

const wrap = 1 << 33 // the MPEG-TS clock wraps here

func aacCodec(rate int) *tscodecs.MPEG4Audio {
	return &tscodecs.MPEG4Audio{Config: mpeg4audio.Config{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: rate, ChannelCount: 2}}
}

// TestClockWrap: timestamps go on past 2^33 instead of jumping back 26.5
// hours, the first one kept as it is.
func TestClockWrap(t *testing.T) {
	t.Parallel()
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	tw := newTSWriter(t, &tscodecs.H264{}, aacCodec(48000))
	start := int64(wrap - 2*ClockRate) // wraps 2 s in
	for i, au := range aus {
		dts := start + int64(i)*3600
		pts := dts + 7200 // PTS wraps two frames before DTS
		tw.check(tw.w.WriteH264(tw.tracks[0], pts%wrap, dts%wrap, au))
		tw.check(tw.w.WriteMPEG4Audio(tw.tracks[1], (start+int64(i)*1920)%wrap, [][]byte{{byte(i), 1, 2, 3}}))
	}
	_, r, err := run(t, tw.buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	video, audio := r.of(media.CodecH264), r.of(media.CodecAAC)
	if len(video) != len(aus) || len(audio) != len(aus) {
		t.Fatalf("%d video and %d audio units, want %d each", len(video), len(audio), len(aus))
	}
	for i, u := range video {
		dts := Ticks(start + int64(i)*3600)
		if u.dts != dts || u.pts != dts+80*time.Millisecond {
			t.Fatalf("video %d: PTS %v DTS %v, want DTS %v, PTS 80 ms later", i, u.pts, u.dts, dts)
		}
	}
	for i, u := range audio {
		if want := Ticks(start + int64(i)*1920); u.pts != want {
			t.Fatalf("audio %d: PTS %v, want %v", i, u.pts, want)
		}
	}
	if last := video[len(video)-1].dts; last <= Ticks(wrap) {
		t.Errorf("last DTS %v, want past the wrap at %v", last, Ticks(wrap))
	}
}

// TestStreams: the streams are described in PMT order; H.264, AAC and
// Opus reach the handler, AAC units and Opus packets of one PES each with
// their own timestamp; MPEG-1 audio is dropped.
func TestStreams(t *testing.T) {
	t.Parallel()
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	opus := &tscodecs.Opus{Desc: &substructs.OpusAudioDescriptor{ChannelConfigCode: 2}}
	tw := newTSWriter(t, &tscodecs.H264{}, aacCodec(48000), opus, &tscodecs.MPEG1Audio{})
	// an MPEG-1 layer III frame: 128 kbit/s, 44.1 kHz, 417 bytes
	mp3 := append([]byte{0xff, 0xfb, 0x90, 0x64}, make([]byte, 413)...)
	const start = 90000
	for i := range 3 {
		ts := int64(start + i*7200)
		tw.check(tw.w.WriteH264(tw.tracks[0], ts, ts, aus[i]))
		tw.check(tw.w.WriteMPEG4Audio(tw.tracks[1], ts, [][]byte{{1}, {2, 2}, {3, 3, 3}}))
		// CELT 20 ms, then two 10 ms frames (code 1), then three 2.5 ms (code 3)
		tw.check(tw.w.WriteOpus(tw.tracks[2], ts, [][]byte{{0xf8, 1}, {0xf1, 2}, {0x83, 3, 4}}))
		tw.check(tw.w.WriteMPEG1Audio(tw.tracks[3], ts, [][]byte{mp3}))
	}
	d, r, err := run(t, tw.buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := []Stream{
		{PID: 256, Codec: media.CodecH264, Name: "h264"},
		{PID: 257, Codec: media.CodecAAC, Name: "aac"},
		{PID: 258, Codec: media.CodecOpus, Name: "opus"},
		{PID: 259, Codec: media.CodecMP3, Name: "mpeg1audio"},
	}
	got := d.Streams()
	if len(got) != len(want) {
		t.Fatalf("streams %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stream %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	for i := range 3 {
		base := time.Second + time.Duration(i)*80*time.Millisecond
		v := r.of(media.CodecH264)
		if len(v) != 3 || v[i].pts != base || v[i].dts != base || v[i].size != 4*len(aus[i])+sum(aus[i]) {
			t.Errorf("video %d: %+v", i, v)
		}
		a := r.of(media.CodecAAC)
		if len(a) != 9 {
			t.Fatalf("%d AAC units, want 9", len(a))
		}
		for j := range 3 {
			// 1024 samples at 48 kHz: 21.333 ms
			if u := a[3*i+j]; u.pts != base+time.Duration(j)*1024*time.Second/48000 || u.size != j+1 {
				t.Errorf("AAC unit %d of PES %d: %+v", j, i, u)
			}
		}
		if m := r.of(media.CodecMP3); len(m) != 3 || m[i].pts != base || m[i].size != len(mp3) {
			t.Errorf("MP3 frame %d: %+v", i, m)
		}
		o := r.of(media.CodecOpus)
		if len(o) != 9 {
			t.Fatalf("%d Opus packets, want 9", len(o))
		}
		for j, off := range []time.Duration{0, ms(20), ms(40)} {
			if u := o[3*i+j]; u.pts != base+off {
				t.Errorf("Opus packet %d of PES %d at %v, want %v", j, i, u.pts, base+off)
			}
		}
	}
}

func sum(au [][]byte) int {
	n := 0
	for _, u := range au {
		n += len(u)
	}
	return n
}

// TestProbe: what NewDemuxer returns when it cannot find the streams.
func TestProbe(t *testing.T) {
	t.Parallel()
	null := append([]byte{0x47, 0x1f, 0xff, 0x10}, bytes.Repeat([]byte{0xff}, 184)...)
	boom := errors.New("boom")

	// an announced AAC stream without audio: its configuration is never known
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	tw := newTSWriter(t, &tscodecs.H264{}, aacCodec(44100))
	for i := 0; tw.buf.Len() < 2*MaxProbe; i++ {
		tw.check(tw.w.WriteH264(tw.tracks[0], int64(i)*3600, int64(i)*3600, aus[i%len(aus)]))
	}

	for _, tc := range []struct {
		name string
		r    io.Reader
		want error
	}{
		{"empty", bytes.NewReader(nil), io.ErrUnexpectedEOF},
		{"short", bytes.NewReader(null[:100]), io.ErrUnexpectedEOF},
		{"null packets to the end", bytes.NewReader(bytes.Repeat(null, 100)), io.ErrUnexpectedEOF},
		{"null packets past the limit", bytes.NewReader(bytes.Repeat(null, 2*MaxProbe/188)), ErrNoPMT},
		{"AAC never sent", bytes.NewReader(tw.buf.Bytes()), ErrNoPMT},
		{"read error", io.MultiReader(bytes.NewReader(bytes.Repeat(null, 10)), iotest.ErrReader(boom)), boom},
		{"byte by byte", iotest.OneByteReader(bytes.NewReader(bytes.Repeat(null, 5000))), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDemuxer(tc.r)
			if !errors.Is(err, tc.want) || d != nil {
				t.Errorf("NewDemuxer: %v, %v; want %v", d, err, tc.want)
			}
		})
	}
}

// stopHandler is a recorder that cancels a context at its n-th call.
type stopHandler struct {
	recorder
	n      int
	cancel context.CancelFunc
}

func (s *stopHandler) Video(c media.Codec, pts, dts time.Duration, b []byte) error {
	if s.n--; s.n == 0 {
		s.cancel()
	}
	return s.recorder.Video(c, pts, dts, b)
}

// TestRunEnds: Run ends with the handler's error, the context's, or the
// reader's.
func TestRunEnds(t *testing.T) {
	t.Parallel()
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	tw := newTSWriter(t, &tscodecs.H264{})
	for i, au := range aus[:20] {
		tw.check(tw.w.WriteH264(tw.tracks[0], int64(i)*3600, int64(i)*3600, au))
	}
	ts := tw.buf.Bytes()
	boom := errors.New("boom")

	t.Run("handler", func(t *testing.T) {
		d, err := NewDemuxer(bytes.NewReader(ts))
		if err != nil {
			t.Fatal(err)
		}
		r := &recorder{t: t, err: boom}
		if err := d.Run(t.Context(), r); err != boom || len(r.units) != 1 {
			t.Errorf("Run: %v after %d units, want boom after 1", err, len(r.units))
		}
	})
	t.Run("context", func(t *testing.T) {
		d, err := NewDemuxer(bytes.NewReader(ts))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		h := &stopHandler{recorder: recorder{t: t}, n: 5, cancel: cancel}
		if err := d.Run(ctx, h); !errors.Is(err, context.Canceled) || len(h.units) != 5 {
			t.Errorf("Run: %v after %d units, want cancelled after 5", err, len(h.units))
		}
	})
	t.Run("reader", func(t *testing.T) {
		d, err := NewDemuxer(io.MultiReader(bytes.NewReader(ts), iotest.ErrReader(boom)))
		if err != nil {
			t.Fatal(err)
		}
		r := &recorder{t: t}
		if err := d.Run(t.Context(), r); err != boom || len(r.units) < 18 {
			t.Errorf("Run: %v after %d units, want boom after 18 or more", err, len(r.units))
		}
	})
	t.Run("end", func(t *testing.T) {
		_, r, err := run(t, ts)
		if err != nil || len(r.units) != 20 {
			t.Errorf("Run: %v after %d units, want nil after 20", err, len(r.units))
		}
	})
}

func TestOpusDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		packet []byte
		want   time.Duration
	}{
		{nil, 0},
		{[]byte{0x00}, 10 * time.Millisecond},       // SILK NB 10 ms, one frame
		{[]byte{0x18}, 60 * time.Millisecond},       // SILK NB 60 ms
		{[]byte{0x61}, 20 * time.Millisecond},       // hybrid SWB 10 ms, two frames
		{[]byte{0x78}, 20 * time.Millisecond},       // hybrid FB 20 ms
		{[]byte{0x80}, 2500 * time.Microsecond},     // CELT NB 2.5 ms
		{[]byte{0xfa}, 40 * time.Millisecond},       // CELT FB 20 ms, two frames of different sizes
		{[]byte{0xfb, 0x03}, 60 * time.Millisecond}, // code 3: three 20 ms frames
		{[]byte{0xfb}, 0},                           // code 3 without its count
	} {
		if got := opusDuration(tc.packet); got != tc.want {
			t.Errorf("opusDuration(% x) = %v, want %v", tc.packet, got, tc.want)
		}
	}
}

func TestTicks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    int64
		want time.Duration
	}{
		{0, 0},
		{1, 11111 * time.Nanosecond},
		{90000, time.Second},
		{-3600, -40 * time.Millisecond},
		{wrap, 95443*time.Second + 717688888}, // 2^33 ticks
		{1000 * wrap, 95443717*time.Second + 688888888},
	} {
		if got := Ticks(tc.v); got != tc.want {
			t.Errorf("Ticks(%d) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
