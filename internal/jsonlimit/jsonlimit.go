// Package jsonlimit checks how deeply JSON text nests before it is
// decoded. encoding/json recurses once per level and only stops at 10 000
// levels, so a one-megabyte body of brackets costs far more than any
// real request or reply needs; CheckDepth refuses it first, in constant
// memory.
package jsonlimit

import (
	"errors"
	"fmt"
)

// ErrTooDeep means objects or arrays nest deeper than the limit given to
// CheckDepth.
var ErrTooDeep = errors.New("JSON nests too deep")

// CheckDepth returns an error wrapping ErrTooDeep, naming max, when
// objects and arrays in data nest more than max levels deep. It does not
// validate data: brackets are counted outside strings and nothing else is
// checked, so malformed text is left for the decoder to reject.
func CheckDepth(data []byte, max int) error {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			depth++
			if depth > max {
				return fmt.Errorf("%w: more than %d levels (byte %d)", ErrTooDeep, max, i)
			}
		case '}', ']':
			// Unbalanced closers are the decoder's to reject; never let
			// them lower the count below zero, or "]]]][[[[" would pass.
			if depth > 0 {
				depth--
			}
		case '"':
			i = skipString(data, i+1)
		}
	}
	return nil
}

// skipString returns the index of the quote closing the string whose
// contents start at i, or len(data) when it is not closed. A backslash
// escapes the byte after it, which covers \" and \\; the bytes of \uXXXX
// are never quotes or brackets.
func skipString(data []byte, i int) int {
	for ; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(data)
}
