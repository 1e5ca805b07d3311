// Package llhls serves fMP4 HLS with low-latency HLS (partial segments,
// blocking playlist reload with _HLS_msn/_HLS_part, preload hints,
// EXT-X-SERVER-CONTROL CAN-BLOCK-RELOAD and PART-HOLD-BACK) at
// /APP/STREAM/hls.fmp4.m3u8, on bluenviron/gohlslib's low-latency muxer as
// MediaMTX serves it.
//
// A stream has at most one muxer whatever the number of viewers: an
// engine sink (Server.NewSink) that converts engine frames (AVCC video,
// raw AAC and Opus frames, time.Duration stamps) into gohlslib's access
// units and clock-rate timestamps. It starts at the first playlist
// request (or with the stream when the server's policy says so) and stops
// after Settings.IdleTimeout without a request. When a stream's tracks
// change the muxer is replaced by a new gohlslib instance, whose file
// names carry a new prefix.
//
// URL layout, all relative to /APP/STREAM/:
//
//	hls.fmp4.m3u8                 multivariant playlist (gohlslib's index.m3u8)
//	hls.fmp4/video1_stream.m3u8   media playlists (blocking reload)
//	hls.fmp4/PREFIX_video1_init.mp4, _segN.mp4, _partN.mp4
//
// which stays clear of MPEG-TS HLS's hls.m3u8 and hls-N.ts.
package llhls
