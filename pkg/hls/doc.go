// Package hls builds live and recorded HLS (RFC 8216) from media frames:
// MPEG-TS segments, the sliding window of a live media playlist, ended
// (VOD) playlists for recordings, and a strict playlist parser for tests and
// fuzzing.
//
// It is protocol-neutral: it knows nothing of the engine or of HTTP. The
// wiring is
//
//	w := hls.NewWindow(segNum, retain)
//	seg, _ := hls.NewSegmenter(tracks, target, func(s *hls.Segment) { _ = w.Add(s) })
//	for each frame: seg.WriteFrame(f)        // one goroutine (the writer)
//	on stream end:  seg.Flush(); w.End()
//	HTTP handlers:  w.Playlist(), w.Segment(seq) with seq from ParseSegmentURI
//
// Playlist and Segment read an immutable snapshot published after each Add,
// so any number of HTTP handlers can call them concurrently with the writer
// without taking a lock.
package hls
