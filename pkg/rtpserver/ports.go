package rtpserver

import "fmt"

// PortRange is the range openRtpServer picks from when asked for port 0
// (ZLMediaKit's rtp_proxy.port_range).
type PortRange struct{ Min, Max int }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Min, r.Max) }

// portPool hands out even ports of a range (RTP uses the even port of a
// pair; the odd one above is its RTCP) round robin, so a port just closed
// is the last to be handed out again and a late packet for the old stream
// does not land in a new one. It belongs to the Registry and is used under
// its lock.
type portPool struct {
	rng  PortRange
	next int
	used map[int]int // port -> servers bound to it (>1 only with re_use_port)
}

func newPortPool(r PortRange) *portPool {
	p := &portPool{used: make(map[int]int)}
	p.setRange(r)
	return p
}

func (p *portPool) setRange(r PortRange) {
	p.rng = r
	if p.next < r.Min || p.next > r.Max {
		p.next = r.Min
	}
}

// candidates returns the free even ports of the range, starting after the
// last one handed out.
func (p *portPool) candidates() []int {
	first := p.rng.Min + p.rng.Min%2
	if first+1 > p.rng.Max {
		return nil
	}
	count := (p.rng.Max-1-first)/2 + 1
	startIdx := 0
	if p.next >= first {
		startIdx = ((p.next - first + 1) / 2) % count
	}
	out := make([]int, 0, 16)
	for i := 0; i < count; i++ {
		port := first + 2*((startIdx+i)%count)
		if p.used[port] == 0 && p.used[port+1] == 0 {
			out = append(out, port)
		}
	}
	return out
}

func (p *portPool) take(port int) {
	p.used[port]++
	if port >= p.rng.Min && port <= p.rng.Max {
		p.next = port + 2
	}
}

func (p *portPool) release(port int) {
	if p.used[port] <= 1 {
		delete(p.used, port)
		return
	}
	p.used[port]--
}

// inUse reports whether a server of the registry holds port.
func (p *portPool) inUse(port int) bool { return p.used[port] > 0 }
