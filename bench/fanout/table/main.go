// Command table prints fan-out results (JSON lines) as a Markdown table,
// with each server's CPU per GB as a ratio to mediakit HTTP-FLV measured
// in the same run.
package main

import (
	"github.com/mediakit/mediakit/bench/fanout/report"

	"bufio"
	"encoding/json"
	"fmt"
	"os"
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
	ref := map[int]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			fmt.Fprintln(os.Stderr, "table:", err)
			os.Exit(1)
		}
		rows = append(rows, r)
		if r.Target == "mediakit-flv" && !r.Idle {
			ref[r.Readers] = r.CPUPerGB
		}
	}
	fmt.Println("| server | players | CPU s | GB delivered | CPU s/GB | vs mediakit-flv | Mbit/s per player (mean / min) | dropped | slow | peak RSS MiB | KiB per player | first keyframe p50 / p99 ms |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if r.Idle {
			continue
		}
		ratio := "-"
		if ref[r.Readers] > 0 {
			ratio = fmt.Sprintf("%.2fx", r.CPUPerGB/ref[r.Readers])
		}
		ttfk := "-"
		if r.TTFKp50ms > 0 {
			ttfk = fmt.Sprintf("%.2f / %.2f", r.TTFKp50ms, r.TTFKp99ms)
		}
		fmt.Printf("| %s | %d | %.2f | %.2f | %.2f | %s | %.2f / %.2f | %d | %d | %.0f | %.1f | %s |\n",
			r.Target, r.Readers, r.CPUSeconds, r.DeliveredGB, r.CPUPerGB, ratio, r.ReaderMbps, r.ReaderMbpsMin,
			r.Dropped, r.Slow, r.RSSPeakMB, r.KiBPerReader, ttfk)
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
