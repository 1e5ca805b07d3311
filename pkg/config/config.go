// Package config holds mediakit's settings: defaults, the TOML file, the
// MEDIAKIT_* environment and command-line flags, with that precedence
// reversed (flag > env > file > default). Every setting has a
// "section.key" name; where ZLMediaKit has the same concept the name is
// ZLMediaKit's, so its HTTP API (getServerConfig/setServerConfig) and its
// users' habits carry over.
package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Config is the effective configuration of `mediakit serve`.
type Config struct {
	General  General
	RTMP     Listener
	HTTP     Listener
	Protocol Protocol
	Log      Log
}

// General holds server-wide settings.
type General struct {
	MediaServerID string
	DataDir       string
	MaxStreamWait time.Duration
	Takeover      bool
	MergeWrite    time.Duration
}

// Listener is a network listener's address.
type Listener struct {
	Addr string
}

// Protocol holds per-stream defaults.
type Protocol struct {
	ContinuePush time.Duration
}

// Log configures logging.
type Log struct {
	Level  string
	Format string
}

// Validate checks values that parse but make no sense.
func (c *Config) Validate() error {
	for _, l := range []struct{ key, addr string }{{"rtmp.addr", c.RTMP.Addr}, {"http.addr", c.HTTP.Addr}} {
		if l.addr == "" {
			continue // listener off
		}
		_, port, err := net.SplitHostPort(l.addr)
		if err != nil {
			return fmt.Errorf("config: %s: %q is not HOST:PORT", l.key, l.addr)
		}
		if _, err := net.LookupPort("tcp", port); err != nil {
			return fmt.Errorf("config: %s: %q: port %q is not a port number from 0 to 65535", l.key, l.addr, port)
		}
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format: %q is not text or json", c.Log.Format)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"protocol.continue_push_ms", c.Protocol.ContinuePush},
		{"general.maxStreamWaitMS", c.General.MaxStreamWait},
		{"general.mergeWriteMS", c.General.MergeWrite},
	} {
		if d.v < 0 {
			return fmt.Errorf("config: %s: negative duration %v", d.key, d.v)
		}
	}
	if c.General.MergeWrite > time.Second {
		return fmt.Errorf("config: general.mergeWriteMS: %v adds more than a second of latency", c.General.MergeWrite)
	}
	if c.General.DataDir == "" {
		return fmt.Errorf("config: general.dataDir: empty")
	}
	return nil
}
