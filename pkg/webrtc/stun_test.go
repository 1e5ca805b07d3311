package webrtc

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pwebrtc "github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

func TestParseSTUNServers(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		err  string
	}{
		{in: []string{"stun:stun.example.org:19302"}, want: []string{"stun.example.org:19302"}},
		{in: []string{"STUN:stun.example.org"}, want: []string{"stun.example.org:3478"}},
		{in: []string{"198.51.100.1:3478", " ", "stun:[2001:db8::1]:3479"}, want: []string{"198.51.100.1:3478", "[2001:db8::1]:3479"}},
		{in: []string{"stun:2001:db8::1"}, want: []string{"[2001:db8::1]:3478"}},
		{in: []string{"stun:[2001:db8::1]"}, want: []string{"[2001:db8::1]:3478"}},
		{in: []string{"turn:relay.example.org:3478"}, err: "only stun:"},
		{in: []string{"stuns:stun.example.org"}, err: "only stun:"},
		{in: []string{"http://stun.example.org"}, err: "want stun:host:port"},
		{in: []string{"stun:"}, err: "want stun:host:port"},
		{in: []string{"stun:user@host:1"}, err: "want stun:host:port"},
	} {
		got, err := parseSTUNServers(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// stunServer answers binding requests on loopback with mapped as the
// address it sees; with mapped nil it reads and never answers.
func stunServer(t *testing.T, mapped *net.UDPAddr) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest || mapped == nil {
				continue
			}
			port := mapped.Port
			if port == 0 {
				port = from.(*net.UDPAddr).Port
			}
			res, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: mapped.IP, Port: port}, stun.Fingerprint)
			if err == nil {
				_, _ = conn.WriteTo(res.Raw, from)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	return conn.LocalAddr().String()
}

// lockedBuffer is a log sink read while the server writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// offerSDP gathers the candidates of a peer built from the server's
// current API, as a session's are, and returns its SDP.
func offerSDP(t *testing.T, srv *Server) string {
	t.Helper()
	pc, err := srv.api.Load().NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("gathering did not complete")
	}
	return pc.LocalDescription().SDP
}

func TestSTUNAddressAnnounced(t *testing.T) {
	// The first server never answers: the second one's address is used.
	silent := stunServer(t, nil)
	public := stunServer(t, &net.UDPAddr{IP: net.ParseIP("203.0.113.7")})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // the STUN servers end after it
	defer func(w time.Duration) { stunWait = w }(stunWait)
	stunWait = 300 * time.Millisecond
	logs := &lockedBuffer{}
	srv, err := Listen(nil, Options{Addr: "127.0.0.1:0", STUNServers: []string{"stun:" + silent, "stun:" + public},
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Addr())
	deadline := time.Now().Add(20 * time.Second)
	for {
		sdp := offerSDP(t, srv)
		if strings.Contains(sdp, "203.0.113.7 "+port+" typ host") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no candidate 203.0.113.7:%s after 20 s; SDP:\n%s\nlog:\n%s", port, sdp, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "public address from STUN announced") {
		t.Errorf("no log line of the address; log:\n%s", logs)
	}
	if strings.Contains(logs.String(), "another port") {
		t.Errorf("the NAT kept the port, but a port warning was logged:\n%s", logs)
	}
}

func TestSTUNUnansweredDoesNotHoldAnswers(t *testing.T) {
	silent := stunServer(t, nil)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	logs := &lockedBuffer{}
	// stunWait as shipped (3 s): gathering must not wait for it.
	srv, err := Listen(nil, Options{Addr: "127.0.0.1:0", STUNServers: []string{"stun:" + silent},
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sdp := offerSDP(t, srv)
	if !strings.Contains(sdp, "127.0.0.1") {
		t.Errorf("no loopback host candidate while STUN is unanswered:\n%s", sdp)
	}
	// Close while the STUN request is outstanding ends the discovery.
	srv.Close()
}

func TestSTUNPortChangeWarned(t *testing.T) {
	public := stunServer(t, &net.UDPAddr{IP: net.ParseIP("203.0.113.9"), Port: 61000})
	logs := &lockedBuffer{}
	srv, err := Listen(nil, Options{Addr: "127.0.0.1:0", STUNServers: []string{public},
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "another port") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning of a NAT that changes the port; log:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
