// Package rtpsend sends streams out as RTP: ZLMediaKit's startSendRtp,
// startSendRtpPassive and startSendRtpTalk, for GB28181 cascading to a
// higher platform and for voice talk-back to a camera.
//
// A sender is an engine sink (named "rtp-send-<ssrc>"): it gets every
// frame of the stream from the latest keyframe on, never skips, and is
// started and stopped through the stream's owner goroutine. It packs the
// frames as MPEG-PS (the default, what GB28181 wants), as one elementary
// stream, or as MPEG-TS, cuts them into RTP packets with the requested
// SSRC and payload type, and writes them over UDP, over TCP with RFC 4571
// framing, or back over the link of an RTP stream being received (talk).
//
// The Manager keys senders by stream and SSRC: starting one with an SSRC
// that is in use replaces the old sender once the new one is connected,
// as ZLMediaKit does. Each sender has one goroutine that owns its life:
// waiting for a passive peer, attaching the sink, and the end, whatever
// ends it (stopSendRtp, the stream ending, the peer leaving or not
// reading within the write timeout, shutdown). The end frees the sender's
// sockets and goroutines before it is reported, once, through the
// Notifier (on_send_rtp_stopped). A stuck peer ends its sender, never the
// stream or its other readers.
package rtpsend
