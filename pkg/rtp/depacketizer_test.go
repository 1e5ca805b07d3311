package rtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	pionrtp "github.com/pion/rtp"
)

func TestDepacketizerRoundTrip(t *testing.T) {
	for _, clip := range []struct {
		name string
		kind Kind
	}{{"h264.h264", KindH264}, {"h265.hevc", KindH265}} {
		aus := clipAUs(t, clip.name, clip.kind == KindH265)
		for _, tc := range []struct {
			mtu       int
			aggregate bool
			marker    bool
		}{
			{1400, true, true},
			{1400, false, true},
			{200, true, true},
			{1400, true, false}, // no marker bits: timestamps end the units
			{MaxFrameSize, true, true},
		} {
			t.Run(fmt.Sprintf("%s/mtu=%d/aggregate=%v/marker=%v", clip.kind, tc.mtu, tc.aggregate, tc.marker), func(t *testing.T) {
				pkts := clipPackets(t, clip.kind, aus, tc.mtu, tc.aggregate)
				d, err := NewDepacketizer(clip.kind)
				if err != nil {
					t.Fatal(err)
				}
				var got []AccessUnit
				for _, p := range pkts {
					if p.MarshalSize() > tc.mtu {
						t.Fatalf("packet of %d bytes, MTU %d", p.MarshalSize(), tc.mtu)
					}
					p.Marker = p.Marker && tc.marker
					out, err := d.Push(p)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, out...)
				}
				got = append(got, d.Flush()...)
				if len(got) != len(aus) {
					t.Fatalf("%d access units, want %d", len(got), len(aus))
				}
				for i, au := range got {
					if !bytes.Equal(au.Data, annexB(aus[i].nalus)) {
						t.Fatalf("unit %d differs: %d bytes, want %d", i, len(au.Data), len(annexB(aus[i].nalus)))
					}
					if au.Key != aus[i].key || au.Timestamp != uint32(i)*3600 {
						t.Fatalf("unit %d: key %v ts %d, want key %v ts %d", i, au.Key, au.Timestamp, aus[i].key, i*3600)
					}
				}
			})
		}
	}
}

// vpkt is a video packet for hand-built sequences.
func vpkt(seq uint16, ts uint32, marker bool, payload ...byte) *pionrtp.Packet {
	return &pionrtp.Packet{
		Header:  pionrtp.Header{Version: 2, PayloadType: 98, SequenceNumber: seq, Timestamp: ts, Marker: marker},
		Payload: payload,
	}
}

type depStep struct {
	p       *pionrtp.Packet
	want    []string // Annex-B units as hex, "k:" prefix for key units
	wantErr error
}

func runSteps(t *testing.T, d Depacketizer, steps []depStep) {
	t.Helper()
	for i, s := range steps {
		out, err := d.Push(s.p)
		if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
			t.Fatalf("step %d: error %v, want %v", i, err, s.wantErr)
		}
		var got []string
		for _, au := range out {
			k := ""
			if au.Key {
				k = "k:"
			}
			got = append(got, k+fmt.Sprintf("%x", au.Data))
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Fatalf("step %d: units %v, want %v", i, got, s.want)
		}
	}
}

func u(s ...string) []string { return s }

func TestDepacketizerH264(t *testing.T) {
	sc := "00000001"
	tests := []struct {
		name  string
		steps []depStep
	}{
		{"single NAL units, marker", []depStep{
			{p: vpkt(1, 100, false, 0x67, 1)},
			{p: vpkt(2, 100, false, 0x68, 2)},
			{p: vpkt(3, 100, true, 0x65, 3), want: u("k:" + sc + "6701" + sc + "6802" + sc + "6503")},
			{p: vpkt(4, 200, true, 0x41, 4), want: u(sc + "4104")},
		}},
		{"timestamp change ends a unit", []depStep{
			{p: vpkt(1, 100, false, 0x41, 0x81)},
			{p: vpkt(2, 200, false, 0x41, 0x82), want: u(sc + "4181")},
			{p: vpkt(3, 300, false, 0x41, 0x83), want: u(sc + "4182")},
		}},
		{"STAP-A", []depStep{
			{p: vpkt(1, 100, true, 0x78, 0, 2, 0x67, 1, 0, 0, 0, 2, 0x68, 2, 0, 2, 0x65, 3), want: u("k:" + sc + "6701" + sc + "6802" + sc + "6503")},
		}},
		{"FU-A", []depStep{
			{p: vpkt(1, 100, false, 0x7c, 0x85, 0x81, 2)},
			{p: vpkt(2, 100, false, 0x7c, 0x05, 3)},
			{p: vpkt(3, 100, true, 0x7c, 0x45, 4), want: u("k:" + sc + "6581020304")},
		}},
		{"FU-A with lost start at the beginning: dropped quietly", []depStep{
			{p: vpkt(1, 100, false, 0x7c, 0x05, 3)},
			{p: vpkt(2, 100, true, 0x7c, 0x45, 4)},
			{p: vpkt(3, 200, true, 0x41, 0x89), want: u(sc + "4189")},
		}},
		{"gap inside FU-A drops the unit quietly", []depStep{
			{p: vpkt(1, 100, false, 0x7c, 0x85, 1)},
			{p: vpkt(3, 100, true, 0x7c, 0x45, 3)},
			{p: vpkt(4, 200, true, 0x41, 0x89), want: u(sc + "4189")},
		}},
		{"gap between units keeps the next one", []depStep{
			{p: vpkt(1, 100, true, 0x41, 0x81), want: u(sc + "4181")},
			{p: vpkt(5, 200, true, 0x41, 0x82), want: u(sc + "4182")},
		}},
		{"after a gap a unit must start like one", []depStep{
			{p: vpkt(1, 100, true, 0x41, 0x81), want: u(sc + "4181")},
			{p: vpkt(5, 200, false, 0x41, 0x02)}, // second slice of a picture
			{p: vpkt(6, 200, true, 0x41, 0x03)},
			{p: vpkt(7, 300, true, 0x41, 0x84), want: u(sc + "4184")},
		}},
		{"the first unit must start like one", []depStep{
			{p: vpkt(1, 100, true, 0x7c, 0x45, 1)},
			{p: vpkt(2, 200, true, 0x09, 0xf0), want: u(sc + "09f0")}, // AUD
		}},
		{"gap inside a unit drops it", []depStep{
			{p: vpkt(1, 100, false, 0x41, 0x81)},
			{p: vpkt(3, 100, true, 0x41, 0x02)},
			{p: vpkt(4, 200, true, 0x41, 0x83), want: u(sc + "4183")},
		}},
		{"FU-A start inside FU-A", []depStep{
			{p: vpkt(1, 100, false, 0x7c, 0x85, 0x81)},
			{p: vpkt(2, 100, false, 0x7c, 0x85, 0x82), wantErr: ErrFragment},
			{p: vpkt(3, 100, true, 0x7c, 0x45, 3)},
			{p: vpkt(4, 200, true, 0x41, 0x84), want: u(sc + "4184")},
		}},
		{"continuation without a start, no loss", []depStep{
			{p: vpkt(1, 100, false, 0x41, 0x81)},
			{p: vpkt(2, 100, true, 0x7c, 0x45, 3), wantErr: ErrFragment},
			{p: vpkt(3, 200, true, 0x41, 0x84), want: u(sc + "4184")},
		}},
		{"NAL unit inside FU-A", []depStep{
			{p: vpkt(1, 100, false, 0x7c, 0x85, 1)},
			{p: vpkt(2, 100, true, 0x41, 2), wantErr: ErrFragment},
		}},
		{"FU-A cut by a timestamp change", []depStep{
			{p: vpkt(1, 100, false, 0x7c, 0x85, 0x81)},
			{p: vpkt(2, 200, true, 0x41, 0x82), want: u(sc + "4182"), wantErr: ErrFragment},
		}},
		{"marker inside FU-A", []depStep{
			{p: vpkt(1, 100, false, 0x41, 0x80)},
			{p: vpkt(2, 100, true, 0x7c, 0x85, 1), wantErr: ErrFragment},
			{p: vpkt(3, 200, true, 0x41, 0x82), want: u(sc + "4182")},
		}},
		{"STAP-A overrun", []depStep{
			{p: vpkt(1, 100, true, 0x78, 0, 9, 0x67), wantErr: ErrMalformed},
			{p: vpkt(2, 200, true, 0x41, 0x82), want: u(sc + "4182")},
		}},
		{"STAP-A truncated size", []depStep{
			{p: vpkt(1, 100, true, 0x78, 0, 1, 0x67, 0), wantErr: ErrMalformed},
		}},
		{"interleaved-mode packet", []depStep{
			{p: vpkt(1, 100, true, 0x79, 0, 0), wantErr: ErrUnsupported},
		}},
		{"empty payload with marker ends the unit", []depStep{
			{p: vpkt(1, 100, false, 0x41, 0x81)},
			{p: vpkt(2, 100, true), want: u(sc + "4181")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := NewDepacketizer(KindH264)
			runSteps(t, d, tc.steps)
		})
	}
}

func TestDepacketizerH265(t *testing.T) {
	sc := "00000001"
	tests := []struct {
		name  string
		steps []depStep
	}{
		{"single and AP", []depStep{
			{p: vpkt(1, 100, false, 0x60, 0x01, 0, 3, 0x40, 0x01, 1, 0, 3, 0x42, 0x01, 2)},
			{p: vpkt(2, 100, true, 0x28, 0x01, 5), want: u("k:" + sc + "400101" + sc + "420102" + sc + "280105")},
			{p: vpkt(3, 200, true, 0x02, 0x01, 6), want: u(sc + "020106")},
		}},
		{"FU", []depStep{
			{p: vpkt(1, 100, false, 0x62, 0x01, 0x80|19, 0x81)},
			{p: vpkt(2, 100, false, 0x62, 0x01, 19, 2)},
			{p: vpkt(3, 100, true, 0x62, 0x01, 0x40|19, 3), want: u("k:" + sc + "2601810203")},
		}},
		{"gap inside FU", []depStep{
			{p: vpkt(1, 100, false, 0x62, 0x01, 0x81, 1)},
			{p: vpkt(3, 100, true, 0x62, 0x01, 0x41, 3)},
			{p: vpkt(4, 200, true, 0x02, 0x01, 0x84), want: u(sc + "020184")},
		}},
		{"FU of an FU", []depStep{
			{p: vpkt(1, 100, true, 0x62, 0x01, 0x80|49, 1), wantErr: ErrMalformed},
		}},
		{"forbidden bit", []depStep{
			{p: vpkt(1, 100, true, 0x82, 0x01, 1), wantErr: ErrMalformed},
		}},
		{"PACI", []depStep{
			{p: vpkt(1, 100, true, 0x64, 0x01, 1, 2, 3), wantErr: ErrUnsupported},
		}},
		{"AP unit too short", []depStep{
			{p: vpkt(1, 100, true, 0x60, 0x01, 0, 1, 0x40), wantErr: ErrMalformed},
		}},
		{"EOS NAL unit of 2 bytes", []depStep{
			{p: vpkt(1, 100, false, 0x02, 0x01, 0x80)},
			{p: vpkt(2, 100, true, 0x48, 0x01), want: u(sc + "020180" + sc + "4801")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := NewDepacketizer(KindH265)
			runSteps(t, d, tc.steps)
		})
	}
}

func TestDepacketizerTooLarge(t *testing.T) {
	for _, k := range []Kind{KindH264, KindH265, KindPS} {
		t.Run(string(k), func(t *testing.T) {
			d, _ := NewDepacketizer(k)
			hdr := map[Kind][]byte{KindH264: {0x41, 0x80}, KindH265: {0x02, 0x01, 0x80}, KindPS: {0, 0, 1, 0xba}}[k]
			chunk := append(hdr, make([]byte, 60000)...)
			var sawErr bool
			seq := uint16(0)
			for range MaxAccessUnitSize/len(chunk) + 2 {
				seq++
				out, err := d.Push(vpkt(seq, 100, false, chunk...))
				if len(out) != 0 {
					t.Fatal("unit returned")
				}
				if errors.Is(err, ErrTooLarge) {
					sawErr = true
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if !sawErr {
				t.Fatal("no ErrTooLarge")
			}
			seq++
			if out, _ := d.Push(vpkt(seq, 100, true, chunk...)); len(out) != 0 {
				t.Fatal("oversized unit returned")
			}
			seq++
			out, err := d.Push(vpkt(seq, 200, true, hdr...))
			if err != nil || len(out) != 1 {
				t.Fatalf("next unit: %v, %d units", err, len(out))
			}
		})
	}
}

func TestDepacketizerFUTooLarge(t *testing.T) {
	d, _ := NewDepacketizer(KindH264)
	frag := make([]byte, 60002)
	frag[0], frag[1] = 0x7c, 0x85
	var sawErr bool
	for i := range MaxAccessUnitSize/60000 + 2 {
		out, err := d.Push(vpkt(uint16(i), 100, false, frag...))
		frag[1] = 0x05
		sawErr = sawErr || errors.Is(err, ErrTooLarge)
		if len(out) != 0 {
			t.Fatal("unit returned")
		}
	}
	if !sawErr {
		t.Fatal("no ErrTooLarge")
	}
}

func TestDepacketizerReset(t *testing.T) {
	d, _ := NewDepacketizer(KindH264)
	d.Push(vpkt(1, 100, false, 0x7c, 0x85, 1))
	d.Reset()
	// After a reset the stream may resume anywhere, even mid-fragment.
	runSteps(t, d, []depStep{
		{p: vpkt(50, 300, false, 0x7c, 0x45, 2)},
		{p: vpkt(51, 400, true, 0x41, 0x83), want: u("000000014183")},
	})
}

func TestDepacketizerPS(t *testing.T) {
	d, err := NewDepacketizer(KindPS)
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, d, []depStep{
		{p: vpkt(1, 100, false, 0, 0, 1, 0xba, 1)},
		{p: vpkt(2, 100, true, 2, 3), want: u("000001ba010203")},
		{p: vpkt(3, 200, false, 0, 0, 1, 0xba, 4)},
		{p: vpkt(4, 300, false, 0, 0, 1, 0xba, 5), want: u("000001ba04")},
		{p: vpkt(6, 300, true, 6)},                                        // gap: frame dropped
		{p: vpkt(8, 400, true, 7)},                                        // gap before a frame without a pack header
		{p: vpkt(10, 500, true, 0, 0, 1, 0xba, 8), want: u("000001ba08")}, // gap before a pack header
		{p: vpkt(11, 600, false, 8)},
	})
	if out := d.Flush(); len(out) != 1 || !bytes.Equal(out[0].Data, []byte{8}) || out[0].Key {
		t.Fatalf("flush: %v", out)
	}
}

func TestDepacketizerFramePerPacket(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		key  bool
	}{{KindOpus, true}, {KindPCMA, true}, {KindPCMU, true}, {KindTS, false}} {
		d, err := NewDepacketizer(tc.kind)
		if err != nil {
			t.Fatal(err)
		}
		p := vpkt(1, 960, false, 1, 2, 3)
		out, err := d.Push(p)
		if err != nil || len(out) != 1 || !bytes.Equal(out[0].Data, []byte{1, 2, 3}) || out[0].Timestamp != 960 || out[0].Key != tc.key {
			t.Fatalf("%s: %v %v", tc.kind, out, err)
		}
		p.Payload[0] = 9
		if out[0].Data[0] != 1 {
			t.Fatalf("%s: unit aliases the packet", tc.kind)
		}
		if out, _ := d.Push(vpkt(2, 1920, false)); len(out) != 0 {
			t.Fatalf("%s: unit from an empty payload", tc.kind)
		}
	}
}

func TestNewDepacketizerUnknown(t *testing.T) {
	if _, err := NewDepacketizer(KindUnknown); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
	if _, err := NewAACDepacketizer(AACConfig{SizeLength: 40}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
}

// aacPayload builds an RFC 3640 AAC-hbr payload.
func aacPayload(aus ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(16*len(aus)))
	for _, au := range aus {
		b = binary.BigEndian.AppendUint16(b, uint16(len(au))<<3)
	}
	for _, au := range aus {
		b = append(b, au...)
	}
	return b
}

func TestDepacketizerAAC(t *testing.T) {
	au1, au2, au3 := bytes.Repeat([]byte{1}, 200), bytes.Repeat([]byte{2}, 300), bytes.Repeat([]byte{3}, 3000)
	d, _ := NewDepacketizer(KindAAC)
	check := func(p *pionrtp.Packet, wantErr error, want ...AccessUnit) {
		t.Helper()
		out, err := d.Push(p)
		if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Fatalf("error %v, want %v", err, wantErr)
		}
		if len(out) != len(want) {
			t.Fatalf("%d units, want %d", len(out), len(want))
		}
		for i := range want {
			if !bytes.Equal(out[i].Data, want[i].Data) || out[i].Timestamp != want[i].Timestamp || !out[i].Key {
				t.Fatalf("unit %d: %d bytes ts %d", i, len(out[i].Data), out[i].Timestamp)
			}
		}
	}
	// Three AUs in a packet: timestamps 1024 apart.
	check(vpkt(1, 1000, true, aacPayload(au1, au2, au1)...), nil,
		AccessUnit{Data: au1, Timestamp: 1000, Key: true}, AccessUnit{Data: au2, Timestamp: 2024, Key: true}, AccessUnit{Data: au1, Timestamp: 3048, Key: true})
	// A fragmented AU: each fragment has the whole AU's size.
	frag := func(seq uint16, part []byte, marker bool) *pionrtp.Packet {
		b := []byte{0, 16}
		b = binary.BigEndian.AppendUint16(b, uint16(len(au3))<<3)
		return vpkt(seq, 5000, marker, append(b, part...)...)
	}
	check(frag(2, au3[:1000], false), nil)
	check(frag(3, au3[1000:2000], false), nil)
	check(frag(4, au3[2000:], true), nil, AccessUnit{Data: au3, Timestamp: 5000, Key: true})
	// A lost fragment drops the AU without a word.
	check(frag(5, au3[:1000], false), nil)
	check(frag(7, au3[2000:], true), nil)
	// An AU cut short by the next one, with no loss, is reported.
	check(frag(8, au3[:1000], false), nil)
	check(vpkt(9, 6000, true, aacPayload(au1)...), ErrFragment, AccessUnit{Data: au1, Timestamp: 6000, Key: true})
	// Malformed headers.
	check(vpkt(10, 7000, true, 0, 17, 0, 0, 0), ErrMalformed)
	check(vpkt(11, 7000, true, 0, 64, 0), ErrMalformed)
	check(vpkt(12, 7000, true, aacPayload(au1, au2)[:300]...), ErrMalformed, AccessUnit{Data: au1, Timestamp: 7000, Key: true})
	// ADTS frames as the payload.
	adts := func(raw []byte) []byte {
		n := len(raw) + 7
		return append([]byte{0xff, 0xf1, 0x50, 0x80 | byte(n>>11), byte(n >> 3), byte(n<<5) | 0x1f, 0xfc}, raw...)
	}
	check(vpkt(13, 8000, true, append(adts(au1), adts(au2)...)...), nil, AccessUnit{Data: au1, Timestamp: 8000, Key: true}, AccessUnit{Data: au2, Timestamp: 9024, Key: true})
	// An ADTS unit carries its AudioSpecificConfig (AAC-LC, 44.1 kHz,
	// stereo: 12 10) and rate; nothing else would tell them. A header
	// that says otherwise (48 kHz mono: 11 88) gives its own.
	for i, want := range []struct {
		hdr2, hdr3 byte
		config     []byte
		rate       int
	}{{0x50, 0x80, []byte{0x12, 0x10}, 44100}, {0x4c, 0x40, []byte{0x11, 0x88}, 48000}, {0x50, 0x80, []byte{0x12, 0x10}, 44100}} {
		frame := adts(au1)
		frame[2], frame[3] = want.hdr2, want.hdr3|frame[3]&0x3f
		out, err := d.Push(vpkt(uint16(14+i), uint32(10000+i*1024), true, frame...))
		if err != nil || len(out) != 1 {
			t.Fatalf("ADTS packet %d: %d units, %v", i, len(out), err)
		}
		if !bytes.Equal(out[0].Config, want.config) || out[0].SampleRate != want.rate {
			t.Errorf("ADTS unit %d: config %x rate %d, want %x %d", i, out[0].Config, out[0].SampleRate, want.config, want.rate)
		}
	}
}

func TestDepacketizerAACLowBitrate(t *testing.T) {
	// AAC-lbr: sizeLength 6, indexLength 2, one byte per AU header.
	d, err := NewAACDepacketizer(AACConfig{SizeLength: 6, IndexLength: 2, FrameSamples: 960})
	if err != nil {
		t.Fatal(err)
	}
	a, b := []byte{1, 2, 3}, []byte{4, 5}
	payload := append([]byte{0, 16, byte(len(a)) << 2, byte(len(b)) << 2}, append(a, b...)...)
	out, err := d.Push(vpkt(1, 0, true, payload...))
	if err != nil || len(out) != 2 || !bytes.Equal(out[0].Data, a) || !bytes.Equal(out[1].Data, b) || out[1].Timestamp != 960 {
		t.Fatalf("%v %v", out, err)
	}
}
