package hls

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// PlaylistVersion is the EXT-X-VERSION of the playlists written here:
// version 3 allows decimal EXTINF durations.
const PlaylistVersion = 3

// Limits the parser enforces.
const (
	maxTargetDuration = 1_000_000 // seconds
	maxVersion        = 12
	maxPlaylistSize   = 16 << 20
)

// SegmentURI is the default segment name in playlists: "hls-<seq>.ts",
// relative to the playlist's URL.
func SegmentURI(seq uint64) string {
	return "hls-" + strconv.FormatUint(seq, 10) + ".ts"
}

// ParseSegmentURI returns the sequence number of a name made by SegmentURI
// (the last path element of a request); ok is false for any other name,
// including numbers with leading zeros or signs.
func ParseSegmentURI(name string) (seq uint64, ok bool) {
	num, found := strings.CutPrefix(name, "hls-")
	if !found {
		return 0, false
	}
	num, found = strings.CutSuffix(num, ".ts")
	if !found || !isDecimal(num) || (len(num) > 1 && num[0] == '0') {
		return 0, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	return seq, err == nil
}

// MediaPlaylist is an HLS media playlist: what ParsePlaylist reads and
// Marshal writes.
type MediaPlaylist struct {
	Version               int // EXT-X-VERSION; 0 if absent (which means 1)
	TargetDuration        int // EXT-X-TARGETDURATION, seconds
	MediaSequence         uint64
	DiscontinuitySequence uint64
	PlaylistType          string // "", "VOD" or "EVENT"
	IndependentSegments   bool
	Ended                 bool // EXT-X-ENDLIST
	Segments              []PlaylistSegment
}

// PlaylistSegment is one media segment of a playlist.
type PlaylistSegment struct {
	Seq           uint64 // MediaSequence + index
	Duration      time.Duration
	Title         string // after the comma of EXTINF
	URI           string
	Discontinuity bool // preceded by EXT-X-DISCONTINUITY
}

// Marshal renders the playlist. Durations are written in milliseconds
// (three decimals), rounded to the nearest.
func (p *MediaPlaylist) Marshal() []byte {
	b := make([]byte, 0, 128+len(p.Segments)*48)
	return p.AppendMarshal(b)
}

// AppendMarshal appends the rendered playlist to b.
func (p *MediaPlaylist) AppendMarshal(b []byte) []byte {
	b = append(b, "#EXTM3U\n"...)
	if p.Version != 0 {
		b = append(b, "#EXT-X-VERSION:"...)
		b = strconv.AppendInt(b, int64(p.Version), 10)
		b = append(b, '\n')
	}
	if p.IndependentSegments {
		b = append(b, "#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	}
	b = append(b, "#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(p.TargetDuration), 10)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendUint(b, p.MediaSequence, 10)
	b = append(b, '\n')
	if p.DiscontinuitySequence != 0 {
		b = append(b, "#EXT-X-DISCONTINUITY-SEQUENCE:"...)
		b = strconv.AppendUint(b, p.DiscontinuitySequence, 10)
		b = append(b, '\n')
	}
	if p.PlaylistType != "" {
		b = append(b, "#EXT-X-PLAYLIST-TYPE:"...)
		b = append(b, p.PlaylistType...)
		b = append(b, '\n')
	}
	for i := range p.Segments {
		s := &p.Segments[i]
		if s.Discontinuity {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		b = append(b, "#EXTINF:"...)
		b = appendSeconds(b, s.Duration)
		b = append(b, ',')
		b = append(b, s.Title...)
		b = append(b, '\n')
		b = append(b, s.URI...)
		b = append(b, '\n')
	}
	if p.Ended {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	return b
}

// roundMillis rounds a non-negative duration to whole milliseconds.
func roundMillis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond/2) / time.Millisecond)
}

// appendSeconds appends d as seconds with three decimals.
func appendSeconds(b []byte, d time.Duration) []byte {
	ms := roundMillis(d)
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := ms % 1000
	b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}

// TargetSeconds is the EXT-X-TARGETDURATION covering a segment of
// duration d: its EXTINF value (d rounded to milliseconds) rounded to the
// nearest second (halves up), as RFC 8216 4.3.3.1 compares them. Rounding
// up instead would let a few milliseconds of timestamp jitter on a 2 s
// segment raise a live playlist's target to 3 mid-stream, which 6.2.1
// forbids (the target must not change) and which delays players.
func TargetSeconds(d time.Duration) int {
	ms := roundMillis(d)
	return int((ms + 500) / 1000)
}

// EndedPlaylist renders the playlist of a finished recording: every
// segment, EXT-X-PLAYLIST-TYPE:VOD and EXT-X-ENDLIST. The target duration
// is the longest segment rounded, and at least targetDuration rounded
// (pass the segmenter's target) and 1. uri names the segments; nil selects
// SegmentURI.
func EndedPlaylist(segments []*Segment, targetDuration time.Duration, uri func(seq uint64) string) []byte {
	p := playlistOf(segments, TargetSeconds(targetDuration), uri)
	p.PlaylistType = "VOD"
	p.Ended = true
	return p.Marshal()
}

// playlistOf builds the playlist listing segments, with a target duration
// of at least minTarget.
func playlistOf(segments []*Segment, minTarget int, uri func(uint64) string) *MediaPlaylist {
	if uri == nil {
		uri = SegmentURI
	}
	p := &MediaPlaylist{
		Version:        PlaylistVersion,
		TargetDuration: max(minTarget, 1),
		Segments:       make([]PlaylistSegment, len(segments)),
	}
	if len(segments) > 0 {
		p.MediaSequence = segments[0].Seq
	}
	for i, s := range segments {
		p.TargetDuration = max(p.TargetDuration, TargetSeconds(s.Duration))
		p.Segments[i] = PlaylistSegment{
			Seq:           s.Seq,
			Duration:      s.Duration,
			URI:           uri(s.Seq),
			Discontinuity: s.Discontinuity,
		}
	}
	return p
}

// ErrMasterPlaylist is returned by ParsePlaylist for a multivariant
// (master) playlist.
var ErrMasterPlaylist = errors.New("hls: multivariant (master) playlist, not a media playlist")

// ParsePlaylist parses a media playlist strictly: it must start with
// #EXTM3U, have exactly one EXT-X-TARGETDURATION, playlist-level tags only
// before the first segment and at most once, every EXTINF followed by a
// URI, EXTINF durations that round to at most the target duration, decimal
// durations only from version 3 on, and nothing after EXT-X-ENDLIST. Tags
// that change how segments are fetched or decoded (EXT-X-KEY, EXT-X-MAP,
// EXT-X-BYTERANGE, ...) and unknown EXT tags are rejected; comments and
// blank lines are skipped; EXT-X-PROGRAM-DATE-TIME, EXT-X-START and
// EXT-X-ALLOW-CACHE are accepted and ignored. Segment Seq numbers are
// MediaSequence plus the segment's index.
func ParsePlaylist(data []byte) (*MediaPlaylist, error) {
	if len(data) > maxPlaylistSize {
		return nil, fmt.Errorf("hls: playlist of %d bytes is too large", len(data))
	}
	p := &MediaPlaylist{}
	var (
		lineNo      int
		seen        = map[string]bool{}
		haveTarget  bool
		pendingInf  bool
		pendingDisc bool
		cur         PlaylistSegment
		fractional  bool
	)
	fail := func(format string, args ...any) (*MediaPlaylist, error) {
		return nil, fmt.Errorf("hls: playlist line %d: %s", lineNo, fmt.Sprintf(format, args...))
	}
	rest := data
	for len(rest) > 0 || lineNo == 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		lineNo++
		s := string(line)
		if lineNo == 1 {
			if s != "#EXTM3U" {
				return fail("does not start with #EXTM3U")
			}
			continue
		}
		if strings.TrimSpace(s) == "" {
			if s != "" {
				return fail("line of white space")
			}
			continue
		}
		if hasControl(s) {
			return fail("control character")
		}
		if p.Ended {
			if strings.HasPrefix(s, "#") && !strings.HasPrefix(s, "#EXT") {
				continue // a comment
			}
			return fail("%q after EXT-X-ENDLIST", s)
		}
		if !strings.HasPrefix(s, "#") {
			if !pendingInf {
				return fail("URI %q without EXTINF", s)
			}
			if s != strings.TrimSpace(s) {
				return fail("URI %q has surrounding white space", s)
			}
			seq := p.MediaSequence + uint64(len(p.Segments))
			if seq < p.MediaSequence {
				return fail("media sequence overflows")
			}
			cur.Seq, cur.URI, cur.Discontinuity = seq, s, pendingDisc
			p.Segments = append(p.Segments, cur)
			cur, pendingInf, pendingDisc = PlaylistSegment{}, false, false
			continue
		}
		if !strings.HasPrefix(s, "#EXT") {
			continue // a comment
		}
		name, value, hasValue := strings.Cut(s, ":")
		inHeader := len(p.Segments) == 0 && !pendingInf && !pendingDisc
		header := func() error {
			if !inHeader {
				return fmt.Errorf("%s after the first segment", name)
			}
			if seen[name] {
				return fmt.Errorf("duplicate %s", name)
			}
			seen[name] = true
			if !hasValue {
				return fmt.Errorf("%s without a value", name)
			}
			return nil
		}
		flag := func() error {
			if hasValue {
				return fmt.Errorf("%s takes no value", name)
			}
			return nil
		}
		var err error
		switch name {
		case "#EXTM3U":
			err = errors.New("duplicate #EXTM3U")
		case "#EXT-X-VERSION":
			if err = header(); err == nil {
				var v uint64
				v, err = parseDecimal(value, maxVersion)
				if err == nil && v == 0 {
					err = errors.New("version 0")
				}
				p.Version = int(v)
			}
		case "#EXT-X-TARGETDURATION":
			if err = header(); err == nil {
				var v uint64
				v, err = parseDecimal(value, maxTargetDuration)
				p.TargetDuration, haveTarget = int(v), true
			}
		case "#EXT-X-MEDIA-SEQUENCE":
			if err = header(); err == nil {
				p.MediaSequence, err = parseDecimal(value, math.MaxUint64)
			}
		case "#EXT-X-DISCONTINUITY-SEQUENCE":
			if err = header(); err == nil {
				p.DiscontinuitySequence, err = parseDecimal(value, math.MaxUint64)
			}
		case "#EXT-X-PLAYLIST-TYPE":
			if err = header(); err == nil {
				if value != "VOD" && value != "EVENT" {
					err = fmt.Errorf("playlist type %q", value)
				}
				p.PlaylistType = value
			}
		case "#EXT-X-INDEPENDENT-SEGMENTS":
			if err = flag(); err == nil {
				hasValue = true // header() wants one
				err = header()
				p.IndependentSegments = true
			}
		case "#EXT-X-ENDLIST":
			if err = flag(); err == nil && (pendingInf || pendingDisc) {
				err = errors.New("EXT-X-ENDLIST inside a segment")
			}
			p.Ended = true
		case "#EXT-X-DISCONTINUITY":
			if err = flag(); err == nil && (pendingDisc || pendingInf) {
				err = errors.New("misplaced EXT-X-DISCONTINUITY")
			}
			pendingDisc = true
		case "#EXTINF":
			if pendingInf {
				err = errors.New("EXTINF without URI")
				break
			}
			if !hasValue {
				err = errors.New("EXTINF without duration")
				break
			}
			dur, title, _ := strings.Cut(value, ",")
			var frac bool
			cur.Duration, frac, err = parseSeconds(dur)
			fractional = fractional || frac
			cur.Title = title
			pendingInf = true
		case "#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-START", "#EXT-X-ALLOW-CACHE":
			if !hasValue || value == "" {
				err = fmt.Errorf("%s without a value", name)
			}
		case "#EXT-X-STREAM-INF", "#EXT-X-MEDIA", "#EXT-X-I-FRAME-STREAM-INF", "#EXT-X-SESSION-DATA", "#EXT-X-SESSION-KEY":
			return nil, fmt.Errorf("%w (line %d: %s)", ErrMasterPlaylist, lineNo, name)
		case "#EXT-X-KEY", "#EXT-X-MAP", "#EXT-X-BYTERANGE", "#EXT-X-I-FRAMES-ONLY", "#EXT-X-GAP",
			"#EXT-X-PART", "#EXT-X-PART-INF", "#EXT-X-SERVER-CONTROL", "#EXT-X-PRELOAD-HINT",
			"#EXT-X-RENDITION-REPORT", "#EXT-X-SKIP", "#EXT-X-DATERANGE", "#EXT-X-BITRATE":
			err = fmt.Errorf("unsupported tag %s", name)
		default:
			err = fmt.Errorf("unknown tag %q", name)
		}
		if err != nil {
			return fail("%v", err)
		}
	}
	if pendingInf || pendingDisc {
		return fail("playlist ends inside a segment")
	}
	if !haveTarget {
		return nil, errors.New("hls: playlist without EXT-X-TARGETDURATION")
	}
	limit := time.Duration(p.TargetDuration)*time.Second + time.Second/2
	for _, s := range p.Segments {
		if s.Duration > limit {
			return nil, fmt.Errorf("hls: segment %d: EXTINF %v exceeds target duration %ds", s.Seq, s.Duration, p.TargetDuration)
		}
	}
	if fractional && p.Version < 3 {
		return nil, fmt.Errorf("hls: decimal EXTINF durations need version 3, have %d", p.Version)
	}
	return p, nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDecimal parses an RFC 8216 decimal-integer no greater than limit.
func parseDecimal(s string, limit uint64) (uint64, error) {
	if !isDecimal(s) || len(s) > 20 {
		return 0, fmt.Errorf("%q is not a decimal integer", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > limit {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return v, nil
}

// parseSeconds parses an EXTINF duration: digits, optionally a point and
// more digits. frac reports a fractional part.
func parseSeconds(s string) (d time.Duration, frac bool, err error) {
	whole, fraction, hasPoint := strings.Cut(s, ".")
	if !isDecimal(whole) || (hasPoint && fraction != "" && !isDecimal(fraction)) || len(whole) > 7 {
		return 0, false, fmt.Errorf("EXTINF duration %q", s)
	}
	secs, _ := strconv.ParseUint(whole, 10, 64)
	d = time.Duration(secs) * time.Second
	var ns time.Duration
	for i, scale := 0, time.Second/10; i < len(fraction); i++ {
		if fraction[i] != '0' {
			frac = true
		}
		// Digits beyond nanoseconds only round.
		if scale == 0 {
			if i == 9 && fraction[i] >= '5' {
				ns++
			}
			continue
		}
		ns += time.Duration(fraction[i]-'0') * scale
		scale /= 10
	}
	return d + ns, frac, nil
}
