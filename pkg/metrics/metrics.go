// Package metrics exposes mediakit's Prometheus metrics: the Go runtime and
// process collectors plus the engine's counters, read at scrape time so
// the media path only bumps atomics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// Registry is a Prometheus registry with mediakit's collectors.
type Registry struct {
	reg *prometheus.Registry
}

// New registers the Go and process collectors and the engine's counters.
func New(stats *engine.Stats) *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() int64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mediakit", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	counter := func(name, help string, f func() int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mediakit", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	gauge("streams", "Streams with a publisher or in their grace period.", stats.Streams.Load)
	gauge("readers", "Readers (players, recorders) attached to streams.", stats.Readers.Load)
	gauge("readers_waiting", "Readers waiting for a stream to be published.", stats.WaitingReaders.Load)
	counter("bytes_in_total", "Bytes received from publishers.", stats.BytesIn.Load)
	counter("bytes_out_total", "Bytes sent to readers.", stats.BytesOut.Load)
	counter("frames_in_total", "Frames received from publishers.", stats.FramesIn.Load)
	counter("frames_skipped_total", "Frames slow readers skipped to catch up.", stats.FramesSkipped.Load)
	counter("readers_dropped_total", "Readers ended for falling too far behind.", stats.ReadersDropped.Load)
	counter("publishers_refused_total", "Publishers refused because the stream was already published.", stats.PublishersRefused.Load)
	counter("publishers_replaced_total", "Publishers replaced by a new one (takeover).", stats.PublishersReplaced.Load)
	counter("publisher_returns_total", "Publishers that came back within the grace period.", stats.PublisherReturns.Load)
	counter("readers_not_found_total", "Readers that waited for a stream that never came.", stats.ReadersNotFound.Load)
	counter("streams_refused_total", "Publishers of a new stream refused by general.maxStreams.", stats.StreamsRefused.Load)
	counter("readers_refused_total", "Players refused by general.maxReadersPerStream.", stats.ReadersRefused.Load)
	r := &Registry{reg: reg}
	r.Batch([]BatchMetric{{Name: "tracks_dropped_total", Counter: true, Labels: []string{"output", "codec"},
		Help: "Streams whose track an output left out because it cannot carry the codec."}},
		func(emit func(string, float64, ...string)) {
			stats.TrackDrops.Each(func(output string, codec media.Codec, n int64) {
				emit("tracks_dropped_total", float64(n), output, codec.String())
			})
		})
	return r
}

// Gauge registers a gauge read from f at scrape time.
func (r *Registry) Gauge(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mediakit", Name: name, Help: help}, f))
}

// GaugeWith registers a gauge with constant labels, read from f at scrape
// time; several gauges may share a name with different label values.
func (r *Registry) GaugeWith(name, help string, labels map[string]string, f func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mediakit", Name: name, Help: help,
		ConstLabels: labels}, f))
}

// CounterWith registers a counter with constant labels, read from f at
// scrape time.
func (r *Registry) CounterWith(name, help string, labels map[string]string, f func() float64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mediakit", Name: name, Help: help,
		ConstLabels: labels}, f))
}

// Handler serves the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// CallMetrics counts API calls and hook requests.
type CallMetrics struct {
	apiCalls    *prometheus.CounterVec
	apiLatency  *prometheus.HistogramVec
	hookCalls   *prometheus.CounterVec
	hookLatency *prometheus.HistogramVec
}

// Calls registers and returns the API and hook metrics.
func (r *Registry) Calls() *CallMetrics {
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &CallMetrics{
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mediakit", Name: "api_requests_total",
			Help: "HTTP API calls by endpoint and result code (0 success; -100 auth; -300 arguments; -400 exception; -500 not found)."},
			[]string{"api", "code"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "mediakit", Name: "api_request_duration_seconds",
			Help: "HTTP API call latency by endpoint.", Buckets: buckets}, []string{"api"}),
		hookCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mediakit", Name: "hook_requests_total",
			Help: "Web hook calls by hook and result (ok, denied, failed, dropped)."}, []string{"hook", "result"}),
		hookLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "mediakit", Name: "hook_duration_seconds",
			Help: "Web hook latency, retries included, by hook.", Buckets: buckets}, []string{"hook"}),
	}
	r.reg.MustRegister(m.apiCalls, m.apiLatency, m.hookCalls, m.hookLatency)
	return m
}

// ObserveAPI records one API call.
func (m *CallMetrics) ObserveAPI(name string, code int, d time.Duration) {
	m.apiCalls.WithLabelValues(name, strconv.Itoa(code)).Inc()
	m.apiLatency.WithLabelValues(name).Observe(d.Seconds())
}

// ObserveHook records one hook call.
func (m *CallMetrics) ObserveHook(name, result string, d time.Duration) {
	m.hookCalls.WithLabelValues(name, result).Inc()
	if result != "dropped" {
		m.hookLatency.WithLabelValues(name).Observe(d.Seconds())
	}
}

// BatchMetric declares one metric of a Batch.
type BatchMetric struct {
	Name, Help string
	Counter    bool     // a counter; else a gauge
	Labels     []string // label names, in the order fn gives the values
}

// Batch registers metrics read together from one snapshot: at each
// scrape fn runs once and emits samples by metric name, so a costly
// snapshot (every RTP stream's figures) is taken once, not once per
// metric, and sets that come and go (one sample per stream) are possible.
func (r *Registry) Batch(metrics []BatchMetric, fn func(emit func(name string, v float64, labelValues ...string))) {
	c := &batchCollector{fn: fn, descs: map[string]batchDesc{}}
	for _, m := range metrics {
		t := prometheus.GaugeValue
		if m.Counter {
			t = prometheus.CounterValue
		}
		c.descs[m.Name] = batchDesc{prometheus.NewDesc(prometheus.BuildFQName("mediakit", "", m.Name), m.Help, m.Labels, nil), t}
	}
	r.reg.MustRegister(c)
}

type batchDesc struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

type batchCollector struct {
	descs map[string]batchDesc
	fn    func(emit func(name string, v float64, labelValues ...string))
}

func (c *batchCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d.desc
	}
}

func (c *batchCollector) Collect(ch chan<- prometheus.Metric) {
	c.fn(func(name string, v float64, lv ...string) {
		if d, ok := c.descs[name]; ok {
			if m, err := prometheus.NewConstMetric(d.desc, d.typ, v, lv...); err == nil {
				ch <- m
			}
		}
	})
}
