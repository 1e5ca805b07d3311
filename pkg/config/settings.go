package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Setting describes one configuration value.
type Setting struct {
	Key   string // "section.key", the TOML and API name
	Flag  string // command-line flag of `serve`, "" if none
	Usage string
	// field returns a pointer into c: *string, *bool or *time.Duration.
	field func(c *Config) any
}

// Env is the environment variable of a setting that has a flag.
func (s Setting) Env() string {
	if s.Flag == "" {
		return ""
	}
	return "MEDIAKIT_" + strings.ToUpper(strings.ReplaceAll(s.Flag, "-", "_"))
}

// msKey reports whether the key is a ZLMediaKit millisecond key, whose
// plain numbers are milliseconds.
func (s Setting) msKey() bool {
	return strings.HasSuffix(s.Key, "MS") || strings.HasSuffix(s.Key, "_ms")
}

// Settings lists every setting, in the order --print-config shows them.
func Settings() []Setting { return settings }

var settings = []Setting{
	{Key: "general.mediaServerId", Usage: "this server's id in hooks and the API",
		field: func(c *Config) any { return &c.General.MediaServerID }},
	{Key: "general.dataDir", Flag: "data-dir", Usage: "embedded database, recordings and HLS files",
		field: func(c *Config) any { return &c.General.DataDir }},
	{Key: "general.maxStreamWaitMS", Flag: "max-stream-wait", Usage: "how long a player waits for a stream that is not published yet",
		field: func(c *Config) any { return &c.General.MaxStreamWait }},
	{Key: "general.takeover", Flag: "takeover", Usage: "a new publisher replaces a live one instead of being refused",
		field: func(c *Config) any { return &c.General.Takeover }},
	{Key: "general.mergeWriteMS", Flag: "merge-write", Usage: "batch writes to players over this window (0: write every frame at once)",
		field: func(c *Config) any { return &c.General.MergeWrite }},
	{Key: "rtmp.addr", Flag: "rtmp-addr", Usage: "RTMP listener for publish and play (empty: off)",
		field: func(c *Config) any { return &c.RTMP.Addr }},
	{Key: "http.addr", Flag: "http-addr", Usage: "HTTP listener: HTTP-FLV, WS-FLV, /metrics, /healthz (empty: off)",
		field: func(c *Config) any { return &c.HTTP.Addr }},
	{Key: "protocol.continue_push_ms", Flag: "continue-push", Usage: "grace period for a dropped publisher to come back before players are ended",
		field: func(c *Config) any { return &c.Protocol.ContinuePush }},
	{Key: "log.level", Flag: "log-level", Usage: "debug, info, warn or error",
		field: func(c *Config) any { return &c.Log.Level }},
	{Key: "log.format", Flag: "log-format", Usage: "text or json",
		field: func(c *Config) any { return &c.Log.Format }},
}

// Lookup returns the setting of key.
func Lookup(key string) (Setting, bool) {
	for _, s := range settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Default returns the built-in configuration.
func Default() *Config {
	return &Config{
		General: General{
			MediaServerID: "mediakit",
			DataDir:       "./mediakit-data",
			MaxStreamWait: 15 * time.Second,
			MergeWrite:    100 * time.Millisecond,
		},
		RTMP:     Listener{Addr: ":1935"},
		HTTP:     Listener{Addr: ":8080"},
		Protocol: Protocol{ContinuePush: 15 * time.Second},
		Log:      Log{Level: "info", Format: "text"},
	}
}

// Get returns the value of a setting as text.
func (c *Config) Get(key string) (string, bool) {
	s, ok := Lookup(key)
	if !ok {
		return "", false
	}
	return format(s, s.field(c)), true
}

// Set parses text into a setting.
func (c *Config) Set(key, value string) error {
	s, ok := Lookup(key)
	if !ok {
		return fmt.Errorf("config: unknown key %q", key)
	}
	if err := s.set(c, value); err != nil {
		return fmt.Errorf("config: %s: %w", key, err)
	}
	return nil
}

// set parses value as the TOML file and the API give it: a plain number
// for a millisecond key is milliseconds.
func (s Setting) set(c *Config, value string) error {
	return s.setText(c, value, s.msKey())
}

// setFlag parses value as the flag and its MEDIAKIT_* variable give it:
// durations need a unit whatever the key, as on the command line, so
// MEDIAKIT_CONTINUE_PUSH=30 is an error rather than 30 milliseconds.
func (s Setting) setFlag(c *Config, value string) error {
	return s.setText(c, value, false)
}

func (s Setting) setText(c *Config, value string, msInts bool) error {
	switch p := s.field(c).(type) {
	case *string:
		*p = value
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("%q is not a boolean", value)
		}
		*p = b
	case *time.Duration:
		d, err := parseDuration(value, msInts)
		if err != nil {
			return err
		}
		*p = d
	}
	return nil
}

// parseDuration accepts Go durations ("15s", "500ms"); with msInts (the
// ZLMediaKit millisecond keys in the file and the API) a plain integer is
// a number of milliseconds, otherwise only 0 may lack a unit.
func parseDuration(value string, msInts bool) (time.Duration, error) {
	v := strings.TrimSpace(value)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if !msInts && n != 0 {
			return 0, fmt.Errorf("%q needs a unit, such as %ss or %sms", value, v, v)
		}
		if n > math.MaxInt64/int64(time.Millisecond) || n < math.MinInt64/int64(time.Millisecond) {
			return 0, fmt.Errorf("%q milliseconds is out of range", value)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (such as 15s or 500ms)", value)
	}
	return d, nil
}

func format(s Setting, v any) string {
	switch p := v.(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		if s.msKey() && *p%time.Millisecond == 0 {
			return strconv.FormatInt(p.Milliseconds(), 10)
		}
		// Not a whole number of milliseconds: a duration string keeps
		// the value exact.
		return p.String()
	}
	return ""
}

// Sections returns the section names in order of first appearance.
func sections() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range settings {
		sec, _, _ := strings.Cut(s.Key, ".")
		if !seen[sec] {
			seen[sec] = true
			out = append(out, sec)
		}
	}
	return out
}

// Keys returns every key, sorted.
func Keys() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.Key
	}
	sort.Strings(out)
	return out
}
