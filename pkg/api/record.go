package api

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/record"
)

// Recorder starts and stops recordings (pkg/record's Manager).
type Recorder interface {
	Start(ctx context.Context, key engine.Key, typ record.Type, opts record.Options) (bool, error)
	Stop(ctx context.Context, key engine.Key, typ record.Type) (bool, error)
	IsRecording(ctx context.Context, key engine.Key, typ record.Type) (bool, error)
	// Writing reports whether a recorder has the file at path open.
	Writing(path string) bool
	// StartTask records key into the MP4 file at path from the GOP
	// cache until forward after the call.
	StartTask(ctx context.Context, key engine.Key, path string, forward time.Duration) error
}

// RecordIndex is the index of finished recordings (pkg/store's).
type RecordIndex interface {
	DeleteRecordings(paths []string) (int, error)
}

// RecordDeps are what the recording endpoints need.
type RecordDeps struct {
	Recorder Recorder
	// MP4Root returns the configured MP4 recording root.
	MP4Root func() string
	// Confine checks a customized_path (inside the data dir or
	// record.allow_paths) and returns it resolved.
	Confine func(string) (string, error)
	// Index, when set, forgets the files deleteRecordDirectory deletes.
	Index RecordIndex
}

// RegisterRecord registers startRecord, stopRecord, isRecording,
// getMP4RecordFile and deleteRecordDirectory.
func (s *Server) RegisterRecord(d RecordDeps) {
	r := &recordEndpoints{rec: d.Recorder, mp4Root: d.MP4Root, confine: d.Confine, index: d.Index}
	s.Handle("startRecord", r.start)
	s.Handle("stopRecord", r.stop)
	s.Handle("isRecording", r.isRecording)
	s.Handle("getMP4RecordFile", r.files)
	s.Handle("deleteRecordDirectory", r.deleteDirectory)
	s.Handle("startRecordTask", r.startTask)
	s.Handle("getMP4RecordStreams", r.streams)
}

// maxRecordStreams and maxRecordDepth bound getMP4RecordStreams' walk of
// the MP4 root: APP/STREAM with up to four segments of stream name.
const (
	maxRecordStreams = 10000
	maxRecordDepth   = 5
)

// streams answers getMP4RecordStreams (mediakit's own): the streams that
// have MP4 recordings in the MP4 root, as {app, stream, days}, sorted, so
// that the console can offer them without knowing the names. A directory
// is a stream's when it holds day directories (YYYY-MM-DD); links are not
// followed.
func (r *recordEndpoints) streams(ctx context.Context, p *Params) (Reply, error) {
	root := r.mp4Root()
	out := []map[string]any{}
	var walk func(dir string, segs []string) error
	walk = func(dir string, segs []string) error {
		if len(out) >= maxRecordStreams || ctx.Err() != nil {
			return ctx.Err()
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			if os.IsNotExist(err) || len(segs) > 0 {
				return nil // gone meanwhile, or unreadable: not a stream
			}
			return err
		}
		days := 0
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if periodRE.MatchString(e.Name()) && len(e.Name()) == len("2006-01-02") {
				days++
				continue
			}
			if len(segs) < maxRecordDepth {
				if err := walk(filepath.Join(dir, e.Name()), append(segs[:len(segs):len(segs)], e.Name())); err != nil {
					return err
				}
			}
		}
		if days > 0 && len(segs) >= 2 && len(out) < maxRecordStreams {
			out = append(out, map[string]any{"vhost": engine.DefaultVhost, "app": segs[0], "stream": path.Join(segs[1:]...), "days": days})
		}
		return nil
	}
	if err := walk(root, nil); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a["app"] != b["app"] {
			return a["app"].(string) < b["app"].(string)
		}
		return a["stream"].(string) < b["stream"].(string)
	})
	return Reply{"data": out}, nil
}

type recordEndpoints struct {
	rec     Recorder
	mp4Root func() string
	confine func(string) (string, error)
	index   RecordIndex
}

// customizedPath returns the confined customized_path, "" when none was
// given; a path outside the allowed roots is -300 and nothing is
// written.
func (r *recordEndpoints) customizedPath(p *Params) (string, error) {
	cp := p.Get("customized_path")
	if cp == "" || r.confine == nil {
		return cp, nil
	}
	confined, err := r.confine(cp)
	if err != nil {
		return "", Errorf(CodeInvalidArgs, "customized_path: %v", err)
	}
	return confined, nil
}

func recordTarget(p *Params) (record.Type, engine.Key, error) {
	if err := p.RequireAll("type", "vhost", "app", "stream"); err != nil {
		return 0, engine.Key{}, err
	}
	t, err := p.Int("type", 0)
	if err != nil {
		return 0, engine.Key{}, err
	}
	if t != int64(record.TypeHLS) && t != int64(record.TypeMP4) {
		return 0, engine.Key{}, Errorf(CodeInvalidArgs, "type %d is not 0 (hls) or 1 (mp4)", t)
	}
	return record.Type(t), engine.NewKey(p.Get("vhost"), p.Get("app"), p.Get("stream")), nil
}

func (r *recordEndpoints) start(ctx context.Context, p *Params) (Reply, error) {
	typ, key, err := recordTarget(p)
	if err != nil {
		return nil, err
	}
	maxSec, err := p.Int("max_second", 0)
	if err != nil {
		return nil, err
	}
	cp, err := r.customizedPath(p)
	if err != nil {
		return Reply{"result": false}, err
	}
	opts := record.Options{CustomizedPath: cp, MaxSecond: time.Duration(maxSec) * time.Second}
	started, err := r.rec.Start(ctx, key, typ, opts)
	if errors.Is(err, record.ErrNotPublished) {
		return Reply{"result": false}, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if !started {
		// Already recording: ZLMediaKit answers result false.
		return Reply{"result": false}, &Error{Code: CodeOtherFailed, Msg: "already recording"}
	}
	return Reply{"result": true}, nil
}

func (r *recordEndpoints) stop(ctx context.Context, p *Params) (Reply, error) {
	typ, key, err := recordTarget(p)
	if err != nil {
		return nil, err
	}
	stopped, err := r.rec.Stop(ctx, key, typ)
	if err != nil {
		return nil, err
	}
	if !stopped {
		return Reply{"result": false}, &Error{Code: CodeOtherFailed, Msg: "not recording"}
	}
	return Reply{"result": true}, nil
}

func (r *recordEndpoints) isRecording(ctx context.Context, p *Params) (Reply, error) {
	typ, key, err := recordTarget(p)
	if err != nil {
		return nil, err
	}
	on, err := r.rec.IsRecording(ctx, key, typ)
	if err != nil {
		return nil, err
	}
	return Reply{"status": on}, nil
}

var periodRE = regexp.MustCompile(`^\d{4}-\d{2}(-\d{2})?$`)

// files answers getMP4RecordFile: without period the days that have
// recordings, with period (YYYY-MM-DD, or YYYY-MM for every day of the
// month) the files of that day.
func (r *recordEndpoints) files(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("vhost", "app", "stream"); err != nil {
		return nil, err
	}
	_, dir, err := r.streamRootDir(p)
	if err != nil {
		return nil, err
	}
	period := p.Get("period")
	if period != "" && !periodRE.MatchString(period) {
		return nil, Errorf(CodeInvalidArgs, "period %q is not YYYY-MM-DD or YYYY-MM", period)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() || !periodRE.MatchString(e.Name()) {
			continue
		}
		switch {
		case period == "":
			paths = append(paths, e.Name())
		case strings.HasPrefix(e.Name(), period):
			files, err := os.ReadDir(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				if !f.IsDir() && strings.HasSuffix(f.Name(), ".mp4") {
					if len(period) == len("2006-01-02") {
						paths = append(paths, f.Name())
					} else {
						paths = append(paths, e.Name()+"/"+f.Name())
					}
				}
			}
		}
	}
	sort.Strings(paths)
	if paths == nil {
		paths = []string{}
	}
	rootPath := dir + string(filepath.Separator)
	if period != "" && len(period) == len("2006-01-02") {
		rootPath = filepath.Join(dir, period) + string(filepath.Separator)
	}
	return Reply{"data": map[string]any{"paths": paths, "rootPath": rootPath}}, nil
}

// streamRootDir is ROOT/APP/STREAM of the stream the parameters name and
// its ROOT, the confined customized_path or the MP4 recording root.
func (r *recordEndpoints) streamRootDir(p *Params) (root, dir string, err error) {
	key := engine.NewKey(p.Get("vhost"), p.Get("app"), p.Get("stream"))
	if err := key.Validate(); err != nil {
		return "", "", Errorf(CodeInvalidArgs, "%v", err)
	}
	root = r.mp4Root()
	cp, err := r.customizedPath(p)
	if err != nil {
		return "", "", err
	}
	if cp != "" {
		root = cp
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return root, filepath.Join(root, key.App, filepath.FromSlash(key.Stream)), nil
}

// dayName is the name of a recording day's directory.
var dayName = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// deleteDirectory is ZLMediaKit's deleteRecordDirectory: the stream's MP4
// recordings of period (YYYY-MM-DD or YYYY-MM; all of them without), or
// the one file name of that day. Only files directly in the stream's day
// directories are deleted: a stream named below this one (cam/sub) keeps
// its recordings, and nothing is reached through a symbolic link. A file
// a recorder is writing is never deleted: naming it fails, and its day
// keeps it. Deleted files leave the recording index.
func (r *recordEndpoints) deleteDirectory(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("vhost", "app", "stream"); err != nil {
		return nil, err
	}
	root, dir, err := r.streamRootDir(p)
	if err != nil {
		return nil, err
	}
	period, name := p.Get("period"), p.Get("name")
	if period != "" && !periodRE.MatchString(period) {
		return nil, Errorf(CodeInvalidArgs, "period %q is not YYYY-MM-DD or YYYY-MM", period)
	}
	if name != "" && (len(period) != len("2006-01-02") || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00")) {
		return nil, Errorf(CodeInvalidArgs, "name %q is not a file name of a day (period YYYY-MM-DD)", name)
	}
	reply := Reply{"path": dir + string(filepath.Separator)}
	switch {
	case name != "":
		reply["path"] = filepath.Join(dir, period, name)
	case len(period) == len("2006-01-02"):
		reply["path"] = filepath.Join(dir, period) + string(filepath.Separator)
	case period != "":
		reply["path"] = filepath.Join(dir, period) + "*"
	}
	// The stream's directory, links resolved, must stay in the root; below
	// it only real directories and files are touched.
	if realRoot, err := filepath.EvalSymlinks(root); err == nil {
		realDir, err := filepath.EvalSymlinks(dir)
		if err == nil {
			if rel, err := filepath.Rel(realRoot, realDir); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return reply, Errorf(CodeInvalidArgs, "%s leads out of the recording root", dir)
			}
		}
	}
	if name != "" {
		target := filepath.Join(dir, period, name)
		if st, err := os.Lstat(filepath.Join(dir, period)); err != nil || !st.IsDir() {
			return reply, &Error{Code: CodeOtherFailed, Msg: "delete failed: no such day"}
		}
		if st, err := os.Lstat(target); err != nil || !st.Mode().IsRegular() {
			return reply, &Error{Code: CodeOtherFailed, Msg: "delete failed: no such file"}
		}
		if r.rec.Writing(target) {
			return reply, &Error{Code: CodeOtherFailed, Msg: "the file is being recorded"}
		}
		if err := os.Remove(target); err != nil {
			return reply, &Error{Code: CodeOtherFailed, Msg: "delete failed: " + err.Error()}
		}
		r.unindex([]string{target})
		return reply, nil
	}
	deleted, kept, err := deleteRecordings(dir, period, r.rec.Writing)
	r.unindex(deleted)
	reply["deleted"], reply["kept"] = len(deleted), kept
	if err != nil {
		return reply, &Error{Code: CodeOtherFailed, Msg: "delete failed: " + err.Error()}
	}
	if len(deleted) == 0 && kept == 0 {
		return reply, &Error{Code: CodeOtherFailed, Msg: "no recordings there"}
	}
	return reply, nil
}

func (r *recordEndpoints) unindex(paths []string) {
	if r.index != nil && len(paths) > 0 {
		_, _ = r.index.DeleteRecordings(paths) // a stale entry is dropped at the next start
	}
}

// deleteRecordings deletes the regular files in dir's day directories of
// period (a day, a month, or all days when empty), except those writing
// reports open, then the days left empty. Directories below a day (another
// stream's) and symbolic links are left alone.
func deleteRecordings(dir, period string, writing func(string) bool) (deleted []string, kept int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	var firstErr error
	for _, day := range entries {
		// A DirEntry's type is the link's own: a linked day is no day.
		if !day.IsDir() || !dayName.MatchString(day.Name()) || !strings.HasPrefix(day.Name(), period) {
			continue
		}
		dayDir := filepath.Join(dir, day.Name())
		files, err := os.ReadDir(dayDir)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, f := range files {
			if !f.Type().IsRegular() {
				continue
			}
			path := filepath.Join(dayDir, f.Name())
			if writing(path) {
				kept++
				continue
			}
			if err := os.Remove(path); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			deleted = append(deleted, path)
		}
		_ = os.Remove(dayDir) // only when empty
	}
	return deleted, kept, firstErr
}

// maxTaskForward bounds startRecordTask's forward_ms.
const maxTaskForward = 24 * time.Hour

// startTask is ZLMediaKit's startRecordTask: the stream into one MP4 file
// at path (relative to the MP4 recording root, with its name), with the
// pre-roll the GOP cache holds (back_ms is read but the stream's latest
// keyframe is the earliest there is), for forward_ms after the call.
// Replies data.path, the file's absolute path.
func (r *recordEndpoints) startTask(ctx context.Context, p *Params) (Reply, error) {
	key, err := requireKey(p)
	if err != nil {
		return nil, err
	}
	if err := p.RequireAll("path", "forward_ms"); err != nil {
		return nil, err
	}
	if _, err := p.Int("back_ms", 0); err != nil {
		return nil, err
	}
	forward, err := p.Int("forward_ms", 0)
	if err != nil {
		return nil, err
	}
	if forward <= 0 || forward > maxTaskForward.Milliseconds() {
		return nil, Errorf(CodeInvalidArgs, "forward_ms %d: must be more than 0 and at most a day", forward)
	}
	rel := strings.TrimPrefix(filepath.ToSlash(p.Get("path")), "/")
	if !strings.EqualFold(filepath.Ext(rel), ".mp4") {
		rel += ".mp4"
	}
	if rel == ".mp4" || strings.ContainsRune(rel, 0) || strings.Contains(rel, "\\") || path.Clean("/"+rel) != "/"+rel || strings.Contains("/"+rel+"/", "/../") {
		return nil, Errorf(CodeInvalidArgs, "path %q is not a relative file path", p.Get("path"))
	}
	// Symbolic links below the root must not lead out of it.
	guard, err := access.NewPathGuard(r.mp4Root(), nil)
	if err != nil {
		return nil, err
	}
	file, err := guard.Confine(filepath.FromSlash(rel))
	if err != nil {
		return nil, Errorf(CodeInvalidArgs, "path: %v", err)
	}
	err = r.rec.StartTask(ctx, key, file, time.Duration(forward)*time.Millisecond)
	switch {
	case errors.Is(err, record.ErrNotPublished):
		return nil, errNotFound
	case errors.Is(err, record.ErrFileExists):
		return nil, &Error{Code: CodeOtherFailed, Msg: "the file exists: " + file}
	case err != nil:
		return nil, err
	}
	return Reply{"data": map[string]any{"path": file}}, nil
}
