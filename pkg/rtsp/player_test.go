package rtsp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// plyConn is a net.Conn that keeps what is written to it.
type plyConn struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	n    int64
	keep bool
}

func (c *plyConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += int64(len(p))
	if c.keep {
		c.buf.Write(p)
	}
	return len(p), nil
}
func (c *plyConn) Read([]byte) (int, error)         { select {} }
func (c *plyConn) Close() error                     { return nil }
func (c *plyConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *plyConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *plyConn) SetDeadline(time.Time) error      { return nil }
func (c *plyConn) SetReadDeadline(time.Time) error  { return nil }
func (c *plyConn) SetWriteDeadline(time.Time) error { return nil }

// plyStream publishes tracks on an engine and returns a reader of it,
// for players built without an RTSP session.
func plyStream(tb testing.TB, tracks []*media.Track) (*engine.Engine, *engine.Publisher) {
	tb.Helper()
	e := engine.New(engine.DefaultConfig(), nil)
	tb.Cleanup(e.Close)
	pub, err := e.Publish(context.Background(), engine.NewKey("", "live", "bench"), engine.SessionInfo{ID: "p", Protocol: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := pub.SetTracks(tracks); err != nil {
		tb.Fatal(err)
	}
	return e, pub
}

// plyPlayer is a direct (TCP interleaved) player writing to conn, as a
// PLAY over TCP makes one: video on channels 0-1, audio on 2-3.
func plyPlayer(tb testing.TB, e *engine.Engine, tracks []*media.Track, nc net.Conn) *player {
	tb.Helper()
	r, err := e.Play(context.Background(), engine.NewKey("", "live", "bench"), engine.SessionInfo{ID: "r", Protocol: "rtsp"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	_, medias, _, err := describeTracks(tracks)
	if err != nil {
		tb.Fatal(err)
	}
	p := &player{pendingPlay: &pendingPlay{reader: r, medias: medias}, srv: &Server{WriteTimeout: time.Second}}
	for i, m := range medias {
		p.out = append(p.out, &outTrack{m: m, setup: true, channel: 2 * i, ssrc: randUint32(), seq: uint16(randUint32()), tsBase: randUint32()})
	}
	p.conn = &conn{nc: newNetConn(nc)}
	p.direct = true
	return p
}

// plyFrame is one interleaved frame of a player's output.
type plyFrame struct {
	channel int
	data    []byte
}

func plyParse(t *testing.T, b []byte) []plyFrame {
	t.Helper()
	var out []plyFrame
	for len(b) > 0 {
		if len(b) < 4 || b[0] != '$' {
			t.Fatalf("not an interleaved frame at %x", b[:min(len(b), 8)])
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		out = append(out, plyFrame{int(b[1]), b[4 : 4+n]})
		b = b[4+n:]
	}
	return out
}

// TestPlayerDirectOutput: two players of a stream write the same RTP
// payloads (packetized once) under their own headers: continuous
// sequence numbers, their SSRC, timestamps of the frames' PTS, a marker
// on each frame's last packet, and a sender report before each media.
func TestPlayerDirectOutput(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	frames = frames[:120]
	e, _ := plyStream(t, tracks)
	conns := []*plyConn{{keep: true}, {keep: true}}
	players := []*player{plyPlayer(t, e, tracks, conns[0]), plyPlayer(t, e, tracks, conns[1])}
	for _, p := range players {
		for i := 0; i < len(frames); i += 7 {
			if err := p.writeDirect(frames[i:min(i+7, len(frames))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	var payloads [2][][]byte
	for i, c := range conns {
		p := players[i]
		var srs, rtps [4]int
		var lastSeq [4]int
		for ch := range lastSeq {
			lastSeq[ch] = -1
		}
		frameIdx := map[int]int{}
		for _, fr := range plyParse(t, c.buf.Bytes()) {
			if fr.channel%2 == 1 {
				if srs[fr.channel-1] == 0 && rtps[fr.channel-1] != 0 {
					t.Fatalf("player %d: sender report after RTP on channel %d", i, fr.channel-1)
				}
				if fr.data[1] != 200 {
					t.Fatalf("player %d: RTCP type %d on channel %d", i, fr.data[1], fr.channel)
				}
				srs[fr.channel-1]++
				continue
			}
			var pkt rtp.Packet
			if err := pkt.Unmarshal(fr.data); err != nil {
				t.Fatal(err)
			}
			o := p.out[fr.channel/2]
			if pkt.SSRC != o.ssrc || pkt.PayloadType != o.m.pt {
				t.Fatalf("player %d: ssrc %x pt %d, want %x %d", i, pkt.SSRC, pkt.PayloadType, o.ssrc, o.m.pt)
			}
			if lastSeq[fr.channel] >= 0 && pkt.SequenceNumber != uint16(lastSeq[fr.channel]+1) {
				t.Fatalf("player %d: sequence %d after %d", i, pkt.SequenceNumber, lastSeq[fr.channel])
			}
			lastSeq[fr.channel] = int(pkt.SequenceNumber)
			rtps[fr.channel]++
			// the frame this packet belongs to
			kind := media.KindVideo
			if fr.channel == 2 {
				kind = media.KindAudio
			}
			j := frameIdx[fr.channel]
			for frames[j].Track.Kind() != kind {
				j++
			}
			if want := o.tsBase + uint32(ticks(frames[j].PTS, o.m.clock)); pkt.Timestamp != want {
				t.Fatalf("player %d: timestamp %d, want %d", i, pkt.Timestamp, want)
			}
			if pkt.Marker {
				j++
			}
			frameIdx[fr.channel] = j
			payloads[i] = append(payloads[i], pkt.Payload)
		}
		if srs[0] != 1 || srs[2] != 1 {
			t.Errorf("player %d: sender reports %v, want one per media", i, srs)
		}
	}
	if len(payloads[0]) != len(payloads[1]) || len(payloads[0]) < len(frames) {
		t.Fatalf("players wrote %d and %d packets for %d frames", len(payloads[0]), len(payloads[1]), len(frames))
	}
	for k := range payloads[0] {
		if !bytes.Equal(payloads[0][k], payloads[1][k]) {
			t.Fatalf("packet %d: players' payloads differ", k)
		}
	}
	if players[0].sent != conns[0].n {
		t.Errorf("player counted %d bytes, wrote %d", players[0].sent, conns[0].n)
	}
}

// TestPlayerCodecChange: a player cannot follow a stream whose codec
// changes: it ends.
func TestPlayerCodecChange(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	e, _ := plyStream(t, tracks)
	p := plyPlayer(t, e, tracks, &plyConn{})
	h265 := &media.Track{Codec: media.CodecH265}
	if err := p.writeDirect([]*media.Frame{frames[0], {Track: h265, Payload: []byte{0, 0, 0, 1, 0x26}}}); err != errCodecChanged {
		t.Fatalf("codec change: %v, want errCodecChanged", err)
	}
}
