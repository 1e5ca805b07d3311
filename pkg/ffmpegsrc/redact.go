package ffmpegsrc

import (
	"net/url"
	"strings"
)

// Source and destination URLs often carry credentials (a camera's
// rtsp://admin:pass@..., a push URL's ?token=), and ffmpeg repeats its
// input URL in its messages. The API shows them to its callers, who gave
// them; the log gets them redacted, as SECURITY.md promises for API
// parameters.

// redactURL hides a URL's user information and query.
func redactURL(raw string) string { return redact(raw, raw) }

// redact replaces in s the user information and query of each URL.
func redact(s string, urls ...string) string {
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			continue
		}
		if u.User != nil {
			s = strings.ReplaceAll(s, u.User.String()+"@", "***@")
		}
		if u.RawQuery != "" {
			s = strings.ReplaceAll(s, "?"+u.RawQuery, "?***")
		}
	}
	return s
}
