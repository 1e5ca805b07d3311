package engine

import "errors"

// Errors returned to protocol adapters; they map to protocol-level answers
// (RTMP NetStream.Publish.BadName, HTTP 404, ...).
var (
	// ErrAlreadyPublishing refuses a second publisher on a live stream.
	ErrAlreadyPublishing = errors.New("stream is already being published")
	// ErrNotFound means no publisher appeared within the wait time.
	ErrNotFound = errors.New("stream not found")
	// ErrPublisherClosed is returned to a publisher that was replaced
	// (takeover), closed by the API, or has closed itself.
	ErrPublisherClosed = errors.New("publisher closed")
	// ErrReplaced is the Reason of a publisher that a new publisher
	// took the stream from (takeover).
	ErrReplaced = errors.New("replaced by a new publisher")
	// ErrReaderClosed is returned by Next after Close or a kick.
	ErrReaderClosed = errors.New("reader closed")
	// ErrReaderTooSlow ends a reader that fell too far behind.
	ErrReaderTooSlow = errors.New("reader too slow")
	// ErrEngineClosed is returned once the engine is shutting down.
	ErrEngineClosed = errors.New("engine closed")
	// ErrTooManyStreams refuses a publisher of a new stream beyond
	// Config.MaxStreams.
	ErrTooManyStreams = errors.New("too many streams")
	// ErrTooManyReaders refuses a player beyond
	// Config.MaxReadersPerStream.
	ErrTooManyReaders = errors.New("too many players of this stream")
	// ErrInvalidKey rejects an empty app or stream name.
	ErrInvalidKey = errors.New("invalid stream key")

	// errStreamGone tells a caller that the Stream it looked up has
	// finished; it looks the key up again.
	errStreamGone = errors.New("stream gone")
)
