package serve

import (
	"fmt"
	"io"
	"net"
	"strings"
)

// listenAddrs are the bound addresses a banner describes ("" when off).
type listenAddrs struct {
	RTMP, HTTP, RTSP, RTSPS string
	WebRTC                  string // ICE port; WHEP and WHIP are on the HTTP listener
}

// hostAddrs are the addresses people can reach this machine at, for a
// listener on every interface: the non-loopback unicast IPv4 addresses
// of the interfaces that are up (at most four), else 127.0.0.1.
func hostAddrs() []string {
	var out []string
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				out = append(out, ipn.IP.String())
			}
		}
	}
	if len(out) == 0 {
		return []string{"127.0.0.1"}
	}
	return out[:min(len(out), 4)]
}

// hostsFor is where a listener bound to addr is reached: hosts for a
// wildcard address, else its own host.
func hostsFor(addr string, hosts []string) (names []string, port string) {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, ""
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		return hosts, port
	}
	return []string{h}, port
}

// writeBanner prints where to publish, play, call the API and scrape
// metrics, for people starting `mediakit serve` by hand. STREAM and APP are
// left for the user to fill in; "live" is the usual app.
func writeBanner(w io.Writer, version string, a listenAddrs, hosts []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "mediakit %s is ready.\n", version)
	line := func(label, scheme, addr, path string) {
		names, port := hostsFor(addr, hosts)
		for i, h := range names {
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(&b, "  %-9s %s://%s%s\n", label, scheme, net.JoinHostPort(h, port), path)
		}
	}
	if a.RTMP != "" {
		line("Publish", "rtmp", a.RTMP, "/live/STREAM")
	}
	if a.RTSP != "" {
		line("Publish", "rtsp", a.RTSP, "/live/STREAM")
	}
	if a.RTMP != "" {
		line("Play", "rtmp", a.RTMP, "/live/STREAM")
	}
	if a.RTSP != "" {
		line("Play", "rtsp", a.RTSP, "/live/STREAM")
	}
	if a.RTSPS != "" {
		line("Play", "rtsps", a.RTSPS, "/live/STREAM")
	}
	if a.HTTP != "" {
		for _, p := range []string{"/live/STREAM.live.flv", "/live/STREAM.live.ts", "/live/STREAM.live.mp4",
			"/live/STREAM/hls.m3u8", "/live/STREAM/hls.fmp4.m3u8"} {
			line("Play", "http", a.HTTP, p)
		}
		line("Page", "http", a.HTTP, "/live/STREAM/")
		if a.WebRTC != "" {
			line("WHEP", "http", a.HTTP, "/live/STREAM/whep")
			line("WHIP", "http", a.HTTP, "/live/STREAM/whip")
		}
		line("Console", "http", a.HTTP, "/console/")
		line("API", "http", a.HTTP, "/index/api/getMediaList")
		line("Metrics", "http", a.HTTP, "/metrics")
	}
	io.WriteString(w, b.String())
}
