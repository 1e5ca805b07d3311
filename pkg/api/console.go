package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/mediakit/mediakit/pkg/logring"
)

// ConsoleHeader is the request header that must come with the web
// console's session cookie for the cookie to count: a page of another
// origin can make a browser send the cookie (a same-site page on another
// port, for one), but not this header without a CORS preflight, which the
// API never grants for it (access.Policy.APICORS does not list it).
const ConsoleHeader = "X-Mediakit-Console"

// Login checks what the console's login form gives, through the same
// gates as an API call: the browser checks, http.allow_ip_range, then a
// built-in user allowed the API (user and pass) or the secret. Unlike an
// API call, a loopback client without a secret proves nothing here: the
// credentials themselves must be right, so a wrong password is always
// refused. It returns the client the session is bound to.
func (s *Server) Login(r *http.Request, secret, user, pass string) (netip.Addr, *Error) {
	policy, want := s.policy(), s.secret()
	if err := policy.CheckBrowser(r, want == ""); err != nil {
		return netip.Addr{}, &Error{Code: CodeAuthFailed, Msg: err.Error()}
	}
	client := policy.Client(r)
	if !policy.IPAllowed(client.Addr) {
		return client.Addr, &Error{Code: CodeAuthFailed, Msg: "Your ip is not allowed to access the service."}
	}
	switch {
	case user != "":
		// The user's credentials as Basic authorization on a copy of the
		// request, so the rule's own reading of them (and its ips) apply;
		// the query is dropped so it cannot add others.
		u := r.Clone(r.Context())
		u.URL = &url.URL{Path: r.URL.Path}
		u.Header = r.Header.Clone()
		u.Header.Del("Authorization")
		u.SetBasicAuth(user, pass)
		if s.User == nil || !s.User(u, client.Addr) {
			return client.Addr, &Error{Code: CodeAuthFailed, Msg: "wrong user or password, or the user may not use the API"}
		}
		return client.Addr, nil
	case secret != "":
		if want == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
			return client.Addr, &Error{Code: CodeAuthFailed, Msg: "Incorrect secret"}
		}
		return client.Addr, nil
	}
	return client.Addr, &Error{Code: CodeInvalidArgs, Msg: "give the API secret, or a user and password"}
}

// Open reports whether the API would serve r without any credentials:
// no api.secret and a loopback client (the default), browser checks
// passed. The console then needs no login.
func (s *Server) Open(r *http.Request) bool {
	policy, secret := s.policy(), s.secret()
	if secret != "" || policy.CheckBrowser(r, true) != nil {
		return false
	}
	return s.check(r, policy, secret, proof{}) == nil
}

// RegisterLogs registers getRecentLogs: the last warning and error lines
// of the server's log, oldest first; with since=SEQ only those after it.
func (s *Server) RegisterLogs(ring *logring.Ring) {
	s.Handle("getRecentLogs", func(ctx context.Context, p *Params) (Reply, error) {
		since, err := p.Int("since", 0)
		if err != nil {
			return nil, err
		}
		return Reply{"data": ring.Since(uint64(max(since, 0)))}, nil
	})
}

// ClientAddr is the client of r as the API sees it (after trusted
// proxies): what the console binds a session to and counts failed logins
// by.
func (s *Server) ClientAddr(r *http.Request) netip.Addr { return s.policy().Client(r).Addr }
