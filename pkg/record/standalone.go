package record

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// Result sums up what a recorder wrote; read it after its Run returned.
type Result struct {
	Files    []string
	Bytes    int64
	Duration time.Duration
	Frames   int64
	Segments int // HLS
	// Err is the failure that stopped the recorder early (a file that
	// cannot be created or written, or not finalised), naming the file;
	// nil when it recorded until its reader ended.
	Err error
}

// fail keeps the first failure, naming what failed.
func (r *Result) fail(name string, err error) {
	if r.Err != nil || err == nil {
		return
	}
	if name != "" {
		err = fmt.Errorf("%s: %w", name, err)
	}
	r.Err = err
}

func (r *Result) add(path string, size int64, d time.Duration, frames int64) {
	r.Files = append(r.Files, path)
	r.Bytes += size
	r.Duration += d
	r.Frames += frames
}

// FileSink is a recorder writing to paths the caller chose rather than
// the server's layout (`mediakit record`).
type FileSink interface {
	engine.Sink
	Result() Result
}

// NewMP4File records to one MP4 file at path (a codec change mid-stream
// starts path-1.mp4, path-2.mp4, ...). sync fsyncs every fragment.
func NewMP4File(path string, sync bool, log *slog.Logger) FileSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &mp4Recorder{
		recorderBase: recorderBase{root: filepath.Dir(path), log: log.With("file", path)},
		maxSecond:    1<<63 - 1,
		sync:         sync,
		fixedPath:    path,
	}
}

// NewHLSDir records HLS into dir: segments of about segDur and
// PlaylistName, ended with EXT-X-ENDLIST when the recording stops.
func NewHLSDir(dir string, segDur time.Duration, log *slog.Logger) FileSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &hlsRecorder{
		recorderBase: recorderBase{root: dir, log: log.With("dir", dir)},
		segDur:       segDur,
		dir:          dir,
	}
}

func (r *mp4Recorder) Result() Result { return r.result }
func (r *hlsRecorder) Result() Result { return r.result }
