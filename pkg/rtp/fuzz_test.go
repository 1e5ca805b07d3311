package rtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	pionrtp "github.com/pion/rtp"
)

// FuzzFrameReader reads arbitrary bytes as framed RTP. Packets must be
// non-empty, at most MaxFrameSize, add up to no more than the input, and
// come out the same however the input is chunked; the stream must end in
// io.EOF or io.ErrUnexpectedEOF.
func FuzzFrameReader(f *testing.F) {
	a, b := rtpBytes(f, 1, 40), rtpBytes(f, 2, 3)
	f.Add(AppendFrame(AppendFrame(nil, a), b))
	f.Add(append(interleaved(0, a), interleaved(1, b)...))
	f.Add(append(AppendFrame([]byte{0, 0}, a), '$', 0, 0))
	f.Add([]byte{'$', 0, 0, 5, 0x80, 1, 2, 3, 4})
	f.Add([]byte{'$', 1, 0x80, 0, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		type pkt struct {
			b  []byte
			ch int
		}
		read := func(r io.Reader) ([]pkt, error) {
			fr := NewFrameReader(r)
			var out []pkt
			total := 0
			for {
				p, err := fr.ReadPacket()
				if err != nil {
					return out, err
				}
				total += len(p)
				if len(p) == 0 || len(p) > MaxFrameSize || total > len(data) {
					t.Fatalf("packet of %d bytes, %d in all from %d", len(p), total, len(data))
				}
				out = append(out, pkt{bytes.Clone(p), fr.Channel()})
			}
		}
		whole, err1 := read(bytes.NewReader(data))
		bytewise, err2 := read(iotest.OneByteReader(bytes.NewReader(data)))
		for _, err := range []error{err1, err2} {
			if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("stream ended with %v", err)
			}
		}
		if (err1 == io.EOF) != (err2 == io.EOF) || len(whole) != len(bytewise) {
			t.Fatalf("chunking changed the result: %d packets (%v) vs %d (%v)", len(whole), err1, len(bytewise), err2)
		}
		for i := range whole {
			if !bytes.Equal(whole[i].b, bytewise[i].b) || whole[i].ch != bytewise[i].ch {
				t.Fatalf("packet %d differs with chunking", i)
			}
		}
	})
}

var fuzzKinds = []Kind{KindH264, KindH265, KindAAC, KindOpus, KindPS, KindTS, KindPCMA}

// fuzzPackets splits fuzz input into packets: a flags byte (bit 0: skip a
// sequence number, bit 1: next timestamp, bit 2: marker, bit 3: reset
// first), a length byte, then the payload.
func fuzzPackets(data []byte, fn func(flags byte, p *pionrtp.Packet)) {
	seq, ts := uint16(0), uint32(0)
	for len(data) >= 2 {
		flags, n := data[0], min(int(data[1]), len(data)-2)
		payload := bytes.Clone(data[2 : 2+n])
		data = data[2+n:]
		if flags&1 != 0 {
			seq++
		}
		seq++
		if flags&2 != 0 {
			ts += 3000
		}
		fn(flags, &pionrtp.Packet{
			Header:  pionrtp.Header{Version: 2, PayloadType: flags >> 1, SequenceNumber: seq, Timestamp: ts, Marker: flags&4 != 0},
			Payload: payload,
		})
	}
}

// FuzzDepacketizer feeds arbitrary packets to each depacketizer and to the
// detectors. Nothing may panic; units must be non-empty, bounded, not
// alias the packets, and add up to a bounded multiple of the input (a start
// code per NAL unit).
func FuzzDepacketizer(f *testing.F) {
	f.Add([]byte{0, 0, 3, 0x7c, 0x85, 0x81, 0, 2, 0x7c, 0x05, 4, 3, 0x7c, 0x45, 9})
	f.Add([]byte{0, 4, 9, 0x78, 0, 2, 0x67, 1, 0, 1, 0x68, 4, 2, 0x41, 0x80})
	f.Add([]byte{1, 4, 10, 0x60, 0x01, 0, 3, 0x40, 0x01, 1, 0, 2, 0x42, 0x01})
	f.Add([]byte{1, 0, 4, 0x62, 0x01, 0x93, 0x81, 5, 4, 0x62, 0x01, 0x53, 2})
	f.Add(append([]byte{2, 4, 9}, aacPayload([]byte{1, 2}, []byte{3, 4, 5})...))
	f.Add([]byte{2, 0, 7, 0, 16, 0x03, 0xe8, 1, 2, 3, 4, 5, 7, 0, 16, 0x03, 0xe8, 6})
	f.Add([]byte{4, 0, 6, 0, 0, 1, 0xba, 1, 2, 4, 1, 3})
	f.Add([]byte{5, 4, 4, 0x47, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		k := fuzzKinds[int(data[0])%len(fuzzKinds)]
		d, err := NewDepacketizer(k)
		if err != nil {
			t.Fatal(err)
		}
		var det Detector
		in, out := 0, 0
		check := func(aus []AccessUnit, p *pionrtp.Packet) {
			for _, au := range aus {
				if len(au.Data) == 0 || len(au.Data) > MaxAccessUnitSize {
					t.Fatalf("%s: unit of %d bytes", k, len(au.Data))
				}
				out += len(au.Data)
			}
			if p == nil {
				return
			}
			// Units own their bytes: scribbling over the packet
			// leaves them as they were.
			before := make([][]byte, len(aus))
			for i, au := range aus {
				before[i] = bytes.Clone(au.Data)
			}
			for i := range p.Payload {
				p.Payload[i] ^= 0xff
			}
			for i, au := range aus {
				if !bytes.Equal(au.Data, before[i]) {
					t.Fatalf("%s: unit aliases the packet", k)
				}
			}
		}
		fuzzPackets(data[1:], func(flags byte, p *pionrtp.Packet) {
			if flags&8 != 0 {
				d.Reset()
			}
			in += len(p.Payload)
			_ = Detect(p.PayloadType, p.Payload)
			det.Feed(p.PayloadType, p.Payload)
			aus, _ := d.Push(p)
			check(aus, p)
		})
		check(d.Flush(), nil)
		if out > 5*in {
			t.Fatalf("%s: %d bytes out of %d", k, out, in)
		}
	})
}

// FuzzReceiver pushes arbitrary sequence numbers, SSRCs and arrival gaps.
// Every packet must end up delivered once or counted as dropped, and
// between resyncs each delivery must follow the previous one by exactly
// 1 + lost.
func FuzzReceiver(f *testing.F) {
	rec := func(ssrc byte, seq uint16, dt byte) []byte {
		return []byte{ssrc, byte(seq >> 8), byte(seq), dt}
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	f.Add(cat(rec(0, 1, 1), rec(0, 3, 1), rec(0, 2, 1), rec(0, 2, 1), rec(0, 4, 200)))
	f.Add(cat(rec(0, 65535, 1), rec(0, 0, 1), rec(0, 40000, 1), rec(0, 40001, 1)))
	f.Add(cat(rec(0, 5, 1), rec(1, 9, 1), rec(1, 10, 1), rec(1, 11, 1), rec(1, 12, 1), rec(0, 6, 1)))
	f.Add(cat(rec(0, 10, 0), rec(0, 80, 0), rec(0, 9, 0), rec(2, 11, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Receiver{Window: 16}
		seen := map[*pionrtp.Packet]bool{}
		var prev *pionrtp.Packet
		delivered := 0
		emit := func(p *pionrtp.Packet, lost int) {
			if seen[p] {
				t.Fatalf("seq %d delivered twice", p.SequenceNumber)
			}
			seen[p] = true
			delivered++
			switch {
			case lost == Resync:
			case lost < 0:
				t.Fatalf("lost %d", lost)
			case prev == nil:
				if lost != 0 {
					t.Fatalf("first delivery with lost %d", lost)
				}
			case p.SSRC != prev.SSRC || p.SequenceNumber-prev.SequenceNumber != uint16(1+lost):
				t.Fatalf("seq %d (ssrc %d) lost %d after seq %d (ssrc %d)", p.SequenceNumber, p.SSRC, lost, prev.SequenceNumber, prev.SSRC)
			}
			prev = p
		}
		at := t0
		pushed := 0
		for ; len(data) >= 4; data = data[4:] {
			if data[0]&2 != 0 {
				r.Flush(emit)
			}
			at = at.Add(time.Duration(data[3]) * time.Millisecond)
			p := &pionrtp.Packet{Header: pionrtp.Header{
				Version:        2,
				SSRC:           uint32(data[0] & 1),
				SequenceNumber: binary.BigEndian.Uint16(data[1:]),
			}}
			r.Push(p, at, emit)
			pushed++
			if r.nHeld > r.window || len(r.cand) >= ssrcSwitchPackets {
				t.Fatalf("%d held, %d candidates", r.nHeld, len(r.cand))
			}
		}
		r.Flush(emit)
		s := r.Stats()
		if s.Packets != uint64(pushed) || uint64(delivered)+s.Duplicates+s.Late+s.Stray != s.Packets {
			t.Fatalf("%d pushed, %d delivered, stats %+v", pushed, delivered, s)
		}
	})
}
