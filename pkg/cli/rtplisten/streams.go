package rtplisten

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/rtpserver"
)

// Stream is what arrived from one SSRC.
type Stream struct {
	SSRC uint32 `json:"ssrc"`
	// StreamID is the SSRC as `mediakit serve` names the stream on its
	// shared RTP port (rtp/StreamID): eight upper-case hex digits.
	StreamID    string   `json:"stream_id"`
	Peer        string   `json:"peer"`      // the sender, HOST:PORT
	Transport   string   `json:"transport"` // udp or tcp
	PayloadType int      `json:"payload_type"`
	Kind        string   `json:"kind"`   // ps, ts, h264, h265, aac, opus, pcma, pcmu or unknown
	Codecs      []string `json:"codecs"` // found inside PS/TS, or the payload's own
	Packets     uint64   `json:"packets"`
	Bytes       uint64   `json:"bytes"` // RTP packets, headers included
	Lost        uint64   `json:"lost"`
	Reordered   uint64   `json:"reordered"`
	JitterMS    float64  `json:"jitter_ms"`
	// BitrateKbps is, while listening, the rate over the last seconds;
	// in the summary, the average from the first packet to the last.
	BitrateKbps float64 `json:"bitrate_kbps"`

	first, last, created time.Time
}

// LossPercent is the share of the packets sent that were lost.
func (s Stream) LossPercent() float64 {
	if s.Lost == 0 {
		return 0
	}
	return float64(s.Lost) * 100 / float64(s.Packets+s.Lost)
}

func fromInfo(st rtpserver.StreamInfo) Stream {
	kind := st.Payload
	if kind == "" {
		kind = "unknown" // still detecting, or too few packets to tell
	}
	codecs := append([]string{}, st.Codecs...)
	return Stream{
		SSRC: st.SSRC, StreamID: rtpserver.SSRCStreamID(st.SSRC),
		Peer: st.Peer.String(), Transport: st.Transport,
		PayloadType: int(st.Stats.PayloadType), Kind: kind, Codecs: codecs,
		Packets: st.Stats.Packets, Bytes: st.Stats.Bytes, Lost: st.Stats.Lost, Reordered: st.Stats.Reordered,
		JitterMS:    round(st.Stats.JitterMS, 3),
		BitrateKbps: round(st.BitrateBPS/1000, 1),
		first:       st.Stats.FirstSeen, last: st.Stats.LastSeen, created: st.Created,
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// watcher reads the registry's figures: periodically for the live table,
// and once more at the end.
type watcher struct {
	reg *rtpserver.Registry

	mu      sync.Mutex
	seen    map[uint32]Stream // the latest figures of every SSRC seen
	dropped map[string]int64
}

// poll reads the current figures and returns every stream seen so far,
// in order of arrival.
func (w *watcher) poll() []Stream {
	infos := w.reg.List()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, in := range infos {
		w.dropped = in.Dropped
		for _, st := range in.Streams {
			w.seen[st.SSRC] = fromInfo(st)
		}
	}
	return w.listLocked()
}

func (w *watcher) listLocked() []Stream {
	out := make([]Stream, 0, len(w.seen))
	for _, s := range w.seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].SSRC < out[j].SSRC
	})
	return out
}

// run polls every period and hands the figures to show, until the
// returned function is called.
func (w *watcher) run(period time.Duration, show func([]Stream)) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(period)
		defer t.Stop()
		show(w.poll())
		for {
			select {
			case <-done:
				return
			case <-t.C:
				show(w.poll())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// final takes the registry's totals once every stream has ended. Ending
// a stream delivers what its receiver still held, which counts a gap
// just before the last packets as lost, and packets may have come in
// after the last poll; the totals include both, but only summed over
// every stream, so they can replace the figures of a single stream only.
func (w *watcher) final(c rtpserver.Counts) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) != 1 {
		return
	}
	for ssrc, s := range w.seen {
		if c.Packets < int64(s.Packets) {
			return // not the totals of this stream: keep what was read
		}
		s.Packets, s.Bytes = uint64(c.Packets), uint64(c.Bytes)
		s.Lost, s.Reordered = uint64(c.Lost), uint64(c.Reordered)
		w.seen[ssrc] = s
	}
}

// streams returns the final figures, bitrates averaged over each
// stream's life.
func (w *watcher) streams() []Stream {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.listLocked()
	for i := range out {
		out[i].BitrateKbps = 0
		if d := out[i].last.Sub(out[i].first); d > 0 {
			out[i].BitrateKbps = round(float64(out[i].Bytes)*8/d.Seconds()/1000, 1)
		}
	}
	return out
}

// ignored names the packets no stream got, by reason; nil when none.
func (w *watcher) ignored() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out map[string]int64
	for reason, name := range map[string]string{"invalid": "not_rtp", "ssrc_mismatch": "other_ssrc", "rtcp": "rtcp"} {
		if n := w.dropped[reason]; n > 0 {
			if out == nil {
				out = map[string]int64{}
			}
			out[name] = n
		}
	}
	return out
}
