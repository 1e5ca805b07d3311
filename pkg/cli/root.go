// Package cli is the mediakit command line: the root command and the
// wiring of subcommands, exit codes and output streams. Each subcommand
// lives in its own package with an options struct and a run function.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/cli/serve"
)

// Exit codes, as contract.md gives them.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// NewRootCommand builds the mediakit command tree.
func NewRootCommand(io *cmdutil.IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "mediakit",
		Short: "Streaming media server and shell toolkit",
		Long: `mediakit is a streaming media server and a shell toolkit in one binary.

  mediakit serve     run the server: RTMP publish/play, HTTP-FLV, WebSocket-FLV,
                     /metrics and /healthz

Publish with:  ffmpeg -re -i in.flv -c copy -f flv rtmp://127.0.0.1:1935/live/test
Play with:     ffplay rtmp://127.0.0.1:1935/live/test
               ffplay http://127.0.0.1:8080/live/test.live.flv`,
		Version:       cmdutil.Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetVersionTemplate("mediakit {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return cmdutil.UsageError(fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath()))
	})
	root.AddCommand(newVersionCommand(io))
	root.AddCommand(serve.NewCommand(io, nil))
	return root
}

func newVersionCommand(io *cmdutil.IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(io.Out, "mediakit %s\n", cmdutil.Version())
			return err
		},
	}
}

// Main runs mediakit with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ioStreams := &cmdutil.IO{Out: stdout, ErrOut: stderr, Getenv: getenv}
	root := NewRootCommand(ioStreams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "mediakit: %v\n", err)
	var ue *cmdutil.UsageErr
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return ExitUsage
	}
	return ExitFailure
}

// isCobraUsageError recognises the errors cobra itself returns for an
// unknown command.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	return len(msg) >= 15 && msg[:15] == "unknown command"
}
