package hls

import (
	"errors"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// withG711 returns the video of h264_aac.flv with G.711 of codec in place
// of its AAC: 20 ms frames of 160 bytes, in DTS order.
func withG711(t testing.TB, codec media.Codec) (video, g711 *media.Track, frames []*media.Frame) {
	t.Helper()
	tracks, clip := clipFrames(t, "h264_aac.flv")
	g711, err := media.NewG711Track(codec, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range clip {
		if f.Track.Kind() == media.KindVideo {
			frames = append(frames, f)
		}
	}
	for i := range 300 { // 6 s
		ts := time.Duration(i) * 20 * time.Millisecond
		frames = append(frames, &media.Frame{Track: g711, DTS: ts, PTS: ts, Key: true, Payload: make([]byte, 160)})
	}
	slices.SortStableFunc(frames, func(a, b *media.Frame) int { return int(a.DTS - b.DTS) })
	return tracks[0], g711, frames
}

// TestSegmenterDropsG711: a stream of H.264 and G.711 gives segments of
// video only that ffmpeg plays, and the G.711 track is reported once,
// whether it was declared at the start or met later.
func TestSegmenterDropsG711(t *testing.T) {
	tests := []struct {
		name     string
		codec    media.Codec
		declared bool // the G.711 track is given to NewSegmenter
	}{
		{name: "alaw declared", codec: media.CodecG711A, declared: true},
		{name: "ulaw declared", codec: media.CodecG711U, declared: true},
		{name: "alaw added later", codec: media.CodecG711A},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			video, g711, frames := withG711(t, tt.codec)
			tracks := []*media.Track{video}
			if tt.declared {
				tracks = append(tracks, g711)
			}
			var segs []*Segment
			s, err := NewSegmenter(tracks, 2*time.Second, func(seg *Segment) { segs = append(segs, seg) })
			if err != nil {
				t.Fatal(err)
			}
			var told []*media.Track
			s.OnDroppedTrack(func(tr *media.Track) { told = append(told, tr) })
			if want := tt.declared; (len(told) == 1) != want {
				t.Errorf("told of %v before any frame, want the G.711 track: %v", told, want)
			}
			for _, f := range frames {
				if err := s.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			s.Flush()
			if len(told) != 1 || told[0] != g711 {
				t.Errorf("told of dropped tracks %v, want the G.711 track once", told)
			}
			if counts := checkStream(t, segs); counts[streamIDVideo] != 150 || counts[streamIDAudio] != 0 {
				t.Errorf("PES %v, want 150 video and no audio", counts)
			}
			for _, seg := range segs {
				checkSegmentStart(t, seg, true)
			}

			testutil.RequireFFmpeg(t)
			seg := writeTemp(t, "seg.ts", segs[1].Data)
			p, err := testutil.FFprobe(t.Context(), t, seg)
			if err != nil {
				t.Fatal(err)
			}
			if v := p.Video(); len(p.Streams) != 1 || v == nil || v.CodecName != "h264" || v.NbReadFrames != 50 {
				t.Errorf("segment 1 streams %+v, want one h264 stream of 50 frames", p.Streams)
			}
			all := writeTemp(t, "all.ts", concat(segs))
			if out, err := exec.CommandContext(t.Context(), "ffmpeg", "-nostdin", "-v", "error", "-i", all, "-f", "null", "-").CombinedOutput(); err != nil || len(out) != 0 {
				t.Errorf("ffmpeg decode: %v\n%s", err, out)
			}
		})
	}
}

// TestSegmenterAddedTrack: a track of a kind the segmenter was built
// without is refused with ErrTrackChanged when HLS can carry it (the
// caller builds a muxer with it), and dropped when it cannot.
func TestSegmenterAddedTrack(t *testing.T) {
	tracks, frames := clipFrames(t, "h264_aac.flv")
	video, aac := tracks[0], tracks[1]
	opus := &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	g711 := &media.Track{Codec: media.CodecG711U, SampleRate: 8000, Channels: 1}
	tests := []struct {
		name    string
		built   *media.Track
		added   *media.Track
		wantErr error
		dropped bool
	}{
		{name: "AAC after video", built: video, added: aac, wantErr: ErrTrackChanged},
		{name: "video after AAC", built: aac, added: video, wantErr: ErrTrackChanged},
		{name: "Opus after video", built: video, added: opus, wantErr: ErrTrackChanged},
		{name: "G.711 after video", built: video, added: g711, dropped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSegmenter([]*media.Track{tt.built}, time.Second, func(*Segment) {})
			if err != nil {
				t.Fatal(err)
			}
			var got []*media.Track
			s.OnDroppedTrack(func(tr *media.Track) { got = append(got, tr) })
			var first *media.Frame
			for _, f := range frames {
				if f.Track == tt.built && f.Key {
					first = f
					break
				}
			}
			if err := s.WriteFrame(first); err != nil {
				t.Fatal(err)
			}
			f := &media.Frame{Track: tt.added, DTS: first.DTS, PTS: first.DTS, Key: true, Payload: []byte{1, 2, 3}}
			for range 3 {
				if err := s.WriteFrame(f); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("frame of the added track: %v, want %v", err, tt.wantErr)
				}
			}
			if (len(got) == 1 && got[0] == tt.added) != tt.dropped || len(got) > 1 {
				t.Errorf("told of dropped tracks %v", got)
			}
		})
	}
}

func TestCanCarry(t *testing.T) {
	for c, want := range map[media.Codec]bool{
		media.CodecH264: true, media.CodecH265: true, media.CodecAAC: true,
		media.CodecOpus: true, media.CodecMP3: true,
		media.CodecG711A: false, media.CodecG711U: false, media.CodecAV1: false, media.CodecVP9: false, media.CodecUnknown: false,
	} {
		if got := CanCarry(c); got != want {
			t.Errorf("CanCarry(%v) = %v", c, got)
		}
	}
	if got := DropReason(media.CodecG711A); got != "MPEG-TS has no G.711 mapping that players read" {
		t.Errorf("DropReason(G.711A) = %q", got)
	}
	if got := DropReason(media.CodecH264); got != "" {
		t.Errorf("DropReason(H.264) = %q, want none", got)
	}
}
