package api

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/record"
)

// Recorder starts and stops recordings (pkg/record's Manager).
type Recorder interface {
	Start(ctx context.Context, key engine.Key, typ record.Type, opts record.Options) (bool, error)
	Stop(ctx context.Context, key engine.Key, typ record.Type) (bool, error)
	IsRecording(ctx context.Context, key engine.Key, typ record.Type) (bool, error)
}

// RegisterRecord registers startRecord, stopRecord, isRecording and
// getMP4RecordFile. mp4Root returns the configured MP4 recording root;
// confine checks a customized_path (inside the data dir or
// record.allow_paths) and returns it resolved.
func (s *Server) RegisterRecord(rec Recorder, mp4Root func() string, confine func(string) (string, error)) {
	r := &recordEndpoints{rec: rec, mp4Root: mp4Root, confine: confine}
	s.Handle("startRecord", r.start)
	s.Handle("stopRecord", r.stop)
	s.Handle("isRecording", r.isRecording)
	s.Handle("getMP4RecordFile", r.files)
}

type recordEndpoints struct {
	rec     Recorder
	mp4Root func() string
	confine func(string) (string, error)
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
	key := engine.NewKey(p.Get("vhost"), p.Get("app"), p.Get("stream"))
	if err := key.Validate(); err != nil {
		return nil, Errorf(CodeInvalidArgs, "%v", err)
	}
	root := r.mp4Root()
	cp, err := r.customizedPath(p)
	if err != nil {
		return nil, err
	}
	if cp != "" {
		root = cp
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	dir := filepath.Join(root, key.App, filepath.FromSlash(key.Stream))
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
