package gbsender

import (
	"bytes"
	"fmt"
)

// VideoFrames groups an Annex-B elementary stream (a .h264 or .hevc clip)
// into access units at fps, PTS from 0: a new unit starts at a parameter
// set, AUD or SEI, or at the first slice of a picture once the current one
// holds a picture.
func VideoFrames(annexB []byte, hevc bool, fps int) ([]Frame, error) {
	nalus := splitAnnexB(annexB)
	if len(nalus) == 0 {
		return nil, fmt.Errorf("gbsender: no NAL units")
	}
	var out []Frame
	var cur [][]byte
	hasPicture, key := false, false
	flush := func() {
		if len(cur) == 0 {
			return
		}
		var b []byte
		for _, n := range cur {
			b = append(b, 0, 0, 0, 1)
			b = append(b, n...)
		}
		out = append(out, Frame{Video: true, Key: key, PTS: int64(len(out)) * 90000 / int64(fps), Data: b})
		cur, hasPicture, key = nil, false, false
	}
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		var vcl, first, prefix, idr bool
		if hevc {
			typ := (n[0] >> 1) & 0x3f
			vcl = typ < 32
			first = vcl && len(n) > 2 && n[2]&0x80 != 0
			prefix = (typ >= 32 && typ <= 35) || typ == 39 || (typ >= 41 && typ <= 44) || (typ >= 48 && typ <= 55)
			idr = typ >= 16 && typ <= 21
		} else {
			typ := n[0] & 0x1f
			vcl = typ >= 1 && typ <= 5
			first = vcl && len(n) > 1 && n[1]&0x80 != 0
			prefix = (typ >= 6 && typ <= 9) || (typ >= 14 && typ <= 18)
			idr = typ == 5
		}
		if hasPicture && (prefix || first) {
			flush()
		}
		cur = append(cur, n)
		hasPicture = hasPicture || vcl
		key = key || idr
	}
	flush()
	return out, nil
}

func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 {
			break
		}
		b = b[i+3:]
		j := bytes.Index(b, []byte{0, 0, 1})
		if j < 0 {
			out = append(out, b)
			break
		}
		n := b[:j]
		for len(n) > 0 && n[len(n)-1] == 0 {
			n = n[:len(n)-1]
		}
		out = append(out, n)
		b = b[j:]
	}
	return out
}

// G711Frames makes d seconds of G.711 in 20 ms frames (160 samples at
// 8 kHz), a 440 Hz tone, PTS from 0.
func G711Frames(seconds int, alaw bool) []Frame {
	var out []Frame
	for i := 0; i < seconds*50; i++ {
		b := make([]byte, 160)
		for k := range b {
			// A coarse tone: alternating codes around silence.
			if (i*160+k)/9%2 == 0 {
				b[k] = 0x55 ^ 0x20
			} else {
				b[k] = 0x55
			}
			if !alaw {
				b[k] ^= 0x7f
			}
		}
		out = append(out, Frame{Key: true, PTS: int64(i) * 1800, Data: b})
	}
	return out
}

// Interleave merges video and audio frames in PTS order.
func Interleave(video, audio []Frame) []Frame {
	out := make([]Frame, 0, len(video)+len(audio))
	i, j := 0, 0
	for i < len(video) || j < len(audio) {
		if j >= len(audio) || (i < len(video) && video[i].PTS <= audio[j].PTS) {
			out = append(out, video[i])
			i++
		} else {
			out = append(out, audio[j])
			j++
		}
	}
	return out
}
