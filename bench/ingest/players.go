package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// players are HTTP-FLV players that count bytes and, while measuring,
// time each tag's arrival against its timestamp.
//
// A tag's delay is its arrival minus its timestamp, less the smallest
// such difference the player saw in the window: how much later than the
// player's fastest tag it came. The publisher sends each frame on time
// (paced by the clip's timestamps), so what a server adds by batching
// reads and writes shows here, without knowing where each server starts
// a player's timestamps.
type players struct {
	bytes     atomic.Int64
	errors    atomic.Int64
	measuring atomic.Bool
	epoch     time.Time

	mu      sync.Mutex
	samples [][]time.Duration // per player: arrival - timestamp, while measuring
}

func newPlayers() *players { return &players{epoch: time.Now()} }

// countingConn counts what a player reads off the socket, HTTP framing
// included.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (p *players) play(ctx context.Context, addr, path string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		p.errors.Add(1)
		return
	}
	context.AfterFunc(ctx, func() { c.Close() })
	var offsets []time.Duration
	defer func() {
		p.mu.Lock()
		p.samples = append(p.samples, offsets)
		p.mu.Unlock()
	}()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
	br := bufio.NewReaderSize(countingConn{c, &p.bytes}, 32<<10)
	err = p.readTags(br, &offsets)
	if err != nil && ctx.Err() == nil {
		p.errors.Add(1)
	}
}

// readTags reads an HTTP-FLV response tag by tag.
func (p *players) readTags(br *bufio.Reader, offsets *[]time.Duration) error {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("player: %s", resp.Status)
	}
	tags := flv.NewReader(resp.Body, 0)
	for {
		tag, err := tags.Next()
		if err != nil {
			return err
		}
		if p.measuring.Load() && (tag.Type == flv.TagAudio || tag.Type == flv.TagVideo) {
			*offsets = append(*offsets, time.Since(p.epoch)-tag.Timestamp)
		}
	}
}

// delays returns every tag's delay over its player's fastest, once the
// players have stopped.
func (p *players) delays() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all []time.Duration
	for _, offs := range p.samples {
		if len(offs) == 0 {
			continue
		}
		least := slices.Min(offs)
		for _, o := range offs {
			all = append(all, o-least)
		}
	}
	return all
}
