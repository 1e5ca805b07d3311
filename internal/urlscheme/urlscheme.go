// Package urlscheme tells URLs from local paths the way every mediakit
// input and output reads them: "scheme://..." with an RFC 3986 scheme is
// a URL; anything else ("C:\x.flv", a directory named "a://") is a path.
package urlscheme

import "strings"

// Valid reports whether s can be a URL scheme (RFC 3986): a letter, then
// letters, digits, '+', '-' or '.'.
func Valid(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// Of returns the scheme of raw when raw is a URL, and false for a local
// path.
func Of(raw string) (string, bool) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || !Valid(scheme) {
		return "", false
	}
	return scheme, true
}
