package playback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/probe"
	"github.com/mediakit/mediakit/pkg/remux"
	"github.com/mediakit/mediakit/pkg/source"
)

// Speeds a recording may be played at (ZLMediaKit's setRecordSpeed).
const (
	MinSpeed = 0.5
	MaxSpeed = 16
)

// Errors of the VOD manager.
var (
	ErrNoFiles    = errors.New("no MP4 file to play")
	ErrNotPlaying = errors.New("no recording is played as that stream")
	ErrSpeed      = fmt.Errorf("speed must be from %v to %v", MinSpeed, MaxSpeed)
)

// Publisher is what a recording played back needs from the engine.
type Publisher interface {
	PublishTrusted(ctx context.Context, key engine.Key, info engine.SessionInfo, opts engine.PublishOptions) (*engine.Publisher, error)
}

// VODOptions are loadMP4File's parameters.
type VODOptions struct {
	Repeat bool          // file_repeat: start over at the end
	Seek   time.Duration // seek_ms: where to start
	Speed  float64       // speed; 0 is 1
	// Values are the stream's options (enable_hls, enable_mp4, ...), as
	// an on_publish reply gives them.
	Values map[string]string
}

// VODs plays recordings back as streams: ZLMediaKit's loadMP4File,
// seekRecordStamp and setRecordSpeed. Each runs in its own goroutine,
// which alone changes its position and speed; the API's seeks and speed
// changes reach it through a channel.
type VODs struct {
	Engine Publisher
	Log    *slog.Logger

	mu     sync.Mutex
	vods   map[engine.Key]*vod
	wg     sync.WaitGroup
	closed bool
}

type vodFile struct {
	path     string
	offset   time.Duration // from the start of the first file
	duration time.Duration
}

type vodCmd struct {
	seek  time.Duration // when speed is 0
	speed float64
}

type vod struct {
	key    engine.Key
	files  []vodFile
	total  time.Duration
	opts   VODOptions
	cmds   chan vodCmd
	cancel context.CancelFunc
	done   chan struct{}
}

// Files lists the MP4 files of path: the file itself, or the .mp4 files of
// a directory (not below it) in name order, which for recordings
// (HH-MM-SS.mp4) is time order.
func Files(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".mp4") {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("playback: %s: %w", path, ErrNoFiles)
	}
	return out, nil
}

// Load publishes files, one after the other, as the stream of key,
// starting at opts.Seek, and returns their total duration. The stream
// ends at the end of the files (unless opts.Repeat), when it is closed
// (close_stream, StreamNoReaders) or when the VODs close.
func (m *VODs) Load(ctx context.Context, key engine.Key, paths []string, opts VODOptions) (time.Duration, error) {
	if opts.Speed == 0 {
		opts.Speed = 1
	}
	if opts.Speed < MinSpeed || opts.Speed > MaxSpeed || math.IsNaN(opts.Speed) {
		return 0, ErrSpeed
	}
	v := &vod{key: key, opts: opts, cmds: make(chan vodCmd, 8), done: make(chan struct{})}
	for _, p := range paths {
		rep, err := probe.Probe(ctx, p, probe.Options{})
		if err != nil {
			return 0, fmt.Errorf("playback: %s: %w", p, err)
		}
		if rep.Duration <= 0 {
			return 0, fmt.Errorf("playback: %s: no duration", p)
		}
		d := time.Duration(rep.Duration * float64(time.Second))
		v.files = append(v.files, vodFile{path: p, offset: v.total, duration: d})
		v.total += d
	}
	if len(v.files) == 0 {
		return 0, ErrNoFiles
	}
	v.opts.Seek = min(max(opts.Seek, 0), v.total)
	runCtx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	pub, err := m.Engine.PublishTrusted(ctx, key, engine.SessionInfo{
		ID: "mp4-vod-" + key.String(), Protocol: "mp4", OriginURL: "file://" + paths[0],
	}, engine.PublishOptions{Values: opts.Values})
	if err != nil {
		cancel()
		return 0, err
	}
	pub.SetContinuePush(0) // the end of the files ends the stream
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		cancel()
		pub.Close()
		return 0, errors.New("playback: closed")
	}
	if m.vods == nil {
		m.vods = map[engine.Key]*vod{}
	}
	if old := m.vods[key]; old != nil {
		old.cancel() // its publisher was replaced already; let it go
	}
	m.vods[key] = v
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		defer close(v.done)
		defer pub.Close()
		defer cancel()
		stop := pub.OnDone(cancel) // close_stream, server shutdown
		defer stop()
		err := v.run(runCtx, pub, m.log())
		if err != nil && runCtx.Err() == nil {
			m.log().Warn("recording playback stopped", "stream", key.String(), "error", err.Error())
		}
		m.mu.Lock()
		if m.vods[key] == v {
			delete(m.vods, key)
		}
		m.mu.Unlock()
	}()
	return v.total, nil
}

// Seek moves the playback of key to at (from the start of its first file),
// on the video keyframe at or before it.
func (m *VODs) Seek(ctx context.Context, key engine.Key, at time.Duration) error {
	return m.send(ctx, key, vodCmd{seek: max(at, 0)})
}

// SetSpeed changes how fast key plays; timestamps are rescaled, so that
// players really play faster or slower.
func (m *VODs) SetSpeed(ctx context.Context, key engine.Key, speed float64) error {
	if speed < MinSpeed || speed > MaxSpeed || math.IsNaN(speed) {
		return ErrSpeed
	}
	return m.send(ctx, key, vodCmd{speed: speed})
}

func (m *VODs) send(ctx context.Context, key engine.Key, c vodCmd) error {
	m.mu.Lock()
	v := m.vods[key]
	m.mu.Unlock()
	if v == nil {
		return ErrNotPlaying
	}
	select {
	case v.cmds <- c:
		return nil
	case <-v.done:
		return ErrNotPlaying
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StreamNoReaders ends the playback of key, if any: a recording played
// back closes when nobody watches it, as ZLMediaKit's does.
func (m *VODs) StreamNoReaders(key engine.Key) {
	m.mu.Lock()
	v := m.vods[key]
	m.mu.Unlock()
	if v != nil {
		v.cancel()
	}
}

// Playing reports whether key is a recording played back.
func (m *VODs) Playing(key engine.Key) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vods[key] != nil
}

// Close ends every playback and waits for them.
func (m *VODs) Close() {
	m.mu.Lock()
	m.closed = true
	for _, v := range m.vods {
		v.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func (m *VODs) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

// errRestart ends reading a file for a seek.
var errRestart = errors.New("seek")

// run plays the files until they end (or for ever with Repeat) or ctx
// ends.
func (v *vod) run(ctx context.Context, pub *engine.Publisher, log *slog.Logger) error {
	p := &vodSink{v: v, pub: pub, ctx: ctx, speed: v.opts.Speed}
	at := v.opts.Seek
	passFrames := int64(0)
	for ctx.Err() == nil {
		i := v.fileAt(at)
		if i < 0 {
			if !v.opts.Repeat {
				return nil
			}
			if p.frames == passFrames {
				return errors.New("playback: the files hold no frame to repeat")
			}
			passFrames = p.frames
			at, p.seeked = 0, true // a jump back, as a seek
			continue
		}
		f := v.files[i]
		// A finished recording's tables take the reader straight to the
		// keyframe at or before the point; the clip does it for one still
		// fragmented.
		from := at - f.offset
		src, err := source.Open(f.path, source.Options{Log: log, Start: from})
		if err != nil {
			return err
		}
		p.file = f
		p.restart(at)
		err = src.Run(ctx, remux.ClipSink(p, remux.Clip{From: from, Absolute: true}))
		switch {
		case errors.Is(err, errRestart):
			at = p.seekTo
		case err != nil && ctx.Err() == nil && !remux.ClipDone(err):
			return fmt.Errorf("playback: %s: %w", f.path, err)
		default:
			at = f.offset + f.duration // the next file
		}
	}
	return nil
}

// fileAt is the index of the file playing at, -1 past the end.
func (v *vod) fileAt(at time.Duration) int {
	for i, f := range v.files {
		if at < f.offset+f.duration {
			return i
		}
	}
	return -1
}

// vodSink paces a file's frames on the output timeline and publishes
// them. The output timeline never goes back: it starts at 0, and a seek or
// a file change continues it one frame after the last frame out.
type vodSink struct {
	v      *vod
	pub    *engine.Publisher
	ctx    context.Context
	file   vodFile // its decode times count from its start
	speed  float64
	tracks []*media.Track

	// The mapping of media time (from the start of the first file) to
	// output time: out = outRef + (media - mediaRef) / speed, and output
	// time to the wall clock: due = wallRef + (out - outRef).
	mediaRef, outRef time.Duration
	wallRef          time.Time
	first            bool // the next frame sets mediaRef from its own time
	lastOut          time.Duration
	emitted          bool
	discontinuity    bool
	seekTo           time.Duration
	seeked           bool
	frames           int64 // published
}

// restart begins a file at media time at. After a seek (or a repeat)
// the mapping to output time starts again one frame after the last frame
// out, and that first frame is marked as a discontinuity for players; the
// next file of a sequence keeps the mapping, so the time between files is
// the media's.
func (s *vodSink) restart(at time.Duration) {
	if s.seeked || !s.emitted {
		s.first = true
		s.mediaRef = at
	}
	s.discontinuity = s.seeked && s.emitted
	s.seeked = false
}

func (s *vodSink) SetTracks(tracks []*media.Track) error {
	canon := make([]*media.Track, 0, len(tracks))
	changed := len(s.tracks) == 0
	for _, t := range tracks {
		if t == nil {
			continue
		}
		c := s.canonical(t)
		if c == t {
			changed = true
		}
		canon = append(canon, c)
	}
	if !changed {
		return nil
	}
	return s.pub.SetTracks(canon)
}

// canonical is the track already published with t's configuration (each
// file declares its own), else t, remembered.
func (s *vodSink) canonical(t *media.Track) *media.Track {
	for _, c := range s.tracks {
		if c == t || c.SameConfig(t) {
			return c
		}
	}
	s.tracks = append(s.tracks, t)
	return t
}

func (s *vodSink) SetMetadata(media.Metadata) {}

func (s *vodSink) WriteFrame(f *media.Frame) error {
	pos := s.file.offset + max(f.DTS, 0)
	if s.first {
		s.first = false
		s.mediaRef = pos
		s.outRef = 0
		if s.emitted {
			s.outRef = s.lastOut + 40*time.Millisecond
		}
		s.wallRef = time.Now()
	}
	var out time.Duration
	for {
		out = s.outRef + time.Duration(float64(pos-s.mediaRef)/s.speed)
		if s.emitted && out < s.lastOut {
			out = s.lastOut // audio interleaved just before the video it follows
		}
		err := s.wait(out)
		if err == errSpeedChanged {
			continue // the same frame on the new mapping
		}
		if err != nil {
			return err
		}
		break
	}
	g := &media.Frame{
		Track: s.canonical(f.Track), DTS: out, PTS: out + time.Duration(float64(f.PTS-f.DTS)/s.speed),
		Key: f.Key, Payload: f.Payload, Discontinuity: s.discontinuity,
	}
	s.discontinuity = false
	s.lastOut, s.emitted = out, true
	s.frames++
	return s.pub.WriteFrame(g)
}

// errSpeedChanged: the frame's output time must be computed again.
var errSpeedChanged = errors.New("speed changed")

// wait sleeps until out is due; a seek or a speed change that comes
// meanwhile ends it with errRestart or errSpeedChanged.
func (s *vodSink) wait(out time.Duration) error {
	d := time.Until(s.wallRef.Add(out - s.outRef))
	if d <= 0 {
		select {
		case c := <-s.v.cmds:
			return s.apply(c)
		default:
			return nil
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case c := <-s.v.cmds:
		return s.apply(c)
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// apply takes a command: a speed change rebases the mapping at the last
// frame out; a seek ends the file's read (errRestart) to start again at
// the new point.
func (s *vodSink) apply(c vodCmd) error {
	if c.speed == 0 {
		s.seekTo = min(c.seek, s.v.total)
		s.seeked = true
		return errRestart
	}
	if s.emitted {
		// Media time of the last frame out, under the old speed.
		s.mediaRef += time.Duration(float64(s.lastOut-s.outRef) * s.speed)
		s.outRef = s.lastOut
	}
	s.wallRef = time.Now()
	s.speed = c.speed
	return errSpeedChanged
}
