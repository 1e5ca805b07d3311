package mpegts

// streamTypeMPEG2Audio is ISO 13818-3 audio (MPEG-2 and 2.5 rates of
// MP2/MP3): ffmpeg's muxer and ours mark MP3 below 32 kHz with it, and
// mediacommon's reader leaves it unsupported.
const streamTypeMPEG2Audio = 0x04

// pmtStreamTypes reads the stream_type of each elementary PID from the
// first program map table found in ts (the bytes the probe read): the
// PAT names the PMT PIDs, and a PMT section that starts and ends in one
// packet is read. It is a cross-check of what mediacommon's reader found,
// so anything it does not understand is skipped.
func pmtStreamTypes(ts []byte) map[uint16]byte {
	pmtPIDs := map[uint16]bool{}
	types := map[uint16]byte{}
	start := 0 // the first sync byte another follows, as a reader resyncs
	for start < 188 && start+188 < len(ts) && (ts[start] != 0x47 || ts[start+188] != 0x47) {
		start++
	}
	for off := start; off+188 <= len(ts); off += 188 {
		pkt := ts[off : off+188]
		if pkt[0] != 0x47 || pkt[1]&0x40 == 0 || pkt[3]&0x10 == 0 {
			continue // not a sync byte, not a section start, no payload
		}
		pid := uint16(pkt[1]&0x1f)<<8 | uint16(pkt[2])
		p := pkt[4:]
		if pkt[3]&0x20 != 0 { // adaptation field
			if int(p[0])+1 >= len(p) {
				continue
			}
			p = p[1+int(p[0]):]
		}
		if int(p[0])+1 >= len(p) {
			continue
		}
		sec := p[1+int(p[0]):] // after the pointer field
		if len(sec) < 12 {
			continue
		}
		n := int(sec[1]&0x0f)<<8 | int(sec[2]) // section_length
		if 3+n > len(sec) || n < 13 {
			continue
		}
		body := sec[8 : 3+n-4] // after the fixed header, before the CRC
		switch {
		case pid == 0 && sec[0] == 0x00:
			for i := 0; i+4 <= len(body); i += 4 {
				if prog := uint16(body[i])<<8 | uint16(body[i+1]); prog != 0 {
					pmtPIDs[uint16(body[i+2]&0x1f)<<8|uint16(body[i+3])] = true
				}
			}
		case pmtPIDs[pid] && sec[0] == 0x02:
			if len(body) < 4 {
				continue
			}
			info := int(body[2]&0x0f)<<8 | int(body[3])
			es := body[min(4+info, len(body)):]
			for len(es) >= 5 {
				epid := uint16(es[1]&0x1f)<<8 | uint16(es[2])
				types[epid] = es[0]
				l := int(es[3]&0x0f)<<8 | int(es[4])
				es = es[min(5+l, len(es)):]
			}
			return types
		}
	}
	return types
}
