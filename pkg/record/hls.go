package record

import (
	"errors"
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
	seg      *hls.Segmenter // nil until a track HLS carries is known
	playlist hls.MediaPlaylist
	failed   bool
	result   Result
	frames   int64
	warned   map[media.Codec]bool // codecs said to be dropped
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
	err := r.newSegmenter(reader.Tracks(), 0, false)
	if errors.Is(err, hls.ErrNoTracks) {
		// Nothing HLS carries yet (G.711 alone, say): wait for a track
		// declared later, such as video whose first keyframe came late.
		for _, t := range reader.Tracks() {
			if !hls.CanCarry(t.Codec) {
				r.warnDropped(t)
			}
		}
		err = nil
	}
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
			if werr := r.write(reader, f); werr != nil {
				r.report("hls recording failed", r.dir, werr)
				r.result.fail(r.dir, werr)
				r.failed = true
			}
		}
		clear(frames)
		if err != nil || r.failed {
			if r.seg != nil {
				r.seg.Flush()
			} else if !r.failed {
				err := fmt.Errorf("%w (tracks: %v)", hls.ErrNoTracks, reader.Tracks())
				r.report("hls recording failed", r.dir, err)
				r.result.fail(r.dir, err)
			}
			r.end()
			var dur time.Duration
			var size int64
			for _, s := range r.playlist.Segments {
				dur += s.Duration
			}
			size = r.result.Bytes
			r.result = Result{Bytes: size, Duration: dur, Frames: r.frames, Segments: len(r.playlist.Segments), Err: r.result.Err}
			r.result.Files = []string{filepath.Join(r.dir, PlaylistName)}
			r.log.Info("hls recording finished", "dir", r.dir, "segments", len(r.playlist.Segments))
			return
		}
	}
}

// write segments f. The segmenter starts at the first frame of a track
// HLS carries and is rebuilt when the codec changes.
func (r *hlsRecorder) write(reader *engine.Reader, f *media.Frame) error {
	if r.seg == nil {
		if !hls.CanCarry(f.Track.Codec) {
			r.warnDropped(f.Track)
			return nil
		}
		if err := r.newSegmenter(tracksWith(reader.Tracks(), f.Track), 0, false); err != nil {
			return err
		}
		return r.seg.WriteFrame(f)
	}
	err := r.seg.WriteFrame(f)
	if errors.Is(err, hls.ErrTrackChanged) {
		// A new codec: continue the numbering in a new muxer.
		r.seg.Flush()
		if err = r.newSegmenter(tracksWith(reader.Tracks(), f.Track), r.seg.NextSeq(), true); err == nil {
			err = r.seg.WriteFrame(f)
		}
	}
	return err
}

// warnDropped says, once per codec and recording, that HLS leaves a track
// out; the video (and any AAC) is recorded without it.
func (r *hlsRecorder) warnDropped(t *media.Track) {
	if r.warned[t.Codec] {
		return
	}
	if r.warned == nil {
		r.warned = map[media.Codec]bool{}
	}
	r.warned[t.Codec] = true
	r.log.Warn(hls.DroppedTrackMessage(t))
}

// tracksWith replaces the track of t's kind in tracks by t.
func tracksWith(tracks []*media.Track, t *media.Track) []*media.Track {
	out := []*media.Track{t}
	for _, o := range tracks {
		if o.Kind() != t.Kind() {
			out = append(out, o)
		}
	}
	return out
}

func (r *hlsRecorder) newSegmenter(tracks []*media.Track, nextSeq uint64, discontinuity bool) error {
	seg, err := hls.NewSegmenter(tracks, r.segDur, r.onSegment)
	if err != nil {
		return err
	}
	if nextSeq > 0 || discontinuity {
		seg.SetNextSeq(nextSeq, discontinuity)
	}
	seg.OnDroppedTrack(r.warnDropped)
	r.seg = seg
	return nil
}

// onSegment makes the segment durable, then the playlist naming it, then
// tells on_record_ts: after a crash at any point every segment the
// playlist names exists whole, and every notified segment is in it.
func (r *hlsRecorder) onSegment(s *hls.Segment) {
	if r.failed {
		return
	}
	name := hls.SegmentURI(s.Seq)
	path := filepath.Join(r.dir, name)
	if err := writeFileSync(path, s.Data); err != nil {
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
