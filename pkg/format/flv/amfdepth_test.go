package flv

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

// nestAMF wraps leaf in depth containers of the given kind: 'o' object,
// 'e' ECMA array, 's' strict array, 'm' all three in turn.
func nestAMF(kind byte, depth int, leaf any) any {
	v := leaf
	for i := range depth {
		k := kind
		if k == 'm' {
			k = "oes"[i%3]
		}
		switch k {
		case 'o':
			v = amf0.Object{{Key: "k", Value: v}}
		case 'e':
			v = amf0.ECMAArray{{Key: "k", Value: v}}
		case 's':
			v = amf0.StrictArray{float64(1), v}
		}
	}
	return v
}

// strictArrayBomb is depth nested one-element strict arrays around a
// null: five bytes a level, so 10 000 levels fit in the size limits.
func strictArrayBomb(prefix []byte, depth int) []byte {
	b := bytes.Clone(prefix)
	for range depth {
		b = append(b, amfStrictArray, 0, 0, 0, 1)
	}
	return append(b, amfNull)
}

func TestAMFTooDeep(t *testing.T) {
	tests := []struct {
		name  string
		data  amf0.Data
		depth int
	}{
		{"scalars", amf0.Data{"onMetaData", float64(1), true, nil, amf0.Undefined{}}, 0},
		{"empty object", amf0.Data{amf0.Object{}}, 1},
		{"empty strict array", amf0.Data{amf0.StrictArray{}}, 1},
		{"objects", amf0.Data{"x", nestAMF('o', 7, "leaf")}, 7},
		{"ECMA arrays", amf0.Data{nestAMF('e', 7, float64(1))}, 7},
		{"strict arrays", amf0.Data{nestAMF('s', 7, nil)}, 7},
		{"mixed at the limit", amf0.Data{"onMetaData", nestAMF('m', MaxAMFDepth, "leaf")}, MaxAMFDepth},
		{"mixed over the limit", amf0.Data{"onMetaData", nestAMF('m', MaxAMFDepth+1, "leaf")}, MaxAMFDepth + 1},
		{"deepest value last", amf0.Data{
			amf0.Object{{Key: "a", Value: nestAMF('o', 2, nil)}, {Key: "b", Value: nestAMF('s', 5, nil)}},
			nestAMF('e', 3, nil),
		}, 6},
		{"siblings do not add up", amf0.Data{amf0.StrictArray{
			nestAMF('o', 3, nil), nestAMF('o', 3, nil), nestAMF('o', 3, nil),
		}}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.data.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if AMFTooDeep(b, tt.depth) {
				t.Errorf("too deep for max %d, nested %d", tt.depth, tt.depth)
			}
			if tt.depth > 0 && !AMFTooDeep(b, tt.depth-1) {
				t.Errorf("not too deep for max %d, nested %d", tt.depth-1, tt.depth)
			}
		})
	}
}

// TestAMFTooDeepStops: input the decoder rejects is left to it (false),
// unless the nesting went over the limit before the bad part.
func TestAMFTooDeepStops(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"empty", nil, false},
		{"truncated number", []byte{amfNumber, 0, 0}, false},
		{"truncated string", []byte{amfString, 0, 9, 'a'}, false},
		{"unsupported marker", []byte{0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"object without end", []byte{amfObject, 0, 1, 'k', amfNull}, false},
		{"empty key without end marker", []byte{amfObject, 0, 0, amfNull}, false},
		{"strict array announcing more than sent", []byte{amfStrictArray, 0xff, 0xff, 0xff, 0xff, amfNull}, false},
		{"unclosed objects over the limit", bytes.Repeat([]byte{amfObject, 0, 1, 'k'}, 3), true},
		{"bomb", strictArrayBomb(nil, 10000), true},
		{"bomb with garbage after the limit", append(strictArrayBomb(nil, 4)[:20], 0xff), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AMFTooDeep(tt.b, 2); got != tt.want {
				t.Errorf("AMFTooDeep = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAMFTooDeepAllocs: the walker's memory is bounded by max, not by
// the input's depth, and up to MaxAMFDepth it lives on the stack.
func TestAMFTooDeepAllocs(t *testing.T) {
	bomb := strictArrayBomb(nil, 10000)
	allocs := testing.AllocsPerRun(10, func() {
		if !AMFTooDeep(bomb, MaxAMFDepth) {
			t.Fatal("bomb not too deep")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations for a %d-byte bomb", allocs, len(bomb))
	}
}

// deepMetadata is an onMetaData whose object nests depth levels in all,
// the object itself being the first.
func deepMetadata(t testing.TB, depth int) []byte {
	return marshalAMF(t, amf0.Data{"@setDataFrame", "onMetaData", amf0.ECMAArray{
		{Key: "width", Value: float64(640)},
		{Key: "nested", Value: nestAMF('m', depth-1, float64(1))},
	}})
}

func TestParseMetadataDepth(t *testing.T) {
	md, ok, err := ParseMetadata(deepMetadata(t, MaxAMFDepth))
	if err != nil || !ok {
		t.Fatalf("depth %d: ok %v, %v", MaxAMFDepth, ok, err)
	}
	if w, _ := md.Number("width"); w != 640 {
		t.Errorf("depth %d: metadata %v", MaxAMFDepth, md)
	}

	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"one over", deepMetadata(t, MaxAMFDepth+1)},
		{"bomb", strictArrayBomb(marshalAMF(t, amf0.Data{"onMetaData"}), 10000)},
		// the name is only known after decoding
		{"other data message", marshalAMF(t, amf0.Data{"onTextData", nestAMF('o', MaxAMFDepth+1, "x")})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.payload) > MaxScriptSize {
				t.Fatalf("payload of %d bytes: the size limit, not the depth one, would refuse it", len(tc.payload))
			}
			md, ok, err := ParseMetadata(tc.payload)
			if !errors.Is(err, ErrScriptTooDeep) || ok || md != nil {
				t.Fatalf("got %v, %v, %v; want ErrScriptTooDeep", md, ok, err)
			}
			if !strings.HasPrefix(err.Error(), "flv: metadata: ") || !strings.Contains(err.Error(), "32 levels") {
				t.Errorf("error %q names neither the operation nor the limit", err)
			}
		})
	}
}

// TestIngestScriptTooDeep: too-deep script data is the one script error
// an ingest reports, so that the session carrying it ends; the tracks
// and metadata it had are kept.
func TestIngestScriptTooDeep(t *testing.T) {
	sink := &recSink{}
	in := NewIngest(sink)
	if err := in.Script(deepMetadata(t, 4)); err != nil {
		t.Fatal(err)
	}
	if err := in.Script(deepMetadata(t, MaxAMFDepth+1)); !errors.Is(err, ErrScriptTooDeep) {
		t.Fatalf("Script: %v, want ErrScriptTooDeep", err)
	}
	if err := in.Script(strictArrayBomb(nil, 10000)); !errors.Is(err, ErrScriptTooDeep) {
		t.Fatalf("Script: %v, want ErrScriptTooDeep", err)
	}
	if len(sink.metadata) != 1 {
		t.Errorf("%d metadata calls, want the one before the deep ones", len(sink.metadata))
	}
}

// TestReaderScriptTooDeep: an FLV file with a too-deep script tag reads
// as an error at that tag, not a panic or a silent skip.
func TestReaderScriptTooDeep(t *testing.T) {
	file := AppendHeader(nil, false, true)
	file = AppendTag(file, TagScript, 0, strictArrayBomb(marshalAMF(t, amf0.Data{"onMetaData"}), 10000))
	file = AppendTag(file, TagVideo, 0, []byte{0x17, 2, 0, 0, 0})
	in := NewIngest(&recSink{})
	r := NewReader(bytes.NewReader(file), 0)
	for {
		tag, err := r.Next()
		if err == io.EOF {
			t.Fatal("file read to its end")
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Tag(tag); err != nil {
			if !errors.Is(err, ErrScriptTooDeep) || tag.Type != TagScript {
				t.Fatalf("tag %d: %v, want ErrScriptTooDeep", tag.Type, err)
			}
			return
		}
	}
}

// FuzzAMFTooDeep checks the walker against the decoder: for what decodes,
// AMFTooDeep(b, max) is exactly "decoded depth > max". Seeds in
// testdata/fuzz/FuzzAMFTooDeep are real commands and metadata, nested
// ones at and over MaxAMFDepth, and truncated ones.
func FuzzAMFTooDeep(f *testing.F) {
	f.Add(MetadataBody(nil, nil))
	f.Add(strictArrayBomb(nil, MaxAMFDepth+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		tooDeep := AMFTooDeep(b, MaxAMFDepth)
		_, _, err := ParseMetadata(b)
		if len(b) <= MaxScriptSize && errors.Is(err, ErrScriptTooDeep) != tooDeep {
			t.Fatalf("ParseMetadata: %v; AMFTooDeep: %v", err, tooDeep)
		}
		// Within the size limit the decoder's recursion stays bounded, so
		// it can judge even what the walker refuses.
		if len(b) > MaxScriptSize {
			return
		}
		data, err := amf0.Unmarshal(b)
		if err != nil {
			return
		}
		depth := 0
		for _, v := range data {
			depth = max(depth, amfDepth(v))
		}
		if AMFTooDeep(b, depth) {
			t.Fatalf("AMFTooDeep(max %d) for values nested %d deep", depth, depth)
		}
		if depth > 0 && !AMFTooDeep(b, depth-1) {
			t.Fatalf("AMFTooDeep(max %d) false for values nested %d deep", depth-1, depth)
		}
		if tooDeep != (depth > MaxAMFDepth) {
			t.Fatalf("AMFTooDeep(max %d) %v for values nested %d deep", MaxAMFDepth, tooDeep, depth)
		}
	})
}

// amfDepth is the nesting depth of a decoded AMF0 value.
func amfDepth(v any) int {
	var children []any
	switch v := v.(type) {
	case amf0.Object:
		for _, e := range v {
			children = append(children, e.Value)
		}
	case amf0.ECMAArray:
		for _, e := range v {
			children = append(children, e.Value)
		}
	case amf0.StrictArray:
		children = v
	default:
		return 0
	}
	d := 0
	for _, c := range children {
		d = max(d, amfDepth(c))
	}
	return d + 1
}
