package ffmpegsrc

import (
	"context"
	"io"
	"time"
)

// Command fills a command template of ZLMediaKit's form (three %s: the
// executable, the input, the output; ffmpeg.snap for one) without a
// shell, as FFmpeg sources do: the template is split on white space, each
// %s filled in its field. src is checked as an FFmpeg source's src_url
// (network schemes, or a local file that confine admits; nil refuses
// local files), and a refusal wraps ErrInvalid. dst is passed as given:
// the caller names it, never the API.
func Command(template, bin, src, dst string, confine func(string) (string, error)) ([]string, error) {
	s, err := checkSource(src, confine)
	if err != nil {
		return nil, err
	}
	return buildArgs(template, bin, s, dst)
}

// Run runs args with stdin and stdout on /dev/null and stderr into w (nil:
// discarded), in a process group of its own (killed by the kernel if
// mediakit dies, on Linux), until it exits or ctx ends. When ctx ends, the
// whole group gets SIGTERM, then SIGKILL after grace. Run returns only
// once the process is reaped, with its exit error, or ctx's error if it
// had to be stopped.
func Run(ctx context.Context, args []string, w io.Writer, grace time.Duration) error {
	if w == nil {
		w = io.Discard
	}
	p, err := startProcess(args, w)
	if err != nil {
		return err
	}
	select {
	case <-p.exited:
		return p.err
	case <-ctx.Done():
	}
	p.stop(grace)
	return ctx.Err()
}

// Redact replaces in s the user information and query of each URL (a
// camera's rtsp://admin:pass@, a ?token=), for the log.
func Redact(s string, urls ...string) string { return redact(s, urls...) }
