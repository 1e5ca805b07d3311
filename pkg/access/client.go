package access

import (
	"net/http"
	"net/netip"
	"strings"
)

// Client is the party behind a request, as far as the server can tell.
type Client struct {
	// Addr is the client: the TCP peer, or the address a trusted proxy
	// named in X-Forwarded-For (or X-Real-IP).
	Addr netip.Addr
	// Peer is the TCP peer.
	Peer netip.Addr
	// Forwarded is set when the request carries forwarding headers that
	// could not be used (the peer is not a trusted proxy, or named no
	// readable client): the real client is then unknown, and must not
	// be taken for the peer.
	Forwarded bool
}

// forwardingHeaders are the headers proxies add to name their client.
var forwardingHeaders = []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded"}

// ClientOf identifies the client of r. Forwarding headers count only when
// the peer is in trusted: anyone can send X-Forwarded-For, so trusting it
// from any peer would let a caller choose its own address.
func ClientOf(r *http.Request, trusted IPRanges) Client {
	peer, _ := ParseAddr(r.RemoteAddr)
	c := Client{Addr: peer, Peer: peer}
	forwarded := false
	for _, h := range forwardingHeaders {
		if r.Header.Get(h) != "" {
			forwarded = true
			break
		}
	}
	if !forwarded {
		return c
	}
	if !trusted.Contains(peer) {
		c.Forwarded = true
		return c
	}
	if a, ok := fromXFF(r.Header.Values("X-Forwarded-For"), trusted); ok {
		c.Addr = a
	} else if a, ok := ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-Ip"))); ok {
		// A proxy that sets X-Real-IP may pass the client's own
		// X-Forwarded-For through untouched: only X-Real-IP is its word.
		c.Addr = a
	} else {
		// The proxy said it forwarded someone but not whom: the client
		// is unknown, not the proxy.
		c.Forwarded = true
	}
	return c
}

// fromXFF walks X-Forwarded-For from the right (the hop nearest to us)
// past trusted proxies; the first untrusted address is the client. When
// every hop is trusted, or one cannot be read, there is no answer: the
// leftmost hops are whatever the client chose to send (a forged
// "127.0.0.1" must not pass for loopback).
func fromXFF(values []string, trusted IPRanges) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := ParseAddr(strings.TrimSpace(hops[i]))
		if !ok {
			return netip.Addr{}, false
		}
		if !trusted.Contains(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}
