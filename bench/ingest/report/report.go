// Package report is the ingest and many-streams benchmarks' result
// record, shared by the load generator that writes it and the table that
// reads it.
package report

// Result is one measurement, a JSON line in bench/results.
type Result struct {
	Server        string  `json:"server"`
	HLS           string  `json:"hls"` // "off", "on" (from publish), "demand"
	Players       int     `json:"players_per_stream"`
	IdleStreams   int     `json:"idle_streams,omitempty"`
	Ingest        string  `json:"ingest"`
	Streams       int     `json:"streams"`
	Seconds       float64 `json:"seconds"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	IngestedGbit  float64 `json:"ingested_gbit"`
	CPUPerGbit    float64 `json:"cpu_s_per_gbit"`
	CoreShare     float64 `json:"core_share"` // CPU seconds per wall second
	MbpsPerStream float64 `json:"mbps_per_stream"`
	FramesIn      float64 `json:"frames_in"`
	FramesWant    float64 `json:"frames_expected"`
	RTPLost       float64 `json:"rtp_lost"`
	RSSMB         float64 `json:"rss_mb"`
	SendErrors    int64   `json:"send_errors"`
	// Per stream: CPU seconds over the window, RSS and goroutines
	// (mediakit's go_goroutines) after it, divided by streams.
	CPUPerStream  float64 `json:"cpu_s_per_stream"`
	RSSPerStreamK float64 `json:"rss_kib_per_stream"`
	RSSBaseMB     float64 `json:"rss_base_mb"`
	Goroutines    float64 `json:"goroutines,omitempty"`
	// Time to publish (RTMP connect to NetStream.Publish.Start) and to
	// first play (HTTP-FLV request to the first video keyframe) while
	// the others run, and getMediaList (mediakit, ZLMediaKit) or
	// /api/v1/streams (SRS) latency: p50 and p99 in ms.
	PublishP50ms   float64 `json:"publish_p50_ms,omitempty"`
	PublishP99ms   float64 `json:"publish_p99_ms,omitempty"`
	FirstPlayP50ms float64 `json:"first_play_p50_ms,omitempty"`
	FirstPlayP99ms float64 `json:"first_play_p99_ms,omitempty"`
	APIP50ms       float64 `json:"api_p50_ms,omitempty"`
	APIP99ms       float64 `json:"api_p99_ms,omitempty"`
	// APIFirstByte*: within the call above, the time to the reply's
	// first byte.
	APIFirstByteP50ms float64 `json:"api_first_byte_p50_ms,omitempty"`
	APIFirstByteP99ms float64 `json:"api_first_byte_p99_ms,omitempty"`
	PlayerMbps        float64 `json:"player_mbps_mean,omitempty"`
	// Delay*: each audio or video tag's arrival at its player, over the
	// measurement window, later than the player's fastest tag (arrival
	// minus timestamp, less its least): what batching adds, in ms.
	DelayP50ms   float64 `json:"delay_p50_ms,omitempty"`
	DelayP99ms   float64 `json:"delay_p99_ms,omitempty"`
	PlayerErrors int64   `json:"player_errors,omitempty"`
}
