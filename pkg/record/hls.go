package record

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

// PlaylistName is the playlist of an HLS recording.
const PlaylistName = "hls.m3u8"

// hlsRecorder writes ROOT/APP/STREAM/hls/YYYY-MM-DD/HH-MM-SS/ with MPEG-TS
// segments and a playlist rewritten after every segment; the playlist
// ends with EXT-X-ENDLIST when the recording stops.
type hlsRecorder struct {
	recorderBase
	segDur time.Duration

	dir      string
	started  time.Time
	playlist hls.MediaPlaylist
	failed   bool
	result   Result
	frames   int64
}

func (r *hlsRecorder) Run(reader *engine.Reader) {
	r.started = time.Now()
	if r.dir == "" {
		// Two recordings started within a second get HH-MM-SS and
		// HH-MM-SS-1: the second must not overwrite the first's files.
		parent := filepath.Join(r.streamDir(), "hls", r.started.Format("2006-01-02"))
		dir, err := newDir(parent, r.started.Format("15-04-05"))
		if err != nil {
			r.report("hls recording failed", parent, err)
			r.result.fail("", err)
			return
		}
		r.dir = dir
	}
	if err := mkdirAllSync(r.dir); err != nil {
		r.report("hls recording failed", r.dir, err)
		r.result.fail(r.dir, err)
		return
	}
	r.playlist = hls.MediaPlaylist{Version: hls.PlaylistVersion, PlaylistType: "EVENT"}
	seg, err := hls.NewStreamSegmenter(reader.Tracks(), r.segDur, r.onSegment, func(t *media.Track) {
		reader.DropTrack("hls-record", t, hls.DropReason(t.Codec)) // warns once per stream
	})
	if err != nil {
		r.report("hls recording failed", r.dir, err)
		r.result.fail(r.dir, err)
		return
	}
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := reader.Next(buf[:0])
		for _, f := range frames {
			if r.failed {
				break
			}
			r.frames++
			if werr := seg.WriteFrame(f, reader.Tracks()); werr != nil {
				r.report("hls recording failed", r.dir, werr)
				r.result.fail(r.dir, werr)
				r.failed = true
			}
		}
		clear(frames)
		if err != nil || r.failed {
			if !seg.Flush() && !r.failed {
				// Nothing HLS carries came (G.711 alone, say).
				err := fmt.Errorf("%w (tracks: %v)", hls.ErrNoTracks, reader.Tracks())
				r.report("hls recording failed", r.dir, err)
				r.result.fail(r.dir, err)
			}
			r.end()
			var dur time.Duration
			for _, s := range r.playlist.Segments {
				dur += s.Duration
			}
			r.result = Result{Bytes: r.result.Bytes, Duration: dur, Frames: r.frames, Segments: len(r.playlist.Segments), Err: r.result.Err}
			r.result.Files = []string{filepath.Join(r.dir, PlaylistName)}
			r.log.Info("hls recording finished", "dir", r.dir, "segments", len(r.playlist.Segments))
			return
		}
	}
}

// onSegment makes the segment durable, then the playlist naming it, then
// tells on_record_ts: after a crash at any point every segment the
// playlist names exists whole, and every notified segment is in it.
//
// Per segment that is two file fsyncs and one directory fsync. The
// segment's rename is made durable by the directory fsync that follows
// the playlist's rename in the same directory, not by one of its own:
// until then the playlist on disk is the previous one, which does not
// name the segment. That relies on the file system keeping the order of
// renames within a directory (ext4, XFS, btrfs, ZFS, APFS and NTFS
// journal them in order), and saves a third of the time (3.0 to 2.0 ms a
// segment on ext4).
func (r *hlsRecorder) onSegment(s *hls.Segment) {
	if r.failed {
		return
	}
	name := hls.SegmentURI(s.Seq)
	path := filepath.Join(r.dir, name)
	if err := replaceFile(path, s.Data); err != nil {
		r.fail("hls segment not written", path, err)
		return
	}
	n, target := len(r.playlist.Segments), r.playlist.TargetDuration
	r.playlist.Segments = append(r.playlist.Segments, hls.PlaylistSegment{
		Seq: s.Seq, Duration: s.Duration, URI: name, Discontinuity: s.Discontinuity,
	})
	if d := hls.TargetSeconds(s.Duration); d > r.playlist.TargetDuration {
		r.playlist.TargetDuration = d
	}
	if err := r.writePlaylist(); err != nil {
		// The segment stays on disk but out of the recording: the
		// playlist ended when the recording stops must not name a
		// segment nobody was told of.
		r.playlist.Segments, r.playlist.TargetDuration = r.playlist.Segments[:n], target
		r.fail("hls playlist not written", r.playlistPath(), err)
		return
	}
	r.result.Bytes += int64(len(s.Data))
	if r.notify != nil {
		r.notify.RecordTS(Info{
			Key: r.key, Params: r.params, StartTime: s.Created.Add(-s.Duration), FileSize: int64(len(s.Data)),
			TimeLen: s.Duration, FilePath: path, FileName: name, Folder: r.dir, URL: relURL(r.root, path),
		})
	}
}

// fail reports a write failure and stops the recording.
func (r *hlsRecorder) fail(msg, file string, err error) {
	r.report(msg, file, err)
	r.result.fail("", err) // err names the file
	r.failed = true
}

// end writes the playlist with EXT-X-ENDLIST, after the last segment.
func (r *hlsRecorder) end() {
	r.playlist.Ended = true
	err := r.writePlaylist()
	switch {
	case err == nil:
	case r.failed:
		// Already reported and counted: the recording stopped on the
		// failure this probably repeats.
		r.log.Warn("hls playlist not ended", "file", r.playlistPath(), "error", err.Error())
	default:
		r.fail("hls playlist not written", r.playlistPath(), err)
	}
}

func (r *hlsRecorder) playlistPath() string { return filepath.Join(r.dir, PlaylistName) }

// writePlaylist replaces the playlist durably and atomically, so a player
// never reads half a file and a crash leaves the last complete one.
func (r *hlsRecorder) writePlaylist() error {
	if len(r.playlist.Segments) == 0 {
		return nil
	}
	if r.playlist.TargetDuration == 0 {
		r.playlist.TargetDuration = 1
	}
	return writeFileSync(r.playlistPath(), r.playlist.Marshal())
}
