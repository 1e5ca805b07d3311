package httpflv

import (
	"net/url"
	"testing"

	"github.com/mediakit/mediakit/pkg/engine"
)

func TestParsePath(t *testing.T) {
	def := engine.DefaultVhost
	tests := []struct {
		path  string
		query string
		want  engine.Key
		ok    bool
	}{
		{"/live/a.live.flv", "", engine.Key{Vhost: def, App: "live", Stream: "a"}, true},
		{"/live/a.flv", "", engine.Key{Vhost: def, App: "live", Stream: "a"}, true},
		{"/live/a/b.live.flv", "", engine.Key{Vhost: def, App: "live", Stream: "a/b"}, true},
		{"/live/a/b/c.flv", "", engine.Key{Vhost: def, App: "live", Stream: "a/b/c"}, true},
		{"/live/a.live.flv", "vhost=example.com", engine.Key{Vhost: "example.com", App: "live", Stream: "a"}, true},
		{"/live/a.flv", "token=x&vhost=v2", engine.Key{Vhost: "v2", App: "live", Stream: "a"}, true},
		{"/live/a.live.flv", "vhost=", engine.Key{Vhost: def, App: "live", Stream: "a"}, true},
		// ".live.flv" wins over ".flv": this is stream "a", not "a.live".
		{"/live/a.live.flv", "token=1", engine.Key{Vhost: def, App: "live", Stream: "a"}, true},
		{"/live/cam.1.flv", "", engine.Key{Vhost: def, App: "live", Stream: "cam.1"}, true},

		{"", "", engine.Key{}, false},
		{"/", "", engine.Key{}, false},
		{"/.flv", "", engine.Key{}, false},
		{"/.live.flv", "", engine.Key{}, false},
		{"/live.flv", "", engine.Key{}, false},       // no stream
		{"/a.live.flv", "", engine.Key{}, false},     // no app
		{"/live/.live.flv", "", engine.Key{}, false}, // empty stream
		{"/live/.flv", "", engine.Key{}, false},
		{"//a.live.flv", "", engine.Key{}, false}, // empty app
		{"/live/a", "", engine.Key{}, false},      // no suffix
		{"/live/a.m3u8", "", engine.Key{}, false},
		{"/live/a/hls.m3u8", "", engine.Key{}, false},
		{"/live/a.flv.mp4", "", engine.Key{}, false},
		{"/live/a.FLV", "", engine.Key{}, false},
		{"/index/api/getMediaList", "", engine.Key{}, false},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ParsePath(tt.path, q)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParsePath(%q, %q) = %+v, %v; want %+v, %v", tt.path, tt.query, got, ok, tt.want, tt.ok)
		}
		if ok {
			if err := got.Validate(); err != nil {
				t.Errorf("ParsePath(%q) returned an invalid key: %v", tt.path, err)
			}
		}
	}
}
