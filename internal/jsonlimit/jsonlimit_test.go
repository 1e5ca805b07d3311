package jsonlimit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestCheckDepth(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		depth int // nesting CheckDepth counts
	}{
		{"empty", ``, 0},
		{"scalar", `42`, 0},
		{"string", `"a"`, 0},
		{"empty object", `{}`, 1},
		{"empty array", `[]`, 1},
		{"hook reply", `{"code":0,"msg":"ok","enable_hls":true}`, 1},
		{"nested", `{"a":{"b":[1,[2,{"c":null}]]}}`, 5},
		{"siblings do not add up", `[[1],[2],[3],{"a":1}]`, 2},
		{"deepest last", `[1,[2],[[3]],[[[4]]]]`, 4},
		{"brackets in strings", `{"a":"[[[{{{","b":"}}}]]]"}`, 1},
		{"escaped quote", `{"a":"\"[[[[","b":[1]}`, 2},
		{"escaped backslash ends the string", `{"a":"\\","b":[[1]]}`, 3},
		{"escaped backslash then quote", `["\\\"[[[["]`, 1},
		{"unicode escape", `{"\u005b\u007b":["\u0022"]}`, 2},
		{"brackets in keys", `{"[[[[":{"]]]]":[]}}`, 3},
		{"non-ASCII in strings", `{"ключ":["值","🙂["]}`, 2},
		{"whitespace", " \n{ \t[ \r\n] }\n", 2},
		{"unterminated string hides the rest", `["abc[[[[[[`, 1},
		{"unbalanced closers do not go below zero", `]]]][[[[`, 4},
		{"closers only", `]]]}}}`, 0},
		{"trailing value", `{} [[[`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.data)
			if err := CheckDepth(data, tt.depth); err != nil {
				t.Errorf("max %d: %v", tt.depth, err)
			}
			if tt.depth == 0 {
				return
			}
			err := CheckDepth(data, tt.depth-1)
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("max %d: %v, want ErrTooDeep", tt.depth-1, err)
			}
			if want := "more than " + strconv.Itoa(tt.depth-1) + " levels"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}

// TestCheckDepthBomb: a megabyte of brackets is refused at the limit,
// without allocating.
func TestCheckDepthBomb(t *testing.T) {
	bomb := bytes.Repeat([]byte("[{\"a\":"), 1<<20/6)
	var err error
	allocs := testing.AllocsPerRun(5, func() { err = CheckDepth(bomb, 32) })
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("bomb: %v", err)
	}
	if !strings.Contains(err.Error(), "more than 32 levels") {
		t.Errorf("error %q does not name the limit", err)
	}
	// The error is the only allocation (a few, more under the race
	// detector); a walk that allocated per level would take thousands.
	if allocs > 16 {
		t.Errorf("%v allocations", allocs)
	}
	ok := bytes.Repeat([]byte("[1,"), 1<<20/3)
	if allocs := testing.AllocsPerRun(5, func() { err = CheckDepth(ok, 1<<20) }); allocs != 0 || err != nil {
		t.Errorf("deep but allowed: %v, %v allocations", err, allocs)
	}
}

// FuzzCheckDepth checks CheckDepth against encoding/json on valid JSON:
// the depth of the decoded value, and of the tokens the decoder reads
// (which differ when a duplicate key drops a deeper value).
func FuzzCheckDepth(f *testing.F) {
	f.Add([]byte(`{"code":0,"msg":"success","data":[{"app":"live","stream":"test","tracks":[{"codec_id":0}]}]}`))
	f.Add([]byte(`["\\\"[{", {"\u005b": [[]]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whatever the input: a limit at least its length always passes,
		// and a limit that passes stays passed when raised.
		if err := CheckDepth(data, len(data)); err != nil {
			t.Fatalf("max %d: %v", len(data), err)
		}
		for m := range 4 {
			if CheckDepth(data, m) == nil && CheckDepth(data, m+1) != nil {
				t.Fatalf("passes max %d, fails max %d", m, m+1)
			}
		}
		if !json.Valid(data) {
			return
		}
		tokens, ok := tokenDepth(data)
		if !ok {
			return // beyond encoding/json's own limit
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		decoded := valueDepth(v)
		if decoded > tokens {
			t.Fatalf("decoded depth %d, token depth %d", decoded, tokens)
		}
		if err := CheckDepth(data, tokens); err != nil {
			t.Fatalf("nested %d deep, max %d: %v", tokens, tokens, err)
		}
		if decoded > 0 && !errors.Is(CheckDepth(data, decoded-1), ErrTooDeep) {
			t.Fatalf("decoded value nested %d deep passes max %d", decoded, decoded-1)
		}
		if tokens > 0 && !errors.Is(CheckDepth(data, tokens-1), ErrTooDeep) {
			t.Fatalf("nested %d deep passes max %d", tokens, tokens-1)
		}
	})
}

// tokenDepth is the deepest nesting encoding/json's tokenizer reads.
func tokenDepth(data []byte) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest, true
		}
		if err != nil {
			return 0, false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// valueDepth is the nesting depth of a value decoded into any.
func valueDepth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, c := range v {
			d = max(d, valueDepth(c))
		}
	case []any:
		for _, c := range v {
			d = max(d, valueDepth(c))
		}
	default:
		return 0
	}
	return d + 1
}
