package benchio

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// FirstKeyframe times one HTTP-FLV join: request written to the first
// video keyframe tag read in full, within 10 s.
func FirstKeyframe(ctx context.Context, addr, path string) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	// Closing the connection ends the endless body; no resp.Body.Close,
	// which would drain it.
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 64<<10)
	start := time.Now()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", path, resp.Status)
	}
	r := flv.NewReader(resp.Body, 0)
	for {
		tag, err := r.Next()
		if err != nil {
			return 0, err
		}
		if tag.Type != flv.TagVideo {
			continue
		}
		if pkt, err := flv.ParseVideo(tag.Body); err == nil && pkt.Type == flv.VideoFrame && pkt.Key {
			return time.Since(start), nil
		}
	}
}
