// Package cli is the mediakit command line: the root command and the
// wiring of subcommands, exit codes and output streams. Each subcommand
// lives in its own package with an options struct and a run function.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/cli/probe"
	"github.com/mediakit/mediakit/pkg/cli/record"
	"github.com/mediakit/mediakit/pkg/cli/relay"
	clremux "github.com/mediakit/mediakit/pkg/cli/remux"
	"github.com/mediakit/mediakit/pkg/cli/rtplisten"
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

  mediakit serve       run the server: RTMP publish/play, HTTP-FLV, WebSocket-FLV,
                       live HLS, RTP/GB28181 ingest, recording, ZLMediaKit's HTTP
                       API and web hooks, /metrics and /healthz
  mediakit relay       pull a stream once and push it to RTMP servers and/or
                       write it to FLV, MPEG-TS or MP4 files, with retries
  mediakit record      record a stream or a file to MP4 and/or HLS
  mediakit rtp-listen  show what arrives on an RTP port, per SSRC; ingest it
  mediakit probe       tracks, codecs, duration, bitrate of a file or URL; --gop
  mediakit remux       change a file's container (FLV, MPEG-TS, MP4, HLS) without transcoding

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
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Name() == "serve" {
			return nil // serve reads MEDIAKIT_* through its settings table
		}
		return cmdutil.FlagsFromEnv(cmd, io.Env())
	}
	root.SetHelpCommand(newHelpCommand())
	root.AddCommand(newVersionCommand(io))
	root.AddCommand(serve.NewCommand(io, nil))
	root.AddCommand(relay.NewCommand(io, nil))
	root.AddCommand(record.NewCommand(io, nil))
	root.AddCommand(rtplisten.NewCommand(io, nil))
	root.AddCommand(probe.NewCommand(io, nil))
	root.AddCommand(clremux.NewCommand(io, nil))
	return root
}

// newHelpCommand is cobra's help command, except that an unknown topic is
// a usage error (exit 2) rather than usage text and exit 0.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints the help of any command: mediakit help COMMAND.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil || cmd == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if (sub.IsAvailableCommand() || sub == c) && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, _, err := c.Root().Find(args)
			if cmd == nil || err != nil {
				return cmdutil.UsageError(fmt.Errorf("unknown help topic %q (see '%s --help')",
					strings.Join(args, " "), c.Root().CommandPath()))
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

func newVersionCommand(io *cmdutil.IO) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Example: `  mediakit version
  mediakit version --json | jq -r .commit`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				b := cmdutil.Build()
				return cmdutil.PrintJSON(io.Out, map[string]string{
					"version": b.Version, "commit": b.Commit, "date": b.Date,
					"go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH,
				})
			}
			_, err := fmt.Fprintf(io.Out, "mediakit %s\n", cmdutil.Version())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print version, commit, date, go, os and arch as one JSON object")
	return cmd
}

// Main runs mediakit with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ioStreams := &cmdutil.IO{Out: stdout, ErrOut: stderr, Getenv: getenv}
	root := NewRootCommand(ioStreams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var ue *cmdutil.UsageErr
	usage := errors.As(err, &ue) || isCobraUsageError(err)
	msg := oneLine(err.Error())
	if !usage && cmd != nil && cmd != root && !namesCommand(msg, cmd.Name()) {
		// A runtime failure names the command it came from, as
		// "mediakit: relay: ..." always did, whichever layer made it.
		msg = cmd.Name() + ": " + msg
	}
	fmt.Fprintf(stderr, "mediakit: %s\n", msg)
	if usage {
		return ExitUsage
	}
	return ExitFailure
}

// namesCommand reports whether msg starts with the command's name ("relay:
// ...", "record rtmp://...").
func namesCommand(msg, name string) bool {
	rest, ok := strings.CutPrefix(msg, name)
	return ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, " "))
}

// isCobraUsageError recognises the errors cobra itself returns for an
// unknown command.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	return len(msg) >= 15 && msg[:15] == "unknown command"
}

// oneLine keeps an error to the one line the contract promises. Cobra's
// "unknown command" error carries its suggestions on further lines:
// they become a parenthesis.
func oneLine(msg string) string {
	const didYouMean = "Did you mean this?"
	if head, sugg, ok := strings.Cut(msg, didYouMean); ok {
		names := strings.Fields(sugg)
		for i, n := range names {
			names[i] = strconv.Quote(n)
		}
		msg = strings.TrimSpace(head)
		if len(names) > 0 {
			msg += " (did you mean " + strings.Join(names, " or ") + "?)"
		}
	}
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
