package rtpserver

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	mcmpegts "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mpegts"
	"github.com/mediakit/mediakit/pkg/media"
)

// frameSink records the frames of a pipeline.
type frameSink struct {
	mu     sync.Mutex
	frames []*media.Frame
}

func (s *frameSink) SetTracks([]*media.Track) error { return nil }
func (s *frameSink) SetMetadata(media.Metadata)     {}
func (s *frameSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, f)
	return nil
}

// TestTSClockWrap: MPEG-TS over RTP whose 33-bit PTS and DTS wrap keeps
// its timestamps increasing past 2^33 ticks (26.5 hours) instead of
// jumping back to zero; a stream of a codec mediakit does not carry is
// dropped with one warning naming it.
func TestTSClockWrap(t *testing.T) {
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	const wrap = 1 << 33
	var buf bytes.Buffer
	tracks := []*mcmpegts.Track{
		{Codec: &tscodecs.H264{}},
		{Codec: &tscodecs.MPEG4Audio{Config: mpeg4audio.Config{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}}},
		{Codec: &tscodecs.MPEG1Audio{}},
	}
	w := &mcmpegts.Writer{W: &buf, Tracks: tracks}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	mp3 := append([]byte{0xff, 0xfb, 0x90, 0x64}, make([]byte, 413)...)
	start := int64(wrap - 2*90000) // the clock wraps 2 s in
	for i, au := range aus {
		dts := start + int64(i)*3600
		if err := w.WriteH264(tracks[0], (dts+7200)%wrap, dts%wrap, au); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMPEG4Audio(tracks[1], (start+int64(i)*1920)%wrap, [][]byte{{0x21, byte(i)}}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMPEG1Audio(tracks[2], dts%wrap, [][]byte{mp3}); err != nil {
			t.Fatal(err)
		}
	}

	var log testutil.SyncBuffer
	sink := &frameSink{}
	p := newMediaPipeline(PipelineOptions{Sink: sink, Payload: "ts", Log: slog.New(slog.NewTextHandler(&log, nil))})
	ts := buf.Bytes()
	for i, seq := 0, uint16(0); i < len(ts); i, seq = i+7*188, seq+1 {
		p.Packet(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 33, SequenceNumber: seq, Timestamp: uint32(i)},
			Payload: ts[i:min(i+7*188, len(ts))]}, 0)
	}
	p.Close()

	var video, audio []*media.Frame
	for _, f := range sink.frames {
		if f.Track.Kind() == media.KindVideo {
			video = append(video, f)
		} else {
			audio = append(audio, f)
		}
	}
	if len(video) != len(aus) || len(audio) != len(aus) {
		t.Fatalf("%d video and %d audio frames, want %d each", len(video), len(audio), len(aus))
	}
	for i, f := range video {
		if want := mpegts.Ticks(start + int64(i)*3600); f.DTS != want || f.PTS != want+80*time.Millisecond {
			t.Fatalf("video frame %d: DTS %v PTS %v, want DTS %v, PTS 80 ms later", i, f.DTS, f.PTS, want)
		}
	}
	for i, f := range audio {
		if i > 0 && f.DTS <= audio[i-1].DTS {
			t.Fatalf("audio frame %d: DTS %v after %v", i, f.DTS, audio[i-1].DTS)
		}
	}
	if last := video[len(video)-1].DTS; last <= mpegts.Ticks(wrap) {
		t.Errorf("last DTS %v, want past the wrap at %v", last, mpegts.Ticks(wrap))
	}
	if kind, codecs := p.Describe(); kind != "ts" || !slices.Equal(codecs, []string{"aac", "h264"}) {
		t.Errorf("Describe: %q %v, want ts [aac h264]", kind, codecs)
	}
	if n := strings.Count(log.String(), "level=WARN"); n != 1 || !strings.Contains(log.String(), "codec=mpeg1audio") {
		t.Errorf("%d warnings, want one naming mpeg1audio:\n%s", n, log.String())
	}
}
