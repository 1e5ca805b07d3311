package engine

import (
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// SessionInfo describes the connection behind a publisher or reader, for
// logs, the API and hooks.
type SessionInfo struct {
	ID       string // unique per connection
	Protocol string // "rtmp", "http-flv", "ws-flv", ...
	Remote   string // peer address
	Local    string // local address
	Params   string // query string of the URL, without '?'
	// OriginURL, when set, is the URL getMediaList reports as originUrl
	// (an RTP stream keeps the id it was opened with, renamed or not).
	OriginURL string
	// Authorization is the HTTP Authorization header (Basic or Bearer)
	// of an HTTP session, for the built-in authorizer. It is a
	// credential: never logged or reported.
	Authorization string
}

// State is the lifecycle state of a stream.
type State uint8

// Stream states.
const (
	StateIdle  State = iota // readers may wait; no publisher yet
	StateLive               // a publisher is attached
	StateGrace              // the publisher left; readers wait for it to return
	StateEnded              // readers get end of stream
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateLive:
		return "live"
	case StateGrace:
		return "grace"
	case StateEnded:
		return "ended"
	}
	return "unknown"
}

// StreamInfo is a snapshot of a stream: its owner's state as the owner
// last published it, and its counters as of the snapshot.
type StreamInfo struct {
	Key        Key
	State      State
	Ready      bool // tracks are known
	Tracks     []*media.Track
	Metadata   media.Metadata
	Publisher  *SessionInfo
	Readers    []ReaderInfo
	Waiting    int
	CreatedAt  time.Time // when the first publisher attached
	BytesIn    int64
	BytesOut   int64
	FramesIn   int64
	Publishers int // publishers attached over the stream's life
	// Options are the current (or last) publisher's PublishOptions.
	Options PublishOptions
	// TrackStats by track, for the tracks in Tracks.
	TrackStats map[*media.Track]TrackStats
	// Sinks are the names of the running sinks (recorders, HLS).
	Sinks []string
	// Drops are the tracks outputs left out, first report each.
	Drops []TrackDrop
}

// TrackStats counts one track's frames.
type TrackStats struct {
	Frames      int64
	KeyFrames   int64
	GOPSize     int64         // frames in the last complete GOP
	GOPInterval time.Duration // between the last two keyframes
	Duration    time.Duration // last DTS minus first DTS
	// BFrames counts video frames whose PTS is not their DTS (B-frames,
	// reordered): WebRTC players stutter on them.
	BFrames int64
}

// ReaderInfo describes one attached reader.
type ReaderInfo struct {
	SessionInfo
	Since time.Time
}
