package rtpsend

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtp"
)

// packAll packs frames with a packer of o and returns the packets.
func packAll(t *testing.T, o Options, tracks []*media.Track, frames []*media.Frame) []*pionrtp.Packet {
	t.Helper()
	p, _, err := newPacker(o, 123456789, tracks)
	if err != nil {
		t.Fatal(err)
	}
	var batch []byte
	for _, f := range frames {
		if batch, err = p.pack(batch, f); err != nil {
			t.Fatal(err)
		}
	}
	pkts := splitBatch(t, batch)
	checkSequence(t, pkts, 123456789, uint8(o.PayloadType))
	return pkts
}

// A known stream sent as PS demuxes back to the same access units, with
// the parameter sets before each keyframe, AAC in ADTS, and timestamps on
// the 90 kHz clock; each frame is its own run of packets, marker on the
// last, timestamped with the DTS.
func TestPSRoundTrip(t *testing.T) {
	c := loadClip(t)
	const n = 120 // keyframes at 0, 25, 50, 75, 100
	pkts := packAll(t, Options{Format: FormatPS, PayloadType: 96}, []*media.Track{c.video, c.audio}, c.frames(0, n))
	// Frame boundaries: the timestamp changes only after a marker.
	frames := 0
	for i, p := range pkts {
		if p.Marker {
			frames++
		}
		if i > 0 && p.Timestamp != pkts[i-1].Timestamp && !pkts[i-1].Marker {
			t.Fatalf("packet %d: new timestamp without a marker before it", i)
		}
		if p.MarshalSize() > 1400 {
			t.Fatalf("packet %d: %d bytes, over the MTU", i, len(p.Payload)+12)
		}
	}
	if frames != 2*n {
		t.Fatalf("%d marked frames, want %d", frames, 2*n)
	}
	if pkts[0].Timestamp != 0 {
		t.Errorf("first timestamp %d, want 0", pkts[0].Timestamp)
	}
	video, audio := demuxPS(t, pkts)
	if len(video) != n || len(audio) != n {
		t.Fatalf("demuxed %d video and %d audio frames, want %d each", len(video), len(audio), n)
	}
	checkPS(t, c, 0, video, audio)
}

// OnlyAudio leaves the video out of the PS (and out of its PSM).
func TestPSOnlyAudio(t *testing.T) {
	c := loadClip(t)
	pkts := packAll(t, Options{Format: FormatPS, PayloadType: 96, OnlyAudio: true}, []*media.Track{c.video, c.audio}, c.frames(0, 30))
	video, audio := demuxPS(t, pkts)
	if len(video) != 0 || len(audio) != 30 {
		t.Fatalf("demuxed %d video and %d audio frames, want 0 and 30", len(video), len(audio))
	}
}

// Video before the first keyframe cannot be decoded and is not sent.
func TestPSStartsAtKeyframe(t *testing.T) {
	c := loadClip(t)
	pkts := packAll(t, Options{Format: FormatPS, PayloadType: 96}, []*media.Track{c.video, c.audio}, c.frames(10, 30))
	video, audio := demuxPS(t, pkts)
	if len(video) != 5 || len(audio) != 20 {
		t.Fatalf("demuxed %d video and %d audio frames, want 5 (from the keyframe at 25) and 20", len(video), len(audio))
	}
	checkPS(t, c, 25, video, nil)
}

func TestADTSHeader(t *testing.T) {
	for _, asc := range [][]byte{{0x12, 0x10}, {0x11, 0x90}, {0x15, 0x88}} { // 44.1k stereo, 48k stereo, 8k mono
		h, err := newADTS(asc)
		if err != nil {
			t.Fatal(err)
		}
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(asc); err != nil {
			t.Fatal(err)
		}
		au := bytes.Repeat([]byte{0x21}, 300)
		var pkts mpeg4audio.ADTSPackets
		if err := pkts.Unmarshal(h.appendFrame(nil, au)); err != nil {
			t.Fatalf("%x: %v", asc, err)
		}
		if len(pkts) != 1 || pkts[0].SampleRate != conf.SampleRate || pkts[0].ChannelConfig != conf.ChannelConfig ||
			pkts[0].Type != mpeg4audio.ObjectTypeAACLC || !bytes.Equal(pkts[0].AU, au) {
			t.Errorf("%x: parsed %+v", asc, pkts[0])
		}
	}
	if _, err := newADTS([]byte{0x12}); err == nil {
		t.Error("truncated config accepted")
	}
}

// ES: H.264 through pion's payloader depacketizes (RFC 6184) to the
// access units with parameter sets; timestamps are the PTS at 90 kHz.
func TestESVideo(t *testing.T) {
	c := loadClip(t)
	const n = 60
	pkts := packAll(t, Options{Format: FormatES, PayloadType: 98}, []*media.Track{c.video, c.audio}, c.frames(0, n))
	d, err := rtp.NewDepacketizer(rtp.KindH264)
	if err != nil {
		t.Fatal(err)
	}
	var aus []rtp.AccessUnit
	for _, p := range pkts {
		got, err := d.Push(p)
		if err != nil {
			t.Fatal(err)
		}
		aus = append(aus, got...)
	}
	aus = append(aus, d.Flush()...)
	if len(aus) != n {
		t.Fatalf("%d access units, want %d", len(aus), n)
	}
	for i, au := range aus {
		if got, want := testutil.SplitAnnexB(t, au.Data), c.wantVideo(i); !equalNALs(got, want) {
			t.Fatalf("access unit %d: %d NAL units, want %d", i, len(got), len(want))
		}
		if au.Timestamp != uint32(i*40*90) {
			t.Fatalf("access unit %d: timestamp %d", i, au.Timestamp)
		}
	}
}

// ES with OnlyAudio: AAC per RFC 3640 on the sample-rate clock; an AU
// larger than a packet is fragmented and reassembled.
func TestESAudio(t *testing.T) {
	c := loadClip(t)
	frames := c.frames(0, 20)
	big := &media.Frame{Track: c.audio, DTS: time.Second, PTS: time.Second, Key: true, Payload: bytes.Repeat([]byte{7}, 3000)}
	frames = append(frames, big)
	pkts := packAll(t, Options{Format: FormatES, PayloadType: 97, OnlyAudio: true}, []*media.Track{c.video, c.audio}, frames)
	d, err := rtp.NewDepacketizer(rtp.KindAAC)
	if err != nil {
		t.Fatal(err)
	}
	var aus []rtp.AccessUnit
	for _, p := range pkts {
		got, err := d.Push(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, au := range got {
			aus = append(aus, rtp.AccessUnit{Data: append([]byte(nil), au.Data...), Timestamp: au.Timestamp})
		}
	}
	if len(aus) != 21 {
		t.Fatalf("%d access units, want 21", len(aus))
	}
	for i, au := range aus[:20] {
		if !bytes.Equal(au.Data, audioPayload(i)) || au.Timestamp != uint32(ticks(time.Duration(i)*40*time.Millisecond+10*time.Millisecond, 44100)) {
			t.Fatalf("access unit %d: %d bytes at %d", i, len(au.Data), au.Timestamp)
		}
	}
	if !bytes.Equal(aus[20].Data, big.Payload) || aus[20].Timestamp != 44100 {
		t.Fatalf("fragmented access unit: %d bytes at %d", len(aus[20].Data), aus[20].Timestamp)
	}
}

// ES G.711: raw samples on the 8 kHz clock, a long frame split with the
// timestamps of its first samples.
func TestESG711(t *testing.T) {
	tr, err := media.NewG711Track(media.CodecG711A, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	frames := []*media.Frame{
		{Track: tr, DTS: 0, PTS: 0, Payload: bytes.Repeat([]byte{1}, 160)},
		{Track: tr, DTS: 20 * time.Millisecond, PTS: 20 * time.Millisecond, Payload: bytes.Repeat([]byte{2}, 3000)},
	}
	pkts := packAll(t, Options{Format: FormatES, PayloadType: 8}, []*media.Track{tr}, frames)
	if len(pkts) != 4 {
		t.Fatalf("%d packets, want 4", len(pkts))
	}
	want := []struct {
		ts  uint32
		len int
	}{{0, 160}, {160, pktLimit}, {160 + pktLimit, pktLimit}, {160 + 2*pktLimit, 3000 - 2*pktLimit}}
	for i, p := range pkts {
		if p.Timestamp != want[i].ts || len(p.Payload) != want[i].len {
			t.Errorf("packet %d: timestamp %d, %d bytes; want %d, %d", i, p.Timestamp, len(p.Payload), want[i].ts, want[i].len)
		}
	}
}

// TS: seven 188-byte packets per RTP packet, read back by an MPEG-TS
// demuxer with every frame.
func TestTSRoundTrip(t *testing.T) {
	c := loadClip(t)
	const n = 60
	pkts := packAll(t, Options{Format: FormatTS, PayloadType: 33}, []*media.Track{c.video, c.audio}, c.frames(0, n))
	var ts []byte
	for i, p := range pkts {
		if len(p.Payload)%188 != 0 || len(p.Payload) > 7*188 || p.Payload[0] != 0x47 {
			t.Fatalf("packet %d: %d bytes starting %x", i, len(p.Payload), p.Payload[:1])
		}
		ts = append(ts, p.Payload...)
	}
	r := &mpegts.Reader{R: bytes.NewReader(ts)}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	var video, audio int
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *tscodecs.H264:
			r.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				// The muxer's AUD is not handed out.
				if want := c.wantVideo(video); !equalNALs(au, want) {
					t.Errorf("video frame %d: %d NAL units, want %d", video, len(au), len(want))
				}
				if dts != int64(video)*40*90+ticks(hls.TimestampOffset, 90000) {
					t.Errorf("video frame %d: dts %d", video, dts)
				}
				video++
				return nil
			})
		case *tscodecs.MPEG4Audio:
			r.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				for _, au := range aus {
					if !bytes.Equal(au, audioPayload(audio)) {
						t.Errorf("audio frame %d differs", audio)
					}
					audio++
				}
				return nil
			})
		}
	}
	for r.Read() == nil {
	}
	// The demuxer holds back the last PES of each track.
	if video < n-1 || audio < n-1 {
		t.Fatalf("demuxed %d video and %d audio frames, want %d each", video, audio, n)
	}
}

func TestNoTrack(t *testing.T) {
	g711, _ := media.NewG711Track(media.CodecG711U, 8000, 1)
	av1 := &media.Track{Codec: media.CodecAV1, Width: 320, Height: 240}
	c := loadClip(t)
	for _, tt := range []struct {
		name   string
		o      Options
		tracks []*media.Track
	}{
		{"ts g711", Options{Format: FormatTS}, []*media.Track{g711}},
		{"ps av1", Options{Format: FormatPS}, []*media.Track{av1}},
		{"es av1", Options{Format: FormatES}, []*media.Track{av1}},
		{"ps only audio of video", Options{Format: FormatPS, OnlyAudio: true}, []*media.Track{c.video}},
		{"es mp3", Options{Format: FormatES}, []*media.Track{{Codec: media.CodecMP3, SampleRate: 44100, Channels: 2}}},
	} {
		if _, _, err := newPacker(tt.o, 1, tt.tracks); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// A video frame without a NAL unit (a truncated or empty payload) sends
// nothing, in every format; MPEG-TS's muxer would panic on it.
func TestVideoWithoutNALUnits(t *testing.T) {
	c := loadClip(t)
	for _, f := range []Format{FormatPS, FormatES, FormatTS} {
		t.Run(f.String(), func(t *testing.T) {
			p, _, err := newPacker(Options{Format: f, PayloadType: 96}, 1, []*media.Track{c.video, c.audio})
			if err != nil {
				t.Fatal(err)
			}
			pack := func(f *media.Frame) int {
				t.Helper()
				got, err := p.pack(nil, f)
				if err != nil {
					t.Fatal(err)
				}
				return len(got)
			}
			// An empty keyframe does not start the video.
			if n := pack(&media.Frame{Track: c.video, Key: true, Payload: []byte{0, 0, 0, 0}}); n != 0 {
				t.Fatalf("empty keyframe: %d bytes", n)
			}
			if n := pack(c.frames(1, 2)[0]); n != 0 {
				t.Fatalf("frame before the first keyframe: %d bytes", n)
			}
			if n := pack(c.frames(0, 1)[0]); n == 0 {
				t.Fatal("keyframe: nothing")
			}
			for _, payload := range [][]byte{{0, 0, 0, 9, 1}, {0, 0, 0, 0}, {0, 0}} {
				for _, key := range []bool{false, true} {
					got, err := p.pack(nil, &media.Frame{Track: c.video, Key: key, Payload: payload})
					if len(got) != 0 || err != nil {
						t.Errorf("payload %x, key %v: %d bytes, %v", payload, key, len(got), err)
					}
				}
			}
		})
	}
}

// BenchmarkPack packs the clip's frames as a sender's sink does, for the
// allocations per frame of each format.
func BenchmarkPack(b *testing.B) {
	c := loadClip(b)
	frames := c.frames(0, 100)
	for _, f := range []Format{FormatPS, FormatES, FormatTS} {
		b.Run(f.String(), func(b *testing.B) {
			p, _, err := newPacker(Options{Format: f, PayloadType: 96}, 1, []*media.Track{c.video, c.audio})
			if err != nil {
				b.Fatal(err)
			}
			var batch []byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if batch, err = p.pack(batch[:0], frames[i%len(frames)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
