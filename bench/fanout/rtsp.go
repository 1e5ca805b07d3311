package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/sdpunmarshaler"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
)

// rtspKeepalive is how often a raw RTSP player sends OPTIONS in its
// session. A PLAY session over TCP sends nothing else, and gortsplib-based
// servers (MediaMTX) close a connection that is silent for their idle
// timeout (60 s by default).
const rtspKeepalive = 15 * time.Second

// rtspConn is the request/response half of a minimal RTSP client: enough
// to set up a TCP-interleaved PLAY session. Messages are built and parsed
// with gortsplib's base package; the media that follows is never parsed.
type rtspConn struct {
	c       net.Conn
	br      *bufio.Reader
	cseq    int
	session string
}

func (rc *rtspConn) write(method base.Method, u *base.URL, header base.Header) error {
	rc.cseq++
	if header == nil {
		header = base.Header{}
	}
	header["CSeq"] = base.HeaderValue{fmt.Sprint(rc.cseq)}
	header["User-Agent"] = base.HeaderValue{"mediakit-bench-fanout"}
	if rc.session != "" {
		header["Session"] = base.HeaderValue{rc.session}
	}
	b, err := base.Request{Method: method, URL: u, Header: header}.Marshal()
	if err != nil {
		return err
	}
	_, err = rc.c.Write(b)
	return err
}

func (rc *rtspConn) do(method base.Method, u *base.URL, header base.Header) (*base.Response, error) {
	if err := rc.write(method, u, header); err != nil {
		return nil, fmt.Errorf("rtsp %s %s: %w", method, u, err)
	}
	var res base.Response
	if err := res.Unmarshal(rc.br); err != nil {
		return nil, fmt.Errorf("rtsp %s %s: %w", method, u, err)
	}
	if res.StatusCode != base.StatusOK {
		return nil, fmt.Errorf("rtsp %s %s: %d %s", method, u, res.StatusCode, res.StatusMessage)
	}
	return &res, nil
}

// play runs OPTIONS, DESCRIBE, one SETUP per media (RTP/AVP/TCP,
// interleaved channels 2i and 2i+1) and PLAY.
func (rc *rtspConn) play(u *base.URL) error {
	if _, err := rc.do(base.Options, u, nil); err != nil {
		return err
	}
	res, err := rc.do(base.Describe, u, base.Header{"Accept": base.HeaderValue{"application/sdp"}})
	if err != nil {
		return err
	}
	sd, err := sdpunmarshaler.Unmarshal(res.Body)
	if err != nil {
		return fmt.Errorf("rtsp DESCRIBE %s: sdp: %w", u, err)
	}
	var desc description.Session
	if err := desc.Unmarshal2(sd); err != nil {
		return fmt.Errorf("rtsp DESCRIBE %s: sdp: %w", u, err)
	}
	if len(desc.Medias) == 0 {
		return fmt.Errorf("rtsp DESCRIBE %s: no media", u)
	}
	baseURL := u
	if cb := res.Header["Content-Base"]; len(cb) == 1 {
		if b, err := base.ParseURL(cb[0]); err == nil {
			baseURL = b
		}
	}
	for i, m := range desc.Medias {
		mu, err := m.URL(baseURL)
		if err != nil {
			return fmt.Errorf("rtsp SETUP: media %d control: %w", i, err)
		}
		res, err := rc.do(base.Setup, mu, base.Header{
			"Transport": base.HeaderValue{fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", 2*i, 2*i+1)},
		})
		if err != nil {
			return err
		}
		if tr := res.Header["Transport"]; len(tr) != 1 || !strings.Contains(tr[0], "interleaved") {
			return fmt.Errorf("rtsp SETUP %s: server did not accept TCP interleaved: %v", mu, tr)
		}
		if rc.session == "" {
			s := res.Header["Session"]
			if len(s) != 1 {
				return fmt.Errorf("rtsp SETUP %s: no session", mu)
			}
			rc.session, _, _ = strings.Cut(s[0], ";")
			rc.session = strings.TrimSpace(rc.session)
		}
	}
	_, err = rc.do(base.Play, baseURL, base.Header{"Range": base.HeaderValue{"npt=0.000-"}})
	return err
}

// playRTSP is a minimal RTSP player over TCP: it sets the session up, then
// reads the interleaved RTP/RTCP with a 64 KiB buffer and counts bytes,
// parsing nothing, like the HTTP-FLV and RTMP players. Every counted byte
// is what the server wrote after its PLAY response: RTP packets with
// their 4-byte interleaved headers, its RTCP sender reports and the
// replies to our keepalives (a few hundred bytes a minute).
func (p *player) playRTSP(ctx context.Context, rawURL string) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		p.fail(err)
		return
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		p.fail(err)
		return
	}
	context.AfterFunc(ctx, func() { c.Close() })
	// The bufio.Reader is only for the handshake: once it is empty, reads
	// into a buffer at least as large as its own go straight to the socket.
	rc := &rtspConn{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	if err := rc.play(u); err != nil {
		if ctx.Err() == nil {
			p.fail(err)
		}
		return
	}
	buf := make([]byte, 64<<10)
	next := time.Now().Add(rtspKeepalive)
	for {
		n, err := rc.br.Read(buf)
		p.bytes.Add(int64(n))
		if err != nil {
			if ctx.Err() == nil {
				p.fail(err)
			}
			return
		}
		if now := time.Now(); now.After(next) {
			next = now.Add(rtspKeepalive)
			// The reply is interleaved with the media and counted with it.
			if err := rc.write(base.Options, u, nil); err != nil && ctx.Err() == nil {
				p.fail(err)
				return
			}
		}
	}
}

// playRTSPLib plays with gortsplib's Client over TCP, counting each RTP
// packet with its 4-byte interleaved header. It is the alternative the
// raw player is measured against (-rtsp-player gortsplib): it parses and
// allocates per packet and runs RTCP receivers, which costs the load
// generator CPU the server under test then cannot use.
func (p *player) playRTSPLib(ctx context.Context, rawURL string) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		p.fail(err)
		return
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		p.fail(err)
		return
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		p.fail(err)
		return
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		p.fail(err)
		return
	}
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		p.bytes.Add(int64(4 + pkt.MarshalSize()))
	})
	if _, err := c.Play(nil); err != nil {
		p.fail(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-ctx.Done():
	case err := <-done:
		p.fail(err)
	}
}

// firstKeyframeRTSP times one RTSP join from sending PLAY to having
// received a whole H.264 IDR access unit. OPTIONS, DESCRIBE and SETUP
// come first and are not timed, so the figure compares with the
// HTTP-FLV one (request written to keyframe read).
func firstKeyframeRTSP(rawURL string) (time.Duration, error) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return 0, err
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		return 0, err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return 0, err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return 0, errors.New("no H.264 media")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return 0, err
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return 0, err
	}
	var start atomic.Int64
	got := make(chan time.Duration, 1)
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt) // partial access units and packets before the first start are errors too
		if err != nil {
			return
		}
		if h264.IsRandomAccess(au) {
			select {
			case got <- time.Duration(time.Now().UnixNano() - start.Load()):
			default:
			}
		}
	})
	start.Store(time.Now().UnixNano())
	if _, err := c.Play(nil); err != nil {
		return 0, err
	}
	select {
	case d := <-got:
		return d, nil
	case <-time.After(10 * time.Second):
		return 0, errors.New("no keyframe in 10 s")
	}
}
