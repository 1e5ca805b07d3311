package zlm

import (
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// SpeedMeter turns a stream's running byte total into ZLMediaKit's
// bytesSpeed (bytes per second), from the difference between two looks at
// least a second apart.
type SpeedMeter struct {
	mu      sync.Mutex
	samples map[engine.Key]speedSample
	sweep   uint64 // the latest Sweep
}

type speedSample struct {
	created time.Time // the stream's CreatedAt, to tell a new stream of the same name
	at      time.Time
	bytes   int64
	speed   int64
	seen    uint64 // the sweep during which Speed last looked
}

// Speed returns the receive rate of the stream described by info.
func (m *SpeedMeter) Speed(info engine.StreamInfo, now time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.samples == nil {
		m.samples = make(map[engine.Key]speedSample)
	}
	s, ok := m.samples[info.Key]
	if !ok || info.BytesIn < s.bytes || !info.CreatedAt.Equal(s.created) {
		// first look (or a new stream of that name): the average so far
		speed := int64(0)
		if alive := now.Sub(info.CreatedAt); !info.CreatedAt.IsZero() && alive > 0 {
			speed = int64(float64(info.BytesIn) / alive.Seconds())
		}
		m.samples[info.Key] = speedSample{created: info.CreatedAt, at: now, bytes: info.BytesIn, speed: speed, seen: m.sweep}
		return speed
	}
	if d := now.Sub(s.at); d >= time.Second {
		s.speed = int64(float64(info.BytesIn-s.bytes) / d.Seconds())
		s.at, s.bytes = now, info.BytesIn
	}
	s.seen = m.sweep
	m.samples[info.Key] = s
	return s.speed
}

// Sweep begins a look at every stream, for ForgetUnseen. Looks may
// overlap: a stream that a later look has seen is kept.
func (m *SpeedMeter) Sweep() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep++
	return m.sweep
}

// ForgetUnseen drops the streams Speed was not asked about since Sweep
// returned sweep, so the meter does not grow.
func (m *SpeedMeter) ForgetUnseen(sweep uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.samples {
		if s.seen < sweep {
			delete(m.samples, k)
		}
	}
}

// Drop forgets one stream.
func (m *SpeedMeter) Drop(key engine.Key) {
	m.mu.Lock()
	delete(m.samples, key)
	m.mu.Unlock()
}
