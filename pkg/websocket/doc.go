// Package websocket is a minimal server-side WebSocket (RFC 6455)
// implementation for pushing media (WebSocket-FLV) to browser players such as
// flv.js / mpegts.js and to ffmpeg.
//
// The package deliberately stops at the frame level. A media server writes
// many frames per second to thousands of clients, so instead of a Conn type
// with its own locking and buffering, the send side is a pair of append
// helpers: the caller encodes a frame header into a scratch buffer it owns
// and writes header and payload together with net.Buffers (writev), which
// costs no allocation and no payload copy per frame. The caller keeps full
// control over write deadlines, queueing and which goroutine writes.
//
// The receive side is a FrameReader that validates and unmasks client frames
// into a reused buffer. Players send almost nothing after the handshake, so
// FrameReader.Drain is usually all a server needs: it answers the question
// "when should I stop sending?" and hands pings to the caller.
//
// Typical use:
//
//	conn, br, err := websocket.Upgrade(w, r, nil)
//	if err != nil {
//		return // Upgrade already wrote the HTTP error response.
//	}
//	go func() {
//		fr := websocket.NewFrameReader(br, 4096)
//		err := fr.Drain(func(p []byte) error { return queuePong(p) })
//		stopSending(err)
//	}()
//	// writer goroutine:
//	hdr = websocket.AppendFrameHeader(hdr[:0], true, websocket.Binary, len(tag))
//	bufs = append(bufs[:0], hdr, tag)
//	_, err = bufs.WriteTo(conn)
//
// Not supported, on purpose: extensions (permessage-deflate would cost CPU
// for already compressed media), client-side handshakes, and message
// reassembly.
package websocket
