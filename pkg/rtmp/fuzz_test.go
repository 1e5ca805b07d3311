package rtmp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// Seeds live in testdata/fuzz/<Name>/: real connect/publish commands as
// amf0 encodes them, a video message split in chunks, extended timestamps.

// fuzzLimits are small so the fuzzer reaches every limit quickly.
var fuzzLimits = Limits{MaxMessageSize: 4096, MaxChunkStreams: 4, MaxPending: 8192}

func FuzzChunkReader(f *testing.F) {
	f.Add(cat(type0(3, 0, 10, MsgCommandAMF0, 0), pattern(10, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := NewChunkReader(bufio.NewReaderSize(bytes.NewReader(data), 16), fuzzLimits)
		for {
			m, err := cr.ReadMessage()
			checkChunkReaderBounds(t, cr)
			if err != nil {
				return
			}
			if len(m.Body) > fuzzLimits.MaxMessageSize {
				t.Fatalf("message of %d bytes, limit %d", len(m.Body), fuzzLimits.MaxMessageSize)
			}
			// A tag room is an audio or video body with exactly an FLV
			// tag's header and size of room around it, in one allocation
			// the body owns (Message.Room).
			if m.Room != nil && ((m.Type != MsgAudio && m.Type != MsgVideo) || len(m.Body) == 0 ||
				len(m.Room) != flv.TagHeaderLen+len(m.Body)+flv.PrevSizeLen || &m.Room[flv.TagHeaderLen] != &m.Body[0] || cap(m.Body) != len(m.Body)) {
				t.Fatalf("type %d message of %d bytes with a tag room of %d", m.Type, len(m.Body), len(m.Room))
			}
			// apply control messages as the connection does
			switch m.Type {
			case MsgSetChunkSize:
				if len(m.Body) < 4 {
					return
				}
				if err := cr.SetChunkSize(binary.BigEndian.Uint32(m.Body) & 0x7fffffff); err != nil {
					return
				}
			case MsgAbort:
				if len(m.Body) >= 4 {
					cr.Abort(binary.BigEndian.Uint32(m.Body))
					checkChunkReaderBounds(t, cr)
				}
			}
		}
	})
}

// checkChunkReaderBounds checks that what the reader holds is bounded by
// the limits and by the bytes actually received.
func checkChunkReaderBounds(t *testing.T, cr *ChunkReader) {
	t.Helper()
	if len(cr.streams) > fuzzLimits.MaxChunkStreams {
		t.Fatalf("%d chunk streams, limit %d", len(cr.streams), fuzzLimits.MaxChunkStreams)
	}
	if cr.pending < 0 || cr.pending > fuzzLimits.MaxPending {
		t.Fatalf("%d pending bytes, limit %d", cr.pending, fuzzLimits.MaxPending)
	}
	held := 0
	for csid, cs := range cr.streams {
		held += len(cs.body)
		if len(cs.body) > int(cs.length) {
			t.Fatalf("chunk stream %d holds %d bytes of a %d-byte message", csid, len(cs.body), cs.length)
		}
		// the buffer grows with what arrived, never with what was announced
		if c := cap(cs.body); c > max(2*len(cs.body)+512, min(fuzzLimits.MaxMessageSize, readStep)) {
			t.Fatalf("chunk stream %d: capacity %d for %d bytes received", csid, c, len(cs.body))
		}
	}
	if held != cr.pending {
		t.Fatalf("chunk streams hold %d bytes, pending says %d", held, cr.pending)
	}
}

func FuzzParseCommand(f *testing.F) {
	body, _ := amf0.Data{"createStream", float64(2), nil}.Marshal()
	f.Add(body)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range []MessageType{MsgCommandAMF0, MsgCommandAMF3} {
			in := body
			if typ == MsgCommandAMF3 {
				in = append([]byte{0}, body...)
			}
			cmd, err := parseCommand(&Message{Type: typ, StreamID: 1, Body: in})
			if err != nil {
				if cmd != nil {
					t.Fatalf("command %+v with error %v", cmd, err)
				}
				continue
			}
			if cmd.streamID != 1 {
				t.Fatalf("stream id %d", cmd.streamID)
			}
			for i := range 4 {
				cmd.stringArg(i)
			}
			if cmd.object != nil {
				cmd.object.GetString("app")
				cmd.object.Get("fourCcList")
			}
		}
		// That the depth limit agrees with the decoder is checked by
		// flv's FuzzAMFTooDeep, next to the walker.
	})
}
