// Command table prints fan-out results (JSON lines) as a Markdown table,
// with each server's CPU per GB as a ratio to mediakit HTTP-FLV measured
// in the same run.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

type row struct {
	Target        string  `json:"target"`
	Idle          bool    `json:"idle"`
	Readers       int     `json:"readers"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	DeliveredGB   float64 `json:"delivered_gb"`
	CPUPerGB      float64 `json:"cpu_s_per_gb"`
	ReaderMbps    float64 `json:"reader_mbps_mean"`
	ReaderMbpsMin float64 `json:"reader_mbps_min"`
	Dropped       int     `json:"dropped"`
	Slow          int     `json:"slow"`
	RSSBaseMB     float64 `json:"rss_base_mb"`
	RSSPeakMB     float64 `json:"rss_peak_mb"`
	KiBPerReader  float64 `json:"kib_per_reader"`
	TTFKp50ms     float64 `json:"ttfk_p50_ms"`
	TTFKp99ms     float64 `json:"ttfk_p99_ms"`
	Skipped       float64 `json:"server_frames_skipped"`
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
