// Package record records streams to MP4 and HLS files. Recorders are
// engine sinks: started and stopped through the stream's owner goroutine,
// so starts and stops from the API, hook replies and configuration, at
// once and repeatedly, are safe (failure-modes.md 1).
package record

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/mp4"
)

// Type is ZLMediaKit's record type.
type Type int

// Record types, as startRecord's type parameter.
const (
	TypeHLS Type = 0
	TypeMP4 Type = 1
)

func (t Type) String() string {
	if t == TypeHLS {
		return "hls"
	}
	return "mp4"
}

// SinkName is the engine sink name of a recorder type.
func SinkName(t Type) string { return "record-" + t.String() }

// Info describes a finished file (MP4) or segment (HLS), as the
// on_record_mp4 and on_record_ts hooks report it.
type Info struct {
	Key       engine.Key
	Params    string
	StartTime time.Time
	FileSize  int64
	TimeLen   time.Duration
	FilePath  string // absolute
	FileName  string
	Folder    string // absolute directory (MP4: the stream's, as ZLMediaKit)
	URL       string // path relative to the record root, with '/' (MP4: after "record/", as ZLMediaKit)
}

// Notifier is told of finished files; it must not block.
type Notifier interface {
	RecordMP4(Info)
	RecordTS(Info)
}

// CutNotifier, when a Notifier implements it, is told of an MP4 file
// under root that a write failure cut short and a resuming recording
// left behind (Options.Resume): not a finished MP4, so on_record_mp4 is
// not told of it, but it plays up to its last whole fragment and belongs
// in the recording index (Indexer.AddCut).
type CutNotifier interface {
	RecordMP4Cut(root, path string)
}

// Settings are read when a recording starts.
type Settings struct {
	MP4Root      string // root of MP4 recordings
	HLSRoot      string // root of HLS recordings
	MP4MaxSecond time.Duration
	SegDur       time.Duration
	// Sync fsyncs every MP4 fragment, so a crash loses at most one.
	Sync bool
}

// Options are one recording's overrides (startRecord's parameters).
type Options struct {
	CustomizedPath string        // root instead of the configured one
	MaxSecond      time.Duration // MP4 file length instead of the configured one
	// Resume makes an MP4 recording that a write failure stopped (a full
	// disk) try again, into a new file, every few seconds until it
	// succeeds, the stream ends or the recording is stopped. For the
	// recordings the server starts itself (enable_mp4): nobody would
	// start those again. Meanwhile IsRecording reports false, and Start
	// replaces the waiting recording with the one it is asked for.
	Resume bool
}

// Engine is what the recorders need from the engine.
type Engine interface {
	Stream(ctx context.Context, key engine.Key) (engine.StreamInfo, bool, error)
	AttachSink(ctx context.Context, key engine.Key, name string, newSink func() engine.Sink) error
	DetachSink(ctx context.Context, key engine.Key, name string) (bool, error)
	HasSink(ctx context.Context, key engine.Key, name string) (bool, error)
}

// Manager starts and stops recordings. It must not be copied after first
// use.
type Manager struct {
	Engine   Engine
	Settings func() Settings
	Notify   Notifier
	Log      *slog.Logger

	failures [2]atomic.Int64 // by Type
	writing  writingFiles
	tasks    atomic.Int64 // StartTask's sink names

	// down holds the resuming recordings a write failure paused.
	downMu sync.Mutex
	down   map[recordingID]*mp4Recorder
	// Test hooks: the pauses between attempts to resume (zero: the
	// defaults), and what recorders write through.
	retryMin, retryMax time.Duration
	wrapFile           func(*os.File) mp4.File
}

// recordingID names one recording of a Manager: its sink on a stream.
type recordingID struct {
	key engine.Key
	typ Type
}

// setDown records whether rec, the recording id, is paused by a failure.
// A recording that replaced rec is left alone.
func (m *Manager) setDown(id recordingID, rec *mp4Recorder, down bool) {
	m.downMu.Lock()
	defer m.downMu.Unlock()
	switch {
	case down:
		if m.down == nil {
			m.down = map[recordingID]*mp4Recorder{}
		}
		m.down[id] = rec
	case m.down[id] == rec:
		delete(m.down, id)
	}
}

func (m *Manager) isDown(id recordingID) bool {
	m.downMu.Lock()
	defer m.downMu.Unlock()
	return m.down[id] != nil
}

// Writing reports whether a recorder of m has the file at path open, or
// a recording task holds it: it must not be deleted.
func (m *Manager) Writing(path string) bool { return m.writing.has(path) }

// writingFiles counts, per path, the holders of a file: recorders that
// have it open and recording tasks that reserved it. Each holder
// releases its own hold, so one finishing never frees a file another
// still holds.
type writingFiles struct {
	mu    sync.Mutex
	paths map[string]int
}

func (w *writingFiles) add(path string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paths == nil {
		w.paths = map[string]int{}
	}
	w.paths[path]++
}

// reserve adds a hold on path unless it has one, and reports whether it
// did.
func (w *writingFiles) reserve(path string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paths[path] > 0 {
		return false
	}
	if w.paths == nil {
		w.paths = map[string]int{}
	}
	w.paths[path] = 1
	return true
}

func (w *writingFiles) remove(path string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paths[path]--; w.paths[path] <= 0 {
		delete(w.paths, path)
	}
}

func (w *writingFiles) has(path string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.paths[path] > 0
}

// Failures is how many failures the recorders of type t made through
// NewSink have had since the Manager was made: files or segments that
// could not be created, written, synced or finalised, each of which was
// logged and not notified. Unknown types have none.
func (m *Manager) Failures(t Type) int64 {
	if c := m.failureCounter(t); c != nil {
		return c.Load()
	}
	return 0
}

func (m *Manager) failureCounter(t Type) *atomic.Int64 {
	if t < 0 || int(t) >= len(m.failures) {
		return nil
	}
	return &m.failures[t]
}

// ErrNotPublished is returned for a stream that is not published.
var ErrNotPublished = errors.New("stream not published")

// Start starts recording the stream of key as typ. It reports false when
// that recording already runs.
func (m *Manager) Start(ctx context.Context, key engine.Key, typ Type, opts Options) (bool, error) {
	info, found, err := m.Engine.Stream(ctx, key)
	if err != nil {
		return false, err
	}
	if !found || !info.Ready {
		return false, ErrNotPublished
	}
	params := ""
	if info.Publisher != nil {
		params = info.Publisher.Params
	}
	newSink, err := m.NewSink(key, params, typ, opts)
	if err != nil {
		return false, err
	}
	err = m.Engine.AttachSink(ctx, key, SinkName(typ), newSink)
	replaced := false
	if errors.Is(err, engine.ErrSinkExists) && m.isDown(recordingID{key, typ}) {
		// A recording paused by a write failure is not recording: the
		// one asked for now takes its place (with its options), in a new
		// file from the latest keyframe.
		if _, err = m.Engine.DetachSink(ctx, key, SinkName(typ)); err == nil {
			err = m.Engine.AttachSink(ctx, key, SinkName(typ), newSink)
			replaced = true
		}
	}
	switch {
	case errors.Is(err, engine.ErrSinkExists):
		return false, nil
	case errors.Is(err, engine.ErrNotFound):
		return false, ErrNotPublished
	case err != nil:
		return false, err
	}
	if replaced {
		m.log().Info("recording started, replacing one waiting to resume after a write failure", "stream", key.String(), "record", typ.String())
	} else {
		m.log().Info("recording started", "stream", key.String(), "record", typ.String())
	}
	return true, nil
}

// NewSink returns the factory of a recorder of typ for the stream of key,
// for Start or for an engine SinkPolicy (recording from the first frame).
func (m *Manager) NewSink(key engine.Key, params string, typ Type, opts Options) (func() engine.Sink, error) {
	s := m.Settings()
	root := s.MP4Root
	if typ == TypeHLS {
		root = s.HLSRoot
	}
	if opts.CustomizedPath != "" {
		root = opts.CustomizedPath
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("record: root %s: %w", root, err)
	}
	log := m.log().With("stream", key.String(), "record", typ.String())
	return func() engine.Sink {
		base := recorderBase{key: key, params: params, root: abs, notify: m.Notify, log: log, failures: m.failureCounter(typ), writing: &m.writing}
		if typ == TypeHLS {
			return &hlsRecorder{recorderBase: base, segDur: s.SegDur}
		}
		max := s.MP4MaxSecond
		if opts.MaxSecond > 0 {
			max = opts.MaxSecond
		}
		rec := &mp4Recorder{recorderBase: base, maxSecond: max, sync: s.Sync, wrapFile: m.wrapFile}
		if opts.Resume {
			rec.resume = true
			rec.retryMin, rec.retryMax = cmp.Or(m.retryMin, defaultRetryMin), cmp.Or(m.retryMax, defaultRetryMax)
			id := recordingID{key, typ}
			rec.onDown = func(down bool) { m.setDown(id, rec, down) }
		}
		return rec
	}, nil
}

// Stop stops a recording and waits until its files are finished. It
// reports whether one was running (or waiting to resume after a write
// failure: it no longer tries).
func (m *Manager) Stop(ctx context.Context, key engine.Key, typ Type) (bool, error) {
	return m.Engine.DetachSink(ctx, key, SinkName(typ))
}

// IsRecording reports whether the stream of key is recorded as typ; a
// recording waiting to resume after a write failure is not.
func (m *Manager) IsRecording(ctx context.Context, key engine.Key, typ Type) (bool, error) {
	has, err := m.Engine.HasSink(ctx, key, SinkName(typ))
	if err != nil || !has {
		return false, err
	}
	return !m.isDown(recordingID{key, typ}), nil
}

func (m *Manager) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

// recorderBase is what both recorders share.
type recorderBase struct {
	key    engine.Key
	params string
	root   string
	notify Notifier
	log    *slog.Logger
	// failures counts what report reports; nil for `mediakit record`,
	// whose failures end the command through Result.Err.
	failures *atomic.Int64
	// writing holds the files open now (the Manager's); nil for
	// `mediakit record`.
	writing *writingFiles
}

// report logs a failure that lost recorded media, in one line naming the
// file and the cause, and counts it for /metrics.
func (b *recorderBase) report(msg, file string, err error) {
	b.log.Error(msg, "file", file, "error", err.Error())
	if b.failures != nil {
		b.failures.Add(1)
	}
}

// streamDir is ROOT/APP/STREAM, ZLMediaKit's layout.
func (b *recorderBase) streamDir() string {
	return filepath.Join(b.root, b.key.App, filepath.FromSlash(b.key.Stream))
}

// newFile creates DIR/NAME, adding -1, -2, ... before the extension when
// a file of that name exists (two files started within a second). The
// new name is durable (its directory is synced) when it returns.
func newFile(dir, stem, ext string) (*os.File, string, error) {
	if err := mkdirAllSync(dir); err != nil {
		return nil, "", err
	}
	for i := 0; i < 1000; i++ {
		name := stem + ext
		if i > 0 {
			name = fmt.Sprintf("%s-%d%s", stem, i, ext)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("record: %w", err)
		}
		if err := syncDir(dir); err != nil {
			f.Close()
			os.Remove(path)
			return nil, "", err
		}
		return f, path, nil
	}
	return nil, "", fmt.Errorf("record: no free file name for %s%s in %s", stem, ext, dir)
}

// newDir creates PARENT/NAME, adding -1, -2, ... when a directory of that
// name exists (two recordings started within a second). The new
// directory is durable when it returns.
func newDir(parent, name string) (string, error) {
	if err := mkdirAllSync(parent); err != nil {
		return "", err
	}
	for i := 0; i < 1000; i++ {
		n := name
		if i > 0 {
			n = fmt.Sprintf("%s-%d", name, i)
		}
		path := filepath.Join(parent, n)
		err := os.Mkdir(path, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("record: %w", err)
		}
		if err := syncDir(parent); err != nil {
			return "", err
		}
		return path, nil
	}
	return "", fmt.Errorf("record: no free directory name for %s in %s", name, parent)
}

// relURL is path relative to root, with '/' separators.
func relURL(root, path string) string {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}
