package access

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// Policy is the parsed access configuration. It is immutable: a
// configuration change builds a new one.
type Policy struct {
	// AllowIP is http.allow_ip_range; empty allows every address.
	AllowIP IPRanges
	// TrustedProxies may name their client in X-Forwarded-For.
	TrustedProxies IPRanges
	// anyOrigin is set by "*" in api.allow_origin.
	anyOrigin bool
	origins   map[string]bool // normalised scheme://host[:port]
	hosts     []string        // lower case; "*.example.com" matches subdomains
	hostname  string          // this machine's name, lower case
}

// Settings are the textual settings a Policy is built from.
type Settings struct {
	AllowIPRange   string // http.allow_ip_range
	TrustedProxies string // http.trusted_proxies
	AllowOrigin    string // api.allow_origin
	AllowHost      string // http.allow_host
}

// NewPolicy parses settings; an error names the setting and the item.
func NewPolicy(s Settings) (*Policy, error) {
	p := &Policy{origins: map[string]bool{}}
	// Debian maps the machine's name to 127.0.1.1: `curl http://$(hostname):8080`
	// is a loopback call.
	if name, err := os.Hostname(); err == nil {
		p.hostname = strings.ToLower(name)
	}
	var err error
	if p.AllowIP, err = ParseIPRanges(s.AllowIPRange); err != nil {
		return nil, fmt.Errorf("http.allow_ip_range: %w", err)
	}
	if p.TrustedProxies, err = ParseIPRanges(s.TrustedProxies); err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	for _, o := range SplitList(s.AllowOrigin) {
		if o == "*" {
			p.anyOrigin = true
			continue
		}
		n, ok := normalizeOrigin(o)
		if !ok {
			return nil, fmt.Errorf("api.allow_origin: %q is not an origin such as https://console.example.com", o)
		}
		p.origins[n] = true
	}
	for _, h := range SplitList(s.AllowHost) {
		h = strings.ToLower(h)
		if strings.ContainsAny(h, "/:@ ") {
			return nil, fmt.Errorf("http.allow_host: %q is not a host name (no scheme or port)", h)
		}
		p.hosts = append(p.hosts, h)
	}
	return p, nil
}

// SplitList splits a comma-separated setting, dropping blanks and empty
// items.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// normalizeOrigin returns scheme://host[:port] in lower case without the
// scheme's default port, as browsers send it.
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	return u.Scheme + "://" + stripDefaultPort(strings.ToLower(u.Host), u.Scheme), true
}

// originOfURL is the scheme://host[:port] of an absolute URL.
func originOfURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

func stripDefaultPort(hostport, scheme string) string {
	switch {
	case scheme == "http" && strings.HasSuffix(hostport, ":80"):
		return strings.TrimSuffix(hostport, ":80")
	case scheme == "https" && strings.HasSuffix(hostport, ":443"):
		return strings.TrimSuffix(hostport, ":443")
	}
	return hostport
}

// Client identifies the client of r (see ClientOf).
func (p *Policy) Client(r *http.Request) Client { return ClientOf(r, p.TrustedProxies) }

// IPAllowed applies http.allow_ip_range.
func (p *Policy) IPAllowed(a netip.Addr) bool {
	return len(p.AllowIP) == 0 || p.AllowIP.Contains(a)
}

// OriginListed reports whether origin is in api.allow_origin.
func (p *Policy) OriginListed(origin string) bool {
	if origin == "" {
		return false
	}
	if p.anyOrigin {
		return true
	}
	n, ok := normalizeOrigin(origin)
	return ok && p.origins[n]
}

// sameOrigin reports whether origin names the host the request was sent
// to: a page served by this server (the console) calling its own API.
func sameOrigin(origin string, r *http.Request) bool {
	n, ok := normalizeOrigin(origin)
	if !ok {
		return false
	}
	_, hostport, _ := strings.Cut(n, "://")
	host := strings.ToLower(r.Host)
	host = stripDefaultPort(stripDefaultPort(host, "http"), "https")
	return hostport == host
}

// ErrBrowser is wrapped by every refusal of CheckBrowser.
var ErrBrowser = errors.New("browser request refused")

// CheckBrowser refuses requests a web page made on behalf of a visitor,
// unless the page's origin is listed in api.allow_origin or is this server
// itself (the same Host). With checkHost, the Host header must also name
// this server (HostAllowed), which defeats DNS rebinding: a page of
// evil.example whose name now resolves to 127.0.0.1 still sends
// "Host: evil.example". Callers that are not browsers (curl, platforms,
// scripts) send no Origin and pass unchanged.
func (p *Policy) CheckBrowser(r *http.Request, checkHost bool) error {
	if checkHost && !p.HostAllowed(r) {
		return fmt.Errorf("%w: Host %q is not an address of this server (list it in http.allow_host)", ErrBrowser, r.Host)
	}
	origin := r.Header.Get("Origin")
	site := r.Header.Get("Sec-Fetch-Site")
	crossSite := site == "cross-site" || site == "same-site"
	if origin == "" {
		if crossSite {
			return fmt.Errorf("%w: Sec-Fetch-Site %s without an Origin", ErrBrowser, site)
		}
		// Browsers without Sec-Fetch-Site still send a Referer with an
		// <img> or <script> GET, which carries no Origin.
		ref := r.Header.Get("Referer")
		if ref == "" {
			return nil
		}
		refOrigin, ok := originOfURL(ref)
		if ok && (p.OriginListed(refOrigin) || sameOrigin(refOrigin, r)) {
			return nil
		}
		return fmt.Errorf("%w: Referer from %q is not an allowed origin (list it in api.allow_origin)", ErrBrowser, refOrigin)
	}
	if p.OriginListed(origin) {
		return nil
	}
	// A page of this server calling its own API. Without a secret the
	// Host check above has vouched for the Host; with one, the secret
	// does the protecting.
	if !crossSite && sameOrigin(origin, r) {
		return nil
	}
	return fmt.Errorf("%w: Origin %q is not allowed (list it in api.allow_origin)", ErrBrowser, origin)
}

// HostAllowed reports whether the Host header names this server: a
// loopback address (not written IPv4-mapped), the address the client
// connected to, localhost, this machine's name, or a name listed in
// http.allow_host.
func (p *Policy) HostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is4In6() || a.Zone() != "" {
			// [::ffff:127.0.0.1] reaches loopback, but browsers do not
			// count it as a trustworthy origin and so send it without
			// Sec-Fetch-Site: no caller needs it, a page can abuse it.
			return false
		}
		if a.IsLoopback() {
			return true
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if l, ok := ParseAddr(la.String()); ok && l == a {
				return true
			}
		}
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || (p.hostname != "" && host == p.hostname) {
		// Browsers resolve *.localhost to loopback themselves, and no
		// DNS answer can make a page's request carry this machine's
		// own name unless the page asked for that name.
		return true
	}
	for _, h := range p.hosts {
		if h == host || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:])) {
			return true
		}
	}
	return false
}

// APICORS sets the CORS headers of an API reply: only for a listed or
// same origin, with credentials. It reports whether the origin may read
// the reply.
func (p *Policy) APICORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !(p.OriginListed(origin) || sameOrigin(origin, r)) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	// secret: ZLMediaKit also reads the secret from a request header.
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, secret")
	return true
}

// MediaCORS sets the CORS headers of a media reply (HTTP-FLV, HLS): any
// page may play a stream, as with every media server, but only a listed
// origin gets credentials (cookies, HTTP authentication) sent along.
func (p *Policy) MediaCORS(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if p != nil && origin != "" && p.OriginListed(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
		return
	}
	h.Set("Access-Control-Allow-Origin", "*")
}
