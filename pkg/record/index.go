package record

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/probe"
	"github.com/mediakit/mediakit/pkg/store"
)

// IndexStore is the part of the embedded store the recording index lives
// in.
type IndexStore interface {
	PutRecordings([]store.Recording) error
	DeleteRecordings(paths []string) (int, error)
	RecordingPaths() (map[string]bool, error)
}

// Indexer keeps the store's index of finished MP4 recordings, so that
// listing a month of a stream is a lookup rather than a directory walk:
// every file a recorder finishes is added (Add, from the recorders'
// notifications, written by one goroutine in batches), and Reconcile makes
// the index agree with the disk at start, after a crash or files moved by
// hand.
type Indexer struct {
	log     *slog.Logger
	queue   chan store.Recording
	dropped atomic.Int64
}

// indexQueue bounds the finished files waiting to be indexed; beyond it
// they are left to the next Reconcile.
const indexQueue = 4096

// NewIndexer returns an indexer; Run writes what Add queues.
func NewIndexer(log *slog.Logger) *Indexer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Indexer{log: log, queue: make(chan store.Recording, indexQueue)}
}

// StreamName is the index's name for the stream of key.
func StreamName(key engine.Key) string { return key.String() }

// Add queues a finished MP4 file; it never blocks a recorder.
func (x *Indexer) Add(info Info) {
	r := store.Recording{Stream: StreamName(info.Key), Path: info.FilePath, Start: info.StartTime, Duration: info.TimeLen, Size: info.FileSize}
	select {
	case x.queue <- r:
	default:
		if x.dropped.Add(1) == 1 {
			x.log.Warn("recording index queue full; files are indexed at the next start", "file", info.FilePath)
		}
	}
}

// AddCut queues an MP4 file a write failure cut short, described as
// Reconcile describes what it finds on disk (its duration probed: what
// plays is up to its last whole fragment). It probes the file, a few
// milliseconds for a local one, but never blocks on the queue.
func (x *Indexer) AddCut(root, path string) {
	r, ok := x.describe(context.Background(), root, path)
	if !ok {
		return
	}
	select {
	case x.queue <- r:
	default:
		if x.dropped.Add(1) == 1 {
			x.log.Warn("recording index queue full; files are indexed at the next start", "file", path)
		}
	}
}

// Run writes queued files into st until ctx is done, then writes what is
// still queued and returns.
func (x *Indexer) Run(ctx context.Context, st IndexStore) {
	for {
		var first store.Recording
		select {
		case first = <-x.queue:
		case <-ctx.Done():
			x.flush(st, nil)
			return
		}
		x.flush(st, []store.Recording{first})
	}
}

// flush writes batch and whatever else is queued now, in one transaction.
func (x *Indexer) flush(st IndexStore, batch []store.Recording) {
	for {
		select {
		case r := <-x.queue:
			batch = append(batch, r)
			continue
		default:
		}
		break
	}
	if len(batch) == 0 {
		return
	}
	if err := st.PutRecordings(batch); err != nil {
		x.log.Error("recordings not indexed; they are indexed at the next start", "files", len(batch), "error", err.Error())
	}
}

// dayDir is the name of a recording day's directory, timeName the stem
// of a recording's file name (before any -N).
var (
	dayDir   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	timeName = regexp.MustCompile(`^\d{2}-\d{2}-\d{2}$`)
)

// Reconcile makes the index agree with the MP4 files under roots: files
// not indexed are probed and added (their start from their name, DAY/
// HH-MM-SS.mp4 in local time; their duration from their headers), indexed
// files that are gone are removed. Files modified after before are left
// alone, as are files writing reports open: a recorder of this process
// may be writing them, and indexes them when it finishes. At start,
// before is the start: a file a crash left behind is older.
func (x *Indexer) Reconcile(ctx context.Context, st IndexStore, roots []string, writing func(string) bool, before time.Time) (added, removed int, err error) {
	indexed, err := st.RecordingPaths()
	if err != nil {
		return 0, 0, err
	}
	seen := map[string]bool{}
	var batch []store.Recording
	for _, root := range roots {
		if seen[root] {
			continue
		}
		seen[root] = true
		werr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			// Recorders write regular files: a symbolic link (to a file
			// outside the root, say) is no recording of ours.
			if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), ".mp4") || !dayDir.MatchString(filepath.Base(filepath.Dir(path))) {
				return nil
			}
			seen[path] = true
			if indexed[path] || (writing != nil && writing(path)) {
				return nil
			}
			if info, err := d.Info(); err != nil || info.ModTime().After(before) {
				return nil
			}
			if r, ok := x.describe(ctx, root, path); ok {
				batch = append(batch, r)
			}
			return nil
		})
		if werr != nil && !errors.Is(werr, context.Canceled) {
			x.log.Warn("recording index: walk failed", "root", root, "error", werr.Error())
		}
	}
	var gone []string
	for path := range indexed {
		if seen[path] {
			continue
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, path)
		}
	}
	if len(batch) > 0 {
		if err := st.PutRecordings(batch); err != nil {
			return 0, 0, err
		}
	}
	if len(gone) > 0 {
		if removed, err = st.DeleteRecordings(gone); err != nil {
			return len(batch), 0, err
		}
	}
	if len(batch) > 0 || removed > 0 {
		x.log.Info("recording index reconciled with the disk", "added", len(batch), "removed", removed)
	}
	return len(batch), removed, nil
}

// describe makes the index entry of a recording found on disk at
// root/APP/STREAM/DAY/FILE.mp4.
func (x *Indexer) describe(ctx context.Context, root, path string) (store.Recording, bool) {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return store.Recording{}, false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) < 4 {
		return store.Recording{}, false
	}
	key := engine.NewKey("", parts[0], strings.Join(parts[1:len(parts)-2], "/"))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := probe.Probe(ctx, path, probe.Options{})
	if err != nil || rep.Duration < 0 {
		x.log.Warn("recording index: file not readable, left out", "file", path, "error", errString(err))
		return store.Recording{}, false
	}
	st, err := os.Stat(path)
	if err != nil {
		return store.Recording{}, false
	}
	duration := time.Duration(rep.Duration * float64(time.Second))
	start, err := startFromName(parts[len(parts)-2], strings.TrimSuffix(parts[len(parts)-1], ".mp4"))
	if err != nil {
		start = st.ModTime().Add(-duration)
	}
	return store.Recording{Stream: StreamName(key), Path: path, Start: start, Duration: duration, Size: st.Size()}, true
}

// startFromName is the start of the recording DAY/STEM.mp4: STEM is
// HH-MM-SS in local time, or HH-MM-SS-N for the Nth more file started
// within that second, which is put N microseconds later so that the index
// keeps them in order.
func startFromName(day, stem string) (time.Time, error) {
	n := 0
	if len(stem) > len("15-04-05-") && stem[len("15-04-05")] == '-' {
		var err error
		// newFile tries at most 1000 names a second.
		if n, err = strconv.Atoi(stem[len("15-04-05-"):]); err != nil || n < 0 || n >= 1000 {
			return time.Time{}, fmt.Errorf("record: %q is not HH-MM-SS-N", stem)
		}
		stem = stem[:len("15-04-05")]
	}
	if !timeName.MatchString(stem) || !dayDir.MatchString(day) {
		return time.Time{}, fmt.Errorf("record: %s/%s is not DAY/HH-MM-SS", day, stem)
	}
	t, err := time.ParseInLocation("2006-01-02 15-04-05", day+" "+stem, time.Local)
	if err != nil {
		return time.Time{}, err
	}
	return t.Add(time.Duration(n) * time.Microsecond), nil
}

func errString(err error) string {
	if err == nil {
		return "no duration"
	}
	return err.Error()
}
