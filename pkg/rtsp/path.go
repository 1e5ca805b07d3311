package rtsp

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/mediakit/mediakit/pkg/engine"
)

// StreamKey returns the stream of an RTSP request path /APP/STREAM (the
// stream name may hold '/'), with the vhost taken from the query's vhost
// parameter, as the other protocols do. The key is validated.
func StreamKey(path, query string) (engine.Key, error) {
	p := strings.Trim(path, "/")
	app, stream, _ := strings.Cut(p, "/")
	vals, _ := url.ParseQuery(query)
	key := engine.NewKey(vals.Get("vhost"), app, stream)
	if err := key.Validate(); err != nil {
		return engine.Key{}, err
	}
	return key, nil
}

// setupTrackID is the index of the media a play SETUP asks for, by
// gortsplib's rules (the "/trackID=N" suffix of the query, as ffmpeg
// sends it, or of the path); -1 when it names none that parses.
func setupTrackID(u *base.URL) int {
	if u == nil {
		return -1
	}
	for _, s := range []string{u.RawQuery, u.Path} {
		if i := strings.LastIndex(s, "/trackID="); i >= 0 {
			n, err := strconv.ParseUint(s[i+len("/trackID="):], 10, 31)
			if err != nil {
				return -1
			}
			return int(n)
		}
	}
	return 0
}
