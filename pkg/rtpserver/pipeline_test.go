package rtpserver

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
)

// mediaFixture is a registry with the real media pipeline.
// mediaFixture is a fixture with the real pipelines, its UDP reads paced
// as by default, so that streams whose pipeline writes inside Packet
// defer their players' wake-ups to the read's flush, and MPEG-TS, which
// writes from a goroutine of its own, does not (the race detector would
// see a TS stream deferred).
func mediaFixture(t *testing.T) *fixture {
	f := newFixture(t, 5*time.Second)
	f.reg.NewPipeline = nil
	cfg := *f.cfg.Load()
	cfg.MergeRead = 30 * time.Millisecond
	f.cfg.Store(&cfg)
	return f
}

func clipFrames(t *testing.T, name string, hevc bool, fps int) []gbsender.Frame {
	t.Helper()
	raw, err := os.ReadFile(testutil.Clip(t, name))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := gbsender.VideoFrames(raw, hevc, fps)
	if err != nil {
		t.Fatal(err)
	}
	return fr
}

// play attaches a reader before anything is sent, so it gets every frame.
func play(t *testing.T, f *fixture, stream string) <-chan []*media.Frame {
	t.Helper()
	out := make(chan []*media.Frame, 1)
	go func() {
		var got []*media.Frame
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := f.eng.Play(ctx, engine.NewKey("", "rtp", stream), engine.SessionInfo{ID: "test-player"})
		if err != nil {
			out <- nil
			return
		}
		defer r.Close()
		buf := make([]*media.Frame, 0, 64)
		for {
			frames, err := r.Next(buf[:0])
			got = append(got, frames...)
			if err != nil {
				out <- got
				return
			}
		}
	}()
	return out
}

func count(frames []*media.Frame) (video, audio, keys int, codecs map[media.Codec]bool) {
	codecs = map[media.Codec]bool{}
	for _, fr := range frames {
		codecs[fr.Track.Codec] = true
		if fr.Track.Kind() == media.KindVideo {
			video++
			if fr.Key {
				keys++
			}
		} else {
			audio++
		}
	}
	return
}

func TestPSOverRTP(t *testing.T) {
	for _, c := range []struct {
		name     string
		network  string
		clip     string
		hevc     bool
		frames   int
		videoTyp ps.StreamType
		audio    ps.StreamType
		codec    media.Codec
		omitPSM  bool
	}{
		{"h264+pcma over udp", "udp", "h264.h264", false, 150, ps.StreamH264, ps.StreamG711A, media.CodecH264, false},
		{"h264+pcmu over tcp", "tcp", "h264.h264", false, 150, ps.StreamH264, ps.StreamG711U, media.CodecH264, false},
		{"h265 without a PSM", "udp", "h265.hevc", true, 100, ps.StreamH265, 0, media.CodecH265, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := mediaFixture(t)
			mode := TCPNone
			if c.network == "tcp" {
				mode = TCPPassive
			}
			port, err := f.reg.Open(context.Background(), Options{StreamID: "ps", TCPMode: mode})
			if err != nil {
				t.Fatal(err)
			}
			got := play(t, f, "ps")
			waitFor(t, 5*time.Second, "player waiting", func() bool { return f.eng.Stats().WaitingReaders.Load() == 1 })
			frames := clipFrames(t, c.clip, c.hevc, 25)
			if c.audio != 0 {
				frames = gbsender.Interleave(frames, gbsender.G711Frames(6, c.audio == ps.StreamG711A))
			}
			s, err := gbsender.Dial(gbsender.Options{Network: c.network, Addr: "127.0.0.1:" + itoa(port), SSRC: 0x1234,
				VideoType: c.videoTyp, AudioType: c.audio, OmitPSM: c.omitPSM, Speed: 8})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Send(context.Background(), frames); err != nil {
				t.Fatal(err)
			}
			key := engine.NewKey("", "rtp", "ps")
			waitFor(t, 10*time.Second, "every packet received", func() bool {
				st, ok := f.reg.Stream(key)
				return ok && int(st.Stats.Packets) == s.Stats().Packets
			})
			st, _ := f.reg.Stream(key)
			f.reg.Close(key) // flushes the last frame; the player gets end of stream
			var all []*media.Frame
			select {
			case all = <-got:
			case <-time.After(30 * time.Second):
				t.Fatal("player did not end")
			}
			video, audio, keys, codecs := count(all)
			if video != c.frames || keys != c.frames/25 {
				t.Errorf("video frames %d (keys %d), want %d (%d)", video, keys, c.frames, c.frames/25)
			}
			if !codecs[c.codec] {
				t.Errorf("codecs %v lack %v", codecs, c.codec)
			}
			if c.audio != 0 && audio < 290 {
				t.Errorf("audio frames %d, want about 300", audio)
			}
			if st.Payload != "ps" {
				t.Errorf("payload %q, want ps", st.Payload)
			}
		})
	}
}

// 5% loss: the stream stays up, video resumes at keyframes (every frame
// players get decodes: the first after a gap is a keyframe).
func TestPSLossAndReorder(t *testing.T) {
	f := mediaFixture(t)
	port, err := f.reg.Open(context.Background(), Options{StreamID: "lossy"})
	if err != nil {
		t.Fatal(err)
	}
	got := play(t, f, "lossy")
	waitFor(t, 5*time.Second, "player waiting", func() bool { return f.eng.Stats().WaitingReaders.Load() == 1 })
	frames := clipFrames(t, "h264.h264", false, 25)
	frames = append(frames, shift(clipFrames(t, "h264.h264", false, 25), 6*90000)...)
	s, err := gbsender.Dial(gbsender.Options{Addr: "127.0.0.1:" + itoa(port), SSRC: 9, VideoType: ps.StreamH264, Loss: 0.05, Reorder: 0.05, Seed: 3, Speed: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(context.Background(), frames); err != nil {
		t.Fatal(err)
	}
	key := engine.NewKey("", "rtp", "lossy")
	waitFor(t, 10*time.Second, "every packet sent received", func() bool {
		st, ok := f.reg.Stream(key)
		return ok && int(st.Stats.Packets) == s.Stats().Packets
	})
	st, _ := f.reg.Stream(key)
	if int(st.Stats.Lost) != s.Stats().Dropped || st.Stats.Reordered == 0 {
		t.Errorf("stats %+v: want loss and reordering counted", st.Stats)
	}
	f.reg.Close(key)
	all := <-got
	video, _, _, _ := count(all)
	if video < 100 || video >= 300 {
		t.Errorf("video frames %d of 300 sent with 5%% loss", video)
	}
	// After every gap in the frame sequence, the next frame is a key.
	var last time.Duration = -1
	for _, fr := range all {
		if fr.Track.Kind() != media.KindVideo {
			continue
		}
		if last >= 0 && fr.DTS-last > 50*time.Millisecond && !fr.Key {
			t.Fatalf("frame at %v follows a gap from %v and is not a keyframe", fr.DTS, last)
		}
		last = fr.DTS
	}
}

func shift(frames []gbsender.Frame, by int64) []gbsender.Frame {
	for i := range frames {
		frames[i].PTS += by
	}
	return frames
}

func TestRawH264OverRTP(t *testing.T) {
	f := mediaFixture(t)
	port, err := f.reg.Open(context.Background(), Options{StreamID: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	got := play(t, f, "raw")
	waitFor(t, 5*time.Second, "player waiting", func() bool { return f.eng.Stats().WaitingReaders.Load() == 1 })
	s, err := gbsender.Dial(gbsender.Options{Addr: "127.0.0.1:" + itoa(port), SSRC: 5, PayloadType: 98, VideoType: ps.StreamH264, Raw: true, H264Payloader: true, Speed: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(context.Background(), clipFrames(t, "h264.h264", false, 25)); err != nil {
		t.Fatal(err)
	}
	key := engine.NewKey("", "rtp", "raw")
	waitFor(t, 10*time.Second, "packets", func() bool {
		st, ok := f.reg.Stream(key)
		return ok && int(st.Stats.Packets) == s.Stats().Packets
	})
	st, _ := f.reg.Stream(key)
	f.reg.Close(key)
	video, _, keys, _ := count(<-got)
	if video != 150 || keys != 6 || st.Payload != "h264" {
		t.Errorf("video %d keys %d payload %q; want 150, 6, h264", video, keys, st.Payload)
	}
}

func TestTSOverRTP(t *testing.T) {
	testutil.RequireFFmpeg(t)
	ts := t.TempDir() + "/clip.ts"
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy", "-f", "mpegts", ts).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	data, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	f := mediaFixture(t)
	port, err := f.reg.Open(context.Background(), Options{StreamID: "ts"})
	if err != nil {
		t.Fatal(err)
	}
	got := play(t, f, "ts")
	waitFor(t, 5*time.Second, "player waiting", func() bool { return f.eng.Stats().WaitingReaders.Load() == 1 })
	s, err := gbsender.Dial(gbsender.Options{Addr: "127.0.0.1:" + itoa(port), SSRC: 77, PayloadType: 33, Raw: true, Speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Seven TS packets per RTP packet, as RFC 2250 senders do.
	var frames []gbsender.Frame
	for i := 0; i < len(data); i += 7 * 188 {
		end := min(i+7*188, len(data))
		frames = append(frames, gbsender.Frame{Video: true, PTS: int64(i/188) * 90, Data: data[i:end]})
	}
	if err := s.Send(context.Background(), frames); err != nil {
		t.Fatal(err)
	}
	key := engine.NewKey("", "rtp", "ts")
	waitFor(t, 10*time.Second, "packets", func() bool {
		st, ok := f.reg.Stream(key)
		return ok && int(st.Stats.Packets) == s.Stats().Packets
	})
	st, _ := f.reg.Stream(key)
	f.reg.Close(key)
	video, audio, _, codecs := count(<-got)
	// h264_aac.flv: 150 video, 260 audio frames; the last frames may
	// stay in the TS reader when the stream stops.
	if video < 145 || audio < 250 || !codecs[media.CodecH264] || !codecs[media.CodecAAC] || st.Payload != "ts" {
		t.Errorf("video %d audio %d codecs %v payload %q", video, audio, codecs, st.Payload)
	}
}

func itoa(n int) string { return fmtInt(n) }

// AAC in ADTS frames inside RTP, as some devices send it, plays: the
// frames carry their configuration.
func TestADTSOverRTP(t *testing.T) {
	testutil.RequireFFmpeg(t)
	aac := t.TempDir() + "/a.aac"
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", testutil.Clip(t, "h264_aac.flv"), "-vn", "-c:a", "copy", "-f", "adts", aac).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	data, err := os.ReadFile(aac)
	if err != nil {
		t.Fatal(err)
	}
	var frames []gbsender.Frame
	for i, n := 0, 0; i+7 <= len(data); i += n {
		n = int(data[i+3]&3)<<11 | int(data[i+4])<<3 | int(data[i+5]>>5)
		if n < 7 || i+n > len(data) {
			break
		}
		frames = append(frames, gbsender.Frame{Key: true, PTS: int64(len(frames)) * 1024, Data: data[i : i+n]})
	}
	f := mediaFixture(t)
	port, err := f.reg.Open(context.Background(), Options{StreamID: "adts", Payload: "aac"})
	if err != nil {
		t.Fatal(err)
	}
	got := play(t, f, "adts")
	waitFor(t, 5*time.Second, "player waiting", func() bool { return f.eng.Stats().WaitingReaders.Load() == 1 })
	s, err := gbsender.Dial(gbsender.Options{Addr: "127.0.0.1:" + itoa(port), SSRC: 3, PayloadType: 97, Raw: true, Speed: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The sender's clock is 90 kHz-based; an AAC RTP clock is the sample
	// rate: scale so each frame is 1024 ticks of 44.1 kHz apart.
	for i := range frames {
		frames[i].PTS = frames[i].PTS * 90000 / 44100
	}
	if err := s.Send(context.Background(), frames); err != nil {
		t.Fatal(err)
	}
	key := engine.NewKey("", "rtp", "adts")
	waitFor(t, 10*time.Second, "packets", func() bool {
		st, ok := f.reg.Stream(key)
		return ok && int(st.Stats.Packets) == s.Stats().Packets
	})
	f.reg.Close(key)
	_, audio, _, codecs := count(<-got)
	if audio < 250 || !codecs[media.CodecAAC] {
		t.Errorf("audio frames %d, codecs %v; want the clip's 260 AAC frames", audio, codecs)
	}
}
