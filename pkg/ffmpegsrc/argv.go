package ffmpegsrc

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// DefaultCmd is ZLMediaKit's default ffmpeg.cmd: executable, source,
// destination.
const DefaultCmd = "%s -re -i %s -c copy -f flv %s"

// buildArgs fills a command template. The template is split on white
// space first and each %s is then replaced in its field, so a URL with
// spaces or quotes stays one argument and nothing is ever parsed by a
// shell. When the source is its own field right after -i, ffmpeg's
// -protocol_whitelist for it is put before that -i.
func buildArgs(template, bin string, src source, dst string) ([]string, error) {
	values := []string{bin, src.arg, dst}
	fields := strings.Fields(template)
	args := make([]string, 0, len(fields)+2)
	used, srcAt := 0, -1
	for _, f := range fields {
		parts := strings.Split(f, "%s")
		if len(parts) == 1 {
			args = append(args, f)
			continue
		}
		var b strings.Builder
		for i, part := range parts {
			b.WriteString(part)
			if i == len(parts)-1 {
				break
			}
			if used == len(values) {
				return nil, fmt.Errorf("ffmpeg command %q: more than three %%s", template)
			}
			if used == 1 && f == "%s" {
				srcAt = len(args)
			}
			b.WriteString(values[used])
			used++
		}
		args = append(args, b.String())
	}
	if used != len(values) {
		return nil, fmt.Errorf("ffmpeg command %q: %d %%s, want three (executable, source, destination)", template, used)
	}
	if args[0] == "" {
		return nil, fmt.Errorf("ffmpeg command %q: no executable", template)
	}
	if srcAt > 0 && args[srcAt-1] == "-i" && src.whitelist != "" {
		// An input option applies to the next -i; placed last, it wins
		// over one the template may give.
		args = append(args[:srcAt-1], append([]string{"-protocol_whitelist", src.whitelist}, args[srcAt-1:]...)...)
	}
	return args, nil
}

// commandLine renders args for listFFmpegSource's cmd, quoting what a
// shell would split; it is for people to read, never run.
func commandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\r\n\"'\\$`|&;<>()*?[]#~") || strings.ContainsFunc(a, unicode.IsControl) {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
