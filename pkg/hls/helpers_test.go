package hls

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// clipFrames reads an FLV clip into tracks and frames (in file order).
func clipFrames(t testing.TB, name string) ([]*media.Track, []*media.Frame) {
	t.Helper()
	return clipframes.Read(t, name)
}

// hevcFrames builds 25 fps frames from the raw H.265 clip.
func hevcFrames(t testing.TB) (*media.Track, []*media.Frame) {
	t.Helper()
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	var vps, sps, pps []byte
	for _, n := range aus[0] {
		switch (n[0] >> 1) & 0x3f {
		case 32:
			vps = n
		case 33:
			sps = n
		case 34:
			pps = n
		}
	}
	track, err := media.NewH265Track(vps, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]*media.Frame, len(aus))
	for i, au := range aus {
		payload := media.AppendAVCC(nil, au...)
		ts := time.Duration(i) * 40 * time.Millisecond
		frames[i] = &media.Frame{Track: track, DTS: ts, PTS: ts, Key: media.IsRandomAccess(media.CodecH265, payload), Payload: payload}
	}
	return track, frames
}

// segmentAll runs frames through a Segmenter and returns its segments.
func segmentAll(t testing.TB, tracks []*media.Track, frames []*media.Frame, target time.Duration) ([]*Segment, *Segmenter) {
	t.Helper()
	var segs []*Segment
	s, err := NewSegmenter(tracks, target, func(seg *Segment) { segs = append(segs, seg) })
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := s.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	s.Flush()
	return segs, s
}

// tsPacket is what the tests read back from a segment's packets.
type tsPacket struct {
	pid          int
	pusi         bool
	hasPayload   bool
	cc           uint8
	randomAccess bool
	pcr          bool
	pts, dts     int64 // 90 kHz; -1 if absent (or not a PES start)
	streamID     byte
}

// parseTS splits MPEG-TS into packets, failing the test on a bad one.
func parseTS(t testing.TB, data []byte) []tsPacket {
	t.Helper()
	if len(data)%tsPacketSize != 0 {
		t.Fatalf("TS length %d is not a multiple of 188", len(data))
	}
	var out []tsPacket
	for off := 0; off < len(data); off += tsPacketSize {
		pkt := data[off : off+tsPacketSize]
		if pkt[0] != 0x47 {
			t.Fatalf("packet %d: sync byte %#x", off/tsPacketSize, pkt[0])
		}
		p := tsPacket{pid: packetPID(pkt), pusi: pkt[1]&0x40 != 0, hasPayload: pkt[3]&0x10 != 0, cc: pkt[3] & 0x0f, pts: -1, dts: -1}
		payload := pkt[4:]
		if pkt[3]&0x20 != 0 {
			afLen := int(payload[0])
			if afLen > 0 {
				p.randomAccess = payload[1]&0x40 != 0
				p.pcr = payload[1]&0x10 != 0
			}
			payload = payload[1+afLen:]
		}
		if p.pusi && p.pid != 0 && len(payload) >= 14 && payload[0] == 0 && payload[1] == 0 && payload[2] == 1 {
			p.streamID = payload[3]
			flags := payload[7] >> 6
			if flags&2 != 0 {
				p.pts = readTimestamp(payload[9:])
				p.dts = p.pts
			}
			if flags == 3 {
				p.dts = readTimestamp(payload[14:])
			}
		}
		out = append(out, p)
	}
	return out
}

func readTimestamp(b []byte) int64 {
	return int64(b[0]>>1&0x07)<<30 | int64(binary.BigEndian.Uint16(b[1:])>>1)<<15 | int64(binary.BigEndian.Uint16(b[3:])>>1)
}

// writeFiles writes segments and a playlist into dir.
func writeFiles(t testing.TB, dir string, segs []*Segment, playlist []byte) string {
	t.Helper()
	for _, s := range segs {
		if err := os.WriteFile(filepath.Join(dir, SegmentURI(s.Seq)), s.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "playlist.m3u8")
	if err := os.WriteFile(p, playlist, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func concat(segs []*Segment) []byte {
	var b bytes.Buffer
	for _, s := range segs {
		b.Write(s.Data)
	}
	return b.Bytes()
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
