// Command table prints many-streams results of bench/ingest (JSON lines)
// as a Markdown table, with each row's CPU and RSS per stream as a ratio
// to SRS's (live HLS on) at the same stream count, measured in the same
// run.
package main

import (
	"github.com/mediakit/mediakit/bench/ingest/report"

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
	type ref struct{ cpu, rss float64 }
	srs := map[int]ref{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			fmt.Fprintln(os.Stderr, "table:", err)
			os.Exit(1)
		}
		rows = append(rows, r)
		if r.Server == "srs" && r.HLS == "on" {
			srs[r.Streams] = ref{r.CPUPerStream, r.RSSPerStreamK}
		}
	}
	dash := func(v float64, format string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	fmt.Println("| server | live HLS | streams | idle streams | CPU s (15 s) | CPU ms per stream | vs SRS | RSS MB | RSS KiB per stream | vs SRS | goroutines per stream | publish p50 / p99 ms | first play p50 / p99 ms | list streams p50 / p99 ms (first byte) | player Mbit/s | delay p50 / p99 ms | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		cpuRatio, rssRatio := "-", "-"
		if s, ok := srs[r.Streams]; ok && r.IdleStreams == 0 && s.cpu > 0 {
			cpuRatio = fmt.Sprintf("%.2fx", r.CPUPerStream/s.cpu)
			rssRatio = fmt.Sprintf("%.2fx", r.RSSPerStreamK/s.rss)
		}
		gor := "-"
		if n := r.Streams + r.IdleStreams; r.Goroutines > 0 && n > 0 {
			gor = fmt.Sprintf("%.1f", r.Goroutines/float64(n))
		}
		fmt.Printf("| %s | %s | %d | %d | %.2f | %.1f | %s | %.0f | %.0f | %s | %s | %s / %s | %s / %s | %s / %s (%s / %s) | %s | %s / %s | %d |\n",
			r.Server, r.HLS, r.Streams, r.IdleStreams, r.CPUSeconds, r.CPUPerStream*1000, cpuRatio, r.RSSMB, r.RSSPerStreamK, rssRatio, gor,
			dash(r.PublishP50ms, "%.1f"), dash(r.PublishP99ms, "%.1f"), dash(r.FirstPlayP50ms, "%.1f"), dash(r.FirstPlayP99ms, "%.1f"),
			dash(r.APIP50ms, "%.1f"), dash(r.APIP99ms, "%.1f"), dash(r.APIFirstByteP50ms, "%.1f"), dash(r.APIFirstByteP99ms, "%.1f"), dash(r.PlayerMbps, "%.3f"),
			dash(r.DelayP50ms, "%.1f"), dash(r.DelayP99ms, "%.1f"), r.PlayerErrors+r.SendErrors)
	}
}
