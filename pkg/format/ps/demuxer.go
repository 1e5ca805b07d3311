package ps

import (
	"bytes"
	"cmp"
	"slices"
)

// Stats counts what a Demuxer has seen and thrown away.
type Stats struct {
	Bytes         uint64 // bytes written
	Frames        uint64 // frames emitted
	Packs         uint64 // pack headers
	SystemHeaders uint64
	PSMs          uint64 // program stream maps read
	BadPSMs       uint64 // program stream maps that could not be read (ignored)
	PES           uint64 // PES packets of audio and video streams
	ProgramEnds   uint64 // MPEG_program_end_code
	Skipped       uint64 // bytes of padding, private and other streams, and system headers, skipped by design
	Garbage       uint64 // bytes skipped while looking for a start code
	Resyncs       uint64 // times a start code was expected and not found, or a header was corrupt
	Dropped       uint64 // payload bytes thrown away: partial frames, frames over MaxFrameSize, bytes before the first access unit
	DroppedFrames uint64 // partial and oversize frames thrown away
	Oversize      uint64 // frames over MaxFrameSize
	Resets        uint64 // calls to Reset
}

type parseState uint8

const (
	stSync     parseState = iota // looking for a start code; hdr holds the start of one
	stHeader                     // hdr holds the start of a header
	stBody                       // remain bytes of a packet to pass to target, or skip if target is nil
	stOpenBody                   // a video PES without length: payload up to the next start code
)

// hdrMax is the largest header the demuxer buffers: a PSM of the largest
// length the standard allows. PES headers take at most 264 bytes, pack
// headers 21; system headers and other packets are skipped unbuffered.
const hdrMax = psmFixedLen + psmMaxLength

// numStreams is the number of audio and video stream_ids, 0xC0 to 0xEF.
const numStreams = 0xF0 - 0xC0

// Demuxer splits an MPEG program stream into frames. The zero value is
// ready to use. It is not safe for concurrent use, and emit callbacks must
// not call back into it.
//
// Memory is bounded whatever the input: the frames being assembled hold at
// most MaxFrameSize bytes per stream and twice that in all, a partial
// header at most 1 KiB, and a stream lets go of a buffer over 256 KiB once
// its frame is out. A frame over the limit is dropped, Write says so, and
// the stream resynchronises on its next access unit.
type Demuxer struct {
	// MaxFrameSize bounds a frame; 0 means DefaultMaxFrameSize.
	MaxFrameSize int
	// Borrow hands out each Frame's Data in the demuxer's own buffer,
	// valid only until the callback returns, instead of a copy the Frame
	// owns: for a caller that copies what it keeps anyway (an es.Ingest,
	// which writes each frame into its FLV tag's room), a copy and an
	// allocation per frame less.
	Borrow bool

	st     parseState
	hdr    [hdrMax]byte
	n      int     // bytes in hdr
	remain int     // stBody: bytes left in the packet
	target *stream // stBody, stOpenBody: the stream the payload is for

	// back holds bytes to parse again before the caller's, after a header
	// turned out corrupt (lost holds them until the step that found it
	// returns). Both are empty between calls.
	back             [hdrMax]byte
	backOff, backEnd int
	lost             [hdrMax]byte
	lostN            int

	streams [numStreams]*stream
	active  []*stream // streams seen, in order of appearance

	emit  func(Frame)
	err   error
	stats Stats
}

// NewDemuxer returns a Demuxer with the default limits.
func NewDemuxer() *Demuxer { return &Demuxer{} }

func (d *Demuxer) maxFrameSize() int {
	if d.MaxFrameSize > 0 {
		return d.MaxFrameSize
	}
	return DefaultMaxFrameSize
}

// maxBuffered bounds the bytes held for all streams together.
func (d *Demuxer) maxBuffered() int { return 2 * d.maxFrameSize() }

// buffered is the number of payload bytes the streams hold.
func (d *Demuxer) buffered() int {
	n := 0
	for _, s := range d.active {
		n += len(s.buf) - s.base
	}
	return n
}

// Buffered returns the number of bytes the demuxer holds: the partial
// header and the frames being assembled.
func (d *Demuxer) Buffered() int { return d.n + d.buffered() }

// Stats returns the counters.
func (d *Demuxer) Stats() Stats { return d.stats }

// Cut reports, at the end of the input (before Flush), whether the input
// ended inside a packet: the bytes a packet still lacked, or those of a
// header begun. 0 when it ended between packets (or in a PES without
// length, which ends where the data does).
func (d *Demuxer) Cut() int {
	switch d.st {
	case stBody:
		return d.remain
	case stHeader:
		return d.n
	}
	return 0
}

// Streams returns the audio and video streams seen so far, by stream_id,
// with their type from the PSM or as guessed from the payload
// (StreamUnknown until a frame has told).
func (d *Demuxer) Streams() []Stream {
	out := make([]Stream, 0, len(d.active))
	for _, s := range d.active {
		out = append(out, Stream{ID: s.id, Type: s.typ})
	}
	slices.SortFunc(out, func(a, b Stream) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (d *Demuxer) stream(id byte) *stream {
	i := int(id) - 0xC0
	if d.streams[i] == nil {
		d.streams[i] = newStream(d, id)
		d.active = append(d.active, d.streams[i])
	}
	return d.streams[i]
}

// fail records the first error of a Write.
func (d *Demuxer) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Write consumes the next bytes of the program stream (RTP payloads in
// order; packets may be split anywhere) and calls emit, which may be nil,
// for every frame completed. The error, if any, wraps ErrFrameTooLarge and
// names the stream; all of p has been consumed all the same and the caller
// can keep writing. Garbage is skipped and counted in Stats.
func (d *Demuxer) Write(p []byte, emit func(Frame)) error {
	d.emit, d.err = emit, nil
	defer func() { d.emit = nil }()
	d.stats.Bytes += uint64(len(p))
	for {
		switch {
		case d.backOff < d.backEnd:
			rest := d.step(d.back[d.backOff:d.backEnd])
			d.backOff = d.backEnd - len(rest)
		case len(p) > 0:
			p = d.step(p)
		default:
			return d.err
		}
		if d.lostN > 0 {
			d.unread(d.lost[:d.lostN])
			d.lostN = 0
		}
	}
}

// step parses the start of p in the current state and returns the rest.
// It consumes at least one byte or changes the state.
func (d *Demuxer) step(p []byte) []byte {
	switch d.st {
	case stSync:
		return d.seek(p, nil)
	case stHeader:
		return d.header(p)
	case stBody:
		k := min(d.remain, len(p))
		if d.target != nil {
			d.target.write(p[:k])
		} else {
			d.stats.Skipped += uint64(k)
		}
		d.remain -= k
		if d.remain == 0 {
			d.st, d.target = stHeader, nil
		}
		return p[k:]
	case stOpenBody:
		return d.seek(p, d.target)
	}
	d.st = stSync // unreachable; progress regardless
	return p
}

// Flush emits the frames being assembled, as at the end of the stream.
func (d *Demuxer) Flush(emit func(Frame)) {
	d.emit = emit
	defer func() { d.emit = nil }()
	if d.st == stOpenBody && d.target != nil && d.n > 0 {
		// Held back in case they began a start code; at the end they are payload.
		d.target.write(d.hdr[:d.n])
		d.n = 0
	}
	d.flushStreams()
}

func (d *Demuxer) flushStreams() {
	for _, s := range d.active {
		s.finish()
	}
}

// Reset drops partial data after packet loss. The demuxer resynchronises
// on the next start code, and each stream on its next access unit: for
// H.264 and H.265 the next start of an access unit in the NAL units, for
// other codecs the next PES packet with a PTS. What the streams' types are
// is kept.
func (d *Demuxer) Reset() {
	d.stats.Resets++
	d.st, d.n, d.remain, d.target = stSync, 0, 0, nil
	d.backOff, d.backEnd, d.lostN = 0, 0, 0
	for _, s := range d.active {
		s.reset()
	}
}

// seek consumes p up to the next start code, passing the bytes before it
// to sink, or counting them as garbage if sink is nil. hdr[:n] holds the
// bytes held back from earlier input because they may begin a start code.
// Once one is complete in hdr it switches to stHeader.
func (d *Demuxer) seek(p []byte, sink *stream) []byte {
	for d.n > 0 && len(p) > 0 {
		d.hdr[d.n] = p[0]
		d.n++
		p = p[1:]
		for d.n > 0 && !isStartCodePrefix(d.hdr[:d.n]) {
			d.pass(d.hdr[:1], sink)
			d.n = copy(d.hdr[:], d.hdr[1:d.n])
		}
		if d.n == startCodeLen {
			d.st = stHeader
			return p
		}
	}
	for len(p) > 0 {
		i := bytes.Index(p, startCode3)
		if i < 0 {
			k := 0 // trailing zeros may begin a start code
			for k < 2 && k < len(p) && p[len(p)-1-k] == 0 {
				k++
			}
			d.pass(p[:len(p)-k], sink)
			d.n = copy(d.hdr[:], p[len(p)-k:])
			return nil
		}
		if i+3 >= len(p) {
			d.pass(p[:i], sink)
			d.n = copy(d.hdr[:], p[i:])
			return nil
		}
		if p[i+3] >= codeMin {
			d.pass(p[:i], sink)
			d.n = copy(d.hdr[:], p[i:i+startCodeLen])
			d.st = stHeader
			return p[i+startCodeLen:]
		}
		d.pass(p[:i+1], sink)
		p = p[i+1:]
	}
	return p
}

func (d *Demuxer) pass(b []byte, sink *stream) {
	if sink != nil {
		sink.write(b)
	} else {
		d.stats.Garbage += uint64(len(b))
	}
}

// header fills hdr with the header that starts there and handles it.
func (d *Demuxer) header(p []byte) []byte {
	for {
		need, bad := d.headerNeed()
		if bad || need > len(d.hdr) {
			d.lose()
			return p
		}
		if d.n < need {
			if len(p) == 0 {
				return p
			}
			k := copy(d.hdr[d.n:need], p)
			d.n += k
			p = p[k:]
			continue
		}
		d.handle()
		return p
	}
}

// headerNeed returns the length of the header in hdr, or a length greater
// than n while that is not known yet. bad means hdr cannot hold a header.
func (d *Demuxer) headerNeed() (need int, bad bool) {
	if d.n < startCodeLen {
		return startCodeLen, false
	}
	b := d.hdr[:d.n]
	if !isStartCode(b) {
		return 0, true
	}
	code := b[3]
	switch {
	case code == codeEnd:
		return startCodeLen, false
	case code == codePack:
		return packHeaderNeed(b)
	case len(b) < 6:
		return 6, false
	}
	length := int(b[4])<<8 | int(b[5])
	switch {
	case code == codeSystemHeader:
		return 6, length < 6 || length > maxSystemHeaderLen
	case code == codePSM:
		return psmFixedLen + length, length < psmMinLength || length > psmMaxLength
	case IsVideoID(code), IsAudioID(code) && length > 0:
		return pesHeaderNeed(b)
	}
	return 6, false
}

// handle acts on the complete header in hdr and sets the next state.
func (d *Demuxer) handle() {
	b := d.hdr[:d.n]
	d.n = 0
	d.st = stHeader
	code := b[3]
	var length int
	if len(b) >= 6 {
		length = int(b[4])<<8 | int(b[5])
	}
	switch {
	case code == codeEnd:
		d.stats.ProgramEnds++
		d.flushStreams()
	case code == codePack:
		d.stats.Packs++
	case code == codeSystemHeader:
		d.stats.SystemHeaders++
		d.skip(length)
	case code == codePSM:
		d.psm(b)
	case IsVideoID(code) || IsAudioID(code):
		d.stats.PES++
		if length == 0 && IsAudioID(code) {
			return
		}
		h := parsePESHeader(b)
		s := d.stream(code)
		s.beginPES(h)
		d.target = s
		if length == 0 { // allowed for video in transport streams; some cameras send it in PS
			d.st = stOpenBody
			return
		}
		d.st, d.remain = stBody, length-(len(b)-pesFixedLen)
	default: // padding, private streams, ECM, EMM, directory...
		d.skip(length)
	}
}

func (d *Demuxer) skip(n int) {
	if n > 0 {
		d.st, d.remain, d.target = stBody, n, nil
	}
}

func (d *Demuxer) psm(b []byte) {
	streams, err := parsePSM(b)
	if err != nil { // a map that contradicts itself says nothing reliable
		d.stats.BadPSMs++
		return
	}
	d.stats.PSMs++
	for _, st := range streams {
		if IsVideoID(st.ID) || IsAudioID(st.ID) {
			d.stream(st.ID).setType(st.Type)
		}
	}
}

// lose gives up the header in hdr: its first byte is garbage and the
// rest is parsed again, from stSync.
func (d *Demuxer) lose() {
	d.stats.Resyncs++
	d.stats.Garbage++
	d.lostN = copy(d.lost[:], d.hdr[1:d.n])
	d.n = 0
	d.st = stSync
}

// unread puts b in front of the bytes still to parse again. b came from
// hdr, which was filled from those bytes or, once they ran out, from the
// caller's, so together they never exceed hdrMax.
func (d *Demuxer) unread(b []byte) {
	rest := d.backEnd - d.backOff
	if len(b)+rest > len(d.back) { // cannot happen; keep memory bounded regardless
		d.stats.Garbage += uint64(len(b) + rest - len(d.back))
		rest = len(d.back) - len(b)
	}
	copy(d.back[len(b):], d.back[d.backOff:d.backOff+rest])
	copy(d.back[:], b)
	d.backOff, d.backEnd = 0, len(b)+rest
}

// emitFrame hands out a frame of s with the current access unit's
// timestamps, guessing the codec of an audio stream from its first frame.
func (d *Demuxer) emitFrame(s *stream, data []byte) {
	if s.typ == StreamUnknown && IsAudioID(s.id) {
		s.typ = guessAudio(data)
	}
	pts, dts := s.pts, s.dts
	if pts < 0 {
		pts, dts = -1, -1
	} else if dts < 0 {
		dts = pts
	}
	d.stats.Frames++
	if d.emit != nil {
		d.emit(Frame{StreamID: s.id, Type: s.typ, PTS: pts, DTS: dts, Key: s.key, Data: data})
	}
}
