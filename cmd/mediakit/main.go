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
	go func() {
		// The first signal starts a clean shutdown; from then on the
		// default action applies, so a second one ends a stuck shutdown.
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
