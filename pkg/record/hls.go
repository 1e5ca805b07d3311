package record

import (
	"errors"
	"os"
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
	seg      *hls.Segmenter
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
		dir, err := newDir(filepath.Join(r.streamDir(), "hls", r.started.Format("2006-01-02")), r.started.Format("15-04-05"))
		if err != nil {
			r.log.Error("hls recording failed", "error", err.Error())
			r.result.fail("", err)
			return
		}
		r.dir = dir
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		r.log.Error("hls recording failed", "error", err.Error())
		r.result.fail(r.dir, err)
		return
	}
	r.playlist = hls.MediaPlaylist{Version: hls.PlaylistVersion, PlaylistType: "EVENT"}
	if err := r.newSegmenter(reader.Tracks(), 0, false); err != nil {
		r.log.Error("hls recording failed", "error", err.Error())
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
			werr := r.seg.WriteFrame(f)
			if errors.Is(werr, hls.ErrTrackChanged) {
				// A new codec: continue the numbering in a new muxer.
				r.seg.Flush()
				werr = r.newSegmenter(tracksWith(reader.Tracks(), f.Track), r.seg.NextSeq(), true)
				if werr == nil {
					werr = r.seg.WriteFrame(f)
				}
			}
			if werr != nil {
				r.log.Error("hls recording failed", "dir", r.dir, "error", werr.Error())
				r.result.fail(r.dir, werr)
				r.failed = true
			}
		}
		clear(frames)
		if err != nil || r.failed {
			r.seg.Flush()
			r.playlist.Ended = true
			r.writePlaylist()
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
	r.seg = seg
	return nil
}

func (r *hlsRecorder) onSegment(s *hls.Segment) {
	if r.failed {
		return
	}
	name := hls.SegmentURI(s.Seq)
	path := filepath.Join(r.dir, name)
	if err := os.WriteFile(path, s.Data, 0o644); err != nil {
		r.log.Error("hls segment not written", "file", path, "error", err.Error())
		r.result.fail("", err) // err names the file
		r.failed = true
		return
	}
	r.result.Bytes += int64(len(s.Data))
	r.playlist.Segments = append(r.playlist.Segments, hls.PlaylistSegment{
		Seq: s.Seq, Duration: s.Duration, URI: name, Discontinuity: s.Discontinuity,
	})
	if d := hls.TargetSeconds(s.Duration); d > r.playlist.TargetDuration {
		r.playlist.TargetDuration = d
	}
	r.writePlaylist()
	if r.notify != nil {
		r.notify.RecordTS(Info{
			Key: r.key, Params: r.params, StartTime: s.Created.Add(-s.Duration), FileSize: int64(len(s.Data)),
			TimeLen: s.Duration, FilePath: path, FileName: name, Folder: r.dir, URL: relURL(r.root, path),
		})
	}
}

// writePlaylist replaces the playlist atomically (write, then rename), so
// a player never reads half a file.
func (r *hlsRecorder) writePlaylist() {
	if len(r.playlist.Segments) == 0 {
		return
	}
	if r.playlist.TargetDuration == 0 {
		r.playlist.TargetDuration = 1
	}
	path := filepath.Join(r.dir, PlaylistName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, r.playlist.Marshal(), 0o644); err != nil {
		r.log.Error("hls playlist not written", "file", path, "error", err.Error())
		r.result.fail("", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		r.log.Error("hls playlist not written", "file", path, "error", err.Error())
		r.result.fail("", err)
	}
}
