// Package snap takes JPEG snapshots of stream URLs with ffmpeg:
// ZLMediaKit's getSnap. Snapshots are cached under one directory (the
// data dir's snap/) by the MD5 of the URL; a failed snapshot gives the
// previous one if there is one, otherwise a default image, and either is
// kept for expire_sec, as ZLMediaKit does, so a dead camera is not asked
// again on every call.
package snap

import (
	"bytes"
	"context"
	"crypto/md5"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/ffmpegsrc"
)

// DefaultTemplate is ZLMediaKit's ffmpeg.snap: executable, input URL,
// output file.
const DefaultTemplate = "%s -i %s -y -f mjpeg -frames:v 1 -an %s"

// Bounds and defaults.
const (
	// MaxTimeout bounds timeout_sec: an API call held for longer helps
	// nobody, and ffmpeg runs no longer than this.
	MaxTimeout = 60 * time.Second
	// DefaultGrace is how long ffmpeg has after SIGTERM before SIGKILL.
	DefaultGrace = 500 * time.Millisecond
	// MaxSize bounds a snapshot read back from ffmpeg or the cache.
	MaxSize = 32 << 20
)

// ErrInvalid marks a URL refused before anything ran (the API's -300).
var ErrInvalid = ffmpegsrc.ErrInvalid

// defaultJPEG is a grey 320x180 "no signal" frame, made with
//
//	ffmpeg -f lavfi -i color=c=0x505050:s=320x180:d=1 \
//	  -vf "drawtext=text='no signal':fontcolor=0xd0d0d0:fontsize=28:x=(w-text_w)/2:y=(h-text_h)/2" \
//	  -frames:v 1 -q:v 5 default.jpeg
//
//go:embed default.jpeg
var defaultJPEG []byte

// Default returns the default image (a copy).
func Default() []byte { return bytes.Clone(defaultJPEG) }

// Options configure a Snapper. Bin and Template come from the
// configuration, never from the API.
type Options struct {
	// Bin is the ffmpeg executable (default "ffmpeg", looked up in PATH).
	Bin string
	// Template is the command template (default DefaultTemplate).
	Template string
	// Dir holds the cached snapshots (the data dir's snap/); created
	// when first needed.
	Dir string
	// Confine admits a local file URL and returns its absolute path (the
	// server's PathGuard); nil refuses every local file.
	Confine func(string) (string, error)
	// Grace is how long ffmpeg has after SIGTERM (default DefaultGrace).
	Grace time.Duration
	Log   *slog.Logger
}

// Request is one getSnap call.
type Request struct {
	URL string
	// Timeout bounds the ffmpeg run (at most MaxTimeout; <= 0 is
	// MaxTimeout).
	Timeout time.Duration
	// Expire is how long a snapshot, or a failure, is served from the
	// cache.
	Expire time.Duration
}

// Result is a snapshot.
type Result struct {
	JPEG []byte
	// Default: the default image, no snapshot of the URL was taken.
	Default bool
	// Cached: served from the cache, no ffmpeg run for this call.
	Cached bool
	// Err says why this call's ffmpeg run failed (nil when it did not
	// fail or did not run).
	Err error
}

// Snapper takes snapshots. Calls for one URL while its ffmpeg runs wait
// for that run rather than start another.
type Snapper struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]*call // by cache key
}

type call struct {
	done chan struct{}
	res  Result
}

// New returns a Snapper; it removes temporary files a previous run may
// have left in Dir.
func New(o Options) *Snapper {
	if o.Bin == "" {
		o.Bin = ffmpegsrc.DefaultBin
	}
	if o.Template == "" {
		o.Template = DefaultTemplate
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// ffmpeg is given paths in Dir: absolute, none can read as a
	// protocol ("name:...").
	if abs, err := filepath.Abs(o.Dir); err == nil {
		o.Dir = abs
	}
	if tmps, _ := filepath.Glob(filepath.Join(o.Dir, "*"+tmpSuffix)); len(tmps) > 0 {
		for _, p := range tmps {
			_ = os.Remove(p)
		}
	}
	return &Snapper{opts: o, log: o.Log, running: make(map[string]*call)}
}

// Key is the cache key of a URL: the lower-case hex MD5, as ZLMediaKit.
func Key(url string) string {
	sum := md5.Sum([]byte(url))
	return hex.EncodeToString(sum[:])
}

const tmpSuffix = ".tmp.jpeg"

// Snap returns a snapshot of req.URL: from the cache while younger than
// req.Expire, otherwise from a new ffmpeg run. It fails only for a URL
// refused (ErrInvalid) or a cache it cannot use; a failed ffmpeg run
// gives the previous snapshot or the default image, with Result.Err.
func (s *Snapper) Snap(ctx context.Context, req Request) (Result, error) {
	key := Key(req.URL)
	// Checked first, so a refused URL is refused whatever the cache holds.
	out := filepath.Join(s.opts.Dir, key+".jpeg")
	if _, err := ffmpegsrc.Command(s.opts.Template, s.opts.Bin, req.URL, out, s.opts.Confine); err != nil {
		if errors.Is(err, ffmpegsrc.ErrInvalid) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("%w: %v", ErrInvalid, err) // a bad template
	}
	if res, ok := s.cached(out, req.Expire); ok {
		return res, nil
	}
	s.mu.Lock()
	c, ok := s.running[key]
	if !ok {
		c = &call{done: make(chan struct{})}
		s.running[key] = c
		s.mu.Unlock()
		// Not ended by this caller going away: others may wait for it,
		// and the snapshot is cached. The timeout bounds it.
		c.res = s.take(context.WithoutCancel(ctx), req, key, out)
		s.mu.Lock()
		delete(s.running, key)
		s.mu.Unlock()
		close(c.done)
		return c.res, nil
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		res := c.res
		res.JPEG = bytes.Clone(res.JPEG)
		res.Cached = true
		return res, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// cached returns the snapshot in out if younger than expire. An empty
// file is a failure being remembered: the default image.
func (s *Snapper) cached(out string, expire time.Duration) (Result, bool) {
	fi, err := os.Stat(out)
	if err != nil || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) > expire {
		return Result{}, false
	}
	if fi.Size() == 0 {
		return Result{JPEG: Default(), Default: true, Cached: true}, true
	}
	b, err := readJPEG(out)
	if err != nil {
		return Result{}, false
	}
	return Result{JPEG: b, Cached: true}, true
}

// take runs ffmpeg into a temporary file and, if it wrote a JPEG, makes
// it the cached snapshot. Otherwise the previous snapshot, or an empty
// file standing for the default image, is kept for expire from now.
func (s *Snapper) take(ctx context.Context, req Request, key, out string) Result {
	timeout := req.Timeout
	if timeout <= 0 || timeout > MaxTimeout {
		timeout = MaxTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	img, err := s.run(ctx, req.URL, key)
	if err == nil {
		if err = writeFile(out, img); err != nil {
			s.log.Warn("snapshot not cached", "error", err.Error())
		}
		s.log.Debug("snapshot taken", "key", key, "bytes", len(img), "duration", time.Since(start).Round(time.Millisecond).String())
		return Result{JPEG: img}
	}
	s.log.Info("snapshot failed", "key", key, "error", ffmpegsrc.Redact(err.Error(), req.URL), "duration", time.Since(start).Round(time.Millisecond).String())
	if old, rerr := readJPEG(out); rerr == nil {
		now := time.Now()
		_ = os.Chtimes(out, now, now)
		return Result{JPEG: old, Cached: true, Err: err}
	}
	if werr := writeFile(out, nil); werr != nil {
		s.log.Warn("snapshot failure not cached", "error", werr.Error())
	}
	return Result{JPEG: Default(), Default: true, Err: err}
}

// run takes one snapshot with ffmpeg and returns it.
func (s *Snapper) run(ctx context.Context, url, key string) ([]byte, error) {
	if err := os.MkdirAll(s.opts.Dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.opts.Dir, key+".*"+tmpSuffix)
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	args, err := ffmpegsrc.Command(s.opts.Template, s.opts.Bin, url, tmp, s.opts.Confine)
	if err != nil {
		return nil, err
	}
	var stderr tail
	err = ffmpegsrc.Run(ctx, args, &stderr, s.opts.Grace)
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("ffmpeg timed out: %s", stderr.last())
	case err != nil:
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, stderr.last())
	}
	img, err := readJPEG(tmp)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg exited 0 but %v: %s", err, stderr.last())
	}
	return img, nil
}

// readJPEG reads a file that must hold a JPEG image.
func readJPEG(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	switch {
	case err != nil:
		return nil, err
	case len(b) > MaxSize:
		return nil, fmt.Errorf("snapshot larger than %d bytes", MaxSize)
	case len(b) < 4 || b[0] != 0xff || b[1] != 0xd8:
		return nil, errors.New("no JPEG written")
	}
	return b, nil
}

// writeFile replaces path with b atomically.
func writeFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*"+tmpSuffix)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// tail keeps the last lines ffmpeg wrote to stderr, for the log.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 2048

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(t.buf), "\r", "\n")), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}
