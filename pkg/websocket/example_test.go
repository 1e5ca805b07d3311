package websocket_test

import (
	"bytes"
	"fmt"
	"net"

	"github.com/mediakit/mediakit/pkg/websocket"
)

// flvClient shows the allocation-free send path: the header scratch space
// and the net.Buffers backing array live in a long-lived per-client struct,
// so writing a frame allocates nothing and the media payload is never
// copied. With a *net.TCPConn, net.Buffers becomes a single writev.
type flvClient struct {
	conn interface{ Write([]byte) (int, error) }
	hdr  [websocket.MaxHeaderLen]byte
	vec  [2][]byte
	bufs net.Buffers
}

func (c *flvClient) writeTag(tag []byte) error {
	hdr := websocket.AppendFrameHeader(c.hdr[:0], true, websocket.Binary, len(tag))
	c.bufs = append(c.vec[:0], hdr, tag)
	_, err := c.bufs.WriteTo(c.conn) // WriteTo consumes c.bufs; it is rebuilt per frame
	return err
}

func ExampleAppendFrameHeader() {
	var wire bytes.Buffer
	c := &flvClient{conn: &wire}
	c.writeTag([]byte("FLV\x01\x05"))
	fmt.Printf("% x\n", wire.Bytes())
	// Output: 82 05 46 4c 56 01 05
}

func ExampleAppendCloseFrame() {
	frame := websocket.AppendCloseFrame(nil, websocket.CloseGoingAway, "restart")
	fmt.Printf("% x\n", frame)
	// Output: 88 09 03 e9 72 65 73 74 61 72 74
}
