package es

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestRefused: bad input returns an error the caller can count (or, for
// what a stream may legitimately start with, is dropped and counted), and
// leaves the ingest usable.
func TestRefused(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	sps, pps, _, idr := h264Units(t, clip)
	lc := []byte{0x12, 0x10}
	frame := adts(lc, []byte{1, 2, 3})
	main := slices.Clone(frame)
	main[2] &^= 0xc0 // profile 0: AAC Main, which mediakit does not carry
	noChannels := slices.Clone(frame)
	noChannels[2] &^= 1
	noChannels[3] &^= 0xc0
	tests := []struct {
		name    string
		do      func(in *Ingest) error
		wantErr error // nil: no error; errAny: any error
		frames  int   // frames that still reach the sink (after Flush)
		stats   Stats // the counters checked: Refused, DroppedNoConfig
	}{
		{name: "video codec AAC", do: func(in *Ingest) error { return in.WriteVideo(media.CodecAAC, 0, 0, annexB(idr)) },
			wantErr: ErrUnsupported, stats: Stats{Refused: 1}},
		{name: "video over 8 MiB", do: func(in *Ingest) error {
			return in.WriteVideo(media.CodecH264, 0, 0, annexB(sps, pps, make([]byte, MaxAccessUnitSize)))
		}, wantErr: ErrTooLarge, stats: Stats{Refused: 1}},
		{name: "video without start code", do: func(in *Ingest) error { return in.WriteVideo(media.CodecH264, 0, 0, idr) },
			wantErr: ErrMalformed, stats: Stats{Refused: 1}},
		{name: "video garbage SPS", do: func(in *Ingest) error {
			return in.WriteVideo(media.CodecH264, 0, 0, annexB([]byte{0x67, 0xff, 0xff}, pps, idr))
		}, wantErr: errAny, stats: Stats{Refused: 1}},
		{name: "video of too many NAL units", do: func(in *Ingest) error {
			return in.WriteVideo(media.CodecH264, 0, 0, bytes.Repeat([]byte{0, 0, 1, 0x41}, maxNALUs+1))
		}, wantErr: ErrMalformed, stats: Stats{Refused: 1}},
		{name: "keyframe without parameter sets", do: func(in *Ingest) error { return in.WriteVideo(media.CodecH264, 0, 0, annexB(idr)) },
			stats: Stats{DroppedNoConfig: 1}},
		{name: "video with leading garbage", do: func(in *Ingest) error {
			return in.WriteVideo(media.CodecH264, 0, 0, append([]byte{7, 7}, annexB(sps, pps, idr)...))
		}, frames: 1},
		{name: "ADTS garbage", do: func(in *Ingest) error { return in.WriteAAC(0, []byte("not adts at all")) },
			wantErr: ErrMalformed, stats: Stats{Refused: 1}},
		{name: "ADTS frames then garbage", do: func(in *Ingest) error {
			return in.WriteAAC(0, slices.Concat(frame, frame, []byte{0xff, 0x00}))
		}, wantErr: ErrMalformed, frames: 2, stats: Stats{Refused: 1}},
		{name: "ADTS channel configuration 0", do: func(in *Ingest) error { return in.WriteAAC(0, noChannels) },
			wantErr: ErrUnsupported, stats: Stats{Refused: 1}},
		{name: "ADTS AAC Main", do: func(in *Ingest) error { return in.WriteAAC(0, main) }, wantErr: errAny, stats: Stats{Refused: 1}},
		{name: "ADTS over 8 MiB", do: func(in *Ingest) error { return in.WriteAAC(0, make([]byte, MaxAccessUnitSize+1)) },
			wantErr: ErrTooLarge, stats: Stats{Refused: 1}},
		{name: "raw AAC bad config", do: func(in *Ingest) error { return in.WriteAACRaw(0, []byte{0xff}, []byte{1}) },
			wantErr: errAny, stats: Stats{Refused: 1}},
		{name: "raw AAC without config", do: func(in *Ingest) error { return in.WriteAACRaw(0, nil, []byte{1}) },
			stats: Stats{DroppedNoConfig: 1}},
		{name: "G.711 with codec AAC", do: func(in *Ingest) error { return in.WriteG711(media.CodecAAC, 0, []byte{1}) },
			wantErr: ErrUnsupported, stats: Stats{Refused: 1}},
		{name: "G.711 over 8 MiB", do: func(in *Ingest) error {
			return in.WriteG711(media.CodecG711U, 0, make([]byte, MaxAccessUnitSize+1))
		}, wantErr: ErrTooLarge, stats: Stats{Refused: 1}},
		{name: "empty inputs", do: func(in *Ingest) error {
			return errors.Join(in.WriteAAC(0, nil), in.WriteAACRaw(0, lc, nil), in.WriteG711(media.CodecG711A, 0, nil))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recSink{}
			in := NewIngest(sink, Options{})
			err := tt.do(in)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "es: ") {
				t.Errorf("error %q does not name the operation", err)
			}
			if err := in.Flush(); err != nil {
				t.Fatal(err)
			}
			sink.check(t)
			if len(sink.frames) != tt.frames {
				t.Errorf("%d frames, want %d", len(sink.frames), tt.frames)
			}
			if s := in.Stats(); s.Refused != tt.stats.Refused || s.DroppedNoConfig != tt.stats.DroppedNoConfig {
				t.Errorf("Refused %d DroppedNoConfig %d, want %d and %d", s.Refused, s.DroppedNoConfig, tt.stats.Refused, tt.stats.DroppedNoConfig)
			}
			// Still usable.
			if err := in.WriteVideo(media.CodecH264, 0, 0, annexB(sps, pps, idr)); err != nil {
				t.Errorf("good access unit after: %v", err)
			}
		})
	}
}

var errAny = errors.New("any error")

// TestWarnings: each kind of event is logged once, however often it
// happens.
func TestWarnings(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	buf, log := logBuffer()
	in := NewIngest(&recSink{}, Options{Log: log})
	for range 5 {
		_ = in.WriteVideo(media.CodecH264, 0, 0, annexB(clip.aus[1]...))      // before a keyframe
		_ = in.WriteVideo(media.CodecH264, 0, 0, []byte{1, 2, 3})             // no start code
		_ = in.WriteAAC(0, []byte{1, 2, 3, 4, 5, 6, 7, 8})                    // bad ADTS
		_ = in.WriteMP3(0, []byte{1})                                         // bad MPEG audio
		_ = in.WriteVideo(media.CodecH264, 0, ms(40), annexB(clip.aus[0]...)) // PTS before DTS
	}
	w := warnings(buf.String())
	if len(w) != 5 {
		t.Errorf("%d warnings, want 5:\n%s", len(w), strings.Join(w, "\n"))
	}
	if s := in.Stats(); s.Refused != 15 || s.DroppedBeforeKey != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestHold checks when held frames are released: every expected track
// known, or 1 s of media, 256 frames or 32 MiB held.
func TestHold(t *testing.T) {
	both := Options{ExpectVideo: true, ExpectAudio: true}
	tests := []struct {
		name string
		opts Options
		// frame i is G.711 of size bytes at DTS step*i (ms)
		step, size int
		frames     int
		// declaredAt is the number of frames written when the tracks are
		// declared; 0: not before Flush.
		declaredAt int
	}{
		{name: "audio declared", opts: Options{ExpectAudio: true}, step: 20, size: 160, frames: 10, declaredAt: 1},
		{name: "1 s of media", opts: both, step: 20, size: 160, frames: 100, declaredAt: 51},
		{name: "256 frames at one timestamp", opts: both, step: 0, size: 160, frames: 300, declaredAt: 256},
		{name: "256 frames going backwards", opts: both, step: -20, size: 160, frames: 300, declaredAt: 256},
		{name: "32 MiB", opts: both, step: 0, size: 4 << 20, frames: 10, declaredAt: 8},
		{name: "Flush", opts: both, step: 20, size: 160, frames: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recSink{}
			in := NewIngest(sink, tt.opts)
			payload := make([]byte, tt.size)
			for i := range tt.frames {
				if err := in.WriteG711(media.CodecG711U, ms(tt.step*i), payload); err != nil {
					t.Fatal(err)
				}
				if got, want := len(sink.declared) > 0, tt.declaredAt > 0 && i+1 >= tt.declaredAt; got != want {
					t.Fatalf("after %d frames: declared %v", i+1, got)
				}
				if len(in.pending) > probeFrames || in.pendingBytes > maxHeldBytes+MaxAccessUnitSize {
					t.Fatalf("%d frames, %d bytes held", len(in.pending), in.pendingBytes)
				}
			}
			if err := in.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := in.Flush(); err != nil {
				t.Fatal(err)
			}
			sink.check(t)
			if len(sink.declared) != 1 || len(sink.frames) != tt.frames {
				t.Errorf("declared %d times, %d frames; want once and %d", len(sink.declared), len(sink.frames), tt.frames)
			}
			// Timestamps are passed on as they came.
			for i, f := range sink.frames {
				if f.DTS != ms(tt.step*i) {
					t.Fatalf("frame %d at %v, want %v", i, f.DTS, ms(tt.step*i))
				}
			}
		})
	}
}

// TestTimestamps: garbage timestamps are passed on (the engine's timeline
// handles jumps), a PTS before its DTS is raised to it.
func TestTimestamps(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	buf, log := logBuffer()
	sink := &recSink{}
	in := NewIngest(sink, Options{ExpectVideo: true, Log: log})
	steps := []struct{ pts, dts, wantPTS int }{
		{pts: 3600_000, dts: 3600_000, wantPTS: 3600_000},
		{pts: 3600_040, dts: 3600_040, wantPTS: 3600_040},
		{pts: 10, dts: 10, wantPTS: 10}, // an hour back
		{pts: 20, dts: 50, wantPTS: 50},
		{pts: -500, dts: -1000, wantPTS: -500},
	}
	for i, s := range steps {
		if err := in.WriteVideo(media.CodecH264, ms(s.pts), ms(s.dts), annexB(clip.aus[i]...)); err != nil {
			t.Fatal(err)
		}
		if f := sink.frames[i]; f.DTS != ms(s.dts) || f.PTS != ms(s.wantPTS) {
			t.Errorf("frame %d at %v/%v, want %v/%v", i, f.DTS, f.PTS, ms(s.dts), ms(s.wantPTS))
		}
	}
	sink.check(t)
	if w := warnings(buf.String()); len(w) != 2 {
		t.Errorf("warnings %q, want backwards and PTS before DTS", w)
	}
}

// errSink fails as a closed publisher does.
type errSink struct {
	recSink
	failTracks, failFrames bool
}

var errClosed = errors.New("publisher closed")

func (s *errSink) SetTracks(tracks []*media.Track) error {
	if s.failTracks {
		return errClosed
	}
	return s.recSink.SetTracks(tracks)
}

func (s *errSink) WriteFrame(f *media.Frame) error {
	if s.failFrames {
		return errClosed
	}
	return s.recSink.WriteFrame(f)
}

// TestSinkErrors: the sink's errors reach the caller unchanged and are
// not counted as refused input.
func TestSinkErrors(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	key := annexB(clip.aus[0]...)
	tests := []struct {
		name string
		opts Options
		sink *errSink
		do   func(in *Ingest) error
	}{
		{name: "SetTracks", opts: Options{ExpectVideo: true}, sink: &errSink{failTracks: true},
			do: func(in *Ingest) error { return in.WriteVideo(media.CodecH264, 0, 0, key) }},
		{name: "WriteFrame", opts: Options{ExpectVideo: true}, sink: &errSink{failFrames: true},
			do: func(in *Ingest) error { return in.WriteVideo(media.CodecH264, 0, 0, key) }},
		{name: "SetTracks for AAC", opts: Options{ExpectAudio: true}, sink: &errSink{failTracks: true},
			do: func(in *Ingest) error { return in.WriteAAC(0, adts([]byte{0x12, 0x10}, []byte{1})) }},
		{name: "SetTracks for raw AAC", opts: Options{ExpectAudio: true}, sink: &errSink{failTracks: true},
			do: func(in *Ingest) error { return in.WriteAACRaw(0, []byte{0x12, 0x10}, []byte{1}) }},
		{name: "WriteFrame of G.711", opts: Options{ExpectAudio: true}, sink: &errSink{failFrames: true},
			do: func(in *Ingest) error { return in.WriteG711(media.CodecG711A, 0, []byte{1}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := NewIngest(tt.sink, tt.opts)
			if err := tt.do(in); err != errClosed {
				t.Errorf("error %v, want the sink's unchanged", err)
			}
			if s := in.Stats(); s.Refused != 0 {
				t.Errorf("Refused %d", s.Refused)
			}
		})
	}
}

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ok      bool
		leading int
		nalus   []string
	}{
		{name: "3 and 4 byte start codes", in: "\x00\x00\x00\x01\x67a\x00\x00\x01\x68b", ok: true, nalus: []string{"\x67a", "\x68b"}},
		{name: "trailing zeros", in: "\x00\x00\x01\x65x\x00\x00\x00\x00\x00\x01\x41y\x00\x00", ok: true, nalus: []string{"\x65x", "\x41y"}},
		{name: "empty units", in: "\x00\x00\x01\x00\x00\x01\x00\x00\x01\x65", ok: true, nalus: []string{"\x65"}},
		{name: "leading bytes", in: "ab\x00\x00\x00\x01\x65", ok: true, leading: 2, nalus: []string{"\x65"}},
		{name: "no start code", in: "\x65\x88\x00\x00\x02"},
		{name: "empty", in: ""},
		{name: "start code only", in: "\x00\x00\x01", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			ok, leading := splitAnnexB([]byte(tt.in), func(n []byte) { got = append(got, string(n)) })
			if ok != tt.ok || leading != tt.leading || !slices.Equal(got, tt.nalus) {
				t.Errorf("got %v %d %q, want %v %d %q", ok, leading, got, tt.ok, tt.leading, tt.nalus)
			}
		})
	}
}

// TestNoRetainedInput: the ingest copies what it keeps, so a caller may
// reuse its buffers (a demuxer's PES buffer).
func TestNoRetainedInput(t *testing.T) {
	clip := loadRaw(t, "h264.h264")
	sink := &recSink{}
	in := NewIngest(sink, Options{})
	buf := annexB(clip.aus[0]...)
	audio := adts([]byte{0x12, 0x10}, []byte{1, 2, 3})
	g711 := []byte{4, 5, 6}
	if err := in.WriteVideo(media.CodecH264, 0, 0, buf); err != nil {
		t.Fatal(err)
	}
	if err := in.WriteAAC(0, audio); err != nil {
		t.Fatal(err)
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	before := [][]byte{bytes.Clone(sink.frames[0].Payload), bytes.Clone(sink.frames[1].Payload)}
	clear(buf)
	clear(audio)
	if !bytes.Equal(sink.frames[0].Payload, before[0]) || !bytes.Equal(sink.frames[1].Payload, before[1]) {
		t.Error("a frame aliases the caller's buffer")
	}
	in2 := NewIngest(sink, Options{ExpectAudio: true})
	if err := in2.WriteG711(media.CodecG711A, 0, g711); err != nil {
		t.Fatal(err)
	}
	clear(g711)
	if got := sink.frames[len(sink.frames)-1].Payload; !bytes.Equal(got, []byte{4, 5, 6}) {
		t.Error("G.711 frame aliases the caller's buffer")
	}
	if in.vs.nalus[:cap(in.vs.nalus)][0].data != nil {
		t.Error("the scratch access unit still points into the caller's buffer")
	}
}
