// Package jsonw writes JSON fast and exactly as encoding/json would: the
// API's replies and the hooks' bodies are trees of map[string]any, slices
// and scalars, and a getMediaList of a thousand streams is megabytes of
// them.
package jsonw

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// encoding/json walks values by reflection and sorts every map's keys as
// reflect.Values, which dominates the cost of a large reply. Append
// encodes the common shapes directly and hands anything else to
// encoding/json, producing the very bytes json.Marshal would.

// Raw is JSON that is already encoded, compact and HTML-escaped as
// encoding/json writes it (for example by Append): it is written as it
// is, so a reply can hold parts encoded once and reused.
type Raw []byte

// Appender is a value that writes its own JSON, compact and HTML-escaped
// as encoding/json writes it, straight into the buffer of the reply being
// encoded. Implement json.Marshaler too, so that encoding/json agrees.
type Appender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

// A StreamAppender is an Appender whose output can be megabytes (a list
// of every stream). When the value is encoded by EncodeStream, it is
// given flush, to call between its elements: flush may write out what
// is in dst so far and returns the buffer to go on appending to, so the
// whole never sits in memory at once. Otherwise its AppendJSON is used.
type StreamAppender interface {
	Appender
	AppendJSONStream(dst []byte, flush func(dst []byte) ([]byte, error)) ([]byte, error)
}

// MarshalJSON returns r, so that encoding/json writes a Raw as Append does.
func (r Raw) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	return r, nil
}

// maxFastDepth bounds the recursion of the fast path. Deeper values (and
// so cyclic ones) go to json.Marshal, which detects cycles after a
// similar depth.
const maxFastDepth = 512

// maxPooledBuffer is the largest output buffer kept for reuse.
const maxPooledBuffer = 64 << 20

var jsonEncoders = sync.Pool{New: func() any { return new(jsonEncoder) }}

// Marshal is json.Marshal for API replies: the same output and the
// same errors, faster for the types replies are built from. It encodes
// into a pooled buffer and returns a copy, so that a large reply costs
// one allocation of its size rather than a series of growing ones.
func Marshal(v any) ([]byte, error) {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer e.release()
	e.buf = e.buf[:0]
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	// One spare byte: callers often end the reply with a newline.
	out := make([]byte, len(e.buf), len(e.buf)+1)
	copy(out, e.buf)
	return out, nil
}

// EncodeStream encodes v as Marshal does, into a pooled buffer, and
// hands the bytes to write, followed by suffix; they are valid only
// during the call. A StreamAppender in v is encoded in pieces: once
// more than flushAt bytes are waiting, they are given to write and the
// buffer is reused, so a reply of megabytes costs a buffer of about
// flushAt, not one of its size allocated again whenever the pool has
// dropped it (at every garbage collection or two).
// write is called at least once when encoding succeeds; an error of
// write ends the encoding and is returned. After the first write, the
// bytes written are all the caller has: an error then leaves them
// incomplete.
func EncodeStream(v any, suffix string, flushAt int, write func([]byte) error) error {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer e.release()
	e.buf = e.buf[:0]
	e.flush = func(dst []byte) ([]byte, error) {
		if len(dst) < flushAt {
			return dst, nil
		}
		if err := write(dst); err != nil {
			return dst, err
		}
		return dst[:0], nil
	}
	if err := e.value(v, 0); err != nil {
		return err
	}
	return write(append(e.buf, suffix...))
}

// Append appends the JSON encoding of v to dst, byte-identical to
// json.Marshal(v). On error it returns dst unchanged (as far as its
// length is concerned) and the error json.Marshal would return.
func Append(dst []byte, v any) ([]byte, error) {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer e.release()
	pooled := e.buf
	e.buf = dst
	err := e.value(v, 0)
	out := e.buf
	e.buf = pooled
	if err != nil {
		return dst, err
	}
	return out, nil
}

type jsonEncoder struct {
	buf []byte
	// keys is a stack of map keys: each map being encoded sorts its keys
	// in its own segment at the top, so one slice serves the whole tree.
	keys []string
	// vals holds the values of the maps being encoded, in key order.
	vals []any
	// shapes[n] are the sorted key sets of the last two maps of n keys
	// with different keys (replies interleave two shapes of a size, as a
	// media source's origin socket and its tail), newest first. They
	// outlive a call (the pool drops idle encoders at garbage
	// collection), so a reply reuses the shapes of the one before.
	shapes [maxShapeKeys + 1][2][]string
	// flush, set by EncodeStream, is handed to StreamAppenders.
	flush func(dst []byte) ([]byte, error)
}

// maxShapeKeys is the largest map whose sorted keys object remembers.
const maxShapeKeys = 64

// release returns e to the pool, without the keys and values of the
// reply just encoded (shapes aside) and without an oversized buffer.
func (e *jsonEncoder) release() {
	clear(e.keys)
	e.keys = e.keys[:0]
	clear(e.vals)
	e.vals = e.vals[:0]
	e.flush = nil
	if cap(e.buf) > maxPooledBuffer {
		e.buf = nil
	}
	e.buf = e.buf[:0]
	jsonEncoders.Put(e)
}

func (e *jsonEncoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.buf = AppendString(e.buf, x)
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, x, 10)
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int16:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int8:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case uint:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case uint64:
		e.buf = strconv.AppendUint(e.buf, x, 10)
	case uint32:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case uint16:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case uint8:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case uintptr:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case float64:
		return e.float(x, 64)
	case float32:
		return e.float(float64(x), 32)
	case map[string]any:
		return e.object(x, depth)
	case []map[string]any:
		if x != nil && depth >= maxFastDepth {
			return e.fallback(x)
		}
		return encodeArray(e, x, func(m map[string]any) error { return e.object(m, depth+1) })
	case []any:
		if x != nil && depth >= maxFastDepth {
			return e.fallback(x)
		}
		return encodeArray(e, x, func(el any) error { return e.value(el, depth+1) })
	case Raw:
		if x == nil {
			e.buf = append(e.buf, "null"...)
		} else {
			e.buf = append(e.buf, x...)
		}
	case []string:
		return encodeArray(e, x, func(s string) error {
			e.buf = AppendString(e.buf, s)
			return nil
		})
	case StreamAppender:
		var b []byte
		var err error
		if e.flush != nil {
			b, err = x.AppendJSONStream(e.buf, e.flush)
		} else {
			b, err = x.AppendJSON(e.buf)
		}
		if err != nil {
			return err
		}
		e.buf = b
	case Appender:
		b, err := x.AppendJSON(e.buf)
		if err != nil {
			return err
		}
		e.buf = b
	default:
		// Structs, pointers, json.Marshaler, json.Number, named types,
		// other maps and slices: json.Marshal of a sub-value is exactly
		// what it writes for it nested (Marshaler output is compacted
		// and HTML-escaped either way).
		return e.fallback(v)
	}
	return nil
}

// encodeArray writes xs as a JSON array, each element by elem; a nil
// slice is null, as encoding/json writes it.
func encodeArray[T any](e *jsonEncoder, xs []T, elem func(T) error) error {
	if xs == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	e.buf = append(e.buf, '[')
	for i, x := range xs {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := elem(x); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

func (e *jsonEncoder) fallback(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.buf = append(e.buf, b...)
	return nil
}

// object encodes a map with its keys in sorted order, as encoding/json
// does.
//
// Replies hold many maps of one shape (every media source, every track
// of a kind), so the sorted keys of the last two shapes of each size are
// kept: a map of that size holding all the keys of one has exactly those
// keys, and needs neither iterating nor sorting.
func (e *jsonEncoder) object(m map[string]any, depth int) error {
	if m == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if depth >= maxFastDepth {
		return e.fallback(m)
	}
	n := len(m)
	if n == 0 {
		e.buf = append(e.buf, "{}"...)
		return nil
	}
	start := len(e.vals)
	if n < len(e.shapes) {
		for _, keys := range e.shapes[n] {
			if len(keys) != n {
				break
			}
			hit := true
			for _, k := range keys {
				v, ok := m[k]
				if !ok {
					hit = false
					break
				}
				e.vals = append(e.vals, v)
			}
			if hit {
				return e.members(keys, start, depth)
			}
			clear(e.vals[start:])
			e.vals = e.vals[:start]
		}
	}
	kstart := len(e.keys)
	for k := range m {
		e.keys = append(e.keys, k)
	}
	// keys stays valid while nested maps push theirs: a reallocation
	// of e.keys leaves this segment of the old array untouched.
	keys := e.keys[kstart:]
	slices.Sort(keys)
	if n < len(e.shapes) {
		e.shapes[n] = [2][]string{slices.Clone(keys), e.shapes[n][0]}
	}
	for _, k := range keys {
		e.vals = append(e.vals, m[k])
	}
	if err := e.members(keys, start, depth); err != nil {
		return err // release clears the stacks
	}
	clear(e.keys[kstart:]) // drop the strings for the collector
	e.keys = e.keys[:kstart]
	return nil
}

// members writes the object of keys (sorted) and their values, pushed on
// e.vals from start, and pops the values.
func (e *jsonEncoder) members(keys []string, start, depth int) error {
	vals := e.vals[start:] // stays valid as keys does in object
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = AppendString(e.buf, k)
		e.buf = append(e.buf, ':')
		if err := e.value(vals[i], depth+1); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	clear(e.vals[start:])
	e.vals = e.vals[:start]
	return nil
}

// float encodes f as encoding/json's floatEncoder does; NaN and
// infinities are unsupported values.
func (e *jsonEncoder) float(f float64, bits int) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		var rv reflect.Value
		if bits == 32 {
			rv = reflect.ValueOf(float32(f))
		} else {
			rv = reflect.ValueOf(f)
		}
		return &json.UnsupportedValueError{Value: rv, Str: strconv.FormatFloat(f, 'g', -1, bits)}
	}
	e.buf = appendFloat(e.buf, f, bits)
	return nil
}

// AppendFloat appends f as encoding/json writes a float64, which must be
// finite (encoding/json refuses NaN and infinities).
func AppendFloat(dst []byte, f float64) []byte { return appendFloat(dst, f, 64) }

// appendFloat writes a finite f as encoding/json's floatEncoder does: like
// ES6 number-to-string, 'e' format outside [1e-6, 1e21), exponent without
// padding.
func appendFloat(dst []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b := strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// jsonSafe marks the ASCII bytes encoding/json writes as they are with
// HTML escaping on: printable, not '"', '\\', '<', '>' or '&'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		switch b {
		case '"', '\\', '<', '>', '&':
		default:
			t[b] = true
		}
	}
	return t
}()

const jsonHex = "0123456789abcdef"

// AppendString appends s quoted as encoding/json does by default.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				// Other control bytes, and <, > and & for HTML safety.
				dst = append(dst, '\\', 'u', '0', '0', jsonHex[b>>4], jsonHex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR break
		// JSONP; encoding/json always escapes them.
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	dst = append(dst, '"')
	return dst
}
