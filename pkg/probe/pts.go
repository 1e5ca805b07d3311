package probe

import (
	"encoding/binary"
	"io"
	"os"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/mediakit/mediakit/pkg/media"
)

// Timestamp scans for durations. ffprobe gives an MPEG-TS or MPEG-PS file
// the span from the first PTS to the last PTS plus one frame, found by
// reading the file's head and its tail; these do the same on bounded
// windows, so probe time does not grow with the file.

// scanWindow is how much of the head and of the tail is scanned.
const scanWindow = 2 << 20

// ptsSpan is the timestamps seen for one kind (0 video, 1 audio), 90 kHz.
type ptsSpan struct {
	first, last int64
	ok          bool
}

type spans [2]ptsSpan

func (s *spans) add(kind int, pts int64, head bool) {
	sp := &s[kind]
	if !sp.ok {
		sp.first, sp.last, sp.ok = pts, pts, true
		return
	}
	if head && pts < sp.first {
		sp.first = pts
	}
	if pts > sp.last {
		sp.last = pts
	}
}

// pesPTS parses the PES packet header at b (b[0:3] = 00 00 01) and
// returns its stream's kind (0 video, 1 audio) and PTS.
func pesPTS(b []byte) (kind int, pts int64, ok bool) {
	kind, pts, _, ok = pesHeader(b)
	return kind, pts, ok && pts >= 0
}

// pesHeader parses the PES packet header at b (b[0:3] = 00 00 01) of an
// audio or video stream: its kind (0 video, 1 audio), PTS (-1 if none)
// and the length of the header, where the payload starts.
func pesHeader(b []byte) (kind int, pts int64, hdrLen int, ok bool) {
	if len(b) < 9 || b[0] != 0 || b[1] != 0 || b[2] != 1 {
		return 0, 0, 0, false
	}
	switch sid := b[3]; {
	case sid >= 0xE0 && sid <= 0xEF:
		kind = 0
	case sid >= 0xC0 && sid <= 0xDF:
		kind = 1
	default:
		return 0, 0, 0, false
	}
	h := b[6:]
	if h[0]&0xC0 == 0x80 { // MPEG-2 PES
		hdrLen = 9 + int(h[2])
		if h[1]&0x80 == 0 {
			return kind, -1, hdrLen, true
		}
		if len(h) < 8 {
			return 0, 0, 0, false
		}
		pts, ok = readPTS(h[3:8])
		return kind, pts, hdrLen, ok
	}
	// MPEG-1 system stream packet: stuffing, STD buffer, then the PTS.
	i := 0
	for i < len(h) && i < 16 && h[i] == 0xFF {
		i++
	}
	if i+2 <= len(h) && h[i]&0xC0 == 0x40 {
		i += 2
	}
	switch {
	case i < len(h) && h[i] == 0x0F: // no timestamps
		return kind, -1, 6 + i + 1, true
	case i+5 > len(h) || h[i]&0xE0 != 0x20:
		return 0, 0, 0, false
	}
	pts, ok = readPTS(h[i : i+5])
	n := 5
	if h[i]&0x10 != 0 { // and a DTS
		n = 10
	}
	return kind, pts, 6 + i + n, ok
}

func readPTS(p []byte) (int64, bool) {
	if p[0]&1 == 0 || p[2]&1 == 0 || p[4]&1 == 0 {
		return 0, false // marker bits
	}
	v := int64(p[0]>>1&7)<<30 | int64(p[1])<<22 | int64(p[2]>>1)<<15 | int64(p[3])<<7 | int64(p[4]>>1)
	return v, true
}

// audioES is the payload of a file head's first audio PES stream (the
// TS PID or PS stream_id it came in), for its bit rate.
type audioES struct {
	id   int // PID or stream_id; -1 until one is seen
	data []byte
}

func newAudioES() *audioES { return &audioES{id: -1} }

// add appends a PES payload of stream id, taking the first audio stream
// seen (kind 1) when none is yet.
func (a *audioES) add(id, kind int, payload []byte) {
	if a == nil {
		return
	}
	if a.id < 0 && kind == 1 {
		a.id = id
	}
	if id == a.id {
		a.data = append(a.data, payload...)
	}
}

// scanTS adds the PTS of every PES that starts in the 188-byte packets
// of b, and (when es is not nil) the payload of the first audio stream's
// packets to es.
func scanTS(b []byte, s *spans, head bool, es *audioES) {
	i := 0
	for i+188 <= len(b) {
		if b[i] != 0x47 || (i+376 <= len(b) && b[i+188] != 0x47) {
			i++ // resynchronise
			continue
		}
		p := b[i : i+188]
		i += 188
		pid := int(p[1]&0x1F)<<8 | int(p[2])
		off := 4
		switch p[3] >> 4 & 3 {
		case 1:
		case 3:
			off += 1 + int(p[4])
		default:
			continue
		}
		if off >= len(p) {
			continue
		}
		if p[1]&0x40 == 0 { // no payload unit start: a PES continues
			if es != nil && pid == es.id {
				es.add(pid, 1, p[off:])
			}
			continue
		}
		if off+14 > len(p) {
			continue
		}
		kind, pts, hl, ok := pesHeader(p[off:])
		if !ok {
			continue
		}
		if pts >= 0 {
			s.add(kind, pts, head)
		}
		if off+hl <= len(p) {
			es.add(pid, kind, p[off+hl:])
		}
	}
}

// scanPS adds the PTS of every audio or video PES packet of an MPEG-PS
// byte range, and (when es is not nil) the payload of the first audio
// stream's packets to es.
func scanPS(b []byte, s *spans, head bool, es *audioES) {
	for i := 0; i+20 <= len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 || b[i+3] < 0xC0 || b[i+3] > 0xEF {
			continue
		}
		kind, pts, hl, ok := pesHeader(b[i:])
		if !ok {
			continue
		}
		if pts >= 0 {
			s.add(kind, pts, head)
		}
		end := i + 6 + int(binary.BigEndian.Uint16(b[i+4:]))
		if end > i+6 && hl <= end-i {
			if i+hl <= len(b) {
				es.add(int(b[i+3]), kind, b[i+hl:min(end, len(b))])
			}
			i = end - 1
		}
	}
}

// spanDuration is the duration of a file from its head and tail spans:
// the last PTS plus one frame (frameDur per kind, seconds) minus the
// first PTS, over both kinds; -1 when no timestamp was found.
func spanDuration(s spans, frameDur [2]float64) float64 {
	start, end := 0.0, 0.0
	found := false
	for k, sp := range s {
		if !sp.ok {
			continue
		}
		last := sp.last
		if last < sp.first { // 33-bit wrap
			last += 1 << 33
		}
		f, l := float64(sp.first)/90000, float64(last)/90000+frameDur[k]
		if !found || f < start {
			start = f
		}
		if !found || l > end {
			end = l
		}
		found = true
	}
	if !found {
		return -1
	}
	return end - start
}

// headTail reads up to scanWindow bytes from the head and from the tail of
// f (the tail only when it does not overlap the head).
func headTail(f *os.File, size int64) (head, tail []byte, err error) {
	n := min(size, scanWindow)
	head = make([]byte, n)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, n), head); err != nil {
		return nil, nil, err
	}
	if size > scanWindow {
		off := max(size-scanWindow, scanWindow)
		tail = make([]byte, size-off)
		if _, err := io.ReadFull(io.NewSectionReader(f, off, size-off), tail); err != nil {
			return nil, nil, err
		}
	}
	return head, tail, nil
}

// flvLastTimestamp is ffmpeg's FLV duration when onMetaData has none: the
// timestamp of the last tag, found through the trailing PreviousTagSize
// fields (going back past tags stamped 0), in milliseconds; -1 if none.
func flvLastTimestamp(f io.ReaderAt, size int64) int64 {
	end := size
	var buf [11]byte
	for range 16 {
		if end < 13+4 {
			return -1
		}
		if _, err := f.ReadAt(buf[:4], end-4); err != nil {
			return -1
		}
		tagSize := int64(binary.BigEndian.Uint32(buf[:4]))
		if tagSize < 11 || tagSize > end-4-9 {
			return -1
		}
		start := end - 4 - tagSize
		if _, err := f.ReadAt(buf[:], start); err != nil {
			return -1
		}
		dataSize := int64(buf[1])<<16 | int64(buf[2])<<8 | int64(buf[3])
		if dataSize+11 != tagSize {
			return -1
		}
		ts := int64(buf[4])<<16 | int64(buf[5])<<8 | int64(buf[6]) | int64(buf[7])<<24
		if ts != 0 {
			return ts
		}
		end = start
	}
	return -1
}

// analyzeSeconds is how much of each stream ffprobe's stream analysis
// reads by default (its analyzeduration, 5 s).
const analyzeSeconds = 5

// esBitRate is ffprobe's bit_rate of an ADTS (AAC) or MPEG audio
// elementary stream: libavcodec's parser keeps a running mean (in
// integers) of each frame's rate, over the frames the stream analysis
// reads; here the frames starting in the first analyzeSeconds. 0 when no
// frame parses.
func esBitRate(b []byte, codec media.Codec) int64 {
	var mean, n int64
	t := 0.0
	for i := 0; i+7 <= len(b) && t < analyzeSeconds; {
		size, bps, dur := audioFrame(b[i:], codec)
		if size == 0 || i+size > len(b) {
			i++ // resynchronise
			continue
		}
		n++
		mean += (bps - mean) / n
		t += dur
		i += size
	}
	return mean
}

// audioFrame parses the header of the ADTS or MPEG audio frame at b: its
// size in bytes, rate in bits per second as ffmpeg's parsers compute it,
// and duration in seconds; size 0 if b does not start with one.
func audioFrame(b []byte, codec media.Codec) (size int, bps int64, dur float64) {
	switch codec {
	case media.CodecAAC:
		if len(b) < 7 || b[0] != 0xFF || b[1]&0xF6 != 0xF0 {
			return 0, 0, 0
		}
		size = int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		// the sampling frequency index read through a two-byte
		// AudioSpecificConfig (AAC LC, stereo), for its rate table
		idx := b[2] >> 2 & 0xF
		var c mpeg4audio.AudioSpecificConfig
		if size < 7 || c.Unmarshal([]byte{2<<3 | idx>>1, idx&1<<7 | 2<<3}) != nil || c.SampleRate <= 0 {
			return 0, 0, 0
		}
		samples := int64(b[6]&3+1) * 1024
		rate := int64(c.SampleRate)
		return size, int64(size) * 8 * rate / samples, float64(samples) / float64(rate)
	case media.CodecMP3:
		var h mpeg1audio.FrameHeader
		if h.Unmarshal(b) != nil || h.SampleRate <= 0 {
			return 0, 0, 0
		}
		return media.MP3FrameLen(&h), int64(h.Bitrate), float64(h.SampleCount()) / float64(h.SampleRate)
	}
	return 0, 0, 0
}
