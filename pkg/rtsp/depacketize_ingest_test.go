package rtsp

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

func dptAAC() *format.MPEG4Audio {
	return &format.MPEG4Audio{PayloadTyp: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}}
}

// dptAACPacket is one AAC access unit of 1024 samples at RTP time ts.
func dptAACPacket(t *testing.T, f *format.MPEG4Audio, seq uint16, ts uint32) *rtp.Packet {
	t.Helper()
	enc, err := f.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := enc.Encode([][]byte{{0x21, 0x10, byte(seq)}})
	if err != nil || len(pkts) != 1 {
		t.Fatalf("%d packets, %v", len(pkts), err)
	}
	p := pkts[0]
	p.SequenceNumber, p.Timestamp = seq, ts
	return p
}

func TestIngestChoosesFormats(t *testing.T) {
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h1 := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	h2 := &format.H264{PayloadTyp: 98, PacketizationMode: 1}
	vp8 := &format.VP8{PayloadTyp: 99}
	aac := dptAAC()
	in, err := NewIngest(&cltSink{}, []format.Format{vp8, h1, aac, h2}, IngestOptions{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Formats(); len(got) != 2 || got[0] != h1 || got[1] != aac {
		t.Fatalf("chosen formats %v", got)
	}
	st := in.Stats()
	if strings.Join(st.DroppedFormats, ",") != "VP8/90000,H264/90000" {
		t.Errorf("dropped %v", st.DroppedFormats)
	}
	if n := strings.Count(logs.String(), "dropping track"); n != 2 || !strings.Contains(logs.String(), "VP8/90000") {
		t.Errorf("log:\n%s", logs.String())
	}
	// a packet of a format not chosen is ignored
	if err := in.WritePacket(vp8, dptPkt(1, 0, true, 1, 2, 3), 0); err != nil || in.Stats().Video.Packets != 0 {
		t.Errorf("packet of a dropped format: %v", err)
	}

	_, err = NewIngest(&cltSink{}, []format.Format{vp8, &format.MJPEG{}}, IngestOptions{})
	if !errors.Is(err, ErrNoUsableTrack) || !strings.Contains(err.Error(), "VP8/90000") || !strings.Contains(err.Error(), "H.264") {
		t.Errorf("no usable track: %v", err)
	}
	if _, err := NewIngest(&cltSink{}, nil, IngestOptions{}); !errors.Is(err, ErrNoUsableTrack) {
		t.Errorf("no media: %v", err)
	}
}

// TestIngestHoldsUntilVideoKnown: H.264 without parameter sets in the
// SDP and AAC: audio is held until the first keyframe brings the SPS and
// PPS, then both tracks are declared at once and the held audio follows;
// a keyframe with other parameter sets declares the tracks again.
func TestIngestHoldsUntilVideoKnown(t *testing.T) {
	sps, pps, aus := dptH264Clip(t)
	idr := aus[0][len(aus[0])-1]
	p1 := aus[1][len(aus[1])-1]
	h := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	aac := dptAAC()
	sink := &cltSink{}
	in, err := NewIngest(sink, []format.Format{h, aac}, IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // 107 ms of audio
		if err := in.WritePacket(aac, dptAACPacket(t, aac, uint16(i), uint32(i*1024)), int64(i*1024)); err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.sets) != 0 || len(sink.frames) != 0 {
		t.Fatalf("declared before the video track was known: %v", sink.sets)
	}
	if err := in.WritePacket(h, dptPkt(1, 9000, true, dptSTAPA(sps, pps, idr)...), 9000); err != nil {
		t.Fatal(err)
	}
	if len(sink.sets) != 1 || len(sink.sets[0]) != 2 || sink.sets[0][0].Codec != media.CodecH264 || sink.sets[0][1].Codec != media.CodecAAC {
		t.Fatalf("tracks %v, want H.264 and AAC", sink.sets)
	}
	if len(sink.frames) != 6 || !sink.frames[5].Key || sink.frames[5].Track.Kind() != media.KindVideo {
		t.Fatalf("%d frames after the keyframe, want the 5 held audio frames and the keyframe", len(sink.frames))
	}
	_ = in.WritePacket(h, dptPkt(2, 12600, true, p1...), 12600)
	pps2 := append(bytes.Clone(pps), 0x80)
	_ = in.WritePacket(h, dptPkt(3, 16200, true, dptSTAPA(sps, pps2, idr)...), 16200)
	if len(sink.sets) != 2 || !bytes.Equal(sink.sets[1][0].PPS, pps2) || sink.sets[1][1] != sink.sets[0][1] {
		t.Fatalf("after a new PPS: %d SetTracks, want 2 with the new video track and the same audio track", len(sink.sets))
	}
	if st := in.Stats(); st.Frames != 8 || st.TrackChanges != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestIngestHoldIsBounded: video that never brings its parameter sets
// does not hold audio back for more than a second; the video track
// joins when it comes.
func TestIngestHoldIsBounded(t *testing.T) {
	sps, pps, aus := dptH264Clip(t)
	idr := aus[0][len(aus[0])-1]
	h := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	aac := dptAAC()
	sink := &cltSink{}
	in, err := NewIngest(sink, []format.Format{h, aac}, IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// a keyframe without parameter sets: dropped
	_ = in.WritePacket(h, dptPkt(1, 0, true, idr...), 0)
	for i := range 60 { // 1.28 s
		if err := in.WritePacket(aac, dptAACPacket(t, aac, uint16(i), uint32(i*1024)), int64(i*1024)); err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.sets) != 1 || len(sink.sets[0]) != 1 || sink.sets[0][0].Codec != media.CodecAAC {
		t.Fatalf("after 1.28 s of audio: tracks %v, want AAC alone", sink.sets)
	}
	if v, a, _ := sink.counts(); v != 0 || a != 60 {
		t.Fatalf("%d video and %d audio frames", v, a)
	}
	if st := in.Stats(); st.Video.DroppedNoParams != 1 {
		t.Errorf("video stats %+v", st.Video)
	}
	_ = in.WritePacket(h, dptPkt(2, 90000, true, dptSTAPA(sps, pps, idr)...), 90000)
	if len(sink.sets) != 2 || len(sink.sets[1]) != 2 {
		t.Fatalf("after the first keyframe with parameter sets: %v", sink.sets)
	}
}

// TestIngestFlush: a session that ends while frames are held declares
// what it has.
func TestIngestFlush(t *testing.T) {
	aac := dptAAC()
	sink := &cltSink{}
	in, err := NewIngest(sink, []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}, aac}, IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = in.WritePacket(aac, dptAACPacket(t, aac, 1, 0), 0)
	if len(sink.sets) != 0 {
		t.Fatal("declared early")
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(sink.sets) != 1 || len(sink.frames) != 1 {
		t.Fatalf("after Flush: %d SetTracks, %d frames", len(sink.sets), len(sink.frames))
	}
}
