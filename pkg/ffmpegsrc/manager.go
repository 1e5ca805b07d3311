package ffmpegsrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/store"
)

// ErrClosed is returned by Add and Restore after Close.
var ErrClosed = errors.New("ffmpeg sources closed")

// StreamWaiter tells when a stream is live on this server (the engine,
// through pkg/server).
type StreamWaiter interface {
	// WaitLive returns nil once the stream of key has a publisher and
	// its tracks are known, or ctx's error.
	WaitLive(ctx context.Context, key engine.Key) error
}

// Store keeps tasks durably (pkg/store's Store): each call returns once
// the change is fsynced.
type Store interface {
	PutTask(kind, key string, v any) error
	DeleteTask(kind, key string) (bool, error)
	Tasks(kind string) ([]store.Task, error)
}

// Defaults.
const (
	DefaultBin         = "ffmpeg"
	DefaultCmdKey      = "ffmpeg.cmd"
	DefaultStableAfter = 30 * time.Second
	DefaultStopGrace   = 2 * time.Second
)

// Options configure a Manager. Bin and Cmd are fixed for its life: they come from the configuration file and flags, never from the
// API, which could otherwise run anything on the server.
type Options struct {
	// Bin is the ffmpeg executable (default "ffmpeg", looked up in PATH).
	Bin string
	// Cmd is the command template, ZLMediaKit's ffmpeg.cmd: three %s for
	// the executable, the source and the destination (default DefaultCmd).
	Cmd string
	// Templates are further templates by name ("cmd_hd"), selected by
	// ffmpeg_cmd_key ("ffmpeg.cmd_hd"); fixed like Cmd.
	Templates map[string]string
	// RestartEvery returns how long an ffmpeg runs before it is
	// restarted (0: never): ffmpeg.restart_sec, which setServerConfig may
	// change; read at each start. Nil: never.
	RestartEvery func() time.Duration
	// Backoff spaces restarts after ffmpeg exits (zero: backoff.Default).
	Backoff backoff.Policy
	// StableAfter: a run at least this long resets the backoff
	// (default DefaultStableAfter).
	StableAfter time.Duration
	// StopGrace is how long ffmpeg has after SIGTERM before SIGKILL
	// (default DefaultStopGrace).
	StopGrace time.Duration
	// TailBytes is how much stderr each task keeps (default
	// DefaultTailBytes).
	TailBytes int
	// Confine admits a local file source and returns its absolute path
	// (the server's PathGuard); nil refuses every local file.
	Confine func(path string) (string, error)
	// IsLocal reports whether a destination URL names this server. A
	// remote destination cannot be watched: as in ZLMediaKit, Add then
	// waits its timeout and succeeds if ffmpeg still runs. Nil: every
	// destination is this server.
	IsLocal func(dstURL string) bool
	// Waiter tells when a local destination is live. Nil: as remote.
	Waiter StreamWaiter
	// Store keeps tasks across restarts; nil keeps them in memory only.
	Store Store
	Log   *slog.Logger
}

// Manager runs the FFmpeg sources of one server.
type Manager struct {
	opts Options
	log  *slog.Logger

	// mu guards tasks and closed; it is held for map operations only.
	mu     sync.Mutex
	tasks  map[string]*task
	closed bool

	wg       sync.WaitGroup // supervisor goroutines
	restarts atomic.Int64
}

// NewManager returns a manager without tasks; Restore starts the stored
// ones.
func NewManager(o Options) *Manager {
	if o.Bin == "" {
		o.Bin = DefaultBin
	}
	if o.Cmd == "" {
		o.Cmd = DefaultCmd
	}
	if o.StableAfter <= 0 {
		o.StableAfter = DefaultStableAfter
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.Backoff == (backoff.Policy{}) {
		o.Backoff = backoff.Default
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: o, log: o.Log, tasks: make(map[string]*task)}
}

// template returns the command template ffmpeg_cmd_key selects: a key
// of the [ffmpeg] section ("ffmpeg.cmd_hd", or "cmd_hd"), as ZLMediaKit
// reads any config key there. Like ZLMediaKit, a key naming no template
// falls back to ffmpeg.cmd with a warning: platforms send keys of their
// own setup.
func (m *Manager) template(cmdKey string) string {
	if cmdKey == "" || cmdKey == DefaultCmdKey {
		return m.opts.Cmd
	}
	if tmpl, ok := m.opts.Templates[strings.TrimPrefix(cmdKey, "ffmpeg.")]; ok {
		return tmpl
	}
	m.log.Warn("ffmpeg_cmd_key names no command template; using ffmpeg.cmd", "ffmpeg_cmd_key", cmdKey)
	return m.opts.Cmd
}

// newTask checks spec and builds its task; nothing runs yet.
func (m *Manager) newTask(spec Spec) (*task, error) {
	src, err := checkSource(spec.SrcURL, m.opts.Confine)
	if err != nil {
		return nil, err
	}
	stream, err := checkDest(spec.DstURL)
	if err != nil {
		return nil, err
	}
	args, err := buildArgs(m.template(spec.CmdKey), m.opts.Bin, src, spec.DstURL)
	if err != nil {
		return nil, err
	}
	local := m.opts.Waiter != nil && (m.opts.IsLocal == nil || m.opts.IsLocal(spec.DstURL))
	return newTask(m, Key(spec.DstURL), spec, args, stream, local), nil
}

// Add starts an FFmpeg source and returns its key once the destination
// stream is live (for a remote destination: once ffmpeg still runs after
// spec.Timeout) and the task is stored. A source that does not get there
// within spec.Timeout is removed, and the error carries ffmpeg's last
// stderr line. A destination that has a source already answers with its
// key, once that source is live. Errors wrapping ErrInvalid mean the
// spec was refused before anything ran.
func (m *Manager) Add(ctx context.Context, spec Spec) (string, error) {
	spec.Timeout = min(max(spec.Timeout, 0), MaxTimeout)
	if spec.Timeout == 0 {
		return "", fmt.Errorf("add ffmpeg source %s: %w: timeout must be positive", spec.DstURL, ErrInvalid)
	}
	t, err := m.newTask(spec)
	if err != nil {
		return "", fmt.Errorf("add ffmpeg source %s: %w", spec.DstURL, err)
	}
	deadline := time.Now().Add(spec.Timeout)
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return "", fmt.Errorf("add ffmpeg source %s: %w", spec.DstURL, ErrClosed)
		}
		old := m.tasks[t.key]
		if old == nil {
			m.tasks[t.key] = t
			m.wg.Add(1)
			m.mu.Unlock()
			go func() {
				defer m.wg.Done()
				t.run()
			}()
			break
		}
		leaving := old.leaving
		m.mu.Unlock()
		if !leaving {
			t.cancel() // never run
			return old.key, m.awaitAdded(ctx, old, deadline)
		}
		// The store record of this key is being deleted; a new one is
		// written only after that, or the delete would erase it.
		if err := waitUntil(ctx, old.removed, deadline); err != nil {
			return "", fmt.Errorf("add ffmpeg source %s: a delete of this source is still under way: %w", spec.DstURL, err)
		}
	}
	if err := m.confirm(ctx, t, deadline); err != nil {
		m.remove(t)
		return "", err
	}
	return t.key, nil
}

// confirm waits until t's destination is live, then has t's supervisor
// store it.
func (m *Manager) confirm(ctx context.Context, t *task, deadline time.Time) error {
	waitCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// A delete (or Close) of t ends the wait at once.
	defer context.AfterFunc(t.ctx, cancel)()
	var err error
	if t.local {
		err = m.opts.Waiter.WaitLive(waitCtx, t.stream)
	} else {
		<-waitCtx.Done()
		err = waitCtx.Err()
		if errors.Is(err, context.DeadlineExceeded) && t.ctx.Err() == nil {
			if st := t.status(); st.State == StateRunning {
				err = nil
			} else {
				err = fmt.Errorf("ffmpeg not running after %v", t.spec.Timeout)
			}
		}
	}
	switch {
	case t.ctx.Err() != nil && m.isClosed():
		return fmt.Errorf("add ffmpeg source %s: %w before its stream was live", t.spec.DstURL, ErrClosed)
	case t.ctx.Err() != nil:
		return fmt.Errorf("add ffmpeg source %s: deleted before its stream was live", t.spec.DstURL)
	case ctx.Err() != nil:
		return fmt.Errorf("add ffmpeg source %s: %w", t.spec.DstURL, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("add ffmpeg source %s: %s not live within %v; ffmpeg: %s", t.spec.DstURL, t.stream, t.spec.Timeout, t.lastWords())
	case err != nil:
		return fmt.Errorf("add ffmpeg source %s: %w; ffmpeg: %s", t.spec.DstURL, err, t.lastWords())
	}
	if err := t.persist(ctx); err != nil {
		return fmt.Errorf("add ffmpeg source %s: %w", t.spec.DstURL, err)
	}
	return nil
}

// awaitAdded answers a second Add of a destination once the first one's
// source is live and stored.
func (m *Manager) awaitAdded(ctx context.Context, t *task, deadline time.Time) error {
	select {
	case <-t.added:
		return nil
	default:
	}
	waitCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	select {
	case <-t.added:
		return nil
	case <-t.done:
		return fmt.Errorf("add ffmpeg source %s: the source already adding this destination ended before its stream was live", t.spec.DstURL)
	case <-waitCtx.Done():
		return fmt.Errorf("add ffmpeg source %s: another add of this destination is still waiting for its stream: %w", t.spec.DstURL, waitCtx.Err())
	}
}

func waitUntil(ctx context.Context, ch <-chan struct{}, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// persist stores t; its supervisor calls it, so it is ordered before a
// delete of the same task (which waits for the supervisor to end).
func (m *Manager) persist(t *task) error {
	if m.opts.Store == nil {
		return nil
	}
	return m.opts.Store.PutTask(store.KindFFmpeg, t.key, specRecord(t.spec))
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// claim marks t as leaving, once; the caller then ends it and calls
// release.
func (m *Manager) claim(t *task) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.leaving {
		return false
	}
	t.leaving = true
	return true
}

// release takes t out of the map and wakes whoever waits for its key.
func (m *Manager) release(t *task) {
	m.mu.Lock()
	if m.tasks[t.key] == t {
		delete(m.tasks, t.key)
	}
	m.mu.Unlock()
	close(t.removed)
}

// remove ends t, which Add failed to confirm; its record was never
// written.
func (m *Manager) remove(t *task) {
	if !m.claim(t) {
		<-t.removed
		return
	}
	t.stop()
	m.release(t)
}

// Delete stops the source of key (its ffmpeg is gone when it returns)
// and deletes its stored record; it reports whether there was one. An Add
// still waiting for that source's stream fails. It does not give up on
// ctx: stopping is bounded by StopGrace, and a half-done delete would
// leave the record to come back at the next start.
func (m *Manager) Delete(ctx context.Context, key string) (bool, error) {
	m.mu.Lock()
	t := m.tasks[key]
	found := t != nil
	if t == nil {
		// A record may be stored that Restore did not run (the path
		// guard no longer admits it). The placeholder keeps an Add of
		// the key from writing until the record is gone.
		t = placeholder(key)
		m.tasks[key] = t
	}
	mine := !t.leaving
	t.leaving = true
	m.mu.Unlock()
	if !mine {
		// Another delete, a failed Add or Close is ending it.
		<-t.removed
		return false, nil
	}
	t.stop()
	stored := false
	var err error
	if m.opts.Store != nil {
		stored, err = m.opts.Store.DeleteTask(store.KindFFmpeg, key)
	}
	m.release(t)
	if err != nil {
		return found, fmt.Errorf("delete ffmpeg source %s: %w", key, err)
	}
	if found {
		m.log.Info("ffmpeg source deleted", "key", key, "dst_url", redactURL(t.spec.DstURL))
	}
	return found || stored, nil
}

// DeleteStream deletes the sources that publish the stream of key, as
// Delete does; it returns how many there were. The server calls it when
// that stream is closed through the API or an on_stream_none_reader
// reply: as in ZLMediaKit, a closed FFmpeg source is gone, not restarted.
func (m *Manager) DeleteStream(ctx context.Context, key engine.Key) int {
	m.mu.Lock()
	var keys []string
	for k, t := range m.tasks {
		if t.supervised() && t.stream == key {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	n := 0
	for _, k := range keys {
		if found, err := m.Delete(ctx, k); err != nil {
			m.log.Error("ffmpeg source of a closed stream not deleted", "key", k, "error", err.Error())
		} else if found {
			n++
		}
	}
	return n
}

// Restore starts every stored task, without waiting for its stream. A
// record that no longer passes the checks (a local file the path guard
// does not admit any more) is skipped with a warning and stays stored.
func (m *Manager) Restore() error {
	if m.opts.Store == nil {
		return nil
	}
	list, err := m.opts.Store.Tasks(store.KindFFmpeg)
	if err != nil {
		return fmt.Errorf("restore ffmpeg sources: %w", err)
	}
	for _, st := range list {
		var r record
		if err := json.Unmarshal(st.Value, &r); err != nil {
			m.log.Warn("stored ffmpeg source unreadable; skipped", "key", st.Key, "error", err.Error())
			continue
		}
		t, err := m.newTask(r.spec())
		if err != nil {
			m.log.Warn("stored ffmpeg source refused; skipped", "key", st.Key, "dst_url", redactURL(r.DstURL), "error", redact(err.Error(), r.SrcURL, r.DstURL))
			continue
		}
		t.key = st.Key
		close(t.added)
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return fmt.Errorf("restore ffmpeg sources: %w", ErrClosed)
		}
		if m.tasks[t.key] != nil {
			m.mu.Unlock()
			continue
		}
		m.tasks[t.key] = t
		m.wg.Add(1)
		m.mu.Unlock()
		go func() {
			defer m.wg.Done()
			t.run()
		}()
		m.log.Info("ffmpeg source restored", "key", t.key, "src_url", redactURL(r.SrcURL), "dst_url", redactURL(r.DstURL))
	}
	return nil
}

// Close stops every source (their records stay stored for the next
// start) and waits for their processes to be gone. Add fails afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	var mine, others []*task
	for _, t := range m.tasks {
		if t.leaving {
			others = append(others, t)
		} else {
			t.leaving = true
			mine = append(mine, t)
		}
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range mine {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.stop()
			m.release(t)
		}()
	}
	wg.Wait()
	for _, t := range others {
		<-t.removed
	}
	m.wg.Wait()
}

// tasksSnapshot returns the running tasks (no placeholders) by key.
func (m *Manager) tasksSnapshot() []*task {
	m.mu.Lock()
	out := make([]*task, 0, len(m.tasks))
	for _, t := range m.tasks {
		if t.supervised() {
			out = append(out, t)
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// List describes every source, by key.
func (m *Manager) List() []Info {
	tasks := m.tasksSnapshot()
	out := make([]Info, 0, len(tasks))
	now := time.Now()
	for _, t := range tasks {
		st := t.status()
		in := Info{Key: t.key, Spec: t.spec, Cmd: commandLine(t.args), Status: st, Stderr: t.stderr.String()}
		if st.State == StateRunning && !st.Since.IsZero() {
			in.Uptime = now.Sub(st.Since)
		}
		out = append(out, in)
	}
	return out
}

// StreamOptions returns the options (enable_hls, enable_mp4 as "1" or
// "0") the sources pushing to the stream of key ask for. The stream's
// owner calls it when its publisher arrives, so it never blocks. When
// several sources name one stream, an option one of them enables is on.
func (m *Manager) StreamOptions(key engine.Key) (map[string]string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	found, hls, mp4 := false, false, false
	for _, t := range m.tasks {
		if t.supervised() && t.stream == key {
			found = true
			hls = hls || t.spec.EnableHLS
			mp4 = mp4 || t.spec.EnableMP4
		}
	}
	if !found {
		return nil, false
	}
	return map[string]string{"enable_hls": flag(hls), "enable_mp4": flag(mp4)}, true
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Counts sums the sources by state, and every restart so far.
func (m *Manager) Counts() Counts {
	c := Counts{ByState: make(map[State]int, len(States)), Restarts: m.restarts.Load()}
	for _, t := range m.tasksSnapshot() {
		c.ByState[t.status().State]++
	}
	return c
}
