package rtp

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func seqPkt(ssrc uint32, seq uint16) *pionrtp.Packet {
	return &pionrtp.Packet{
		Header:  pionrtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: ssrc},
		Payload: []byte{1, 2, 3},
	}
}

type delivery struct {
	ssrc uint32
	seq  uint16
	lost int
}

// recorder collects what a Receiver emits.
type recorder struct{ got []delivery }

func (r *recorder) emit(p *pionrtp.Packet, lost int) {
	r.got = append(r.got, delivery{p.SSRC, p.SequenceNumber, lost})
}

func (r *recorder) seqs() []uint16 {
	var s []uint16
	for _, d := range r.got {
		s = append(s, d.seq)
	}
	return s
}

// feed pushes sequence numbers of SSRC 1, one per millisecond from t0.
func feed(r *Receiver, rec *recorder, seqs ...uint16) {
	for _, s := range seqs {
		r.Push(seqPkt(1, s), ms(len(rec.got)+int(r.Stats().Packets)), rec.emit)
	}
}

func TestReceiverInOrder(t *testing.T) {
	var r Receiver
	var rec recorder
	r.Push(seqPkt(1, 65399), ms(0), rec.emit)
	if len(rec.got) != 0 {
		t.Fatalf("first packet delivered before the second arrived")
	}
	for i := 1; i < 300; i++ {
		r.Push(seqPkt(1, uint16(65399+i)), ms(i), rec.emit)
		if len(rec.got) != i+1 || rec.got[i] != (delivery{1, uint16(65399 + i), 0}) {
			t.Fatalf("packet %d: delivered %v", i, rec.got)
		}
	}
	r.Flush(rec.emit)
	s := r.Stats()
	if s.Packets != 300 || s.Lost+s.Reordered+s.Duplicates+s.Late+s.Stray+s.Resyncs != 0 {
		t.Fatalf("stats %+v", s)
	}
	if s.Bytes != 300*15 || s.SSRC != 1 || s.PayloadType != 96 || !s.FirstSeen.Equal(ms(0)) || !s.LastSeen.Equal(ms(299)) {
		t.Fatalf("stats %+v", s)
	}
}

func TestReceiverShuffled(t *testing.T) {
	tests := []struct {
		name  string
		start uint16
		n     int
		block int // packets are shuffled within blocks of this size
		seed  uint64
	}{
		{"pairs", 100, 500, 2, 1},
		{"blocks of 8", 1000, 1000, 8, 2},
		{"blocks of 30 across the wrap", 65000, 2000, 30, 3},
		{"blocks of 64, the whole window", 65535 - 100, 1000, 64, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 0))
			order := make([]int, tc.n)
			for i := range order {
				order[i] = i
			}
			// The first two arrive swapped; the receiver holds the
			// first packet for that. Later packets are shuffled in
			// blocks.
			order[0], order[1] = 1, 0
			for b := 2; b < tc.n; b += tc.block {
				blk := order[b:min(b+tc.block, tc.n)]
				rng.Shuffle(len(blk), func(i, j int) { blk[i], blk[j] = blk[j], blk[i] })
			}
			wantReordered, maxSeen := 0, -1
			for _, i := range order {
				if i < maxSeen {
					wantReordered++
				}
				maxSeen = max(maxSeen, i)
			}

			var r Receiver
			var rec recorder
			for k, i := range order {
				r.Push(seqPkt(1, tc.start+uint16(i)), ms(k), rec.emit)
			}
			r.Flush(rec.emit)
			if len(rec.got) != tc.n {
				t.Fatalf("%d packets delivered, want %d", len(rec.got), tc.n)
			}
			for i, d := range rec.got {
				if d.seq != tc.start+uint16(i) || d.lost != 0 {
					t.Fatalf("delivery %d: %+v, want seq %d", i, d, tc.start+uint16(i))
				}
			}
			s := r.Stats()
			if s.Reordered != uint64(wantReordered) || s.Lost != 0 || s.Duplicates != 0 || s.Late != 0 {
				t.Fatalf("stats %+v, want %d reordered", s, wantReordered)
			}
		})
	}
}

func TestReceiverWrap(t *testing.T) {
	var r Receiver
	var rec recorder
	feed(&r, &rec, 65533, 65534, 0, 65535, 2, 1, 3)
	want := []uint16{65533, 65534, 65535, 0, 1, 2, 3}
	if !slices.Equal(rec.seqs(), want) {
		t.Fatalf("delivered %v, want %v", rec.seqs(), want)
	}
	if s := r.Stats(); s.Reordered != 2 || s.Lost != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReceiverLoss(t *testing.T) {
	tests := []struct {
		name  string
		start uint16
		total int // packets sent, lost ones included
		drop  func(i int) bool
	}{
		{"one", 0, 400, func(i int) bool { return i == 5 }},
		{"burst of 10", 0, 400, func(i int) bool { return i >= 10 && i < 20 }},
		{"every 7th", 0, 400, func(i int) bool { return i%7 == 3 }},
		{"burst longer than the window", 0, 400, func(i int) bool { return i >= 50 && i < 150 }},
		{"burst across the wrap", 65530, 400, func(i int) bool { return i >= 3 && i < 9 }},
		{"two gaps inside one window", 100, 400, func(i int) bool { return i == 10 || i == 11 || i == 30 }},
		{"burst of 2000", 0, 2200, func(i int) bool { return i >= 100 && i < 2100 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Receiver
			var rec recorder
			want := map[uint16]int{} // seq -> lost before it
			dropped, run, total := 0, 0, tc.total
			for i := range total {
				seq := tc.start + uint16(i)
				if tc.drop(i) {
					dropped++
					run++
					continue
				}
				want[seq] = run
				run = 0
				r.Push(seqPkt(1, seq), ms(i), rec.emit)
			}
			r.Flush(rec.emit)
			if len(rec.got) != total-dropped {
				t.Fatalf("%d delivered, want %d", len(rec.got), total-dropped)
			}
			sum := 0
			for i, d := range rec.got {
				if i > 0 && d.seq-rec.got[i-1].seq != uint16(1+d.lost) {
					t.Fatalf("delivery %d: seq %d lost %d after seq %d", i, d.seq, d.lost, rec.got[i-1].seq)
				}
				if d.lost != want[d.seq] {
					t.Fatalf("seq %d: lost %d, want %d", d.seq, d.lost, want[d.seq])
				}
				sum += d.lost
			}
			if s := r.Stats(); sum != dropped || s.Lost != uint64(dropped) || s.Reordered != 0 {
				t.Fatalf("reported %d lost, stats %+v, dropped %d", sum, s, dropped)
			}
		})
	}
}

func TestReceiverWindow(t *testing.T) {
	r := Receiver{Window: 8, MaxDelay: -1}
	var rec recorder
	feed(&r, &rec, 0, 1)
	// 2 is missing: 3..9 are held (7 packets, inside the window of 8).
	feed(&r, &rec, 3, 4, 5, 6, 7, 8, 9)
	if len(rec.got) != 2 {
		t.Fatalf("delivered %v while the gap is inside the window", rec.seqs())
	}
	// 10 is 8 beyond the gap: the receiver gives up on 2.
	feed(&r, &rec, 10)
	if want := []uint16{0, 1, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(rec.seqs(), want) {
		t.Fatalf("delivered %v, want %v", rec.seqs(), want)
	}
	if rec.got[2].lost != 1 {
		t.Fatalf("seq 3 delivered with lost %d, want 1", rec.got[2].lost)
	}
}

func TestReceiverMaxDelay(t *testing.T) {
	var r Receiver // 100 ms by default
	var rec recorder
	r.Push(seqPkt(1, 0), ms(0), rec.emit)
	r.Push(seqPkt(1, 1), ms(1), rec.emit)
	r.Push(seqPkt(1, 3), ms(2), rec.emit)
	r.Push(seqPkt(1, 4), ms(3), rec.emit)
	r.Push(seqPkt(1, 1), ms(101), rec.emit) // a duplicate 99 ms after 3 arrived
	if len(rec.got) != 2 {
		t.Fatalf("delivered %v before MaxDelay", rec.seqs())
	}
	r.Push(seqPkt(1, 5), ms(102), rec.emit) // 100 ms after 3 arrived
	want := []delivery{{1, 0, 0}, {1, 1, 0}, {1, 3, 1}, {1, 4, 0}, {1, 5, 0}}
	if !slices.Equal(rec.got, want) {
		t.Fatalf("delivered %v, want %v", rec.got, want)
	}
	if s := r.Stats(); s.Lost != 1 || s.Duplicates != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReceiverDuplicatesAndLate(t *testing.T) {
	r := Receiver{Window: 4}
	var rec recorder
	feed(&r, &rec, 0, 1, 2, 2, 1, 5, 5, 4, 3)
	if want := []uint16{0, 1, 2, 3, 4, 5}; !slices.Equal(rec.seqs(), want) {
		t.Fatalf("delivered %v, want %v", rec.seqs(), want)
	}
	// 6 is lost for good once 10 arrives (window 4); then it comes.
	feed(&r, &rec, 7, 8, 9, 10, 6, 6, 3)
	if want := []uint16{0, 1, 2, 3, 4, 5, 7, 8, 9, 10}; !slices.Equal(rec.seqs(), want) {
		t.Fatalf("delivered %v, want %v", rec.seqs(), want)
	}
	s := r.Stats()
	if s.Duplicates != 4 || s.Late != 2 || s.Lost != 1 || s.Reordered != 4 {
		// duplicates: 2, 1, 5 and the second 3; late: 6 twice;
		// reordered: 4, 3 and the late 6s.
		t.Fatalf("stats %+v", s)
	}
}

func TestReceiverJump(t *testing.T) {
	var r Receiver
	var rec recorder
	feed(&r, &rec, 10, 11, 12)
	feed(&r, &rec, 40000) // a lone jump: dropped
	feed(&r, &rec, 13, 15)
	feed(&r, &rec, 30000, 30001, 30002) // confirmed: a restart
	// Backwards by more than 100: also a restart once confirmed.
	feed(&r, &rec, 5, 6)
	want := []delivery{
		{1, 10, 0}, {1, 11, 0}, {1, 12, 0}, {1, 13, 0},
		{1, 15, 1}, // held behind 14, delivered before the restart
		{1, 30000, Resync}, {1, 30001, 0}, {1, 30002, 0},
		{1, 5, Resync}, {1, 6, 0},
	}
	if !slices.Equal(rec.got, want) {
		t.Fatalf("delivered %v\nwant      %v", rec.got, want)
	}
	if s := r.Stats(); s.Stray != 1 || s.Resyncs != 2 || s.Lost != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReceiverSSRCChange(t *testing.T) {
	var r Receiver
	var rec recorder
	push := func(ssrc uint32, seqs ...uint16) {
		for _, s := range seqs {
			r.Push(seqPkt(ssrc, s), ms(int(r.Stats().Packets)), rec.emit)
		}
	}
	push(1, 0, 1, 2)
	// Packets of another sender among the followed one's: dropped.
	push(2, 500)
	push(1, 3)
	push(2, 501, 502)
	push(1, 4)
	if s := r.Stats(); s.Stray != 3 || s.SSRC != 1 {
		t.Fatalf("stats %+v", s)
	}
	push(1, 6) // held behind 5
	// Four packets in a row of SSRC 3: the receiver follows it.
	push(3, 9000, 9002, 9001, 9003)
	push(3, 9004)
	want := []delivery{
		{1, 0, 0}, {1, 1, 0}, {1, 2, 0}, {1, 3, 0}, {1, 4, 0}, {1, 6, 1},
		{3, 9000, Resync}, {3, 9001, 0}, {3, 9002, 0}, {3, 9003, 0}, {3, 9004, 0},
	}
	if !slices.Equal(rec.got, want) {
		t.Fatalf("delivered %v\nwant      %v", rec.got, want)
	}
	if s := r.Stats(); s.SSRC != 3 || s.Resyncs != 1 || s.Stray != 3 || s.Reordered != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReceiverJitter(t *testing.T) {
	// 20 ms G.711 packets (160 ticks at 8 kHz) arriving at 0, 20, 45, 60
	// and 80 ms. RFC 3550: D = arrival spacing - timestamp spacing in
	// ticks, J += (|D| - J) / 16:
	//   20 ms = 160 ticks: D = 0,   J = 0
	//   25 ms = 200 ticks: D = 40,  J = 40/16 = 2.5
	//   15 ms = 120 ticks: D = -40, J = 2.5 + 37.5/16 = 4.84375
	//   20 ms = 160 ticks: D = 0,   J = 4.84375 - 4.84375/16 = 4.541015625
	// 4.541015625 ticks / 8000 Hz = 0.567626953125 ms.
	r := Receiver{ClockRate: 8000}
	var rec recorder
	for i, at := range []int{0, 20, 45, 60, 80} {
		p := seqPkt(1, uint16(i))
		p.Timestamp = 0xffffff00 + uint32(i)*160 // wraps, too
		r.Push(p, ms(at), rec.emit)
	}
	if got, want := r.Stats().JitterMS, 0.567626953125; math.Abs(got-want) > 1e-9 {
		t.Fatalf("jitter %v ms, want %v", got, want)
	}
}

func TestReceiverBitrate(t *testing.T) {
	var r Receiver
	var rec recorder
	if got := r.Bitrate(t0); got != 0 {
		t.Fatalf("bitrate %v before any packet", got)
	}
	// 1012-byte packets (12-byte header) every 10 ms: 809600 bit/s.
	const want = 1012 * 8 * 100
	for i := range 1000 {
		p := seqPkt(1, uint16(i))
		p.Payload = make([]byte, 1000)
		r.Push(p, ms(i*10), rec.emit)
		switch i {
		case 100, 999:
			// The window starts at a bucket boundary and ends at the
			// last packet, so it holds one packet more than its
			// length is worth: within 1.5 %.
			if got := r.Bitrate(ms(i * 10)); math.Abs(got-want)/want > 0.015 {
				t.Fatalf("after %d packets: %v bit/s, want about %v", i+1, got, want)
			}
		}
	}
	if got := r.Bitrate(ms(9990 + 2000)); math.Abs(got-want/2)/want > 0.015 {
		t.Fatalf("2 s after the last packet: %v bit/s", got)
	}
	if got := r.Bitrate(ms(9990 + 5000)); got != 0 {
		t.Fatalf("5 s after the last packet: %v bit/s", got)
	}
	if got := r.Bitrate(t0.Add(-time.Second)); got != 0 {
		t.Fatalf("before the first packet: %v bit/s", got)
	}
}

// TestReceiverConcurrentStats reads the counters while packets are pushed;
// the race detector checks the locking.
func TestReceiverConcurrentStats(t *testing.T) {
	var r Receiver
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				_ = r.Stats()
				_ = r.Bitrate(ms(0))
			}
		}
	}()
	delivered := 0
	for i := range 3000 {
		r.Push(seqPkt(1, uint16(i^1)), ms(i), func(*pionrtp.Packet, int) { delivered++ })
	}
	r.Flush(func(*pionrtp.Packet, int) { delivered++ })
	close(done)
	wg.Wait()
	if s := r.Stats(); s.Packets != 3000 || delivered != 3000 {
		t.Fatalf("%d delivered, stats %+v", delivered, s)
	}
}
