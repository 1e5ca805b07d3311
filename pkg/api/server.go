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
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
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

// Server routes /index/api/NAME to its handler after checking the secret.
type Server struct {
	// Secret returns the configured api.secret; read at every call so a
	// change through setServerConfig applies at once.
	Secret  func() string
	Log     *slog.Logger
	Metrics Metrics

	handlers map[string]HandlerFunc
}

// Prefix is where the API lives.
const Prefix = "/index/api/"

// NewServer returns a server without endpoints.
func NewServer(secret func() string, log *slog.Logger, metrics Metrics) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{Secret: secret, Log: log, Metrics: metrics, handlers: make(map[string]HandlerFunc)}
}

// Handle registers an endpoint.
func (s *Server) Handle(name string, fn HandlerFunc) {
	s.handlers[name] = fn
}

// Names lists the endpoints, sorted.
func (s *Server) Names() []string {
	out := make([]string, 0, len(s.handlers))
	for name := range s.handlers {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := s.canonicalName(strings.TrimPrefix(r.URL.Path, Prefix))
	if r.Method == http.MethodOptions {
		cors(w, r)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	reply, code, msg := s.serve(r, name)
	if reply == nil {
		reply = Reply{}
	}
	reply["code"] = int(code)
	if msg != "" || code != CodeSuccess {
		reply["msg"] = msg
	}
	body, err := json.Marshal(reply)
	if err != nil {
		code = CodeException
		body, _ = json.Marshal(Reply{"code": int(code), "msg": "encode reply: " + err.Error()})
	}
	cors(w, r)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if _, known := s.handlers[name]; !known {
		// As ZLMediaKit, whose unknown paths fall through to a 404.
		w.WriteHeader(http.StatusNotFound)
	}
	_, _ = w.Write(append(body, '\n'))

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
	if _, ok := s.handlers[name]; ok {
		return name
	}
	for n := range s.handlers {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	return name
}

// metricName keeps the label set bounded: unknown names count as one.
func (s *Server) metricName(name string) string {
	if _, ok := s.handlers[name]; ok {
		return name
	}
	return "unknown"
}

func (s *Server) serve(r *http.Request, name string) (reply Reply, code Code, msg string) {
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
	if err := s.authorize(r, p); err != nil {
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

// authorize: with a secret configured every call must carry it; without
// one only loopback clients are served.
func (s *Server) authorize(r *http.Request, p *Params) *Error {
	secret := ""
	if s.Secret != nil {
		secret = s.Secret()
	}
	if secret == "" {
		if !isLoopback(r.RemoteAddr) {
			return &Error{Code: CodeAuthFailed, Msg: "Your ip is not allowed to access the service: with no api.secret set, only loopback clients may call the API"}
		}
		return nil
	}
	given, ok := p.Lookup("secret")
	if !ok || given == "" {
		given = r.Header.Get("secret") // ZLMediaKit also reads it from a header
	}
	if given == "" {
		return &Error{Code: CodeInvalidArgs, Msg: `Required parameter missed: "secret"`}
	}
	if subtle.ConstantTimeCompare([]byte(given), []byte(secret)) != 1 {
		return &Error{Code: CodeAuthFailed, Msg: "Incorrect secret"}
	}
	return nil
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func cors(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		// secret: ZLMediaKit also reads the secret from a request header.
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, secret")
	}
}
