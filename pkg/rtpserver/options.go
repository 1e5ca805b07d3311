package rtpserver

import (
	"errors"
	"fmt"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// TCPMode is openRtpServer's tcp_mode.
type TCPMode int

// TCP modes.
const (
	TCPNone    TCPMode = 0 // UDP only
	TCPPassive TCPMode = 1 // UDP, and TCP (RFC 4571) accepted on the same port
	TCPActive  TCPMode = 2 // UDP, and connectRtpServer dials the sender from the same port
)

// DefaultApp is the app of RTP streams when none is given (ZLMediaKit's
// kRtpAppName).
const DefaultApp = "rtp"

// Options are an RTP server's openRtpServer parameters.
type Options struct {
	Vhost, App string // default __defaultVhost__, rtp
	// StreamID names the stream (app/StreamID); a multiplexed server's
	// streams are named by SSRC instead and StreamID only names the
	// server.
	StreamID  string
	Port      int    // 0: an even port from the configured range
	LocalIP   string // "" or "::": every address
	TCPMode   TCPMode
	ReusePort bool
	SSRC      uint32 // 0: any; otherwise packets of other SSRCs are dropped
	OnlyTrack int    // 0 all, 1 audio only, 2 video only
	// Multiplex tells streams apart by SSRC, each published as
	// app/XXXXXXXX (openRtpServerMultiplex, the shared port).
	Multiplex bool
	// Payload forces the payload kind ("ps", "ts", "h264", ...) instead
	// of detecting it.
	Payload string
}

func (o Options) withDefaults() Options {
	if o.Vhost == "" {
		o.Vhost = engine.DefaultVhost
	}
	if o.App == "" {
		o.App = DefaultApp
	}
	return o
}

// ErrInvalidOptions wraps every refusal of openRtpServer's parameters.
var ErrInvalidOptions = errors.New("invalid argument")

func (o Options) validate() error {
	if err := o.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}

func (o Options) check() error {
	if o.TCPMode < TCPNone || o.TCPMode > TCPActive {
		return fmt.Errorf("tcp_mode %d is not 0 (UDP), 1 (TCP passive) or 2 (TCP active)", o.TCPMode)
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("port %d is not a port number", o.Port)
	}
	if o.OnlyTrack < 0 || o.OnlyTrack > 2 {
		return fmt.Errorf("only_track %d is not 0 (all), 1 (audio) or 2 (video)", o.OnlyTrack)
	}
	if o.StreamID == "" && !o.Multiplex {
		return fmt.Errorf("stream_id is empty")
	}
	if o.TCPMode == TCPActive && o.Multiplex {
		return fmt.Errorf("tcp_mode 2 (active) carries one stream: it cannot be multiplexed")
	}
	key := engine.NewKey(o.Vhost, o.App, o.StreamID)
	if o.StreamID != "" {
		if err := key.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// key is the registry key of the server.
func (o Options) key() engine.Key { return engine.NewKey(o.Vhost, o.App, o.StreamID) }

// SSRCStreamID is the stream id of an SSRC on a multiplexed port: eight
// upper-case hex digits, as ZLMediaKit names them.
func SSRCStreamID(ssrc uint32) string { return fmt.Sprintf("%08X", ssrc) }

// Config is what the registry reads at each open.
type Config struct {
	Ports   PortRange
	Timeout time.Duration // no packet for this long closes a server
	// UDPReadBuffer is the socket receive buffer asked for (bytes).
	UDPReadBuffer int
	// MergeRead paces the reads of a UDP server that receives packets:
	// what arrived is read once per this window; 0 reads each datagram
	// as it comes.
	MergeRead time.Duration
}
