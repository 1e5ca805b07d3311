package server

import (
	"path/filepath"
	"slices"

	"github.com/mediakit/mediakit/pkg/snap"
)

// registerSnap registers getSnap: ffmpeg.bin as configured at start,
// the ffmpeg.snap template (ZLMediaKit's by default), snapshots cached in the data dir's
// snap/, local file URLs confined by the path guard. A second call
// changes nothing.
func (s *Server) registerSnap() {
	if slices.Contains(s.api.Names(), "getSnap") {
		return
	}
	cfg := s.Config()
	s.api.RegisterSnap(snap.New(snap.Options{
		Bin:      cfg.FFmpeg.Bin,
		Template: cfg.FFmpeg.Snap,
		Dir:      filepath.Join(cfg.General.DataDir, "snap"),
		Confine:  s.confinePath,
		Log:      s.log,
	}))
}
