package es

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// Fuzz scripts: an options byte (bits 0-1 OnlyTrack, bit 2 ExpectVideo,
// bit 3 ExpectAudio), then calls, each an op byte (low 3 bits: the call,
// high 5 bits: a timestamp step), a 2-byte length and that many bytes.
const (
	opH264 = iota
	opH265
	opADTS
	opAACRaw // the first 2 bytes are the config
	opG711   // A-law on an even step, µ-law on an odd one
	opOpus   // MPEG audio (WriteMP3) on an odd step
	opResync
	opFlush
)

// script builds a fuzz script.
type script []byte

func newScript(opts byte) script { return script{opts} }

func (s script) call(op, step byte, data []byte) script {
	s = append(s, step<<3|op)
	s = binary.BigEndian.AppendUint16(s, uint16(len(data)))
	return append(s, data...)
}

// runScript plays a script into an ingest and checks its invariants.
func runScript(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	o := data[0]
	sink := &recSink{}
	in := NewIngest(sink, Options{OnlyTrack: int(o & 3), ExpectVideo: o&4 != 0, ExpectAudio: o&8 != 0})
	var dts time.Duration
	for data = data[1:]; len(data) >= 3; {
		op, step := data[0]&7, data[0]>>3
		n := min(int(binary.BigEndian.Uint16(data[1:])), len(data)-3)
		arg := data[3 : 3+n]
		data = data[3+n:]
		dts += time.Duration(int(step)-8) * 10 * time.Millisecond
		pts := dts + time.Duration(step&3)*40*time.Millisecond
		// Errors are the input's fault: the ingest must stay sound.
		switch op {
		case opH264:
			_ = in.WriteVideo(media.CodecH264, pts, dts, arg)
		case opH265:
			_ = in.WriteVideo(media.CodecH265, pts, dts, arg)
		case opADTS:
			_ = in.WriteAAC(dts, arg)
		case opAACRaw:
			c := min(2, len(arg))
			_ = in.WriteAACRaw(dts, arg[:c], arg[c:])
		case opG711:
			codec := media.CodecG711A
			if step&1 != 0 {
				codec = media.CodecG711U
			}
			_ = in.WriteG711(codec, dts, arg)
		case opOpus:
			if step&1 != 0 {
				_ = in.WriteMP3(dts, arg)
			} else {
				_ = in.WriteOpus(dts, arg)
			}
		case opResync:
			in.ResyncVideo()
		case opFlush:
			if err := in.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if len(in.pending) > probeFrames || in.pendingBytes > maxHeldBytes+MaxAccessUnitSize {
			t.Fatalf("%d frames, %d bytes held", len(in.pending), in.pendingBytes)
		}
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(in.pending) != 0 && len(in.Tracks()) > 0 {
		t.Fatalf("%d frames held after Flush", len(in.pending))
	}
	sink.check(t)
	if s := in.Stats(); s.Frames != int64(len(sink.frames)) {
		t.Fatalf("Stats.Frames %d, sink got %d", s.Frames, len(sink.frames))
	}
	for _, f := range sink.frames {
		if f.Track.Kind() != media.KindVideo {
			continue
		}
		// A whole AVCC payload with a picture in it.
		size, picture := 0, false
		media.EachNALU(f.Payload, func(n []byte) bool {
			size += 4 + len(n)
			k := classify(f.Track.Codec, n).kind
			picture = picture || k == naluSlice || k == naluKeySlice
			return true
		})
		if size != len(f.Payload) || !picture {
			t.Fatalf("video payload of %d bytes: %d in NAL units, picture %v", len(f.Payload), size, picture)
		}
		if f.PTS < f.DTS {
			t.Fatalf("PTS %v before DTS %v", f.PTS, f.DTS)
		}
	}
}

func FuzzIngest(f *testing.F) {
	// More seeds, built from the clips, are in testdata/fuzz/FuzzIngest.
	f.Add([]byte(newScript(0).
		call(opH264, 8, annexB([]byte{0x67, 0x42, 0xc0, 0x0d}, []byte{0x68, 0xce}, []byte{0x65, 0x88})).
		call(opG711, 10, make([]byte, 160))))
	f.Add([]byte(newScript(8).call(opADTS, 12, adts([]byte{0x12, 0x10}, []byte{1, 2, 3}))))
	f.Add([]byte(newScript(4).call(opOpus, 8, []byte{0xfc}).call(opFlush, 8, nil)))
	f.Add([]byte(newScript(8).call(opOpus, 9, slices.Concat(mp3Frame(false), mp3Frame(true), []byte{0xff, 0xfb})).call(opFlush, 8, nil)))
	f.Fuzz(runScript)
}
