package flv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/mediakit/mediakit/pkg/media"
)

// ingestFixture holds real tracks from the clips and body builders.
type ingestFixture struct {
	avc, avc2, aac *media.Track
}

func newIngestFixture(t *testing.T) *ingestFixture {
	t.Helper()
	avc, aac := clipTracks(t, "h264_aac.flv")
	avc2, _ := clipTracks(t, "h264_bframes_aac.flv") // Main profile: another SPS
	if avc.SameConfig(avc2) {
		t.Fatal("the two clips share their H.264 configuration")
	}
	return &ingestFixture{avc: avc, avc2: avc2, aac: aac}
}

func videoBody(tr *media.Track, key bool, cts time.Duration) []byte {
	payload := media.AppendAVCC(nil, []byte{0x65, 0x88, 0x80, 0x40})
	return AppendVideoBody(nil, &media.Frame{Track: tr, Key: key, PTS: cts, Payload: payload})
}

func audioBody(tr *media.Track) []byte {
	return AppendAudioBody(nil, &media.Frame{Track: tr, Payload: []byte{0x21, 0x10, 0x04}})
}

func metadataPayload(t testing.TB, setDataFrame bool, entries ...amf0.ObjectEntry) []byte {
	t.Helper()
	d := amf0.Data{"onMetaData", amf0.ECMAArray(entries)}
	if setDataFrame {
		d = append(amf0.Data{"@setDataFrame"}, d...)
	}
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	mdVideo = amf0.ObjectEntry{Key: "videocodecid", Value: float64(7)}
	mdAudio = amf0.ObjectEntry{Key: "audiocodecid", Value: float64(10)}
)

// step is one input to an ingest, with what the sink must have seen after
// it: the number of SetTracks calls and of frames.
type step struct {
	do       func(in *Ingest) error
	declared int
	frames   int
	wantErr  bool
}

func TestIngest(t *testing.T) {
	fx := newIngestFixture(t)
	script := func(entries ...amf0.ObjectEntry) func(*Ingest) error {
		return func(in *Ingest) error { return in.Script(metadataPayload(t, true, entries...)) }
	}
	vseq := func(tr *media.Track) func(*Ingest) error {
		return func(in *Ingest) error { return in.Video(0, VideoSequenceHeaderBody(tr)) }
	}
	aseq := func(in *Ingest) error { return in.Audio(0, AudioSequenceHeaderBody(fx.aac)) }
	vframe := func(tr *media.Track, msec int, key bool) func(*Ingest) error {
		return func(in *Ingest) error { return in.Video(ms(msec), videoBody(tr, key, 0)) }
	}
	aframe := func(msec int) func(*Ingest) error {
		return func(in *Ingest) error { return in.Audio(ms(msec), audioBody(fx.aac)) }
	}
	flush := func(in *Ingest) error { return in.Flush() }
	// videoRun feeds frames at 40 ms from start (ms) to end (exclusive),
	// checking nothing until the last.
	videoRun := func(tr *media.Track, start, end int) func(*Ingest) error {
		return func(in *Ingest) error {
			for m := start; m < end; m += 40 {
				if err := in.Video(ms(m), videoBody(tr, m%1000 == 0, 0)); err != nil {
					return err
				}
			}
			return nil
		}
	}

	tests := []struct {
		name        string
		steps       []step
		wantTracks  [][]media.Codec // codecs of each SetTracks call
		wantDropped int
	}{
		{
			name: "metadata announces both: waits for both sequence headers",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: vseq(fx.avc)},
				{do: vframe(fx.avc, 0, true)},
				{do: vframe(fx.avc, 40, false)},
				{do: aseq, declared: 1, frames: 2},
				{do: aframe(0), declared: 1, frames: 3},
				{do: vframe(fx.avc, 80, false), declared: 1, frames: 4},
			},
			wantTracks: [][]media.Codec{{media.CodecH264, media.CodecAAC}},
		},
		{
			name: "metadata announces both: audio header first",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: aseq},
				{do: aframe(0)},
				{do: vseq(fx.avc), declared: 1, frames: 1},
			},
			wantTracks: [][]media.Codec{{media.CodecH264, media.CodecAAC}},
		},
		{
			name: "announced audio never comes: declared after 1 s of video",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: vseq(fx.avc)},
				{do: videoRun(fx.avc, 0, 1000)}, // 25 frames, 0..960 ms
				{do: vframe(fx.avc, 1000, true), declared: 1, frames: 26},
				{do: vframe(fx.avc, 1040, false), declared: 1, frames: 27},
			},
			wantTracks: [][]media.Codec{{media.CodecH264}},
		},
		{
			name: "announced audio never comes: the 1 s counts from the first held frame",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: vseq(fx.avc)},
				{do: videoRun(fx.avc, 5000, 5960)},
				{do: vframe(fx.avc, 5960, false)},
				{do: vframe(fx.avc, 6000, true), declared: 1, frames: 26},
			},
			wantTracks: [][]media.Codec{{media.CodecH264}},
		},
		{
			name: "no metadata: both headers declare at once",
			steps: []step{
				{do: vseq(fx.avc)},
				{do: aseq, declared: 1},
				{do: vframe(fx.avc, 0, true), declared: 1, frames: 1},
			},
			wantTracks: [][]media.Codec{{media.CodecH264, media.CodecAAC}},
		},
		{
			name: "no metadata, video only: declared after 1 s",
			steps: []step{
				{do: vseq(fx.avc)},
				{do: videoRun(fx.avc, 0, 1000)},
				{do: vframe(fx.avc, 1000, true), declared: 1, frames: 26},
			},
			wantTracks: [][]media.Codec{{media.CodecH264}},
		},
		{
			name: "metadata announces video only: declared on its header",
			steps: []step{
				{do: script(mdVideo)},
				{do: vseq(fx.avc), declared: 1},
			},
			wantTracks: [][]media.Codec{{media.CodecH264}},
		},
		{
			name: "frames before their sequence header are dropped",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: vframe(fx.avc, 0, true)},
				{do: aframe(0)},
				{do: aframe(23)},
				{do: vframe(fx.avc, 40, false)},
				{do: vseq(fx.avc)},
				{do: aseq, declared: 1},
				{do: vframe(fx.avc, 80, true), declared: 1, frames: 1},
			},
			wantTracks:  [][]media.Codec{{media.CodecH264, media.CodecAAC}},
			wantDropped: 4,
		},
		{
			name: "frames of another video codec are dropped",
			steps: []step{
				{do: script(mdVideo)},
				{do: vseq(fx.avc), declared: 1},
				{do: func(in *Ingest) error {
					return in.Video(0, videoBody(&media.Track{Codec: media.CodecH265}, true, 0))
				}, declared: 1},
			},
			wantTracks:  [][]media.Codec{{media.CodecH264}},
			wantDropped: 1,
		},
		{
			name: "changed SPS mid-stream declares a new track",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: vseq(fx.avc)},
				{do: aseq, declared: 1},
				{do: vframe(fx.avc, 0, true), declared: 1, frames: 1},
				{do: vseq(fx.avc), declared: 1, frames: 1}, // unchanged: nothing
				{do: aseq, declared: 1, frames: 1},
				{do: vseq(fx.avc2), declared: 2, frames: 1},
				{do: vframe(fx.avc2, 40, true), declared: 2, frames: 2},
			},
			wantTracks: [][]media.Codec{{media.CodecH264, media.CodecAAC}, {media.CodecH264, media.CodecAAC}},
		},
		{
			name: "configuration replaced before declaration",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: vseq(fx.avc)},
				{do: vframe(fx.avc, 0, true)},
				{do: vframe(fx.avc, 40, false)},
				{do: vseq(fx.avc2)},
				{do: vframe(fx.avc2, 80, true)},
				{do: aseq, declared: 1, frames: 1},
			},
			wantTracks:  [][]media.Codec{{media.CodecH264, media.CodecAAC}},
			wantDropped: 2,
		},
		{
			name: "Flush declares what it has",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: vseq(fx.avc)},
				{do: vframe(fx.avc, 0, true)},
				{do: vframe(fx.avc, 40, false)},
				{do: vframe(fx.avc, 80, false)},
				{do: flush, declared: 1, frames: 3},
				{do: flush, declared: 1, frames: 3},
				{do: vframe(fx.avc, 120, false), declared: 1, frames: 4},
			},
			wantTracks: [][]media.Codec{{media.CodecH264}},
		},
		{
			name: "Flush without tracks does nothing",
			steps: []step{
				{do: script(mdVideo, mdAudio)},
				{do: vframe(fx.avc, 0, true)},
				{do: flush},
			},
			wantDropped: 1,
		},
		{
			name: "G.711 declares on its first frame",
			steps: []step{
				{do: script(amf0.ObjectEntry{Key: "audiocodecid", Value: float64(7)})},
				{do: func(in *Ingest) error { return in.Audio(0, []byte{0x72, 0xd5, 0xd5}) }, declared: 1, frames: 1},
				{do: func(in *Ingest) error { return in.Audio(ms(20), []byte{0x72, 0xd5, 0xd5}) }, declared: 1, frames: 2},
			},
			wantTracks: [][]media.Codec{{media.CodecG711A}},
		},
		{
			name: "other data messages are ignored",
			steps: []step{
				{do: func(in *Ingest) error {
					b, _ := amf0.Data{"onTextData", amf0.Object{{Key: "text", Value: "hi"}}}.Marshal()
					return in.Script(b)
				}},
				{do: func(in *Ingest) error { return in.Script([]byte{0xff, 0x00}) }},
				{do: func(in *Ingest) error { return in.Script(make([]byte, MaxScriptSize+1)) }},
				{do: vseq(fx.avc)},
				{do: aseq, declared: 1},
			},
			wantTracks: [][]media.Codec{{media.CodecH264, media.CodecAAC}},
		},
		{
			name: "errors",
			steps: []step{
				// Unsupported codecs and undecodable MP3 are left out, not errors.
				{do: func(in *Ingest) error { return in.Video(0, []byte{0x22, 0, 0, 0}) }},
				{do: func(in *Ingest) error { return in.Audio(0, []byte{0x2f, 0xff}) }},
				{do: func(in *Ingest) error { return in.Audio(0, []byte{0xaf, 0, 0xff}) }, wantErr: true},
				{do: func(in *Ingest) error { return in.Video(0, []byte{0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe0, 0}) }, wantErr: true},
				{do: func(in *Ingest) error { return in.Video(0, []byte{0x17, 0, 0, 0, 0, 1}) }, wantErr: true},
			},
			wantDropped: 1, // the MP3 frame without a valid header
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recSink{}
			in := NewIngest(sink)
			for i, s := range tt.steps {
				err := s.do(in)
				if (err != nil) != s.wantErr {
					t.Fatalf("step %d: error %v, want error %v", i, err, s.wantErr)
				}
				if len(sink.declared) != s.declared || len(sink.frames) != s.frames {
					t.Fatalf("after step %d: %d SetTracks, %d frames; want %d, %d", i, len(sink.declared), len(sink.frames), s.declared, s.frames)
				}
			}
			sink.check(t)
			var got [][]media.Codec
			for _, tracks := range sink.declared {
				var codecs []media.Codec
				for _, tr := range tracks {
					codecs = append(codecs, tr.Codec)
				}
				got = append(got, codecs)
			}
			if !slices.EqualFunc(got, tt.wantTracks, slices.Equal) {
				t.Errorf("SetTracks calls %v, want %v", got, tt.wantTracks)
			}
			if in.Dropped != tt.wantDropped {
				t.Errorf("Dropped = %d, want %d", in.Dropped, tt.wantDropped)
			}
			// Frames reach the sink in order per track, with their timing.
			last := map[*media.Track]time.Duration{}
			for i, f := range sink.frames {
				if d, ok := last[f.Track]; ok && f.DTS <= d {
					t.Errorf("frame %d: DTS %v after %v", i, f.DTS, d)
				}
				last[f.Track] = f.DTS
			}
		})
	}
}

func TestIngestSPSChangeTrack(t *testing.T) {
	fx := newIngestFixture(t)
	sink := &recSink{}
	in := NewIngest(sink)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(in.Script(metadataPayload(t, false, mdVideo, mdAudio)))
	must(in.Video(0, VideoSequenceHeaderBody(fx.avc)))
	must(in.Audio(0, AudioSequenceHeaderBody(fx.aac)))
	must(in.Video(0, videoBody(fx.avc, true, 0)))
	must(in.Video(ms(40), VideoSequenceHeaderBody(fx.avc2)))
	must(in.Video(ms(40), videoBody(fx.avc2, true, 0)))
	must(in.Audio(ms(40), audioBody(fx.aac)))
	sink.check(t)
	if len(sink.declared) != 2 {
		t.Fatalf("%d SetTracks calls, want 2", len(sink.declared))
	}
	v1, a1 := sink.declared[0][0], sink.declared[0][1]
	v2, a2 := sink.declared[1][0], sink.declared[1][1]
	if v1 == v2 || !v2.SameConfig(fx.avc2) || !v1.SameConfig(fx.avc) {
		t.Error("the changed SPS did not make a new track")
	}
	if a1 != a2 {
		t.Error("the unchanged audio track was replaced")
	}
	if sink.frames[0].Track != v1 || sink.frames[1].Track != v2 || sink.frames[2].Track != a2 {
		t.Error("frames do not point to the track of their time")
	}
	if tracks := in.Tracks(); len(tracks) != 2 || tracks[0] != v2 || tracks[1] != a2 {
		t.Errorf("Tracks() = %v", tracks)
	}
}

// TestIngestProbeFrames: without timestamps advancing, detection gives up
// after a bounded number of frames rather than holding them forever.
func TestIngestProbeFrames(t *testing.T) {
	fx := newIngestFixture(t)
	sink := &recSink{}
	in := NewIngest(sink)
	if err := in.Script(metadataPayload(t, true, mdVideo, mdAudio)); err != nil {
		t.Fatal(err)
	}
	if err := in.Video(0, VideoSequenceHeaderBody(fx.avc)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < probeFrames; i++ {
		if len(sink.declared) != 0 {
			t.Fatalf("declared after %d frames", i)
		}
		if err := in.Video(0, videoBody(fx.avc, i == 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.declared) != 1 || len(sink.frames) != probeFrames {
		t.Fatalf("%d SetTracks, %d frames after %d frames", len(sink.declared), len(sink.frames), probeFrames)
	}
	sink.check(t)
}

// TestIngestLengthSize: NAL units with 1- or 2-byte lengths become the
// 4-byte form media.Frame carries.
func TestIngestLengthSize(t *testing.T) {
	fx := newIngestFixture(t)
	for _, lengthSize := range []int{1, 2, 4} {
		t.Run(string(rune('0'+lengthSize)), func(t *testing.T) {
			rec := media.AppendAVCConfig(nil, fx.avc.SPS, fx.avc.PPS)
			rec[4] = 0xfc | byte(lengthSize-1)
			seq := append([]byte{0x17, 0, 0, 0, 0}, rec...)
			nalus := [][]byte{{0x06, 5, 1}, {0x65, 0x88, 0x80, 0x40, 0x22}}
			frame := []byte{0x17, 1, 0, 0, 0}
			for _, n := range nalus {
				frame = append(frame, binary.BigEndian.AppendUint32(nil, uint32(len(n)))[4-lengthSize:]...)
				frame = append(frame, n...)
			}
			sink := &recSink{}
			in := NewIngest(sink)
			if err := in.Script(metadataPayload(t, true, mdVideo)); err != nil {
				t.Fatal(err)
			}
			if err := in.Video(0, seq); err != nil {
				t.Fatal(err)
			}
			if err := in.Video(0, frame); err != nil {
				t.Fatal(err)
			}
			if len(sink.frames) != 1 {
				t.Fatalf("%d frames", len(sink.frames))
			}
			if want := media.AppendAVCC(nil, nalus...); !bytes.Equal(sink.frames[0].Payload, want) {
				t.Errorf("payload % x, want % x", sink.frames[0].Payload, want)
			}
			// A truncated frame is an error.
			if err := in.Video(ms(40), frame[:len(frame)-1]); err == nil && lengthSize != 4 {
				t.Error("truncated frame accepted")
			}
			sink.check(t)
		})
	}
}

type failSink struct {
	recSink
	err error
}

func (s *failSink) SetTracks(tracks []*media.Track) error { return s.err }

func TestIngestSinkError(t *testing.T) {
	fx := newIngestFixture(t)
	sink := &failSink{err: errors.New("closed")}
	in := NewIngest(sink)
	if err := in.Video(0, VideoSequenceHeaderBody(fx.avc)); err != nil {
		t.Fatal(err)
	}
	err := in.Audio(0, AudioSequenceHeaderBody(fx.aac))
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("error %v, want the sink's", err)
	}
}
