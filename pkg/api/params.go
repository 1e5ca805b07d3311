package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/mediakit/mediakit/internal/jsonlimit"
)

// MaxBodySize bounds a request body; ZLMediaKit's API takes a few
// parameters, never a large document.
const MaxBodySize = 1 << 20

// maxJSONDepth bounds how deeply a JSON body nests: parameters are flat
// (a nested value is kept as text), and the decoder recurses per level.
const maxJSONDepth = 32

// Params are an API call's arguments, merged from the query string and a
// form or JSON body (the query wins), as ZLMediaKit accepts them. Names
// match regardless of case: like ZLMediaKit's case-insensitive argument
// map, Params hold one value per name whatever its spelling.
type Params struct {
	values map[string]param // by foldName
}

// param is one argument with the spelling of its name as given.
type param struct{ name, value string }

// NewParams builds Params from a map (tests, internal callers).
func NewParams(values map[string]string) *Params {
	p := &Params{values: make(map[string]param, len(values))}
	setAll(p, values)
	return p
}

// foldName is name in lower case, ASCII letters only: ZLMediaKit's
// StrCaseCompare is strcasecmp.
func foldName(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

// set stores a parameter, replacing one whose name differs only in case.
func (p *Params) set(name, value string) {
	p.values[foldName(name)] = param{name, value}
}

// setAll stores the first value of each name, in sorted name order so
// that names differing only in case resolve the same way every time.
func setAll[V string | []string](p *Params, values map[string]V) {
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch v := any(values[k]).(type) {
		case string:
			p.set(k, v)
		case []string:
			if len(v) > 0 {
				p.set(k, v[0])
			}
		}
	}
}

// ParseParams reads the body and the query of r; as in ZLMediaKit, a
// query parameter overrides a body parameter of the same name.
func ParseParams(r *http.Request) (*Params, error) {
	p := &Params{values: make(map[string]param)}
	if err := p.addBody(r); err != nil {
		return nil, err
	}
	setAll(p, r.URL.Query())
	return p, nil
}

func (p *Params) addBody(r *http.Request) error {
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxBodySize {
		return fmt.Errorf("body larger than %d bytes", MaxBodySize)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ctype == "application/json" || (ctype == "" || ctype == "text/plain") && looksLikeJSON(body):
		return p.addJSON(body)
	case ctype == "application/x-www-form-urlencoded" || ctype == "" || ctype == "text/plain":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return fmt.Errorf("parse form body: %w", err)
		}
		setAll(p, form)
		return nil
	}
	return fmt.Errorf("unsupported Content-Type %q", ctype)
}

func looksLikeJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// addJSON merges a JSON object's members. Strings are taken as they are,
// numbers as written, booleans as "1"/"0", null as absent; nested values
// keep their JSON text.
func (p *Params) addJSON(body []byte) error {
	if err := jsonlimit.CheckDepth(body, maxJSONDepth); err != nil {
		return fmt.Errorf("parse JSON body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("parse JSON body: %w", err)
	}
	values := make(map[string]string, len(obj))
	for k, raw := range obj {
		raw = bytes.TrimSpace(raw)
		switch {
		case bytes.Equal(raw, []byte("null")):
			continue
		case bytes.Equal(raw, []byte("true")):
			values[k] = "1"
		case bytes.Equal(raw, []byte("false")):
			values[k] = "0"
		case len(raw) > 0 && raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("parse JSON body: %s: %w", k, err)
			}
			values[k] = s
		default:
			values[k] = string(raw)
		}
	}
	setAll(p, values)
	return nil
}

// Get returns a parameter, "" when absent. Names match regardless of
// case, as in ZLMediaKit.
func (p *Params) Get(name string) string {
	v, _ := p.Lookup(name)
	return v
}

// Lookup returns a parameter and whether it was given.
func (p *Params) Lookup(name string) (string, bool) {
	v, ok := p.values[foldName(name)]
	return v.value, ok
}

// RequireAll fails with ZLMediaKit's invalid-argument error when any of
// names is missing or empty. Like ZLMediaKit's CHECK_ARGS, the message
// lists every required name: Required parameter missed: "schema","vhost".
func (p *Params) RequireAll(names ...string) error {
	for _, n := range names {
		if p.Get(n) == "" {
			quoted := make([]string, len(names))
			for i, name := range names {
				quoted[i] = strconv.Quote(name)
			}
			return &Error{Code: CodeInvalidArgs, Msg: "Required parameter missed: " + strings.Join(quoted, ",")}
		}
	}
	return nil
}

// Int returns an integer parameter, def when absent, and an
// invalid-argument error when it is not a number.
func (p *Params) Int(name string, def int64) (int64, error) {
	v, ok := p.Lookup(name)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(strings.TrimSpace(v), 64)
		// NaN, Inf and values beyond int64 have no integer value.
		if ferr != nil || math.IsNaN(f) || f >= math.MaxInt64 || f < math.MinInt64 {
			return 0, &Error{Code: CodeInvalidArgs, Msg: fmt.Sprintf("parameter %q: %q is not a number", name, v)}
		}
		n = int64(f)
	}
	return n, nil
}

// Bool returns a boolean parameter: 1/0, true/false, yes/no.
func (p *Params) Bool(name string, def bool) (bool, error) {
	v, ok := p.Lookup(name)
	if !ok || v == "" {
		return def, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, &Error{Code: CodeInvalidArgs, Msg: fmt.Sprintf("parameter %q: %q is not a boolean", name, v)}
}

// Names returns the parameter names as given, sorted; one per name
// regardless of case.
func (p *Params) Names() []string {
	out := make([]string, 0, len(p.values))
	for _, v := range p.values {
		out = append(out, v.name)
	}
	sort.Strings(out)
	return out
}
