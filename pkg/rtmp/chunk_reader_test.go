package rtmp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// Raw chunk builders. Timestamps and deltas of 0xffffff or more are written
// as 0xffffff followed by the 4-byte extended field, as the spec requires.

func basicHdr(format byte, csid uint32) []byte { return appendBasicHeader(nil, format, csid) }

func be24(v uint32) []byte { return []byte{byte(v >> 16), byte(v >> 8), byte(v)} }

func tsField(v uint32) (field, extended []byte) {
	if v >= 0xffffff {
		return be24(0xffffff), binary.BigEndian.AppendUint32(nil, v)
	}
	return be24(v), nil
}

func type0(csid, ts, length uint32, typ MessageType, streamID uint32) []byte {
	field, ext := tsField(ts)
	b := append(basicHdr(0, csid), field...)
	b = append(b, be24(length)...)
	b = append(b, byte(typ))
	b = binary.LittleEndian.AppendUint32(b, streamID)
	return append(b, ext...)
}

func type1(csid, delta, length uint32, typ MessageType) []byte {
	field, ext := tsField(delta)
	b := append(basicHdr(1, csid), field...)
	b = append(b, be24(length)...)
	b = append(b, byte(typ))
	return append(b, ext...)
}

func type2(csid, delta uint32) []byte {
	field, ext := tsField(delta)
	return append(append(basicHdr(2, csid), field...), ext...)
}

func type3(csid uint32) []byte { return basicHdr(3, csid) }

func ext32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// pattern returns n bytes that differ between messages (seed) and that
// never look like a repeated extended timestamp.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

func msg(csid uint32, typ MessageType, streamID uint32, tsMS uint32, body []byte) Message {
	return Message{ChunkStreamID: csid, Type: typ, StreamID: streamID, Timestamp: time.Duration(tsMS) * time.Millisecond, Body: body}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// readAll reads messages until EOF or an error, applying Set Chunk Size and
// Abort as the connection does (without masking the top bit, so the reader's
// own check is exercised).
func readAll(in []byte, limits Limits) ([]Message, error) {
	cr := NewChunkReader(bufio.NewReader(bytes.NewReader(in)), limits)
	var out []Message
	for {
		m, err := cr.ReadMessage()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, *m)
		switch m.Type {
		case MsgSetChunkSize:
			if len(m.Body) < 4 {
				return out, errors.New("short Set Chunk Size")
			}
			if err := cr.SetChunkSize(binary.BigEndian.Uint32(m.Body)); err != nil {
				return out, err
			}
		case MsgAbort:
			if len(m.Body) >= 4 {
				cr.Abort(binary.BigEndian.Uint32(m.Body))
			}
		}
	}
}

func sameMessages(got, want []Message) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d messages, want %d:\n got  %s\n want %s", len(got), len(want), describe(got), describe(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ChunkStreamID != w.ChunkStreamID || g.Type != w.Type || g.StreamID != w.StreamID ||
			g.Timestamp != w.Timestamp || !bytes.Equal(g.Body, w.Body) {
			return fmt.Errorf("message %d:\n got  %s\n want %s", i, describe(got[i:i+1]), describe(want[i:i+1]))
		}
	}
	return nil
}

func describe(ms []Message) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("{csid %d type %d sid %d ts %v len %d}", m.ChunkStreamID, m.Type, m.StreamID, m.Timestamp, len(m.Body)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestChunkReader(t *testing.T) {
	big := Limits{MaxMessageSize: 1 << 20, MaxChunkStreams: 8, MaxPending: 4 << 20}
	a10, b10, c10 := pattern(10, 1), pattern(10, 2), pattern(10, 3)
	v300 := pattern(300, 7)
	ext := uint32(0x01020304)    // an extended timestamp
	extMax := uint32(0xffffffff) // the largest one

	tests := []struct {
		name      string
		in        []byte
		limits    *Limits // nil: big
		want      []Message
		wantErr   string // substring of the error; "" reads to a clean EOF
		wantLimit bool   // the error wraps ErrLimit
	}{
		{
			name: "type 0 single chunk",
			in:   cat(type0(3, 1000, 10, MsgCommandAMF0, 0), a10),
			want: []Message{msg(3, MsgCommandAMF0, 0, 1000, a10)},
		},
		{
			name: "zero-length message",
			in:   cat(type0(3, 5, 0, MsgDataAMF0, 1), type0(3, 6, 10, MsgDataAMF0, 1), a10),
			want: []Message{msg(3, MsgDataAMF0, 1, 5, []byte{}), msg(3, MsgDataAMF0, 1, 6, a10)},
		},
		{
			name: "type 1 keeps the stream id and adds its delta",
			in: cat(type0(4, 100, 10, MsgAudio, 1), a10,
				type1(4, 23, 5, MsgVideo), a10[:5]),
			want: []Message{msg(4, MsgAudio, 1, 100, a10), msg(4, MsgVideo, 1, 123, a10[:5])},
		},
		{
			name: "type 2 keeps length and type",
			in: cat(type0(4, 100, 10, MsgAudio, 1), a10,
				type2(4, 23), b10,
				type2(4, 24), c10),
			want: []Message{msg(4, MsgAudio, 1, 100, a10), msg(4, MsgAudio, 1, 123, b10), msg(4, MsgAudio, 1, 147, c10)},
		},
		{
			// RTMP spec 5.3.1.2.4: a type 3 chunk that follows a type 0
			// chunk uses the type 0 timestamp as its delta.
			name: "type 3 after type 0 uses the type 0 timestamp as delta",
			in: cat(type0(4, 40, 10, MsgAudio, 1), a10,
				type3(4), b10,
				type3(4), c10),
			want: []Message{msg(4, MsgAudio, 1, 40, a10), msg(4, MsgAudio, 1, 80, b10), msg(4, MsgAudio, 1, 120, c10)},
		},
		{
			name: "type 3 after type 2 repeats the type 2 delta",
			in: cat(type0(4, 1000, 10, MsgAudio, 1), a10,
				type2(4, 20), b10,
				type3(4), c10),
			want: []Message{msg(4, MsgAudio, 1, 1000, a10), msg(4, MsgAudio, 1, 1020, b10), msg(4, MsgAudio, 1, 1040, c10)},
		},
		{
			name: "message split in chunks of 128",
			in: cat(type0(6, 500, 300, MsgVideo, 1), v300[:128],
				type3(6), v300[128:256],
				type3(6), v300[256:],
				type1(6, 40, 10, MsgVideo), a10),
			want: []Message{msg(6, MsgVideo, 1, 500, v300), msg(6, MsgVideo, 1, 540, a10)},
		},
		{
			name: "extended timestamp at the threshold",
			in:   cat(type0(6, 0xffffff, 10, MsgVideo, 1), a10),
			want: []Message{msg(6, MsgVideo, 1, 0xffffff, a10)},
		},
		{
			name: "largest extended timestamp",
			in:   cat(type0(6, extMax, 10, MsgVideo, 1), a10),
			want: []Message{msg(6, MsgVideo, 1, extMax, a10)},
		},
		{
			name: "extended timestamp repeated in type 3 continuations",
			in: cat(type0(6, ext, 300, MsgVideo, 1), v300[:128],
				type3(6), ext32(ext), v300[128:256],
				type3(6), ext32(ext), v300[256:]),
			want: []Message{msg(6, MsgVideo, 1, ext, v300)},
		},
		{
			name: "extended timestamp not repeated in type 3 continuations",
			in: cat(type0(6, ext, 300, MsgVideo, 1), v300[:128],
				type3(6), v300[128:256],
				type3(6), v300[256:]),
			want: []Message{msg(6, MsgVideo, 1, ext, v300)},
		},
		{
			name: "type 3 new message after an extended type 0",
			in: cat(type0(6, ext, 10, MsgVideo, 1), a10,
				type3(6), ext32(ext), b10),
			want: []Message{msg(6, MsgVideo, 1, ext, a10), msg(6, MsgVideo, 1, 2*ext, b10)},
		},
		{
			name: "extended delta in type 1 repeated by continuations",
			in: cat(type0(6, 1000, 10, MsgVideo, 1), a10,
				type1(6, 0x1000000, 300, MsgVideo), v300[:128],
				type3(6), ext32(0x1000000), v300[128:256],
				type3(6), ext32(0x1000000), v300[256:],
				type2(6, 40), v300[:128], type3(6), v300[128:256], type3(6), v300[256:]),
			want: []Message{msg(6, MsgVideo, 1, 1000, a10), msg(6, MsgVideo, 1, 1000+0x1000000, v300),
				msg(6, MsgVideo, 1, 1040+0x1000000, v300)},
		},
		{
			name: "extended timestamp drops back to a normal one",
			in: cat(type0(6, ext, 10, MsgVideo, 1), a10,
				type0(6, 7, 300, MsgVideo, 1), v300[:128],
				// no extended field now: the payload follows directly
				type3(6), v300[128:256], type3(6), v300[256:]),
			want: []Message{msg(6, MsgVideo, 1, ext, a10), msg(6, MsgVideo, 1, 7, v300)},
		},
		{
			name: "2-byte basic header",
			in: cat(type0(64, 1, 10, MsgAudio, 1), a10,
				type0(319, 2, 300, MsgVideo, 1), v300[:128], type3(319), v300[128:256], type3(319), v300[256:]),
			want: []Message{msg(64, MsgAudio, 1, 1, a10), msg(319, MsgVideo, 1, 2, v300)},
		},
		{
			name: "3-byte basic header",
			in: cat(type0(320, 1, 10, MsgAudio, 1), a10,
				type0(65599, 2, 300, MsgVideo, 1), v300[:128], type3(65599), v300[128:256], type3(65599), v300[256:]),
			want: []Message{msg(320, MsgAudio, 1, 1, a10), msg(65599, MsgVideo, 1, 2, v300)},
		},
		{
			// the 3-byte form may also name ids below 320
			name: "3-byte form of a small id",
			in: cat([]byte{0<<6 | 1, 100 - 64, 0}, be24(9), be24(10), []byte{byte(MsgAudio)}, []byte{1, 0, 0, 0}, a10,
				[]byte{3<<6 | 0, 100 - 64}, b10),
			want: []Message{msg(100, MsgAudio, 1, 9, a10), msg(100, MsgAudio, 1, 18, b10)},
		},
		{
			name: "interleaved chunk streams",
			in: cat(type0(6, 80, 300, MsgVideo, 1), v300[:128],
				type0(4, 70, 10, MsgAudio, 1), a10,
				type3(6), v300[128:256],
				type2(4, 23), b10,
				type0(3, 0, 10, MsgCommandAMF0, 0), c10,
				type3(6), v300[256:]),
			want: []Message{msg(4, MsgAudio, 1, 70, a10), msg(4, MsgAudio, 1, 93, b10),
				msg(3, MsgCommandAMF0, 0, 0, c10), msg(6, MsgVideo, 1, 80, v300)},
		},
		{
			name: "Set Chunk Size mid-stream",
			in: cat(type0(6, 0, 300, MsgVideo, 1), v300[:128], type3(6), v300[128:256], type3(6), v300[256:],
				type0(2, 0, 4, MsgSetChunkSize, 0), u32(200),
				type0(6, 40, 300, MsgVideo, 1), v300[:200], type3(6), v300[200:],
				type0(2, 0, 4, MsgSetChunkSize, 0), u32(1),
				type0(6, 80, 3, MsgVideo, 1), a10[:1], type3(6), a10[1:2], type3(6), a10[2:3]),
			want: []Message{msg(6, MsgVideo, 1, 0, v300), msg(2, MsgSetChunkSize, 0, 0, u32(200)),
				msg(6, MsgVideo, 1, 40, v300), msg(2, MsgSetChunkSize, 0, 0, u32(1)), msg(6, MsgVideo, 1, 80, a10[:3])},
		},
		{
			name: "chunk size larger than the message",
			in: cat(type0(2, 0, 4, MsgSetChunkSize, 0), u32(0x7fffffff),
				type0(6, 0, 300, MsgVideo, 1), v300),
			want: []Message{msg(2, MsgSetChunkSize, 0, 0, u32(0x7fffffff)), msg(6, MsgVideo, 1, 0, v300)},
		},
		{
			name: "Abort drops a partial message",
			in: cat(type0(6, 0, 300, MsgVideo, 1), v300[:128],
				type0(2, 0, 4, MsgAbort, 0), u32(6),
				type0(6, 40, 10, MsgVideo, 1), a10),
			want: []Message{msg(2, MsgAbort, 0, 0, u32(6)), msg(6, MsgVideo, 1, 40, a10)},
		},
		{
			name: "type 3 after Abort starts a new message",
			in: cat(type0(6, 10, 300, MsgVideo, 1), v300[:128],
				type0(2, 0, 4, MsgAbort, 0), u32(6),
				type3(6), v300[:128], type3(6), v300[128:256], type3(6), v300[256:]),
			want: []Message{msg(2, MsgAbort, 0, 0, u32(6)), msg(6, MsgVideo, 1, 20, v300)},
		},
		{
			name: "Abort of an idle or unknown chunk stream",
			in: cat(type0(2, 0, 4, MsgAbort, 0), u32(9),
				type0(4, 1, 10, MsgAudio, 1), a10,
				type0(2, 0, 4, MsgAbort, 0), u32(4)),
			want: []Message{msg(2, MsgAbort, 0, 0, u32(9)), msg(4, MsgAudio, 1, 1, a10), msg(2, MsgAbort, 0, 0, u32(4))},
		},

		// limits
		{
			name:    "message over MaxMessageSize",
			in:      cat(type0(6, 0, 1001, MsgVideo, 1), pattern(128, 0)),
			limits:  &Limits{MaxMessageSize: 1000, MaxChunkStreams: 8, MaxPending: 1 << 20},
			wantErr: "message of 1001 bytes", wantLimit: true,
		},
		{
			name:   "message of exactly MaxMessageSize",
			in:     cat(type0(2, 0, 4, MsgSetChunkSize, 0), u32(1000), type0(6, 0, 1000, MsgVideo, 1), pattern(1000, 0)),
			limits: &Limits{MaxMessageSize: 1000, MaxChunkStreams: 8, MaxPending: 1 << 20},
			want:   []Message{msg(2, MsgSetChunkSize, 0, 0, u32(1000)), msg(6, MsgVideo, 1, 0, pattern(1000, 0))},
		},
		{
			name:    "type 1 growing a message over MaxMessageSize",
			in:      cat(type0(6, 0, 10, MsgVideo, 1), a10, type1(6, 0, 1001, MsgVideo)),
			limits:  &Limits{MaxMessageSize: 1000, MaxChunkStreams: 8, MaxPending: 1 << 20},
			want:    []Message{msg(6, MsgVideo, 1, 0, a10)},
			wantErr: "message of 1001 bytes", wantLimit: true,
		},
		{
			name: "more than MaxChunkStreams",
			in: cat(type0(3, 0, 10, MsgAudio, 1), a10, type0(4, 0, 10, MsgAudio, 1), a10,
				type0(5, 0, 10, MsgAudio, 1), a10),
			limits:  &Limits{MaxMessageSize: 1000, MaxChunkStreams: 2, MaxPending: 1 << 20},
			want:    []Message{msg(3, MsgAudio, 1, 0, a10), msg(4, MsgAudio, 1, 0, a10)},
			wantErr: "more than 2 chunk streams", wantLimit: true,
		},
		{
			name: "pending bytes over MaxPending",
			in: cat(type0(6, 0, 300, MsgVideo, 1), v300[:128],
				type0(7, 0, 300, MsgVideo, 1), v300[:128],
				type0(8, 0, 300, MsgVideo, 1), v300[:128]),
			limits:  &Limits{MaxMessageSize: 1000, MaxChunkStreams: 8, MaxPending: 300},
			wantErr: "bytes of partial messages", wantLimit: true,
		},
		{
			name: "pending bytes are released when messages complete",
			in: cat(type0(6, 0, 300, MsgVideo, 1), v300[:128], type3(6), v300[128:256], type3(6), v300[256:],
				type0(7, 0, 300, MsgVideo, 1), v300[:128], type3(7), v300[128:256], type3(7), v300[256:]),
			limits: &Limits{MaxMessageSize: 1000, MaxChunkStreams: 8, MaxPending: 300},
			want:   []Message{msg(6, MsgVideo, 1, 0, v300), msg(7, MsgVideo, 1, 0, v300)},
		},
		{
			name:    "chunk size 0",
			in:      cat(type0(2, 0, 4, MsgSetChunkSize, 0), u32(0)),
			want:    []Message{msg(2, MsgSetChunkSize, 0, 0, u32(0))},
			wantErr: "chunk size 0", wantLimit: true,
		},
		{
			name:    "chunk size with the top bit set",
			in:      cat(type0(2, 0, 4, MsgSetChunkSize, 0), u32(0x80000080)),
			want:    []Message{msg(2, MsgSetChunkSize, 0, 0, u32(0x80000080))},
			wantErr: "chunk size", wantLimit: true,
		},

		// protocol errors
		{name: "type 1 without a previous header", in: cat(type1(3, 0, 10, MsgAudio), a10), wantErr: "chunk type 1 on chunk stream 3 without a previous header"},
		{name: "type 2 without a previous header", in: cat(type2(3, 0), a10), wantErr: "chunk type 2 on chunk stream 3 without a previous header"},
		{name: "type 3 without a previous header", in: cat(type3(3), a10), wantErr: "chunk type 3 on chunk stream 3 without a previous header"},
		{
			name:    "type 2 on another chunk stream without a header",
			in:      cat(type0(3, 0, 10, MsgAudio, 1), a10, type2(4, 0)),
			want:    []Message{msg(3, MsgAudio, 1, 0, a10)},
			wantErr: "chunk type 2 on chunk stream 4 without a previous header",
		},
		{
			name:    "type 0 in the middle of a message",
			in:      cat(type0(6, 0, 300, MsgVideo, 1), v300[:128], type0(6, 0, 10, MsgVideo, 1), a10),
			wantErr: "chunk type 0 on chunk stream 6 in the middle of a message",
		},
		{
			name:    "type 1 in the middle of a message",
			in:      cat(type0(6, 0, 300, MsgVideo, 1), v300[:128], type1(6, 0, 10, MsgVideo), a10),
			wantErr: "chunk type 1 on chunk stream 6 in the middle of a message",
		},
		{
			name:    "type 2 in the middle of a message",
			in:      cat(type0(6, 0, 300, MsgVideo, 1), v300[:128], type2(6, 0), a10),
			wantErr: "chunk type 2 on chunk stream 6 in the middle of a message",
		},
		{name: "truncated basic header", in: []byte{0}, wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "truncated 3-byte basic header", in: []byte{1, 0}, wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "truncated message header", in: type0(3, 0, 10, MsgAudio, 1)[:6], wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "truncated extended timestamp", in: type0(3, ext, 10, MsgAudio, 1)[:14], wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "truncated payload", in: cat(type0(3, 0, 10, MsgAudio, 1), a10[:9]), wantErr: io.ErrUnexpectedEOF.Error()},
		{
			name:    "truncated between chunks",
			in:      cat(type0(6, 0, 300, MsgVideo, 1), v300[:128]),
			wantErr: "", // a clean EOF between chunks is the peer leaving
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limits := big
			if tc.limits != nil {
				limits = *tc.limits
			}
			got, err := readAll(tc.in, limits)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q (messages %s)", tc.wantErr, describe(got))
			case err != nil && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			case err != nil && errors.Is(err, ErrLimit) != tc.wantLimit:
				t.Fatalf("error %q: errors.Is(err, ErrLimit) = %v, want %v", err, !tc.wantLimit, tc.wantLimit)
			}
			if err := sameMessages(got, tc.want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChunkReaderSetChunkSize(t *testing.T) {
	cr := NewChunkReader(bufio.NewReader(bytes.NewReader(nil)), DefaultLimits())
	for _, n := range []uint32{0, 0x80000000, 0x80000080, 0xffffffff} {
		if err := cr.SetChunkSize(n); !errors.Is(err, ErrLimit) {
			t.Errorf("SetChunkSize(%#x) = %v, want ErrLimit", n, err)
		}
	}
	for _, n := range []uint32{1, 128, OutChunkSize, 0x7fffffff} {
		if err := cr.SetChunkSize(n); err != nil {
			t.Errorf("SetChunkSize(%#x) = %v", n, err)
		}
	}
}

// TestChunkReaderAnnouncedSizeNotAllocated: a peer that raises the chunk
// size to the maximum and announces a large message must not make the
// reader allocate what it announced before the bytes arrive.
func TestChunkReaderAnnouncedSizeNotAllocated(t *testing.T) {
	limits := Limits{MaxMessageSize: 8 << 20, MaxChunkStreams: 8, MaxPending: 16 << 20}
	in := cat(type0(2, 0, 4, MsgSetChunkSize, 0), u32(0x7fffffff),
		type0(6, 0, 8<<20, MsgVideo, 1), pattern(100, 0))
	cr := NewChunkReader(bufio.NewReader(bytes.NewReader(in)), limits)
	m, err := cr.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.SetChunkSize(binary.BigEndian.Uint32(m.Body)); err != nil {
		t.Fatal(err)
	}
	if _, err := cr.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadMessage = %v, want unexpected EOF", err)
	}
	if c := cap(cr.streams[6].body); c > 2*readStep {
		t.Fatalf("100 bytes received for an announced 8 MiB message, buffer capacity %d", c)
	}
}

// TestChunkReaderBodyFitsMessage: a message read in many chunks ends in a
// body with no spare capacity, since the body is the frame's payload kept
// in the GOP cache.
func TestChunkReaderBodyFitsMessage(t *testing.T) {
	limits := Limits{MaxMessageSize: 8 << 20, MaxChunkStreams: 8, MaxPending: 16 << 20}
	for _, tc := range []struct{ chunk, length int }{
		{128, 1100}, {128, 20000}, {4096, 1100}, {4096, 20000}, {60000, 300000}, {128, 128}, {128, 129},
	} {
		body := pattern(tc.length, 1)
		in := cat(type0(2, 0, 4, MsgSetChunkSize, 0), u32(uint32(tc.chunk)), type0(6, 0, uint32(tc.length), MsgVideo, 1))
		for off := 0; off < tc.length; off += tc.chunk {
			if off > 0 {
				in = append(in, type3(6)...)
			}
			in = append(in, body[off:min(off+tc.chunk, tc.length)]...)
		}
		msgs, err := readAll(in, limits)
		if err != nil || len(msgs) != 2 || !bytes.Equal(msgs[1].Body, body) {
			t.Fatalf("chunk %d, length %d: %d messages, %v", tc.chunk, tc.length, len(msgs), err)
		}
		// A video body lies in its FLV tag room, exactly, with no spare
		// capacity.
		room := msgs[1].Room
		if len(room) != flv.TagHeaderLen+tc.length+flv.PrevSizeLen || &room[flv.TagHeaderLen] != &msgs[1].Body[0] || cap(msgs[1].Body) != tc.length {
			t.Errorf("chunk %d, length %d: room of %d bytes, body capacity %d", tc.chunk, tc.length, len(room), cap(msgs[1].Body))
		}
		if msgs[0].Room != nil {
			t.Errorf("Set Chunk Size message with a tag room")
		}
	}
}

func TestChunkRoundTrip(t *testing.T) {
	type in struct {
		csid uint32
		typ  MessageType
		sid  uint32
		ts   time.Duration
		body []byte
	}
	sizes := []int{0, 1, 127, 128, 129, 4095, 4096, 4097, OutChunkSize - 1, OutChunkSize, OutChunkSize + 1, 3*OutChunkSize + 5}
	chunkSizes := []int{1, 2, 127, 128, 4096, OutChunkSize, 1 << 20}
	timestamps := []time.Duration{0, time.Millisecond, 40 * time.Second, 0xfffffe * time.Millisecond,
		0xffffff * time.Millisecond, 0x1000000 * time.Millisecond, 0xffffffff * time.Millisecond}
	csids := []uint32{2, 3, 63, 64, 319, 320, 65599}

	for _, cs := range chunkSizes {
		t.Run(fmt.Sprintf("chunk%d", cs), func(t *testing.T) {
			var msgs []in
			i := 0
			for _, size := range sizes {
				if cs <= 2 && size > 5000 {
					continue // millions of chunks add nothing
				}
				for _, ts := range timestamps {
					m := in{csid: csids[i%len(csids)], typ: MessageType(i%22 + 1), sid: uint32(i % 3), ts: ts, body: pattern(size, byte(i))}
					msgs = append(msgs, m)
					i++
				}
			}
			var stream []byte
			if cs != 128 {
				stream = AppendMessage(stream, csidControl, MsgSetChunkSize, 0, 0, u32(uint32(cs)), 128)
			}
			for _, m := range msgs {
				before := len(stream)
				stream = AppendMessage(stream, m.csid, m.typ, m.sid, m.ts, m.body, cs)
				if got, want := len(stream)-before, MessageSize(m.csid, m.ts, len(m.body), cs); got != want {
					t.Fatalf("csid %d ts %v size %d: AppendMessage wrote %d bytes, MessageSize says %d", m.csid, m.ts, len(m.body), got, want)
				}
			}
			cr := NewChunkReader(bufio.NewReader(bytes.NewReader(stream)), Limits{MaxMessageSize: 1 << 20, MaxChunkStreams: 16, MaxPending: 1 << 20})
			if cs != 128 {
				m, err := cr.ReadMessage()
				if err != nil || m.Type != MsgSetChunkSize {
					t.Fatalf("Set Chunk Size: %v %v", m, err)
				}
				if err := cr.SetChunkSize(binary.BigEndian.Uint32(m.Body)); err != nil {
					t.Fatal(err)
				}
			}
			var reused Message // every other message is read into it (ReadMessageTo)
			for j, w := range msgs {
				m := &reused
				var err error
				if j%2 == 0 {
					m, err = cr.ReadMessage()
				} else {
					err = cr.ReadMessageTo(m)
				}
				if err != nil {
					t.Fatalf("message %d: %v", j, err)
				}
				want := Message{ChunkStreamID: w.csid, Type: w.typ, StreamID: w.sid, Timestamp: w.ts, Body: w.body}
				if err := sameMessages([]Message{*m}, []Message{want}); err != nil {
					t.Fatalf("message %d: %v", j, err)
				}
			}
			if m, err := cr.ReadMessage(); err != io.EOF {
				t.Fatalf("after the last message: %v %v, want EOF", m, err)
			}
			if cr.pending != 0 {
				t.Fatalf("%d bytes still pending", cr.pending)
			}
		})
	}
}

func TestAppendMessageNegativeTimestamp(t *testing.T) {
	b := AppendMessage(nil, csidAudio, MsgAudio, 1, -23*time.Millisecond, pattern(10, 0), OutChunkSize)
	if len(b) != MessageSize(csidAudio, -23*time.Millisecond, 10, OutChunkSize) {
		t.Fatalf("%d bytes, MessageSize %d", len(b), MessageSize(csidAudio, -23*time.Millisecond, 10, OutChunkSize))
	}
	got, err := readAll(b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if err := sameMessages(got, []Message{msg(csidAudio, MsgAudio, 1, 0, pattern(10, 0))}); err != nil {
		t.Fatal(err)
	}
}

func TestFrameMessageSizeMatchesAppend(t *testing.T) {
	for _, ts := range []time.Duration{0, 0xffffff * time.Millisecond} {
		for _, n := range []int{0, 1, OutChunkSize, OutChunkSize + 1, 5*OutChunkSize - 1} {
			for _, csid := range []uint32{csidAudio, csidVideo} {
				b := AppendMessage(nil, csid, MsgVideo, playStreamID, ts, make([]byte, n), OutChunkSize)
				if len(b) != MessageSize(csid, ts, n, OutChunkSize) {
					t.Errorf("ts %v size %d: %d bytes, MessageSize %d", ts, n, len(b), MessageSize(csid, ts, n, OutChunkSize))
				}
			}
		}
	}
}
