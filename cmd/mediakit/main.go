// Command mediakit is a streaming media server and shell toolkit.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mediakit/mediakit/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
