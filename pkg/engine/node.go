package engine

import (
	"sync/atomic"

	"github.com/mediakit/mediakit/pkg/media"
)

// node is one element of a stream's frame list. Only next changes after a
// node is published, and only once, from nil to the following node. Nodes
// behind the slowest reader and the GOP cache become garbage.
type node struct {
	frame *media.Frame
	seq   uint64
	bytes int64 // payload bytes of every frame up to and including this one
	at    int64 // when it was appended, unix nanoseconds
	next  atomic.Pointer[node]
}
