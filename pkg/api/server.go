// Package api is ZLMediaKit's HTTP API at /index/api/NAME, so platforms
// written for ZLMediaKit (WVP-GB28181-pro and others) drive mediakit
// unchanged: the same names, parameters (query, form or JSON body), reply
// fields, and the {"code":N,"msg":...} envelope, always with HTTP 200.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/jsonw"
)

// Code is ZLMediaKit's API result code.
type Code int

// Codes (ZLMediaKit's ApiErr).
const (
	CodeSuccess     Code = 0
	CodeOtherFailed Code = -1
	CodeAuthFailed  Code = -100
	CodeInvalidArgs Code = -300
	CodeException   Code = -400
	CodeNotFound    Code = -500
)

// Error is an API failure with its code.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Reply is a successful answer's fields besides "code".
type Reply map[string]any

// HandlerFunc answers one API call. With an error, the fields of a
// non-nil Reply are sent too, beside "code" and "msg".
type HandlerFunc func(ctx context.Context, p *Params) (Reply, error)

// Metrics records API calls; nil is allowed.
type Metrics interface {
	ObserveAPI(name string, code int, d time.Duration)
}

// Server routes /index/api/NAME to its handler after checking who calls.
type Server struct {
	// Secret returns the configured api.secret; read at every call so a
	// change through setServerConfig applies at once.
	Secret  func() string
	Log     *slog.Logger
	Metrics Metrics
	// Access returns the current access policy (allowed addresses,
	// trusted proxies, browser origins and hosts); nil allows every
	// address and no browser origin.
	Access func() *access.Policy
	// User, if set, reports whether the request carries the credentials
	// of a built-in user allowed to call the API from client; such a
	// caller needs no secret.
	User func(r *http.Request, client netip.Addr) bool
	// Console, if set, reports whether r comes from a page of the web
	// console logged in from client (pkg/console): its session cookie,
	// and proof that the page itself sent the request (see
	// ConsoleHeader). With files, a browser's Sec-Fetch-Site:
	// same-origin counts as that proof too.
	Console func(r *http.Request, client netip.Addr, files bool) bool

	handlers map[string]HandlerFunc
	// own are endpoints that answer by themselves (HandleHTTP).
	own map[string]http.Handler
}

// Prefix is where the API lives.
const Prefix = "/index/api/"

// NewServer returns a server without endpoints.
func NewServer(secret func() string, log *slog.Logger, metrics Metrics) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{Secret: secret, Log: log, Metrics: metrics, handlers: make(map[string]HandlerFunc), own: make(map[string]http.Handler)}
}

// Handle registers an endpoint.
func (s *Server) Handle(name string, fn HandlerFunc) {
	s.handlers[name] = fn
}

// HandleHTTP registers an endpoint that writes its own reply and decides
// itself who may call it: ZLMediaKit's downloadFile sends a file, and is
// authorised by on_http_access and the address rather than the secret
// (the platforms that use it hand its URL to browsers). Authorized says
// whether the API's own checks would pass.
func (s *Server) HandleHTTP(name string, h http.Handler) {
	s.own[name] = h
}

// Names lists the endpoints, sorted.
func (s *Server) Names() []string {
	out := make([]string, 0, len(s.handlers)+len(s.own))
	for name := range s.handlers {
		out = append(out, name)
	}
	for name := range s.own {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Authorized reports whether the API would serve r: the browser checks,
// the allowed addresses, a built-in user or the secret (from the query or
// a secret header).
func (s *Server) Authorized(r *http.Request) bool {
	policy := s.policy()
	secret := s.secret()
	if policy.CheckBrowser(r, secret == "") != nil {
		return false
	}
	p := NewParams(map[string]string{"secret": r.URL.Query().Get("secret")})
	// Files: a <video> or a download link of the console cannot add a
	// header, but the browser says which page asked.
	return s.check(r, policy, secret, proof{secret: givenSecret(r, p), user: r, console: true, files: true}) == nil
}

var defaultPolicy, _ = access.NewPolicy(access.Settings{})

func (s *Server) policy() *access.Policy {
	if s.Access != nil {
		if p := s.Access(); p != nil {
			return p
		}
	}
	return defaultPolicy
}

func (s *Server) secret() string {
	if s.Secret == nil {
		return ""
	}
	return s.Secret()
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := s.canonicalName(strings.TrimPrefix(r.URL.Path, Prefix))
	if h, ok := s.own[name]; ok {
		// Before the browser checks: its own authorisation decides.
		s.serveOwn(w, r, name, h, start)
		return
	}
	policy := s.policy()
	secret := s.secret()
	// A web page calling on behalf of a visitor is refused before
	// anything is parsed; without a secret the Host must name this
	// server too (DNS rebinding).
	if err := policy.CheckBrowser(r, secret == ""); err != nil {
		s.writeReply(w, r, http.StatusForbidden, Reply{"code": int(CodeAuthFailed), "msg": err.Error()})
		s.observe(r, name, CodeAuthFailed, start)
		return
	}
	if r.Method == http.MethodOptions {
		policy.APICORS(w, r)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	reply, code, msg := s.serve(r, name, policy, secret)
	if raw, ok := rawOf(reply, code); ok {
		policy.APICORS(w, r)
		writeRaw(w, r, raw)
		s.observe(r, name, code, start)
		return
	}
	if reply == nil {
		reply = Reply{}
	}
	reply["code"] = int(code)
	if msg != "" || code != CodeSuccess {
		reply["msg"] = msg
	}
	policy.APICORS(w, r)
	status := http.StatusOK
	if _, known := s.handlers[name]; !known {
		// As ZLMediaKit, whose unknown paths fall through to a 404.
		status = http.StatusNotFound
	}
	encoded := false
	defer func() { // also when writeReply cuts the connection
		if !encoded {
			code = CodeException
		}
		s.observe(r, name, code, start)
	}()
	encoded = s.writeReply(w, r, status, reply)
}

// serveOwn runs an endpoint of HandleHTTP, and records it with the code
// its HTTP status stands for.
func (s *Server) serveOwn(w http.ResponseWriter, r *http.Request, name string, h http.Handler, start time.Time) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		code := CodeSuccess
		if v := recover(); v != nil {
			s.Log.Error("api handler panicked", "api", name, "panic", fmt.Sprint(v))
			if sw.status == 0 {
				http.Error(sw, "internal error", http.StatusInternalServerError)
			}
			code = CodeException
		}
		switch st := sw.status; {
		case st == http.StatusUnauthorized || st == http.StatusForbidden:
			code = CodeAuthFailed
		case st == http.StatusNotFound:
			code = CodeNotFound
		case st == http.StatusBadRequest:
			code = CodeInvalidArgs
		case st >= 500:
			code = CodeException
		}
		s.observe(r, name, code, start)
	}()
	h.ServeHTTP(sw, r)
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Protect serves h only to callers the API would serve: the same
// browser checks, allowed addresses, built-in users and secret (from the
// query or a secret header). Others get the API's JSON error.
func (s *Server) Protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		policy := s.policy()
		secret := s.secret()
		if err := policy.CheckBrowser(r, secret == ""); err != nil {
			s.writeReply(w, r, http.StatusForbidden, Reply{"code": int(CodeAuthFailed), "msg": err.Error()})
			return
		}
		// The query only: a profile request has no body worth reading.
		p := NewParams(map[string]string{"secret": r.URL.Query().Get("secret")})
		if err := s.authorize(r, p, policy, secret); err != nil {
			s.writeReply(w, r, http.StatusForbidden, Reply{"code": int(err.Code), "msg": err.Msg})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// replyPiece is the size of the pieces a large reply is written in
// (jsonw.EncodeStream): a list of a thousand streams is megabytes.
const replyPiece = 64 << 10

// writeReply sends reply as JSON; false when it could not be encoded.
// A reply that fails to encode after its first piece was sent cannot be
// replaced by an error reply: the connection is cut
// (http.ErrAbortHandler), so that the client sees a broken reply rather
// than a short one. A client that went away is not a failed call.
func (s *Server) writeReply(w http.ResponseWriter, r *http.Request, status int, reply Reply) bool {
	sent := false
	var writeErr error
	send := func(body []byte) error {
		if !sent {
			sent = true
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(status)
		}
		_, writeErr = w.Write(body)
		return writeErr
	}
	err := jsonw.EncodeStream(map[string]any(reply), "\n", replyPiece, send)
	switch {
	case err == nil || writeErr != nil:
		return true // net/http closes a connection whose write failed
	case sent:
		s.Log.Error("api reply cut short", "remote", r.RemoteAddr, "error", err)
		panic(http.ErrAbortHandler)
	}
	s.Log.Error("api reply failed to encode", "remote", r.RemoteAddr, "error", err)
	body, _ := json.Marshal(Reply{"code": int(CodeException), "msg": "encode reply: " + err.Error()})
	_ = send(append(body, '\n'))
	return false
}

// observe records and logs one call.
func (s *Server) observe(r *http.Request, name string, code Code, start time.Time) {
	d := time.Since(start)
	if s.Metrics != nil {
		s.Metrics.ObserveAPI(s.metricName(name), int(code), d)
	}
	// One line per call; the parameters (and so the secret) are never
	// logged.
	level := slog.LevelDebug
	if code != CodeSuccess {
		level = slog.LevelInfo
	}
	s.Log.Log(r.Context(), level, "api call", "api", name, "code", int(code), "remote", r.RemoteAddr,
		"duration", d.Round(time.Microsecond).String())
}

// canonicalName matches an endpoint name regardless of case, as
// ZLMediaKit does.
func (s *Server) canonicalName(name string) string {
	if s.known(name) {
		return name
	}
	for _, n := range s.Names() {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	return name
}

func (s *Server) known(name string) bool {
	_, ok := s.handlers[name]
	_, own := s.own[name]
	return ok || own
}

// metricName keeps the label set bounded: unknown names count as one.
func (s *Server) metricName(name string) string {
	if s.known(name) {
		return name
	}
	return "unknown"
}

func (s *Server) serve(r *http.Request, name string, policy *access.Policy, secret string) (reply Reply, code Code, msg string) {
	defer func() {
		if v := recover(); v != nil {
			s.Log.Error("api handler panicked", "api", name, "panic", fmt.Sprint(v))
			reply, code, msg = nil, CodeException, fmt.Sprintf("internal error: %v", v)
		}
	}()
	fn, ok := s.handlers[name]
	if !ok {
		return nil, CodeNotFound, "unknown api: " + name
	}
	p, err := ParseParams(r)
	if err != nil {
		return nil, CodeInvalidArgs, err.Error()
	}
	if err := s.authorize(r, p, policy, secret); err != nil {
		return nil, err.Code, err.Msg
	}
	reply, err = fn(r.Context(), p)
	if err != nil {
		// A handler may give fields with its error, as close_stream's
		// {"code":-1,"result":-1,"msg":"close failed"}.
		var apiErr *Error
		if errors.As(err, &apiErr) {
			return reply, apiErr.Code, apiErr.Msg
		}
		return reply, CodeException, err.Error()
	}
	return reply, CodeSuccess, ""
}

// authorize: the caller must be in http.allow_ip_range (as ZLMediaKit,
// secret or not); then a logged-in console page or a built-in API user
// passes; otherwise, with a secret configured every call must carry it,
// and without one only loopback clients are served.
func (s *Server) authorize(r *http.Request, p *Params, policy *access.Policy, secret string) *Error {
	return s.check(r, policy, secret, proof{secret: givenSecret(r, p), user: r, console: true})
}

// givenSecret is the secret a call carries: the parameter, else the
// header ZLMediaKit also reads it from.
func givenSecret(r *http.Request, p *Params) string {
	given, ok := p.Lookup("secret")
	if !ok || given == "" {
		given = r.Header.Get("secret")
	}
	return given
}

// proof is what a request offers to show who sends it.
type proof struct {
	secret string        // the secret given; "" for none
	user   *http.Request // where a built-in user's credentials are read; nil: none
	// console asks Console about the request's session cookie; files
	// lets Console take Sec-Fetch-Site: same-origin for its header.
	console, files bool
}

// check is the one decision behind API calls, Protect, Authorized and the
// console's login and open mode.
func (s *Server) check(r *http.Request, policy *access.Policy, secret string, pr proof) *Error {
	client := policy.Client(r)
	if !policy.IPAllowed(client.Addr) {
		return &Error{Code: CodeAuthFailed, Msg: "Your ip is not allowed to access the service."}
	}
	if pr.console && s.Console != nil && s.Console(r, client.Addr, pr.files) {
		return nil
	}
	if pr.user != nil && s.User != nil && s.User(pr.user, client.Addr) {
		return nil
	}
	if secret == "" {
		if client.Forwarded {
			// A proxy on this host makes every client look like loopback.
			return &Error{Code: CodeAuthFailed, Msg: "Your ip is not allowed to access the service: the request came through a proxy not listed in http.trusted_proxies, and no api.secret is set"}
		}
		if !client.Addr.IsLoopback() {
			return &Error{Code: CodeAuthFailed, Msg: "Your ip is not allowed to access the service: with no api.secret set, only loopback clients may call the API"}
		}
		return nil
	}
	if pr.secret == "" {
		return &Error{Code: CodeInvalidArgs, Msg: `Required parameter missed: "secret"`}
	}
	if subtle.ConstantTimeCompare([]byte(pr.secret), []byte(secret)) != 1 {
		return &Error{Code: CodeAuthFailed, Msg: "Incorrect secret"}
	}
	return nil
}
