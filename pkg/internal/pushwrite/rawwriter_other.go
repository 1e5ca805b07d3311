//go:build !linux

package pushwrite

import "net"

// rawWriter is Linux's only: elsewhere every player has a goroutine that
// writes (Writer.Run).
type rawWriter struct{}

func newRawWriter(net.Conn) *rawWriter { return nil }

func (*rawWriter) write(*net.Buffers) (int, bool, error) { panic("livehttp: no raw writer") }

func (*rawWriter) release() {}
