package server

import (
	"net/http"
	"net/http/pprof"
)

// pprofHandler is Go's profiler under /debug/pprof/, on a mux of its own
// (net/http/pprof's init fills http.DefaultServeMux, which mediakit never
// serves).
// Served only with http.pprof on, behind the API's authorization: a
// profile shows stream names and addresses, and a CPU profile costs.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
