package engine

import "time"

// Config tunes stream behaviour. The engine reads it at each decision, so
// SetConfig applies to live streams without a restart.
type Config struct {
	// ContinuePush is how long a stream whose publisher left keeps its
	// readers, waiting for a publisher to come back. Zero ends the stream
	// as soon as the publisher leaves.
	ContinuePush time.Duration
	// MaxStreamWait is how long a reader waits for a stream that is not
	// published yet before it gets ErrNotFound.
	MaxStreamWait time.Duration
	// Takeover lets a new publisher replace a live one instead of being
	// refused.
	Takeover bool
	// MergeWrite batches reader wake-ups: readers are woken at most once
	// per MergeWrite, so each reader writes
	// several frames per system call. Zero wakes readers on every frame.
	MergeWrite time.Duration
	// MaxReaderLag is how long a frame may wait for a reader before the
	// reader skips ahead to the latest keyframe.
	MaxReaderLag time.Duration
	// MaxReaderLagBytes ends a reader that is this many payload bytes
	// behind and has no keyframe to skip to. It bounds the memory a stuck
	// reader can pin.
	MaxReaderLagBytes int64
	// MaxGOPBytes bounds the GOP cache; a longer GOP is not cached and new
	// readers wait for the next keyframe.
	MaxGOPBytes int64
	// NoneReaderDelay is how long a ready stream must have no reader
	// before Observer.StreamNoReaders is told. Zero disables it.
	NoneReaderDelay time.Duration
	// MaxStreams bounds the streams with a publisher or in their grace
	// period; MaxReadersPerStream the players (attached or waiting) of
	// one stream. Zero: no limit. Sinks (recorders, HLS) do not count.
	MaxStreams          int64
	MaxReadersPerStream int64
}

// DefaultConfig returns the defaults of `mediakit serve`.
func DefaultConfig() Config {
	return Config{
		ContinuePush:      15 * time.Second,
		MaxStreamWait:     15 * time.Second,
		MergeWrite:        0,
		MaxReaderLag:      3 * time.Second,
		MaxReaderLagBytes: 64 << 20,
		MaxGOPBytes:       32 << 20,
		NoneReaderDelay:   20 * time.Second,
	}
}
