// Command table prints many-streams results of bench/ingest (JSON lines)
// as a Markdown table, with each row's CPU and RSS per stream as a ratio
// to SRS's (live HLS on) at the same stream count, measured in the same
// run.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

type row struct {
	Server        string  `json:"server"`
	HLS           string  `json:"hls"`
	Players       int     `json:"players_per_stream"`
	IdleStreams   int     `json:"idle_streams"`
	Ingest        string  `json:"ingest"`
	Streams       int     `json:"streams"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerStream  float64 `json:"cpu_s_per_stream"`
	RSSMB         float64 `json:"rss_mb"`
	RSSPerStreamK float64 `json:"rss_kib_per_stream"`
	Goroutines    float64 `json:"goroutines"`
	FramesIn      float64 `json:"frames_in"`
	FramesWant    float64 `json:"frames_expected"`
	PublishP50    float64 `json:"publish_p50_ms"`
	PublishP99    float64 `json:"publish_p99_ms"`
	PlayP50       float64 `json:"first_play_p50_ms"`
	PlayP99       float64 `json:"first_play_p99_ms"`
	APIP50        float64 `json:"api_p50_ms"`
	APIP99        float64 `json:"api_p99_ms"`
	PlayerMbps    float64 `json:"player_mbps_mean"`
	PlayerErrors  int64   `json:"player_errors"`
	SendErrors    int64   `json:"send_errors"`
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
	fmt.Println("| server | live HLS | streams | idle streams | CPU s (15 s) | CPU ms per stream | vs SRS | RSS MB | RSS KiB per stream | vs SRS | goroutines per stream | publish p50 / p99 ms | first play p50 / p99 ms | list streams p50 / p99 ms | player Mbit/s | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
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
		fmt.Printf("| %s | %s | %d | %d | %.2f | %.1f | %s | %.0f | %.0f | %s | %s | %s / %s | %s / %s | %s / %s | %s | %d |\n",
			r.Server, r.HLS, r.Streams, r.IdleStreams, r.CPUSeconds, r.CPUPerStream*1000, cpuRatio, r.RSSMB, r.RSSPerStreamK, rssRatio, gor,
			dash(r.PublishP50, "%.1f"), dash(r.PublishP99, "%.1f"), dash(r.PlayP50, "%.1f"), dash(r.PlayP99, "%.1f"),
			dash(r.APIP50, "%.1f"), dash(r.APIP99, "%.1f"), dash(r.PlayerMbps, "%.3f"), r.PlayerErrors+r.SendErrors)
	}
}
