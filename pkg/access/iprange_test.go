package access

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseIPRanges(t *testing.T) {
	rs, err := ParseIPRanges("::1, 127.0.0.1,172.16.0.0-172.31.255.255,,10.0.0.0/8, fd00::/8 ,2001:db8::1-2001:db8::ff")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.2", false}, // ZLMediaKit lists 127.0.0.1 alone
		{"::1", true},
		{"::ffff:127.0.0.1", true}, // an IPv4 client on a dual-stack socket
		{"172.16.0.0", true},
		{"172.31.255.255", true},
		{"172.32.0.0", false},
		{"10.200.3.4", true},
		{"11.0.0.0", false},
		{"fd12:3456::1", true},
		{"fe80::1", false},
		{"2001:db8::80", true},
		{"2001:db8::100", false},
		{"192.0.2.2", false},
	} {
		if got := rs.Contains(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("Contains(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}

func TestParseIPRangesErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1,localhost", `"localhost" is not an IP address`},
		{"10.0.0.9-10.0.0.1", "is above"},
		{"10.0.0.1-::1", "mixes IPv4 and IPv6"},
		{"10.0.0.0/33", "CIDR"},
		{"1.2.3.4-", "is not an IP address"},
	} {
		_, err := ParseIPRanges(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseIPRanges(%q) error %v, want one containing %q", c.in, err, c.want)
		}
	}
	if rs, err := ParseIPRanges(" , "); err != nil || len(rs) != 0 {
		t.Errorf("empty list: %v %v", rs, err)
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4:5":           "1.2.3.4",
		"[::1]:80":            "::1",
		"[::ffff:10.0.0.1]:1": "10.0.0.1",
		"10.0.0.1":            "10.0.0.1",
		"[fe80::1%eth0]:9":    "fe80::1",
	} {
		a, ok := ParseAddr(in)
		if !ok || a.String() != want {
			t.Errorf("ParseAddr(%q) = %v %v, want %s", in, a, ok, want)
		}
	}
	if _, ok := ParseAddr("garbage"); ok {
		t.Error("ParseAddr(garbage) ok")
	}
}

// FuzzParseIPRanges: any input either fails or gives ranges whose ends
// are inside them, one family each; never a panic.
func FuzzParseIPRanges(f *testing.F) {
	f.Add("::1,127.0.0.1,172.16.0.0-172.31.255.255")
	f.Add("10.0.0.0/8,fd00::/8")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseIPRanges(s)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.From.Is4() != r.To.Is4() || r.To.Less(r.From) {
				t.Fatalf("%q: bad range %v-%v", s, r.From, r.To)
			}
			// An IPv6 prefix reaching into ::ffff:0:0/96 ends on an
			// IPv4-mapped address, which Contains takes for IPv4.
			if !r.Contains(r.From) || (!r.To.Is4In6() && !r.Contains(r.To)) {
				t.Fatalf("%q: range %v-%v does not contain its ends", s, r.From, r.To)
			}
		}
	})
}
