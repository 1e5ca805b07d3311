package rtsp

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// udpPair is the RTP and RTCP sockets of the UDP transport, bound before
// gortsplib starts so that a port in use is an error of Listen, and so
// that port 0 can mean "any free pair" (gortsplib wants an even RTP port
// and RTCP on the next one, and cannot pick them itself).
type udpPair struct {
	rtp, rtcp *net.UDPConn
}

// listenUDPPair binds rtpAddr and rtcpAddr. Both with port 0 pick a free
// even/odd pair on the host of rtpAddr.
func listenUDPPair(rtpAddr, rtcpAddr string) (*udpPair, error) {
	rh, rp, err := splitAddrPort(rtpAddr)
	if err != nil {
		return nil, fmt.Errorf("rtsp: RTP address %q: %w", rtpAddr, err)
	}
	ch, cp, err := splitAddrPort(rtcpAddr)
	if err != nil {
		return nil, fmt.Errorf("rtsp: RTCP address %q: %w", rtcpAddr, err)
	}
	if rp == 0 && cp == 0 {
		return listenFreePair(rh, ch)
	}
	if rp%2 != 0 || cp != rp+1 {
		return nil, fmt.Errorf("rtsp: RTP port %d must be even and RTCP port %d the next one", rp, cp)
	}
	rtp, err := bindUDP(rtpAddr)
	if err != nil {
		return nil, err
	}
	rtcp, err := bindUDP(rtcpAddr)
	if err != nil {
		rtp.Close()
		return nil, err
	}
	return &udpPair{rtp: rtp, rtcp: rtcp}, nil
}

func listenFreePair(rtpHost, rtcpHost string) (*udpPair, error) {
	var lastErr error
	for range 100 {
		rtp, err := bindUDP(net.JoinHostPort(rtpHost, "0"))
		if err != nil {
			return nil, err
		}
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port == 65535 {
			rtp.Close()
			continue
		}
		rtcp, err := bindUDP(net.JoinHostPort(rtcpHost, strconv.Itoa(port+1)))
		if err != nil {
			rtp.Close()
			lastErr = err
			continue
		}
		return &udpPair{rtp: rtp, rtcp: rtcp}, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no free even port")
	}
	return nil, fmt.Errorf("rtsp: no free RTP/RTCP port pair: %w", lastErr)
}

func bindUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("rtsp: UDP address %q: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("rtsp: listen udp %s: %w", addr, listenErrCause(err))
	}
	return c, nil
}

func splitAddrPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return host, n, nil
}

// listenErrCause drops the "listen udp ADDR:" prefix that would repeat the
// address the caller names.
func listenErrCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func (p *udpPair) close() {
	if p == nil {
		return
	}
	p.rtp.Close()
	p.rtcp.Close()
}

// listenPacket hands gortsplib the sockets bound beforehand, each once.
func (p *udpPair) listenPacket() func(network, address string) (net.PacketConn, error) {
	given := map[string]*net.UDPConn{
		p.rtp.LocalAddr().String():  p.rtp,
		p.rtcp.LocalAddr().String(): p.rtcp,
	}
	return func(network, address string) (net.PacketConn, error) {
		if c, ok := given[address]; ok {
			delete(given, address)
			return c, nil
		}
		return nil, fmt.Errorf("rtsp: unexpected UDP listen %s %s", network, address)
	}
}
