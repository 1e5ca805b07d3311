package cli_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/cli"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is written by a running server while the test reads it.
type syncBuffer = testutil.SyncBuffer

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// result is one run of Main.
type result struct {
	code           int
	stdout, stderr string
}

// run calls Main with args and env (nothing else from the process
// environment) and returns what it wrote.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return runCtx(ctx, env, args...)
}

// runCtx is run with a given context; an already cancelled one makes a
// serve that was meant to fail, but starts, return at once.
func runCtx(ctx context.Context, env map[string]string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, args, &stdout, &stderr, envFunc(env))
	return result{code, stdout.String(), stderr.String()}
}

// safeEnv makes an accidental real run of `serve` harmless: loopback
// ports chosen by the kernel and a temporary data dir.
func safeEnv(t *testing.T, extra map[string]string) map[string]string {
	env := map[string]string{
		"MEDIAKIT_RTMP_ADDR": "127.0.0.1:0",
		"MEDIAKIT_HTTP_ADDR": "127.0.0.1:0",
		"MEDIAKIT_DATA_DIR":  t.TempDir(),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// checkOneLineError checks the contract for errors (testutil.CheckOneLineError).
func checkOneLineError(t *testing.T, r result) {
	t.Helper()
	testutil.CheckOneLineError(t, r.stdout, r.stderr)
}
