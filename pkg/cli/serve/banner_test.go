package serve

import (
	"strings"
	"testing"
)

func TestWriteBanner(t *testing.T) {
	tests := []struct {
		name  string
		addrs listenAddrs
		hosts []string
		want  []string
		not   []string
	}{
		{
			name:  "every interface",
			addrs: listenAddrs{RTMP: "[::]:1935", HTTP: "0.0.0.0:8080", RTSP: ":8554"},
			hosts: []string{"192.0.2.7", "198.51.100.2"},
			want: []string{
				"mediakit v1.2.3 is ready.",
				"  Publish   rtmp://192.0.2.7:1935/live/STREAM",
				"            rtmp://198.51.100.2:1935/live/STREAM",
				"  Publish   rtsp://192.0.2.7:8554/live/STREAM",
				"  Play      http://192.0.2.7:8080/live/STREAM.live.flv",
				"            http://198.51.100.2:8080/live/STREAM/hls.m3u8",
				"  API       http://192.0.2.7:8080/index/api/getMediaList",
				"  Metrics   http://192.0.2.7:8080/metrics",
				"            http://198.51.100.2:8080/metrics",
			},
			not: []string{"rtsps://", "[::]", "0.0.0.0"},
		},
		{
			name:  "one address, RTSPS, no RTMP",
			addrs: listenAddrs{HTTP: "127.0.0.1:18080", RTSP: "127.0.0.1:8554", RTSPS: "127.0.0.1:8322", WebRTC: "127.0.0.1:8000"},
			hosts: []string{"192.0.2.7"},
			want: []string{
				"  Play      rtsps://127.0.0.1:8322/live/STREAM",
				"  Page      http://127.0.0.1:18080/live/STREAM/",
				"  WHEP      http://127.0.0.1:18080/live/STREAM/whep",
				"  WHIP      http://127.0.0.1:18080/live/STREAM/whip",
				"  Console   http://127.0.0.1:18080/console/",
				"  Metrics   http://127.0.0.1:18080/metrics",
			},
			not: []string{"rtmp://", "192.0.2.7"},
		},
		{
			name:  "IPv6 host",
			addrs: listenAddrs{HTTP: "[2001:db8::1]:8080"},
			want:  []string{"  Metrics   http://[2001:db8::1]:8080/metrics"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			writeBanner(&b, "v1.2.3", tt.addrs, tt.hosts)
			out := b.String()
			lines := strings.Split(out, "\n")
			for _, w := range tt.want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("no line %q in\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("banner has %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestHostAddrs(t *testing.T) {
	hosts := hostAddrs()
	if len(hosts) == 0 || len(hosts) > 4 {
		t.Fatalf("hostAddrs = %v, want 1 to 4 addresses", hosts)
	}
}
