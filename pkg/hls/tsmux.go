package hls

import (
	"errors"
	"fmt"
	"io"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/mediakit/mediakit/pkg/internal/mpegcrc"
	"github.com/mediakit/mediakit/pkg/media"
)

// tsMuxer is a hand-written MPEG-TS muxer for H.264, H.265, AAC, MP3 and
// Opus that
// writes the same bytes as mediacommon's mpegts.Writer (over go-astits)
// for the calls the Segmenter makes, without a bit writer and without
// allocating per frame once its buffers have grown:
//
//   - PIDs 256, 257, ... in the order tracks are added; PMT on PID 0x1000,
//     program 1, transport stream ID 0, table versions 0, no descriptors;
//     stream types 0x1B (H.264), 0x24 (H.265), 0x0F (AAC in ADTS), 0x03
//     or 0x04 (MP3, MPEG-1 or MPEG-2 rates), 0x06 (Opus, with its
//     registration and extension descriptors);
//   - the first track written to carries the PCR (DTS - 100 ms, on its
//     random access points and on every third frame), in the adaptation
//     field of the PES's first packet;
//   - PAT and PMT before the first frame, before every random access point
//     of the PCR track (every audio frame when it is audio) and every 40th
//     frame otherwise;
//   - video PES: stream ID 0xE0, PES_packet_length 0, an access unit
//     delimiter prepended when the access unit lacks one, Annex-B with
//     4-byte start codes; audio PES: stream ID 0xC0, ADTS without CRC,
//     whole MP3 frames, Opus packets after their control headers;
//     PTS, and DTS only when it differs;
//   - packets filled out by adaptation-field stuffing, continuity counters
//     per PID.
//
// Tables go to W in a Write of their own, each frame's packets in one.
type tsMuxer struct {
	w      io.Writer
	tracks []*tsTrack

	leading       *tsTrack // the PCR track: the first written to
	pcrCountdown  int
	tablesCounter int
	tables        [2 * tsPacketSize]byte // PAT, PMT; built at the first write

	buf []byte // the packets of the frame being written
	es  []byte // the frame's elementary stream bytes (Annex-B, ADTS)

	nalus [][]byte  // scratch access unit of writeFrame
	aus   [1][]byte // scratch audio unit list of writeFrame
}

// tsTrack is one elementary stream of a tsMuxer.
type tsTrack struct {
	pid        uint16
	streamType byte
	codec      media.Codec
	cc         uint8

	adts    [7]byte // ADTS header template: the frame length goes in bytes 3 to 5
	adtsErr error   // why this AAC configuration has no ADTS header
	// pce leads every ADTS frame of a channel configuration 0: the
	// program config element of pceOf's AudioSpecificConfig, as the
	// first element of the raw_data_block, since ADTS has no other place
	// for the layout (ffmpeg's ADTS muxer does so in the first frame;
	// a live player may join at any).
	pce   []byte
	pceOf *media.Track

	descriptors []byte // the PMT's ES_info descriptors (Opus)
}

const (
	tsPMTPID        = 0x1000
	tsFirstPID      = 256
	tsStreamIDVideo = 0xe0
	tsStreamIDAudio = 0xc0
	tsPCRDelay      = 90000 / 10 // PCR = DTS - 100 ms, as mediacommon
	tsTablesPeriod  = 40         // frames between table repetitions, as astits
)

var errTSEmptyAU = errors.New("mpegts: empty access unit")

func newTSMuxer(w io.Writer) *tsMuxer {
	// astits writes tables before its first frame.
	return &tsMuxer{w: w, tablesCounter: tsTablesPeriod}
}

// addTrack adds an elementary stream of codec c (H.264, H.265 or AAC with
// configuration conf); tracks must all be added before the first write.
func (m *tsMuxer) addTrack(c media.Codec, conf *mpeg4audio.AudioSpecificConfig) (*tsTrack, error) {
	t := &tsTrack{pid: uint16(tsFirstPID + len(m.tracks)), codec: c}
	switch c {
	case media.CodecH264:
		t.streamType = 0x1b
	case media.CodecH265:
		t.streamType = 0x24
	case media.CodecAAC:
		t.streamType = 0x0f
		if conf == nil {
			return nil, errors.New("mpegts: AAC track without configuration")
		}
		t.adts, t.adtsErr = adtsTemplate(conf)
	default:
		return nil, fmt.Errorf("mpegts: cannot mux %s", c)
	}
	m.tracks = append(m.tracks, t)
	return t, nil
}

// addMP3Track adds an MPEG audio (MP3) stream of the given sample rate:
// stream type 0x03 (ISO 11172-3) for the MPEG-1 rates, 0x04 (ISO
// 13818-3) for the lower rates of MPEG-2 and 2.5, as ffmpeg tells them.
func (m *tsMuxer) addMP3Track(sampleRate int) *tsTrack {
	t := &tsTrack{pid: uint16(tsFirstPID + len(m.tracks)), codec: media.CodecMP3, streamType: 0x03}
	if mp3LowRate(sampleRate) {
		t.streamType = 0x04
	}
	m.tracks = append(m.tracks, t)
	return t
}

// mp3LowRate reports whether MP3 at rate is MPEG-2 or 2.5 audio (ISO
// 13818-3, 576 samples a frame); an unknown rate (0) is taken as MPEG-1.
func mp3LowRate(rate int) bool { return rate > 0 && rate < 32000 }

// addOpusTrack adds an Opus stream of 1 or 2 channels (ETSI TS 102 366
// draft "Opus in MPEG-TS"): private data (0x06) with a registration
// descriptor 'Opus' and the DVB extension descriptor (0x7f) of tag 0x80,
// opus_audio_descriptor, whose channel_config_code is the channel count
// (mono, stereo; mapping family 0), in mediacommon's order and bytes.
func (m *tsMuxer) addOpusTrack(channels int) (*tsTrack, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("mpegts: Opus with %d channels", channels)
	}
	t := &tsTrack{pid: uint16(tsFirstPID + len(m.tracks)), codec: media.CodecOpus, streamType: 0x06,
		descriptors: []byte{0x05, 4, 'O', 'p', 'u', 's', 0x7f, 2, 0x80, byte(channels)}}
	m.tracks = append(m.tracks, t)
	return t, nil
}

// adtsTemplate is the ADTS header (MPEG-4, no CRC, buffer fullness 0x7FF)
// of conf with a frame length of zero. An error is kept for the first
// frame, as mediacommon reports it there.
func adtsTemplate(conf *mpeg4audio.AudioSpecificConfig) ([7]byte, error) {
	var h [7]byte
	typ := int(conf.Type)
	if typ < 1 || typ > 4 {
		return h, fmt.Errorf("ADTS only supports ObjectType 1-4, got %d", typ)
	}
	idx := -1
	for i, r := range media.AACSampleRates {
		if r == conf.SampleRate {
			idx = i
			break
		}
	}
	if idx < 0 {
		return h, fmt.Errorf("invalid sample rate: %d", conf.SampleRate)
	}
	cc := conf.ChannelConfig
	if cc == 0 {
		switch n := conf.ChannelCount; { //nolint:staticcheck // as mediacommon
		case n == 0:
		case n >= 1 && n <= 6:
			cc = uint8(n)
		case n == 8:
			cc = 7
		default:
			return h, fmt.Errorf("invalid channel count (%d)", n)
		}
	}
	h[0] = 0xff
	h[1] = 0xf1
	h[2] = byte(typ-1)<<6 | byte(idx)<<2 | cc>>2
	h[3] = (cc & 0x03) << 6
	h[5] = 0x1f // fullness 0x7FF, high 5 bits
	h[6] = 0xfc // fullness low 6 bits, one raw data block
	return h, nil
}

// writeH264 writes one H.264 access unit (NAL units without start codes).
func (m *tsMuxer) writeH264(t *tsTrack, pts, dts int64, au [][]byte) error {
	return m.writeVideo(t, pts, dts, au, []byte{9, 240}, 9, h264RandomAccess)
}

// writeH265 writes one H.265 access unit.
func (m *tsMuxer) writeH265(t *tsTrack, pts, dts int64, au [][]byte) error {
	return m.writeVideo(t, pts, dts, au, []byte{35 << 1, 1, 0x50}, 35<<1, h265RandomAccess)
}

func h264RandomAccess(nalu []byte) bool { return nalu[0]&0x1f == 5 }

func h265RandomAccess(nalu []byte) bool {
	switch (nalu[0] >> 1) & 0x3f {
	case 19, 20, 21: // IDR_W_RADL, IDR_N_LP, CRA_NUT
		return true
	}
	return false
}

func (m *tsMuxer) writeVideo(t *tsTrack, pts, dts int64, au [][]byte, aud []byte, audByte byte,
	randomAccessUnit func([]byte) bool) error {
	if len(au) == 0 || len(au[0]) == 0 {
		return errTSEmptyAU
	}
	es := m.es[:0]
	if au[0][0] != audByte {
		es = append(es, 0, 0, 0, 1)
		es = append(es, aud...)
	}
	random := false
	for _, nalu := range au {
		if len(nalu) > 0 && !random && randomAccessUnit(nalu) {
			random = true
		}
		es = append(es, 0, 0, 0, 1)
		es = append(es, nalu...)
	}
	m.es = es
	m.choosePCR(t)
	pcr := false
	if t == m.leading {
		if random || m.pcrCountdown == 0 {
			pcr = true
			m.pcrCountdown = 3
		}
		m.pcrCountdown--
	}
	return m.writePES(t, tsStreamIDVideo, pts, dts, random, pcr, es)
}

// writeMP3 writes whole MP3 frames (each with its header) as one PES.
func (m *tsMuxer) writeMP3(t *tsTrack, pts int64, frames [][]byte) error {
	es := m.es[:0]
	for _, f := range frames {
		es = append(es, f...)
	}
	m.es = es
	return m.writeAudio(t, pts, es)
}

// writeOpus writes Opus packets as one PES, each after its
// opus_control_header (prefix 0x3ff, no trim, no extension, then the
// size in bytes of 255 and a remainder).
func (m *tsMuxer) writeOpus(t *tsTrack, pts int64, packets [][]byte) error {
	es := m.es[:0]
	for _, p := range packets {
		if len(p) == 0 {
			return errors.New("mpegts: empty Opus packet")
		}
		es = append(es, 0x7f, 0xe0)
		for n := len(p); ; n -= 255 {
			if n < 255 {
				es = append(es, byte(n))
				break
			}
			es = append(es, 255)
		}
		es = append(es, p...)
	}
	m.es = es
	return m.writeAudio(t, pts, es)
}

// writeAAC writes AAC access units as ADTS frames in one PES.
func (m *tsMuxer) writeAAC(t *tsTrack, pts int64, aus [][]byte) error {
	if t.adtsErr != nil {
		return t.adtsErr
	}
	es := m.es[:0]
	for _, au := range aus {
		n := len(au) + 7 + len(t.pce)
		if n > 0x1fff {
			return fmt.Errorf("mpegts: AAC access unit of %d bytes is too large for ADTS", len(au))
		}
		h := t.adts
		h[3] |= byte(n >> 11)
		h[4] = byte(n >> 3)
		h[5] |= byte(n&0x07) << 5
		es = append(es, h[:]...)
		es = append(es, t.pce...)
		es = append(es, au...)
	}
	m.es = es
	return m.writeAudio(t, pts, es)
}

// writeAudio writes an audio PES: random access, PTS only, the PCR every
// third frame when t is the PCR track.
func (m *tsMuxer) writeAudio(t *tsTrack, pts int64, es []byte) error {
	m.choosePCR(t)
	pcr := false
	if t == m.leading {
		if m.pcrCountdown == 0 {
			pcr = true
			m.pcrCountdown = 3
		}
		m.pcrCountdown--
	}
	return m.writePES(t, tsStreamIDAudio, pts, pts, true, pcr, es)
}

// writeFrame writes f, a frame of t's codec, at pts and dts (90 kHz):
// video with an access unit delimiter of its own first, audio as one
// PES. wrote is false for a frame with nothing to write (no NAL unit, an
// empty payload).
func (m *tsMuxer) writeFrame(t *tsTrack, f *media.Frame, pts, dts int64) (wrote bool, err error) {
	switch t.codec {
	case media.CodecH264, media.CodecH265:
		au, n := media.AppendAccessUnit(append(m.nalus[:0], media.AccessUnitDelimiter(t.codec)), f)
		m.nalus = au
		if n == 0 {
			return false, nil
		}
		if t.codec == media.CodecH264 {
			err = m.writeH264(t, pts, dts, au)
		} else {
			err = m.writeH265(t, pts, dts, au)
		}
		clear(m.nalus)
		return true, err
	}
	if len(f.Payload) == 0 {
		return false, nil
	}
	m.aus[0] = f.Payload
	switch t.codec {
	case media.CodecAAC:
		if f.Track != t.pceOf && t.adtsErr == nil && t.adts[2]&1 == 0 && t.adts[3]>>6 == 0 {
			// Channel configuration 0; a returning publisher's track of
			// the same configuration gives the same element.
			t.pceOf, t.pce = f.Track, nil
			if c, err := media.ParseAACConfig(f.Track.AACConfig); err == nil {
				t.pce = c.PCE
			}
		}
		err = m.writeAAC(t, pts, m.aus[:])
	case media.CodecMP3:
		err = m.writeMP3(t, pts, m.aus[:])
	case media.CodecOpus:
		err = m.writeOpus(t, pts, m.aus[:])
	}
	m.aus[0] = nil
	return true, err
}

// writeTables writes PAT and PMT now, making the first track the PCR
// track if no frame chose one yet: for a live session whose first frame
// does not start with them.
func (m *tsMuxer) writeTables() error {
	if len(m.tracks) == 0 {
		return errors.New("mpegts: no track")
	}
	m.choosePCR(m.tracks[0])
	m.tablesCounter = 0
	m.stampTableCCs()
	_, err := m.w.Write(m.tables[:])
	return err
}

// choosePCR makes t the PCR track if no track is yet.
func (m *tsMuxer) choosePCR(t *tsTrack) {
	if m.leading == nil {
		m.leading = t
		m.buildTables()
	}
}

// writePES writes the tables when due and then data as one PES.
func (m *tsMuxer) writePES(t *tsTrack, streamID byte, pts, dts int64, random, pcr bool, data []byte) error {
	m.tablesCounter++
	if (random && t == m.leading) || m.tablesCounter >= tsTablesPeriod {
		m.tablesCounter = 0
		m.stampTableCCs()
		if _, err := m.w.Write(m.tables[:]); err != nil {
			return err
		}
	}
	if len(data) == 0 {
		return nil
	}

	// PES header.
	var hdr [19]byte
	hdr[2] = 1
	hdr[3] = streamID
	hdr[6] = 0x80
	hn := 14
	if pts == dts {
		hdr[7] = 0x80
		hdr[8] = 5
		putTimestamp(hdr[9:], 0x2, pts)
	} else {
		hdr[7] = 0xc0
		hdr[8] = 10
		putTimestamp(hdr[9:], 0x3, pts)
		putTimestamp(hdr[14:], 0x1, dts)
		hn = 19
	}
	if streamID != tsStreamIDVideo {
		if l := len(data) + hn - 6; l <= 0xffff {
			hdr[4], hdr[5] = byte(l>>8), byte(l)
		}
	}

	// First packet's adaptation field: random_access_indicator and PCR.
	afFlags := byte(0)
	if random {
		afFlags |= 0x40
	}
	afBody := 0 // adaptation field bytes after the length byte, before stuffing
	if random || pcr {
		afBody = 1
		if pcr {
			afFlags |= 0x10
			afBody += 6
		}
	}

	npkt := (len(data)+hn)/(tsPacketSize-4) + 2
	// A writer that can lend its own buffer (the HLS segment sink) gets
	// the packets built in place, not built here and copied.
	pw, direct := m.w.(packetWriter)
	var buf []byte
	if direct {
		buf = pw.reserve(npkt * tsPacketSize)
	} else {
		buf = m.buf[:0]
		if cap(buf) < npkt*tsPacketSize {
			buf = make([]byte, 0, npkt*tsPacketSize+npkt*tsPacketSize/4)
		}
	}
	first := true
	for pos := 0; pos < len(data); {
		off := len(buf)
		buf = buf[:off+tsPacketSize]
		p := buf[off : off+tsPacketSize]
		avail := tsPacketSize - 4
		af := 0
		if first && afBody > 0 {
			af = afBody
			avail -= 1 + afBody
		}
		if first {
			avail -= hn
		}
		n := min(avail, len(data)-pos)
		stuff := avail - n

		p[0] = 0x47
		p[1] = byte(t.pid>>8) & 0x1f
		if first {
			p[1] |= 0x40
		}
		p[2] = byte(t.pid)
		p[3] = 0x10 | t.cc
		t.cc = (t.cc + 1) & 0x0f
		i := 4
		switch {
		case af > 0:
			p[3] |= 0x20
			p[4] = byte(af + stuff)
			p[5] = afFlags
			i = 6
			if pcr {
				putPCR(p[6:], dts-tsPCRDelay)
				i = 12
			}
		case stuff == 1:
			p[3] |= 0x20
			p[4] = 0
			i = 5
			stuff = 0
		case stuff > 1:
			p[3] |= 0x20
			p[4] = byte(stuff - 1)
			p[5] = 0
			i = 6
			stuff -= 2
		}
		for j := 0; j < stuff; j++ {
			p[i+j] = 0xff
		}
		i += stuff
		if first {
			i += copy(p[i:], hdr[:hn])
			first = false
		}
		copy(p[i:], data[pos:pos+n])
		pos += n
	}
	if direct {
		pw.commit(len(buf))
		return nil
	}
	m.buf = buf
	_, err := m.w.Write(buf)
	return err
}

// packetWriter is a writer the muxer may build packets in directly:
// reserve returns an empty slice with at least n bytes of capacity at the
// end of the writer's data, commit takes the first n bytes of it as
// written.
type packetWriter interface {
	reserve(n int) []byte
	commit(n int)
}

// putTimestamp writes a 33-bit PTS or DTS with its 4-bit prefix.
func putTimestamp(b []byte, prefix byte, v int64) {
	u := uint64(v)
	b[0] = prefix<<4 | byte(u>>29)&0x0e | 1
	b[1] = byte(u >> 22)
	b[2] = byte(u>>14)&0xfe | 1
	b[3] = byte(u >> 7)
	b[4] = byte(u<<1) | 1
}

// putPCR writes a program_clock_reference with a zero extension.
func putPCR(b []byte, base int64) {
	u := uint64(base) & (1<<33 - 1)
	b[0] = byte(u >> 25)
	b[1] = byte(u >> 17)
	b[2] = byte(u >> 9)
	b[3] = byte(u >> 1)
	b[4] = byte(u<<7) | 0x7e
	b[5] = 0
}

// buildTables writes PAT and PMT (continuity counters left 0) into
// m.tables, once the PCR track is known.
func (m *tsMuxer) buildTables() {
	for i := range m.tables {
		m.tables[i] = 0xff
	}
	pat := m.tables[:tsPacketSize]
	copy(pat, []byte{0x47, 0x40, 0x00, 0x1f, 0x00}) // CC 15: the first write stamps 0
	sec := pat[5:5]
	sec = append(sec, 0x00, 0xb0, 13, 0x00, 0x00, 0xc1, 0x00, 0x00,
		0x00, 0x01, 0xe0|byte(tsPMTPID>>8), byte(tsPMTPID&0xff))
	_ = mpegcrc.Append(sec, sec) // into the capacity after sec

	pmt := m.tables[tsPacketSize:]
	copy(pmt, []byte{0x47, 0x40 | byte(tsPMTPID>>8), byte(tsPMTPID & 0xff), 0x1f, 0x00})
	l := 13
	for _, t := range m.tracks {
		l += 5 + len(t.descriptors)
	}
	sec = pmt[5:5]
	sec = append(sec, 0x02, 0xb0|byte(l>>8), byte(l), 0x00, 0x01, 0xc1, 0x00, 0x00,
		0xe0|byte(m.leading.pid>>8), byte(m.leading.pid), 0xf0, 0x00)
	for _, t := range m.tracks {
		n := len(t.descriptors)
		sec = append(sec, t.streamType, 0xe0|byte(t.pid>>8), byte(t.pid), 0xf0|byte(n>>8), byte(n))
		sec = append(sec, t.descriptors...)
	}
	_ = mpegcrc.Append(sec, sec) // into the capacity after sec
}

// stampTableCCs sets the next continuity counters of PAT and PMT.
func (m *tsMuxer) stampTableCCs() {
	for i := 0; i < 2; i++ {
		p := m.tables[i*tsPacketSize:]
		p[3] = p[3]&0xf0 | (p[3]+1)&0x0f
	}
}
