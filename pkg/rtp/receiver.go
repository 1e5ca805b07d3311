package rtp

import (
	"sync"
	"time"

	pionrtp "github.com/pion/rtp"
)

// Resync is the lost value emit gets with the first packet of a new
// sequence: the sender changed SSRC or its sequence numbers jumped, so how
// much was lost is unknown. Callers treat it like a loss (reset the
// depacketizer or demuxer and wait for a keyframe); "lost != 0" covers both.
const Resync = -1

// Receiver defaults.
const (
	DefaultWindow    = 64
	DefaultMaxDelay  = 100 * time.Millisecond
	DefaultClockRate = 90000
)

const (
	// RFC 3550 appendix A.1: a packet up to maxDropout ahead is in the
	// sequence (with a gap), one up to maxMisorder behind is late or a
	// duplicate, anything else is a jump that needs confirming.
	maxDropout  = 3000
	maxMisorder = 100

	// ssrcSwitchPackets packets in a row from another SSRC make the
	// receiver follow that sender. Fewer are taken for strays, so two
	// senders interleaving on one port do not make it flip back and forth.
	ssrcSwitchPackets = 4

	// seqBase offsets extended sequence numbers so they stay positive even
	// maxMisorder (or a whole 16-bit half range) behind the first packet.
	seqBase = 1 << 16

	histBits = 128 // delivered-or-skipped history, covers maxMisorder
)

// Receiver follows one RTP sender: it delivers its packets in sequence order,
// waits a little for gaps to fill, and keeps Stats.
//
// A gap is waited for until Window packets beyond it have arrived or until a
// packet held behind it has waited MaxDelay (by the arrival times given to
// Push; the receiver never reads a clock). Then the receiver gives up on the
// missing packets and delivers the next one with lost set to their number.
// The first packet of a sequence is held until the second arrives, so that
// a swapped pair at the start loses nothing.
//
// Sequence numbers follow RFC 3550 appendix A.1: a packet up to 100 behind
// is late or a duplicate and dropped; one more than 3000 ahead or 100 behind
// is dropped unless the next packet continues from it, which makes it the
// start of a new sequence (emitted with lost == Resync). A packet of another
// SSRC is dropped too, unless 4 come in a row: then the receiver follows the
// new sender, also with a Resync.
//
// The zero value is ready to use. Set the exported fields before the first
// Push. Push and Flush are for one goroutine; Stats and Bitrate may be called
// from any goroutine at any time.
type Receiver struct {
	// ClockRate of the RTP timestamps, for the jitter (default 90000).
	ClockRate uint32
	// Window is how many packets the receiver holds at most, and how far
	// (in sequence numbers) a packet may be ahead of the next one to
	// deliver (default 64, at most 3000).
	Window int
	// MaxDelay is how long a held packet waits for the gap before it
	// (default 100 ms; negative: no time limit, only Window).
	MaxDelay time.Duration

	mu   sync.Mutex // guards st and rate
	st   Stats
	rate rateWindow

	// Everything below belongs to the goroutine calling Push.
	delta    counts // counter changes of the current call, committed under mu
	window   int
	maxDelay time.Duration
	clock    float64

	started     bool
	ssrc        uint32
	next        int64  // extended sequence number to deliver next
	maxExt      int64  // highest extended sequence number accepted
	slots       []held // ring indexed by extended sequence number mod window
	nHeld       int
	pendingLost int  // skipped since the last delivery
	resync      bool // the next delivery starts a new sequence
	holdFirst   bool // the next packet is the first of a sequence: hold it
	fresh       bool // nothing delivered since the sequence started
	hist        [histBits / 64]uint64
	probe       held   // a packet after a jump, waiting for its successor
	cand        []held // packets of another SSRC, waiting to make a switch

	// The held packet that arrived first, so that expire need not scan
	// the window on every Push; recomputed when that one is delivered.
	oldestAt  time.Time
	oldestExt int64
	oldestOK  bool

	jitter  float64 // RFC 3550 J, in timestamp units
	jitAt   time.Time
	jitTS   uint32
	jitInit bool
}

type held struct {
	p  *pionrtp.Packet
	at time.Time
}

type counts struct {
	lost, reordered, dup, late, stray, resyncs uint64
}

// Push takes the next packet in arrival order and calls emit, zero or more
// times before it returns, with the packets that are now in sequence. lost
// is the number of packets missing just before p (0 when none), or Resync.
//
// The receiver keeps p until it is emitted, so p and its payload must not be
// reused by the caller before that (pion's Packet.Unmarshal keeps the buffer
// it is given as the payload). emit must not call Push or Flush.
func (r *Receiver) Push(p *pionrtp.Packet, arrival time.Time, emit func(p *pionrtp.Packet, lost int)) {
	if r.slots == nil {
		r.setup()
	}
	r.delta = counts{}
	switch {
	case !r.started:
		r.restart(p, false)
		r.sequence(p, arrival, emit)
	case p.SSRC != r.ssrc:
		r.foreign(p, arrival, emit)
	default:
		if len(r.cand) > 0 {
			r.delta.stray += uint64(len(r.cand))
			r.dropCandidates()
		}
		r.sequence(p, arrival, emit)
	}
	r.expire(arrival, emit)
	r.commit(p, arrival)
}

// Flush delivers every held packet in order, for the end of a stream. A
// packet waiting to confirm a jump or an SSRC switch is dropped (Stray).
func (r *Receiver) Flush(emit func(p *pionrtp.Packet, lost int)) {
	if r.slots == nil {
		return
	}
	r.delta = counts{}
	r.flush(emit)
	if r.probe.p != nil {
		r.delta.stray++
		r.probe = held{}
	}
	r.delta.stray += uint64(len(r.cand))
	r.dropCandidates()
	r.mu.Lock()
	r.addCounts()
	r.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Bitrate is the received bit rate (RTP headers and payload) in bits per
// second over the last 4 s before now, where now is on the clock of the
// arrival times given to Push. It falls to 0 when packets stop coming.
func (r *Receiver) Bitrate(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.Packets == 0 {
		return 0
	}
	return r.rate.bitsPerSecond(now.Sub(r.st.FirstSeen))
}

func (r *Receiver) setup() {
	r.window = r.Window
	if r.window <= 0 {
		r.window = DefaultWindow
	}
	r.window = min(r.window, maxDropout)
	r.maxDelay = r.MaxDelay
	switch {
	case r.maxDelay == 0:
		r.maxDelay = DefaultMaxDelay
	case r.maxDelay < 0:
		r.maxDelay = 0
	}
	r.clock = DefaultClockRate
	if r.ClockRate != 0 {
		r.clock = float64(r.ClockRate)
	}
	r.slots = make([]held, r.window)
	r.cand = make([]held, 0, ssrcSwitchPackets)
}

// restart makes p the first packet of a new sequence. Nothing may be held.
func (r *Receiver) restart(p *pionrtp.Packet, resync bool) {
	r.started = true
	r.ssrc = p.SSRC
	r.next = seqBase + int64(p.SequenceNumber)
	r.maxExt = r.next
	r.pendingLost = 0
	r.resync = resync
	r.holdFirst, r.fresh = true, true
	r.hist = [len(r.hist)]uint64{}
	r.jitInit = false
	if resync {
		r.delta.resyncs++
	}
}

// sequence places a packet of the followed SSRC.
func (r *Receiver) sequence(p *pionrtp.Packet, at time.Time, emit func(*pionrtp.Packet, int)) {
	ext := r.next + int64(int16(p.SequenceNumber-uint16(r.next)))
	d := ext - r.next
	switch {
	case d >= 0 && d < maxDropout:
		r.dropProbe()
		r.accept(p, at, ext, emit)
	case d < 0 && r.fresh && r.maxExt-ext < int64(r.window):
		// Before the first delivery a packet that was sent before the
		// first one to arrive still counts: start the sequence there.
		r.dropProbe()
		r.next = ext
		r.accept(p, at, ext, emit)
	case d < 0 && d >= -maxMisorder:
		r.dropProbe()
		if r.delivered(ext) {
			r.delta.dup++
		} else {
			r.delta.late++
			r.delta.reordered++
		}
	case r.probe.p != nil && p.SequenceNumber == r.probe.p.SequenceNumber+1:
		// Two packets in a row agree on the new numbering: the sender
		// restarted (RFC 3550 A.1 does the same with bad_seq).
		first := r.probe
		r.probe = held{}
		r.flush(emit)
		r.restart(first.p, true)
		r.sequence(first.p, first.at, emit)
		r.sequence(p, at, emit)
	default:
		r.dropProbe()
		r.probe = held{p, at}
	}
}

// foreign handles a packet from an SSRC other than the followed one.
func (r *Receiver) foreign(p *pionrtp.Packet, at time.Time, emit func(*pionrtp.Packet, int)) {
	if len(r.cand) > 0 && r.cand[0].p.SSRC != p.SSRC {
		r.delta.stray += uint64(len(r.cand))
		r.dropCandidates()
	}
	r.cand = append(r.cand, held{p, at})
	if len(r.cand) < ssrcSwitchPackets {
		return
	}
	var cand [ssrcSwitchPackets]held
	copy(cand[:], r.cand)
	r.dropCandidates()
	r.flush(emit)
	r.dropProbe()
	r.restart(cand[0].p, true)
	for _, h := range cand {
		r.sequence(h.p, h.at, emit)
	}
}

// accept holds or delivers a packet at most maxDropout ahead.
func (r *Receiver) accept(p *pionrtp.Packet, at time.Time, ext int64, emit func(*pionrtp.Packet, int)) {
	if ext-r.next >= int64(r.window) {
		r.skipTo(ext-int64(r.window)+1, emit)
	}
	i := r.index(ext)
	if r.slots[i].p != nil {
		r.delta.dup++
		return
	}
	if ext < r.maxExt {
		r.delta.reordered++
	} else {
		r.maxExt = ext
	}
	r.updateJitter(p, at)
	if ext == r.next && r.nHeld == 0 && !r.holdFirst {
		r.deliver(p, emit)
		return
	}
	r.slots[i] = held{p, at}
	r.nHeld++
	if r.nHeld == 1 || (r.oldestOK && at.Before(r.oldestAt)) {
		r.oldestAt, r.oldestExt, r.oldestOK = at, ext, true
	}
	if r.holdFirst {
		// The first packet waits for the second (or MaxDelay), in case
		// the two were swapped on the way.
		r.holdFirst = false
		return
	}
	r.drain(emit)
}

// expire gives up on gaps that held packets have waited MaxDelay for.
func (r *Receiver) expire(now time.Time, emit func(*pionrtp.Packet, int)) {
	for r.nHeld > 0 && r.maxDelay > 0 {
		if !r.oldestOK {
			r.findOldest()
		}
		if now.Sub(r.oldestAt) < r.maxDelay {
			return
		}
		r.skipTo(r.oldestExt, emit)
		r.drain(emit)
	}
}

// findOldest scans the window for the held packet that arrived first.
func (r *Receiver) findOldest() {
	r.oldestOK = false
	for e, seen := r.next, 0; seen < r.nHeld; e++ {
		if s := r.slots[r.index(e)]; s.p != nil {
			if !r.oldestOK || s.at.Before(r.oldestAt) {
				r.oldestAt, r.oldestExt, r.oldestOK = s.at, e, true
			}
			seen++
		}
	}
}

// skipTo gives up on every sequence number before target, delivering the
// held packets among them.
func (r *Receiver) skipTo(target int64, emit func(*pionrtp.Packet, int)) {
	for r.next < target {
		if r.nHeld == 0 {
			n := target - r.next
			r.pendingLost += int(n)
			r.delta.lost += uint64(n)
			r.forget(r.next, n)
			r.next = target
			return
		}
		r.step(emit)
	}
}

// flush delivers every held packet, giving up on the gaps between them.
func (r *Receiver) flush(emit func(*pionrtp.Packet, int)) {
	for r.nHeld > 0 {
		r.step(emit)
	}
}

// step delivers the held packet at r.next or gives up on that number.
func (r *Receiver) step(emit func(*pionrtp.Packet, int)) {
	if p := r.take(); p != nil {
		r.deliver(p, emit)
		return
	}
	r.pendingLost++
	r.delta.lost++
	r.forget(r.next, 1)
	r.next++
}

// drain delivers the held packets that are now in sequence.
func (r *Receiver) drain(emit func(*pionrtp.Packet, int)) {
	for r.nHeld > 0 {
		p := r.take()
		if p == nil {
			return
		}
		r.deliver(p, emit)
	}
}

// take removes the held packet at r.next, if there is one.
func (r *Receiver) take() *pionrtp.Packet {
	i := r.index(r.next)
	p := r.slots[i].p
	if p == nil {
		return nil
	}
	r.slots[i] = held{}
	r.nHeld--
	if r.oldestExt == r.next {
		r.oldestOK = false
	}
	return p
}

func (r *Receiver) deliver(p *pionrtp.Packet, emit func(*pionrtp.Packet, int)) {
	lost := r.pendingLost
	if r.resync {
		lost, r.resync = Resync, false
	}
	r.pendingLost, r.fresh = 0, false
	r.hist[r.next/64%int64(len(r.hist))] |= 1 << (r.next % 64)
	r.next++
	emit(p, lost)
}

func (r *Receiver) delivered(ext int64) bool {
	return r.hist[ext/64%int64(len(r.hist))]&(1<<(ext%64)) != 0
}

// forget marks n sequence numbers from ext as skipped in the history.
func (r *Receiver) forget(ext, n int64) {
	if n >= histBits {
		r.hist = [len(r.hist)]uint64{}
		return
	}
	for e := ext; e < ext+n; e++ {
		r.hist[e/64%int64(len(r.hist))] &^= 1 << (e % 64)
	}
}

func (r *Receiver) index(ext int64) int { return int(ext % int64(r.window)) }

func (r *Receiver) dropProbe() {
	if r.probe.p != nil {
		r.delta.stray++
		r.probe = held{}
	}
}

func (r *Receiver) dropCandidates() {
	clear(r.cand)
	r.cand = r.cand[:0]
}

// updateJitter applies RFC 3550 section 6.4.1 to a packet of the followed
// sender, in arrival order: D is the difference between the spacing of two
// consecutive arrivals and the spacing of their timestamps.
func (r *Receiver) updateJitter(p *pionrtp.Packet, at time.Time) {
	if r.jitInit {
		d := at.Sub(r.jitAt).Seconds()*r.clock - float64(int32(p.Timestamp-r.jitTS))
		if d < 0 {
			d = -d
		}
		r.jitter += (d - r.jitter) / 16
	}
	r.jitAt, r.jitTS, r.jitInit = at, p.Timestamp, true
}

func (r *Receiver) commit(p *pionrtp.Packet, at time.Time) {
	size := p.MarshalSize()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.st
	if s.Packets == 0 {
		s.FirstSeen = at
	}
	s.Packets++
	s.Bytes += uint64(size)
	s.LastSeen = at
	if p.SSRC == r.ssrc {
		s.PayloadType = p.PayloadType
	}
	s.SSRC = r.ssrc
	s.JitterMS = r.jitter / r.clock * 1000
	r.addCounts()
	r.rate.add(at.Sub(s.FirstSeen), size)
}

func (r *Receiver) addCounts() {
	s, d := &r.st, &r.delta
	s.Lost += d.lost
	s.Reordered += d.reordered
	s.Duplicates += d.dup
	s.Late += d.late
	s.Stray += d.stray
	s.Resyncs += d.resyncs
}
