package rtsp

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
	psdp "github.com/pion/sdp/v3"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/media"
)

// pktRTP turns a frame's packet list into RTP packets numbered from seq,
// the way a player sends them.
func pktRTP(f *media.Frame, m *outMedia, seq *uint16, ts uint32) []*rtp.Packet {
	var out []*rtp.Packet
	EachPacket(FramePackets(f), func(marker bool, off uint32, payload []byte) bool {
		out = append(out, &rtp.Packet{
			Header:  rtp.Header{Version: 2, Marker: marker, PayloadType: m.pt, SequenceNumber: *seq, Timestamp: ts + off, SSRC: 1},
			Payload: append([]byte(nil), payload...),
		})
		*seq++
		return true
	})
	return out
}

// pktNALUs returns the NAL units of an AVCC payload without parameter
// sets, which the packetizer may add to keyframes and the depacketizer
// keeps in the track.
func pktNALUs(c media.Codec, avcc []byte) [][]byte {
	var out [][]byte
	media.EachNALU(avcc, func(n []byte) bool {
		if len(n) == 0 {
			return true
		}
		if c == media.CodecH264 && (n[0]&0x1f == 7 || n[0]&0x1f == 8 || n[0]&0x1f == 9) {
			return true
		}
		if c == media.CodecH265 {
			if t := (n[0] >> 1) & 0x3f; t >= 32 && t <= 35 {
				return true
			}
		}
		out = append(out, n)
		return true
	})
	return out
}

// pktRoundTrip packetizes frames as a player does, describes their
// tracks in an SDP, reads that SDP back and depacketizes: every frame
// must come back with the same content, key flag and timestamps.
func pktRoundTrip(t *testing.T, tracks []*media.Track, frames []*media.Frame) {
	t.Helper()
	desc, medias, skipped, err := describeTracks(tracks)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("describe: %v (skipped %v)", err, skipped)
	}
	sdp, err := desc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var raw psdp.SessionDescription
	var back description.Session
	if err := raw.Unmarshal(sdp); err != nil {
		t.Fatalf("SDP does not parse back: %v\n%s", err, sdp)
	}
	if err := back.Unmarshal2(&raw); err != nil {
		t.Fatalf("SDP does not parse back: %v\n%s", err, sdp)
	}
	deps := map[media.Kind]*Depacketizer{}
	for i, m := range back.Medias {
		f := m.Formats[0]
		tr, err := TrackFromFormat(f)
		if err != nil {
			t.Fatalf("track of %s: %v", FormatName(f), err)
		}
		if want := pickKind(tracks, medias[i].kind); tr == nil || !pktSameConfig(tr, want) {
			t.Errorf("%s: SDP track %v differs from %v", FormatName(f), tr, pickKind(tracks, medias[i].kind))
		}
		d, err := NewDepacketizer(f)
		if err != nil {
			t.Fatal(err)
		}
		deps[medias[i].kind] = d
	}
	seqs := map[media.Kind]*uint16{media.KindVideo: new(uint16), media.KindAudio: new(uint16)}
	var got []*media.Frame
	for _, f := range frames {
		var m *outMedia
		for _, om := range medias {
			if om.kind == f.Track.Kind() {
				m = om
			}
		}
		d := deps[f.Track.Kind()]
		pts := ticks(f.PTS, m.clock)
		for _, p := range pktRTP(f, m, seqs[f.Track.Kind()], uint32(pts)) {
			out, err := d.Decode(p, pts+int64(p.Timestamp-uint32(pts)))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got = append(got, out...)
		}
	}
	// Video comes out one access unit late (the next one ends it).
	byKind := func(fs []*media.Frame, k media.Kind) []*media.Frame {
		var out []*media.Frame
		for _, f := range fs {
			if f.Track.Kind() == k {
				out = append(out, f)
			}
		}
		return out
	}
	for _, k := range []media.Kind{media.KindVideo, media.KindAudio} {
		in, out := byKind(frames, k), byKind(got, k)
		if len(in) == 0 {
			continue
		}
		if len(out) < len(in)-1 || len(out) > len(in) {
			t.Fatalf("%s: %d frames in, %d out", k, len(in), len(out))
		}
		for i, o := range out {
			f := in[i]
			same := bytes.Equal(o.Payload, f.Payload)
			if k == media.KindVideo {
				a, b := pktNALUs(f.Track.Codec, f.Payload), pktNALUs(f.Track.Codec, o.Payload)
				same = len(a) == len(b)
				for j := 0; same && j < len(a); j++ {
					same = bytes.Equal(a[j], b[j])
				}
			}
			if !same || o.Key != f.Key || (o.PTS-f.PTS).Abs() > time.Millisecond {
				t.Fatalf("%s frame %d: key %v pts %v (%d bytes), want key %v pts %v (%d bytes)", k, i, o.Key, o.PTS, len(o.Payload),
					f.Key, f.PTS, len(f.Payload))
			}
		}
	}
}

// pktSameConfig compares tracks, AAC by its decoded configuration: an
// SDP carries the AudioSpecificConfig without the SBR sync extension FLV
// encoders append (121056e500 becomes 1210).
func pktSameConfig(a, b *media.Track) bool {
	if a.Codec != media.CodecAAC || b.Codec != media.CodecAAC {
		return a.SameConfig(b)
	}
	var ca, cb mpeg4audio.AudioSpecificConfig
	return ca.Unmarshal(a.AACConfig) == nil && cb.Unmarshal(b.AACConfig) == nil && ca == cb
}

func pickKind(tracks []*media.Track, k media.Kind) *media.Track {
	for _, t := range tracks {
		if t.Kind() == k {
			return t
		}
	}
	return nil
}

func TestPacketizeH264AAC(t *testing.T) {
	for _, clip := range []string{"h264_aac.flv", "h264_bframes_aac.flv"} {
		t.Run(clip, func(t *testing.T) {
			tracks, frames := clipframes.Read(t, clip)
			pktRoundTrip(t, tracks, frames)
		})
	}
}

func TestPacketizeH265(t *testing.T) {
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	var vps, sps, pps []byte
	var frames []*media.Frame
	for i, au := range aus {
		key := false
		var payload []byte
		for _, n := range au {
			switch typ := (n[0] >> 1) & 0x3f; {
			case typ == 32:
				vps = n
			case typ == 33:
				sps = n
			case typ == 34:
				pps = n
			case typ >= 16 && typ <= 23:
				key = true
				payload = media.AppendAVCC(payload, n)
			default:
				payload = media.AppendAVCC(payload, n)
			}
		}
		frames = append(frames, &media.Frame{DTS: time.Duration(i) * 40 * time.Millisecond,
			PTS: time.Duration(i) * 40 * time.Millisecond, Key: key, Payload: payload})
	}
	tr, err := media.NewH265Track(vps, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		f.Track = tr
	}
	pktRoundTrip(t, []*media.Track{tr}, frames)
}

func TestPacketizeAudio(t *testing.T) {
	pcma, _ := media.NewG711Track(media.CodecG711A, 8000, 1)
	pcmu, _ := media.NewG711Track(media.CodecG711U, 16000, 2)
	opus, _ := media.NewOpusTrack(2)
	for _, tr := range []*media.Track{pcma, pcmu, opus} {
		t.Run(tr.String(), func(t *testing.T) {
			var frames []*media.Frame
			for i := range 20 {
				n := 160 * tr.Channels
				if tr.Codec == media.CodecOpus {
					n = 60 + i
				}
				frames = append(frames, &media.Frame{Track: tr, DTS: time.Duration(i) * 20 * time.Millisecond,
					PTS: time.Duration(i) * 20 * time.Millisecond, Key: true, Payload: bytes.Repeat([]byte{byte(i + 1)}, n)})
			}
			pktRoundTrip(t, []*media.Track{tr}, frames)
		})
	}
}

// TestPacketizeLongG711: a G.711 frame longer than a packet spans
// packets whose timestamps advance by their samples.
func TestPacketizeLongG711(t *testing.T) {
	tr, _ := media.NewG711Track(media.CodecG711A, 8000, 1)
	f := &media.Frame{Track: tr, Key: true, Payload: make([]byte, 3000)}
	var offs []uint32
	var sizes []int
	EachPacket(FramePackets(f), func(_ bool, off uint32, p []byte) bool {
		offs = append(offs, off)
		sizes = append(sizes, len(p))
		return true
	})
	if len(offs) != 3 || offs[1] != uint32(sizes[0]) || offs[2] != uint32(sizes[0]+sizes[1]) || sizes[0]+sizes[1]+sizes[2] != 3000 {
		t.Fatalf("packets at %v of %v bytes", offs, sizes)
	}
	if PacketCount(FramePackets(f)) != 3 {
		t.Fatalf("PacketCount %d", PacketCount(FramePackets(f)))
	}
}

// TestFramePacketsShared: a frame is packetized once; every player gets
// the same bytes, even when they ask at the same moment.
func TestFramePacketsShared(t *testing.T) {
	_, frames := clipframes.Read(t, "h264_aac.flv")
	f := frames[0]
	lists := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i] = FramePackets(f)
		}()
	}
	wg.Wait()
	for i, l := range lists {
		if len(l) == 0 || &l[0] != &lists[0][0] {
			t.Fatalf("player %d got its own packets", i)
		}
	}
}

// TestKeyframeParameterSets: a keyframe without SPS/PPS gets the track's
// in front; one that has them is left alone.
func TestKeyframeParameterSets(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_only.flv")
	tr := tracks[0]
	var key *media.Frame
	for _, f := range frames {
		if f.Key {
			key = f
			break
		}
	}
	au := accessUnit(key, tr, media.CodecH264)
	if !bytes.Equal(au[0], tr.SPS) || !bytes.Equal(au[1], tr.PPS) {
		t.Fatalf("keyframe starts with %x %x, want SPS and PPS", au[0][:1], au[1][:1])
	}
	with := &media.Frame{Track: tr, Key: true, Payload: media.AppendAVCC(nil, tr.SPS, tr.PPS, []byte{0x65, 1, 2})}
	if got := accessUnit(with, tr, media.CodecH264); len(got) != 3 {
		t.Fatalf("keyframe with parameter sets: %d NAL units, want 3", len(got))
	}
	inter := &media.Frame{Track: tr, Payload: media.AppendAVCC(nil, []byte{0x41, 1})}
	if got := accessUnit(inter, tr, media.CodecH264); len(got) != 1 {
		t.Fatalf("inter frame: %d NAL units, want 1", len(got))
	}
}

func TestDescribeTracks(t *testing.T) {
	tracks, _ := clipframes.Read(t, "h264_aac.flv")
	mp3 := &media.Track{Codec: media.CodecMP3, SampleRate: 44100, Channels: 2}
	pcma, _ := media.NewG711Track(media.CodecG711A, 8000, 1)
	desc, medias, skipped, err := describeTracks(append([]*media.Track{mp3, {Codec: media.CodecUnknown}}, tracks...))
	if err != nil {
		t.Fatal(err)
	}
	if len(medias) != 2 || medias[0].kind != media.KindVideo || medias[1].codec != media.CodecMP3 || len(skipped) != 2 {
		t.Fatalf("medias %+v skipped %v: want video, then the first audio track (MP3), the unknown one and the AAC one skipped", medias, skipped)
	}
	sdp, _ := desc.Marshal()
	for _, want := range []string{"a=rtpmap:96 H264/90000", "sprop-parameter-sets=", "packetization-mode=1", "m=audio 0 RTP/AVP 14"} {
		if !bytes.Contains(sdp, []byte(want)) {
			t.Errorf("SDP lacks %q:\n%s", want, sdp)
		}
	}
	desc, _, _, err = describeTracks([]*media.Track{pcma})
	if err != nil {
		t.Fatal(err)
	}
	if sdp, _ = desc.Marshal(); !bytes.Contains(sdp, []byte("a=rtpmap:8 PCMA/8000")) {
		t.Errorf("G.711 A-law SDP:\n%s", sdp)
	}
	if _, _, _, err := describeTracks([]*media.Track{{Codec: media.CodecUnknown}}); err == nil {
		t.Error("a stream without a playable track described")
	}
	if _, err := FormatForTrack(&media.Track{Codec: media.CodecH264}); err == nil {
		t.Error("an H.264 track without SPS/PPS described")
	}
}

// pktPayloadType reads the payload type of an RTP header.
func pktPayloadType(h []byte) uint8 { return h[1] & 0x7f }

// pktSeq reads the sequence number of an RTP header.
func pktSeq(h []byte) uint16 { return binary.BigEndian.Uint16(h[2:]) }
