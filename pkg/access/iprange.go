// Package access decides who may reach the server over HTTP: client
// addresses (ZLMediaKit's http.allow_ip_range, proxies trusted to say who
// their client is) and browser origins (which web pages may call the API,
// which Host names the API answers to). It knows nothing of streams.
package access

import (
	"fmt"
	"net/netip"
	"strings"
)

// IPRange is an inclusive range of addresses of one family.
type IPRange struct {
	From, To netip.Addr
}

// Contains reports whether a is in the range; a is unmapped first, so an
// IPv4 client on a dual-stack socket matches IPv4 ranges (and never an
// IPv6 range, even one that spans ::ffff:0:0/96).
func (r IPRange) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return a.Is4() == r.From.Is4() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

// IPRanges is a list of ranges; empty means "no restriction" for
// allow_ip_range and "no one" for trusted proxies, so callers say which.
type IPRanges []IPRange

// Contains reports whether any range holds a.
func (rs IPRanges) Contains(a netip.Addr) bool {
	for _, r := range rs {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// ParseIPRanges reads ZLMediaKit's http.allow_ip_range syntax: a
// comma-separated list of addresses (`127.0.0.1`, `::1`) and ranges
// (`10.0.0.0-10.255.255.255`). CIDR prefixes (`10.0.0.0/8`) are accepted
// too. Unlike ZLMediaKit, which logs and skips an item it cannot read, an
// invalid item is an error: a typo must not silently open or close the API.
func ParseIPRanges(s string) (IPRanges, error) {
	var out IPRanges
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		r, err := parseIPRange(item)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parseIPRange(item string) (IPRange, error) {
	if strings.Contains(item, "/") {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return IPRange{}, fmt.Errorf("ip range %q: not an address, a range LOW-HIGH or a CIDR prefix", item)
		}
		p = p.Masked()
		return IPRange{From: p.Addr().Unmap(), To: lastAddr(p)}, nil
	}
	lo, hi, isRange := strings.Cut(item, "-")
	from, err := netip.ParseAddr(strings.TrimSpace(lo))
	if err != nil {
		return IPRange{}, fmt.Errorf("ip range %q: %q is not an IP address", item, strings.TrimSpace(lo))
	}
	from = from.Unmap().WithZone("")
	to := from
	if isRange {
		if to, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
			return IPRange{}, fmt.Errorf("ip range %q: %q is not an IP address", item, strings.TrimSpace(hi))
		}
		to = to.Unmap().WithZone("")
	}
	if from.Is4() != to.Is4() {
		return IPRange{}, fmt.Errorf("ip range %q: mixes IPv4 and IPv6", item)
	}
	if to.Less(from) {
		return IPRange{}, fmt.Errorf("ip range %q: %s is above %s", item, from, to)
	}
	return IPRange{From: from, To: to}, nil
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().Unmap().AsSlice()
	bits := p.Bits()
	if p.Addr().Is4In6() {
		bits -= 96
	}
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			if i*8+bit >= bits {
				b[i] |= 0x80 >> bit
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ParseAddr reads the address part of a net.Addr string ("1.2.3.4:5",
// "[::1]:5", or a bare address), unmapped and without a zone.
func ParseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}
