package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func digest(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func TestRules(t *testing.T) {
	rules, err := Compile([]User{
		{User: "cam", Pass: "sha256:" + base64.StdEncoding.EncodeToString(digest("s3cret")), Actions: []string{"publish"}, Paths: []string{"live/*"}},
		{Token: "sha256:" + hex.EncodeToString(digest("tok")), Actions: []string{"play"}, Paths: []string{"~^rtp/[0-9A-F]{8}$"}},
		{Actions: []string{"play"}, IPs: []string{"10.0.0.0/8"}},
		{User: "ops", Pass: "plain", Actions: []string{"api", "publish", "play"}, IPs: []string{"192.168.1.0-192.168.1.255"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	lan := netip.MustParseAddr("10.1.2.3")
	wan := netip.MustParseAddr("203.0.113.5")
	office := netip.MustParseAddr("192.168.1.20")
	for _, c := range []struct {
		name   string
		action Action
		path   string
		cred   Credentials
		addr   netip.Addr
		want   bool
	}{
		{"camera publishes", ActionPublish, "live/cam1", Credentials{User: "cam", Pass: "s3cret"}, wan, true},
		{"nested stream name", ActionPublish, "live/site/cam1", Credentials{User: "cam", Pass: "s3cret"}, wan, true},
		{"wrong password", ActionPublish, "live/cam1", Credentials{User: "cam", Pass: "guess"}, wan, false},
		{"wrong app", ActionPublish, "other/cam1", Credentials{User: "cam", Pass: "s3cret"}, wan, false},
		{"camera may not play", ActionPlay, "live/cam1", Credentials{User: "cam", Pass: "s3cret"}, wan, false},
		{"token plays rtp", ActionPlay, "rtp/0A1B2C3D", Credentials{Token: "tok"}, wan, true},
		{"token, other path", ActionPlay, "rtp/cam", Credentials{Token: "tok"}, wan, false},
		{"bad token", ActionPlay, "rtp/0A1B2C3D", Credentials{Token: "tik"}, wan, false},
		{"anyone on the LAN plays", ActionPlay, "live/x", Credentials{}, lan, true},
		{"anyone outside may not", ActionPlay, "live/x", Credentials{}, wan, false},
		{"ops from the office", ActionAPI, "", Credentials{User: "ops", Pass: "plain"}, office, true},
		{"ops from outside", ActionAPI, "", Credentials{User: "ops", Pass: "plain"}, wan, false},
		{"no api for anonymous", ActionAPI, "", Credentials{}, lan, false},
	} {
		if got := rules.Grants(c.action, c.path, c.cred, c.addr); got != c.want {
			t.Errorf("%s: Grants = %v, want %v", c.name, got, c.want)
		}
	}
	var off *Rules
	if off.Enabled() || !off.Allow(ActionPublish, "live/x", Credentials{}, wan) || off.Grants(ActionAPI, "", Credentials{}, wan) {
		t.Error("nil rules: want off (Allow true, Grants false)")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		u    User
		want string
	}{
		{User{User: "a", Actions: []string{"play"}}, "user and pass go together"},
		{User{Pass: "p", Actions: []string{"play"}}, "user and pass go together"},
		{User{User: "a", Pass: "p", Token: "t", Actions: []string{"play"}}, "not both"},
		{User{Actions: []string{"watch"}}, `"watch" is not publish, play or api`},
		{User{}, "actions: none given"},
		{User{Actions: []string{"play"}, IPs: []string{"lan"}}, "ips"},
		{User{Actions: []string{"play"}, Paths: []string{"~(["}}, "paths"},
		{User{User: "a", Pass: "sha256:nothex", Actions: []string{"play"}}, "SHA-256"},
		{User{IPs: []string{"127.0.0.1"}, Actions: []string{"play", "api"}}, "api needs user and pass, or token"},
	} {
		_, err := Compile([]User{{Actions: []string{"play"}}, c.u})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "entry 2") {
			t.Errorf("Compile(%+v) = %v, want an error about entry 2 containing %q", c.u, err, c.want)
		}
	}
}

func TestFromRequest(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/live/a.live.flv?user=q&pass=qp&token=qt", nil)
	if got := FromRequest(r); got != (Credentials{User: "q", Pass: "qp", Token: "qt"}) {
		t.Errorf("query: %+v", got)
	}
	r.SetBasicAuth("b", "bp")
	r.Header.Add("Authorization", "")
	if got := FromRequest(r); got.User != "b" || got.Pass != "bp" {
		t.Errorf("basic: %+v", got)
	}
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer abc")
	if got := FromRequest(r); got.Token != "abc" {
		t.Errorf("bearer: %+v", got)
	}
	if got := FromQuery("user=a%20b&pass=%26"); got.User != "a b" || got.Pass != "&" {
		t.Errorf("FromQuery: %+v", got)
	}
}
