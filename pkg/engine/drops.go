package engine

import (
	"sort"
	"sync"

	"github.com/mediakit/mediakit/pkg/media"
)

// TrackDrop says that an output left out a stream's track because its
// container or protocol cannot carry the codec.
type TrackDrop struct {
	Output string // "hls", "rtsp", "flv", "mp4", ...
	Codec  media.Codec
	Reason string
}

// trackDrops is the set of drops a stream has seen, so that each is
// logged once per stream, output and codec however many players hit it.
type trackDrops struct {
	mu   sync.Mutex
	seen map[TrackDrop]struct{} // Reason is the zero value in keys
	list []TrackDrop
}

// add records d and reports whether it is new.
func (t *trackDrops) add(d TrackDrop) bool {
	key := TrackDrop{Output: d.Output, Codec: d.Codec}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[key]; ok {
		return false
	}
	if t.seen == nil {
		t.seen = map[TrackDrop]struct{}{}
	}
	t.seen[key] = struct{}{}
	t.list = append(t.list, d)
	return true
}

// appendTo appends the drops to dst: nil for none when dst is nil.
func (t *trackDrops) appendTo(dst []TrackDrop) []TrackDrop {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(dst, t.list...)
}

// DropCounts counts track drops over the engine's life by output and
// codec, for /metrics.
type DropCounts struct {
	mu sync.Mutex
	n  map[TrackDrop]int64 // Reason is the zero value in keys
}

func (c *DropCounts) add(output string, codec media.Codec) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[TrackDrop]int64{}
	}
	c.n[TrackDrop{Output: output, Codec: codec}]++
	c.mu.Unlock()
}

// Each calls fn for every output and codec with a drop, in a stable
// order.
func (c *DropCounts) Each(fn func(output string, codec media.Codec, n int64)) {
	c.mu.Lock()
	keys := make([]TrackDrop, 0, len(c.n))
	for k := range c.n {
		keys = append(keys, k)
	}
	counts := make([]int64, len(keys))
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Output != keys[j].Output {
			return keys[i].Output < keys[j].Output
		}
		return keys[i].Codec < keys[j].Codec
	})
	for i, k := range keys {
		counts[i] = c.n[k]
	}
	c.mu.Unlock()
	for i, k := range keys {
		fn(k.Output, k.Codec, counts[i])
	}
}

// DropTrack reports that output cannot carry track t and leaves it out;
// the output goes on with the stream's other tracks. The first report per
// stream, output and codec is logged and counted in Stats.TrackDrops;
// later ones (every other player of the same output) are not.
func (r *Reader) DropTrack(output string, t *media.Track, reason string) {
	r.s.DropTrack(output, t, reason)
}

// DropTrack is Reader.DropTrack for outputs that serve a stream without a
// reader of their own (shared muxers).
func (s *Stream) DropTrack(output string, t *media.Track, reason string) {
	if t == nil || !s.drops.add(TrackDrop{Output: output, Codec: t.Codec, Reason: reason}) {
		return
	}
	s.e.stats.TrackDrops.add(output, t.Codec)
	s.e.log.Warn("track dropped: the output cannot carry its codec",
		"app", s.key.App, "stream", s.key.Stream, "output", output, "codec", t.Codec.String(), "reason", reason)
}
