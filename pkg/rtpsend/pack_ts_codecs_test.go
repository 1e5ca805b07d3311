package rtpsend

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/format/mpegts"
	"github.com/mediakit/mediakit/pkg/media"
)

// tsUnits collects what the MPEG-TS demuxer reads back.
type tsUnits struct {
	video int
	audio [][]byte
	codec media.Codec
}

func (u *tsUnits) Video(media.Codec, time.Duration, time.Duration, []byte) error {
	u.video++
	return nil
}
func (u *tsUnits) AAC(_ time.Duration, _, au []byte) error { return u.add(media.CodecAAC, au) }
func (u *tsUnits) Opus(_ time.Duration, p []byte) error    { return u.add(media.CodecOpus, p) }
func (u *tsUnits) MP3(_ time.Duration, f []byte) error     { return u.add(media.CodecMP3, f) }
func (u *tsUnits) add(c media.Codec, b []byte) error {
	u.codec = c
	u.audio = append(u.audio, bytes.Clone(b))
	return nil
}

// TestTSCodecs: MP3 and Opus go out in MPEG-TS over RTP beside the
// video and demux back whole; G.711 is left out (the sender reports it)
// and the video goes on.
func TestTSCodecs(t *testing.T) {
	c := loadClip(t)
	// An MPEG-1 Layer III frame: 128 kbit/s, 44.1 kHz, 417 bytes.
	mp3Frame := append([]byte{0xff, 0xfb, 0x90, 0x64}, make([]byte, 413)...)
	mp3, err := media.NewMP3Track(mp3Frame)
	if err != nil {
		t.Fatal(err)
	}
	opus, err := media.NewOpusTrack(2)
	if err != nil {
		t.Fatal(err)
	}
	g711, err := media.NewG711Track(media.CodecG711A, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		audio   *media.Track
		payload func(i int) []byte
		carried bool
	}{
		{"mp3", mp3, func(int) []byte { return mp3Frame }, true},
		{"opus", opus, func(i int) []byte { return []byte{0xfc, byte(i), byte(i >> 8)} }, true},
		{"g711", g711, func(int) []byte { return make([]byte, 320) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tracks := []*media.Track{c.video, tc.audio}
			_, left, err := newPacker(Options{Format: FormatTS, PayloadType: 33}, 1, tracks)
			if err != nil {
				t.Fatal(err)
			}
			if want := !tc.carried; slices.Contains(left, tc.audio) != want {
				t.Errorf("left out %v, want the %s track left out: %t", left, tc.name, want)
			}
			const n = 50
			var frames []*media.Frame
			var want [][]byte
			for _, f := range c.frames(0, n) {
				if f.Track == c.audio {
					f = &media.Frame{Track: tc.audio, DTS: f.DTS, PTS: f.PTS, Key: true, Payload: tc.payload(len(want))}
					want = append(want, f.Payload)
				}
				frames = append(frames, f)
			}
			var ts []byte
			for _, p := range packAll(t, Options{Format: FormatTS, PayloadType: 33}, tracks, frames) {
				ts = append(ts, p.Payload...)
			}
			d, err := mpegts.NewDemuxer(bytes.NewReader(ts))
			if err != nil {
				t.Fatal(err)
			}
			u := &tsUnits{}
			if err := d.Run(context.Background(), u); err != nil {
				t.Fatal(err)
			}
			if u.video != n {
				t.Errorf("%d video frames, want %d", u.video, n)
			}
			if !tc.carried {
				if len(u.audio) != 0 || len(d.Streams()) != 1 {
					t.Errorf("%d audio units, streams %v: want the video alone", len(u.audio), d.Streams())
				}
				return
			}
			if u.codec != tc.audio.Codec || len(u.audio) != len(want) {
				t.Fatalf("%d %s units, want %d %s", len(u.audio), u.codec, len(want), tc.audio.Codec)
			}
			for i := range want {
				if !bytes.Equal(u.audio[i], want[i]) {
					t.Fatalf("audio unit %d differs", i)
				}
			}
		})
	}
}
