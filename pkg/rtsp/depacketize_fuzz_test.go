package rtsp

import (
	"encoding/binary"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/media"
)

// Fuzz input: a sequence of packets, each a 4-byte header (flags,
// timestamp step, payload length) and its payload. flags bit 0-1: the
// sequence number step (0 repeats, 2 and 3 lose packets); bit 2: marker;
// bits 4-7 times 1000 ticks: the timestamp step.
func dpfFormat(kind byte) format.Format {
	switch kind % 8 {
	case 0:
		return &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	case 1:
		return &format.H265{PayloadTyp: 96}
	case 2:
		return &format.MPEG4Audio{PayloadTyp: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
			Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 2}}
	case 3:
		return &format.Opus{PayloadTyp: 111, ChannelCount: 2}
	case 5:
		return &format.AV1{PayloadTyp: 96}
	case 6:
		return &format.VP9{PayloadTyp: 96}
	case 7:
		return &format.MPEG1Audio{}
	}
	return &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}
}

// dpfEncode serializes packets into the fuzz input form (for seeds).
func dpfEncode(pkts []*rtp.Packet) []byte {
	var out []byte
	for i, p := range pkts {
		flags := byte(1)
		if i > 0 {
			flags = byte(p.SequenceNumber-pkts[i-1].SequenceNumber) & 3
			step := (p.Timestamp - pkts[i-1].Timestamp) / 1000
			flags |= byte(min(step, 15)) << 4
		}
		if p.Marker {
			flags |= 4
		}
		out = append(out, flags, 0)
		out = binary.BigEndian.AppendUint16(out, uint16(len(p.Payload)))
		out = append(out, p.Payload...)
	}
	return out
}

// FuzzDepacketizer feeds arbitrary packets to a depacketizer of each
// supported format. It must not panic or hang; frames must have a track
// of the format's kind, DTS <= PTS with DTS never going backwards for
// video, H.264/H.265 payloads must be well-formed AVCC and AV1 ones
// well-formed low-overhead temporal units.
func FuzzDepacketizer(f *testing.F) {
	// More seeds, made from the clips with gortsplib's encoders, are in
	// testdata/fuzz/FuzzDepacketizer.
	sps, pps, aus := dptH264Clip(f)
	idr := aus[0][len(aus[0])-1][:300]
	f.Add(byte(0), dpfEncode([]*rtp.Packet{
		dptPkt(1, 0, false, dptFUA(idr, 3)[0]...), dptPkt(3, 0, true, dptFUA(idr, 3)[2]...),
		dptPkt(4, 3000, true, dptSTAPA(sps, pps, idr)...),
	}))
	f.Add(byte(2), []byte{0x01, 0, 0, 6, 0, 16, 0, 0x20, 1, 2, 0x05, 0, 0, 4, 0, 16, 0, 0x18})
	f.Add(byte(3), []byte{0x05, 0, 0, 3, 1, 2, 3, 0x07, 0, 0, 1, 9})
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		fm := dpfFormat(kind)
		d, err := NewDepacketizer(fm)
		if err != nil {
			t.Fatal(err)
		}
		wantKind := dpFormatKind(fm)
		seq, ts := uint16(1000), uint32(0)
		var lastDTS int64 = -1 << 62
		for len(data) >= 4 {
			flags := data[0]
			n := min(int(binary.BigEndian.Uint16(data[2:4])), len(data)-4)
			payload := data[4 : 4+n]
			data = data[4+n:]
			seq += uint16(flags & 3)
			ts += uint32(flags>>4) * 1000
			pkt := &rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: fm.PayloadType(), SequenceNumber: seq, Timestamp: ts, Marker: flags&4 != 0},
				Payload: payload,
			}
			frames, _ := d.Decode(pkt, int64(ts))
			for _, fr := range frames {
				if fr.Track == nil || fr.Track.Kind() != wantKind {
					t.Fatalf("frame with track %v", fr.Track)
				}
				if fr.DTS > fr.PTS {
					t.Fatalf("DTS %v after PTS %v", fr.DTS, fr.PTS)
				}
				if wantKind != media.KindVideo {
					continue
				}
				if int64(fr.DTS) < lastDTS {
					t.Fatalf("DTS went back from %d to %d", lastDTS, fr.DTS)
				}
				lastDTS = int64(fr.DTS)
				switch fm.(type) {
				case *format.AV1:
					if _, err := media.AV1OBUs(fr.Payload); err != nil {
						t.Fatalf("AV1 payload: %v", err)
					}
					continue
				case *format.VP9:
					continue
				}
				total := 0
				fr.NALUs(func(nalu []byte) bool {
					total += 4 + len(nalu)
					return true
				})
				if total != len(fr.Payload) {
					t.Fatalf("payload of %d bytes has %d bytes of NAL units", len(fr.Payload), total)
				}
			}
		}
	})
}
