package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/mediakit/mediakit/bench/internal/benchio"
)

// recoveryRep is one outage of the source.
type recoveryRep struct {
	Kind     string  `json:"kind"` // "recovery"
	Scenario string  `json:"scenario"`
	Rep      int     `json:"rep"`
	Proxies  int     `json:"proxies"`
	DownS    float64 `json:"down_s"`
	// NoticedMS: from the outage to every proxy out of "playing".
	NoticedMS float64 `json:"noticed_ms"`
	// Failures: failed attempts in a row of each proxy when its source
	// came back; the pending retry delay is about 0.5 s * 2^(n-1), at
	// most 10 s.
	Failures []int `json:"failures_at_return"`
	// SourceMS: from starting the origin again (origin scenario) to its
	// stream online again (isMediaOnline, after the publisher's
	// restart), per stream; 0 in the link scenario, where the origin's
	// streams stay online.
	SourceMS []float64 `json:"source_online_ms"`
	// RecoveryMS: from the origin's stream online to the edge's proxy
	// live again (listStreamProxy status 0 and bytes flowing again), per
	// proxy; -1 when it did not come back within -max-wait.
	RecoveryMS []float64 `json:"recovery_ms"`
	Binary     string    `json:"mediakit"`
	Started    string    `json:"started"`
}

type recoverySummary struct {
	Kind     string  `json:"kind"` // "recovery-summary"
	Scenario string  `json:"scenario"`
	Reps     int     `json:"reps"`
	Samples  int     `json:"samples"`
	DownS    string  `json:"down_s"`
	P50MS    float64 `json:"p50_ms"`
	P90MS    float64 `json:"p90_ms"`
	MaxMS    float64 `json:"max_ms"`
	MinMS    float64 `json:"min_ms"`
	Missed   int     `json:"missed"`
	PollMS   float64 `json:"poll_ms"`
	Binary   string  `json:"mediakit"`
}

func runRecovery(o options) error {
	if o.scenario != "origin" && o.scenario != "link" {
		return fmt.Errorf("unknown scenario %q", o.scenario)
	}
	dir, cleanup, err := workDir(o, "proxyrecovery-")
	if err != nil {
		return err
	}
	defer cleanup()
	origin, err := newMK(o.mediakit, "origin", dir, false)
	if err != nil {
		return err
	}
	defer func() { origin.stop() }()
	edge, err := newMK(o.mediakit, "edge", dir, true)
	if err != nil {
		return err
	}
	defer edge.stop()
	names := streamNames(o.streams)
	urls := make([]string, len(names))
	for i, n := range names {
		urls[i] = "rtmp://" + origin.rtmp + "/live/" + n
	}
	// The proxies pull from the origin directly, or through the link.
	srcURLs := urls
	var lk *link
	if o.scenario == "link" {
		if lk, err = newLink(fmt.Sprintf("127.0.0.1:%d", benchio.FreePort()), origin.rtmp); err != nil {
			return err
		}
		defer lk.cut()
		srcURLs = make([]string, len(names))
		for i, n := range names {
			srcURLs[i] = "rtmp://" + lk.addr + "/live/" + n
		}
	}
	pubLog := filepath.Join(dir, "publisher.log")
	pub, err := startPublisher(o.ffmpeg, o.clip, pubLog, urls)
	if err != nil {
		return err
	}
	defer func() { pub.stop() }()
	allOnline := func() bool {
		for _, n := range names {
			if !origin.online("live", n) {
				return false
			}
		}
		return true
	}
	if err := waitUntil(30*time.Second, o.poll, "the origin's streams", allOnline); err != nil {
		return err
	}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = "__defaultVhost__/proxy/" + n
		r, err := edge.api("addStreamProxy", "vhost", "__defaultVhost__", "app", "proxy", "stream", n, "url", srcURLs[i])
		if err == nil && r["code"] != float64(0) {
			err = fmt.Errorf("addStreamProxy %s: %v", n, r)
		}
		if err != nil {
			return err
		}
	}
	allPlaying := func() bool {
		ps, err := edge.proxies()
		if err != nil {
			return false
		}
		for _, k := range keys {
			if ps[k].Status != 0 || ps[k].State != "playing" {
				return false
			}
		}
		return true
	}
	var all []float64
	missed := 0
	for rep := 0; rep < o.reps; rep++ {
		if err := waitUntil(o.maxWait, o.poll, "every proxy playing", allPlaying); err != nil {
			return err
		}
		time.Sleep(time.Second) // media flowing for a while before the outage
		down := o.down
		if o.downJitter > 0 {
			down += rand.N(o.downJitter)
		}
		res := &recoveryRep{Kind: "recovery", Scenario: o.scenario, Rep: rep + 1, Proxies: len(keys), DownS: down.Seconds(),
			Binary: o.mediakit, Started: time.Now().UTC().Format(time.RFC3339)}
		tDown := time.Now()
		if o.scenario == "origin" {
			pub.kill()
			origin.kill()
		} else {
			lk.cut()
		}
		noticed := func() bool {
			ps, err := edge.proxies()
			if err != nil {
				return false
			}
			for _, k := range keys {
				if ps[k].Status == 0 {
					return false
				}
			}
			return true
		}
		if err := waitUntil(30*time.Second, o.poll, "the outage noticed", noticed); err != nil {
			return err
		}
		res.NoticedMS = ms(time.Since(tDown))
		time.Sleep(time.Until(tDown.Add(down)))

		before, err := edge.proxies()
		if err != nil {
			return err
		}
		for _, k := range keys {
			res.Failures = append(res.Failures, before[k].Failures)
		}
		var online, live []time.Time
		tPub := time.Now()
		if o.scenario == "origin" {
			if err := origin.start("origin"); err != nil {
				return err
			}
			if pub, err = startPublisher(o.ffmpeg, o.clip, pubLog, urls); err != nil {
				return err
			}
			online, live = pollRecovery(o, origin, edge, names, keys, before, true)
		} else {
			// The origin's streams never stopped: the source is whole
			// again the moment the link is.
			if !allOnline() {
				return fmt.Errorf("link rep %d: the origin's streams are not online", rep+1)
			}
			if err := lk.restore(); err != nil {
				return err
			}
			online, live = pollRecovery(o, origin, edge, names, keys, before, false)
		}
		for i := range keys {
			res.SourceMS = append(res.SourceMS, ms(online[i].Sub(tPub)))
			if live[i].IsZero() || online[i].IsZero() {
				res.RecoveryMS = append(res.RecoveryMS, -1)
				missed++
				continue
			}
			d := ms(live[i].Sub(online[i]))
			res.RecoveryMS = append(res.RecoveryMS, d)
			all = append(all, d)
		}
		logf("%s rep %d: down %.1fs, failures %v, recovery ms %v", o.scenario, rep+1, down.Seconds(), res.Failures, res.RecoveryMS)
		emit(o, res)
	}
	sum := &recoverySummary{Kind: "recovery-summary", Scenario: o.scenario, Reps: o.reps, Samples: len(all),
		DownS: fmt.Sprintf("%.0f", o.down.Seconds()), Missed: missed, PollMS: ms(o.poll), Binary: o.mediakit}
	if o.downJitter > 0 {
		sum.DownS = fmt.Sprintf("%.0f-%.0f", o.down.Seconds(), (o.down + o.downJitter).Seconds())
	}
	if len(all) > 0 {
		sort.Float64s(all)
		sum.P50MS, sum.P90MS = pct(all, 0.5), pct(all, 0.9)
		sum.MinMS, sum.MaxMS = all[0], all[len(all)-1]
	}
	emit(o, sum)
	return nil
}

// pollRecovery polls, every o.poll, the origin's isMediaOnline for each
// stream and the edge's listStreamProxy, and returns when each stream was
// first seen online at the origin and its proxy first seen live again:
// status 0 with more bytes than before the outage (4 KiB more, beyond
// RTMP control messages). Zero times: not seen within o.maxWait.
func pollRecovery(o options, origin, edge *mkServer, names, keys []string, before map[string]proxyState, pollOrigin bool) (online, live []time.Time) {
	online = make([]time.Time, len(names))
	live = make([]time.Time, len(keys))
	deadline := time.Now().Add(o.maxWait)
	var wg sync.WaitGroup
	for i, n := range names {
		if !pollOrigin {
			online[i] = time.Now()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if origin.online("live", n) {
					online[i] = time.Now()
					return
				}
				time.Sleep(o.poll)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		left := len(keys)
		for left > 0 && time.Now().Before(deadline) {
			ps, err := edge.proxies()
			now := time.Now()
			if err == nil {
				for i, k := range keys {
					if live[i].IsZero() && ps[k].Status == 0 && ps[k].TotalBytes > before[k].TotalBytes+4096 {
						live[i] = now
						left--
					}
				}
			}
			time.Sleep(o.poll)
		}
	}()
	wg.Wait()
	return online, live
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the nearest-rank percentile of sorted values.
func pct(sorted []float64, p float64) float64 {
	i := int(float64(len(sorted))*p+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
