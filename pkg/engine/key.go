package engine

import (
	"fmt"
	"strings"
)

// DefaultVhost is the vhost of streams that do not name one, as in
// ZLMediaKit and SRS.
const DefaultVhost = "__defaultVhost__"

// Key identifies a stream.
type Key struct {
	Vhost  string
	App    string
	Stream string
}

// NewKey returns the key of app/stream on vhost (DefaultVhost when empty).
func NewKey(vhost, app, stream string) Key {
	if vhost == "" {
		vhost = DefaultVhost
	}
	return Key{Vhost: vhost, App: app, Stream: stream}
}

func (k Key) String() string { return k.Vhost + "/" + k.App + "/" + k.Stream }

// Validate rejects keys that cannot name a stream in a URL or a file path.
// A stream name may hold '/' (it becomes subdirectories of a recording);
// vhost and app may not.
func (k Key) Validate() error {
	for _, part := range []struct {
		name, v    string
		allowSlash bool
	}{{"vhost", k.Vhost, false}, {"app", k.App, false}, {"stream", k.Stream, true}} {
		if part.v == "" {
			return fmt.Errorf("%w: empty %s", ErrInvalidKey, part.name)
		}
		if len(part.v) > 256 {
			return fmt.Errorf("%w: %s longer than 256 bytes", ErrInvalidKey, part.name)
		}
		if strings.ContainsAny(part.v, "\\\x00?#") || (!part.allowSlash && strings.Contains(part.v, "/")) {
			return fmt.Errorf("%w: %s %q", ErrInvalidKey, part.name, part.v)
		}
		for _, seg := range strings.Split(part.v, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return fmt.Errorf("%w: %s %q", ErrInvalidKey, part.name, part.v)
			}
		}
	}
	return nil
}
