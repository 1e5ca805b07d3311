// Package rtpserver receives RTP streams (GB28181 cameras sending MPEG-PS,
// MPEG-TS or raw elementary streams) on ports opened through ZLMediaKit's
// openRtpServer API and on the shared RTP port, and publishes each into
// the engine.
//
// One Registry is the truth about every RTP server's life (failure-modes.md
// 3): open and waiting for data, receiving, closing, gone. Each Server has
// one owner goroutine that serialises its end, whether it comes from
// closeRtpServer, a timeout, the stream being closed, or shutdown; the
// Server leaves the Registry, its sockets closed and its port free, before
// that end is reported to anyone. So once Close returns, or the timeout
// hook fires, the same stream id and port can be opened again at once, and
// no answer ever reads a second, disagreeing copy of the state.
package rtpserver
