package hls

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

const (
	pmtPID        = 0x1000
	streamIDVideo = 0xe0
	streamIDAudio = 0xc0
)

// checkSegmentStart checks that a segment can be decoded on its own: it
// starts with PAT and PMT (and holds no other copy of them), and with video
// its first PES is a random-access video PES carrying a PCR.
func checkSegmentStart(t testing.TB, seg *Segment, video bool) []tsPacket {
	t.Helper()
	pkts := parseTS(t, seg.Data)
	if len(pkts) < 3 || pkts[0].pid != 0 || pkts[1].pid != pmtPID {
		t.Fatalf("segment %d does not start with PAT and PMT", seg.Seq)
	}
	tables := 0
	for _, p := range pkts {
		if p.pid == 0 || p.pid == pmtPID {
			tables++
		}
	}
	if tables != 2 {
		t.Errorf("segment %d: %d table packets, want one PAT and one PMT", seg.Seq, tables)
	}
	first := pkts[2]
	if !first.pusi || first.pts < 0 {
		t.Fatalf("segment %d: packet after the tables is not a PES start: %+v", seg.Seq, first)
	}
	if video && (first.streamID != streamIDVideo || !first.randomAccess || !first.pcr) {
		t.Errorf("segment %d: first PES %+v, want a random-access video PES with PCR", seg.Seq, first)
	}
	return pkts
}

// checkStream checks the concatenated segments as one stream: continuity
// counters continue on every PID, DTS never goes backwards and PTS >= DTS
// per stream. It returns the number of PES packets per stream id.
func checkStream(t testing.TB, segs []*Segment) map[byte]int {
	t.Helper()
	counts := map[byte]int{}
	lastCC := map[int]uint8{}
	lastDTS := map[byte]int64{}
	for _, seg := range segs {
		for i, p := range parseTS(t, seg.Data) {
			if p.hasPayload {
				if last, ok := lastCC[p.pid]; ok && p.cc != (last+1)&0x0f {
					t.Fatalf("segment %d packet %d: PID %#x continuity counter %d after %d", seg.Seq, i, p.pid, p.cc, last)
				}
				lastCC[p.pid] = p.cc
			}
			if p.pts < 0 {
				continue
			}
			counts[p.streamID]++
			if p.pts < p.dts {
				t.Errorf("segment %d: PTS %d < DTS %d", seg.Seq, p.pts, p.dts)
			}
			if last, ok := lastDTS[p.streamID]; ok && p.dts < last {
				t.Errorf("segment %d: stream %#x DTS %d after %d", seg.Seq, p.streamID, p.dts, last)
			}
			lastDTS[p.streamID] = p.dts
		}
	}
	return counts
}

func countKinds(frames []*media.Frame) (video, audio int) {
	for _, f := range frames {
		if f.Track.Kind() == media.KindVideo {
			video++
		} else {
			audio++
		}
	}
	return video, audio
}

func TestSegmenterH264AAC(t *testing.T) {
	tracks, frames := clipFrames(t, "h264_aac.flv")
	if v, a := countKinds(frames); v != 150 || a != 260 {
		t.Fatalf("clip has %d video and %d audio frames, want 150 and 260", v, a)
	}
	segs, s := segmentAll(t, tracks, frames, 2*time.Second)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	firstKey := time.Duration(-1)
	for _, f := range frames {
		if f.Track.Kind() == media.KindVideo {
			firstKey = f.DTS
			break
		}
	}
	for i, seg := range segs {
		if seg.Seq != uint64(i) || seg.Discontinuity {
			t.Errorf("segment %d: seq %d discontinuity %v", i, seg.Seq, seg.Discontinuity)
		}
		if want := firstKey + time.Duration(i)*2*time.Second; seg.Start != want {
			t.Errorf("segment %d starts at %v, want %v", i, seg.Start, want)
		}
		if seg.Duration != 2*time.Second {
			t.Errorf("segment %d lasts %v, want 2s", i, seg.Duration)
		}
		if seg.Created.IsZero() {
			t.Errorf("segment %d: no creation time", i)
		}
		checkSegmentStart(t, seg, true)
	}
	counts := checkStream(t, segs)
	if counts[streamIDVideo] != 150 || counts[streamIDAudio] != 260 {
		t.Errorf("PES packets: %d video, %d audio, want 150 and 260", counts[streamIDVideo], counts[streamIDAudio])
	}
	if s.Dropped() != 0 {
		t.Errorf("dropped %d frames", s.Dropped())
	}
	// The first PES is stamped with the offset.
	first := parseTS(t, segs[0].Data)[2]
	if want := ticks(firstKey); first.dts != want || want != 900000+int64(firstKey/time.Millisecond)*90 {
		t.Errorf("first DTS %d, want %d", first.dts, want)
	}
}

func TestSegmenterH264AACFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	tracks, frames := clipFrames(t, "h264_aac.flv")
	segs, _ := segmentAll(t, tracks, frames, 2*time.Second)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	dir := t.TempDir()
	writeFiles(t, dir, segs, EndedPlaylist(segs, 2*time.Second, nil))
	all := filepath.Join(dir, "all.ts")
	if err := os.WriteFile(all, concat(segs), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("concatenated", func(t *testing.T) {
		t.Parallel()
		p, err := testutil.FFprobe(t.Context(), t, all)
		if err != nil {
			t.Fatal(err)
		}
		v, a := p.Video(), p.Audio()
		if v == nil || a == nil {
			t.Fatalf("streams %+v", p.Streams)
		}
		// MPEG-TS has no edit list, so the AAC priming frame is decoded
		// too: all 260 packets are 260 frames.
		if v.CodecName != "h264" || v.NbReadFrames != 150 || a.CodecName != "aac" || a.NbReadFrames != 260 {
			t.Errorf("video %s %d frames, audio %s %d frames; want h264 150, aac 260", v.CodecName, v.NbReadFrames, a.CodecName, a.NbReadFrames)
		}
		pkts, err := testutil.FramePackets(t.Context(), t, all)
		if err != nil {
			t.Fatal(err)
		}
		last := map[int]float64{}
		var video []testutil.Packet
		for i, pk := range pkts {
			if l, ok := last[pk.StreamIndex]; ok && pk.DTSTime <= l {
				t.Errorf("packet %d (%s): DTS %.3f after %.3f", i, pk.CodecType, pk.DTSTime, l)
			}
			last[pk.StreamIndex] = pk.DTSTime
			if pk.CodecType == "video" {
				video = append(video, pk)
			}
		}
		if len(video) != 150 {
			t.Fatalf("%d video packets", len(video))
		}
		for i, pk := range video {
			if i%50 == 0 && !pk.Keyframe() {
				t.Errorf("video packet %d (a segment start) is not a keyframe", i)
			}
		}
		if got := video[0].DTSTime; got < 10.0 || got > 10.1 {
			t.Errorf("first video DTS %.3f s, want 10.023 (TimestampOffset)", got)
		}
	})
	audio := 0
	for _, seg := range segs {
		name := filepath.Join(dir, SegmentURI(seg.Seq))
		t.Run(fmt.Sprintf("segment%d", seg.Seq), func(t *testing.T) {
			t.Parallel()
			p, err := testutil.FFprobe(t.Context(), t, name)
			if err != nil {
				t.Fatal(err)
			}
			v, a := p.Video(), p.Audio()
			if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" {
				t.Fatalf("streams %+v", p.Streams)
			}
			if v.NbReadFrames != 50 || v.Width != 320 || v.Height != 240 {
				t.Errorf("video %dx%d, %d frames, want 320x240, 50", v.Width, v.Height, v.NbReadFrames)
			}
			if a.NbReadFrames < 85 || a.NbReadFrames > 88 {
				t.Errorf("%d audio frames, want about 2 s", a.NbReadFrames)
			}
			pkts, err := testutil.FramePackets(t.Context(), t, name, "-select_streams", "v")
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) == 0 || !pkts[0].Keyframe() {
				t.Errorf("first video packet is not a keyframe")
			}
		})
		audio += countPES(t, seg, streamIDAudio)
	}
	if audio != 260 {
		t.Errorf("%d audio PES over the segments, want 260", audio)
	}
}

func countPES(t testing.TB, seg *Segment, streamID byte) int {
	n := 0
	for _, p := range parseTS(t, seg.Data) {
		if p.pts >= 0 && p.streamID == streamID {
			n++
		}
	}
	return n
}

func TestSegmenterBFrames(t *testing.T) {
	tracks, frames := clipFrames(t, "h264_bframes_aac.flv")
	reordered := 0
	for _, f := range frames {
		if f.PTS != f.DTS {
			reordered++
		}
	}
	if reordered == 0 {
		t.Fatal("clip has no reordered frames")
	}
	segs, _ := segmentAll(t, tracks, frames, 2*time.Second)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	for _, seg := range segs {
		checkSegmentStart(t, seg, true)
	}
	counts := checkStream(t, segs)
	if counts[streamIDVideo] != 150 || counts[streamIDAudio] != 260 {
		t.Errorf("PES packets: %d video, %d audio, want 150 and 260", counts[streamIDVideo], counts[streamIDAudio])
	}
	withDTS := 0
	for _, p := range parseTS(t, concat(segs)) {
		if p.streamID == streamIDVideo && p.pts != p.dts {
			withDTS++
		}
	}
	if withDTS != reordered {
		t.Errorf("%d video PES with PTS != DTS, want %d", withDTS, reordered)
	}
	if testing.Short() {
		return
	}
	testutil.RequireFFmpeg(t)
	p, err := testutil.FFprobe(t.Context(), t, writeTemp(t, "b.ts", concat(segs)))
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Video(); v == nil || v.NbReadFrames != 150 || v.Profile != "Main" {
		t.Errorf("video %+v, want 150 frames of Main", v)
	}
}

func TestSegmenterH265(t *testing.T) {
	track, frames := hevcFrames(t)
	if len(frames) != 100 {
		t.Fatalf("%d access units, want 100", len(frames))
	}
	segs, _ := segmentAll(t, []*media.Track{track}, frames, 2*time.Second)
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	for i, seg := range segs {
		if seg.Start != time.Duration(i)*2*time.Second || seg.Duration != 2*time.Second {
			t.Errorf("segment %d: start %v duration %v, want %v and 2s", i, seg.Start, seg.Duration, time.Duration(i)*2*time.Second)
		}
		checkSegmentStart(t, seg, true)
	}
	if counts := checkStream(t, segs); counts[streamIDVideo] != 100 {
		t.Errorf("%d video PES, want 100", counts[streamIDVideo])
	}
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	writeFiles(t, dir, segs, EndedPlaylist(segs, 2*time.Second, nil))
	for _, seg := range segs {
		name := filepath.Join(dir, SegmentURI(seg.Seq))
		t.Run(fmt.Sprintf("segment%d", seg.Seq), func(t *testing.T) {
			t.Parallel()
			p, err := testutil.FFprobe(t.Context(), t, name)
			if err != nil {
				t.Fatal(err)
			}
			v := p.Video()
			if v == nil || v.CodecName != "hevc" || v.NbReadFrames != 50 || v.Width != 320 {
				t.Errorf("video %+v, want hevc 320 wide, 50 frames", v)
			}
		})
	}
}

// TestSegmenterH265ParameterSets strips the in-band VPS/SPS/PPS: the
// segmenter must put the track's in front of every keyframe.
func TestSegmenterH265ParameterSets(t *testing.T) {
	track, frames := hevcFrames(t)
	stripped := make([]*media.Frame, len(frames))
	for i, f := range frames {
		var nalus [][]byte
		f.NALUs(func(n []byte) bool {
			if typ := (n[0] >> 1) & 0x3f; typ < 32 || typ > 34 {
				nalus = append(nalus, n)
			}
			return true
		})
		g := copyFrame(f)
		g.Payload = media.AppendAVCC(nil, nalus...)
		stripped[i] = g
	}
	segs, _ := segmentAll(t, []*media.Track{track}, stripped, 2*time.Second)
	for _, seg := range segs {
		for _, ps := range [][]byte{track.VPS, track.SPS, track.PPS} {
			if !bytes.Contains(seg.Data, append([]byte{0, 0, 0, 1}, ps...)) {
				t.Errorf("segment %d lacks parameter set %x", seg.Seq, ps[:2])
			}
		}
	}
	testutil.RequireFFmpeg(t)
	p, err := testutil.FFprobe(t.Context(), t, writeTemp(t, "seg1.ts", segs[1].Data))
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Video(); v == nil || v.NbReadFrames != 50 {
		t.Errorf("video %+v, want 50 frames", v)
	}
}

func TestSegmenterAudioOnly(t *testing.T) {
	tracks, frames := clipFrames(t, "aac_only.flv")
	if len(frames) != 174 {
		t.Fatalf("%d frames, want 174", len(frames))
	}
	segs, _ := segmentAll(t, tracks, frames, time.Second)
	if len(segs) != 4 {
		t.Fatalf("%d segments, want 4", len(segs))
	}
	for i, seg := range segs {
		pkts := checkSegmentStart(t, seg, false)
		if pkts[2].streamID != streamIDAudio {
			t.Errorf("segment %d does not start with audio", i)
		}
		last := i == len(segs)-1
		if !last && (seg.Duration < time.Second || seg.Duration > time.Second+24*time.Millisecond) {
			t.Errorf("segment %d lasts %v, want the first audio frame at or after 1s", i, seg.Duration)
		}
		if !last && segs[i+1].Start != seg.Start+seg.Duration {
			t.Errorf("segment %d: start %v + %v != next start %v", i, seg.Start, seg.Duration, segs[i+1].Start)
		}
	}
	// 174 frames of 1024 samples at 44.1 kHz = 4.04 s in all.
	var total time.Duration
	for _, seg := range segs {
		total += seg.Duration
	}
	if total < 4030*time.Millisecond || total > 4050*time.Millisecond {
		t.Errorf("total duration %v, want about 4.04s", total)
	}
	if counts := checkStream(t, segs); counts[streamIDAudio] != 174 {
		t.Errorf("%d audio PES, want 174", counts[streamIDAudio])
	}
	testutil.RequireFFmpeg(t)
	p, err := testutil.FFprobe(t.Context(), t, writeTemp(t, "a.ts", concat(segs)))
	if err != nil {
		t.Fatal(err)
	}
	if a := p.Audio(); a == nil || a.CodecName != "aac" || a.NbReadFrames != 174 || p.Video() != nil {
		t.Errorf("streams %+v, want only aac with 174 frames", p.Streams)
	}
	p, err = testutil.FFprobe(t.Context(), t, writeTemp(t, "a1.ts", segs[1].Data))
	if err != nil {
		t.Fatal(err)
	}
	if a := p.Audio(); a == nil || a.CodecName != "aac" || a.SampleRate != 44100 {
		t.Errorf("segment 1 streams %+v", p.Streams)
	}
}

// TestSegmenterVideoNeverComes: a declared video track that sends nothing
// must not stall the audio.
func TestSegmenterVideoNeverComes(t *testing.T) {
	tracks, frames := clipFrames(t, "h264_aac.flv")
	var audio []*media.Frame
	for _, f := range frames {
		if f.Track.Kind() == media.KindAudio {
			audio = append(audio, f)
		}
	}
	segs, _ := segmentAll(t, tracks, audio, 2*time.Second)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	for _, seg := range segs[:2] {
		if seg.Duration < 2*time.Second || seg.Duration > 2*time.Second+24*time.Millisecond {
			t.Errorf("segment %d lasts %v", seg.Seq, seg.Duration)
		}
	}
	if counts := checkStream(t, segs); counts[streamIDAudio] != 260 || counts[streamIDVideo] != 0 {
		t.Errorf("PES %v", counts)
	}

	// Video that stops after 1.5 s: audio goes on being segmented.
	var stalled []*media.Frame
	for _, f := range frames {
		if f.Track.Kind() == media.KindAudio || f.DTS < 1500*time.Millisecond {
			stalled = append(stalled, f)
		}
	}
	segs, _ = segmentAll(t, tracks, stalled, time.Second)
	var starts []time.Duration
	for _, seg := range segs {
		starts = append(starts, seg.Start.Round(100*time.Millisecond))
	}
	// Keyframes at 0.023 and 1.023; the last video frame is at 1.463, so
	// the stall is a target long at 2.463; then 1 s audio segments.
	if want := "[0s 1s 2.5s 3.5s 4.5s 5.5s]"; fmt.Sprint(starts) != want {
		t.Errorf("segment starts %v, want %s", starts, want)
	}
	checkSegmentStart(t, segs[0], true)
	if counts := checkStream(t, segs); counts[streamIDAudio] != 260 {
		t.Errorf("PES %v, want all 260 audio frames", counts)
	}
}

func TestSegmenterDiscontinuity(t *testing.T) {
	tracks, frames := clipFrames(t, "h264_aac.flv")
	// Publisher came back at video frame 62 (mid-GOP: frames 62-74 cannot
	// be decoded) and again at video frame 100 (a keyframe).
	var video []*media.Frame
	var marked []*media.Frame
	for _, f := range frames {
		if f.Track.Kind() == media.KindVideo {
			video = append(video, f)
		}
	}
	for _, i := range []int{62, 100} {
		g := copyFrame(video[i])
		g.Discontinuity = true
		marked = append(marked, g)
	}
	var in []*media.Frame
	for _, f := range frames {
		switch f {
		case video[62]:
			f = marked[0]
		case video[100]:
			f = marked[1]
		}
		in = append(in, f)
	}
	segs, s := segmentAll(t, tracks, in, 2*time.Second)
	type want struct {
		start, dur time.Duration
		disc       bool
	}
	wants := []want{
		{video[0].DTS, 2 * time.Second, false},
		{video[50].DTS, video[61].DTS + 40*time.Millisecond - video[50].DTS, false},
		{video[75].DTS, time.Second, true},
		{video[100].DTS, 2 * time.Second, true},
	}
	if len(segs) != len(wants) {
		t.Fatalf("%d segments, want %d", len(segs), len(wants))
	}
	for i, w := range wants {
		seg := segs[i]
		if seg.Start != w.start || seg.Duration != w.dur || seg.Discontinuity != w.disc {
			t.Errorf("segment %d: start %v duration %v discontinuity %v, want %v %v %v",
				i, seg.Start, seg.Duration, seg.Discontinuity, w.start, w.dur, w.disc)
		}
		checkSegmentStart(t, seg, true)
	}
	if s.Dropped() != 13 {
		t.Errorf("dropped %d frames, want 13 (video 62-74)", s.Dropped())
	}
	counts := checkStream(t, segs)
	if counts[streamIDVideo] != 137 || counts[streamIDAudio] != 260 {
		t.Errorf("PES: %d video, %d audio, want 137 and 260 (no audio lost)", counts[streamIDVideo], counts[streamIDAudio])
	}

	w := NewWindow(10, 0)
	for _, seg := range segs {
		if err := w.Add(seg); err != nil {
			t.Fatal(err)
		}
	}
	w.End()
	pl := w.Playlist()
	if n := bytes.Count(pl, []byte("#EXT-X-DISCONTINUITY\n")); n != 2 {
		t.Errorf("%d discontinuity tags, want 2:\n%s", n, pl)
	}
	if !bytes.Contains(pl, []byte("#EXT-X-DISCONTINUITY\n#EXTINF:1.000,\nhls-2.ts\n")) {
		t.Errorf("no discontinuity before segment 2:\n%s", pl)
	}
	p, err := ParsePlaylist(pl)
	if err != nil {
		t.Fatal(err)
	}
	for i, ps := range p.Segments {
		if ps.Discontinuity != wants[i].disc {
			t.Errorf("playlist segment %d discontinuity %v", i, ps.Discontinuity)
		}
	}

	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	playlist := writeFiles(t, dir, segs, pl)
	probe, err := testutil.FFprobe(t.Context(), t, playlist)
	if err != nil {
		t.Fatal(err)
	}
	if v, a := probe.Video(), probe.Audio(); v == nil || a == nil || v.NbReadFrames != 137 || a.NbReadFrames != 260 {
		t.Errorf("playlist streams %+v, want 137 video and 260 audio frames", probe.Streams)
	}
}

func TestSegmenterExcluded(t *testing.T) {
	tracks, frames := clipFrames(t, "h264_aac.flv")
	g711, err := media.NewG711Track(media.CodecG711A, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var segs []*Segment
	s, err := NewSegmenter([]*media.Track{tracks[0], g711}, 2*time.Second, func(seg *Segment) { segs = append(segs, seg) })
	if err != nil {
		t.Fatal(err)
	}
	var excluded []*media.Track
	s.OnDroppedTrack(func(tr *media.Track) { excluded = append(excluded, tr) })
	if len(excluded) != 1 || excluded[0] != g711 {
		t.Errorf("excluded %v, want the G.711 track", excluded)
	}
	for _, f := range frames {
		if f.Track.Kind() == media.KindAudio {
			f = &media.Frame{Track: g711, DTS: f.DTS, PTS: f.PTS, Key: true, Payload: make([]byte, 160)}
		}
		if err := s.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	s.Flush()
	if counts := checkStream(t, segs); counts[streamIDVideo] != 150 || counts[streamIDAudio] != 0 {
		t.Errorf("PES %v, want 150 video and no audio", counts)
	}

	if _, err := NewSegmenter([]*media.Track{g711}, time.Second, func(*Segment) {}); !errors.Is(err, ErrNoTracks) {
		t.Errorf("G.711 only: %v, want ErrNoTracks", err)
	}
	if _, err := NewSegmenter(tracks, 0, func(*Segment) {}); err == nil {
		t.Error("zero target accepted")
	}
	if _, err := NewSegmenter([]*media.Track{{Codec: media.CodecAAC, AACConfig: []byte{0xff}}}, time.Second, func(*Segment) {}); err == nil {
		t.Error("bad AudioSpecificConfig accepted")
	}
}

func TestSegmenterTrackChanged(t *testing.T) {
	tracks, frames := clipFrames(t, "h264_aac.flv")
	hevc, hevcFr := hevcFrames(t)
	var segs []*Segment
	s, err := NewSegmenter(tracks, time.Second, func(seg *Segment) { segs = append(segs, seg) })
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames[:60] {
		if err := s.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteFrame(hevcFr[0]); !errors.Is(err, ErrTrackChanged) {
		t.Errorf("H.265 frame into an H.264 segmenter: %v, want ErrTrackChanged", err)
	}
	_ = hevc
	newAAC, err := media.NewAACTrack([]byte{0x11, 0x88}) // 48 kHz mono
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFrame(&media.Frame{Track: newAAC, DTS: time.Second, PTS: time.Second, Key: true, Payload: []byte{1}}); !errors.Is(err, ErrTrackChanged) {
		t.Errorf("new AAC config: %v, want ErrTrackChanged", err)
	}

	// Same codec, new parameter sets: accepted, and the next keyframe
	// carries the new track's SPS.
	var key *media.Frame
	for _, f := range frames[60:] {
		if f.Track.Kind() == media.KindVideo && f.Key {
			key = f
			break
		}
	}
	old := tracks[0]
	nt := &media.Track{Codec: old.Codec, SPS: append(bytes.Clone(old.SPS), 0x80), PPS: old.PPS} // same SPS, new bytes
	g := copyFrame(key)
	g.Track = nt
	before := len(segs)
	if err := s.WriteFrame(g); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	if len(segs) != before+2 {
		t.Fatalf("%d segments, want %d", len(segs), before+2)
	}
	if !bytes.Contains(segs[len(segs)-1].Data, append([]byte{0, 0, 0, 1}, nt.SPS...)) {
		t.Error("keyframe of the new track does not carry its SPS")
	}

	// A follow-up segmenter continues the numbering.
	s2, err := NewSegmenter(tracks, time.Second, func(seg *Segment) { segs = append(segs, seg) })
	if err != nil {
		t.Fatal(err)
	}
	s2.SetNextSeq(s.NextSeq(), true)
	for _, f := range frames[:60] {
		if err := s2.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	s2.Flush()
	last := segs[before+2]
	if last.Seq != s.NextSeq() || !last.Discontinuity {
		t.Errorf("continued segment: seq %d discontinuity %v, want %d true", last.Seq, last.Discontinuity, s.NextSeq())
	}
}

// TestSegmentImmutable: segment bytes handed out must never change while
// the segmenter goes on.
func TestSegmentImmutable(t *testing.T) {
	tracks, frames := clipFrames(t, "h264_aac.flv")
	var segs []*Segment
	var copies [][]byte
	s, err := NewSegmenter(tracks, time.Second, func(seg *Segment) {
		segs = append(segs, seg)
		copies = append(copies, bytes.Clone(seg.Data))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := s.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	s.Flush()
	s.Flush() // nothing more
	if len(segs) != 6 {
		t.Fatalf("%d segments, want 6", len(segs))
	}
	for i, seg := range segs {
		if !bytes.Equal(seg.Data, copies[i]) {
			t.Errorf("segment %d changed after onSegment", i)
		}
		if cap(seg.Data) > len(seg.Data)+len(seg.Data)/4 {
			t.Errorf("segment %d pins %d bytes of capacity for %d", i, cap(seg.Data), len(seg.Data))
		}
	}
}

func copyFrame(f *media.Frame) *media.Frame {
	return &media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Discontinuity: f.Discontinuity, Payload: f.Payload}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 900000},
		{time.Millisecond, 900090},
		{time.Second / 90000, 900001},
		{time.Hour, 900000 + 3600*90000},
	} {
		if got := ticks(c.d); got != c.want {
			t.Errorf("ticks(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

// TestSegmenterDiscontinuityAudioOnly: without video the segment is cut
// right at the discontinuity, and a discontinuity on a frame of an
// excluded track still counts.
func TestSegmenterDiscontinuityAudioOnly(t *testing.T) {
	tracks, frames := clipFrames(t, "aac_only.flv")
	g711, err := media.NewG711Track(media.CodecG711U, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var in []*media.Frame
	for i, f := range frames {
		switch i {
		case 30:
			f = copyFrame(f)
			f.Discontinuity = true
		case 120: // a G.711 frame marks the return; the AAC frames go on
			in = append(in, &media.Frame{Track: g711, DTS: f.DTS, PTS: f.DTS, Key: true, Discontinuity: true, Payload: make([]byte, 160)})
		}
		in = append(in, f)
	}
	segs, _ := segmentAll(t, append(tracks, g711), in, 10*time.Second)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	wantStart := []time.Duration{frames[0].DTS, frames[30].DTS, frames[120].DTS}
	for i, seg := range segs {
		if seg.Start != wantStart[i] || seg.Discontinuity != (i > 0) {
			t.Errorf("segment %d: start %v discontinuity %v, want %v %v", i, seg.Start, seg.Discontinuity, wantStart[i], i > 0)
		}
		checkSegmentStart(t, seg, false)
	}
	if d := segs[0].Duration - (frames[30].DTS - frames[0].DTS); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("segment 0 lasts %v, want about %v", segs[0].Duration, frames[30].DTS-frames[0].DTS)
	}
	if counts := checkStream(t, segs); counts[streamIDAudio] != 174 {
		t.Errorf("%d audio PES, want 174", counts[streamIDAudio])
	}
	w := NewWindow(5, 0)
	for _, s := range segs {
		if err := w.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if n := bytes.Count(w.Playlist(), []byte("#EXT-X-DISCONTINUITY\n")); n != 2 {
		t.Errorf("%d discontinuity tags, want 2:\n%s", n, w.Playlist())
	}
}
