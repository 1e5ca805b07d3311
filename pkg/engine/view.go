package engine

import (
	"context"
	"sort"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// streamView is the owner's state as the owner last published it, so that
// snapshots (the API's stream lists, hooks' lookups) never wait for the
// owner goroutine: with a thousand streams on a busy machine, a hand-off
// to each owner in turn was most of a getMediaList call. A view is
// immutable once stored; the owner replaces it after every command and
// timer it handles, before the command's caller resumes, so a caller
// sees its own change.
type streamView struct {
	from viewSource

	publisher *SessionInfo // current, or the last one in grace/ended
	options   PublishOptions
	readers   []*ReaderInfo
	sinks     []string // sorted
}

// viewSource is what a view was built from: a view is rebuilt only when
// it differs. readers and sinks changes are counted in gen, since a set
// can change without changing its size.
type viewSource struct {
	state     State
	publisher *Publisher
	last      *SessionInfo
	published int
	waiting   int
	gen       uint64
	createdAt time.Time
}

// changed marks the readers or sinks as changed (owner only).
func (s *Stream) changed() { s.viewGen++ }

// publishView stores a new view if the owner's state changed since the
// last one (owner only).
func (s *Stream) publishView() *streamView {
	from := viewSource{
		state:     s.state,
		publisher: s.publisher,
		last:      s.lastPublisher,
		published: s.published,
		waiting:   len(s.waiters),
		gen:       s.viewGen,
		createdAt: s.createdAt,
	}
	if v := s.view.Load(); v != nil && v.from == from {
		return v
	}
	v := &streamView{from: from, options: s.options}
	if s.publisher != nil {
		pi := s.publisher.info
		v.publisher = &pi
	} else if s.lastPublisher != nil {
		pi := *s.lastPublisher
		v.publisher = &pi
	}
	v.readers = make([]*ReaderInfo, 0, len(s.readers))
	for r := range s.readers {
		v.readers = append(v.readers, &r.info)
	}
	for name := range s.sinks {
		v.sinks = append(v.sinks, name)
	}
	sort.Strings(v.sinks)
	s.view.Store(v)
	return v
}

// Info returns a snapshot of the stream as its owner last published it,
// with the media counters as of now. It does not wait for the owner; it
// reports errStreamGone once the owner has exited, so that a lookup by
// key finds the stream's successor.
func (s *Stream) Info(ctx context.Context) (StreamInfo, error) {
	if err := ctx.Err(); err != nil {
		return StreamInfo{}, err
	}
	select {
	case <-s.done:
		return StreamInfo{}, errStreamGone
	default:
	}
	return s.infoFrom(s.view.Load()), nil
}

// snapshot describes the stream as of now (owner only).
func (s *Stream) snapshot() StreamInfo { return s.infoFrom(s.publishView()) }

// infoFrom fills a StreamInfo from view and the shared counters. The
// slices it returns are the caller's own.
func (s *Stream) infoFrom(v *streamView) StreamInfo {
	var info StreamInfo
	s.fillInfo(&info, v)
	return info
}

// fillInfo sets every field of info from view and the shared counters.
// It keeps info's slices, map and publisher for their storage, so that
// one StreamInfo can be refilled for stream after stream (EachStream)
// without allocating; a zero info gets storage of its own.
func (s *Stream) fillInfo(info *StreamInfo, v *streamView) {
	readers, sinks, drops := info.Readers[:0], info.Sinks[:0], info.Drops[:0]
	stats, pub := info.TrackStats, info.Publisher
	*info = StreamInfo{
		Key:        s.key,
		State:      v.from.state,
		Ready:      s.tracks.Load() != nil,
		Waiting:    v.from.waiting,
		CreatedAt:  v.from.createdAt,
		BytesIn:    s.bytesIn.Load(),
		BytesOut:   s.bytesOut.Load(),
		FramesIn:   s.framesIn.Load(),
		Publishers: v.from.published,
		Options:    v.options,
	}
	if t := s.tracks.Load(); t != nil {
		info.Tracks = *t
	}
	if md := s.metadata.Load(); md != nil {
		info.Metadata = *md
	}
	if v.publisher != nil {
		if pub == nil {
			pub = new(SessionInfo)
		}
		*pub = *v.publisher
		info.Publisher = pub
	}
	s.appendMu.Lock()
	if len(s.trackStats) > 0 {
		if stats == nil {
			stats = make(map[*media.Track]TrackStats, len(s.trackStats))
		} else {
			clear(stats)
		}
		for _, ts := range s.trackStats {
			stats[ts.track] = ts.stats()
		}
		info.TrackStats = stats
	}
	s.appendMu.Unlock()
	if readers == nil {
		readers = make([]ReaderInfo, 0, len(v.readers))
	}
	for _, r := range v.readers {
		readers = append(readers, *r)
	}
	info.Readers = readers
	if len(v.sinks) > 0 {
		info.Sinks = append(sinks, v.sinks...)
	}
	info.Drops = s.drops.appendTo(drops)
}
