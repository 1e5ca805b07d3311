package engine

import "sync/atomic"

// Stats are the engine's running totals, read by the metrics collector.
type Stats struct {
	Streams            atomic.Int64 // streams with a publisher or in grace
	Readers            atomic.Int64 // attached readers
	WaitingReaders     atomic.Int64 // readers waiting for a publisher
	BytesIn            atomic.Int64 // bytes received from publishers
	BytesOut           atomic.Int64 // bytes sent to readers
	FramesIn           atomic.Int64 // frames appended by publishers
	FramesSkipped      atomic.Int64 // frames a slow reader skipped
	ReadersDropped     atomic.Int64 // readers ended for being too slow
	PublishersRefused  atomic.Int64 // second publishers refused
	PublishersReplaced atomic.Int64 // publishers replaced by takeover
	PublisherReturns   atomic.Int64 // publishers that came back within the grace period
	ReadersNotFound    atomic.Int64 // readers that waited in vain
	StreamsRefused     atomic.Int64 // publishers refused by Config.MaxStreams
	ReadersRefused     atomic.Int64 // players refused by Config.MaxReadersPerStream
	TrackDrops         DropCounts   // streams whose track an output could not carry
}
