package jsonw

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// jsonTestStruct is encoded by the fallback: tags, omitempty, embedded
// time and pointers.
type jsonTestStruct struct {
	Name    string            `json:"name"`
	Skip    string            `json:"-"`
	Empty   string            `json:"empty,omitempty"`
	When    time.Time         `json:"when"`
	Ptr     *int              `json:"ptr"`
	Quoted  int64             `json:"quoted,string"`
	Nested  map[string]any    `json:"nested"`
	Strings map[string]string `json:"strings"`
}

// jsonTestMarshaler writes loose JSON that encoding/json compacts and
// HTML-escapes.
type jsonTestMarshaler struct{ s string }

func (m jsonTestMarshaler) MarshalJSON() ([]byte, error) {
	return []byte(" {\n \"v\" : \"" + m.s + "<&>\" , \"n\": [ 1 , 2 ] } "), nil
}

type jsonTestBadMarshaler struct{}

func (jsonTestBadMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("boom") }

type jsonTestInvalidMarshaler struct{}

func (jsonTestInvalidMarshaler) MarshalJSON() ([]byte, error) { return []byte("{nope"), nil }

type jsonTestText struct{}

func (jsonTestText) MarshalText() ([]byte, error) { return []byte("text<>"), nil }

// Reply is the type API replies are made of.
type Reply = map[string]any

type (
	jsonTestMap map[string]any
	jsonTestStr string
)

// jsonTestPtrMarshaler has a pointer-receiver MarshalJSON, which
// encoding/json calls only on addressable values.
type jsonTestPtrMarshaler struct{ A int }

func (*jsonTestPtrMarshaler) MarshalJSON() ([]byte, error) { return []byte(`"ptr"`), nil }

func jsonTestValues() map[string]any {
	allControl := make([]byte, 0, 0x21)
	for b := 0; b <= 0x20; b++ {
		allControl = append(allControl, byte(b))
	}
	one := 1
	when := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("X", 5*3600+1800))
	negZero := math.Copysign(0, -1)
	return map[string]any{
		"nil":          nil,
		"html":         "<script>alert('x' & \"y\")</script>",
		"lineSep":      "a\u2028b\u2029c",
		"unicode":      "中文 é 😀 \u00a0 \ufeff \U0010ffff",
		"invalidUTF8":  "a\xffb\xc3\x28c\xe2\x80\xed\xa0\x80\xf4\x90\x80\x80end\xc3",
		"control":      string(allControl) + "\x7f",
		"quotes":       `"\/'`,
		"emptyString":  "",
		"true":         true,
		"false":        false,
		"float1e21":    1e21,
		"float1e20":    1e20,
		"floatBelow21": 999999999999999999999.0,
		"float1e-7":    1e-7,
		"float1e-6":    1e-6,
		"floatSmall":   1.23e-9,
		"floatBig":     123456789.123,
		"floatNeg":     -42.5,
		"floatNegZero": negZero,
		"floatZero":    0.0,
		"floatTenth":   0.1,
		"floatMin":     math.SmallestNonzeroFloat64,
		"floatMax":     math.MaxFloat64,
		"floatExp100":  -1e100,
		"floatInt":     3.0,
		"f32":          float32(0.1),
		"f32e21":       float32(1e21),
		"f32e-7":       float32(1e-7),
		"f32max":       float32(math.MaxFloat32),
		"f32neg":       float32(-1.5e-6),
		"f32negZero":   float32(negZero),
		"int":          -1,
		"intMax":       math.MaxInt,
		"intMin":       math.MinInt,
		"int8":         int8(math.MinInt8),
		"int16":        int16(math.MaxInt16),
		"int32":        int32(math.MinInt32),
		"int64Max":     int64(math.MaxInt64),
		"int64Min":     int64(math.MinInt64),
		"uint":         uint(math.MaxUint),
		"uint8":        uint8(255),
		"uint16":       uint16(65535),
		"uint32":       uint32(math.MaxUint32),
		"uint64":       uint64(math.MaxUint64),
		"uintptr":      uintptr(12345),
		"number":       json.Number("12.50"),
		"emptyNumber":  json.Number(""),
		"raw":          json.RawMessage(` { "a" : [1, "<"] } `),
		"bytes":        []byte("hello\x00"),
		"nilBytes":     []byte(nil),
		"nested": map[string]any{
			"emptyMap":      map[string]any{},
			"emptyReply":    Reply{},
			"emptyAny":      []any{},
			"emptyMaps":     []map[string]any{},
			"emptyStrings":  []string{},
			"nilAny":        []any(nil),
			"nilMaps":       []map[string]any(nil),
			"nilStrings":    []string(nil),
			"nilMap":        map[string]any(nil),
			"nilReply":      Reply(nil),
			"mapsWithNil":   []map[string]any{nil, {}, {"a": nil}},
			"anyOfAll":      []any{nil, 1, "s", []any{[]any{}}, map[string]any{"z": 1, "a": 2}, Reply{"r": true}, []string{"<"}},
			"strings":       []string{"", "a", "<>&", "\xff"},
			"deep":          map[string]any{"a": map[string]any{"b": map[string]any{"c": []any{map[string]any{"d": 1}}}}},
			"reply":         Reply{"code": 0, "data": []map[string]any{{"k": "v"}}},
			"raw":           Raw(`{"a":[1,"\u003c",null],"b":{}}`),
			"nilRaw":        Raw(nil),
			"namedMap":      jsonTestMap{"b": 1, "a": "<"},
			"nilNamedMap":   jsonTestMap(nil),
			"namedString":   jsonTestStr("x<y"),
			"mapStringStr":  map[string]string{"b": "1", "a": "&"},
			"mapIntKeys":    map[int]any{10: "ten", 9: "nine", -1: nil},
			"intSlice":      []int{3, 2, 1},
			"nilIntSlice":   []int(nil),
			"array":         [2]string{"a", "<"},
			"struct":        jsonTestStruct{Name: "n<", Skip: "s", When: when, Ptr: &one, Quoted: 7, Nested: map[string]any{"x": []any{1.5}}},
			"structPtr":     &jsonTestStruct{Name: "p"},
			"nilStructPtr":  (*jsonTestStruct)(nil),
			"time":          when,
			"timePtr":       &when,
			"duration":      time.Second,
			"marshaler":     jsonTestMarshaler{s: "m\u2028"},
			"marshalerPtr":  &jsonTestMarshaler{s: "p"},
			"ptrMarshaler":  jsonTestPtrMarshaler{A: 1},
			"ptrMarshaler2": &jsonTestPtrMarshaler{A: 2},
			"text":          jsonTestText{},
			"mapTextKeys":   map[jsonTestStr]int{"<b>": 1, "a": 2},
			"errorValue":    errors.New("e"),
			"anonymous":     struct{ A, b int }{1, 2},
			"iface":         any(any(5)),
		},
		"keys": map[string]any{
			"b": 1, "a": 2, "A": 3, "": 4, "<": 5, "é": 6, "aa": 7, "a\x00": 8, "\u2028": 9,
			"\xff": 10, "\xfe": 11, "z\"q": 12, "😀": 13, "Z": 14, "10": 15, "9": 16,
		},
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	values := jsonTestValues()
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			checkSameJSON(t, v)
			// The same value nested in a map, a Reply and an []any.
			checkSameJSON(t, map[string]any{"v": v})
			checkSameJSON(t, Reply{"code": 0, "v": v})
			checkSameJSON(t, []any{v, v})
		})
	}
	checkSameJSON(t, values)
	checkSameJSON(t, Reply(values))
	checkSameJSON(t, Reply(nil))
	checkSameJSON(t, map[string]any(nil))
	checkSameJSON(t, []map[string]any{values, nil, values})
}

func TestAppendErrors(t *testing.T) {
	cyclic := map[string]any{"a": 1}
	cyclic["self"] = cyclic
	cyclicSlice := make([]any, 1)
	cyclicSlice[0] = cyclicSlice
	for name, v := range map[string]any{
		"NaN":              math.NaN(),
		"+Inf":             math.Inf(1),
		"-Inf":             math.Inf(-1),
		"f32NaN":           float32(math.NaN()),
		"f32Inf":           float32(math.Inf(1)),
		"chan":             make(chan int),
		"func":             func() {},
		"complex":          complex(1, 2),
		"badMarshaler":     jsonTestBadMarshaler{},
		"invalidMarshaler": jsonTestInvalidMarshaler{},
		"badNumber":        json.Number("1x"),
		"invalidRaw":       json.RawMessage("{"),
		"cyclicMap":        cyclic,
		"cyclicSlice":      cyclicSlice,
	} {
		t.Run(name, func(t *testing.T) {
			for _, w := range []any{v, Reply{"a": 1, "z": []any{map[string]any{"x": v}}}, []any{1, v}} {
				want, wantErr := json.Marshal(w)
				got, gotErr := Marshal(w)
				if wantErr == nil {
					t.Fatalf("json.Marshal succeeded: %s", want)
				}
				if gotErr == nil {
					t.Fatalf("Marshal succeeded (%s), json.Marshal: %v", got, wantErr)
				}
				if gotErr.Error() != wantErr.Error() {
					t.Errorf("error %q, json.Marshal %q", gotErr, wantErr)
				}
				if !sameErrorType(gotErr, wantErr) {
					t.Errorf("error %T, json.Marshal %T", gotErr, wantErr)
				}
			}
		})
	}
}

func sameErrorType(a, b error) bool {
	var ua, ub *json.UnsupportedValueError
	if errors.As(a, &ua) != errors.As(b, &ub) {
		return false
	}
	var ta, tb *json.UnsupportedTypeError
	if errors.As(a, &ta) != errors.As(b, &tb) {
		return false
	}
	var ma, mb *json.MarshalerError
	return errors.As(a, &ma) == errors.As(b, &mb)
}

func TestAppendDeep(t *testing.T) {
	// Deeper than the fast path goes: the rest is json.Marshal's.
	var v any = "leaf"
	for i := range 3000 {
		switch i % 3 {
		case 0:
			v = []any{v}
		case 1:
			v = map[string]any{"k": v}
		default:
			v = []map[string]any{{"m": v, "n": i}}
		}
	}
	checkSameJSON(t, v)
}

// TestAppendShapes exercises the cache of sorted key sets: maps of
// one size with the same, different and overlapping keys, in turn, and
// errors that must be those of the first key in sorted order.
func TestAppendShapes(t *testing.T) {
	list := []map[string]any{
		{"b": 1, "c": 2, "a": 3},
		{"c": 4, "a": 5, "b": 6},
		{"a": 7, "b": 8, "d": 9},
		{"x": nil, "b": 1, "a": []any{map[string]any{"b": 1, "c": 2, "a": 3}}},
		{"b": 1, "c": 2, "a": 3},
		{"c": map[string]any{"c": 1, "a": 2, "b": 3}, "a": 5, "b": 6},
	}
	checkSameJSON(t, list)
	checkSameJSON(t, list) // with the shapes the first call left
	for range 2 {
		checkSameJSON(t, []any{
			map[string]any{"b": 1, "c": 2},
			map[string]any{"a0": make(chan int), "b": math.NaN()},
		})
		checkSameJSON(t, []any{
			map[string]any{"b": 1, "c": 2},
			map[string]any{"b": math.Inf(1), "c": make(chan int)},
		})
	}
	// Right after an error the pooled encoder must be clean.
	checkSameJSON(t, list)
}

func TestAppendConcurrent(t *testing.T) {
	reply := mediaListLike(5)
	want, err := json.Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				var v any = reply
				if (g+i)%5 == 0 {
					v = Reply{"bad": math.NaN(), "data": reply["data"]}
				}
				got, err := Marshal(v)
				if v, ok := v.(Reply); ok && v["bad"] != nil {
					if err == nil {
						errs <- errors.New("no error for NaN")
						return
					}
					continue
				}
				if err != nil || !bytes.Equal(got, want) {
					errs <- errors.New("concurrent output differs")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendAppends(t *testing.T) {
	prefix := []byte("prefix:")
	got, err := Append(prefix, Reply{"b": 1, "a": []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `prefix:{"a":["x"],"b":1}` {
		t.Fatalf("got %s", got)
	}
	got, err = Append(prefix[:len(prefix):len(prefix)], map[string]any{"a": 1, "b": math.NaN()})
	if err == nil || string(got) != "prefix:" {
		t.Fatalf("on error got %q, %v", got, err)
	}
}

func TestAppendMediaList(t *testing.T) {
	checkSameJSON(t, mediaListLike(20))
}

// mediaListLike is shaped like an API reply listing streams: many maps of
// a few shapes, nested lists of maps, shared nested values.
func mediaListLike(n int) Reply {
	list := make([]map[string]any, 0, n)
	for i := range n {
		sock := map[string]any{"identifier": fmt.Sprint("s", i), "peer_ip": "10.0.0.1", "peer_port": 40000 + i}
		tracks := []map[string]any{
			{"codec_id": 0, "codec_id_name": "H264", "fps": 25.0, "width": 1920, "height": 1080, "dropped_by": []string{}},
			{"codec_id": 2, "codec_id_name": "mpeg4-generic", "sample_rate": 44100, "channels": 2, "dropped_by": []string{"webrtc"}},
		}
		for _, schema := range []string{"rtmp", "rtsp", "ts"} {
			list = append(list, map[string]any{
				"app": "live", "stream": fmt.Sprintf("cam<%d>", i), "schema": schema, "originSock": sock,
				"tracks": tracks, "totalBytes": int64(i) << 33, "isRecordingHLS": i%2 == 0, "params": "a=1&b=2",
			})
		}
	}
	return Reply{"code": 0, "data": list}
}

func checkSameJSON(t *testing.T, v any) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, gotErr := Marshal(v)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("error %v, json.Marshal %v", gotErr, wantErr)
	}
	if wantErr != nil {
		if gotErr.Error() != wantErr.Error() {
			t.Fatalf("error %q, json.Marshal %q", gotErr, wantErr)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs\n got: %s\nwant: %s", got, want)
	}
}

// FuzzAppend builds nested values from the fuzz bytes and compares
// Marshal with json.Marshal: the same bytes, or both an error with
// the same message.
func FuzzAppend(f *testing.F) {
	f.Add([]byte("\x07\x03abc\x02\x05<&>\xff\x00"))
	f.Add([]byte("\x08\x04\x01k\x03\x00\x00\x00\x00\x00\x00\xf8\x7f\x01j\x04\x01\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x09\x03\x07\x01\x01a\x0a\x02\x02b\xe2\x80\xa8\x00\x05"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := jsonFuzzGen{data: data}
		v := g.value(0)
		want, wantErr := json.Marshal(v)
		got, gotErr := Marshal(v)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("error %v, json.Marshal %v", gotErr, wantErr)
		}
		if wantErr != nil {
			if gotErr.Error() != wantErr.Error() {
				t.Fatalf("error %q, json.Marshal %q", gotErr, wantErr)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("output differs\n got: %s\nwant: %s", got, want)
		}
	})
}

// jsonFuzzGen turns bytes into a value: each value starts with a kind
// byte, followed by its payload; running out of bytes gives zero values.
type jsonFuzzGen struct {
	data []byte
}

func (g *jsonFuzzGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *jsonFuzzGen) bytes(n int) []byte {
	n = min(n, len(g.data))
	b := g.data[:n]
	g.data = g.data[n:]
	return b
}

func (g *jsonFuzzGen) uint64() uint64 {
	var b [8]byte
	copy(b[:], g.bytes(8))
	return binary.LittleEndian.Uint64(b[:])
}

func (g *jsonFuzzGen) string() string {
	return string(g.bytes(int(g.byte() % 64)))
}

func (g *jsonFuzzGen) value(depth int) any {
	kind := g.byte()
	if depth > 6 {
		kind %= 7 // scalars only
	}
	switch kind % 14 {
	case 0:
		return nil
	case 1:
		return g.byte()&1 == 1
	case 2:
		return g.string()
	case 3:
		return math.Float64frombits(g.uint64())
	case 4:
		return int64(g.uint64())
	case 5:
		return float32(math.Float32frombits(uint32(g.uint64())))
	case 6:
		switch g.byte() % 4 {
		case 0:
			return int(int32(g.uint64()))
		case 1:
			return g.uint64()
		case 2:
			// A float with few significant digits, near the 'e' cutoffs.
			exp := int(g.byte()%60) - 30
			return float64(int8(g.byte())) * math.Pow10(exp)
		default:
			return json.Number(strings.TrimSpace(g.string()))
		}
	case 7, 8:
		m := map[string]any{}
		for n := int(g.byte() % 8); n > 0; n-- {
			m[g.string()] = g.value(depth + 1)
		}
		if kind%14 == 8 {
			return jsonTestMap(m)
		}
		return m
	case 9:
		var s []any
		if g.byte()&1 == 1 {
			s = []any{}
		}
		for n := int(g.byte() % 8); n > 0; n-- {
			s = append(s, g.value(depth+1))
		}
		return s
	case 10:
		var s []string
		if g.byte()&1 == 1 {
			s = []string{}
		}
		for n := int(g.byte() % 8); n > 0; n-- {
			s = append(s, g.string())
		}
		return s
	case 11:
		var s []map[string]any
		if g.byte()&1 == 1 {
			s = []map[string]any{}
		}
		for n := int(g.byte() % 4); n > 0; n-- {
			m, _ := g.value(depth + 1).(map[string]any)
			s = append(s, m)
		}
		return s
	case 12:
		return jsonTestMarshaler{s: g.string()}
	default:
		return jsonTestStruct{Name: g.string(), Nested: map[string]any{"v": g.value(depth + 1)}}
	}
}

func TestEncodeStream(t *testing.T) {
	var got string
	err := EncodeStream(map[string]any{"b": 1, "a": Raw(`[1]`)}, "\n", 1, func(b []byte) error { got += string(b); return nil })
	if err != nil || got != "{\"a\":[1],\"b\":1}\n" {
		t.Fatalf("EncodeStream = %q, %v", got, err)
	}
	called := false
	err = EncodeStream(map[string]any{"a": math.Inf(1)}, "\n", 1, func([]byte) error { called = true; return nil })
	if err == nil || called {
		t.Fatalf("EncodeStream of +Inf: err %v, write called %v", err, called)
	}
}

// numbers is a StreamAppender of the array [0, 1, ..., n-1] that offers
// a flush after every element, and fails at element failAt (when not -1).
type numbers struct{ n, failAt int }

func (x numbers) AppendJSON(dst []byte) ([]byte, error) {
	return x.AppendJSONStream(dst, func(b []byte) ([]byte, error) { return b, nil })
}

func (x numbers) AppendJSONStream(dst []byte, flush func([]byte) ([]byte, error)) ([]byte, error) {
	dst = append(dst, '[')
	for i := range x.n {
		if i == x.failAt {
			return dst, errors.New("element failed")
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = fmt.Appendf(dst, "%d", i)
		var err error
		if dst, err = flush(dst); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func (x numbers) MarshalJSON() ([]byte, error) { return x.AppendJSON(nil) }

// TestEncodeStreamWritesInPieces: a StreamAppender's output reaches write
// in pieces of about flushAt bytes, and all the pieces with the suffix
// are what Marshal returns; an error of write or of the appender ends the
// encoding with that error.
func TestEncodeStreamWritesInPieces(t *testing.T) {
	v := map[string]any{"code": 0, "data": numbers{n: 5000, failAt: -1}, "msg": "<ok>"}
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Marshal(v); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Marshal: %v\n%s", err, got)
	}
	const flushAt = 1000
	var out []byte
	var pieces []int
	if err := EncodeStream(v, "\n", flushAt, func(b []byte) error {
		out = append(out, b...)
		pieces = append(pieces, len(b))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, append(want, '\n')) {
		t.Fatalf("streamed\n%s\nwant\n%s", out, want)
	}
	if len(pieces) < len(want)/flushAt/2 {
		t.Fatalf("%d bytes in %d writes: not streamed", len(out), len(pieces))
	}
	for i, n := range pieces {
		// One element (up to 5 bytes) past the mark at most.
		if n > flushAt+5 {
			t.Fatalf("write %d: %d bytes, flushAt %d", i, n, flushAt)
		}
	}

	writes := 0
	failing := errors.New("peer gone")
	err = EncodeStream(v, "\n", flushAt, func([]byte) error { writes++; return failing })
	if !errors.Is(err, failing) || writes != 1 {
		t.Fatalf("a failing write: %v after %d writes, want it after 1", err, writes)
	}
	err = EncodeStream(map[string]any{"data": numbers{n: 10, failAt: 3}}, "", flushAt, func([]byte) error { writes++; return nil })
	if err == nil || err.Error() != "element failed" {
		t.Fatalf("a failing appender: %v", err)
	}
	// Small replies are one write, as Encode's.
	writes = 0
	if err := EncodeStream(map[string]any{"code": 0, "data": numbers{n: 3, failAt: -1}}, "\n", flushAt, func(b []byte) error {
		writes++
		if string(b) != "{\"code\":0,\"data\":[0,1,2]}\n" {
			t.Fatalf("small reply: %q", b)
		}
		return nil
	}); err != nil || writes != 1 {
		t.Fatalf("small reply: %v in %d writes", err, writes)
	}
}
