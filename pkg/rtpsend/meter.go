package rtpsend

import (
	"sync"
	"sync/atomic"
	"time"
)

// meter counts a sender's bytes and turns them into ZLMediaKit's
// bytesSpeed: bytes per second between two looks at least a second
// apart, the average since the start at the first look.
type meter struct {
	total atomic.Int64

	mu    sync.Mutex // guards what follows; held for arithmetic only
	at    time.Time
	last  int64
	speed int64
}

func (m *meter) add(n int) { m.total.Add(int64(n)) }

func (m *meter) rate(now, since time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := m.total.Load()
	if m.at.IsZero() {
		if d := now.Sub(since); d > 0 {
			m.speed = int64(float64(total) / d.Seconds())
		}
		m.at, m.last = now, total
		return m.speed
	}
	if d := now.Sub(m.at); d >= time.Second {
		m.speed = int64(float64(total-m.last) / d.Seconds())
		m.at, m.last = now, total
	}
	return m.speed
}
