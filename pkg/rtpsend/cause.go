package rtpsend

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/mediakit/mediakit/pkg/engine"
)

// ZLToolKit's SockException codes: the err field of on_send_rtp_stopped.
const (
	ErrCodeEOF      = 1
	ErrCodeTimeout  = 2
	ErrCodeRefused  = 3
	ErrCodeReset    = 4
	ErrCodeDNS      = 5
	ErrCodeShutdown = 6
	ErrCodeOther    = 0xFF
)

// cause is why a sender stopped, as on_send_rtp_stopped reports it.
type cause struct {
	code int
	msg  string
}

func (c cause) Error() string { return c.msg }

// Causes that do not come from a socket.
var (
	causeAPI        = cause{ErrCodeShutdown, "stopped by stopSendRtp"}
	causeReplaced   = cause{ErrCodeShutdown, "replaced by a new sender with the same ssrc"}
	causeShutdown   = cause{ErrCodeShutdown, "server shutting down"}
	causeStreamEnd  = cause{ErrCodeEOF, "source stream ended"}
	causeTooSlow    = cause{ErrCodeTimeout, "sender fell too far behind the stream"}
	causeTalkEnded  = cause{ErrCodeEOF, "talk-back stream ended"}
	causeCancelled  = cause{ErrCodeShutdown, "start cancelled"}
	causePeerClosed = cause{ErrCodeEOF, "peer closed the connection"}
	causeDetached   = cause{ErrCodeShutdown, "detached from the stream"}
)

// readerCause turns the error that ended a sink's reader into a cause.
func readerCause(err error) cause {
	switch {
	case errors.Is(err, io.EOF):
		return causeStreamEnd
	case errors.Is(err, engine.ErrReaderTooSlow):
		return causeTooSlow
	case errors.Is(err, engine.ErrReaderClosed):
		return causeDetached // a detach the sender did not ask for
	}
	return cause{ErrCodeOther, err.Error()}
}

// netCause classifies a socket error; what names the operation.
func netCause(what string, err error) cause {
	var c cause
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		c.code = ErrCodeTimeout
	case errors.Is(err, io.EOF):
		c.code = ErrCodeEOF
	case errors.Is(err, syscall.ECONNREFUSED):
		c.code = ErrCodeRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		c.code = ErrCodeReset
	case errors.As(err, &dnsErr):
		c.code = ErrCodeDNS
	default:
		c.code = ErrCodeOther
	}
	c.msg = what + ": " + err.Error()
	return c
}
