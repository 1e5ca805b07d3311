// Package gbsender is a GB28181-style camera for tests and benchmarks: it
// muxes access units into MPEG-PS, cuts each frame into RTP packets and
// sends them over UDP or TCP (RFC 4571), with optional loss and
// reordering.
package gbsender

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"syscall"
	"time"

	pionrtp "github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/rtp"
)

// Frame is one access unit to send.
type Frame struct {
	Video bool
	Key   bool
	PTS   int64 // 90 kHz
	Data  []byte
}

// Options configure a sender.
type Options struct {
	Network     string // "udp" (default) or "tcp"
	Addr        string // HOST:PORT of the RTP server
	SSRC        uint32
	PayloadType uint8 // default 96 (PS)
	VideoType   ps.StreamType
	AudioType   ps.StreamType // 0: no audio
	// Loss drops this fraction of packets; Reorder swaps this fraction
	// of packets with the next one. Seed makes both repeatable.
	Loss, Reorder float64
	Seed          uint64
	// Realtime paces frames by their timestamps; otherwise as fast as
	// the socket takes them. Speed > 0 paces them that many times faster
	// than real time (a UDP burst of a whole clip overflows a socket
	// buffer, as it would on a network).
	Realtime bool
	Speed    float64
	// OmitPSM leaves the program stream map out, as some cameras do.
	OmitPSM bool
	// Raw sends the frames' data as RTP payloads as they are, instead of
	// PS (MPEG-TS chunks, G.711); with H264Payloader, H.264 access units
	// through pion's RFC 6184 payloader.
	Raw           bool
	H264Payloader bool
}

// Stats count what was sent.
type Stats struct {
	Frames, Packets, Dropped, Reordered, Bytes int
}

// Sender sends to one RTP server.
type Sender struct {
	o      Options
	conn   net.Conn
	mux    *ps.Muxer
	pz     rtp.Packetizer
	rnd    *rand.Rand
	held   *pionrtp.Packet
	stats  Stats
	buf    []byte            // PS bytes of the current frame
	pkts   []*pionrtp.Packet // packets of the current frame
	wire   []byte            // the packet being written
	framed []byte            // and with its RFC 4571 length, over TCP
}

// Dial connects to the RTP server.
func Dial(o Options) (*Sender, error) {
	if o.Network == "" {
		o.Network = "udp"
	}
	if o.PayloadType == 0 {
		o.PayloadType = 96
	}
	c, err := net.Dial(o.Network, o.Addr)
	if err != nil {
		return nil, fmt.Errorf("gbsender: dial %s %s: %w", o.Network, o.Addr, err)
	}
	streams := []ps.Stream{{ID: 0xE0, Type: o.VideoType}}
	if o.AudioType != 0 {
		streams = append(streams, ps.Stream{ID: 0xC0, Type: o.AudioType})
	}
	s := &Sender{
		o: o, conn: c, mux: ps.NewMuxer(streams),
		pz:  rtp.Packetizer{SSRC: o.SSRC, PayloadType: o.PayloadType, Sequence: uint16(o.SSRC)},
		rnd: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
	}
	s.mux.OmitPSM = o.OmitPSM
	if o.Raw && o.H264Payloader {
		s.pz.Payloader = &codecs.H264Payloader{}
	}
	return s, nil
}

// Close closes the connection.
func (s *Sender) Close() error { return s.conn.Close() }

// Stats returns what was sent so far.
func (s *Sender) Stats() Stats { return s.stats }

// Send sends frames, paced when Options.Realtime, until done or ctx ends.
func (s *Sender) Send(ctx context.Context, frames []Frame) error {
	start := time.Now()
	var first int64 = -1
	for _, f := range frames {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.o.Realtime || s.o.Speed > 0 {
			if first < 0 {
				first = f.PTS
			}
			speed := s.o.Speed
			if speed <= 0 {
				speed = 1
			}
			due := start.Add(time.Duration(float64(time.Duration(f.PTS-first)*time.Second/90000) / speed))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				}
			}
		}
		if err := s.SendFrame(f); err != nil {
			return err
		}
	}
	return s.flushHeld()
}

// SendFrame muxes and sends one frame.
func (s *Sender) SendFrame(f Frame) error {
	id, typ := byte(0xE0), s.o.VideoType
	if !f.Video {
		id, typ = 0xC0, s.o.AudioType
	}
	var payload []byte
	if s.o.Raw {
		payload = f.Data
	} else {
		s.buf = s.mux.AppendFrame(s.buf[:0], ps.Frame{StreamID: id, Type: typ, PTS: f.PTS, DTS: f.PTS, Data: f.Data, Key: f.Key}, f.Key)
		payload = s.buf
	}
	clear(s.pkts)
	pkts, err := s.pz.Packetize(s.pkts[:0], payload, uint32(f.PTS))
	s.pkts = pkts
	if err != nil {
		return err
	}
	s.stats.Frames++
	for _, p := range pkts {
		if err := s.emit(p); err != nil {
			return err
		}
	}
	return nil
}

// emit applies loss and reordering, then writes.
func (s *Sender) emit(p *pionrtp.Packet) error {
	if s.o.Loss > 0 && s.rnd.Float64() < s.o.Loss {
		s.stats.Dropped++
		return nil
	}
	if s.held != nil {
		held := s.held
		s.held = nil
		if err := s.write(p); err != nil {
			return err
		}
		s.stats.Reordered++
		return s.write(held)
	}
	if s.o.Reorder > 0 && s.rnd.Float64() < s.o.Reorder {
		cp := *p
		cp.Payload = append([]byte(nil), p.Payload...)
		s.held = &cp
		return nil
	}
	return s.write(p)
}

func (s *Sender) flushHeld() error {
	if s.held == nil {
		return nil
	}
	h := s.held
	s.held = nil
	return s.write(h)
}

func (s *Sender) write(p *pionrtp.Packet) error {
	n := p.MarshalSize()
	s.wire = slices.Grow(s.wire[:0], n)[:n]
	if _, err := p.MarshalTo(s.wire); err != nil {
		return err
	}
	b := s.wire
	if s.o.Network == "tcp" {
		s.framed = rtp.AppendFrame(s.framed[:0], b)
		b = s.framed
	}
	_, err := s.conn.Write(b)
	if err != nil && s.o.Network != "tcp" && errors.Is(err, syscall.ECONNREFUSED) {
		// An ICMP answer to an earlier datagram (the server was not
		// listening yet): a camera keeps sending.
		err = nil
	}
	if err != nil {
		return fmt.Errorf("gbsender: write: %w", err)
	}
	s.stats.Packets++
	s.stats.Bytes += len(b)
	return nil
}
