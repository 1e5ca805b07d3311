package rtpserver

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/format/es"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtp"
)

// maxPending bounds the packets held while the payload kind is detected.
const maxPending = 64

// mediaPipeline is the default pipeline: detect the payload (PS, TS or an
// elementary stream), demux or depacketize it, and hand access units to
// an elementary-stream ingest that feeds the publisher.
type mediaPipeline struct {
	o    PipelineOptions
	log  *slog.Logger
	kind rtp.Kind
	det  rtp.Detector

	pending []*pionrtp.Packet
	in      *es.Ingest
	ps      *ps.Demuxer
	psTime  map[byte]*ps.Clock
	ts      *tsPipe
	depack  rtp.Depacketizer
	rtpTime rtp.Unwrapper
	clock   uint32
	sawAU   bool

	// psMarks: the sender sets the marker bit on the last packet of a
	// frame, as GB28181 senders do; psOpen: the last packet was not
	// such a one, so the rest of a frame was still to come.
	psMarks, psOpen bool

	// seen is the codecs found, touched only by the goroutine that
	// demuxes (the packets' one, or the TS reader's); codecs is its
	// sorted copy for Describe, replaced when a codec is new, so a frame
	// costs no lock.
	seen   map[string]bool
	codecs atomic.Pointer[[]string]
	kindV  atomic.Value // rtp.Kind, for Describe

	warned map[string]bool
}

func newMediaPipeline(o PipelineOptions) Pipeline {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &mediaPipeline{
		o: o, log: log,
		in:     es.NewIngest(o.Sink, es.Options{OnlyTrack: o.OnlyTrack, Log: log}),
		psTime: map[byte]*ps.Clock{},
		seen:   map[string]bool{},
		warned: map[string]bool{},
	}
	if o.Payload != "" {
		m.setKind(rtp.Kind(o.Payload))
	}
	return m
}

func (m *mediaPipeline) setKind(k rtp.Kind) {
	m.kind = k
	m.kindV.Store(k)
	// TS is demuxed on a goroutine of its own (tsPipe); every other
	// kind writes its frames inside Packet.
	if k != rtp.KindTS && m.o.Batched != nil {
		m.o.Batched()
	}
	switch k {
	case rtp.KindPS:
		m.ps = ps.NewDemuxer()
		// psFrame hands each frame to the es.Ingest, which copies it into
		// its FLV tag's room: no copy of the demuxer's own is needed.
		m.ps.Borrow = true
	case rtp.KindTS:
		m.ts = newTSPipe(m.in, m.log, m.addCodec)
	case rtp.KindUnknown:
		m.warnOnce("payload", "rtp payload not recognised: its packets are counted but not decoded")
	default:
		d, err := rtp.NewDepacketizer(k)
		if err != nil {
			m.warnOnce("payload", "rtp payload not supported", "payload", string(k), "error", err.Error())
			m.kind = rtp.KindUnknown
			return
		}
		m.depack = d
		m.clock = k.ClockRate()
		if m.clock == 0 {
			// AAC's clock is its sample rate, which only an SDP (or an
			// ADTS header, read at the first frame) tells.
			m.clock = 90000
		}
		m.rtpTime = rtp.Unwrapper{ClockRate: m.clock}
	}
}

func (m *mediaPipeline) Packet(p *pionrtp.Packet, lost int) {
	if lost != 0 {
		m.resync()
	}
	if m.kind == "" {
		m.pending = append(m.pending, p)
		k, done := m.det.Feed(p.PayloadType, p.Payload)
		if !done && len(m.pending) < maxPending {
			return
		}
		if !done {
			k = m.det.Kind()
		}
		m.setKind(k)
		pending := m.pending
		m.pending = nil
		for _, q := range pending {
			m.handle(q)
		}
		return
	}
	m.handle(p)
}

// resync follows a gap: partial data is dropped and video waits for the
// next keyframe, so players never see a picture built on missing slices.
func (m *mediaPipeline) resync() {
	switch {
	case m.ps != nil:
		m.ps.Reset()
		m.in.ResyncVideo()
	case m.ts != nil:
		m.ts.resync()
	case m.depack != nil:
		m.depack.Reset()
		m.in.ResyncVideo()
	}
}

func (m *mediaPipeline) handle(p *pionrtp.Packet) {
	switch {
	case m.ps != nil:
		if err := m.ps.Write(p.Payload, m.psFrame); err != nil {
			m.warnOnce("ps", "ps demux error", "error", err.Error())
		}
		m.psMarks = m.psMarks || p.Marker
		m.psOpen = !p.Marker
	case m.ts != nil:
		m.ts.write(p.Payload)
	case m.depack != nil:
		aus, err := m.depack.Push(p)
		if err != nil {
			m.warnOnce("depacketize", "rtp depacketize error", "payload", string(m.kind), "error", err.Error())
		}
		for _, au := range aus {
			m.accessUnit(au)
		}
	}
}

// ticks converts a clock value to a duration.
func ticks(v int64, rate uint32) time.Duration {
	if rate == 0 {
		rate = 90000
	}
	// Split so that v*time.Second cannot overflow for unwrapped clocks.
	r := int64(rate)
	return time.Duration(v/r)*time.Second + time.Duration(v%r)*time.Second/time.Duration(r)
}

func (m *mediaPipeline) psFrame(f ps.Frame) {
	st := m.psTime[f.StreamID]
	if st == nil {
		u := &rtp.Unwrapper{Bits: 33, ClockRate: 90000}
		st = &ps.Clock{Unwrap: func(pts int64) int64 { ext, _ := u.Unwrap(uint64(pts)); return ext }}
		m.psTime[f.StreamID] = st
	}
	pts, dts, ok := st.Stamp(f)
	if !ok {
		m.warnOnce("nopts", "ps frame without a timestamp before any with one dropped")
		return
	}
	var err error
	switch f.Type {
	case ps.StreamH264:
		m.addCodec("h264")
		err = m.in.WriteVideo(media.CodecH264, pts, dts, f.Data)
	case ps.StreamH265:
		m.addCodec("h265")
		err = m.in.WriteVideo(media.CodecH265, pts, dts, f.Data)
	case ps.StreamAAC:
		m.addCodec("aac")
		err = m.in.WriteAAC(pts, f.Data)
	case ps.StreamG711A:
		m.addCodec("pcma")
		err = m.in.WriteG711(media.CodecG711A, pts, f.Data)
	case ps.StreamG711U:
		m.addCodec("pcmu")
		err = m.in.WriteG711(media.CodecG711U, pts, f.Data)
	case ps.StreamMPEG1Audio, ps.StreamMPEG2Audio:
		m.addCodec("mp3")
		err = m.in.WriteMP3Stream(pts, f.Data)
	case ps.StreamOpus:
		m.addCodec("opus")
		err = m.in.WriteOpus(pts, ps.OpusPayload(f.Data))
	default:
		m.addCodec(fmt.Sprintf("0x%02x", byte(f.Type)))
		m.warnOnce(fmt.Sprint("type", f.Type), "ps stream of an unsupported type dropped",
			"stream_type", fmt.Sprintf("0x%02x", byte(f.Type)), "stream_id", fmt.Sprintf("0x%02x", f.StreamID))
		return
	}
	if err != nil {
		m.warnOnce("ingest", "ps frame refused", "error", err.Error())
	}
}

func (m *mediaPipeline) accessUnit(au rtp.AccessUnit) {
	if !m.sawAU {
		m.sawAU = true
		if m.kind == rtp.KindAAC && au.SampleRate > 0 {
			// ADTS told the rate, and so the RTP clock.
			m.clock = uint32(au.SampleRate)
			m.rtpTime = rtp.Unwrapper{ClockRate: m.clock}
		}
	}
	ext, _ := m.rtpTime.Unwrap(uint64(au.Timestamp))
	t := ticks(ext, m.clock)
	var err error
	switch m.kind {
	case rtp.KindH264:
		err = m.in.WriteVideo(media.CodecH264, t, t, au.Data)
	case rtp.KindH265:
		err = m.in.WriteVideo(media.CodecH265, t, t, au.Data)
	case rtp.KindPCMA:
		err = m.in.WriteG711(media.CodecG711A, t, au.Data)
	case rtp.KindPCMU:
		err = m.in.WriteG711(media.CodecG711U, t, au.Data)
	case rtp.KindOpus:
		err = m.in.WriteOpus(t, au.Data)
	case rtp.KindAAC:
		// With ADTS inside RTP, as some devices send, the unit carries
		// its configuration; RFC 3640 AAC needs one from an SDP, which
		// GB28181 does not give: such frames are refused and counted.
		err = m.in.WriteAACRaw(t, au.Config, au.Data)
	}
	m.addCodec(string(m.kind))
	if err != nil {
		m.warnOnce("ingest", "rtp access unit refused", "payload", string(m.kind), "error", err.Error())
	}
}

func (m *mediaPipeline) addCodec(c string) {
	if m.seen[c] {
		return
	}
	m.seen[c] = true
	list := make([]string, 0, len(m.seen))
	for k := range m.seen {
		list = append(list, k)
	}
	sort.Strings(list)
	m.codecs.Store(&list)
}

func (m *mediaPipeline) warnOnce(kind, msg string, args ...any) {
	if m.warned[kind] {
		return
	}
	m.warned[kind] = true
	m.log.Warn(msg, args...)
}

func (m *mediaPipeline) Close() {
	switch {
	case m.ps != nil && (m.ps.Cut() > 0 || m.psMarks && m.psOpen):
		// The stream ends inside a frame: the server was closed (or
		// timed out) while the rest of it was on its way. What is held
		// is dropped rather than passed on cut short, where a recording
		// or a player would decode a broken picture (found by
		// cmd/mediakit's TestSoak).
		m.ps.Reset()
	case m.ps != nil:
		m.ps.Flush(m.psFrame)
	case m.ts != nil:
		m.ts.close()
	}
	if err := m.in.Flush(); err != nil {
		m.log.Debug("rtp ingest flush", "error", err.Error())
	}
}

func (m *mediaPipeline) Describe() (string, []string) {
	k, _ := m.kindV.Load().(rtp.Kind)
	var codecs []string
	if p := m.codecs.Load(); p != nil {
		codecs = slices.Clone(*p)
	}
	return string(k), codecs
}
