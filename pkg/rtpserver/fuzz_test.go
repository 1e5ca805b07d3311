package rtpserver

import (
	"testing"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/media"
)

type nullSink struct{ frames int }

func (n *nullSink) SetTracks([]*media.Track) error { return nil }
func (n *nullSink) SetMetadata(media.Metadata)     {}
func (n *nullSink) WriteFrame(*media.Frame) error  { n.frames++; return nil }

// FuzzPipeline feeds the media pipeline arbitrary packets (the payload
// split at cut points, under a payload type and with losses where the
// input says): whatever a sender sends, nothing panics and what comes out
// is bounded by what went in.
func FuzzPipeline(f *testing.F) {
	f.Add(uint8(96), []byte{0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xC3, 0xF8, 0, 0, 1, 0xE0, 0, 8, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1, 0, 0, 0, 1, 0x65}, uint8(7))
	f.Add(uint8(98), []byte{0x7C, 0x85, 1, 2, 3, 0x7C, 0x45, 4, 5}, uint8(5))
	f.Add(uint8(33), append([]byte{0x47, 0x40, 0, 0x10}, make([]byte, 184)...), uint8(0))
	f.Add(uint8(8), make([]byte, 160), uint8(3))
	f.Fuzz(func(t *testing.T, pt uint8, data []byte, cut uint8) {
		sink := &nullSink{}
		p := newMediaPipeline(PipelineOptions{Sink: sink})
		step := int(cut)%64 + 1
		seq := uint16(0)
		for i := 0; i < len(data); i += step {
			end := min(i+step, len(data))
			lost := 0
			if data[i]&0x0F == 0x0F {
				lost = 1
			}
			p.Packet(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: pt & 0x7F, SequenceNumber: seq,
				Timestamp: uint32(i) * 3600, Marker: end == len(data) || data[end-1]&1 == 1}, Payload: data[i:end]}, lost)
			seq++
		}
		p.Close()
		if sink.frames > len(data)+1 {
			t.Fatalf("%d frames out of %d bytes", sink.frames, len(data))
		}
	})
}
