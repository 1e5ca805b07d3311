package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/auth"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/netlimit"
	"github.com/mediakit/mediakit/pkg/record"
)

// guard is what decides who may do what, parsed from one configuration
// and replaced as a whole when the configuration changes.
type guard struct {
	policy *access.Policy
	rules  *auth.Rules // nil: built-in authorisation off
	paths  *access.PathGuard
	// downloads confines the files served over HTTP (downloadFile) and
	// played back (loadMP4File): the recording roots and
	// record.allow_paths, not the rest of the data dir (its database
	// holds the saved settings and tasks).
	downloads *access.PathGuard
}

func buildGuard(cfg *config.Config) (*guard, error) {
	policy, err := cfg.AccessPolicy()
	if err != nil {
		return nil, err
	}
	rules, err := cfg.Auth.Rules()
	if err != nil {
		return nil, err
	}
	paths, err := access.NewPathGuard(cfg.General.DataDir, cfg.Record.AllowPathList())
	if err != nil {
		return nil, err
	}
	mp4Root, hlsRoot := recordRoots(cfg)
	downloads, err := access.NewRootsGuard(cfg.General.DataDir, append(cfg.Record.AllowPathList(), mp4Root, hlsRoot))
	if err != nil {
		return nil, err
	}
	return &guard{policy: policy, rules: rules, paths: paths, downloads: downloads}, nil
}

func (s *Server) guard() *guard { return s.guardPtr.Load() }

// confinePath checks a path from the API or a hook reply.
func (s *Server) confinePath(p string) (string, error) { return s.guard().paths.Confine(p) }

// apiUser reports whether r carries the credentials of a built-in user
// allowed to call the API.
func (s *Server) apiUser(r *http.Request, client netip.Addr) bool {
	return s.guard().rules.Grants(auth.ActionAPI, "", auth.FromRequest(r), client)
}

// authChain asks the built-in rules, then the next authorizer (the web
// hooks): built-in rules are cheap and local, so a request they refuse
// never reaches the hook server.
type authChain struct {
	s    *Server
	next engine.Authorizer
}

func (a authChain) AuthorizePublish(ctx context.Context, key engine.Key, info engine.SessionInfo) (engine.PublishOptions, error) {
	if err := a.check(auth.ActionPublish, key, info); err != nil {
		return engine.PublishOptions{}, err
	}
	return a.next.AuthorizePublish(ctx, key, info)
}

func (a authChain) AuthorizePlay(ctx context.Context, key engine.Key, info engine.SessionInfo) error {
	if err := a.check(auth.ActionPlay, key, info); err != nil {
		return err
	}
	return a.next.AuthorizePlay(ctx, key, info)
}

func (a authChain) check(action auth.Action, key engine.Key, info engine.SessionInfo) error {
	rules := a.s.guard().rules
	if !rules.Enabled() {
		return nil
	}
	addr, _ := access.ParseAddr(info.Remote)
	cred := auth.FromHeader(auth.FromQuery(info.Params), info.Authorization)
	name := key.App + "/" + key.Stream
	if rules.Grants(action, name, cred, addr) {
		return nil
	}
	a.s.log.Info("denied by auth.users", "action", string(action), "stream", key.String(),
		"session", info.ID, "remote", info.Remote, "protocol", info.Protocol)
	return fmt.Errorf("%w: no entry of auth.users lets this client %s %s", engine.ErrDenied, action, name)
}

// withWriteDeadline gives every HTTP reply a write deadline, armed at its
// first byte (a playlist or a player may wait for a stream before
// answering): a client that stops reading is cut instead of holding a
// goroutine and its buffers. Streaming replies (HTTP-FLV, WS-FLV) take
// over the connection and set a deadline per write themselves.
func withWriteDeadline(h http.Handler, timeout func() time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout()}, r)
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	armed   bool
}

func (d *deadlineWriter) arm() {
	if !d.armed {
		d.armed = true
		_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	}
}

func (d *deadlineWriter) WriteHeader(code int) {
	d.arm()
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	d.arm()
	return d.ResponseWriter.Write(b)
}

func (d *deadlineWriter) Flush() {
	d.arm()
	_ = d.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// Hijack hands the connection to a streaming handler, which then owns its
// deadlines.
func (d *deadlineWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return d.rc.Hijack() }

// clientRemote names the client of an HTTP media request as HOST:PORT:
// behind a trusted proxy the client it forwarded (with the proxy
// connection's port), so auth.users ips rules and the HLS grant cache see
// viewers, not the proxy.
func (s *Server) clientRemote(r *http.Request) string {
	c := s.guard().policy.Client(r)
	if c.Addr == c.Peer || !c.Addr.IsValid() {
		return r.RemoteAddr
	}
	_, port, _ := net.SplitHostPort(r.RemoteAddr)
	return net.JoinHostPort(c.Addr.String(), port)
}

// mediaCORS sets the CORS headers of HTTP-FLV and HLS replies.
func (s *Server) mediaCORS(h http.Header, r *http.Request) { s.guard().policy.MediaCORS(h, r) }

// denyAllPolicy admits no client address (0.0.0.0 is nobody's).
func denyAllPolicy() *access.Policy {
	p, _ := access.NewPolicy(access.Settings{AllowIPRange: "0.0.0.0"})
	return p
}

// denyAllPaths confines every path to nothing.
func denyAllPaths() *access.PathGuard { return &access.PathGuard{} }

// registerLimitMetrics exports the connection limiter and the limits in
// force.
func (s *Server) registerLimitMetrics() {
	m := s.metrics
	m.Gauge("conns", "Open RTMP and HTTP connections (general.maxConns counts these).",
		func() float64 { return float64(s.limiter.Active()) })
	for _, name := range []string{"rtmp", "http"} {
		m.GaugeWith("listener_conns", "Open connections by listener.", map[string]string{"listener": name},
			func() float64 { return float64(s.limiter.ActiveOn(name)) })
	}
	for _, reason := range netlimit.Reasons {
		m.CounterWith("conns_refused_total", "Connections closed at accept for being over a limit, by limit.",
			map[string]string{"reason": reason}, func() float64 { return float64(s.limiter.Refused(reason)) })
	}
	for name, get := range map[string]func(c *config.Config) int64{
		"max_conns":              func(c *config.Config) int64 { return c.General.MaxConns },
		"max_conns_per_ip":       func(c *config.Config) int64 { return c.General.MaxConnsPerIP },
		"max_streams":            func(c *config.Config) int64 { return c.General.MaxStreams },
		"max_readers_per_stream": func(c *config.Config) int64 { return c.General.MaxReadersPerStream },
	} {
		m.GaugeWith("limit", "Limits in force (0: none).", map[string]string{"name": name},
			func() float64 { return float64(get(s.Config())) })
	}
	for _, typ := range []record.Type{record.TypeMP4, record.TypeHLS} {
		m.CounterWith("record_failures_total", "Recording files or segments that could not be finished and synced (no hook was sent for them), by type.",
			map[string]string{"type": typ.String()}, func() float64 { return float64(s.records.Failures(typ)) })
	}
	m.GaugeWith("limit", "Limits in force (0: none).", map[string]string{"name": "write_timeout_seconds"},
		func() float64 { return s.Config().General.WriteTimeout.Seconds() })
}
