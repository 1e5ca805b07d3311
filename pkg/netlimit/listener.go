package netlimit

import (
	"net"
	"sync/atomic"
)

// Listen wraps ln so that every connection it accepts takes a slot of l,
// given back when the connection is closed. name ("rtmp", "http") labels
// log lines and ActiveOn; listeners sharing a name share that count.
//
// Accept never returns an error for a refused connection: it closes it
// and waits for the next one, so a server's accept loop sees neither the
// refusal nor a spin. Errors of ln.Accept are returned unchanged (not
// wrapped), because servers test them by type assertion: http.Server
// retries an accept error only if err.(net.Error) says Temporary, and
// stops on net.ErrClosed after Close.
func (l *Limiter) Listen(ln net.Listener, name string) net.Listener {
	return &listener{Listener: ln, l: l, name: name, active: l.listenerCount(name)}
}

type listener struct {
	net.Listener
	l      *Limiter
	name   string
	active *atomic.Int64
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c = ln.l.admit(c, ln); c != nil {
			return c, nil
		}
	}
}
