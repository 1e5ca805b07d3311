package rtp

import "time"

// Stats are a Receiver's counters. Packets and Bytes count every packet
// pushed; the other counters say what became of some of them.
type Stats struct {
	Packets uint64 // packets pushed
	Bytes   uint64 // their size as RTP packets (header and payload)

	// Lost counts packets the receiver stopped waiting for; each was
	// reported through emit's lost argument. Packets that arrive after
	// that are counted in Late, not taken off Lost.
	Lost       uint64
	Reordered  uint64 // arrived after a packet with a higher sequence number
	Duplicates uint64 // dropped: the same sequence number was already held or delivered
	Late       uint64 // dropped: arrived after the receiver gave up on them
	Stray      uint64 // dropped: another SSRC, or a lone jump in sequence numbers
	Resyncs    uint64 // sequence restarts (new SSRC, or a large jump confirmed by the next packet)

	// JitterMS is the RFC 3550 interarrival jitter in milliseconds.
	JitterMS float64

	FirstSeen, LastSeen time.Time // arrival times of the first and the latest packet
	PayloadType         uint8     // of the latest packet of the followed sender
	SSRC                uint32    // the sender being followed
}

// Bitrate window: rateBuckets buckets of rateBucket each, so Bitrate covers
// the last 4 s in a fixed amount of memory.
const (
	rateBucket  = 500 * time.Millisecond
	rateBuckets = 8
)

// rateWindow counts bytes per time bucket. Buckets are numbered from the
// first packet's arrival, so no absolute clock value is needed.
type rateWindow struct {
	num   [rateBuckets]int64 // bucket number + 1; 0 means unused
	bytes [rateBuckets]uint64
}

func (w *rateWindow) add(since time.Duration, n int) {
	if since < 0 {
		return // the caller's clock went backwards; not worth a bucket
	}
	k := int64(since / rateBucket)
	i := k % rateBuckets
	if w.num[i] != k+1 {
		w.num[i], w.bytes[i] = k+1, 0
	}
	w.bytes[i] += uint64(n)
}

// bitsPerSecond averages over the buckets that end at most rateBuckets
// buckets before since (the time since the first packet), and over no more
// time than has passed since the first packet.
func (w *rateWindow) bitsPerSecond(since time.Duration) float64 {
	if since <= 0 {
		return 0
	}
	k := int64(since / rateBucket)
	var sum uint64
	for i, num := range w.num {
		if num != 0 && num-1 <= k && num-1 > k-rateBuckets {
			sum += w.bytes[i]
		}
	}
	from := time.Duration(k-rateBuckets+1) * rateBucket
	if from < 0 {
		from = 0
	}
	return float64(sum*8) / (since - from).Seconds()
}
