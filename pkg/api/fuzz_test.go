package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzParseParams feeds arbitrary bodies, content types and query strings
// to ParseParams and to the server: neither may panic, ParseParams gives
// Params or an error, query parameters override the body, and the server
// always answers a JSON object with a numeric code.
func FuzzParseParams(f *testing.F) {
	f.Add([]byte("a=1&b=2"), "application/x-www-form-urlencoded", "secret=x")
	f.Add([]byte(`{"a":{"b":[1,null]},"c":null,"d":true,"e":false,"n":1e999}`), "application/json", "a=q")
	f.Add([]byte("\xff\xfe{\"a\":\"\xc3\x28\"}"), "", "x=%ff")

	srv := NewServer(func() string { return "" }, nil, nil)
	srv.Handle("echo", func(ctx context.Context, p *Params) (Reply, error) {
		out := Reply{}
		for _, n := range p.Names() {
			out["p_"+n] = p.Get(n)
		}
		return out, nil
	})
	srv.Handle("typed", func(ctx context.Context, p *Params) (Reply, error) {
		n, err := p.Int("n", 0)
		if err != nil {
			return nil, err
		}
		b, err := p.Bool("b", false)
		if err != nil {
			return nil, err
		}
		if err := p.RequireAll("a", "b"); err != nil {
			return nil, err
		}
		return Reply{"n": n, "b": b}, nil
	})

	f.Fuzz(func(t *testing.T, body []byte, ctype, query string) {
		newReq := func() *http.Request {
			r := &http.Request{
				Method:     http.MethodPost,
				URL:        &url.URL{Path: Prefix + "echo", RawQuery: query},
				Header:     http.Header{},
				Body:       io.NopCloser(bytes.NewReader(body)),
				RemoteAddr: "127.0.0.1:1234",
			}
			if ctype != "" {
				r.Header.Set("Content-Type", ctype)
			}
			return r
		}

		p, err := ParseParams(newReq())
		if (p == nil) == (err == nil) {
			t.Fatalf("ParseParams = %v, %v: want exactly one", p, err)
		}
		if err == nil {
			names := p.Names()
			for _, n := range names {
				v, ok := p.Lookup(n)
				if !ok || v != p.Get(n) {
					t.Fatalf("Lookup(%q) = %q, %v after Names()", n, v, ok)
				}
				_, _ = p.Int(n, 0)
				_, _ = p.Bool(n, false)
			}
			_ = p.RequireAll(names...)
			// The first query value wins over the body whatever the case
			// of either name, unless the query itself spells the name in
			// several cases.
			q, _ := url.ParseQuery(query)
			spellings := map[string]int{}
			for k := range q {
				spellings[asciiLower(k)]++
			}
			for k, vs := range q {
				if spellings[asciiLower(k)] > 1 {
					continue
				}
				for _, name := range []string{k, asciiLower(k), asciiUpper(k)} {
					if got := p.Get(name); got != vs[0] {
						t.Fatalf("query %s=%q but Get(%q) = %q", k, vs[0], name, got)
					}
				}
			}
		}

		for _, api := range []string{"echo", "typed"} {
			r := newReq()
			r.URL.Path = Prefix + api
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("%s: HTTP %d", api, w.Code)
			}
			var m map[string]any
			dec := json.NewDecoder(w.Body)
			dec.UseNumber()
			if derr := dec.Decode(&m); derr != nil {
				t.Fatalf("%s: reply is not JSON: %v", api, derr)
			}
			if _, ok := m["code"].(json.Number); !ok {
				t.Fatalf("%s: code %#v", api, m["code"])
			}
			if api == "echo" {
				want := json.Number("0")
				if err != nil {
					want = json.Number("-300")
				}
				if m["code"] != want {
					t.Fatalf("echo: ParseParams error %v but reply %v", err, m)
				}
			}
		}
	})
}

// asciiLower and asciiUpper change ASCII letters only and keep every
// other byte (strings.Map would replace invalid UTF-8).
func asciiLower(s string) string { return asciiMap(s, 'A', 'Z', 'a'-'A') }

func asciiUpper(s string) string { return asciiMap(s, 'a', 'z', 'A'-'a') }

func asciiMap(s string, lo, hi byte, delta int) string {
	b := []byte(s)
	for i, c := range b {
		if lo <= c && c <= hi {
			b[i] = byte(int(c) + delta)
		}
	}
	return string(b)
}
