package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func parse(t *testing.T, method, target, ctype, body string) (*Params, error) {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return ParseParams(r)
}

func mustParse(t *testing.T, method, target, ctype, body string) *Params {
	t.Helper()
	p, err := parse(t, method, target, ctype, body)
	if err != nil {
		t.Fatalf("ParseParams: %v", err)
	}
	return p
}

func TestParseParamsJSONValues(t *testing.T) {
	p := mustParse(t, http.MethodPost, "/x", "application/json", `{
		"s": "text \u00e9\n", "i": 42, "neg": -7, "f": 1.50, "exp": 1e3,
		"huge": 123456789012345678901234567890, "t": true, "fa": false, "nul": null,
		"obj": {"a": [1, 2, {"b": null}]}, "arr": [true, "x"], "empty": "", "u": "\ud83d\ude00"}`)
	want := map[string]string{
		"s": "text é\n", "i": "42", "neg": "-7", "f": "1.50", "exp": "1e3",
		"huge": "123456789012345678901234567890", "t": "1", "fa": "0",
		"obj": `{"a": [1, 2, {"b": null}]}`, "arr": `[true, "x"]`, "empty": "", "u": "😀",
	}
	for k, v := range want {
		got, ok := p.Lookup(k)
		if !ok || got != v {
			t.Errorf("%s = %q (%v), want %q", k, got, ok, v)
		}
	}
	if _, ok := p.Lookup("nul"); ok {
		t.Error("null is present")
	}
	names := p.Names()
	if !slices.IsSorted(names) || len(names) != len(want) {
		t.Errorf("Names() = %v", names)
	}
}

func TestParseParamsForm(t *testing.T) {
	p := mustParse(t, http.MethodPost, "/x?q=1&b=query", "application/x-www-form-urlencoded",
		"a=1&b=body&c=%E4%BD%A0+%2B&d=&e=first&e=second")
	for k, v := range map[string]string{"a": "1", "b": "query", "c": "你 +", "d": "", "e": "first", "q": "1"} {
		if got, ok := p.Lookup(k); !ok || got != v {
			t.Errorf("%s = %q (%v), want %q", k, got, ok, v)
		}
	}
}

func TestParseParamsGETIgnoresBody(t *testing.T) {
	p := mustParse(t, http.MethodGet, "/x?a=1", "application/x-www-form-urlencoded", "b=2")
	if p.Get("a") != "1" {
		t.Error("query lost")
	}
	if _, ok := p.Lookup("b"); ok {
		t.Error("GET body parsed")
	}
}

func TestParseParamsCaseInsensitive(t *testing.T) {
	p := mustParse(t, http.MethodPost, "/x?Stream=q", "application/json", `{"stream":"b","APP":"live","Vhost":"v"}`)
	for _, c := range []struct{ name, want string }{
		{"stream", "q"}, {"STREAM", "q"}, {"app", "live"}, {"App", "live"}, {"vhost", "v"}, {"VHOST", "v"},
	} {
		if got := p.Get(c.name); got != c.want {
			t.Errorf("Get(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	// One entry per name regardless of case.
	n := 0
	for _, name := range p.Names() {
		if strings.EqualFold(name, "stream") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("Names() = %v: %d entries for stream", p.Names(), n)
	}
}

func TestRequireAll(t *testing.T) {
	p := NewParams(map[string]string{"schema": "rtmp", "vhost": "", "app": "live"})
	err := p.RequireAll("schema", "vhost", "app", "stream")
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != CodeInvalidArgs ||
		apiErr.Msg != `Required parameter missed: "schema","vhost","app","stream"` {
		t.Errorf("RequireAll = %#v", err)
	}
	if err := p.RequireAll("schema", "app"); err != nil {
		t.Errorf("RequireAll(present) = %v", err)
	}
	if err := p.RequireAll("SCHEMA"); err != nil {
		t.Errorf("RequireAll(case) = %v", err)
	}
	if err := p.RequireAll(); err != nil {
		t.Errorf("RequireAll() = %v", err)
	}
}

func TestParamsInt(t *testing.T) {
	p := NewParams(map[string]string{"a": "12", "b": " 7 ", "c": "12.9", "d": "abc", "e": "", "f": "-3", "g": "1e3",
		"h": "99999999999999999999", "i": "NaN", "j": "-Inf", "k": "9.3e18", "l": "-9.2e18"})
	for _, c := range []struct {
		name string
		want int64
		err  bool
	}{
		{"a", 12, false}, {"b", 7, false}, {"c", 12, false}, {"d", 0, true}, {"e", 5, false},
		{"f", -3, false}, {"g", 1000, false}, {"missing", 5, false}, {"A", 12, false},
		{"h", 0, true}, {"i", 0, true}, {"j", 0, true}, {"k", 0, true}, {"l", -9.2e18, false},
	} {
		got, err := p.Int(c.name, 5)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("Int(%q) = %d, %v", c.name, got, err)
		}
		var apiErr *Error
		if err != nil && (!errors.As(err, &apiErr) || apiErr.Code != CodeInvalidArgs) {
			t.Errorf("Int(%q) error %#v", c.name, err)
		}
	}
}

func TestParamsBool(t *testing.T) {
	p := NewParams(map[string]string{"a": "1", "b": "TRUE", "c": "false", "d": "0", "e": "maybe", "f": "", "g": " yes "})
	for _, c := range []struct {
		name      string
		want, err bool
	}{
		{"a", true, false}, {"b", true, false}, {"c", false, false}, {"d", false, false},
		{"e", false, true}, {"f", true, false}, {"g", true, false}, {"missing", true, false},
	} {
		got, err := p.Bool(c.name, true)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("Bool(%q) = %v, %v", c.name, got, err)
		}
	}
}

func TestNewParamsCopies(t *testing.T) {
	m := map[string]string{"a": "1"}
	p := NewParams(m)
	m["a"] = "2"
	if p.Get("a") != "1" {
		t.Error("NewParams aliases its map")
	}
	if NewParams(nil).Get("x") != "" {
		t.Error("empty params")
	}
}
