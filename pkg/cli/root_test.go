package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/cli"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/config"
)

func TestVersion(t *testing.T) {
	want := "mediakit " + cmdutil.Version() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := run(t, nil, args...)
			if r.code != cli.ExitOK {
				t.Errorf("exit %d, want 0", r.code)
			}
			if r.stdout != want {
				t.Errorf("stdout %q, want %q", r.stdout, want)
			}
			if r.stderr != "" {
				t.Errorf("stderr %q, want nothing", r.stderr)
			}
		})
	}
	r := run(t, nil, "version", "--json")
	var got map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != cli.ExitOK {
		t.Fatalf("version --json: exit %d, %q: %v", r.code, r.stdout, err)
	}
	if b := cmdutil.Build(); got["version"] != b.Version || got["commit"] != b.Commit || got["go"] != runtime.Version() ||
		got["os"] != runtime.GOOS || got["arch"] != runtime.GOARCH {
		t.Errorf("version --json = %v, want %+v", got, b)
	}
	if v := cmdutil.Version(); !strings.Contains(v, "go1.") {
		t.Errorf("Version() = %q, want the toolchain in it", v)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := run(t, nil, args...)
			if r.code != cli.ExitOK {
				t.Errorf("exit %d, want 0", r.code)
			}
			for _, cmd := range []string{"serve", "version", "completion"} {
				if !strings.Contains(r.stdout, "\n  "+cmd+" ") {
					t.Errorf("help does not list %s:\n%s", cmd, r.stdout)
				}
			}
			if r.stderr != "" {
				t.Errorf("stderr %q, want nothing", r.stderr)
			}
		})
	}
}

func TestServeHelp(t *testing.T) {
	for _, args := range [][]string{{"serve", "--help"}, {"help", "serve"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := run(t, nil, args...)
			if r.code != cli.ExitOK {
				t.Errorf("exit %d, want 0", r.code)
			}
			if r.stderr != "" {
				t.Errorf("stderr %q, want nothing", r.stderr)
			}
			want := []string{"--config", "--print-config"}
			for _, s := range config.Settings() {
				if s.Flag != "" {
					want = append(want, "--"+s.Flag, s.Env())
				}
			}
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("serve help lacks %s", w)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	badTOML := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(badTOML, []byte("[log]\nlevel = = \"debug\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string // substrings of the error line
	}{
		{"unknown command", nil, []string{"bogus"}, []string{`unknown command "bogus"`}},
		{"misspelt command", nil, []string{"serv"}, []string{`"serv"`, `did you mean "serve"`}},
		{"unknown root flag", nil, []string{"--bogus"}, []string{"--bogus"}},
		{"unknown serve flag", nil, []string{"serve", "--bogus"}, []string{"--bogus", "mediakit serve --help"}},
		{"serve argument", nil, []string{"serve", "extra-arg"}, []string{"extra-arg"}},
		{"missing config", nil, []string{"serve", "--config", "/nonexistent.toml"}, []string{"/nonexistent.toml"}},
		{"missing config from env", map[string]string{"MEDIAKIT_CONFIG": "/nonexistent.toml"}, []string{"serve"}, []string{"/nonexistent.toml"}},
		{"malformed config", nil, []string{"serve", "--config", badTOML}, []string{badTOML, "line 2"}},
		{"bad log level flag", nil, []string{"serve", "--log-level", "loud"}, []string{"log.level", "loud"}},
		{"bad log level env", map[string]string{"MEDIAKIT_LOG_LEVEL": "loud"}, []string{"serve"}, []string{"log.level", "loud"}},
		{"bad address", nil, []string{"serve", "--rtmp-addr", "nope"}, []string{"rtmp.addr", "nope"}},
		{"duration without unit", nil, []string{"serve", "--continue-push", "5"}, []string{"--continue-push", "5"}},
		{"env duration without unit", map[string]string{"MEDIAKIT_CONTINUE_PUSH": "5"}, []string{"serve"}, []string{"MEDIAKIT_CONTINUE_PUSH", "5s"}},
		{"bad bool", nil, []string{"serve", "--takeover=maybe"}, []string{"--takeover", "maybe"}},
		{"flag without value", nil, []string{"serve", "--rtmp-addr"}, []string{"--rtmp-addr"}},
		{"version argument", nil, []string{"version", "x"}, []string{`"x"`}},
		{"unknown help topic", nil, []string{"help", "bogus"}, []string{"bogus"}},
		{"completion argument", nil, []string{"completion", "bash", "x"}, []string{`"x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r := runCtx(ctx, safeEnv(t, tc.env), tc.args...)
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want %d; stderr %q", r.code, cli.ExitUsage, r.stderr)
			}
			checkOneLineError(t, r)
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error %q does not mention %q", r.stderr, w)
				}
			}
		})
	}
}

func TestPrintConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mediakit.toml")
	if err := os.WriteFile(file, []byte(`[general]
dataDir = "/from/file"
maxStreamWaitMS = 1000
mergeWriteMS = 50

[log]
level = "warn"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"MEDIAKIT_CONTINUE_PUSH":   "7s",
		"MEDIAKIT_MAX_STREAM_WAIT": "2s",
		"MEDIAKIT_LOG_LEVEL":       "error",
	}
	r := run(t, env, "serve", "--config", file, "--print-config",
		"--rtmp-addr", "127.0.0.1:1936", "--log-level", "debug", "--takeover")
	if r.code != cli.ExitOK {
		t.Fatalf("exit %d; stderr %q", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q, want nothing", r.stderr)
	}
	for _, w := range []string{
		"\ncontinue_push_ms = 7000\n", // env
		"\nmaxStreamWaitMS = 2000\n",  // env over file
		"\nmergeWriteMS = 50\n",       // file
		"\ndataDir = \"/from/file\"\n",
		"\naddr = \"127.0.0.1:1936\"\n", // flag
		"\nlevel = \"debug\"\n",         // flag over env over file
		"\ntakeover = true\n",
		"\naddr = \":8080\"\n", // default
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("printed config lacks %q:\n%s", w, r.stdout)
		}
	}

	// What it prints is a config file giving the same configuration.
	printed := filepath.Join(dir, "printed.toml")
	if err := os.WriteFile(printed, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	got, warnings, err := config.Load(nil, nil, printed)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("loading the printed config: %v %q", err, warnings)
	}
	want, _, err := config.Load(nil, nil, file)
	if err != nil {
		t.Fatal(err)
	}
	want.Protocol.ContinuePush = 7 * time.Second
	want.General.MaxStreamWait = 2 * time.Second
	want.RTMP.Addr = "127.0.0.1:1936"
	want.Log.Level = "debug"
	want.General.Takeover = true
	if !reflect.DeepEqual(got, want) {
		t.Errorf("printed config loads as %+v, want %+v", got, want)
	}

	// --print-config neither binds nor creates the data dir.
	dataDir := filepath.Join(dir, "data")
	r = run(t, map[string]string{"MEDIAKIT_DATA_DIR": dataDir}, "serve", "--print-config")
	if r.code != cli.ExitOK || r.stderr != "" {
		t.Fatalf("exit %d; stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "dataDir = \""+dataDir+"\"") {
		t.Errorf("printed config lacks the data dir:\n%s", r.stdout)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("--print-config created %s", dataDir)
	}
}

// TestPrintConfigWarnings: unknown keys are warned about on stderr; the
// TOML on stdout stays clean.
func TestPrintConfigWarnings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mediakit.toml")
	if err := os.WriteFile(file, []byte("[general]\nfutureSetting = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, map[string]string{"MEDIAKIT_CONFIG": file}, "serve", "--print-config")
	if r.code != cli.ExitOK {
		t.Fatalf("exit %d; stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "general.futureSetting") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one warning naming general.futureSetting", r.stderr)
	}
	if strings.Contains(r.stdout, "futureSetting") || !strings.HasPrefix(r.stdout, "[api]\n") {
		t.Errorf("stdout is not just the config:\n%s", r.stdout)
	}
}

func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "complete -o default -F __start_mediakit mediakit",
		"zsh":        "#compdef mediakit",
		"fish":       "complete -c mediakit",
		"powershell": "Register-ArgumentCompleter",
	} {
		t.Run(shell, func(t *testing.T) {
			r := run(t, nil, "completion", shell)
			if r.code != cli.ExitOK {
				t.Errorf("exit %d; stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, marker) {
				t.Errorf("completion script lacks %q", marker)
			}
			if r.stderr != "" {
				t.Errorf("stderr %q, want nothing", r.stderr)
			}
		})
	}
	// The completion machinery knows serve's flags.
	r := run(t, nil, "__complete", "serve", "--log")
	if r.code != cli.ExitOK || !strings.Contains(r.stdout, "--log-level") || !strings.Contains(r.stdout, "--log-format") {
		t.Errorf("__complete serve --log: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, nil, "__complete", "help", "se")
	if r.code != cli.ExitOK || !strings.Contains(r.stdout, "serve") {
		t.Errorf("__complete help se: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestRuntimeErrors: a failure after the arguments were accepted is exit 1
// and one line naming the command and the input, whichever layer made it.
func TestRuntimeErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.flv")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"record", missing, "--mp4", filepath.Join(t.TempDir(), "o.mp4")}, "mediakit: record: "},
		{[]string{"remux", missing, filepath.Join(t.TempDir(), "o.mp4")}, "mediakit: remux: "},
		{[]string{"probe", missing}, "mediakit: probe: "},
		{[]string{"relay", missing, filepath.Join(t.TempDir(), "o.flv")}, "mediakit: relay: "},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			r := runCtx(context.Background(), safeEnv(t, nil), tc.args...)
			if r.code != cli.ExitFailure {
				t.Errorf("exit %d, want %d; stderr %q", r.code, cli.ExitFailure, r.stderr)
			}
			checkOneLineError(t, r)
			if !strings.HasPrefix(r.stderr, tc.want) || !strings.Contains(r.stderr, missing) ||
				strings.Count(r.stderr, tc.args[0]+": ") != 1 {
				t.Errorf("stderr %q: want %q once, then the input", r.stderr, tc.want)
			}
		})
	}
}

// TestToolFlagsFromEnv: every command's flags also come from MEDIAKIT_*,
// below the command line (contract.md).
func TestToolFlagsFromEnv(t *testing.T) {
	r := run(t, map[string]string{"MEDIAKIT_JSON": "true"}, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `{"arch":`) {
		t.Errorf("MEDIAKIT_JSON=true version: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, map[string]string{"MEDIAKIT_JSON": "true"}, "version", "--json=false")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "mediakit ") {
		t.Errorf("--json=false over MEDIAKIT_JSON: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, map[string]string{"MEDIAKIT_TIMEOUT": "soon"}, "probe", "x.flv")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "MEDIAKIT_TIMEOUT") {
		t.Errorf("bad MEDIAKIT_TIMEOUT: exit %d, stderr %q", r.code, r.stderr)
	}
	checkOneLineError(t, r)
}
