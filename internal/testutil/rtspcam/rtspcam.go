// Package rtspcam is an RTSP camera for tests: a gortsplib server that
// serves one of the clips of testdata/clips, packetized with gortsplib's
// encoders and paced by its timestamps, to every client that plays it.
// Each client gets the clip from its beginning, on its own stream, so
// that frame counts are exact. It is apart from testutil because it
// imports gortsplib and pkg/format.
package rtspcam

import (
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/media"
)

// AfterClip is what a session gets once the whole clip was sent.
type AfterClip int

const (
	// Close ends the session: the client sees the connection close.
	Close AfterClip = iota
	// Hold keeps the session open and sends nothing more (a stalled
	// camera).
	Hold
	// Loop sends the clip again, timestamps continuing.
	Loop
)

// Options configure a Camera.
type Options struct {
	// Clip is an FLV clip of testdata/clips (H.264 and/or AAC) or the raw
	// "h265.hevc" (25 fps). Default "h264_aac.flv".
	Clip string
	// Path the stream is served at. Default "/cam".
	Path string
	// User and Pass, when User is set, are the credentials DESCRIBE and
	// SETUP require (Basic or Digest, as gortsplib's server offers).
	User, Pass string
	// NoSDPParams leaves the parameter sets out of the SDP: clients get
	// them in band only, before each keyframe.
	NoSDPParams bool
	// Speed multiplies the pace of the clip (2 sends it twice as fast
	// as real time). Default 1.
	Speed float64
	// After is what happens once the clip was sent.
	After AfterClip
	// UDP also serves RTP over UDP (and multicast with Multicast).
	UDP, Multicast bool
	// TLS serves rtsps:// with this configuration.
	TLS *tls.Config
}

// Camera is a running test camera.
type Camera struct {
	// URL is rtsp://127.0.0.1:PORT/PATH (rtsps:// with TLS), without
	// credentials.
	URL string
	// Video and Audio are the number of frames of each kind in one pass
	// of the clip; VideoKeys the video keyframes.
	Video, Audio, VideoKeys int
	// VideoCodec and AudioCodec are the clip's codecs (0 when absent).
	VideoCodec, AudioCodec media.Codec

	t      testing.TB
	opts   Options
	server *gortsplib.Server
	desc   func() *description.Session
	frames []*media.Frame
	video  *media.Track
	audio  *media.Track

	mu       sync.Mutex
	sessions map[*gortsplib.ServerConn]*camSession
	stalled  atomic.Bool
	plays    atomic.Int64
	wg       sync.WaitGroup
}

type camSession struct {
	stream  *gortsplib.ServerStream
	desc    *description.Session
	method  base.Method // of the request being answered
	started bool
	stop    chan struct{}
	once    sync.Once
}

// Start runs a camera until the test ends.
func Start(t testing.TB, opts Options) *Camera {
	t.Helper()
	if opts.Clip == "" {
		opts.Clip = "h264_aac.flv"
	}
	if opts.Path == "" {
		opts.Path = "/cam"
	}
	if opts.Speed <= 0 {
		opts.Speed = 1
	}
	c := &Camera{t: t, opts: opts, sessions: map[*gortsplib.ServerConn]*camSession{}}
	c.load()

	// Multicast from gortsplib's server reaches a client on the same
	// host only through a multicast-capable interface, and its client
	// takes packets only from the server's address: serve on that
	// interface's address.
	host := "127.0.0.1"
	if opts.Multicast {
		host = MulticastHost()
		if host == "" {
			t.Skip("rtspcam: no multicast-capable interface with an IPv4 address")
		}
	}
	var lastErr error
	for range 20 {
		port := testutil.FreePort(t)
		s := &gortsplib.Server{
			Handler:     c,
			RTSPAddress: net.JoinHostPort(host, strconv.Itoa(port)),
			TLSConfig:   opts.TLS,
		}
		if opts.UDP {
			rtpPort := camUDPPair()
			if rtpPort == 0 {
				continue
			}
			s.UDPRTPAddress = host + ":" + strconv.Itoa(rtpPort)
			s.UDPRTCPAddress = host + ":" + strconv.Itoa(rtpPort+1)
			if opts.Multicast {
				mport := camUDPPair()
				s.MulticastIPRange = "239.255.42.0/24"
				s.MulticastRTPPort = mport
				s.MulticastRTCPPort = mport + 1
			}
		}
		// Set before Start: its connection goroutines read it.
		c.server = s
		if err := s.Start(); err != nil {
			c.server = nil
			lastErr = err
			continue
		}
		scheme := "rtsp"
		if opts.TLS != nil {
			scheme = "rtsps"
		}
		c.URL = fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), opts.Path)
		t.Cleanup(c.Close)
		return c
	}
	t.Fatalf("rtspcam: cannot start a server: %v", lastErr)
	return nil
}

// MulticastHost returns the IPv4 address of an interface that is up and
// multicast-capable (not loopback), or "".
func MulticastHost() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagMulticast == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return ""
}

// camUDPPair returns an even port whose successor is free too, or 0.
func camUDPPair() int {
	for range 50 {
		p := 20000 + 2*rand.IntN(10000)
		a, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp", ":"+strconv.Itoa(p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p
	}
	return 0
}

// load reads the clip into frames and makes the SDP.
func (c *Camera) load() {
	t := c.t
	if c.opts.Clip == "h265.hevc" {
		aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
		var vps, sps, pps []byte
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
				}
				if typ := (n[0] >> 1) & 0x3f; typ < 32 || typ > 34 {
					payload = media.AppendAVCC(payload, n)
				}
			}
			if c.video == nil {
				tr, err := media.NewH265Track(vps, sps, pps)
				if err != nil {
					t.Fatal(err)
				}
				c.video = tr
			}
			ts := time.Duration(i) * 40 * time.Millisecond
			c.frames = append(c.frames, &media.Frame{Track: c.video, DTS: ts, PTS: ts, Key: key, Payload: payload})
		}
	} else {
		tracks, frames := clipframes.Read(t, c.opts.Clip)
		for _, tr := range tracks {
			if tr.Kind() == media.KindVideo {
				c.video = tr
			} else {
				c.audio = tr
			}
		}
		c.frames = frames
	}
	for _, f := range c.frames {
		if f.Track.Kind() == media.KindVideo {
			c.Video++
			if f.Key {
				c.VideoKeys++
			}
		} else {
			c.Audio++
		}
	}
	if c.video != nil {
		c.VideoCodec = c.video.Codec
	}
	if c.audio != nil {
		c.AudioCodec = c.audio.Codec
	}
	c.desc = func() *description.Session {
		d := &description.Session{}
		if v := c.video; v != nil {
			var f format.Format
			if v.Codec == media.CodecH264 {
				h := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
				if !c.opts.NoSDPParams {
					h.SPS, h.PPS = v.SPS, v.PPS
				}
				f = h
			} else {
				h := &format.H265{PayloadTyp: 96}
				if !c.opts.NoSDPParams {
					h.VPS, h.SPS, h.PPS = v.VPS, v.SPS, v.PPS
				}
				f = h
			}
			d.Medias = append(d.Medias, &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f}})
		}
		if a := c.audio; a != nil {
			var cfg mpeg4audio.AudioSpecificConfig
			if err := cfg.Unmarshal(a.AACConfig); err != nil {
				t.Fatal(err)
			}
			d.Medias = append(d.Medias, &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{
				&format.MPEG4Audio{PayloadTyp: 97, Config: &cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3},
			}})
		}
		return d
	}
}

// Stall stops sending media to every session, keeping them open.
func (c *Camera) Stall() { c.stalled.Store(true) }

// Plays is the number of PLAY requests accepted so far.
func (c *Camera) Plays() int { return int(c.plays.Load()) }

// Sessions is the number of client connections open.
func (c *Camera) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// Close stops the camera and waits for its senders.
func (c *Camera) Close() {
	if c.server == nil {
		return
	}
	c.server.Close()
	c.mu.Lock()
	for _, s := range c.sessions {
		s.once.Do(func() { close(s.stop) })
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Camera) session(sc *gortsplib.ServerConn) *camSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[sc]
	if s == nil {
		s = &camSession{desc: c.desc(), stop: make(chan struct{})}
		s.stream = &gortsplib.ServerStream{Server: c.server, Desc: s.desc}
		if err := s.stream.Initialize(); err != nil {
			c.t.Errorf("rtspcam: stream: %v", err)
		}
		c.sessions[sc] = s
	}
	return s
}

func (c *Camera) auth(sc *gortsplib.ServerConn, req *base.Request) bool {
	return c.opts.User == "" || sc.VerifyCredentials(req, c.opts.User, c.opts.Pass)
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (c *Camera) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	c.mu.Lock()
	s := c.sessions[ctx.Conn]
	delete(c.sessions, ctx.Conn)
	c.mu.Unlock()
	if s != nil {
		s.once.Do(func() { close(s.stop) })
		s.stream.Close()
	}
}

// OnRequest implements gortsplib.ServerHandlerOnRequest.
func (c *Camera) OnRequest(sc *gortsplib.ServerConn, req *base.Request) {
	if req.Method == base.Play {
		c.session(sc).method = base.Play
	}
}

// OnResponse implements gortsplib.ServerHandlerOnResponse: media starts
// once the PLAY response is on its way, when the session is active.
func (c *Camera) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	c.mu.Lock()
	s := c.sessions[sc]
	c.mu.Unlock()
	if s == nil || s.method != base.Play || res.StatusCode != base.StatusOK || s.started {
		return
	}
	s.method, s.started = "", true
	c.plays.Add(1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.send(sc, s)
	}()
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (c *Camera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !c.auth(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	if ctx.Path != c.opts.Path {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.session(ctx.Conn).stream, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (c *Camera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !c.auth(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	return &base.Response{StatusCode: base.StatusOK}, c.session(ctx.Conn).stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (c *Camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// send paces the clip into a session's stream.
func (c *Camera) send(sc *gortsplib.ServerConn, s *camSession) {
	var vmedia, amedia *description.Media
	for _, m := range s.desc.Medias {
		if m.Type == description.MediaTypeVideo {
			vmedia = m
		} else {
			amedia = m
		}
	}
	var h264 *rtph264.Encoder
	var h265 *rtph265.Encoder
	var aac *rtpmpeg4audio.Encoder
	if vmedia != nil {
		switch f := vmedia.Formats[0].(type) {
		case *format.H264:
			h264, _ = f.CreateEncoder()
		case *format.H265:
			h265, _ = f.CreateEncoder()
		}
	}
	if amedia != nil {
		aac, _ = amedia.Formats[0].(*format.MPEG4Audio).CreateEncoder()
	}
	start := time.Now()
	ntp0 := time.Now()
	var offset time.Duration // added per pass of a loop
	var last time.Duration
	for {
		for _, f := range c.frames {
			ts := f.DTS + offset
			last = max(last, ts)
			due := start.Add(time.Duration(float64(ts) / c.opts.Speed))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-s.stop:
					return
				}
			}
			select {
			case <-s.stop:
				return
			default:
			}
			if c.stalled.Load() {
				continue
			}
			pts := f.PTS + offset
			var pkts []*rtp.Packet
			var m *description.Media
			var rtpTS uint32
			switch {
			case f.Track.Kind() == media.KindVideo && vmedia != nil:
				var au [][]byte
				if f.Key { // in band before every keyframe, as cameras do
					if f.Track.Codec == media.CodecH265 {
						au = append(au, f.Track.VPS)
					}
					au = append(au, f.Track.SPS, f.Track.PPS)
				}
				f.NALUs(func(n []byte) bool { au = append(au, n); return true })
				if h264 != nil {
					pkts, _ = h264.Encode(au)
				} else {
					pkts, _ = h265.Encode(au)
				}
				m, rtpTS = vmedia, uint32(int64(pts)*90000/int64(time.Second))
			case f.Track.Kind() == media.KindAudio && amedia != nil:
				pkts, _ = aac.Encode([][]byte{f.Payload})
				m, rtpTS = amedia, uint32(int64(pts)*int64(f.Track.SampleRate)/int64(time.Second))
			}
			for _, p := range pkts {
				p.Timestamp += rtpTS
				_ = s.stream.WritePacketRTPWithNTP(m, p, ntp0.Add(pts))
			}
		}
		switch c.opts.After {
		case Close:
			// gortsplib writes from a queue of its own: let it drain
			// before the connection goes, as a camera would not close
			// in the same instant as its last packet.
			select {
			case <-time.After(300 * time.Millisecond):
			case <-s.stop:
			}
			sc.Close()
			return
		case Hold:
			<-s.stop
			return
		}
		offset = last + 40*time.Millisecond
	}
}
