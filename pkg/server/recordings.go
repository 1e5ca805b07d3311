package server

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"

	"github.com/mediakit/mediakit/pkg/hook"
	"github.com/mediakit/mediakit/pkg/record"
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
