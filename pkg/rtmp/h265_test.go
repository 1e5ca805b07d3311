package rtmp

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// h265Publisher is a gortmplib client that has announced one H.265 track.
type h265Publisher struct {
	client *gortmplib.Client
	writer *gortmplib.Writer
	track  *gortmplib.Track
}

// TestH265EnhancedRTMP publishes the H.265 clip over Enhanced RTMP with the
// gortmplib client and plays it back with the gortmplib reader: the player
// joins before the publisher and must get every access unit, unchanged,
// with the parameter sets of the clip.
func TestH265EnhancedRTMP(t *testing.T) {
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	if len(aus) != 100 {
		t.Fatalf("h265.hevc: %d access units, want 100", len(aus))
	}
	ps := parameterSets(aus, h265Type, int(h265.NALUType_VPS_NUT), int(h265.NALUType_SPS_NUT), int(h265.NALUType_PPS_NUT))

	t.Run("gortmplib writer", func(t *testing.T) {
		// gortmplib writes every Enhanced RTMP coded frame with frame
		// type 0 (neither key nor inter frame); the IDR pictures are only
		// visible in the NAL units.
		if !flvFindsKeyframesInFramesX(t, ps, aus[0]) {
			t.Fatal("pkg/format/flv took the keyframe flag only from the Enhanced RTMP frame type, which " +
				"gortmplib (and so MediaMTX) leaves 0: no frame is a keyframe and a player that joins " +
				"before the publisher never starts. flv must derive Key from the NAL unit types when " +
				"the frame type is not 1.")
		}
		runH265(t, aus, ps, func(p *h265Publisher, dts time.Duration, au [][]byte) error {
			return p.writer.WriteH265(p.track, dts, dts, au)
		})
	})

	t.Run("keyframes flagged", func(t *testing.T) {
		// The same session, with the coded frames written here so that
		// IDR pictures carry frame type 1 as OBS and FFmpeg 6+ send them.
		runH265(t, aus, ps, func(p *h265Publisher, dts time.Duration, au [][]byte) error {
			avcc, err := h264.AVCC(au).Marshal()
			if err != nil {
				return err
			}
			frameType := byte(2)
			if h265.IsRandomAccess(au) {
				frameType = 1
			}
			body := append([]byte{0x80 | frameType<<4 | 1, 'h', 'v', 'c', '1', 0, 0, 0}, avcc...)
			// the gortmplib client announced a chunk size of 65536
			_, err = p.client.NetConn().Write(AppendMessage(nil, 7, MsgVideo, 1, dts, body, 65536))
			return err
		})
	})
}

func runH265(t *testing.T, aus [][][]byte, ps [][]byte, send func(p *h265Publisher, dts time.Duration, au [][]byte) error) {
	ts := startServer(t, engine.DefaultConfig(), nil)
	u := ts.url(t, "live", "hevc")
	key := engine.NewKey("", "live", "hevc")

	pl := startPlayer(t, u)
	waitFor(t, 5*time.Second, "the player to wait for the stream", func() bool {
		info, _, err := ts.eng.Stream(context.Background(), key)
		return err == nil && info.Waiting == 1
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := &h265Publisher{client: &gortmplib.Client{URL: u, Publish: true}}
	if err := p.client.Initialize(ctx); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	t.Cleanup(p.client.Close)
	p.track = &gortmplib.Track{Codec: &codecs.H265{VPS: ps[0], SPS: ps[1], PPS: ps[2]}}
	p.writer = &gortmplib.Writer{Conn: p.client, Tracks: []*gortmplib.Track{p.track}}
	if err := p.writer.Initialize(); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	for i, au := range aus {
		if err := send(p, time.Duration(i)*40*time.Millisecond, au); err != nil {
			t.Fatalf("publisher: access unit %d: %v", i, err)
		}
	}
	// A marker after the clip: the stream is in order, so once the
	// player has it, it has had everything the clip made arrive, extra
	// access units included, without waiting for them to show up.
	markerDTS := time.Duration(len(aus)) * 40 * time.Millisecond
	if err := send(p, markerDTS, aus[0]); err != nil {
		t.Fatalf("publisher: the marker: %v", err)
	}

	testutil.Eventually(t, 20*time.Second, "the player to receive the clip and the marker", func() bool {
		return pl.count.Load() > int64(len(aus)) || pl.Err() != nil
	})
	if err := pl.Err(); err != nil {
		t.Fatalf("player: %v", err)
	}

	pl.mu.Lock()
	tracks, received := pl.tracks, pl.received
	pl.mu.Unlock()
	if i := slices.IndexFunc(received, func(r receivedAU) bool { return r.dts == markerDTS }); i != len(aus) {
		t.Fatalf("the marker is access unit %d of %d received, want %d: the player received %d access units, "+
			"the publisher sent %d", i, len(received), len(aus), i, len(aus))
	}
	received = received[:len(aus)]
	if len(tracks) != 1 {
		t.Fatalf("player found %d tracks, want 1", len(tracks))
	}
	codec, ok := tracks[0].Codec.(*codecs.H265)
	if !ok {
		t.Fatalf("player track is %T, want H.265", tracks[0].Codec)
	}
	for i, name := range []string{"VPS", "SPS", "PPS"} {
		got := [][]byte{codec.VPS, codec.SPS, codec.PPS}[i]
		if !bytes.Equal(got, ps[i]) {
			t.Errorf("%s %x, want %x", name, got, ps[i])
		}
	}
	var sps h265.SPS
	if err := sps.Unmarshal(codec.SPS); err != nil {
		t.Fatalf("SPS: %v", err)
	}
	if sps.Width() != 320 || sps.Height() != 240 {
		t.Errorf("%dx%d, want 320x240", sps.Width(), sps.Height())
	}

	for i, r := range received {
		if want := time.Duration(i) * 40 * time.Millisecond; r.dts != want || r.pts != want {
			t.Errorf("access unit %d: PTS %v DTS %v, want %v", i, r.pts, r.dts, want)
		}
		if len(r.au) != len(aus[i]) {
			t.Errorf("access unit %d: %d NAL units, sent %d", i, len(r.au), len(aus[i]))
			continue
		}
		for j := range r.au {
			if !bytes.Equal(r.au[j], aus[i][j]) {
				t.Errorf("access unit %d: NAL unit %d differs", i, j)
			}
		}
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, what, cond)
}

// frameSink records what an flv.Ingest produces.
type frameSink struct{ frames []*media.Frame }

func (s *frameSink) SetTracks([]*media.Track) error  { return nil }
func (s *frameSink) SetMetadata(media.Metadata)      {}
func (s *frameSink) WriteFrame(f *media.Frame) error { s.frames = append(s.frames, f); return nil }
func flvFindsKeyframesInFramesX(t *testing.T, ps [][]byte, idr [][]byte) bool {
	t.Helper()
	track, err := media.NewH265Track(ps[0], ps[1], ps[2])
	if err != nil {
		t.Fatal(err)
	}
	avcc, err := h264.AVCC(idr).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sink := &frameSink{}
	in := flv.NewIngest(sink)
	if err := in.Video(0, flv.VideoSequenceHeaderBody(track)); err != nil {
		t.Fatal(err)
	}
	// a FramesX body as gortmplib's VideoExFramesX marshals it
	if err := in.Video(0, append([]byte{0x80 | 3, 'h', 'v', 'c', '1'}, avcc...)); err != nil {
		t.Fatal(err)
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	return len(sink.frames) == 1 && sink.frames[0].Key
}
