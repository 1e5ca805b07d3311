package config_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/pkg/config"
)

const authTOML = `
[api]
secret = "api-s3cret"

[[auth.users]]
user = "cam"
pass = "cam-pass"
actions = ["publish"]
paths = ["live/*"]

[[auth.users]]
token = "play-token"
ips = ["10.0.0.0/8"]
actions = ["play"]
`

func TestAuthUsersFromFile(t *testing.T) {
	c, warnings, err := config.Load(nil, nil, writeFile(t, authTOML))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if len(c.Auth.Users) != 2 || c.Auth.Users[0].User != "cam" || c.Auth.Users[1].Token != "play-token" ||
		c.Auth.Users[1].IPs[0] != "10.0.0.0/8" || c.Auth.Users[0].Paths[0] != "live/*" {
		t.Fatalf("users %+v", c.Auth.Users)
	}
	rules, err := c.Auth.Rules()
	if err != nil || !rules.Enabled() {
		t.Fatalf("rules %v %v", rules, err)
	}

	// Printed without secrets: no password, token or api.secret, and
	// loading it back fails instead of granting rights without them.
	var hidden bytes.Buffer
	if err := c.WriteTOML(&hidden, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"api-s3cret", "cam-pass", "play-token"} {
		if strings.Contains(hidden.String(), s) {
			t.Errorf("WriteTOML without secrets shows %q:\n%s", s, hidden.String())
		}
	}
	if !strings.Contains(hidden.String(), "# pass = (hidden") || !strings.Contains(hidden.String(), "# secret = (hidden") {
		t.Errorf("hidden values are not marked:\n%s", hidden.String())
	}
	if _, _, err := config.Load(nil, nil, writeFile(t, hidden.String())); err == nil || !strings.Contains(err.Error(), "user and pass go together") {
		t.Errorf("loading the hidden print: %v, want a refusal", err)
	}

	// With secrets, the round trip is exact.
	var shown bytes.Buffer
	if err := c.WriteTOML(&shown, true); err != nil {
		t.Fatal(err)
	}
	again, _, err := config.Load(nil, nil, writeFile(t, shown.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, shown.String())
	}
	if again.API.Secret != "api-s3cret" || len(again.Auth.Users) != 2 || again.Auth.Users[0].Pass != "cam-pass" {
		t.Errorf("round trip: %+v", again.Auth)
	}
}

func TestAuthUsersInvalid(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"[[auth.users]]\nuser = \"a\"\nactions = [\"play\"]\n", "user and pass go together"},
		{"[[auth.users]]\nactions = [\"dance\"]\n", `"dance" is not publish, play or api`},
		{"[[auth.users]]\nactions = \"play\"\n", "auth.users"},
		{"[auth]\nusers = 3\n", "auth.users"},
	} {
		_, _, err := config.Load(nil, nil, writeFile(t, c.toml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.toml, err, c.want)
		}
	}
}

func TestAccessSettingsValidated(t *testing.T) {
	for _, c := range []struct{ key, value, want string }{
		{"http.allow_ip_range", "10.0.0.1-nope", "http.allow_ip_range"},
		{"http.trusted_proxies", "proxy", "http.trusted_proxies"},
		{"api.allow_origin", "console.example", "api.allow_origin"},
		{"http.allow_host", "http://x", "http.allow_host"},
		{"general.maxConns", "-1", "general.maxConns"},
		{"general.writeTimeoutMS", "0", "general.writeTimeoutMS"},
	} {
		cfg := config.Default()
		if err := cfg.Set(c.key, c.value); err != nil {
			t.Fatalf("Set(%s): %v", c.key, err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: Validate = %v, want an error naming %s", c.key, c.value, err, c.want)
		}
	}
	if err := config.Default().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// A recording root saved through the API that the data dir no longer
// holds is dropped at the next start, with a warning.
func TestSavedPathReconfined(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "[general]\ndataDir = \""+dir+"/data\"\n")
	c, warnings, err := config.LoadWithSaved(nil, nil, file, map[string]string{
		"protocol.mp4_save_path": "/etc",
		"protocol.hls_save_path": dir + "/data/hls",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Protocol.MP4SavePath != "" || c.Protocol.HLSSavePath != dir+"/data/hls" {
		t.Errorf("mp4 %q hls %q", c.Protocol.MP4SavePath, c.Protocol.HLSSavePath)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "protocol.mp4_save_path") {
		t.Errorf("warnings %q", warnings)
	}
}
