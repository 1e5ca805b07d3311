package rtpsend

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	pionrtp "github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testKey = engine.NewKey("", "live", "cam")

// aacConfig is AAC LC, 44.1 kHz, stereo.
var aacConfig = []byte{0x12, 0x10}

// clip is testdata's h264.h264 at 25 fps, as RTMP ingest hands it to the
// engine (AVCC, parameter sets out of band), with an AAC frame after each
// video frame.
type clip struct {
	video, audio *media.Track
	aus          [][][]byte // NAL units of each access unit, without SPS/PPS/AUD
	keys         []bool
}

var (
	clipOnce sync.Once
	clipData *clip
)

func loadClip(t testing.TB) *clip {
	t.Helper()
	clipOnce.Do(func() {
		c := &clip{}
		var sps, pps []byte
		for _, au := range testutil.ClipAccessUnits(t, "h264.h264", false) {
			var rest [][]byte
			key := false
			for _, n := range au {
				switch h264.NALUType(n[0] & 0x1f) {
				case h264.NALUTypeSPS:
					if sps == nil {
						sps = n
					}
					continue
				case h264.NALUTypePPS:
					if pps == nil {
						pps = n
					}
					continue
				case h264.NALUTypeAccessUnitDelimiter:
					continue
				case h264.NALUTypeIDR:
					key = true
				}
				rest = append(rest, n)
			}
			c.aus, c.keys = append(c.aus, rest), append(c.keys, key)
		}
		var err error
		if c.video, err = media.NewH264Track(sps, pps); err != nil {
			t.Fatal(err)
		}
		if c.audio, err = media.NewAACTrack(aacConfig); err != nil {
			t.Fatal(err)
		}
		clipData = c
	})
	if clipData == nil {
		t.Fatal("clip not loaded")
	}
	return clipData
}

// frames returns new frames for video frames [from, to) of the looped
// clip, each followed by an audio frame.
func (c *clip) frames(from, to int) []*media.Frame {
	var out []*media.Frame
	for i := from; i < to; i++ {
		v := i % len(c.aus)
		d := time.Duration(i) * 40 * time.Millisecond
		out = append(out,
			&media.Frame{Track: c.video, DTS: d, PTS: d, Key: c.keys[v], Payload: media.AppendAVCC(nil, c.aus[v]...)},
			&media.Frame{Track: c.audio, DTS: d + 10*time.Millisecond, PTS: d + 10*time.Millisecond, Key: true, Payload: audioPayload(i)})
	}
	return out
}

// wantVideo is the access unit a receiver must get for video frame i:
// parameter sets before a keyframe.
func (c *clip) wantVideo(i int) [][]byte {
	v := i % len(c.aus)
	if c.keys[v] {
		return append([][]byte{c.video.SPS, c.video.PPS}, c.aus[v]...)
	}
	return c.aus[v]
}

func audioPayload(i int) []byte {
	b := make([]byte, 40+i%60)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	return b
}

// liveStream is a stream published in a real engine.
type liveStream struct {
	e   *engine.Engine
	pub *engine.Publisher
}

func publishClip(t *testing.T, c *clip) *liveStream {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 50 * time.Millisecond
	cfg.MaxStreamWait = time.Second
	e := engine.New(cfg, nil)
	t.Cleanup(e.Close)
	pub, err := e.Publish(context.Background(), testKey, engine.SessionInfo{
		ID: "rtmp-1", Protocol: "rtmp", Remote: "127.0.0.1:50000", Local: "127.0.0.1:1935", Params: "token=abc",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks([]*media.Track{c.video, c.audio}); err != nil {
		t.Fatal(err)
	}
	return &liveStream{e: e, pub: pub}
}

func (ls *liveStream) write(t *testing.T, frames []*media.Frame) {
	t.Helper()
	for _, f := range frames {
		if err := ls.pub.WriteFrame(f); err != nil {
			t.Fatalf("write frame: %v", err)
		}
	}
}

// notes records on_send_rtp_stopped.
type notes struct {
	mu   sync.Mutex
	list []StoppedInfo
	ch   chan struct{}
}

func newNotes() *notes { return &notes{ch: make(chan struct{}, 100)} }

func (n *notes) SendRTPStopped(info StoppedInfo) {
	n.mu.Lock()
	n.list = append(n.list, info)
	n.mu.Unlock()
	select {
	case n.ch <- struct{}{}:
	default:
	}
}

func (n *notes) all() []StoppedInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]StoppedInfo(nil), n.list...)
}

// wait returns the i-th notification (0-based) once it came.
func (n *notes) wait(t *testing.T, i int, timeout time.Duration) StoppedInfo {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if l := n.all(); len(l) > i {
			return l[i]
		}
		select {
		case <-n.ch:
		case <-deadline:
			t.Fatalf("on_send_rtp_stopped #%d not sent within %v (got %v)", i+1, timeout, n.all())
		}
	}
}

func newTestManager(e Engine, n *notes) *Manager {
	m := NewManager(e, nil, n, nil)
	m.WriteTimeout = 2 * time.Second
	return m
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// received collects RTP packets from a peer.
type received struct {
	mu   sync.Mutex
	pkts []*pionrtp.Packet
	from []net.Addr
	err  error
}

func (r *received) add(b []byte, from net.Addr) {
	var p pionrtp.Packet
	err := p.Unmarshal(append([]byte(nil), b...))
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.err = err
		return
	}
	r.pkts = append(r.pkts, &p)
	r.from = append(r.from, from)
}

func (r *received) packets() []*pionrtp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*pionrtp.Packet(nil), r.pkts...)
}

// source is the address packet i came from.
func (r *received) source(i int) net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.from[i]
}

// readUDP collects the datagrams of conn until it is closed.
func (r *received) readUDP(conn *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		r.add(buf[:n], from)
	}
}

// readTCP collects RFC 4571 frames from conn until it ends.
func (r *received) readTCP(conn net.Conn) {
	fr := rtp.NewFrameReader(conn)
	for {
		pkt, err := fr.ReadPacket()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
			}
			return
		}
		r.add(pkt, conn.RemoteAddr())
	}
}

// demuxPS feeds the payloads of pkts, in order, to a PS demuxer.
func demuxPS(t *testing.T, pkts []*pionrtp.Packet) (video, audio []ps.Frame) {
	t.Helper()
	d := ps.NewDemuxer()
	emit := func(f ps.Frame) {
		if ps.IsVideoID(f.StreamID) {
			video = append(video, f)
		} else {
			audio = append(audio, f)
		}
	}
	for _, p := range pkts {
		if err := d.Write(p.Payload, emit); err != nil {
			t.Fatalf("demux PS: %v", err)
		}
	}
	d.Flush(emit)
	return video, audio
}

// checkPS checks that the demuxed frames are video frames [from,
// from+len(video)) of the clip and their audio, with 90 kHz timestamps.
func checkPS(t *testing.T, c *clip, from int, video, audio []ps.Frame) {
	t.Helper()
	for i, f := range video {
		n := from + i
		if f.Type != ps.StreamH264 {
			t.Fatalf("video frame %d: type %v", n, f.Type)
		}
		if got, want := testutil.SplitAnnexB(t, f.Data), c.wantVideo(n); !equalNALs(got, want) {
			t.Fatalf("video frame %d: %d NAL units %x..., want %d", n, len(got), first(got), len(want))
		}
		if want := int64(n) * 40 * 90; f.PTS != want || f.DTS != want {
			t.Fatalf("video frame %d: PTS/DTS %d/%d, want %d", n, f.PTS, f.DTS, want)
		}
		if f.Key != c.keys[n%len(c.keys)] {
			t.Fatalf("video frame %d: key %v", n, f.Key)
		}
	}
	for i, f := range audio {
		n := from + i
		if f.Type != ps.StreamAAC || len(f.Data) < 7 || f.Data[0] != 0xff || f.Data[1]&0xf0 != 0xf0 {
			t.Fatalf("audio frame %d: type %v, data %x", n, f.Type, f.Data[:min(len(f.Data), 8)])
		}
		if size := int(f.Data[3]&3)<<11 | int(f.Data[4])<<3 | int(f.Data[5])>>5; size != len(f.Data) {
			t.Fatalf("audio frame %d: ADTS length %d, frame %d bytes", n, size, len(f.Data))
		}
		if !bytes.Equal(f.Data[7:], audioPayload(n)) {
			t.Fatalf("audio frame %d: payload differs", n)
		}
		if want := int64(n)*40*90 + 10*90; f.PTS != want {
			t.Fatalf("audio frame %d: PTS %d, want %d", n, f.PTS, want)
		}
	}
}

func equalNALs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func first(nalus [][]byte) []byte {
	if len(nalus) == 0 || len(nalus[0]) == 0 {
		return nil
	}
	return nalus[0][:min(len(nalus[0]), 4)]
}

// checkSequence checks SSRC, payload type and consecutive sequence
// numbers.
func checkSequence(t *testing.T, pkts []*pionrtp.Packet, ssrc uint32, pt uint8) {
	t.Helper()
	for i, p := range pkts {
		if p.SSRC != ssrc || p.PayloadType != pt || p.Version != 2 {
			t.Fatalf("packet %d: ssrc %d pt %d version %d, want ssrc %d pt %d", i, p.SSRC, p.PayloadType, p.Version, ssrc, pt)
		}
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
	}
}

// splitBatch unmarshals the packets of a batch.
func splitBatch(t *testing.T, batch []byte) []*pionrtp.Packet {
	t.Helper()
	var out []*pionrtp.Packet
	for len(batch) > 0 {
		n := int(binary.BigEndian.Uint16(batch))
		var p pionrtp.Packet
		if err := p.Unmarshal(append([]byte(nil), batch[2:2+n]...)); err != nil {
			t.Fatal(err)
		}
		out = append(out, &p)
		batch = batch[2+n:]
	}
	return out
}
