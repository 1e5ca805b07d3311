package server

import (
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"
)

// withPprof routes /debug/pprof/ to profiler when on, outside the
// one-deadline-per-reply guard of the other replies: a profile or trace
// of N seconds writes for N seconds.
func withPprof(on bool, next, profiler http.Handler) http.Handler {
	if !on {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			profiler.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pprofHandler is Go's profiler under /debug/pprof/, on a mux of its own
// (net/http/pprof's init fills http.DefaultServeMux, which mediakit never
// serves).
// Served only with http.pprof on, behind the API's authorization: a
// profile shows stream names and addresses, and a CPU profile costs.
func pprofHandler(writeTimeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The reply may take the asked seconds, then writeTimeout to
		// reach a slow client.
		secs, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
		_ = http.NewResponseController(w).SetWriteDeadline(
			time.Now().Add(time.Duration(max(secs, 0))*time.Second + writeTimeout))
		mux.ServeHTTP(w, r)
	})
}
