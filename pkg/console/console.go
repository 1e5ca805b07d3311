// Package console is mediakit's web console at /console/: static pages
// embedded in the binary (no CDN, no build step) that drive the server
// through its own HTTP API, and the login that lets a browser do so.
//
// A login (the API secret, or a built-in user allowed the API) is checked
// by the API itself (api.Server.Login) and gives the browser a session
// cookie: a random 32-byte token, HttpOnly, SameSite=Strict, Path=/,
// Secure over TLS, kept server side (only its SHA-256) with an absolute
// and an idle expiry. The API takes the cookie as authorisation only
// together with the X-Mediakit-Console header (api.ConsoleHeader) on a
// request that is not cross-origin, which a page of another origin cannot
// produce: so the cookie is useless for cross-site request forgery.
package console

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mediakit/mediakit/pkg/api"
)

// Prefix is where the console lives.
const Prefix = "/console/"

// CookieName is the session cookie's name.
const CookieName = "mediakit_console"

// Default lifetimes of a session: it ends TTL after the login, or Idle
// after the last request that used it, whichever comes first.
const (
	DefaultTTL  = 12 * time.Hour
	DefaultIdle = time.Hour
)

// Bounds that keep the console's memory fixed whatever a client sends.
const (
	maxSessions    = 1024
	maxTracked     = 4096 // client addresses with failed logins
	maxFailures    = 5    // failed logins per address per failureWindow
	failureWindow  = time.Minute
	maxLoginBody   = 4 << 10
	tokenBytes     = 32
	headerRequired = "1"
)

// csp allows the console's own scripts and styles only (no inline
// script), frames of this server (the player page) and no framing by
// other sites.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; " +
	"connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"

//go:embed assets/index.html assets/console.js assets/console.css
var assets embed.FS

// files are the console's assets by path under Prefix.
var files = map[string]struct{ name, ctype string }{
	"":            {"assets/index.html", "text/html; charset=utf-8"},
	"index.html":  {"assets/index.html", "text/html; charset=utf-8"},
	"console.js":  {"assets/console.js", "text/javascript; charset=utf-8"},
	"console.css": {"assets/console.css", "text/css; charset=utf-8"},
}

// API is what the console needs of the API server (*api.Server).
type API interface {
	Login(r *http.Request, secret, user, pass string) (netip.Addr, *api.Error)
	Open(r *http.Request) bool
	ClientAddr(r *http.Request) netip.Addr
}

// Options configure a Console.
type Options struct {
	API API
	// Epoch returns what sessions depend on; a session made under
	// another value has ended. The server gives the api.secret, so a
	// new secret logs every console out. Nil: nothing.
	Epoch func() string
	Log   *slog.Logger
	// TTL and Idle default to DefaultTTL and DefaultIdle.
	TTL, Idle time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Console serves the console and keeps its sessions.
type Console struct {
	o Options

	mu       sync.Mutex
	sessions map[[sha256.Size]byte]*session // by SHA-256 of the token
	failures map[netip.Prefix]*failure
}

type session struct {
	client   netip.Addr
	epoch    [sha256.Size]byte
	who      string
	expires  time.Time
	lastUsed time.Time
}

type failure struct {
	n     int
	since time.Time
}

// New returns a console.
func New(o Options) *Console {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Console{o: o, sessions: map[[sha256.Size]byte]*session{}, failures: map[netip.Prefix]*failure{}}
}

func (c *Console) epoch() [sha256.Size]byte {
	if c.o.Epoch == nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256([]byte(c.o.Epoch()))
}

// sameOrigin reports whether r can only have come from a page of this
// server (or from no page at all: curl, a typed URL): the browser's
// Sec-Fetch-Site is same-origin or absent, and an Origin, if any, names
// the Host the request was sent to. Unlike the API's browser check, an
// origin listed in api.allow_origin does not count: a page elsewhere
// never uses the console's session.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	return hostPort(u.Host, u.Scheme) == hostPort(r.Host, u.Scheme)
}

// hostPort lower-cases h and drops the scheme's default port, as browsers
// write an Origin.
func hostPort(h, scheme string) string {
	h = strings.ToLower(h)
	switch {
	case scheme == "http":
		return strings.TrimSuffix(h, ":80")
	case scheme == "https":
		return strings.TrimSuffix(h, ":443")
	}
	return h
}

// Check reports whether r comes from a console page logged in from
// client: the session cookie of a live session made from that address
// under the current epoch, on a request that is not cross-origin and
// carries the console's header, or, for files (GET and HEAD of
// recordings, which a <video> or a download link sends without headers),
// that the browser marks Sec-Fetch-Site: same-origin. It is
// api.Server.Console.
func (c *Console) Check(r *http.Request, client netip.Addr, files bool) bool {
	if !sameOrigin(r) {
		return false
	}
	if r.Header.Get(api.ConsoleHeader) != headerRequired {
		fetched := r.Header.Get("Sec-Fetch-Site") == "same-origin" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
		if !files || !fetched {
			return false
		}
	}
	_, ok := c.lookup(r, client)
	return ok
}

// lookup finds r's live session from client and marks it used.
func (c *Console) lookup(r *http.Request, client netip.Addr) (*session, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 2*base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return nil, false
	}
	key := sha256.Sum256([]byte(ck.Value))
	epoch := c.epoch()
	now := c.o.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[key]
	if s == nil {
		return nil, false
	}
	if c.expired(s, now) || s.epoch != epoch {
		delete(c.sessions, key)
		return nil, false
	}
	// Bound to the address it was made from: a copied cookie does not
	// work elsewhere, and an auth.users rule's ips keep applying.
	if s.client != client {
		return nil, false
	}
	s.lastUsed = now
	return s, true
}

func (c *Console) expired(s *session, now time.Time) bool {
	return !now.Before(s.expires) || now.Sub(s.lastUsed) >= c.o.Idle
}

// Sessions is the number of sessions held (expired ones until swept).
func (c *Console) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// Handler serves the console's paths under Prefix and hands every other
// path to next: a stream of the app "console" keeps its URLs
// (/console/cam.live.flv, the player page /console/cam/).
func (c *Console) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _ := strings.CutPrefix(r.URL.Path, Prefix)
		switch f, asset := files[name]; {
		case name == "login":
			c.login(w, r)
		case name == "logout":
			c.logout(w, r)
		case name == "session":
			c.status(w, r)
		case asset:
			c.asset(w, r, f.name, f.ctype)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request, name, ctype string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := assets.ReadFile(name)
	if err != nil { // embedded: cannot happen
		http.Error(w, "console asset: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	// A new binary brings new assets: revalidate rather than cache.
	h.Set("Cache-Control", "no-cache")
	securityHeaders(h)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// securityHeaders are on every console reply.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// reply writes the API's envelope as JSON.
func reply(w http.ResponseWriter, status int, body map[string]any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	securityHeaders(h)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func refuse(w http.ResponseWriter, status int, code api.Code, msg string) {
	reply(w, status, map[string]any{"code": int(code), "msg": msg})
}

// fromPage checks what every console endpoint but the assets requires:
// the method, not cross-origin, and the console's header (which a form
// or a page elsewhere cannot add).
func fromPage(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method != method {
		w.Header().Set("Allow", method)
		refuse(w, http.StatusMethodNotAllowed, api.CodeInvalidArgs, "console: use "+method)
		return false
	}
	if !sameOrigin(r) || r.Header.Get(api.ConsoleHeader) != headerRequired {
		refuse(w, http.StatusForbidden, api.CodeAuthFailed, "console: only the console's own page may do this")
		return false
	}
	return true
}

// status answers GET /console/session: how this browser is let in.
// auth is "open" (the API serves this client without credentials: no
// secret, loopback), "session" (logged in) or "none" (log in first).
func (c *Console) status(w http.ResponseWriter, r *http.Request) {
	if !fromPage(w, r, http.MethodGet) {
		return
	}
	out := map[string]any{"code": 0, "auth": "none"}
	if s, ok := c.lookup(r, c.o.API.ClientAddr(r)); ok {
		out["auth"], out["who"], out["expires"] = "session", s.who, s.expires.UTC().Format(time.RFC3339)
	} else if c.o.API.Open(r) {
		out["auth"] = "open"
	}
	reply(w, http.StatusOK, out)
}

// login answers POST /console/login (a form: secret, or user and
// password): a session cookie, or a refusal logged in one line.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !fromPage(w, r, http.MethodPost) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		refuse(w, http.StatusOK, api.CodeInvalidArgs, "console login: read form: "+err.Error())
		return
	}
	// The attempt is counted before the credentials are checked, in one
	// step with the limit's check: attempts sent in parallel count too.
	client := c.o.API.ClientAddr(r)
	now := c.o.Now()
	wait, logIt := c.attempt(client, now)
	if wait > 0 {
		refuse(w, http.StatusOK, api.CodeAuthFailed,
			"too many failed logins from this address; try again in "+strconv.Itoa(int(wait.Seconds()+1))+" s")
		return
	}
	secret, user, pass := r.PostForm.Get("secret"), r.PostForm.Get("user"), r.PostForm.Get("password")
	_, apiErr := c.o.API.Login(r, secret, user, pass)
	if apiErr != nil {
		if logIt {
			// A user name is logged cut short: it may be a password typed
			// in the wrong field, and it comes from anyone.
			level := slog.LevelWarn
			if apiErr.Code == api.CodeAuthFailed && strings.HasPrefix(apiErr.Msg, "Your ip is not allowed") {
				level = slog.LevelDebug // outside http.allow_ip_range: nothing was checked
			}
			c.o.Log.Log(r.Context(), level, "console login refused", "remote", r.RemoteAddr, "client", client.String(),
				"user", shorten(user, 32), "reason", apiErr.Msg)
		}
		// HTTP 200 with the code, as the API answers (a browser would
		// log any 4xx of the page's fetch as an error).
		refuse(w, http.StatusOK, apiErr.Code, apiErr.Msg)
		return
	}
	who := "secret"
	if user != "" {
		who = "user " + user
	}
	if ck, err := r.Cookie(CookieName); err == nil {
		c.end(ck.Value) // a new login replaces the browser's old session
	}
	token, err := c.newSession(client, who, now)
	if err != nil {
		refuse(w, http.StatusInternalServerError, api.CodeException, "console login: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: token, Path: "/", MaxAge: int(c.o.TTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureOrigin(r),
	})
	c.o.Log.Info("console login", "remote", r.RemoteAddr, "who", who)
	reply(w, http.StatusOK, map[string]any{"code": 0, "who": who})
}

// logout answers POST /console/logout: the session ends here and the
// browser is told to drop the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if !fromPage(w, r, http.MethodPost) {
		return
	}
	if ck, err := r.Cookie(CookieName); err == nil {
		c.end(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureOrigin(r),
	})
	reply(w, http.StatusOK, map[string]any{"code": 0})
}

// end forgets the session of token, if any.
func (c *Console) end(token string) {
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	delete(c.sessions, key)
	c.mu.Unlock()
}

// secureOrigin reports whether the page logging in was served over
// HTTPS: by mediakit itself, or by a TLS-terminating proxy in front (the
// page's Origin, already checked to name this Host, says https).
func secureOrigin(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(r.Header.Get("Origin")), "https://")
}

// shorten cuts s to at most n bytes (on a rune boundary).
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func (c *Console) newSession(client netip.Addr, who string, now time.Time) (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	s := &session{client: client, epoch: c.epoch(), who: who, expires: now.Add(c.o.TTL), lastUsed: now}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions) >= maxSessions {
		c.sweep(now)
	}
	if len(c.sessions) >= maxSessions {
		// Full of live sessions: the one closest to its end goes.
		var oldest [sha256.Size]byte
		var at time.Time
		for k, v := range c.sessions {
			if at.IsZero() || v.expires.Before(at) {
				oldest, at = k, v.expires
			}
		}
		delete(c.sessions, oldest)
	}
	c.sessions[sha256.Sum256([]byte(token))] = s
	delete(c.failures, failureKey(client))
	return token, nil
}

// sweep drops expired sessions; c.mu held.
func (c *Console) sweep(now time.Time) {
	for k, s := range c.sessions {
		if c.expired(s, now) {
			delete(c.sessions, k)
		}
	}
}

// attempt counts a login attempt of client (by address; IPv6 by its /64,
// which one machine usually holds whole) and returns how long it must
// wait when it is over the limit, and whether a refusal is to be logged:
// attempts past the limit within a window are refused unlogged, so a
// password guesser cannot flood the log. A success clears the count
// (newSession). At most maxTracked clients are followed; when full, the
// one whose window began first is forgotten.
func (c *Console) attempt(client netip.Addr, now time.Time) (wait time.Duration, logIt bool) {
	key := failureKey(client)
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.failures[key]
	if f == nil || now.Sub(f.since) >= failureWindow {
		if f == nil && len(c.failures) >= maxTracked {
			c.evictFailure(now)
		}
		f = &failure{since: now}
		c.failures[key] = f
	}
	if f.n >= maxFailures {
		return failureWindow - now.Sub(f.since), false
	}
	f.n++
	return 0, true
}

// evictFailure makes room in the failures table; c.mu held.
func (c *Console) evictFailure(now time.Time) {
	var oldest netip.Prefix
	var at time.Time
	for k, f := range c.failures {
		if now.Sub(f.since) >= failureWindow {
			delete(c.failures, k)
			continue
		}
		if at.IsZero() || f.since.Before(at) {
			oldest, at = k, f.since
		}
	}
	if len(c.failures) >= maxTracked {
		delete(c.failures, oldest)
	}
}

// failureKey is what failed logins are counted by: the address, or an
// IPv6 address's /64.
func failureKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}
