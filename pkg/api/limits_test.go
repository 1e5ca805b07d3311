package api

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// jsonBody is a JSON object carrying the test secret whose "extra" value
// makes the whole body nest depth levels (the object itself is the
// first).
func jsonBody(depth int) string {
	return `{"secret":"` + testSecret + `","extra":` +
		strings.Repeat("[", depth-1) + "1" + strings.Repeat("]", depth-1) + "}"
}

// TestParamsJSONDepthLimit: a JSON body nesting deeper than 32 levels is
// refused before decoding, as an invalid-argument reply naming the
// limit; bodies within it, and brackets that are not JSON nesting, pass.
func TestParamsJSONDepthLimit(t *testing.T) {
	fx := newFixture(t)
	for _, tc := range []struct {
		name  string
		ctype string
		body  string
		want  Code
	}{
		{"100 deep", "application/json", jsonBody(100), CodeInvalidArgs},
		{"33 deep", "application/json", jsonBody(33), CodeInvalidArgs},
		{"100 deep without a Content-Type", "", jsonBody(100), CodeInvalidArgs},
		{"100 deep as text/plain", "text/plain", jsonBody(100), CodeInvalidArgs},
		{"32 deep", "application/json", jsonBody(32), CodeSuccess},
		{"brackets in a string", "application/json",
			`{"secret":"` + testSecret + `","extra":"` + strings.Repeat("[{", 100) + `"}`, CodeSuccess},
		{"brackets in a form", "application/x-www-form-urlencoded",
			"secret=" + testSecret + "&extra=" + strings.Repeat("%5B", 100), CodeSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, Prefix+"getServerConfig", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			status, m := do(t, fx.srv, r)
			if status != http.StatusOK {
				t.Fatalf("HTTP %d, want 200: %v", status, m)
			}
			wantCode(t, m, tc.want, "")
			if tc.want == CodeInvalidArgs {
				if msg := jStr(t, m, "msg"); !strings.Contains(msg, "more than 32 levels") {
					t.Errorf("msg %q does not name the limit", msg)
				}
				if _, ok := m["data"]; ok {
					t.Errorf("refused call answered data: %v", m)
				}
			}
		})
	}
}

// TestParseParamsJSONDepth checks the limit where it is applied, at the
// boundary.
func TestParseParamsJSONDepth(t *testing.T) {
	for depth := 30; depth <= 34; depth++ {
		t.Run(strconv.Itoa(depth), func(t *testing.T) {
			p, err := parse(t, http.MethodPost, "/index/api/x", "application/json", jsonBody(depth))
			if depth <= maxJSONDepth {
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.Repeat("[", depth-1) + "1" + strings.Repeat("]", depth-1); p.Get("extra") != want {
					t.Errorf("extra = %q", p.Get("extra"))
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "parse JSON body: ") {
				t.Fatalf("error %v, want a JSON body error", err)
			}
		})
	}
}
