package webrtc

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pion/ice/v4"
)

// STUN discovery timing: a STUN server has stunWait to answer; without any
// answer the servers are asked again after stunRetry, and once an address
// is known it is checked every stunRefresh (a NAT can change its public
// address, a DHCP lease on the outside for one).
var (
	stunWait    = 3 * time.Second
	stunRetry   = 30 * time.Second
	stunRefresh = 5 * time.Minute
)

// stunPort is STUN's default port (RFC 8489).
const stunPort = "3478"

// parseSTUNServers checks "stun:host[:port]" (or a bare "host[:port]")
// entries and returns them as host:port. stuns: and TURN are refused:
// mediakit asks STUN for its own address and relays nothing.
func parseSTUNServers(list []string) ([]string, error) {
	var out []string
	for _, raw := range list {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		hostport := entry
		lower := strings.ToLower(entry)
		switch {
		case strings.HasPrefix(lower, "stun:"):
			hostport = entry[len("stun:"):]
		case strings.HasPrefix(lower, "stuns:"), strings.HasPrefix(lower, "turn:"), strings.HasPrefix(lower, "turns:"):
			return nil, fmt.Errorf("webrtc: STUN server %q: only stun: is supported (mediakit asks for its own address and needs no relay)", entry)
		case strings.Contains(entry, "://"):
			return nil, fmt.Errorf("webrtc: STUN server %q: want stun:host:port", entry)
		}
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), stunPort)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil || host == "" || port == "" || strings.ContainsAny(host, "/@?") {
			return nil, fmt.Errorf("webrtc: STUN server %q: want stun:host:port", entry)
		}
		out = append(out, hostport)
	}
	return out, nil
}

// discover asks the STUN servers, one after another, for the ICE port's
// public address until ctx ends, and rebuilds the API when the answer
// changes, so that later answers announce it. Sessions never wait for it.
func (s *Server) discover(ctx context.Context, mux *ice.UniversalUDPMuxDefault, servers []string) {
	var known netip.Addr
	failing := false
	for {
		addr, from, err := s.askSTUN(ctx, mux, servers)
		next := stunRefresh
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// One line when discovery starts failing, not one per try.
			if !failing {
				s.log.Warn("webrtc: no STUN server answered; announcing local and configured addresses only", "servers", servers, "error", err)
			}
			failing = true
			next = stunRetry
		default:
			failing = false
			if addr.Addr() != known {
				if err := s.announce(addr, from); err != nil {
					s.log.Warn("webrtc: public address from STUN not usable", "address", addr, "stun", from, "error", err)
				} else {
					known = addr.Addr()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// askSTUN returns the first answer of servers, in order.
func (s *Server) askSTUN(ctx context.Context, mux *ice.UniversalUDPMuxDefault, servers []string) (netip.AddrPort, string, error) {
	var errs []string
	for _, server := range servers {
		ua, err := net.ResolveUDPAddr("udp", server)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		mapped, err := mux.GetXORMappedAddrContext(ctx, ua, stunWait)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", server, err))
			continue
		}
		ip, ok := netip.AddrFromSlice(mapped.IP)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: bad mapped address %v", server, mapped.IP))
			continue
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(mapped.Port)), server, nil
	}
	return netip.AddrPort{}, "", fmt.Errorf("%s", strings.Join(errs, "; "))
}

// announce rebuilds the API with addr's IP as one more host candidate.
// The candidate carries the ICE port's own number, so a NAT that maps the
// port to another number is reported: browsers outside cannot reach it
// that way (configure a port forward and webrtc.additional_hosts).
func (s *Server) announce(addr netip.AddrPort, from string) error {
	local := s.udp.LocalAddr().(*net.UDPAddr)
	ip := addr.Addr().String()
	if slices.Contains(s.settings.hosts, ip) || addr.Addr().IsLoopback() {
		s.log.Info("webrtc: STUN sees an address already announced", "address", addr, "stun", from)
		return nil
	}
	api, err := s.settings.build([]string{ip})
	if err != nil {
		return err
	}
	s.api.Store(api)
	if int(addr.Port()) != local.Port {
		s.log.Warn("webrtc: the NAT maps the ICE port to another port; browsers outside may not connect", "address", addr, "port", local.Port, "stun", from)
	}
	s.log.Info("webrtc: public address from STUN announced", "address", ip, "stun", from)
	return nil
}
