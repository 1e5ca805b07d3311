// Package metrics exposes mediakit's Prometheus metrics: the Go runtime and
// process collectors plus the engine's counters, read at scrape time so
// the media path only bumps atomics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mediakit/mediakit/pkg/engine"
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
	return &Registry{reg: reg}
}

// Gauge registers a gauge read from f at scrape time.
func (r *Registry) Gauge(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mediakit", Name: name, Help: help}, f))
}

// Handler serves the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}
