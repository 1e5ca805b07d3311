package engine

import "time"

// Observer receives stream lifecycle events, for web hooks and logs. Its
// methods are called from stream owner goroutines and must not block: an
// implementation queues the event and returns.
type Observer interface {
	// StreamReady: a stream's tracks became known (ZLMediaKit's
	// on_stream_changed with regist=true).
	StreamReady(info StreamInfo)
	// StreamEnded: a stream that was ready ended (regist=false).
	StreamEnded(info StreamInfo)
	// StreamNoReaders: a ready stream has had no reader for
	// Config.NoneReaderDelay (on_stream_none_reader).
	StreamNoReaders(info StreamInfo)
	// StreamNotFound: a reader started waiting for a stream that is not
	// published (on_stream_not_found). reject ends that wait at once with
	// ErrNotFound; it may be called from any goroutine, later or never.
	StreamNotFound(key Key, reader SessionInfo, reject func())
	// SessionEnded: a publisher or reader finished (on_flow_report).
	SessionEnded(report SessionReport)
}

// SessionReport sums up a publisher's or reader's traffic.
type SessionReport struct {
	Key      Key
	Session  SessionInfo
	Player   bool // a reader; false for a publisher
	Bytes    int64
	Duration time.Duration
}

type nopObserver struct{}

func (nopObserver) StreamReady(StreamInfo)                  {}
func (nopObserver) StreamEnded(StreamInfo)                  {}
func (nopObserver) StreamNoReaders(StreamInfo)              {}
func (nopObserver) StreamNotFound(Key, SessionInfo, func()) {}
func (nopObserver) SessionEnded(SessionReport)              {}
