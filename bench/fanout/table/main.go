// Command table prints fan-out results (JSON lines) as a Markdown table,
// with each server's CPU per GB as a ratio to mediakit HTTP-FLV and to
// mediakit over the same player protocol (RTMP, RTSP), measured in the
// same run.
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
	// Ratios are taken within one player count and batching window.
	type runKey struct {
		readers  int
		batching string
	}
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
		rk := runKey{r.Readers, r.Batching}
		if r.Target == "mediakit-flv" && !r.Idle {
			ref[rk] = r.CPUPerGB
		}
		if r.Target == "srs-flv" && !r.Idle {
			srs[rk] = r.CPUPerGB
		}
		if strings.HasPrefix(r.Target, "mediakit-") && !r.Idle {
			same[key{proto(r.Target), rk}] = r.CPUPerGB
		}
	}
	fmt.Println("| server | players | batching | CPU s (user) | GB delivered | CPU s/GB | vs mediakit-flv | vs mediakit, same protocol | vs srs-flv | Mbit/s per player (mean / min) | dropped | slow | peak RSS MiB | KiB per player | first keyframe p50 / p99 ms | load generator CPU s |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if r.Idle {
			continue
		}
		rk := runKey{r.Readers, r.Batching}
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
		fmt.Printf("| %s | %d | %s | %s | %.2f | %.2f | %s | %s | %s | %.2f / %.2f | %d | %d | %.0f | %.1f | %s | %s |\n",
			r.Target, r.Readers, batching, cpu, r.DeliveredGB, r.CPUPerGB, ratio, ratioSame, ratioSRS, r.ReaderMbps, r.ReaderMbpsMin,
			r.Dropped, r.Slow, r.RSSPeakMB, r.KiBPerReader, ttfk, client)
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
