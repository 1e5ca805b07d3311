package rtsp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil/rtspcam"
	"github.com/mediakit/mediakit/pkg/media"
)

// cltSink collects what a client writes; safe to read while it plays.
type cltSink struct {
	mu     sync.Mutex
	sets   [][]*media.Track
	frames []*media.Frame
}

func (s *cltSink) SetTracks(tracks []*media.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets = append(s.sets, append([]*media.Track(nil), tracks...))
	return nil
}

func (s *cltSink) SetMetadata(media.Metadata) {}

func (s *cltSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sets) == 0 {
		panic("frame before SetTracks")
	}
	s.frames = append(s.frames, f)
	return nil
}

// counts returns the frames of each kind, the video keyframes and the
// first frame's kind and key flag.
func (s *cltSink) counts() (video, audio, keys int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.frames {
		if f.Track.Kind() == media.KindVideo {
			video++
			if f.Key {
				keys++
			}
		} else {
			audio++
		}
	}
	return
}

func (s *cltSink) tracks() []*media.Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sets) == 0 {
		return nil
	}
	return s.sets[len(s.sets)-1]
}

// cltCheck asserts that sink got the whole clip of cam: its codecs,
// every frame, monotonic DTS per kind, video starting on a keyframe.
func cltCheck(t *testing.T, cam *rtspcam.Camera, sink *cltSink) {
	t.Helper()
	v, a, k := sink.counts()
	if v != cam.Video || a != cam.Audio || k != cam.VideoKeys {
		t.Fatalf("got %d video (%d keys) and %d audio frames, want %d (%d) and %d", v, k, a, cam.Video, cam.VideoKeys, cam.Audio)
	}
	tracks := sink.tracks()
	var codecs []media.Codec
	for _, tr := range tracks {
		codecs = append(codecs, tr.Codec)
	}
	var want []media.Codec
	for _, c := range []media.Codec{cam.VideoCodec, cam.AudioCodec} {
		if c != 0 {
			want = append(want, c)
		}
	}
	if len(codecs) != len(want) || (len(want) > 0 && codecs[0] != want[0]) || (len(want) > 1 && codecs[1] != want[1]) {
		t.Fatalf("tracks %v, want codecs %v", tracks, want)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var last [3]time.Duration
	var seen [3]bool
	firstVideo := true
	for i, f := range sink.frames {
		k := f.Track.Kind()
		if seen[k] && f.DTS < last[k] {
			t.Fatalf("frame %d (%s): DTS %v before %v", i, k, f.DTS, last[k])
		}
		seen[k], last[k] = true, f.DTS
		if k == media.KindVideo && firstVideo {
			firstVideo = false
			if !f.Key {
				t.Fatal("first video frame is not a keyframe")
			}
		}
	}
	// The clip lasts 4 to 6 s: so must the frames, whatever the speed.
	if cam.Video > 0 && last[media.KindVideo] < 3*time.Second {
		t.Errorf("last video DTS %v: timestamps do not follow the clip", last[media.KindVideo])
	}
}

func TestClientPlay(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, c := range []struct {
		name string
		cam  rtspcam.Options
		tr   Transport
	}{
		{"tcp", rtspcam.Options{Speed: 4}, TransportTCP},
		{"udp", rtspcam.Options{Speed: 4, UDP: true}, TransportUDP},
		{"parameter sets in band only", rtspcam.Options{Speed: 4, NoSDPParams: true}, TransportTCP},
		{"b-frames", rtspcam.Options{Speed: 4, Clip: "h264_bframes_aac.flv"}, TransportTCP},
		{"h265", rtspcam.Options{Speed: 4, Clip: "h265.hevc", NoSDPParams: true}, TransportTCP},
		{"aac only", rtspcam.Options{Speed: 4, Clip: "aac_only.flv"}, TransportTCP},
	} {
		t.Run(c.name, func(t *testing.T) {
			cam := rtspcam.Start(t, c.cam)
			cl, err := NewClient(cam.URL, ClientOptions{Transport: c.tr})
			if err != nil {
				t.Fatal(err)
			}
			sink := &cltSink{}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cl.Play(ctx, sink); err != nil {
				t.Fatalf("Play: %v", err)
			}
			cltCheck(t, cam, sink)
			if len(sink.sets) != 1 {
				t.Errorf("SetTracks called %d times, want once", len(sink.sets))
			}
			if n := cl.BytesRead(); n < 30_000 { // the smallest clip has 35 kB
				t.Errorf("BytesRead %d: less than the clip", n)
			}
		})
	}
}

func TestClientMulticast(t *testing.T) {
	cam := rtspcam.Start(t, rtspcam.Options{Speed: 4, UDP: true, Multicast: true, Clip: "h264_only.flv"})
	cl, err := NewClient(cam.URL, ClientOptions{Transport: TransportMulticast})
	if err != nil {
		t.Fatal(err)
	}
	sink := &cltSink{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = cl.Play(ctx, sink)
	if err != nil && strings.Contains(err.Error(), "multicast") {
		t.Skipf("no multicast here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	cltCheck(t, cam, sink)
}

func TestClientCredentials(t *testing.T) {
	cam := rtspcam.Start(t, rtspcam.Options{Speed: 4, User: "admin", Pass: "s3cret/:@x", Clip: "aac_only.flv"})
	u, _ := url.Parse(cam.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// right credentials (the password needs escaping in the URL)
	u.User = url.UserPassword("admin", "s3cret/:@x")
	cl, err := NewClient(u.String(), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cl.String(), "s3cret") {
		t.Fatalf("String() shows the password: %s", cl)
	}
	sink := &cltSink{}
	if err := cl.Play(ctx, sink); err != nil {
		t.Fatalf("Play with credentials: %v", err)
	}
	cltCheck(t, cam, sink)

	for _, c := range []struct {
		name string
		user *url.Userinfo
		want string
	}{
		{"none", nil, "no credentials"},
		{"wrong password", url.UserPassword("admin", "wrong-pw"), "refused"},
	} {
		u.User = c.user
		cl, err := NewClient(u.String(), ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Play(ctx, &cltSink{})
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: error %v, want ErrUnauthorized (%s)", c.name, err, c.want)
		}
		if strings.Contains(err.Error(), "wrong-pw") {
			t.Fatalf("%s: error shows the password: %v", c.name, err)
		}
	}
}

// TestClientCancel: ending ctx ends Play promptly with ctx's error, and
// nothing is left running.
func TestClientCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cam := rtspcam.Start(t, rtspcam.Options{After: rtspcam.Loop})
	cl, err := NewClient(cam.URL, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sink := &cltSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Play(ctx, sink) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if v, _, _ := sink.counts(); v >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no frames within 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Play returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Play did not return after cancel")
	}
	cam.Close()
}

// TestClientNoPackets: a camera that stops sending but keeps the
// session ends the play with ErrNoPackets after the read timeout.
func TestClientNoPackets(t *testing.T) {
	cam := rtspcam.Start(t, rtspcam.Options{Speed: 8, After: rtspcam.Hold, Clip: "aac_only.flv"})
	cl, err := NewClient(cam.URL, ClientOptions{ReadTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sink := &cltSink{}
	err = cl.Play(ctx, sink)
	if !errors.Is(err, ErrNoPackets) {
		t.Fatalf("Play returned %v, want ErrNoPackets", err)
	}
	if _, a, _ := sink.counts(); a != cam.Audio {
		t.Fatalf("%d audio frames before the stall, want %d", a, cam.Audio)
	}
}

func TestClientErrors(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"http://h/x", "not rtsp"},
		{"rtsp:///x", "no host"},
		{"rtsp://user:pw@[::1/x", "invalid URL"},
	} {
		_, err := NewClient(c.url, ClientOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), ":pw") {
			t.Errorf("%s: error %v, want %q", c.url, err, c.want)
		}
	}
	if _, err := NewClient("rtsp://h/x", ClientOptions{Transport: "sctp"}); err == nil {
		t.Error("transport sctp accepted")
	}
	cam := rtspcam.Start(t, rtspcam.Options{})
	cl, _ := NewClient(cam.URL+"-missing", ClientOptions{})
	err := cl.Play(context.Background(), &cltSink{})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing path: %v", err)
	}
	// UDP asked of a server without UDP
	cl, _ = NewClient(cam.URL, ClientOptions{Transport: TransportUDP})
	if err := cl.Play(context.Background(), &cltSink{}); err == nil || !strings.Contains(err.Error(), "SETUP") {
		t.Errorf("UDP from a TCP-only server: %v", err)
	}
	// nothing listening
	cl, _ = NewClient("rtsp://127.0.0.1:1/x", ClientOptions{ReadTimeout: time.Second})
	if err := cl.Play(context.Background(), &cltSink{}); err == nil {
		t.Error("Play of a closed port succeeded")
	}
}

// cltCert makes a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func cltCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rtspcam"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestClientRTSPS: rtsps:// plays over TLS; a certificate the client
// does not trust is refused by default, with an error that says so.
func TestClientRTSPS(t *testing.T) {
	cert, pool := cltCert(t)
	cam := rtspcam.Start(t, rtspcam.Options{Speed: 4, Clip: "aac_only.flv", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if !strings.HasPrefix(cam.URL, "rtsps://") {
		t.Fatalf("camera URL %s", cam.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := NewClient(cam.URL, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = cl.Play(ctx, &cltSink{})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	cl, err = NewClient(cam.URL, ClientOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	sink := &cltSink{}
	if err := cl.Play(ctx, sink); err != nil {
		t.Fatalf("rtsps with a trusted certificate: %v", err)
	}
	cltCheck(t, cam, sink)
}

func TestParseTransport(t *testing.T) {
	for in, want := range map[string]Transport{"": TransportTCP, "TCP": TransportTCP, "udp": TransportUDP, "multicast": TransportMulticast} {
		if got, err := ParseTransport(in); err != nil || got != want {
			t.Errorf("ParseTransport(%q) = %q, %v", in, got, err)
		}
	}
	for n, want := range []Transport{TransportTCP, TransportUDP, TransportMulticast} {
		if got, err := TransportFromRTPType(n); err != nil || got != want {
			t.Errorf("TransportFromRTPType(%d) = %q, %v", n, got, err)
		}
	}
	if _, err := TransportFromRTPType(3); err == nil {
		t.Error("rtp_type 3 accepted")
	}
}
