//go:build !linux

package webrtc

import (
	"log/slog"
	"net"
)

// newBatchConn returns the socket as is: UDP GSO is Linux's.
func newBatchConn(pc net.PacketConn, _ *slog.Logger) net.PacketConn { return pc }
