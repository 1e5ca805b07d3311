package mp4_test

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

func aacTrack(t testing.TB) *media.Track {
	t.Helper()
	tr, err := media.NewAACTrack([]byte{0x12, 0x10}) // AAC-LC, 44100 Hz, stereo
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func newFile(t testing.TB) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "out.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestTracks(t *testing.T) {
	video, _ := flvFrames(t, "h264_only.flv")
	// An AV1 track without its sequence header has no sample entry.
	opus := &media.Track{Codec: media.CodecAV1}
	noSPS := &media.Track{Codec: media.CodecH264}
	noRate := &media.Track{Codec: media.CodecG711A, Channels: 1}
	if _, err := mp4.NewWriter(newFile(t), []*media.Track{opus, noSPS, noRate}, mp4.Options{}); !errors.Is(err, mp4.ErrNoTracks) {
		t.Fatalf("NewWriter(av1 without sequence header, h264 without SPS, g711 without rate) = %v, want ErrNoTracks", err)
	}

	aac := aacTrack(t)
	f := newFile(t)
	w, err := mp4.NewWriter(f, []*media.Track{opus, video[0], aac}, mp4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Tracks(); len(got) != 2 || got[0] != video[0] || got[1] != aac {
		t.Errorf("Tracks() = %v", got)
	}
	if got := w.Skipped(); len(got) != 1 || got[0] != opus {
		t.Errorf("Skipped() = %v", got)
	}
	// Frames of a skipped track are ignored.
	if err := w.WriteFrame(&media.Frame{Track: opus, Key: true, Payload: []byte{1, 2}}); err != nil {
		t.Errorf("skipped track: %v", err)
	}
	// A track with another configuration is refused; the same one is not.
	other, err := media.NewAACTrack([]byte{0x11, 0x90}) // 48000 Hz stereo
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(&media.Frame{Track: other, Key: true, Payload: []byte{1}}); !errors.Is(err, mp4.ErrUnknownTrack) {
		t.Errorf("other track: %v, want ErrUnknownTrack", err)
	}
	if err := w.WriteFrame(&media.Frame{Payload: []byte{1}}); err == nil {
		t.Error("frame without a track accepted")
	}
	same := aacTrack(t)
	if err := w.WriteFrame(&media.Frame{Track: same, Key: true, Payload: []byte{1, 2, 3}}); err != nil {
		t.Errorf("track with the same configuration: %v", err)
	}
	if w.Frames() != 1 {
		t.Errorf("Frames() = %d, want 1", w.Frames())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.WriteFrame(&media.Frame{Track: aac, Payload: []byte{1}}); !errors.Is(err, mp4.ErrClosed) {
		t.Errorf("WriteFrame after Close: %v, want ErrClosed", err)
	}
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != w.Bytes() {
		t.Errorf("file offset after Close %d (%v), want %d", off, err, w.Bytes())
	}
	// The video track got no frame: an empty trak.
	moov := parseTree(t, readBox(t, f.Name(), topBoxes(t, f.Name())[len(topBoxes(t, f.Name()))-1]))
	traks := moov.all("trak")
	if len(traks) != 2 {
		t.Fatalf("%d traks", len(traks))
	}
	if v, a := readTrak(t, traks[0]), readTrak(t, traks[1]); len(v.samples) != 0 || len(a.samples) != 1 || a.mdhdDur != 1024 {
		t.Errorf("video %d samples, audio %d samples lasting %d", len(v.samples), len(a.samples), a.mdhdDur)
	}
}

// TestTimestamps covers leading non-keyframes, a DTS that repeats or goes
// back, a track that starts before the first frame, and a single frame.
func TestTimestamps(t *testing.T) {
	tracks, clip := flvFrames(t, "h264_only.flv")
	video := tracks[0]
	aac := aacTrack(t)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	frames := []*media.Frame{
		{Track: video, DTS: ms(1000), PTS: ms(1000), Payload: clip[1].Payload}, // before a keyframe: dropped
		{Track: aac, DTS: ms(1010), PTS: ms(1010), Key: true, Payload: []byte{1}},
		{Track: video, DTS: ms(1000), PTS: ms(1040), Key: true, Payload: clip[0].Payload}, // before the origin
		{Track: aac, DTS: ms(1033), PTS: ms(1033), Key: true, Payload: []byte{2}},
		{Track: video, DTS: ms(1040), PTS: ms(1040), Payload: clip[1].Payload},
		{Track: aac, DTS: ms(1033), PTS: ms(1033), Key: true, Payload: []byte{3}}, // repeats
		{Track: video, DTS: ms(1030), PTS: ms(1030), Payload: clip[2].Payload},    // goes back
		{Track: aac, DTS: ms(1079), PTS: ms(1079), Key: true, Payload: []byte{4}},
	}
	f := newFile(t)
	w, err := mp4.NewWriter(f, []*media.Track{video, aac}, mp4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		if err := w.WriteFrame(fr); err != nil {
			t.Fatal(err)
		}
	}
	if w.Dropped() != 1 || w.Frames() != 7 || w.FirstDTS() != ms(1010) || w.LastDTS() != ms(1079) {
		t.Errorf("Dropped %d Frames %d FirstDTS %v LastDTS %v", w.Dropped(), w.Frames(), w.FirstDTS(), w.LastDTS())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	boxes := topBoxes(t, f.Name())
	moov := parseTree(t, readBox(t, f.Name(), boxes[len(boxes)-1]))
	traks := moov.all("trak")
	v, a := readTrak(t, traks[0]), readTrak(t, traks[1])
	// Video starts at the file's zero (shifted by 10 ms), decode times
	// keep increasing, the composition offset survives.
	if v.empty != 0 || len(v.samples) != 3 || v.samples[0].dts != 0 || v.samples[0].cts != 3600 ||
		v.samples[1].dts != 90*40 || v.samples[2].dts != 90*40+1 || !v.hasCtts {
		t.Errorf("video %+v", v)
	}
	if a.empty != 0 || len(a.samples) != 4 {
		t.Fatalf("audio %+v", a)
	}
	for i := 1; i < len(a.samples); i++ {
		if a.samples[i].dts <= a.samples[i-1].dts {
			t.Errorf("audio sample %d: dts %d after %d", i, a.samples[i].dts, a.samples[i-1].dts)
		}
	}
	// The last sample lasts as long as the one before.
	if last, prev := a.mdhdDur-a.samples[3].dts, a.samples[3].dts-a.samples[2].dts; last != prev {
		t.Errorf("audio: last sample %d, the one before %d", last, prev)
	}
}

// TestLongRecording writes a track whose duration overflows 32 bits in
// its 90 kHz timescale (over 13 h): mdhd must be version 1.
func TestLongRecording(t *testing.T) {
	tracks, clip := flvFrames(t, "h264_only.flv")
	var frames []*media.Frame
	for i := range 15 {
		ts := time.Duration(i) * time.Hour
		frames = append(frames, &media.Frame{Track: tracks[0], DTS: ts, PTS: ts, Key: true, Payload: clip[0].Payload})
	}
	path, w := record(t, tracks[:1], frames, mp4.Options{}, true)
	info := checkFinal(t, path, tracks[:1], frames)
	if v := info["vide"]; v.mdhdDur != 15*3600*90000 || v.tkhdDur != 15*3600*1000 {
		t.Errorf("mdhd duration %d, tkhd %d", v.mdhdDur, v.tkhdDur)
	}
	boxes := topBoxes(t, path)
	moov := parseTree(t, readBox(t, path, boxes[len(boxes)-1]))
	if v, _ := fullPayload(moov.one(t, "trak", "mdia", "mdhd")); v != 1 {
		t.Errorf("mdhd version %d, want 1", v)
	}
	if w.Duration() != 15*time.Hour {
		t.Errorf("Duration() = %v", w.Duration())
	}
	testutil.RequireFFmpeg(t)
	p, err := testutil.FFprobe(context.Background(), t, path)
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Video(); v == nil || v.NbReadFrames != 15 || math.Abs(p.Format.Duration-15*3600) > 1 {
		t.Errorf("ffprobe: %+v, duration %v", p.Streams, p.Format.Duration)
	}
}

// failFile fails every WriteAt after the first ok ones.
type failFile struct {
	io.WriteSeeker
	ok int
}

var errDisk = errors.New("disk full")

func (f *failFile) WriteAt(p []byte, off int64) (int, error) {
	if f.ok == 0 {
		return 0, errDisk
	}
	f.ok--
	return len(p), nil
}

func (f *failFile) Seek(int64, int) (int64, error) { return 0, nil }

func TestWriteErrors(t *testing.T) {
	tracks, frames := flvFrames(t, "h264_aac.flv")
	if _, err := mp4.NewWriter(&failFile{}, tracks, mp4.Options{}); !errors.Is(err, errDisk) {
		t.Fatalf("NewWriter: %v", err)
	}
	w, err := mp4.NewWriter(&failFile{ok: 1}, tracks, mp4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var first error
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			first = err
			break
		}
	}
	if !errors.Is(first, errDisk) {
		t.Fatalf("WriteFrame: %v, want the write error", first)
	}
	if err := w.WriteFrame(frames[len(frames)-1]); err != first {
		t.Errorf("WriteFrame after the error: %v", err)
	}
	if err := w.Close(); err != first {
		t.Errorf("Close after the error: %v", err)
	}

	// A failure in Close (appending the moov: after the first moov, five
	// fragments while writing and the last one, of three writes each).
	w, err = mp4.NewWriter(&failFile{ok: 1 + 3*5 + 3}, tracks, mp4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close: %v, want the write error", err)
	}
}

// TestAbort leaves the fragments written so far.
func TestAbort(t *testing.T) {
	tracks, frames := flvFrames(t, "h264_aac.flv")
	path, w := record(t, tracks, frames, mp4.Options{}, false)
	before := fileSize(t, path)
	w.Abort()
	if err := w.Close(); !errors.Is(err, mp4.ErrClosed) {
		t.Errorf("Close after Abort: %v", err)
	}
	if err := w.WriteFrame(frames[0]); !errors.Is(err, mp4.ErrClosed) {
		t.Errorf("WriteFrame after Abort: %v", err)
	}
	if fileSize(t, path) != before || layout(t, path) != "ftyp moov [moof mdat]..." {
		t.Errorf("layout %q", layout(t, path))
	}
}

func TestCreationTime(t *testing.T) {
	tracks, frames := flvFrames(t, "aac_only.flv")
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	path, _ := record(t, tracks, frames, mp4.Options{CreationTime: when}, true)
	boxes := topBoxes(t, path)
	moov := parseTree(t, readBox(t, path, boxes[len(boxes)-1]))
	_, p := fullPayload(moov.one(t, "mvhd"))
	if got := int64(u32(p)) - 2082844800; got != when.Unix() {
		t.Errorf("creation time %v, want %v", time.Unix(got, 0).UTC(), when)
	}
}
