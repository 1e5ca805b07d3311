package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// FromQuery reads credentials from a URL query (`user`, `pass`, `token`),
// the way RTMP clients and players that cannot set headers pass them:
// rtmp://host/live/cam?user=u&pass=p.
func FromQuery(rawQuery string) Credentials {
	q, _ := url.ParseQuery(rawQuery)
	return Credentials{User: q.Get("user"), Pass: q.Get("pass"), Token: q.Get("token")}
}

// FromRequest reads credentials from HTTP Basic or Bearer authorization,
// falling back to the query.
func FromRequest(r *http.Request) Credentials {
	return FromHeader(FromQuery(r.URL.RawQuery), r.Header.Get("Authorization"))
}

// FromHeader adds what an HTTP Authorization header (Basic or Bearer)
// carries to c, replacing what the query gave.
func FromHeader(c Credentials, authorization string) Credentials {
	if authorization == "" {
		return c
	}
	r := http.Request{Header: http.Header{"Authorization": {authorization}}}
	if u, p, ok := r.BasicAuth(); ok {
		c.User, c.Pass = u, p
	}
	if tok, ok := strings.CutPrefix(authorization, "Bearer "); ok && tok != "" {
		c.Token = strings.TrimSpace(tok)
	}
	return c
}
