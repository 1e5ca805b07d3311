package config_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/mediakit/mediakit/pkg/config"
)

// writeFile writes a TOML file into a test's temp dir and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mediakit.toml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// envFunc returns a getenv over m.
func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// flagSet returns serve's flags parsed from args.
func flagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return fs
}

func mustGet(t *testing.T, c *config.Config, key string) string {
	t.Helper()
	v, ok := c.Get(key)
	if !ok {
		t.Fatalf("Get(%q): unknown key", key)
	}
	return v
}

// layerSample gives, for one setting, a distinct value in each layer:
// file is a TOML literal, env and flag are command-line text, and the
// want* fields are what Get returns when that layer wins.
type layerSample struct {
	file, env, flag             string
	wantFile, wantEnv, wantFlag string
}

var layerSamples = map[string]layerSample{
	"api.secret":                  {`"file-secret"`, "env-secret", "flag-secret", "file-secret", "env-secret", "flag-secret"},
	"general.dataDir":             {`"/from/file"`, "/from/env", "/from/flag", "/from/file", "/from/env", "/from/flag"},
	"general.maxStreamWaitMS":     {`3000`, "4s", "5s", "3000", "4000", "5000"},
	"general.takeover":            {`true`, "false", "true", "true", "false", "true"},
	"general.mergeWriteMS":        {`"200ms"`, "300ms", "400ms", "200", "300", "400"},
	"rtmp.addr":                   {`"127.0.0.1:1"`, "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"},
	"http.addr":                   {`"127.0.0.1:4"`, "127.0.0.1:5", "127.0.0.1:6", "127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"},
	"protocol.continue_push_ms":   {`"3s"`, "7s", "9s", "3000", "7000", "9000"},
	"log.level":                   {`"debug"`, "warn", "error", "debug", "warn", "error"},
	"log.format":                  {`"json"`, "text", "json", "json", "text", "json"},
	"rtp_proxy.addr":              {`"127.0.0.1:7"`, "127.0.0.1:8", "127.0.0.1:9", "127.0.0.1:7", "127.0.0.1:8", "127.0.0.1:9"},
	"rtp_proxy.port_range":        {`"20000-20100"`, "21000-21100", "22000-22100", "20000-20100", "21000-21100", "22000-22100"},
	"rtp_proxy.timeoutSec":        {`5`, "6s", "7s", "5", "6", "7"},
	"general.writeTimeoutMS":      {`2000`, "3s", "4s", "2000", "3000", "4000"},
	"general.maxConns":            {`10`, "20", "30", "10", "20", "30"},
	"general.maxConnsPerIP":       {`1`, "2", "3", "1", "2", "3"},
	"general.maxStreams":          {`4`, "5", "6", "4", "5", "6"},
	"general.maxReadersPerStream": {`7`, "8", "9", "7", "8", "9"},
	"rtsp.addr":                   {`"127.0.0.1:11"`, "127.0.0.1:12", "127.0.0.1:13", "127.0.0.1:11", "127.0.0.1:12", "127.0.0.1:13"},
	"rtsp.rtpAddr":                {`"127.0.0.1:20"`, "127.0.0.1:22", "127.0.0.1:24", "127.0.0.1:20", "127.0.0.1:22", "127.0.0.1:24"},
	"rtsp.rtcpAddr":               {`"127.0.0.1:21"`, "127.0.0.1:23", "127.0.0.1:25", "127.0.0.1:21", "127.0.0.1:23", "127.0.0.1:25"},
	"rtsp.tlsAddr":                {`"127.0.0.1:14"`, "127.0.0.1:15", "127.0.0.1:16", "127.0.0.1:14", "127.0.0.1:15", "127.0.0.1:16"},
	"rtsp.cert":                   {`"/file.crt"`, "/env.crt", "/flag.crt", "/file.crt", "/env.crt", "/flag.crt"},
	"rtsp.key":                    {`"/file.key"`, "/env.key", "/flag.key", "/file.key", "/env.key", "/flag.key"},
}

// TestPrecedence checks every flagged setting under every combination of
// layers: default < file < env < flag, each later one winning.
func TestPrecedence(t *testing.T) {
	for _, s := range config.Settings() {
		if s.Flag == "" {
			continue
		}
		sample, ok := layerSamples[s.Key]
		if !ok {
			t.Errorf("%s: no sample in layerSamples; add one", s.Key)
			continue
		}
		sec, key, _ := strings.Cut(s.Key, ".")
		def := mustGet(t, config.Default(), s.Key)
		for mask := 0; mask < 8; mask++ {
			useFile, useEnv, useFlag := mask&1 != 0, mask&2 != 0, mask&4 != 0
			name := fmt.Sprintf("%s/file=%v,env=%v,flag=%v", s.Key, useFile, useEnv, useFlag)
			t.Run(name, func(t *testing.T) {
				path := ""
				want := def
				if useFile {
					path = writeFile(t, fmt.Sprintf("[%s]\n%s = %s\n", sec, key, sample.file))
					want = sample.wantFile
				}
				env := map[string]string{}
				if useEnv {
					env[s.Env()] = sample.env
					want = sample.wantEnv
				}
				var args []string
				if useFlag {
					args = []string{"--" + s.Flag + "=" + sample.flag}
					want = sample.wantFlag
				}
				c, warnings, err := config.Load(flagSet(t, args...), envFunc(env), path)
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(warnings) > 0 {
					t.Errorf("warnings: %q", warnings)
				}
				if got := mustGet(t, c, s.Key); got != want {
					t.Errorf("%s = %q, want %q", s.Key, got, want)
				}
				// Nothing else moved.
				for _, other := range config.Keys() {
					if other == s.Key {
						continue
					}
					if got, want := mustGet(t, c, other), mustGet(t, config.Default(), other); got != want {
						t.Errorf("%s = %q, want the default %q", other, got, want)
					}
				}
			})
		}
	}
}

// TestPrecedenceOnlySetFlagsCount: a registered flag that was not given
// does not override env or file with its default, and a flag given with
// the default's value still wins.
func TestPrecedenceOnlySetFlagsCount(t *testing.T) {
	path := writeFile(t, "[log]\nlevel = \"debug\"\nformat = \"json\"\n")
	env := envFunc(map[string]string{"MEDIAKIT_LOG_LEVEL": "warn"})

	c, _, err := config.Load(flagSet(t), env, path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "warn" || c.Log.Format != "json" {
		t.Errorf("no flags given: level %q format %q, want warn (env) and json (file)", c.Log.Level, c.Log.Format)
	}

	c, _, err = config.Load(flagSet(t, "--log-level", "info", "--log-format", "text"), env, path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "info" || c.Log.Format != "text" {
		t.Errorf("flags equal to the defaults: level %q format %q, want info and text", c.Log.Level, c.Log.Format)
	}

	// Empty environment variables count as unset.
	c, _, err = config.Load(nil, envFunc(map[string]string{"MEDIAKIT_LOG_LEVEL": ""}), path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "debug" {
		t.Errorf("empty MEDIAKIT_LOG_LEVEL: level %q, want the file's debug", c.Log.Level)
	}

	// nil flag set and nil getenv: defaults and file only.
	c, _, err = config.Load(nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, config.Default()) {
		t.Errorf("Load(nil, nil, \"\") = %+v, want Default()", c)
	}
}

func TestDefaultIsValidAndMatchesFlags(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate: %v", err)
	}
	// Setting every flag to its advertised default changes nothing.
	fs := flagSet(t)
	var n int
	fs.VisitAll(func(f *pflag.Flag) {
		n++
		if err := fs.Set(f.Name, f.DefValue); err != nil {
			t.Errorf("--%s=%q: %v", f.Name, f.DefValue, err)
		}
	})
	c, _, err := config.Load(fs, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, config.Default()) {
		t.Errorf("flags at their defaults give %+v, want %+v", c, config.Default())
	}
	var flagged int
	for _, s := range config.Settings() {
		if s.Flag != "" {
			flagged++
		}
	}
	if n != flagged {
		t.Errorf("RegisterFlags added %d flags, want one per flagged setting (%d)", n, flagged)
	}
}

func TestTOMLDurations(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		check      func(*config.Config) bool
	}{
		{"ms integer", "[protocol]\ncontinue_push_ms = 3000\n",
			func(c *config.Config) bool { return c.Protocol.ContinuePush == 3*time.Second }},
		{"duration string", "[protocol]\ncontinue_push_ms = \"3s\"\n",
			func(c *config.Config) bool { return c.Protocol.ContinuePush == 3*time.Second }},
		{"ms string", "[protocol]\ncontinue_push_ms = \"3000\"\n",
			func(c *config.Config) bool { return c.Protocol.ContinuePush == 3*time.Second }},
		{"zero", "[general]\nmergeWriteMS = 0\n",
			func(c *config.Config) bool { return c.General.MergeWrite == 0 }},
		{"camel case ms key", "[general]\nmaxStreamWaitMS = 1500\n",
			func(c *config.Config) bool { return c.General.MaxStreamWait == 1500*time.Millisecond }},
		{"sub-millisecond string", "[general]\nmergeWriteMS = \"1500us\"\n",
			func(c *config.Config) bool { return c.General.MergeWrite == 1500*time.Microsecond }},
		{"compound string", "[general]\nmaxStreamWaitMS = \"1m30s\"\n",
			func(c *config.Config) bool { return c.General.MaxStreamWait == 90*time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, warnings, err := config.Load(nil, nil, writeFile(t, tc.toml))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		want       []string // substrings of the error
	}{
		{"garbage duration", "[protocol]\ncontinue_push_ms = \"soon\"\n", []string{"protocol.continue_push_ms", "soon"}},
		{"array", "[protocol]\ncontinue_push_ms = [1, 2]\n", []string{"protocol.continue_push_ms"}},
		{"bool", "[general]\ntakeover = \"maybe\"\n", []string{"general.takeover", "maybe"}},
		{"ms overflow", "[protocol]\ncontinue_push_ms = 9223372036854775\n", []string{"protocol.continue_push_ms", "out of range"}},
		// 5000 + 2^58: times 1e6 wraps around to exactly 5s.
		{"ms overflow wrapping", "[protocol]\ncontinue_push_ms = 288230376151716696\n", []string{"protocol.continue_push_ms", "out of range"}},
		{"datetime", "[general]\ndataDir = 1979-05-27T07:32:00Z\n", []string{"general.dataDir"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.toml)
			_, _, err := config.Load(nil, nil, path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range append(tc.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

// TestEnvDurationsNeedUnit: MEDIAKIT_* variables take what the flag takes,
// so a bare number is refused with a hint rather than read as
// milliseconds.
func TestEnvDurationsNeedUnit(t *testing.T) {
	flags := flagSet(t)
	n := 0
	for _, s := range config.Settings() {
		if s.Flag == "" || flags.Lookup(s.Flag).Value.Type() != "duration" {
			continue
		}
		n++
		t.Run(s.Env(), func(t *testing.T) {
			_, _, err := config.Load(nil, envFunc(map[string]string{s.Env(): "30"}), "")
			if err == nil {
				t.Fatalf("%s=30 accepted, want an error asking for a unit", s.Env())
			}
			for _, w := range []string{s.Env(), "30s", "unit"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			c, _, err := config.Load(nil, envFunc(map[string]string{s.Env(): "0"}), "")
			if err != nil && strings.Contains(err.Error(), "positive") {
				return // 0 parses, but this setting must not be zero
			}
			if err != nil {
				t.Fatalf("%s=0: %v", s.Env(), err)
			}
			if got := mustGet(t, c, s.Key); got != "0" {
				t.Errorf("%s=0 gives %s = %q, want 0", s.Env(), s.Key, got)
			}
		})
	}
	if n == 0 {
		t.Fatal("no duration flags found")
	}
	// The flag says the same.
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--continue-push", "30"}); err == nil {
		t.Error("--continue-push 30 accepted, want an error")
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	path := writeFile(t, `stray = 1

[general]
dataDir = "/d"
futureSetting = true

[rtmp]
addr = "127.0.0.1:1935"
chunk_size = 4096

[nosuchsection]
x = "y"
`)
	c, warnings, err := config.Load(nil, nil, path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.General.DataDir != "/d" || c.RTMP.Addr != "127.0.0.1:1935" {
		t.Errorf("known keys not applied: %+v", c)
	}
	all := strings.Join(warnings, "\n")
	for _, w := range []string{"stray", "general.futureSetting", "rtmp.chunk_size", "nosuchsection.x"} {
		if !strings.Contains(all, w) {
			t.Errorf("no warning mentions %q; warnings: %q", w, warnings)
		}
	}
	if len(warnings) != 4 {
		t.Errorf("%d warnings, want 4: %q", len(warnings), warnings)
	}
}

func TestMalformedTOML(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		line       int
	}{
		{"double equals", "[general]\ndataDir = = \"x\"\n", 2},
		{"unterminated string", "[general]\n\ndataDir = \"x\n", 3},
		{"duplicate key", "[log]\nlevel = \"info\"\nlevel = \"debug\"\n", 3},
		{"bad table header", "[general\ndataDir = \"x\"\n", 1},
		{"bare word", "[log]\nlevel = debug\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.toml)
			_, _, err := config.Load(nil, nil, path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file %s", msg, path)
			}
			if want := fmt.Sprintf("line %d", tc.line); !strings.Contains(msg, want) {
				t.Errorf("error %q does not give %q", msg, want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nonexistent.toml")
	_, _, err := config.Load(nil, nil, path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load(%s) error = %v, want one naming the path", path, err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*config.Config)
		key    string // "" for valid
	}{
		{"default", func(c *config.Config) {}, ""},
		{"log level loud", func(c *config.Config) { c.Log.Level = "loud" }, "log.level"},
		{"log level upper case", func(c *config.Config) { c.Log.Level = "DEBUG" }, ""},
		{"log format xml", func(c *config.Config) { c.Log.Format = "xml" }, "log.format"},
		{"rtmp addr nope", func(c *config.Config) { c.RTMP.Addr = "nope" }, "rtmp.addr"},
		{"http addr nope", func(c *config.Config) { c.HTTP.Addr = "nope" }, "http.addr"},
		{"rtmp port too big", func(c *config.Config) { c.RTMP.Addr = "127.0.0.1:70000" }, "rtmp.addr"},
		{"http port not a number", func(c *config.Config) { c.HTTP.Addr = ":eighty" }, "http.addr"},
		{"listeners off", func(c *config.Config) { c.RTMP.Addr, c.HTTP.Addr = "", "" }, ""},
		{"port 0", func(c *config.Config) { c.RTMP.Addr = "127.0.0.1:0" }, ""},
		{"ipv6", func(c *config.Config) { c.HTTP.Addr = "[::1]:8080" }, ""},
		{"negative continue push", func(c *config.Config) { c.Protocol.ContinuePush = -time.Second }, "protocol.continue_push_ms"},
		{"negative max stream wait", func(c *config.Config) { c.General.MaxStreamWait = -time.Millisecond }, "general.maxStreamWaitMS"},
		{"negative merge write", func(c *config.Config) { c.General.MergeWrite = -1 }, "general.mergeWriteMS"},
		{"merge write 1s", func(c *config.Config) { c.General.MergeWrite = time.Second }, ""},
		{"merge write over 1s", func(c *config.Config) { c.General.MergeWrite = 1001 * time.Millisecond }, "general.mergeWriteMS"},
		{"zero durations", func(c *config.Config) {
			c.Protocol.ContinuePush, c.General.MaxStreamWait, c.General.MergeWrite = 0, 0, 0
		}, ""},
		{"empty data dir", func(c *config.Config) { c.General.DataDir = "" }, "general.dataDir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.mutate(c)
			err := c.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", c)
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %s", err, tc.key)
			}
			// Load validates too, whichever layer the value came from.
			var buf bytes.Buffer
			if err := c.WriteTOML(&buf, true); err != nil {
				t.Fatal(err)
			}
			if _, _, err := config.Load(nil, nil, writeFile(t, buf.String())); err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Load of the invalid config: error %v, want one naming %s", err, tc.key)
			}
		})
	}
}

func TestValidateThroughLayers(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		file string
		key  string
	}{
		{"env log level", map[string]string{"MEDIAKIT_LOG_LEVEL": "loud"}, nil, "", "log.level"},
		{"flag log level", nil, []string{"--log-level", "loud"}, "", "log.level"},
		{"flag addr", nil, []string{"--rtmp-addr", "nope"}, "", "rtmp.addr"},
		{"env negative", map[string]string{"MEDIAKIT_CONTINUE_PUSH": "-1s"}, nil, "", "protocol.continue_push_ms"},
		{"flag negative", nil, []string{"--max-stream-wait=-2s"}, "", "general.maxStreamWaitMS"},
		{"file merge write", nil, nil, "[general]\nmergeWriteMS = 2000\n", "general.mergeWriteMS"},
		{"env merge write", map[string]string{"MEDIAKIT_MERGE_WRITE": "2s"}, nil, "", "general.mergeWriteMS"},
		{"file negative", nil, nil, "[protocol]\ncontinue_push_ms = -5\n", "protocol.continue_push_ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			_, _, err := config.Load(flagSet(t, tc.args...), envFunc(tc.env), path)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Load error = %v, want one naming %s", err, tc.key)
			}
		})
	}
}

// randomConfig returns a valid configuration with every field away from
// its default, including durations that are not whole milliseconds and
// strings that need escaping in TOML.
func randomConfig(r *rand.Rand) *config.Config {
	strs := []string{"", "plain", `back\slash`, `"quoted"`, "tab\there", "new\nline", "bell\a", "nul\x00", "del\x7f", "ünïcödé ✓", "'single'", "#hash", "a = b", "[section]"}
	pick := func() string { return strs[r.IntN(len(strs))] }
	dur := func(max time.Duration) time.Duration {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return time.Duration(r.Int64N(int64(max/time.Millisecond)+1)) * time.Millisecond
		case 2:
			return time.Duration(r.Int64N(int64(max) + 1)) // any nanosecond count
		default:
			return time.Duration(r.Int64N(int64(max/time.Second)+1)) * time.Second
		}
	}
	c := config.Default()
	c.General.MediaServerID = pick()
	c.General.DataDir = "d" + pick()
	c.General.MaxStreamWait = dur(time.Hour)
	c.General.Takeover = r.IntN(2) == 0
	c.General.MergeWrite = dur(time.Second)
	addrs := []string{"", ":0", "127.0.0.1:1935", "[::1]:8080", "localhost:http", "0.0.0.0:65535"}
	c.RTMP.Addr = addrs[r.IntN(len(addrs))]
	c.HTTP.Addr = addrs[r.IntN(len(addrs))]
	c.Protocol.ContinuePush = dur(24 * time.Hour)
	c.Log.Level = []string{"debug", "info", "warn", "error", "WARN"}[r.IntN(5)]
	c.Log.Format = []string{"text", "json", "JSON"}[r.IntN(3)]
	return c
}

func TestWriteTOMLRoundTrip(t *testing.T) {
	configs := []*config.Config{config.Default()}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		configs = append(configs, randomConfig(r))
	}
	for i, c := range configs {
		if err := c.Validate(); err != nil {
			t.Fatalf("config %d invalid: %v", i, err)
		}
		var buf bytes.Buffer
		if err := c.WriteTOML(&buf, true); err != nil {
			t.Fatal(err)
		}
		got, warnings, err := config.Load(nil, nil, writeFile(t, buf.String()))
		if err != nil {
			t.Fatalf("config %d: Load of WriteTOML output: %v\n%s", i, err, buf.String())
		}
		if len(warnings) > 0 {
			t.Errorf("config %d: warnings %q", i, warnings)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("config %d: round trip\n got %+v\nwant %+v\nTOML:\n%s", i, got, c, buf.String())
		}
	}
}

func TestWriteTOMLFormat(t *testing.T) {
	c := config.Default()
	c.Protocol.ContinuePush = 3 * time.Second
	var buf bytes.Buffer
	if err := c.WriteTOML(&buf, true); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"[general]\n", "[rtmp]\n", "[http]\n", "[protocol]\n", "[log]\n",
		"\ncontinue_push_ms = 3000\n", // ZLMediaKit-style integer milliseconds
		"\nmaxStreamWaitMS = 15000\n",
		"\ntakeover = false\n",
		"\naddr = \":1935\"\n",
		"\nlevel = \"info\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("WriteTOML output lacks %q:\n%s", want, out)
		}
	}
	// Every key appears exactly once in its section.
	sections := map[string]string{}
	for _, part := range strings.Split("\n"+out, "\n[")[1:] {
		name, body, _ := strings.Cut(part, "]\n")
		sections[name] = "\n" + body
	}
	for _, s := range config.Settings() {
		sec, key, _ := strings.Cut(s.Key, ".")
		if n := strings.Count(sections[sec], "\n"+key+" = "); n != 1 {
			t.Errorf("%s appears %d times in [%s]", s.Key, n, sec)
		}
	}
}

func TestEnvNames(t *testing.T) {
	seenEnv := map[string]string{}
	seenFlag := map[string]string{}
	seenKey := map[string]bool{}
	fs := flagSet(t)
	for _, s := range config.Settings() {
		if seenKey[s.Key] {
			t.Errorf("key %s listed twice", s.Key)
		}
		seenKey[s.Key] = true
		if !strings.Contains(s.Key, ".") {
			t.Errorf("key %q is not section.key", s.Key)
		}
		if s.Flag == "" {
			if env := s.Env(); env != "" {
				t.Errorf("%s has no flag but Env() = %q", s.Key, env)
			}
			continue
		}
		want := "MEDIAKIT_" + strings.ToUpper(strings.ReplaceAll(s.Flag, "-", "_"))
		if got := s.Env(); got != want {
			t.Errorf("%s: Env() = %q, want %q", s.Key, got, want)
		}
		for _, r := range s.Env() {
			if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
				t.Errorf("%s: Env() %q has %q", s.Key, s.Env(), r)
			}
		}
		if other, dup := seenEnv[s.Env()]; dup {
			t.Errorf("%s and %s share %s", s.Key, other, s.Env())
		}
		seenEnv[s.Env()] = s.Key
		if other, dup := seenFlag[s.Flag]; dup {
			t.Errorf("%s and %s share --%s", s.Key, other, s.Flag)
		}
		seenFlag[s.Flag] = s.Key
		f := fs.Lookup(s.Flag)
		if f == nil {
			t.Errorf("%s: --%s not registered", s.Key, s.Flag)
			continue
		}
		// Help names the variable and the TOML key.
		if !strings.Contains(f.Usage, s.Env()) || !strings.Contains(f.Usage, s.Key) {
			t.Errorf("--%s usage %q does not name %s and %s", s.Flag, f.Usage, s.Env(), s.Key)
		}
		// And the variable really is read.
		sample, ok := layerSamples[s.Key]
		if !ok {
			continue // TestPrecedence reports it
		}
		c, _, err := config.Load(nil, envFunc(map[string]string{want: sample.env}), "")
		if err != nil {
			t.Errorf("%s=%s: %v", want, sample.env, err)
			continue
		}
		if got := mustGet(t, c, s.Key); got != sample.wantEnv {
			t.Errorf("%s=%s gives %s = %q, want %q", want, sample.env, s.Key, got, sample.wantEnv)
		}
	}
}

func TestGetSetRoundTrip(t *testing.T) {
	keys := config.Keys()
	if !slices.IsSorted(keys) {
		t.Errorf("Keys() not sorted: %q", keys)
	}
	if len(keys) != len(config.Settings()) {
		t.Errorf("Keys() has %d keys, Settings() %d", len(keys), len(config.Settings()))
	}
	r := rand.New(rand.NewPCG(3, 4))
	configs := []*config.Config{config.Default()}
	for range 50 {
		configs = append(configs, randomConfig(r))
	}
	for _, src := range configs {
		dst := config.Default()
		for _, key := range keys {
			v := mustGet(t, src, key)
			if err := dst.Set(key, v); err != nil {
				t.Fatalf("Set(%q, %q) (from Get): %v", key, v, err)
			}
			if got := mustGet(t, dst, key); got != v {
				t.Errorf("Get(%q) after Set(%q) = %q", key, v, got)
			}
		}
		if !reflect.DeepEqual(dst, src) {
			t.Fatalf("Get/Set round trip\n got %+v\nwant %+v", dst, src)
		}
	}

	// The API takes ZLMediaKit's millisecond numbers and Go durations.
	c := config.Default()
	for _, tc := range []struct{ key, set, get string }{
		{"protocol.continue_push_ms", "3000", "3000"},
		{"protocol.continue_push_ms", "3s", "3000"},
		{"general.mergeWriteMS", "1500us", "1.5ms"},
		{"general.takeover", "1", "true"},
		{"general.takeover", "false", "false"},
		{"log.level", "debug", "debug"},
	} {
		if err := c.Set(tc.key, tc.set); err != nil {
			t.Errorf("Set(%q, %q): %v", tc.key, tc.set, err)
			continue
		}
		if got := mustGet(t, c, tc.key); got != tc.get {
			t.Errorf("Set(%q, %q); Get = %q, want %q", tc.key, tc.set, got, tc.get)
		}
	}
	for _, tc := range []struct{ key, set string }{
		{"protocol.continue_push_ms", "soon"},
		{"general.takeover", "maybe"},
	} {
		before := *c
		if err := c.Set(tc.key, tc.set); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("Set(%q, %q) error = %v, want one naming the key", tc.key, tc.set, err)
		}
		if !reflect.DeepEqual(*c, before) {
			t.Errorf("failed Set(%q, %q) changed the config", tc.key, tc.set)
		}
	}
	if _, ok := c.Get("no.such"); ok {
		t.Error("Get(no.such) ok")
	}
	if err := c.Set("no.such", "1"); err == nil || !strings.Contains(err.Error(), "no.such") {
		t.Errorf("Set(no.such) error = %v", err)
	}
	if _, ok := config.Lookup("no.such"); ok {
		t.Error("Lookup(no.such) ok")
	}
}

func TestHookValidation(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		want       []string
	}{
		{"negative seconds", "[hook]\ntimeoutSec = -1.5\n", []string{"hook.timeoutSec", "negative"}},
		{"bad hook URL", "[hook]\non_publish = \"ftp://x/y\"\n", []string{"hook.on_publish", "http"}},
		{"retry out of range", "[hook]\nretry = 50\n", []string{"hook.retry", "50"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := config.Load(nil, nil, writeFile(t, tc.toml))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	c, _, err := config.Load(nil, nil, writeFile(t, "[hook]\ntimeoutSec = 2.5\nretry_delay = \"500ms\"\nalive_interval = 10.0\nenable = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hook.Timeout != 2500*time.Millisecond || c.Hook.RetryDelay != 500*time.Millisecond || c.Hook.AliveInterval != 10*time.Second || !c.Hook.Enable {
		t.Fatalf("hook section: %+v", c.Hook)
	}
	if v, _ := c.APIValue("hook.alive_interval"); v != "10" {
		t.Errorf("APIValue(hook.alive_interval) = %q", v)
	}
	if v, _ := c.APIValue("hook.enable"); v != "1" {
		t.Errorf("APIValue(hook.enable) = %q", v)
	}
}

// Named FFmpeg command templates: ZLMediaKit's ffmpeg_cmd_key names a
// config key; mediakit reads [ffmpeg] keys starting with "cmd_".
func TestFFmpegTemplates(t *testing.T) {
	c, warnings, err := config.Load(nil, nil, writeFile(t, `[ffmpeg]
cmd_hd = "%s -re -i %s -c:v libx264 -s 1280x720 -f flv %s"
cmd_audio = "%s -i %s -c:v copy -c:a aac -f flv %s"
`))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Load = %v, warnings %v", err, warnings)
	}
	want := map[string]string{
		"cmd_hd":    "%s -re -i %s -c:v libx264 -s 1280x720 -f flv %s",
		"cmd_audio": "%s -i %s -c:v copy -c:a aac -f flv %s",
	}
	if fmt.Sprint(c.FFmpeg.Templates) != fmt.Sprint(want) {
		t.Fatalf("Templates = %v, want %v", c.FFmpeg.Templates, want)
	}
	var buf bytes.Buffer
	if err := c.WriteTOML(&buf, true); err != nil {
		t.Fatal(err)
	}
	back, _, err := config.Load(nil, nil, writeFile(t, buf.String()))
	if err != nil || fmt.Sprint(back.FFmpeg.Templates) != fmt.Sprint(want) {
		t.Fatalf("templates after WriteTOML and Load = %v, %v", back.FFmpeg.Templates, err)
	}

	for name, toml := range map[string]string{
		"two verbs":  "[ffmpeg]\ncmd_bad = \"%s -i %s\"\n",
		"other verb": "[ffmpeg]\ncmd_bad = \"%s -i %s -f %d %s\"\n",
		"not string": "[ffmpeg]\ncmd_bad = 3\n",
		"quoted key": "[ffmpeg]\n\"cmd_bad.x\" = \"%s -i %s -f flv %s\"\n",
	} {
		if _, _, err := config.Load(nil, nil, writeFile(t, toml)); err == nil || !strings.Contains(err.Error(), "ffmpeg.cmd_bad") {
			t.Errorf("%s: Load = %v, want an error naming ffmpeg.cmd_bad", name, err)
		}
	}
}
