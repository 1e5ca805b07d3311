package ffmpegsrc

import (
	"reflect"
	"strings"
	"testing"
)

func TestBuildArgs(t *testing.T) {
	net := source{arg: `rtsp://cam/a b"c'd;rm -rf ~`, whitelist: networkWhitelist}
	for _, tc := range []struct {
		name     string
		template string
		src      source
		dst      string
		want     []string
	}{
		{
			name:     "default template, a source with spaces and quotes stays one argument",
			template: DefaultCmd, src: net, dst: "rtmp://127.0.0.1/live/a b",
			want: []string{"/usr/bin/ffmpeg", "-re", "-protocol_whitelist", networkWhitelist, "-i", `rtsp://cam/a b"c'd;rm -rf ~`,
				"-c", "copy", "-f", "flv", "rtmp://127.0.0.1/live/a b"},
		},
		{
			name:     "tabs and repeated spaces split like spaces",
			template: "%s\t-rtsp_transport tcp  -i %s\n-f flv %s", src: source{arg: "file:/data/x.flv", whitelist: fileWhitelist},
			dst:  "rtmp://h/live/s",
			want: []string{"/usr/bin/ffmpeg", "-rtsp_transport", "tcp", "-protocol_whitelist", "file", "-i", "file:/data/x.flv", "-f", "flv", "rtmp://h/live/s"},
		},
		{
			name:     "a value holding %s is not substituted again",
			template: "%s -i %s -f flv %s", src: source{arg: "http://h/%s%s"}, dst: "rtmp://h/live/%s",
			want: []string{"/usr/bin/ffmpeg", "-i", "http://h/%s%s", "-f", "flv", "rtmp://h/live/%s"},
		},
		{
			name:     "a source inside a field gets no whitelist",
			template: "%s -i x%s -f flv %s", src: net, dst: "rtmp://h/live/s",
			want: []string{"/usr/bin/ffmpeg", "-i", "x" + net.arg, "-f", "flv", "rtmp://h/live/s"},
		},
		{
			name:     "two values in one field",
			template: "%s -i %s -f flv -metadata title=%s", src: source{arg: "udp://0.0.0.0:5000"}, dst: "rtmp://h/live/s",
			want: []string{"/usr/bin/ffmpeg", "-i", "udp://0.0.0.0:5000", "-f", "flv", "-metadata", "title=rtmp://h/live/s"},
		},
		{
			name:     "executable and source in one field",
			template: "%s%s -f flv %s", src: source{arg: "X"}, dst: "rtmp://h/live/s",
			want: []string{"/usr/bin/ffmpegX", "-f", "flv", "rtmp://h/live/s"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildArgs(tc.template, "/usr/bin/ffmpeg", tc.src, tc.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("args\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"%s -i %s", "%s -i %s -f flv %s %s", "", "-i %s %s", "%s%s%s%s"} {
		if args, err := buildArgs(bad, "ffmpeg", net, "rtmp://h/a/b"); err == nil {
			t.Errorf("template %q: %q, want an error", bad, args)
		}
	}
	if _, err := buildArgs("%s -i %s -f flv %s", "", net, "rtmp://h/a/b"); err == nil {
		t.Error("an empty executable was accepted")
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"ffmpeg", "-i", "rtsp://cam/a b", "-f", "flv", `rtmp://h/x"y`})
	want := `ffmpeg -i "rtsp://cam/a b" -f flv "rtmp://h/x\"y"`
	if got != want {
		t.Fatalf("commandLine = %s, want %s", got, want)
	}
	if strings.Contains(commandLine([]string{"a\nb"}), "\n") {
		t.Fatal("a newline reached the rendered command line")
	}
}

// ffmpeg_cmd_key selects a named template of the [ffmpeg] section, with
// or without its section prefix; an unknown key falls back to ffmpeg.cmd.
func TestCommandTemplateByKey(t *testing.T) {
	m := NewManager(Options{Bin: "/usr/bin/ffmpeg", Templates: map[string]string{"cmd_hd": "%s -i %s -c:v libx264 -s 1280x720 -f flv %s"}})
	for _, tc := range []struct{ key, want string }{
		{"", DefaultCmd},
		{DefaultCmdKey, DefaultCmd},
		{"ffmpeg.cmd_hd", "%s -i %s -c:v libx264 -s 1280x720 -f flv %s"},
		{"cmd_hd", "%s -i %s -c:v libx264 -s 1280x720 -f flv %s"},
		{"ffmpeg.cmd_missing", DefaultCmd},
	} {
		if got := m.template(tc.key); got != tc.want {
			t.Errorf("template(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	task, err := m.newTask(Spec{SrcURL: "rtsp://192.0.2.1/cam", DstURL: "rtmp://127.0.0.1/live/hd", CmdKey: "ffmpeg.cmd_hd"})
	if err != nil {
		t.Fatal(err)
	}
	if got := commandLine(task.args); !strings.Contains(got, "-s 1280x720") {
		t.Fatalf("command line of a task with ffmpeg_cmd_key=ffmpeg.cmd_hd: %s", got)
	}
}
