package flv

import (
	"encoding/binary"
	"errors"
)

// MaxAMFDepth caps how deeply objects and arrays nest in AMF0 script data
// and RTMP commands. Real messages nest two or three levels (connect's
// fourCcList, an onMetaData with a keyframes index); the AMF0 decoder
// has no limit of its own and recurses once per level.
const MaxAMFDepth = 32

// ErrScriptTooDeep means script data nests objects or arrays more than
// MaxAMFDepth levels deep. No encoder writes that; a peer that does is
// hostile, and its session should end rather than be decoded.
var ErrScriptTooDeep = errors.New("script data nests too deep")

// AMF0 markers AMFTooDeep needs to walk a message.
const (
	amfNumber      = 0x00
	amfBoolean     = 0x01
	amfString      = 0x02
	amfObject      = 0x03
	amfNull        = 0x05
	amfUndefined   = 0x06
	amfECMAArray   = 0x08
	amfObjectEnd   = 0x09
	amfStrictArray = 0x0a
)

// AMFTooDeep reports whether the AMF0 values in b nest objects or arrays
// more than max levels deep. It walks b without recursion, keeping at
// most max+1 stack entries (and allocating none up to MaxAMFDepth), so it
// is safe on input the decoder would recurse on without bound. It stops
// (reporting false) at anything the decoder rejects anyway: a truncated
// value or a marker the decoder does not support.
func AMFTooDeep(b []byte, max int) bool {
	// One entry per open container: -1 for an object or ECMA array
	// (key/value pairs until an empty key), else the values left in a
	// strict array.
	var fixed [MaxAMFDepth + 1]int64
	stack := fixed[:0]
	for {
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			if *top < 0 {
				if len(b) < 2 {
					return false
				}
				kl := int(b[0])<<8 | int(b[1])
				b = b[2:]
				if kl == 0 {
					if len(b) < 1 || b[0] != amfObjectEnd {
						return false
					}
					b = b[1:]
					stack = stack[:n-1]
					continue
				}
				if len(b) < kl {
					return false
				}
				b = b[kl:]
			} else {
				if *top == 0 {
					stack = stack[:n-1]
					continue
				}
				*top--
			}
		}
		if len(b) < 1 {
			return false
		}
		marker := b[0]
		b = b[1:]
		skip := 0
		switch marker {
		case amfNumber:
			skip = 8
		case amfBoolean:
			skip = 1
		case amfString:
			if len(b) < 2 {
				return false
			}
			skip = 2 + (int(b[0])<<8 | int(b[1]))
		case amfNull, amfUndefined:
		case amfObject, amfECMAArray:
			if marker == amfECMAArray {
				if len(b) < 4 {
					return false
				}
				b = b[4:]
			}
			stack = append(stack, -1)
		case amfStrictArray:
			if len(b) < 4 {
				return false
			}
			stack = append(stack, int64(binary.BigEndian.Uint32(b)))
			b = b[4:]
		default:
			return false
		}
		if len(stack) > max {
			return true
		}
		if len(b) < skip {
			return false
		}
		b = b[skip:]
	}
}
