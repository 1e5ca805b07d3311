package record

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// mp4Recorder writes ROOT/APP/STREAM/YYYY-MM-DD/HH-MM-SS.mp4 files, each at
// most maxSecond long, cut on keyframes so every file starts decodable and
// consecutive files neither overlap nor leave a gap.
type mp4Recorder struct {
	recorderBase
	maxSecond time.Duration
	sync      bool

	reader   *engine.Reader // for DropTrack
	w        *mp4.Writer
	f        *os.File
	path     string
	started  time.Time
	firstDTS time.Duration
	video    *media.Track
	audio    *media.Track
	tracks   []*media.Track // of the current file

	// fixedPath, when set, is the file to write (`mediakit record
	// --mp4`); a second file, after a codec change, gets a -1 suffix.
	fixedPath string
	// exclusive creates fixedPath only if nothing is there (recording
	// tasks); `mediakit record` replaces it.
	exclusive bool
	result    Result
	// pending holds audio that comes before the first video keyframe, so
	// the file does not lose the start of the sound.
	pending []*media.Frame
	// syncFile, when set, replaces (*os.File).Sync: tests inject a
	// failing fsync, which a real disk only shows when it is failing.
	syncFile func(*os.File) error
	// wrapFile, when set, is what the writer and the space probe write
	// through: tests put a disk that fills up and empties in between.
	wrapFile func(*os.File) mp4.File

	// resume makes a write failure (a full disk) a pause rather than the
	// end: the cut file stays as it is, and a new file is tried at a
	// keyframe every retryMin, doubling up to retryMax, until one is
	// written, the stream ends or the recording is stopped. Automatic
	// recordings (enable_mp4) resume; one a caller started and can
	// start again does not.
	resume             bool
	retryMin, retryMax time.Duration
	// onDown is told when the recording stops on a failure (true) and
	// when it resumes or its Run returns (false); the Manager's
	// IsRecording reports a recording waiting to resume as stopped.
	onDown func(down bool)
	down   *outage
	// headerBytes is what the open file held before its first fragment.
	headerBytes int64
}

// outage is a resuming recording's pause after a write failure.
type outage struct {
	since    time.Time
	next     time.Time // no new file before
	backoff  time.Duration
	attempts int
}

// Default pauses between attempts to resume a recording.
const (
	defaultRetryMin = 2 * time.Second
	defaultRetryMax = 16 * time.Second
)

func (r *mp4Recorder) Run(reader *engine.Reader) {
	r.reader = reader
	for _, t := range reader.Tracks() {
		r.setTrack(t)
	}
	if r.onDown != nil {
		defer r.onDown(false)
	}
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := reader.Next(buf[:0])
		for _, f := range frames {
			if r.down != nil && r.w == nil && r.cutPoint(f) && !r.retryDue() {
				continue // no file can start before the next attempt
			}
			if werr := r.write(f); werr != nil {
				name := r.path
				if name == "" {
					name = r.fixedPath
				}
				if r.resume {
					r.pause(name, werr)
					continue
				}
				r.report("mp4 recording failed", name, werr)
				r.result.fail(name, werr)
				r.finishAfter(werr)
				return
			}
			if r.down != nil && r.w != nil && r.w.Bytes() > r.headerBytes {
				// Resumed once media is on disk, not when a file opens:
				// its first fragment may fail still.
				r.resumed()
			}
		}
		clear(frames)
		if err != nil {
			r.finish()
			r.log.Info("recording stopped", "reason", reader.Err())
			return
		}
	}
}

// cutPoint reports whether a file may start at f: a video keyframe, or
// any frame of a stream without video.
func (r *mp4Recorder) cutPoint(f *media.Frame) bool {
	if f.Track.Kind() == media.KindVideo {
		return f.Key
	}
	return r.video == nil
}

// pause ends the file a write failure cut (it stays as it is, playable
// up to its last whole fragment; one that holds no media is removed)
// and schedules the next attempt at a new file. The first failure is
// logged and counted once; failed attempts after it are not, as they
// only tell that the disk is still full.
func (r *mp4Recorder) pause(name string, err error) {
	first := r.down == nil
	if first {
		r.log.Error("mp4 recording failed; it resumes in a new file once writes succeed",
			"file", name, "error", err.Error(), "retry", r.retryMin.String())
		if r.failures != nil {
			r.failures.Add(1)
		}
		r.result.fail(name, err)
	}
	open := r.w != nil
	empty := open && r.w.Bytes() <= r.headerBytes
	path := r.path
	r.finishAfter(err)
	if empty {
		// Only ftyp and moov made it: nothing to play or to keep.
		_ = os.Remove(path)
	} else if cn, ok := r.notify.(CutNotifier); ok && open {
		cn.RecordMP4Cut(r.root, path)
	}
	r.pending = nil
	now := time.Now()
	if first {
		r.down = &outage{since: now, backoff: r.retryMin}
		if r.onDown != nil {
			r.onDown(true)
		}
	} else {
		r.down.backoff = min(2*r.down.backoff, r.retryMax)
	}
	r.down.next = now.Add(r.down.backoff)
}

// retryDue reports whether a paused recording may try a new file now:
// the pause is over and the disk takes a probe's worth of writes (so
// that an attempt on a disk still full leaves no empty .mp4 behind).
// A failed probe starts the next, longer, pause.
func (r *mp4Recorder) retryDue() bool {
	now := time.Now()
	if now.Before(r.down.next) {
		return false
	}
	r.down.attempts++
	if err := r.probeSpace(); err != nil {
		r.down.backoff = min(2*r.down.backoff, r.retryMax)
		r.down.next = now.Add(r.down.backoff)
		return false
	}
	return true
}

// probeSize is what probeSpace writes: a fragment or so of a typical
// stream.
const probeSize = 64 << 10

// probeSpace writes, syncs and removes a hidden file of probeSize in the
// stream's directory.
func (r *mp4Recorder) probeSpace() error {
	dir := r.streamDir()
	if r.fixedPath != "" {
		dir = filepath.Dir(r.fixedPath)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".space-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	var w mp4.File = f
	if r.wrapFile != nil {
		w = r.wrapFile(f)
	}
	_, err = w.WriteAt(make([]byte, probeSize), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// resumed ends the pause: a new file has media on disk.
func (r *mp4Recorder) resumed() {
	r.log.Info("mp4 recording resumed", "file", r.path,
		"after", time.Since(r.down.since).Round(time.Millisecond).String(), "attempts", r.down.attempts)
	r.down = nil
	if r.onDown != nil {
		r.onDown(false)
	}
}

func (r *mp4Recorder) setTrack(t *media.Track) {
	if !mp4.Carries(t.Codec) {
		r.drop(t, mp4.NotCarriedReason(t.Codec, false))
		return
	}
	if t.Kind() == media.KindVideo {
		r.video = t
	} else {
		r.audio = t
	}
}

func (r *mp4Recorder) currentTracks() []*media.Track {
	var out []*media.Track
	if r.video != nil {
		out = append(out, r.video)
	}
	if r.audio != nil {
		out = append(out, r.audio)
	}
	return out
}

// drop reports a track the recording leaves out; the others are
// recorded.
func (r *mp4Recorder) drop(t *media.Track, reason string) {
	if r.reader != nil {
		r.reader.DropTrack("mp4", t, reason)
	}
}

// skipped reports whether the open file's writer left t out (a track
// without a usable configuration): its frames are ignored rather than
// taken for a new configuration, which would cut a file at every
// keyframe.
func (r *mp4Recorder) skipped(t *media.Track) bool {
	for _, s := range r.w.Skipped() {
		if s == t {
			return true
		}
	}
	return false
}

// inFile reports whether t belongs to the open file.
func (r *mp4Recorder) inFile(t *media.Track) bool {
	for _, ft := range r.tracks {
		if ft == t {
			return true
		}
	}
	return false
}

func (r *mp4Recorder) write(f *media.Frame) error {
	if !mp4.Carries(f.Track.Codec) {
		r.drop(f.Track, mp4.NotCarriedReason(f.Track.Codec, false))
		return nil
	}
	isVideo := f.Track.Kind() == media.KindVideo
	// A point where a new file may start: a video keyframe, or any frame
	// of a stream without video.
	cut := (isVideo && f.Key) || (!isVideo && r.video == nil)
	if r.w != nil {
		switch {
		case r.skipped(f.Track):
			return nil
		case !r.inFile(f.Track):
			// A new configuration: the next file carries it, from the
			// next point where a file can start.
			r.setTrack(f.Track)
			if !cut {
				return nil
			}
			r.finish()
		case cut && f.DTS-r.firstDTS >= r.maxSecond:
			r.finish()
		}
	} else {
		r.setTrack(f.Track)
	}
	if r.w == nil {
		if !cut {
			if !isVideo {
				r.hold(f)
			}
			return nil // wait for a keyframe
		}
		first := f
		if len(r.pending) > 0 {
			first = r.pending[0]
		}
		if err := r.open(first); err != nil {
			return err
		}
		pending := r.pending
		r.pending = nil
		for _, p := range pending {
			if r.inFile(p.Track) {
				if err := r.w.WriteFrame(p); err != nil {
					return err
				}
			}
		}
	}
	return r.w.WriteFrame(f)
}

// hold keeps audio that arrives before the first keyframe, at most a
// second of it.
func (r *mp4Recorder) hold(f *media.Frame) {
	r.pending = append(r.pending, f)
	for len(r.pending) > 0 && f.DTS-r.pending[0].DTS > time.Second {
		r.pending[0] = nil
		r.pending = r.pending[1:]
	}
}

func (r *mp4Recorder) open(first *media.Frame) error {
	r.started = time.Now()
	var f *os.File
	var path string
	var err error
	// r.path names the file being opened from here on, so a failure to
	// create it names it rather than the previous file, or nothing.
	if r.fixedPath != "" && len(r.result.Files) == 0 {
		path = r.fixedPath
		r.path = path
		dir := filepath.Dir(path)
		if err := mkdirAllSync(dir); err != nil {
			return err
		}
		flags := os.O_RDWR | os.O_CREATE | os.O_TRUNC
		if r.exclusive {
			flags = os.O_RDWR | os.O_CREATE | os.O_EXCL // never through a link someone put there
		}
		f, err = os.OpenFile(path, flags, 0o644)
		if err == nil {
			if err = syncDir(dir); err != nil {
				f.Close()
			}
		}
	} else if r.fixedPath != "" {
		ext := filepath.Ext(r.fixedPath)
		dir, stem := filepath.Dir(r.fixedPath), strings.TrimSuffix(filepath.Base(r.fixedPath), ext)+"-"+strconv.Itoa(len(r.result.Files))
		r.path = filepath.Join(dir, stem+ext)
		f, path, err = newFile(dir, stem, ext)
	} else {
		dir, stem := filepath.Join(r.streamDir(), r.started.Format("2006-01-02")), r.started.Format("15-04-05")
		r.path = filepath.Join(dir, stem+".mp4")
		f, path, err = newFile(dir, stem, ".mp4")
	}
	if err != nil {
		return err
	}
	r.tracks = r.currentTracks()
	var mf mp4.File = f
	if r.wrapFile != nil {
		mf = r.wrapFile(f)
	}
	w, err := mp4.NewWriter(mf, r.tracks, mp4.Options{Sync: r.sync})
	if err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	r.w, r.f, r.path, r.firstDTS, r.headerBytes = w, f, path, first.DTS, w.Bytes()
	r.writing.add(path)
	for _, t := range w.Skipped() {
		r.drop(t, "no usable codec configuration for an MP4 sample entry")
	}
	r.log.Debug("mp4 file opened", "file", path)
	return nil
}

// finish finalises the open file, if any, and reports it.
func (r *mp4Recorder) finish() { r.finishAfter(nil) }

// finishAfter finalises the open file, if any. on_record_mp4 is told only
// of a file that was finalised, synced and closed without error: a hook
// that moves, uploads or deletes the file must not get one a crash could
// still truncate, or that is not a playable MP4. cause, when not nil, is
// the failure already reported for this file, not reported again when
// finalising fails with it.
func (r *mp4Recorder) finishAfter(cause error) {
	if r.w == nil {
		return
	}
	w, f, path := r.w, r.f, r.path
	r.w, r.f = nil, nil
	defer r.writing.remove(path)
	err := w.Close()
	if err == nil {
		// mp4.Writer syncs only with Options.Sync; the notification
		// promises the whole file is on disk either way, and a second
		// fsync with nothing dirty is cheap.
		err = r.fsync(f, path)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("record: close %s: %w", path, cerr)
	}
	size := int64(0)
	if st, serr := os.Stat(path); serr == nil {
		size = st.Size()
	}
	r.result.add(path, size, w.Duration(), w.Frames())
	if err != nil {
		if cause == nil || !errors.Is(err, cause) {
			r.report("mp4 file not finalised", path, err)
			r.result.fail(path, err)
		}
		return
	}
	if r.notify != nil {
		r.notify.RecordMP4(Info{
			Key: r.key, Params: r.params, StartTime: r.started, FileSize: size, TimeLen: w.Duration(),
			// As ZLMediaKit: folder is the stream's directory (with a
			// trailing separator), url is record/APP/STREAM/DATE/FILE.
			FilePath: path, FileName: filepath.Base(path), Folder: r.streamDir() + string(filepath.Separator),
			URL: "record/" + relURL(r.root, path),
		})
	}
	r.log.Info("mp4 file finished", "file", path, "duration", w.Duration().Round(time.Millisecond).String(), "bytes", size)
	if r.down != nil && cause == nil {
		// A resumed file finished (split or stream end) before its
		// first fragment reached the disk. Never on a failure: pause
		// is finishing the file then and keeps the outage.
		r.resumed()
	}
}

func (r *mp4Recorder) fsync(f *os.File, path string) error {
	sync := (*os.File).Sync
	if r.syncFile != nil {
		sync = r.syncFile
	}
	if err := sync(f); err != nil {
		return fmt.Errorf("record: sync %s: %w", path, err)
	}
	return nil
}
