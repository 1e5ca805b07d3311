package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"

	"github.com/mediakit/mediakit/pkg/hook"
	"github.com/mediakit/mediakit/pkg/record"
	"github.com/mediakit/mediakit/pkg/remux"
	"github.com/mediakit/mediakit/pkg/store"
)

// recordNotifier tells the hooks and the recording index of finished
// files.
type recordNotifier struct {
	hooks *hook.Hooks
	index *record.Indexer
}

func (n recordNotifier) RecordMP4(info record.Info) {
	n.index.Add(info)
	n.hooks.RecordMP4(info)
}

func (n recordNotifier) RecordTS(info record.Info) { n.hooks.RecordTS(info) }

// RecordMP4Cut indexes the file a full disk cut short (the hooks are told
// of finished files only): the recording list shows what it holds
// without waiting for the next start's reconciliation.
func (n recordNotifier) RecordMP4Cut(root, path string) { n.index.AddCut(root, path) }

// startRecordingIndex runs the recording index writer, and brings the
// index in line with the disk in the background (files a crash left
// unindexed, files removed by hand).
func (s *Server) startRecordingIndex() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopIndex = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.recIndex.Run(ctx, s.store)
	}()
	go func() {
		defer s.wg.Done()
		mp4Root, _ := recordRoots(s.Config())
		if _, _, err := s.recIndex.Reconcile(ctx, s.store, []string{mp4Root}, s.records.Writing, s.started); err != nil {
			s.log.Error("recording index not reconciled with the disk", "error", err.Error())
		}
	}()
}

// recordIndex is the store's recording index once the store is open (at
// Start; the API serves only after).
type recordIndex struct{ s *Server }

func (x recordIndex) DeleteRecordings(paths []string) (int, error) {
	if x.s.store == nil {
		return 0, nil
	}
	return x.s.store.DeleteRecordings(paths)
}

// listSuffix ends the path of a stream's recording list:
// /record/APP/STREAM/list.
const listSuffix = "/list"

// maxListSpan bounds one list request.
const maxListSpan = 366 * 24 * time.Hour

// gapTolerance is the largest hole between two recordings that still
// counts as one covered range: files are cut on keyframes, so the next one
// starts within a frame or so of the last one's end.
const gapTolerance = 1500 * time.Millisecond

type timeSpan struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration"` // seconds
}

type listedFile struct {
	timeSpan
	Size int64  `json:"size"`
	URL  string `json:"url,omitempty"`
	Path string `json:"file_path"`
}

// serveRecordingList answers GET /record/APP/STREAM/list?start=&end=
// (RFC 3339; default the last 24 hours): the stream's MP4 recordings that
// overlap the span from the recording index, the time ranges they cover
// and the gaps between, clipped to the span.
func (s *Server) serveRecordingList(w http.ResponseWriter, r *http.Request, rest string) {
	name := strings.TrimSuffix(rest, listSuffix)
	app, stream, ok := strings.Cut(name, "/")
	if !ok || app == "" || stream == "" {
		http.NotFound(w, r)
		return
	}
	key := engine.NewKey("", app, stream)
	if err := key.Validate(); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	mp4Root, _ := recordRoots(s.Config())
	if err := s.authorizeFile(r, filepath.Join(mp4Root, app, filepath.FromSlash(stream)), name, true); err != nil {
		writeJSONError(w, http.StatusUnauthorized, err.Error())
		return
	}
	q := r.URL.Query()
	end, start := time.Now(), time.Time{}
	var err error
	if v := q.Get("end"); v != "" {
		if end, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeJSONError(w, http.StatusBadRequest, "end: "+err.Error())
			return
		}
	}
	start = end.Add(-24 * time.Hour)
	if v := q.Get("start"); v != "" {
		if start, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeJSONError(w, http.StatusBadRequest, "start: "+err.Error())
			return
		}
	}
	if !end.After(start) || end.Sub(start) > maxListSpan {
		writeJSONError(w, http.StatusBadRequest, "start must be before end, at most 366 days before")
		return
	}
	recs, err := s.store.Recordings(record.StreamName(key), start, end)
	if err != nil {
		s.log.Error("recording list failed", "stream", key.String(), "error", err.Error())
		writeJSONError(w, http.StatusInternalServerError, "index not readable")
		return
	}
	files := make([]listedFile, 0, len(recs))
	var ranges, gaps []timeSpan
	cursor := start
	for _, rec := range recs {
		f := listedFile{timeSpan: coverSpan(rec.Start, rec.End()), Size: rec.Size, Path: rec.Path}
		if rel, err := filepath.Rel(mp4Root, rec.Path); err == nil && !strings.HasPrefix(rel, "..") {
			f.URL = RecordPrefix + filepath.ToSlash(rel)
		}
		files = append(files, f)
		from, to := maxTime(rec.Start, start), minTime(rec.End(), end)
		if !to.After(from) {
			continue
		}
		if n := len(ranges); n > 0 && !from.After(ranges[n-1].End.Add(gapTolerance)) {
			if to.After(ranges[n-1].End) {
				ranges[n-1] = coverSpan(ranges[n-1].Start, to)
			}
		} else {
			if from.After(cursor) {
				gaps = append(gaps, coverSpan(cursor, from))
			}
			ranges = append(ranges, coverSpan(from, to))
		}
		cursor = maxTime(cursor, ranges[len(ranges)-1].End)
	}
	if end.After(cursor) {
		gaps = append(gaps, coverSpan(cursor, end))
	}
	writeJSON(w, map[string]any{
		"code": 0, "app": app, "stream": stream, "start": start, "end": end,
		"ranges": nonNil(ranges), "gaps": nonNil(gaps), "files": files,
	})
}

func coverSpan(from, to time.Time) timeSpan {
	return timeSpan{Start: from, End: to, Duration: to.Sub(from).Seconds()}
}

func nonNil(s []timeSpan) []timeSpan {
	if s == nil {
		return []timeSpan{}
	}
	return s
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": -1, "msg": msg})
}

// maxSpan bounds one time-range request.
const maxSpan = 24 * time.Hour

// spanFormats are the containers a span is served in, by extension: all
// streamed as they are built (MP4 as fragmented MP4, whose size need not
// be known first).
var spanFormats = map[string]struct{ format, contentType string }{
	".mp4": {remux.FormatFMP4, "video/mp4"},
	".flv": {remux.FormatFLV, "video/x-flv"},
	".ts":  {remux.FormatMPEGTS, "video/mp2t"},
}

// isSpanRequest reports whether rest (after /record/) with r's query asks
// for a time span: APP/STREAM.EXT?start=...
func isSpanRequest(r *http.Request, rest string) bool {
	_, ok := spanFormats[strings.ToLower(path.Ext(rest))]
	return ok && r.URL.Query().Has("start") && strings.Contains(rest, "/")
}

// serveRecordingSpan answers GET /record/APP/STREAM.EXT?start=RFC3339&
// duration=D (seconds, or a Go duration such as 5m): the stream's
// recordings over that span as one file, cut from the video keyframe at or
// before start to the end of the span, stitched across as many files as
// it crosses, timestamps continuous from 0, nothing transcoded, streamed
// while it is built.
func (s *Server) serveRecordingSpan(w http.ResponseWriter, r *http.Request, rest string) {
	ext := path.Ext(rest)
	name := strings.TrimSuffix(rest, ext)
	spec := spanFormats[strings.ToLower(ext)]
	app, stream, _ := strings.Cut(name, "/")
	key := engine.NewKey("", app, stream)
	if err := key.Validate(); err != nil || app == "" || stream == "" {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("stream %q: %v", name, err))
		return
	}
	mp4Root, _ := recordRoots(s.Config())
	if err := s.authorizeFile(r, filepath.Join(mp4Root, app, filepath.FromSlash(stream)), name, true); err != nil {
		writeJSONError(w, http.StatusUnauthorized, err.Error())
		return
	}
	q := r.URL.Query()
	start, err := time.Parse(time.RFC3339Nano, q.Get("start"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "start: "+err.Error())
		return
	}
	duration, err := parseSpanDuration(q.Get("duration"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "duration: "+err.Error())
		return
	}
	end := start.Add(duration)
	recs, err := s.store.Recordings(record.StreamName(key), start, end)
	if err != nil {
		s.log.Error("recording span: index not readable", "stream", key.String(), "error", err.Error())
		writeJSONError(w, http.StatusInternalServerError, "index not readable")
		return
	}
	// The index names files; each is read only if, links followed, it
	// is still inside the download roots (as /record/ and downloadFile
	// serve files): an index entry must not open a file elsewhere.
	recs = slices.DeleteFunc(recs, func(rec store.Recording) bool {
		if _, err := s.guard().downloads.Confine(rec.Path); err != nil {
			s.log.Warn("recording span: indexed file outside the recording roots left out", "file", rec.Path, "error", err.Error())
			return true
		}
		return false
	})
	if len(recs) == 0 {
		writeJSONError(w, http.StatusNotFound, "no recording of "+name+" in that span")
		return
	}
	opts := remux.Options{Output: "-", Format: spec.format, Concat: true, Log: s.log.With("stream", key.String())}
	for _, rec := range recs {
		clip := remux.Clip{}
		if start.After(rec.Start) {
			clip.From = start.Sub(rec.Start)
		}
		if end.Before(rec.End()) {
			clip.To = end.Sub(rec.Start)
		}
		opts.Inputs = append(opts.Inputs, rec.Path)
		opts.Clips = append(opts.Clips, clip)
	}
	h := w.Header()
	h.Set("Content-Type", spec.contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", fmt.Sprintf(`inline; filename="%s_%s%s"`,
		strings.ReplaceAll(name, "/", "_"), start.UTC().Format("20060102T150405Z"), ext))
	s.guard().policy.MediaCORS(h, r)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	opts.Stdout = w
	res, err := remux.Run(r.Context(), opts)
	if err != nil {
		if res.Bytes == 0 {
			h.Del("Content-Disposition")
			writeJSONError(w, http.StatusInternalServerError, err.Error())
		}
		if r.Context().Err() == nil {
			s.log.Warn("recording span not served whole", "stream", key.String(), "files", len(recs), "bytes", res.Bytes, "error", err.Error())
		}
		return
	}
	for _, warning := range res.Warnings {
		s.log.Warn("recording span", "stream", key.String(), "warning", warning)
	}
}

// parseSpanDuration reads seconds ("300", "1.5") or a Go duration ("5m").
func parseSpanDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, fmt.Errorf("missing")
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return 0, fmt.Errorf("%q is neither seconds nor a duration such as 5m", v)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d <= 0 || d > maxSpan {
		return 0, fmt.Errorf("%q: must be more than 0 and at most %v", v, maxSpan)
	}
	return d, nil
}
