package httpfmp4

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

var discard = slog.New(slog.DiscardHandler)

func parseInit(t testing.TB, b []byte) fmp4.Init {
	t.Helper()
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
		t.Fatalf("init segment: %v", err)
	}
	return init
}

// The init segment describes the carried tracks, video first with ID 1,
// in their timescales, and parses back through mediacommon.
func TestInitSegment(t *testing.T) {
	video, audio := clipTracks(t)
	h265, _ := h265Clip(t)
	opus, err := media.NewOpusTrack(1)
	if err != nil {
		t.Fatal(err)
	}
	var seq atomic.Uint32
	t.Run("h264 aac", func(t *testing.T) {
		m, err := newStreamMux([]*media.Track{audio, video}, &seq, discard)
		if err != nil {
			t.Fatal(err)
		}
		init := parseInit(t, m.init)
		if len(init.Tracks) != 2 {
			t.Fatalf("%d tracks", len(init.Tracks))
		}
		v, a := init.Tracks[0], init.Tracks[1]
		h, ok := v.Codec.(*codecs.H264)
		if v.ID != 1 || v.TimeScale != 90000 || !ok || !bytes.Equal(h.SPS, video.SPS) || !bytes.Equal(h.PPS, video.PPS) {
			t.Errorf("video track %+v %+v", v, v.Codec)
		}
		aac, ok := a.Codec.(*codecs.MPEG4Audio)
		if a.ID != 2 || a.TimeScale != 44100 || !ok || aac.Config.SampleRate != 44100 || aac.Config.ChannelConfig != 2 {
			t.Errorf("audio track %+v %+v", a, a.Codec)
		}
		if !bytes.Contains(m.init, []byte("avc1")) || !bytes.Contains(m.init, []byte("mp4a")) {
			t.Error("no avc1 or mp4a sample entry")
		}
	})
	t.Run("h265 opus", func(t *testing.T) {
		m, err := newStreamMux([]*media.Track{h265, opus}, &seq, discard)
		if err != nil {
			t.Fatal(err)
		}
		init := parseInit(t, m.init)
		if len(init.Tracks) != 2 {
			t.Fatalf("%d tracks", len(init.Tracks))
		}
		h, ok := init.Tracks[0].Codec.(*codecs.H265)
		if !ok || !bytes.Equal(h.VPS, h265.VPS) || !bytes.Equal(h.SPS, h265.SPS) || !bytes.Equal(h.PPS, h265.PPS) {
			t.Errorf("video codec %+v", init.Tracks[0].Codec)
		}
		// Safari plays hvc1 (parameter sets in the sample entry), not hev1.
		if !bytes.Contains(m.init, []byte("hvc1")) || bytes.Contains(m.init, []byte("hev1")) {
			t.Error("H.265 sample entry is not hvc1")
		}
		o, ok := init.Tracks[1].Codec.(*codecs.Opus)
		if !ok || o.ChannelCount != 1 || init.Tracks[1].TimeScale != 48000 {
			t.Errorf("audio track %+v %+v", init.Tracks[1], init.Tracks[1].Codec)
		}
	})
}

// A track fMP4 cannot carry is left out with one log line per stream and
// track set, however many readers (at debug level: the warning is the
// engine's, from DropTrack); a stream of nothing else has no muxer.
func TestDroppedCodecWarnsOncePerStream(t *testing.T) {
	video, _ := clipTracks(t)
	g711, err := media.NewG711Track(media.CodecG711A, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var ms muxes
	key := engine.NewKey("", "live", "g711")
	all := []*media.Track{video, g711}
	m, release1, err := ms.acquire(key, all, log)
	if err != nil {
		t.Fatal(err)
	}
	m2, release2, err := ms.acquire(key, all, log) // a second reader: same muxer
	if err != nil {
		t.Fatal(err)
	}
	if m2 != m {
		t.Error("a second reader of the same tracks got another muxer")
	}
	if init := parseInit(t, m.init); len(init.Tracks) != 1 {
		t.Errorf("init segment has %d tracks, want the video alone", len(init.Tracks))
	}
	if _, ok, known := m.state(g711); ok || !known {
		t.Errorf("G.711 track: carried %v, known %v; want skipped quietly", ok, known)
	}
	// A returning publisher's G.711 track is another Track: still skipped.
	g711b, _ := media.NewG711Track(media.CodecG711U, 8000, 1)
	if _, ok, known := m.state(g711b); ok || !known {
		t.Errorf("another G.711 track: carried %v, known %v; want skipped quietly", ok, known)
	}
	release1()
	release2()
	if n := strings.Count(logs.String(), "dropping pcm_alaw"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if _, _, err := ms.acquire(key, []*media.Track{g711}, log); err == nil {
		t.Error("a G.711-only stream got a muxer")
	}
	if ms.shared.Len() != 0 {
		t.Errorf("%d muxers left after every reader left", ms.shared.Len())
	}
}

// playClip attaches n readers to a stream that is not published yet,
// publishes the clip, and returns what each reader's encoder wrote and
// the frames it got.
func playClip(t *testing.T, n int, publish func(e *engine.Engine, key engine.Key)) ([][]byte, [][]*media.Frame) {
	t.Helper()
	e := engine.New(testConfig(), nil)
	defer e.Close()
	key := engine.NewKey("", "live", "clip")
	var ms muxes
	out := make([][]byte, n)
	frames := make([][]*media.Frame, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.Play(context.Background(), key, engine.SessionInfo{ID: "p", Protocol: ProtocolHTTP})
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			m, release, err := ms.acquire(key, r.Tracks(), discard)
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			out[i], frames[i] = readAll(t, r, newEncoder(m, r, discard))
		}()
	}
	waitWaiting(t, e, int64(n))
	publish(e, key)
	wg.Wait()
	return out, frames
}

// Readers that wait for the stream get identical bytes: the init
// segment, then one fragment per frame from the first keyframe, every
// frame of the clip, with increasing sequence numbers, decode times that
// follow the DTS, and the payloads of the frames.
func TestClipFragments(t *testing.T) {
	out, frames := playClip(t, 2, func(e *engine.Engine, key engine.Key) {
		publishClip(t, e, key, clipName).Close()
	})
	if len(out[0]) == 0 || !bytes.Equal(out[0], out[1]) {
		t.Fatalf("readers got %d and %d bytes, want the same", len(out[0]), len(out[1]))
	}
	s := parseStream(t, out[0])
	if len(s.init.Tracks) != 2 {
		t.Fatalf("%d tracks", len(s.init.Tracks))
	}
	vBase, vs := s.samples(1)
	aBase, as := s.samples(2)
	wantAudio := clipAudioFrames - audioBeforeKeyframe(t, clipName)
	if len(vs) != clipVideoFrames || len(as) != wantAudio {
		t.Fatalf("%d video and %d audio samples, want %d and %d", len(vs), len(as), clipVideoFrames, wantAudio)
	}
	if p := s.parts[0].Tracks[0]; p.ID != 1 || p.Samples[0].IsNonSyncSample {
		t.Errorf("first fragment: track %d, non-sync %v; want a video keyframe", p.ID, p.Samples[0].IsNonSyncSample)
	}
	for i := 1; i < len(s.parts); i++ {
		if s.parts[i].SequenceNumber <= s.parts[i-1].SequenceNumber {
			t.Fatalf("fragment %d: sequence number %d after %d", i, s.parts[i].SequenceNumber, s.parts[i-1].SequenceNumber)
		}
	}
	// Video decode times are the DTS (90 kHz), and each frame lasts until
	// the next at this constant frame rate.
	var videoFrames []*media.Frame
	for _, f := range frames[0] {
		if f.Track.Kind() == media.KindVideo {
			videoFrames = append(videoFrames, f)
		}
	}
	keys := 0
	for i, smp := range vs {
		f := videoFrames[i]
		if vBase[i] != ticks(f.DTS, 90000) {
			t.Fatalf("video %d: decode time %d, want %d", i, vBase[i], ticks(f.DTS, 90000))
		}
		if i > 0 && vBase[i] != vBase[i-1]+uint64(vs[i-1].Duration) {
			t.Errorf("video %d: decode time %d, previous ends at %d", i, vBase[i], vBase[i-1]+uint64(vs[i-1].Duration))
		}
		if !bytes.Equal(smp.Payload, f.Payload) {
			t.Errorf("video %d: payload differs", i)
		}
		if !smp.IsNonSyncSample {
			keys++
		}
	}
	if keys != 6 {
		t.Errorf("%d video keyframes, want 6", keys)
	}
	// Audio fragments follow each other exactly, 1024 samples each, and
	// stay within a frame of the DTS.
	for i := range as {
		if as[i].Duration != 1024 {
			t.Fatalf("audio %d: duration %d", i, as[i].Duration)
		}
		if i > 0 && aBase[i] != aBase[i-1]+1024 {
			t.Errorf("audio %d: decode time %d, previous ends at %d", i, aBase[i], aBase[i-1]+1024)
		}
	}
	var lastAudio *media.Frame
	for _, f := range frames[0] {
		if f.Track.Kind() == media.KindAudio {
			lastAudio = f
		}
	}
	if d := absDiff(aBase[len(aBase)-1], ticks(lastAudio.DTS, 44100)); d > 1024 {
		t.Errorf("last audio decode time %d is %d samples from its DTS", aBase[len(aBase)-1], d)
	}
}

// An H.265 stream: hvc1 init segment, every frame, keyframes as sync
// samples, and no parameter sets left in band.
func TestH265Fragments(t *testing.T) {
	track, clip := h265Clip(t)
	out, _ := playClip(t, 1, func(e *engine.Engine, key engine.Key) {
		pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		if err := pub.SetTracks([]*media.Track{track}); err != nil {
			t.Fatal(err)
		}
		for _, f := range clip {
			if err := pub.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
		}
	})
	s := parseStream(t, out[0])
	if _, ok := s.init.Tracks[0].Codec.(*codecs.H265); !ok || len(s.init.Tracks) != 1 {
		t.Fatalf("init tracks %+v", s.init.Tracks)
	}
	base, vs := s.samples(1)
	if len(vs) != h265Frames {
		t.Fatalf("%d samples, want %d", len(vs), h265Frames)
	}
	keys := 0
	for i, smp := range vs {
		if base[i] != uint64(i)*3600 || smp.Duration != 3600 {
			t.Errorf("sample %d: decode time %d, duration %d; want %d, 3600", i, base[i], smp.Duration, i*3600)
		}
		if !smp.IsNonSyncSample {
			keys++
		}
		media.EachNALU(smp.Payload, func(n []byte) bool {
			if typ := (n[0] >> 1) & 0x3f; typ >= 32 && typ <= 35 {
				t.Errorf("sample %d keeps NAL unit type %d in band", i, typ)
			}
			return true
		})
	}
	if keys != 4 {
		t.Errorf("%d keyframes, want 4", keys)
	}
}

// A reader that joins a running stream starts at a keyframe, and from
// there gets the very bytes of the reader that was there from the start:
// the same decode times, on the stream's timeline.
func TestLateJoinerSharesTimeline(t *testing.T) {
	e := engine.New(testConfig(), nil)
	defer e.Close()
	key := engine.NewKey("", "live", "late")
	var ms muxes
	play := func(done chan<- []byte) *engine.Reader {
		r, err := e.Play(context.Background(), key, engine.SessionInfo{ID: "p", Protocol: ProtocolHTTP})
		if err != nil {
			t.Fatal(err)
		}
		m, release, err := ms.acquire(key, r.Tracks(), discard)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer release()
			defer r.Close()
			b, _ := readAll(t, r, newEncoder(m, r, discard))
			done <- b
		}()
		return r
	}
	pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	tags := loadClip(t, clipName)
	in := flv.NewIngest(pub)
	half := len(tags) / 2
	ingestTags(t, in, tags[:half])
	first := make(chan []byte, 1)
	play(first) // starts at the GOP cache: the last keyframe so far
	ingestTags(t, in, tags[half:half+50])
	second := make(chan []byte, 1)
	play(second)
	ingestTags(t, in, tags[half+50:])
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	pub.Close()
	a, b := <-first, <-second
	sa, sb := parseStream(t, a), parseStream(t, b)
	if !bytes.Equal(a[:sa.initLen], b[:sb.initLen]) {
		t.Error("init segments differ")
	}
	fa, fb := a[sa.initLen:], b[sb.initLen:]
	if len(fb) == 0 || len(fb) >= len(fa) || !bytes.HasSuffix(fa, fb) {
		t.Fatalf("the late reader's %d bytes of fragments are not a suffix of the first's %d", len(fb), len(fa))
	}
	if p := sb.parts[0].Tracks[0]; p.ID != 1 || p.Samples[0].IsNonSyncSample || p.BaseTime == 0 {
		t.Errorf("late reader starts with track %d at %d (non-sync %v); want a keyframe later than 0", p.ID, p.BaseTime, p.Samples[0].IsNonSyncSample)
	}
}

// When the publisher changes its tracks the init segment no longer
// holds: the session ends (the player reconnects), and a new reader gets
// a muxer and an init segment of the new tracks.
func TestTracksChangeEndsSession(t *testing.T) {
	e := engine.New(testConfig(), nil)
	defer e.Close()
	key := engine.NewKey("", "live", "change")
	video, audio := clipTracks(t)
	h265, clip := h265Clip(t)
	pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.SetTracks([]*media.Track{video, audio}); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var ms muxes
	r, err := e.Play(context.Background(), key, engine.SessionInfo{ID: "p", Protocol: ProtocolHTTP})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m, release, err := ms.acquire(key, r.Tracks(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	enc := newEncoder(m, r, log)
	idr := media.AppendAVCC(nil, []byte{0x65, 0x88, 0x80})
	for i := range 3 {
		d := time.Duration(i) * 40 * time.Millisecond
		if err := pub.WriteFrame(&media.Frame{Track: video, DTS: d, PTS: d, Key: i == 0, Payload: idr}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.SetTracks([]*media.Track{h265}); err != nil {
		t.Fatal(err)
	}
	for _, f := range clip[:2] {
		f := &media.Frame{Track: f.Track, DTS: f.DTS + time.Second, PTS: f.PTS + time.Second, Key: f.Key, Payload: f.Payload}
		if err := pub.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan []byte)
	go func() {
		b, _ := readAll(t, r, enc)
		done <- b
	}()
	var out []byte
	select {
	case out = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end when the tracks changed")
	}
	s := parseStream(t, out)
	if _, vs := s.samples(1); len(vs) != 3 {
		t.Errorf("%d samples before the change, want 3", len(vs))
	}
	if !strings.Contains(logs.String(), "tracks changed") {
		t.Errorf("no log line says why:\n%s", logs.String())
	}

	r2, err := e.Play(context.Background(), key, engine.SessionInfo{ID: "p2", Protocol: ProtocolHTTP})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	m2, release2, err := ms.acquire(key, r2.Tracks(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	if m2 == m {
		t.Fatal("a reader of the new tracks got the old muxer")
	}
	if init := parseInit(t, m2.init); len(init.Tracks) != 1 {
		t.Errorf("new init: %+v", init.Tracks)
	} else if _, ok := init.Tracks[0].Codec.(*codecs.H265); !ok {
		t.Errorf("new init codec %T, want H265", init.Tracks[0].Codec)
	}
}

// Many readers building the same frames at once get one fragment per
// frame, with sequence numbers in stream order.
func TestFragmentsConcurrent(t *testing.T) {
	video, _ := clipTracks(t)
	var seq atomic.Uint32
	m, err := newStreamMux([]*media.Track{video}, &seq, discard)
	if err != nil {
		t.Fatal(err)
	}
	st, _, _ := m.state(video)
	frames := make([]*media.Frame, 100)
	for i := range frames {
		d := time.Duration(i) * 40 * time.Millisecond
		nal := []byte{0x41, 0x9a, byte(i)}
		if i%25 == 0 {
			nal[0] = 0x65
		}
		frames[i] = &media.Frame{Track: video, DTS: d, PTS: d, Key: i%25 == 0, Payload: media.AppendAVCC(nil, nal)}
	}
	const readers = 8
	out := make([][]byte, readers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range frames {
				out[r] = append(out[r], m.fragment(f, st)...)
			}
		}()
	}
	wg.Wait()
	for r := 1; r < readers; r++ {
		if !bytes.Equal(out[r], out[0]) {
			t.Fatalf("reader %d got different bytes", r)
		}
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(out[0]); err != nil {
		t.Fatal(err)
	}
	if len(parts) != len(frames) {
		t.Fatalf("%d fragments, want %d", len(parts), len(frames))
	}
	for i, p := range parts {
		if p.SequenceNumber != uint32(i+1) {
			t.Fatalf("fragment %d: sequence number %d, want %d", i, p.SequenceNumber, i+1)
		}
	}
}

// Access unit delimiters and the track's own parameter sets leave the
// samples; other parameter sets stay in band.
func TestStripParameterSets(t *testing.T) {
	video, _ := clipTracks(t)
	m := &streamMux{}
	aud := []byte{0x09, 0xf0}
	idr := []byte{0x65, 0x88, 0x84}
	otherSPS := append(append([]byte(nil), video.SPS...), 0x80)
	for _, c := range []struct {
		name      string
		in, want  []byte
		unchanged bool
	}{
		{"plain", media.AppendAVCC(nil, idr), media.AppendAVCC(nil, idr), true},
		{"aud sps pps", media.AppendAVCC(nil, aud, video.SPS, video.PPS, idr), media.AppendAVCC(nil, idr), false},
		{"new sps", media.AppendAVCC(nil, otherSPS, video.PPS, idr), media.AppendAVCC(nil, otherSPS, idr), false},
	} {
		got := m.stripParameterSets(c.in, video)
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s: %x, want %x", c.name, got, c.want)
		}
		if c.unchanged && &got[0] != &c.in[0] {
			t.Errorf("%s: copied a payload with nothing to strip", c.name)
		}
	}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		ts   uint32
		want uint64
	}{
		{0, 90000, 0},
		{40 * time.Millisecond, 90000, 3600},
		{23 * time.Millisecond, 44100, 1014},
		{-time.Second, 90000, 0},
		{1000 * time.Hour, 48000, 1000 * 3600 * 48000}, // no overflow
	} {
		if got := ticks(c.d, c.ts); got != c.want {
			t.Errorf("ticks(%v, %d) = %d, want %d", c.d, c.ts, got, c.want)
		}
	}
}

// Opus frames last what their TOC says (RFC 6716), in a 48 kHz track,
// and follow each other without gaps.
func TestOpusFragments(t *testing.T) {
	opus, err := media.NewOpusTrack(2)
	if err != nil {
		t.Fatal(err)
	}
	var seq atomic.Uint32
	m, err := newStreamMux([]*media.Track{opus}, &seq, discard)
	if err != nil {
		t.Fatal(err)
	}
	st, _, _ := m.state(opus)
	// TOC config 31: CELT FB 20 ms and config 28: CELT FB 2.5 ms, one
	// frame (code 0); config 19: CELT NB 20 ms, two frames (code 1).
	packets := []struct {
		toc  byte
		want uint32
	}{{31 << 3, 960}, {28 << 3, 120}, {19<<3 | 1, 1920}, {31 << 3, 960}}
	var out []byte
	at := time.Duration(0)
	for _, p := range packets {
		f := &media.Frame{Track: opus, DTS: at, PTS: at, Key: true, Payload: []byte{p.toc, 1, 2, 3}}
		at += time.Duration(p.want) * time.Second / 48000
		b := m.fragment(f, st)
		if !m.startsStream(f) || b == nil {
			t.Fatal("an Opus frame does not start an audio-only stream")
		}
		out = append(out, b...)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(out); err != nil {
		t.Fatal(err)
	}
	next := uint64(0)
	for i, p := range parts {
		pt := p.Tracks[0]
		if pt.BaseTime != next || pt.Samples[0].Duration != packets[i].want {
			t.Errorf("packet %d: at %d for %d, want at %d for %d", i, pt.BaseTime, pt.Samples[0].Duration, next, packets[i].want)
		}
		next += uint64(packets[i].want)
	}
}

// Once a frame is built, every further reader takes its fragment without
// allocating: fan-out costs no garbage per reader.
func TestBuiltFragmentNoAllocs(t *testing.T) {
	video, audio := clipTracks(t)
	var seq atomic.Uint32
	m, err := newStreamMux([]*media.Track{video, audio}, &seq, discard)
	if err != nil {
		t.Fatal(err)
	}
	frames := []*media.Frame{
		{Track: video, Key: true, Payload: media.AppendAVCC(nil, []byte{0x65, 1, 2})},
		{Track: audio, Key: true, Payload: []byte{0x21, 0x10}},
		{Track: video, DTS: 40 * time.Millisecond, PTS: 40 * time.Millisecond, Payload: media.AppendAVCC(nil, []byte{0x41, 1, 2})},
	}
	enc := newEncoder(m, nil, discard)
	bufs := enc.Append(nil, frames) // builds, and sends the init segment
	if len(bufs) != 4 {
		t.Fatalf("%d buffers, want the init segment and 3 fragments", len(bufs))
	}
	if n := testing.AllocsPerRun(100, func() { bufs = enc.Append(bufs[:0], frames) }); n != 0 {
		t.Errorf("%v allocations per batch of built frames, want 0", n)
	}
}
