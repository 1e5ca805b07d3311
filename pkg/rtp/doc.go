// Package rtp holds the transport-level pieces of RTP ingest (GB28181 and
// plain RTP) and of RTP sending, on top of github.com/pion/rtp:
//
//   - RFC 4571 framing of RTP over TCP (FrameReader, AppendFrame), which
//     also accepts the RTSP-interleaved framing some GB28181 devices use;
//   - a per-SSRC Receiver that puts packets back in sequence order with a
//     small bounded reorder buffer and keeps receive statistics;
//   - payload kind detection (Detect, Detector): PS, TS, H.264, H.265, AAC,
//     Opus, G.711;
//   - depacketizers from RTP packets to access units (NewDepacketizer);
//   - a Packetizer for sending;
//   - an Unwrapper that extends 32-bit RTP timestamps and 33-bit MPEG
//     timestamps to int64.
//
// Nothing here touches the network or the engine: callers own sockets and
// goroutines. Every type is for use by one goroutine unless its
// documentation says otherwise.
package rtp
