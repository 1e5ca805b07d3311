package source

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// playlist is what the HLS source uses of an M3U8 playlist (RFC 8216):
// a master playlist's variants, or a media playlist's segments.
type playlist struct {
	master   bool
	variants []variant

	targetDuration time.Duration
	mediaSequence  int64
	endList        bool
	segments       []segment
	// Features the source cannot follow; it refuses the playlist naming
	// the first one.
	unsupported string
}

type variant struct {
	uri       string
	bandwidth int64
}

type segment struct {
	uri           string
	seq           int64
	duration      time.Duration
	discontinuity bool // an EXT-X-DISCONTINUITY comes before it
	// init is the URI of the EXT-X-MAP in effect: the init segment of
	// fMP4 media segments; "" for MPEG-TS.
	init string
}

// Limits on a playlist's content, beyond its byte size.
const (
	maxPlaylistSize = 1 << 20
	maxSegmentSize  = 64 << 20
	maxInitSize     = 1 << 20 // an fMP4 init segment: a moov without samples
	// maxTargetDuration bounds what a playlist can make the source wait.
	maxTargetDuration = 10 * time.Minute
)

var errNotM3U8 = errors.New("not an M3U8 playlist (no #EXTM3U)")

// parsePlaylist parses an M3U8 playlist. Unknown tags are ignored, as
// the RFC asks of clients.
func parsePlaylist(b []byte) (*playlist, error) {
	if len(b) > maxPlaylistSize {
		return nil, fmt.Errorf("playlist of %d bytes, more than %d KiB", len(b), maxPlaylistSize>>10)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	lines := strings.Split(string(b), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "#EXTM3U" {
		return nil, errNotM3U8
	}
	p := &playlist{}
	var (
		pendingVariant *variant
		duration       time.Duration
		discontinuity  bool
		init           string
	)
	for n, line := range lines[1:] {
		line = strings.TrimSpace(line)
		lineNo := n + 2
		switch {
		case line == "":
		case !strings.HasPrefix(line, "#"):
			if pendingVariant != nil {
				pendingVariant.uri = line
				p.variants = append(p.variants, *pendingVariant)
				pendingVariant = nil
				continue
			}
			p.segments = append(p.segments, segment{uri: line, duration: duration, discontinuity: discontinuity, init: init})
			duration, discontinuity = 0, false
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			p.master = true
			attrs := parseAttributes(line[len("#EXT-X-STREAM-INF:"):])
			bw, err := strconv.ParseInt(attrs["BANDWIDTH"], 10, 64)
			if err != nil || bw < 0 {
				return nil, fmt.Errorf("line %d: EXT-X-STREAM-INF without a valid BANDWIDTH", lineNo)
			}
			pendingVariant = &variant{bandwidth: bw}
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(line[len("#EXTINF:"):], ",")
			d, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || d < 0 || math.IsNaN(d) || d > maxTargetDuration.Seconds() {
				return nil, fmt.Errorf("line %d: invalid EXTINF duration %q", lineNo, v)
			}
			duration = time.Duration(d * float64(time.Second))
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			v := strings.TrimSpace(line[len("#EXT-X-TARGETDURATION:"):])
			d, err := strconv.ParseFloat(v, 64)
			if err != nil || d < 0 || math.IsNaN(d) || d > maxTargetDuration.Seconds() {
				return nil, fmt.Errorf("line %d: invalid EXT-X-TARGETDURATION %q", lineNo, v)
			}
			p.targetDuration = time.Duration(d * float64(time.Second))
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			v := strings.TrimSpace(line[len("#EXT-X-MEDIA-SEQUENCE:"):])
			seq, err := strconv.ParseInt(v, 10, 64)
			if err != nil || seq < 0 || seq > math.MaxInt64/2 {
				return nil, fmt.Errorf("line %d: invalid EXT-X-MEDIA-SEQUENCE %q", lineNo, v)
			}
			p.mediaSequence = seq
		case line == "#EXT-X-DISCONTINUITY":
			discontinuity = true
		case line == "#EXT-X-ENDLIST":
			p.endList = true
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			attrs := parseAttributes(line[len("#EXT-X-MAP:"):])
			switch {
			case attrs["URI"] == "":
				return nil, fmt.Errorf("line %d: EXT-X-MAP without a URI", lineNo)
			case attrs["BYTERANGE"] != "":
				p.refuse("byte-range init segments (EXT-X-MAP BYTERANGE)")
			}
			init = attrs["URI"]
		case strings.HasPrefix(line, "#EXT-X-BYTERANGE:"):
			p.refuse("byte-range segments (EXT-X-BYTERANGE)")
		case strings.HasPrefix(line, "#EXT-X-KEY:"):
			if m := parseAttributes(line[len("#EXT-X-KEY:"):])["METHOD"]; m != "NONE" {
				p.refuse("encrypted segments (EXT-X-KEY METHOD=" + m + ")")
			}
		}
	}
	if p.master {
		if len(p.variants) == 0 {
			return nil, errors.New("master playlist without a variant URI")
		}
		return p, nil
	}
	for i := range p.segments {
		p.segments[i].seq = p.mediaSequence + int64(i)
	}
	return p, nil
}

func (p *playlist) refuse(what string) {
	if p.unsupported == "" {
		p.unsupported = what
	}
}

// best returns the variant of the highest bandwidth, the first of equals.
func (p *playlist) best() variant {
	b := p.variants[0]
	for _, v := range p.variants[1:] {
		if v.bandwidth > b.bandwidth {
			b = v
		}
	}
	return b
}

// parseAttributes parses an attribute list (RFC 8216 4.2): NAME=value
// pairs separated by commas, values possibly quoted (with commas in
// them). Quotes are removed.
func parseAttributes(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		name = strings.TrimSpace(name)
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				value, rest = rest[1:], ""
			} else {
				value, rest = rest[1:1+end], rest[2+end:]
			}
			_, rest, _ = strings.Cut(rest, ",")
		} else {
			value, rest, _ = strings.Cut(rest, ",")
			value = strings.TrimSpace(value)
		}
		out[name] = value
		s = rest
	}
	return out
}

// PlaylistEntry is a segment of a media playlist, as ParseMediaPlaylist
// reads it.
type PlaylistEntry struct {
	URI string
	// Init is the URI of the segment's init segment (EXT-X-MAP): the
	// segment is fMP4; "" for MPEG-TS.
	Init          string
	Discontinuity bool // an EXT-X-DISCONTINUITY comes before it
	Duration      time.Duration
}

// ParseMediaPlaylist returns the segments of an HLS media playlist with
// the parser of the HLS source (unknown tags are ignored, as the RFC asks
// of clients): for reading a recording from its files. A master
// playlist, and segments the source cannot read (encrypted, byte
// ranges), are errors.
func ParseMediaPlaylist(b []byte) ([]PlaylistEntry, error) {
	p, err := parsePlaylist(b)
	if err != nil {
		return nil, err
	}
	if p.master {
		return nil, errors.New("a master playlist: give one of its media playlists")
	}
	if p.unsupported != "" {
		return nil, fmt.Errorf("%s are not supported", p.unsupported)
	}
	out := make([]PlaylistEntry, len(p.segments))
	for i, s := range p.segments {
		out[i] = PlaylistEntry{URI: s.uri, Init: s.init, Discontinuity: s.discontinuity, Duration: s.duration}
	}
	return out, nil
}
