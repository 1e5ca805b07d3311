package livehttp

import (
	"net/url"
	"strings"
	"sync"

	"github.com/mediakit/mediakit/pkg/engine"
)

// ParseSuffixPath returns the stream key of a URL path /APP/STREAM+suffix
// (the stream name may hold '/'), with the vhost taken from the query's
// vhost parameter.
func ParseSuffixPath(path string, query url.Values, suffix string) (engine.Key, bool) {
	name, ok := strings.CutSuffix(path, suffix)
	if !ok {
		return engine.Key{}, false
	}
	app, stream, ok := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if !ok || app == "" || stream == "" {
		return engine.Key{}, false
	}
	return engine.NewKey(query.Get("vhost"), app, stream), true
}

// Shared holds, per stream, the muxer its players share, M, for the
// track set named by a signature: players of a stream whose tracks
// changed get a new muxer, while those of the old one keep theirs until
// they leave. The zero value is ready to use.
type Shared[M any] struct {
	mu sync.Mutex
	m  map[engine.Key]*sharedMux[M]
}

type sharedMux[M any] struct {
	mux  M
	sig  string
	refs int
}

// Acquire returns the muxer of key for sig, made by create when the
// stream has none or one for another signature, and the function that
// releases it when the player leaves.
func (s *Shared[M]) Acquire(key engine.Key, sig string, create func() (M, error)) (M, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[engine.Key]*sharedMux[M])
	}
	e := s.m[key]
	if e == nil || e.sig != sig {
		mux, err := create()
		if err != nil {
			var zero M
			return zero, nil, err
		}
		e = &sharedMux[M]{mux: mux, sig: sig}
		s.m[key] = e
	}
	e.refs++
	return e.mux, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		e.refs--
		if e.refs == 0 && s.m[key] == e {
			delete(s.m, key)
		}
	}, nil
}

// Len reports how many streams have a muxer.
func (s *Shared[M]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
