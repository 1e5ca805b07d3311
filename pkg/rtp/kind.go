package rtp

// Kind names what an RTP stream carries.
type Kind string

// Kinds.
const (
	KindPS      Kind = "ps"   // MPEG program stream (GB28181)
	KindTS      Kind = "ts"   // MPEG transport stream
	KindH264    Kind = "h264" // RFC 6184
	KindH265    Kind = "h265" // RFC 7798
	KindAAC     Kind = "aac"  // RFC 3640 mpeg4-generic
	KindOpus    Kind = "opus"
	KindPCMA    Kind = "pcma" // G.711 A-law
	KindPCMU    Kind = "pcmu" // G.711 µ-law
	KindUnknown Kind = "unknown"
)

// Payload types GB28181 senders and ZLMediaKit use by custom
// (ZLMediaKit conf/config.ini, section rtp_proxy: ps_pt=96, h264_pt=98,
// h265_pt=99, opus_pt=100, ts_pt=33; 0 and 8 are RFC 3551's static G.711
// types and 33 its static MP2T type). There is no customary AAC type.
const (
	PayloadTypePCMU = 0
	PayloadTypePCMA = 8
	PayloadTypeTS   = 33
	PayloadTypePS   = 96
	PayloadTypeH264 = 98
	PayloadTypeH265 = 99
	PayloadTypeOpus = 100
)

// ClockRate is the RTP clock rate a kind always uses, or 0 when it depends
// on the stream (AAC uses its sample rate) or the kind is unknown.
func (k Kind) ClockRate() uint32 {
	switch k {
	case KindPS, KindTS, KindH264, KindH265:
		return 90000
	case KindOpus:
		return 48000 // RFC 7587, whatever the real sample rate
	case KindPCMA, KindPCMU:
		return 8000
	}
	return 0
}

// IsVideo reports whether k is a video elementary stream.
func (k Kind) IsVideo() bool { return k == KindH264 || k == KindH265 }

// hint is the kind a payload type suggests by custom, or KindUnknown.
func hint(pt uint8) Kind {
	switch pt {
	case PayloadTypePCMU:
		return KindPCMU
	case PayloadTypePCMA:
		return KindPCMA
	case PayloadTypeTS:
		return KindTS
	case PayloadTypePS:
		return KindPS
	case PayloadTypeH264:
		return KindH264
	case PayloadTypeH265:
		return KindH265
	case PayloadTypeOpus:
		return KindOpus
	}
	return KindUnknown
}
