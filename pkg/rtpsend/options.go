package rtpsend

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// Mode is how a sender reaches its peer; the values are ZLMediaKit's
// SendRtpArgs::ConType.
type Mode int

// Modes.
const (
	TCPActive  Mode = 0 // dial the peer over TCP and send RFC 4571 frames
	UDPActive  Mode = 1 // send datagrams to the peer
	TCPPassive Mode = 2 // listen; send to the first TCP client
	UDPPassive Mode = 3 // listen; send to the address of the first datagram received
	VoiceTalk  Mode = 4 // send back over the link of an RTP stream being received
)

func (m Mode) String() string {
	switch m {
	case TCPActive:
		return "tcp-active"
	case UDPActive:
		return "udp-active"
	case TCPPassive:
		return "tcp-passive"
	case UDPPassive:
		return "udp-passive"
	case VoiceTalk:
		return "talk"
	}
	return "mode-" + strconv.Itoa(int(m))
}

// Passive reports whether the sender waits for its peer.
func (m Mode) Passive() bool { return m == TCPPassive || m == UDPPassive }

// Format is what the RTP packets carry; the values are ZLMediaKit's
// SendRtpArgs::DataType (the API's type parameter).
type Format int

// Formats.
const (
	FormatES Format = 0 // one elementary stream: video (RFC 6184/7798), or audio with OnlyAudio
	FormatPS Format = 1 // MPEG-PS, as GB28181 devices send
	FormatTS Format = 2 // MPEG-TS, seven 188-byte packets per RTP packet
)

func (f Format) String() string {
	switch f {
	case FormatES:
		return "es"
	case FormatPS:
		return "ps"
	case FormatTS:
		return "ts"
	}
	return "format-" + strconv.Itoa(int(f))
}

// Defaults, as ZLMediaKit's where it has one.
const (
	DefaultPayloadType = 96
	// DefaultPassiveWait is how long a passive sender waits for its peer
	// when CloseDelay is not set.
	DefaultPassiveWait = 30 * time.Second
	// DefaultConnectTimeout bounds a TCP dial when CloseDelay is not set
	// (ZLMediaKit's 5 s).
	DefaultConnectTimeout = 5 * time.Second
	// DefaultWriteTimeout ends a sender whose peer accepts nothing for
	// this long.
	DefaultWriteTimeout = 15 * time.Second
)

// Options describe one sender.
type Options struct {
	Key  engine.Key // the stream to send
	SSRC string     // decimal, as the API takes it (GB28181's ten digits included)
	Mode Mode
	// Format is what is sent; FormatPS unless told otherwise.
	Format Format
	// DstURL (a host name or an address) and DstPort name the peer of an
	// active sender.
	DstURL  string
	DstPort int
	// SrcPort is the local port to send from (active) or listen on
	// (passive); 0 lets the system choose.
	SrcPort int
	// PayloadType is the RTP payload type, 0-127; the API defaults it to
	// DefaultPayloadType.
	PayloadType int
	// OnlyAudio leaves video out; with FormatES it selects the audio
	// track.
	OnlyAudio bool
	// CloseDelay is how long a passive sender waits for its peer
	// (default DefaultPassiveWait) and bounds a TCP dial (default
	// DefaultConnectTimeout).
	CloseDelay time.Duration
	// RecvStreamID names, for VoiceTalk, the RTP stream (same vhost and
	// app) whose link the packets go back over.
	RecvStreamID string
}

// Errors. The API maps them to ZLMediaKit's codes.
var (
	// ErrInvalidOptions wraps what is wrong with Options.
	ErrInvalidOptions = errors.New("rtpsend: invalid options")
	// ErrStreamNotFound: the stream to send is not published.
	ErrStreamNotFound = errors.New("can not find the source stream")
	// ErrTalkNotFound: VoiceTalk names no RTP stream being received.
	ErrTalkNotFound = errors.New("can not find the target stream")
	// ErrNoTrack: the stream has no track the format can carry.
	ErrNoTrack = errors.New("rtpsend: no track to send")
	// ErrClosed is returned once the manager is shutting down.
	ErrClosed = errors.New("rtpsend: manager closed")
)

// ParseSSRC reads an SSRC as ZLMediaKit does: a decimal number that fits
// in 32 bits, leading zeros allowed.
func ParseSSRC(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: ssrc %q is not a 32-bit decimal number", ErrInvalidOptions, s)
	}
	return uint32(n), nil
}

// withDefaults fills in the default vhost.
func (o Options) withDefaults() Options {
	o.Key = engine.NewKey(o.Key.Vhost, o.Key.App, o.Key.Stream)
	return o
}

// validate checks o and returns its SSRC.
func (o Options) validate() (uint32, error) {
	if err := o.Key.Validate(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	ssrc, err := ParseSSRC(o.SSRC)
	if err != nil {
		return 0, err
	}
	bad := func(format string, args ...any) (uint32, error) {
		return 0, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	switch {
	case o.Mode < TCPActive || o.Mode > VoiceTalk:
		return bad("connection type %d is not 0-4", int(o.Mode))
	case o.Format < FormatES || o.Format > FormatTS:
		return bad("type %d is not 0 (es), 1 (ps) or 2 (ts)", int(o.Format))
	case o.PayloadType < 0 || o.PayloadType > 127:
		return bad("pt %d is not 0-127", o.PayloadType)
	case o.SrcPort < 0 || o.SrcPort > 65535:
		return bad("src_port %d is not a port", o.SrcPort)
	case o.CloseDelay < 0:
		return bad("close_delay_ms %v is negative", o.CloseDelay)
	}
	switch o.Mode {
	case TCPActive, UDPActive:
		if strings.TrimSpace(o.DstURL) == "" {
			return bad("dst_url is empty")
		}
		if o.DstPort <= 0 || o.DstPort > 65535 {
			return bad("dst_port %d is not a port", o.DstPort)
		}
	case VoiceTalk:
		if o.RecvStreamID == "" {
			return bad("recv_stream_id is empty")
		}
	}
	return ssrc, nil
}

// passiveWait is how long a passive sender waits for its peer.
func (o Options) passiveWait() time.Duration {
	if o.CloseDelay > 0 {
		return o.CloseDelay
	}
	return DefaultPassiveWait
}

// connectTimeout bounds a TCP dial.
func (o Options) connectTimeout() time.Duration {
	if o.CloseDelay > 0 {
		return o.CloseDelay
	}
	return DefaultConnectTimeout
}

// talkKey is the RTP stream a VoiceTalk sender answers over: in the
// sender's vhost and app, as ZLMediaKit forces.
func (o Options) talkKey() engine.Key {
	return engine.NewKey(o.Key.Vhost, o.Key.App, o.RecvStreamID)
}
