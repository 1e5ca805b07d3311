// Package report is the fan-out benchmark's result record, shared by the
// load generator that writes it and the table that reads it.
package report

// Result is one measurement, a JSON line in bench/results.
type Result struct {
	Target     string  `json:"target"`
	Idle       bool    `json:"idle,omitempty"`
	Readers    int     `json:"readers"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// UserCPUSeconds is the user-space part of CPUSeconds.
	UserCPUSeconds float64 `json:"user_cpu_seconds,omitempty"`
	DeliveredGB    float64 `json:"delivered_gb"`
	CPUPerGB       float64 `json:"cpu_s_per_gb"`
	ReaderMbps     float64 `json:"reader_mbps_mean"`
	ReaderMbpsMin  float64 `json:"reader_mbps_min"`
	Dropped        int     `json:"dropped"`
	Slow           int     `json:"slow"`
	RSSBaseMB      float64 `json:"rss_base_mb"`
	RSSPeakMB      float64 `json:"rss_peak_mb"`
	KiBPerReader   float64 `json:"kib_per_reader"`
	TTFKp50ms      float64 `json:"ttfk_p50_ms,omitempty"`
	TTFKp99ms      float64 `json:"ttfk_p99_ms,omitempty"`
	Skipped        float64 `json:"server_frames_skipped,omitempty"`
	ServerDropped  float64 `json:"server_readers_dropped,omitempty"`
	// ClientCPUSeconds is the load generator's own CPU time over the
	// window (players, not the server); Player names their kind.
	ClientCPUSeconds float64 `json:"client_cpu_seconds,omitempty"`
	Player           string  `json:"player,omitempty"`
	// Batching is the server's write batching window as set for the run
	// (mediakit's --merge-write, SRS's mw_latency, ZLMediaKit's
	// general.mergeWriteMS); empty: its default.
	Batching string `json:"batching,omitempty"`
	// ServerCPUs is the taskset CPU list the server ran on (-server-cpus);
	// empty: any. A pinned mediakit sizes its runtime (GOMAXPROCS) to it.
	ServerCPUs string `json:"server_cpus,omitempty"`
	// Round is the run's round in a file of several (bench/fanout.sh's
	// ROUNDS); zero: not part of rounds.
	Round int `json:"round,omitempty"`
}
