package urlscheme

import "testing"

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		in     string
		scheme string
		isURL  bool
	}{
		{"rtmp://h/app/s", "rtmp", true},
		{"HTTPS://h/x.flv", "HTTPS", true},
		{"svn+ssh://h/x", "svn+ssh", true},
		{"clip.flv", "", false},
		{`C:\x.flv`, "", false},
		{"../etc://x.flv", "", false},
		{"1rtmp://h", "", false},
		{"://h", "", false},
		{"rtmp:/h", "", false},
	} {
		scheme, ok := Of(tc.in)
		if scheme != tc.scheme || ok != tc.isURL {
			t.Errorf("Of(%q) = %q, %v; want %q, %v", tc.in, scheme, ok, tc.scheme, tc.isURL)
		}
	}
}
