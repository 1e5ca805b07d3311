package config

import (
	"bytes"
	"fmt"
)

// MaxConfigSize bounds a configuration file: the full default config is a
// few kilobytes, and the TOML decoder holds the whole document, and a map
// per table, in memory.
const MaxConfigSize = 1 << 20

// maxTOMLDepth bounds how deeply arrays and inline tables nest. mediakit's
// settings are scalars in [section] tables; the decoder recurses once per
// level and allows up to 10 000.
const maxTOMLDepth = 16

// checkTOML refuses a configuration file too large, or nesting values too
// deeply, to be worth decoding. It counts brackets and braces outside
// strings and comments, in one pass and constant memory, and does not
// otherwise validate: the decoder rejects malformed text afterwards. A
// table header ([a] or [[a]]) counts as one level while open.
func checkTOML(data []byte) error {
	if len(data) > MaxConfigSize {
		return fmt.Errorf("config file of %d bytes exceeds 1 MiB", len(data))
	}
	depth := 0
	line := 1
	lineStart := true      // only blanks since the last newline
	arrayOfTables := false // the open level is a [[header]]
	for i := 0; i < len(data); i++ {
		c := data[i]
		atStart := lineStart
		lineStart = false
		switch c {
		case '\n':
			line++
			lineStart = true
		case ' ', '\t', '\r':
			lineStart = atStart
		case '#':
			// the newline ending the comment is seen next, as any other
			i = skipLine(data, i) - 1
		case '"', '\'':
			var lines int
			i, lines = skipTOMLString(data, i)
			line += lines
		case '[', '{':
			if c == '[' && depth == 0 && atStart && i+1 < len(data) && data[i+1] == '[' {
				// [[array.of.tables]]: one level, like [table]
				arrayOfTables = true
				i++
			}
			depth++
			if depth > maxTOMLDepth {
				return fmt.Errorf("values nest deeper than %d levels (line %d)", maxTOMLDepth, line)
			}
		case ']', '}':
			if depth == 0 {
				break // the decoder rejects it; never count below zero
			}
			depth--
			if depth == 0 && arrayOfTables {
				arrayOfTables = false
				if c == ']' && i+1 < len(data) && data[i+1] == ']' {
					i++
				}
			}
		}
	}
	return nil
}

// skipLine returns the index of the newline ending the line that i is on,
// or len(data).
func skipLine(data []byte, i int) int {
	if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(data)
}

// skipTOMLString skips the string opening at data[i] (a quote or an
// apostrophe) and returns the index of its last byte and how many
// newlines it spans. Basic strings (in quotes, single or tripled) take
// backslash escapes, literal ones (in apostrophes) do not. A single-line
// string ends at a newline whether closed or not, so that an unclosed one
// cannot hide the rest of the file.
func skipTOMLString(data []byte, i int) (end, lines int) {
	q := data[i]
	basic := q == '"'
	if i+2 < len(data) && data[i+1] == q && data[i+2] == q {
		for j := i + 3; j < len(data); j++ {
			switch c := data[j]; {
			case c == '\\' && basic:
				if j+1 < len(data) && data[j+1] == '\n' {
					lines++
				}
				j++
			case c == '\n':
				lines++
			case c == q && j+2 < len(data) && data[j+1] == q && data[j+2] == q:
				// Up to two quotes may stand just inside the closing
				// delimiter; the whole run closes the string.
				for j+1 < len(data) && data[j+1] == q {
					j++
				}
				return j, lines
			}
		}
		return len(data), lines
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			if basic && j+1 < len(data) && data[j+1] != '\n' {
				j++
			}
		case q:
			return j, 0
		case '\n':
			// unclosed: leave the newline to the caller
			return j - 1, 0
		}
	}
	return len(data), 0
}
