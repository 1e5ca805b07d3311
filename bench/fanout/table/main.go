// Command table prints fan-out results (JSON lines) as a Markdown table,
// with each server's CPU per GB as a ratio to mediakit HTTP-FLV and to
// mediakit over the same player protocol (RTMP, RTSP), measured in the
// same run. In a file of several rounds (bench/fanout.sh's ROUNDS, each
// result naming its round) ratios are taken within a round, and a second
// table gives each configuration's means over the rounds and the ratios
// of those means. Results without a round (single runs, A/B files) are
// compared with the last result of the reference at the same player
// count and window, as before rounds existed.
package main

import (
	"github.com/mediakit/mediakit/bench/fanout/report"

	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type row = report.Result

// config is one server, player count, batching window and CPU pinning:
// what a round repeats.
type config struct {
	target   string
	readers  int
	batching string
	cpus     string
}

// mean is a configuration's sums over the rounds.
type mean struct {
	n             int
	cpu, cpuPerGB float64
}

func (m mean) cpuMean() float64   { return m.cpu / float64(m.n) }
func (m mean) perGBMean() float64 { return m.cpuPerGB / float64(m.n) }

// printMeans prints each configuration's means over the rounds, with the
// ratios of its CPU per GB mean to mediakit HTTP-FLV's and SRS's means at
// the same player count and window.
func printMeans(rows []row, order []config) {
	means := map[config]mean{}
	for _, r := range rows {
		if r.Idle {
			continue
		}
		c := config{r.Target, r.Readers, r.Batching, r.ServerCPUs}
		m := means[c]
		m.n++
		m.cpu += r.CPUSeconds
		m.cpuPerGB += r.CPUPerGB
		means[c] = m
	}
	ratio := func(m mean, target string, c config) string {
		ref, ok := means[config{target, c.readers, c.batching, c.cpus}]
		if !ok || ref.perGBMean() == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", m.perGBMean()/ref.perGBMean())
	}
	fmt.Println()
	fmt.Println("| server | players | batching | rounds | CPU s, mean | CPU s/GB, mean | vs mediakit-flv (means) | vs srs-flv (means) |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, c := range order {
		m := means[c]
		batching := c.batching
		if batching == "" {
			batching = "default"
		}
		fmt.Printf("| %s | %d | %s | %d | %.2f | %.3f | %s | %s |\n", c.target, c.readers, batching, m.n,
			m.cpuMean(), m.perGBMean(), ratio(m, "mediakit-flv", c), ratio(m, "srs-flv", c))
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: table RESULTS.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
	defer f.Close()
	var rows []row
	// Ratios are taken within one round, player count and batching
	// window.
	type runKey struct {
		round    int
		readers  int
		batching string
		cpus     string
	}
	seen := map[config]bool{}
	var order []config // configurations in first-seen order
	multi := false
	ref := map[runKey]float64{}
	srs := map[runKey]float64{}
	// same holds mediakit's CPU per GB by player protocol and run.
	type key struct {
		proto string
		run   runKey
	}
	same := map[key]float64{}
	proto := func(target string) string { return target[strings.LastIndexByte(target, '-')+1:] }
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			fmt.Fprintln(os.Stderr, "table:", err)
			os.Exit(1)
		}
		rows = append(rows, r)
		if r.Idle {
			continue
		}
		c := config{r.Target, r.Readers, r.Batching, r.ServerCPUs}
		if !seen[c] {
			seen[c] = true
			order = append(order, c)
		}
		multi = multi || r.Round > 1
		rk := runKey{r.Round, r.Readers, r.Batching, r.ServerCPUs}
		if r.Target == "mediakit-flv" {
			ref[rk] = r.CPUPerGB
		}
		if r.Target == "srs-flv" {
			srs[rk] = r.CPUPerGB
		}
		if strings.HasPrefix(r.Target, "mediakit-") {
			same[key{proto(r.Target), rk}] = r.CPUPerGB
		}
	}
	roundCol, roundSep := "", ""
	if multi {
		roundCol, roundSep = " round |", "---|"
	}
	fmt.Println("|" + roundCol + " server | players | batching | CPU s (user) | GB delivered | CPU s/GB | vs mediakit-flv | vs mediakit, same protocol | vs srs-flv | Mbit/s per player (mean / min) | dropped | slow | peak RSS MiB | KiB per player | first keyframe p50 / p99 ms | load generator CPU s |")
	fmt.Println("|" + roundSep + "---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if r.Idle {
			continue
		}
		rk := runKey{r.Round, r.Readers, r.Batching, r.ServerCPUs}
		ratio := "-"
		if ref[rk] > 0 {
			ratio = fmt.Sprintf("%.2fx", r.CPUPerGB/ref[rk])
		}
		ratioSame := "-"
		if v := same[key{proto(r.Target), rk}]; v > 0 {
			ratioSame = fmt.Sprintf("%.2fx", r.CPUPerGB/v)
		}
		ratioSRS := "-"
		if v := srs[rk]; v > 0 {
			ratioSRS = fmt.Sprintf("%.2fx", r.CPUPerGB/v)
		}
		batching := r.Batching
		if batching == "" {
			batching = "default"
		}
		cpu := fmt.Sprintf("%.2f", r.CPUSeconds)
		if r.UserCPUSeconds > 0 {
			cpu += fmt.Sprintf(" (%.2f)", r.UserCPUSeconds)
		}
		ttfk := "-"
		if r.TTFKp50ms > 0 {
			ttfk = fmt.Sprintf("%.2f / %.2f", r.TTFKp50ms, r.TTFKp99ms)
		}
		client := "-" // results from before the load generator measured itself
		if r.ClientCPUSeconds > 0 {
			client = fmt.Sprintf("%.2f", r.ClientCPUSeconds)
		}
		if multi {
			fmt.Printf("| %d ", r.Round)
		}
		fmt.Printf("| %s | %d | %s | %s | %.2f | %.2f | %s | %s | %s | %.2f / %.2f | %d | %d | %.0f | %.1f | %s | %s |\n",
			r.Target, r.Readers, batching, cpu, r.DeliveredGB, r.CPUPerGB, ratio, ratioSame, ratioSRS, r.ReaderMbps, r.ReaderMbpsMin,
			r.Dropped, r.Slow, r.RSSPeakMB, r.KiBPerReader, ttfk, client)
	}
	if multi {
		printMeans(rows, order)
	}
	idleHeader := false
	for _, r := range rows {
		if !r.Idle {
			continue
		}
		if !idleHeader {
			fmt.Println()
			fmt.Println("| idle players | players | RSS before MiB | peak RSS MiB | KiB per idle player | dropped |")
			fmt.Println("|---|---|---|---|---|---|")
			idleHeader = true
		}
		fmt.Printf("| %s | %d | %.0f | %.0f | %.1f | %d |\n", r.Target, r.Readers, r.RSSBaseMB, r.RSSPeakMB, r.KiBPerReader, r.Dropped)
	}
}
