package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withSetting adds s to the settings table for one test: every duration
// key today is a ZLMediaKit millisecond key, so the rule for other
// duration keys is tested on a stand-in.
func withSetting(t *testing.T, s Setting) {
	t.Helper()
	saved := settings
	settings = append(append([]Setting(nil), settings...), s)
	t.Cleanup(func() { settings = saved })
}

func TestNonMillisecondKeyNeedsUnit(t *testing.T) {
	withSetting(t, Setting{Key: "general.idleTimeout", Usage: "test stand-in",
		field: func(c *Config) any { return &c.General.MaxStreamWait }})
	if s, _ := Lookup("general.idleTimeout"); s.msKey() {
		t.Fatal("stand-in is a millisecond key")
	}
	load := func(value string) (*Config, error) {
		path := filepath.Join(t.TempDir(), "m.toml")
		if err := os.WriteFile(path, []byte("[general]\nidleTimeout = "+value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, _, err := Load(nil, nil, path)
		return c, err
	}

	_, err := load("3")
	if err == nil {
		t.Fatal("idleTimeout = 3 accepted, want an error asking for a unit")
	}
	for _, want := range []string{"general.idleTimeout", "unit", "3s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	for value, want := range map[string]time.Duration{`"3s"`: 3 * time.Second, `"250ms"`: 250 * time.Millisecond, "0": 0, `"0"`: 0} {
		c, err := load(value)
		if err != nil {
			t.Errorf("idleTimeout = %s: %v", value, err)
			continue
		}
		if c.General.MaxStreamWait != want {
			t.Errorf("idleTimeout = %s gives %v, want %v", value, c.General.MaxStreamWait, want)
		}
	}

	// Get and WriteTOML use a duration string for such a key.
	c := Default()
	c.General.MaxStreamWait = 90 * time.Second
	if got, _ := c.Get("general.idleTimeout"); got != "1m30s" {
		t.Errorf("Get = %q, want 1m30s", got)
	}
	var b strings.Builder
	if err := c.WriteTOML(&b, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\nidleTimeout = \"1m30s\"\n") {
		t.Errorf("WriteTOML output lacks idleTimeout = \"1m30s\":\n%s", b.String())
	}
}

func TestMsKey(t *testing.T) {
	for key, want := range map[string]bool{
		"protocol.continue_push_ms": true,
		"general.maxStreamWaitMS":   true,
		"general.mergeWriteMS":      true,
		"rtp_proxy.timeoutSec":      false,
		"general.idleTimeout":       false,
	} {
		if got := (Setting{Key: key}).msKey(); got != want {
			t.Errorf("msKey(%s) = %v, want %v", key, got, want)
		}
	}
}

func TestTOMLQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":           `""`,
		"plain":      `"plain"`,
		`a"b\c`:      `"a\"b\\c"`,
		"t\tn\nr\r":  `"t\tn\nr\r"`,
		"\a\x00\x7f": `"\u0007\u0000\u007F"`,
		"ü✓":         `"ü✓"`,
		"bad\xff":    "\"bad\uFFFD\"",
	} {
		if got := tomlQuote(in); got != want {
			t.Errorf("tomlQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
