package serve_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/cli/serve"
	"github.com/mediakit/mediakit/pkg/config"
)

type ctxKey struct{}

// execute runs the serve command alone with a stub run function and
// returns the options the stub saw (nil if it was not called).
func execute(t *testing.T, env map[string]string, stubErr error, args ...string) (*serve.Options, *cmdutil.IO, string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	io := &cmdutil.IO{Out: &stdout, ErrOut: &stderr, Getenv: func(k string) string { return env[k] }}
	var got *serve.Options
	ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
	cmd := serve.NewCommand(io, func(ctx context.Context, o *serve.Options) error {
		if ctx.Value(ctxKey{}) != "marker" {
			t.Error("run function did not get the command's context")
		}
		got = o
		return stubErr
	})
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.ExecuteContext(ctx)
	return got, io, stdout.String(), stderr.String(), err
}

func TestOptionsFromLayers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mediakit.toml")
	if err := os.WriteFile(file, []byte(`[general]
dataDir = "/from/file"
mediaServerId = "edge-1"
[protocol]
continue_push_ms = 3000
[http]
addr = "127.0.0.1:8081"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"MEDIAKIT_CONTINUE_PUSH": "7s",
		"MEDIAKIT_LOG_FORMAT":    "json",
		"MEDIAKIT_HTTP_ADDR":     "127.0.0.1:8082",
	}
	o, io, stdout, stderr, err := execute(t, env, nil, "--config", file,
		"--rtmp-addr", "127.0.0.1:1936", "--http-addr", "127.0.0.1:8083", "--max-stream-wait", "2s", "--takeover")
	if err != nil {
		t.Fatal(err)
	}
	if o == nil {
		t.Fatal("run function not called")
	}
	if stdout != "" || stderr != "" {
		t.Errorf("output before run: stdout %q stderr %q", stdout, stderr)
	}
	if o.IO != io || o.ConfigFile != file || o.PrintConfig {
		t.Errorf("options: IO %p (want %p), ConfigFile %q, PrintConfig %v", o.IO, io, o.ConfigFile, o.PrintConfig)
	}
	want := config.Default()
	want.General.DataDir = "/from/file"          // file
	want.General.MediaServerID = "edge-1"        // file, no flag
	want.Protocol.ContinuePush = 7 * time.Second // env over file
	want.Log.Format = "json"                     // env
	want.HTTP.Addr = "127.0.0.1:8083"            // flag over env over file
	want.RTMP.Addr = "127.0.0.1:1936"            // flag
	want.General.MaxStreamWait = 2 * time.Second
	want.General.Takeover = true
	if !reflect.DeepEqual(o.Config, want) {
		t.Errorf("config\n got %+v\nwant %+v", *o.Config, *want)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, _, _, _, err := execute(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Config, config.Default()) {
		t.Errorf("config %+v, want the defaults", *o.Config)
	}
	if o.ConfigFile != "" || o.PrintConfig {
		t.Errorf("ConfigFile %q PrintConfig %v", o.ConfigFile, o.PrintConfig)
	}
	o, _, _, _, err = execute(t, nil, nil, "--print-config")
	if err != nil || !o.PrintConfig {
		t.Errorf("--print-config: err %v, PrintConfig %v", err, o != nil && o.PrintConfig)
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env.toml")
	flagFile := filepath.Join(dir, "flag.toml")
	for path, level := range map[string]string{envFile: "warn", flagFile: "error"} {
		if err := os.WriteFile(path, []byte("[log]\nlevel = \""+level+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"MEDIAKIT_CONFIG": envFile}
	o, _, _, _, err := execute(t, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Config.Log.Level != "warn" {
		t.Errorf("MEDIAKIT_CONFIG: level %q, want warn from %s", o.Config.Log.Level, envFile)
	}
	o, _, _, _, err = execute(t, env, nil, "--config", flagFile)
	if err != nil {
		t.Fatal(err)
	}
	if o.Config.Log.Level != "error" {
		t.Errorf("--config over MEDIAKIT_CONFIG: level %q, want error from %s", o.Config.Log.Level, flagFile)
	}
}

func TestUsageErrorsDoNotRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"argument", nil, []string{"extra"}},
		{"missing file", nil, []string{"--config", "/nonexistent.toml"}},
		{"bad level", nil, []string{"--log-level", "loud"}},
		{"bad env", map[string]string{"MEDIAKIT_MERGE_WRITE": "2s"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _, _, _, err := execute(t, tc.env, nil, tc.args...)
			if o != nil {
				t.Error("run function called")
			}
			var ue *cmdutil.UsageErr
			if !errors.As(err, &ue) {
				t.Errorf("error %v (%T) is not a usage error", err, err)
			}
		})
	}
}

func TestRunErrorPassesThrough(t *testing.T) {
	boom := errors.New("boom")
	_, _, _, _, err := execute(t, nil, boom)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the run function's", err)
	}
	var ue *cmdutil.UsageErr
	if errors.As(err, &ue) {
		t.Error("a run failure is reported as a usage error")
	}
}

func TestWarningsOnStderr(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mediakit.toml")
	if err := os.WriteFile(file, []byte("[rtp_proxy]\nport = 10000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, _, stdout, stderr, err := execute(t, nil, nil, "--config", file)
	if err != nil || o == nil {
		t.Fatalf("err %v", err)
	}
	if stdout != "" {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, "rtp_proxy.port") {
		t.Errorf("stderr %q lacks a warning about rtp_proxy.port", stderr)
	}
}

func TestRunPrintConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	cfg := config.Default()
	cfg.Protocol.ContinuePush = 7 * time.Second
	cfg.General.DataDir = filepath.Join(t.TempDir(), "never-created")
	err := serve.Run(context.Background(), &serve.Options{
		IO:          &cmdutil.IO{Out: &out, ErrOut: &errOut},
		PrintConfig: true,
		Config:      cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\ncontinue_push_ms = 7000\n") || errOut.Len() != 0 {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
	if _, err := os.Stat(cfg.General.DataDir); !os.IsNotExist(err) {
		t.Error("--print-config created the data dir")
	}
}

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		level, format string
		debugShown    bool
		json          bool
	}{
		{"info", "text", false, false},
		{"DEBUG", "text", true, false},
		{"debug", "JSON", true, true},
		{"error", "json", false, true},
	} {
		var errOut, out bytes.Buffer
		cfg := config.Default()
		cfg.Log.Level, cfg.Log.Format = tc.level, tc.format
		log, _ := serve.NewLogger(cfg, &cmdutil.IO{Out: &out, ErrOut: &errOut})
		log.Debug("dbg")
		log.Error("err")
		s := errOut.String()
		if strings.Contains(s, "dbg") != tc.debugShown {
			t.Errorf("%s/%s: debug shown %v, want %v: %q", tc.level, tc.format, !tc.debugShown, tc.debugShown, s)
		}
		if !strings.Contains(s, "err") {
			t.Errorf("%s/%s: error not logged: %q", tc.level, tc.format, s)
		}
		if strings.HasPrefix(s, "{") != tc.json {
			t.Errorf("%s/%s: output %q, json %v", tc.level, tc.format, s, tc.json)
		}
		if out.Len() != 0 {
			t.Errorf("%s/%s: logger wrote to stdout", tc.level, tc.format)
		}
	}
}

// TestRunDataDirFailure: a data dir that cannot be created is a runtime
// error naming it, and nothing is bound.
func TestRunDataDirFailure(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.General.DataDir = filepath.Join(blocker, "data")
	cfg.RTMP.Addr, cfg.HTTP.Addr, cfg.RTPProxy.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	var out, errOut bytes.Buffer
	err := serve.Run(context.Background(), &serve.Options{IO: &cmdutil.IO{Out: &out, ErrOut: &errOut}, Config: cfg})
	// MkdirAll names the component that failed.
	if err == nil || !strings.Contains(err.Error(), "data dir") || !strings.Contains(err.Error(), blocker) {
		t.Fatalf("error %v, want one naming the data dir and %s", err, blocker)
	}
	if strings.Contains(errOut.String(), "mediakit ready") || out.Len() != 0 {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}
