package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/bench/internal/benchio"
)

// probeClient times the probes of a run that measure latency (joins to
// the first keyframe, calls that list every stream) from a process of
// its own. In the load generator's process the timing goroutine would
// queue behind the 2000 connections it drives, on a core that is busy at
// 1000 streams: the times would be the load generator's as much as the
// server's. A viewer, or a platform polling the API, is a process of its
// own as well.
type probeClient struct {
	list  string   // URL of the call that lists every stream
	check bool     // read the list reply's ZLMediaKit code
	join  string   // HTTP address to join paths on
	paths []string // HTTP-FLV paths to join, one after another
	calls int      // list calls
	gap   time.Duration
}

// run makes the joins, then the list calls, and writes a line for each:
// "join D" or "list WHOLE FIRSTBYTE" in nanoseconds, or "error: ..." for
// one that failed.
func (c probeClient) run(out io.Writer) error {
	w := bufio.NewWriter(out)
	ctx := context.Background()
	for i, path := range c.paths {
		if i > 0 {
			time.Sleep(c.gap)
		}
		d, err := benchio.FirstKeyframe(ctx, c.join, path)
		if err != nil {
			fmt.Fprintf(w, "error: join %s: %v\n", path, err)
			continue
		}
		fmt.Fprintf(w, "join %d\n", d)
	}
	for i := 0; c.list != "" && i < c.calls; i++ {
		time.Sleep(c.gap)
		whole, first, err := timeList(c.list, c.check)
		if err != nil {
			fmt.Fprintf(w, "error: list: %v\n", err)
			continue
		}
		fmt.Fprintf(w, "list %d %d\n", whole, first)
	}
	return w.Flush()
}

// probeTimes are the times of the probes that succeeded.
type probeTimes struct {
	joins, lists, listFirstBytes []time.Duration
}

// maxProbeErrorsShown bounds the failed probes repeated on stderr.
const maxProbeErrorsShown = 3

// runProbes runs c in a child process and returns its times.
func runProbes(ctx context.Context, c probeClient) (probeTimes, error) {
	var t probeTimes
	self, err := os.Executable()
	if err != nil {
		return t, err
	}
	args := []string{"-probe-gap", c.gap.String()}
	if len(c.paths) > 0 {
		args = append(args, "-probe-join", c.join, "-probe-paths", strings.Join(c.paths, ","))
	}
	if c.list != "" {
		args = append(args, "-probe-list", c.list, "-probe-calls", strconv.Itoa(c.calls))
	}
	if c.check {
		args = append(args, "-probe-check")
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return t, fmt.Errorf("probes: %w", err)
	}
	failed := 0
	for line := range strings.Lines(string(out)) {
		var a, b int64
		if _, err := fmt.Sscanf(line, "join %d", &a); err == nil {
			t.joins = append(t.joins, time.Duration(a))
		} else if _, err := fmt.Sscanf(line, "list %d %d", &a, &b); err == nil {
			t.lists = append(t.lists, time.Duration(a))
			t.listFirstBytes = append(t.listFirstBytes, time.Duration(b))
		} else {
			// A failed probe is left out of the times, but said.
			if failed++; failed <= maxProbeErrorsShown {
				fmt.Fprint(os.Stderr, "ingest: probe ", line)
			}
		}
	}
	if failed > maxProbeErrorsShown {
		fmt.Fprintf(os.Stderr, "ingest: %d probes failed in all\n", failed)
	}
	return t, nil
}

// timeList times one call to url.
func timeList(url string, check bool) (whole, firstByte time.Duration, err error) {
	var w io.Writer = io.Discard
	var body bytes.Buffer
	if check {
		w = &body
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { firstByte = time.Since(start) },
	}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, err = io.Copy(w, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	whole = time.Since(start)
	if err == nil && check {
		var r struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		}
		if err := json.Unmarshal(body.Bytes(), &r); err != nil || r.Code != 0 {
			return 0, 0, fmt.Errorf("getMediaList: code %d %s %v", r.Code, r.Msg, err)
		}
	}
	return whole, firstByte, err
}
