package rtpsend

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// link carries a sender's packets to its peer. write takes a batch of
// RFC 4571-framed packets (see packetWriter) and returns the bytes that
// went onto the wire; it is called from the sink goroutine only. close
// may be called from any goroutine, more than once, and makes a write in
// progress return.
type link interface {
	write(batch []byte) (int, error)
	close()
	localPort() int
	peer() string
}

// tcpLink writes RFC 4571 frames to a TCP connection.
type tcpLink struct {
	conn    net.Conn
	timeout time.Duration
}

func (l *tcpLink) write(batch []byte) (int, error) {
	_ = l.conn.SetWriteDeadline(time.Now().Add(l.timeout))
	return l.conn.Write(batch)
}

func (l *tcpLink) close()         { _ = l.conn.Close() }
func (l *tcpLink) localPort() int { return addrPort(l.conn.LocalAddr()) }
func (l *tcpLink) peer() string   { return l.conn.RemoteAddr().String() }

// udpLink sends one datagram per packet: on a connected socket when to
// is not valid, otherwise to to.
type udpLink struct {
	conn    *net.UDPConn
	to      netip.AddrPort
	timeout time.Duration
}

func (l *udpLink) write(batch []byte) (int, error) {
	_ = l.conn.SetWriteDeadline(time.Now().Add(l.timeout))
	sent := 0
	err := eachPacket(batch, func(pkt []byte) error {
		var err error
		if l.to.IsValid() {
			_, err = l.conn.WriteToUDPAddrPort(pkt, l.to)
		} else {
			_, err = l.conn.Write(pkt)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			// An ICMP answer to an earlier datagram: the receiver is not
			// listening (yet). A UDP sender keeps sending, as cameras do.
			err = nil
		}
		if err == nil {
			sent += len(pkt)
		}
		return err
	})
	return sent, err
}

func (l *udpLink) close()         { _ = l.conn.Close() }
func (l *udpLink) localPort() int { return addrPort(l.conn.LocalAddr()) }

func (l *udpLink) peer() string {
	if l.to.IsValid() {
		return l.to.String()
	}
	if ra := l.conn.RemoteAddr(); ra != nil {
		return ra.String()
	}
	return ""
}

// talkLink sends back over the link of an RTP stream being received;
// that link belongs to the RTP server, which frames and times out the
// writes. Closing it closes nothing.
type talkLink struct {
	send func(pkt []byte) error
	port int
	key  string
}

func (l *talkLink) write(batch []byte) (int, error) {
	sent := 0
	err := eachPacket(batch, func(pkt []byte) error {
		if err := l.send(pkt); err != nil {
			return err
		}
		sent += len(pkt)
		return nil
	})
	return sent, err
}

func (l *talkLink) close()         {}
func (l *talkLink) localPort() int { return l.port }
func (l *talkLink) peer() string   { return "talk:" + l.key }

func addrPort(a net.Addr) int {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.Port
	case *net.UDPAddr:
		return a.Port
	}
	return 0
}
