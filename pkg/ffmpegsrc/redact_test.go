package ffmpegsrc

import "testing"

func TestRedact(t *testing.T) {
	src := "rtsp://admin:s3cret@10.0.0.9:554/Streaming/Channels/101"
	dst := "rtmp://push.example/live/x?token=abc&vhost=v"
	line := "[rtsp @ 0x1] rtsp://admin:s3cret@10.0.0.9:554/Streaming/Channels/101: 401 Unauthorized; to rtmp://push.example/live/x?token=abc&vhost=v"
	want := "[rtsp @ 0x1] rtsp://***@10.0.0.9:554/Streaming/Channels/101: 401 Unauthorized; to rtmp://push.example/live/x?***"
	if got := redact(line, src, dst); got != want {
		t.Fatalf("redact\n got %s\nwant %s", got, want)
	}
	if got := redactURL(src); got != "rtsp://***@10.0.0.9:554/Streaming/Channels/101" {
		t.Errorf("redactURL = %s", got)
	}
	if got := redactURL("/data/clips/a.flv"); got != "/data/clips/a.flv" {
		t.Errorf("a path changed: %s", got)
	}
}
