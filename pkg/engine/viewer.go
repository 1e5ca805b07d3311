package engine

import (
	"context"
	"errors"
	"time"
)

// ErrPassiveReader is returned by Next on a reader made by Watch, which
// receives no frames.
var ErrPassiveReader = errors.New("engine: a watching reader receives no frames")

// Watch attaches a passive reader to the ready stream of key: a player
// that gets the stream from somewhere else than Next (an HLS viewer,
// served from the live muxer's window) but counts as a player all the
// same: in readerCount and getMediaPlayerList, against
// MaxReadersPerStream, and keeping on_stream_none_reader from firing. It
// holds no frame, so a viewer that stays for hours costs no memory.
//
// Unlike Play it neither asks the Authorizer (the caller did, once per
// viewer) nor waits: a stream that is not ready is ErrNotFound. Close the
// reader when the viewer leaves; it then reports its bytes like any
// player (AddBytesOut).
func (e *Engine) Watch(ctx context.Context, key Key, info SessionInfo) (*Reader, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	var r *Reader
	err := e.retry(key, false, func(s *Stream) error {
		var cause error
		if err := s.do(ctx, func() {
			max := s.e.cfg().MaxReadersPerStream
			switch {
			case s.state == StateEnded, !s.ready():
				cause = ErrNotFound
			case max > 0 && int64(s.playerCount()) >= max:
				s.e.stats.ReadersRefused.Add(1)
				cause = ErrTooManyReaders
			default:
				r = &Reader{s: s, info: ReaderInfo{SessionInfo: info, Since: time.Now()}, passive: true}
				r.ctx, r.cancelCtx = context.WithCancelCause(context.Background())
				s.readers[r] = struct{}{}
				s.changed()
				s.e.stats.Readers.Add(1)
				s.disarmIdle()
			}
		}); err != nil {
			return err
		}
		return cause
	})
	return r, err
}

// StreamEnded reports whether the stream this reader was attached to has
// ended; a watching viewer then watches the stream's successor, if any,
// through a new reader.
func (r *Reader) StreamEnded() bool {
	select {
	case <-r.s.ended:
		return true
	default:
		return false
	}
}

// Info returns a snapshot of the reader's stream (Stream.Info); for
// a sink that reports on the stream it serves.
func (r *Reader) Info(ctx context.Context) (StreamInfo, error) { return r.s.Info(ctx) }
