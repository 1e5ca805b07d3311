package llhls

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// instance is one gohlslib muxer for a fixed set of tracks. A stream
// whose tracks change gets a new instance (new URIs: gohlslib prefixes
// them per instance, so no player or cache mixes the two).
type instance struct {
	muxer  *gohlslib.Muxer
	tracks map[*media.Track]*gohlslib.Track
	order  []*media.Track // in gohlslib's order: audioN's track is order[N-1]
	log    *slog.Logger

	// ready is closed once the muxer has its first segment: from then on
	// its playlists answer without waiting. gohlslib's own wait cannot be
	// bounded or cancelled, so requests wait on this instead.
	ready chan struct{}
	// closed is closed after Close: requests go to the next instance.
	closed    chan struct{}
	probeDone chan struct{}
	closeOnce sync.Once

	base  time.Time // wall clock of stream time 0 (EXT-X-PROGRAM-DATE-TIME)
	nalus [][]byte  // reused access unit of the writer

	errMu  sync.Mutex
	errSet map[string]bool // encode errors already logged
}

// maxLoggedErrors bounds the distinct encode errors an instance logs at
// warning level; later ones go to debug.
const maxLoggedErrors = 8

// newInstance starts a muxer for tracks (from selectTracks, not empty).
func newInstance(tracks []*media.Track, s Settings, log *slog.Logger, onReady func()) (*instance, error) {
	in := &instance{
		tracks:    make(map[*media.Track]*gohlslib.Track, len(tracks)),
		log:       log,
		ready:     make(chan struct{}),
		closed:    make(chan struct{}),
		probeDone: make(chan struct{}),
		errSet:    map[string]bool{},
	}
	m := &gohlslib.Muxer{
		Variant:            gohlslib.MuxerVariantLowLatency,
		SegmentCount:       s.segmentCount(),
		SegmentMinDuration: s.SegDur,
		PartMinDuration:    s.partDur(),
		OnEncodeError:      in.encodeError,
	}
	for _, t := range tracks {
		ht, err := hlsTrack(t)
		if err != nil {
			return nil, err
		}
		in.tracks[t] = ht
		in.order = append(in.order, t)
		m.Tracks = append(m.Tracks, ht)
	}
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("hls-fmp4: start muxer: %w", err)
	}
	in.muxer = m
	go in.probe(onReady)
	return in, nil
}

// probe asks the muxer for its multivariant playlist, which gohlslib
// answers once the first segment exists (or with an error once closed),
// and marks the instance ready then.
// onReady, if not nil, runs then, before close returns.
func (in *instance) probe(onReady func()) {
	defer close(in.probeDone)
	w := &recordWriter{header: http.Header{}}
	in.muxer.Handle(w, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/index.m3u8"}})
	if w.status == http.StatusOK {
		close(in.ready)
		if onReady != nil {
			onReady()
		}
	}
}

// carries reports whether the instance muxes frames of t.
func (in *instance) carries(t *media.Track) bool { return in.tracks[t] != nil }

// trackList returns the tracks the instance carries.
func (in *instance) trackList() []*media.Track {
	out := make([]*media.Track, 0, len(in.tracks))
	for t := range in.tracks {
		out = append(out, t)
	}
	return out
}

// write muxes f, whose track the instance carries. Errors are reported
// (once per kind of error) and do not stop the muxer: gohlslib drops the
// sample and goes on, as a player would.
func (in *instance) write(f *media.Frame) {
	t := in.tracks[f.Track]
	if t == nil {
		return
	}
	if in.base.IsZero() {
		in.base = time.Now().Add(-f.DTS)
	}
	ntp := in.base.Add(f.PTS)
	pts := toTimestamp(f.PTS, t.ClockRate)
	var err error
	switch f.Track.Codec {
	case media.CodecH264, media.CodecH265:
		nalus, n := media.AppendAccessUnit(in.nalus[:0], f)
		if n == 0 {
			return
		}
		if f.Track.Codec == media.CodecH264 {
			err = in.muxer.WriteH264(t, ntp, pts, nalus)
		} else {
			err = in.muxer.WriteH265(t, ntp, pts, nalus)
		}
		clear(nalus)
		in.nalus = nalus[:0]
	case media.CodecAV1:
		// gohlslib takes the OBUs of the temporal unit and writes
		// them back with their size fields.
		// gohlslib takes a temporal unit for a random access point
		// only when it holds a sequence header: a keyframe stored
		// without one (MP4 keeps it in av1C) gets the track's.
		var tu av1.Bitstream
		if err = tu.Unmarshal(f.Payload); err == nil && len(tu) > 0 {
			if f.Key && !hasSequenceHeader(tu) {
				tu = append(av1.Bitstream{f.Track.AV1SequenceHeader}, tu...)
			}
			err = in.muxer.WriteAV1(t, ntp, pts, tu)
		}
	case media.CodecVP9:
		if len(f.Payload) == 0 {
			return
		}
		err = in.muxer.WriteVP9(t, ntp, pts, f.Payload)
	case media.CodecAAC:
		if len(f.Payload) == 0 {
			return
		}
		err = in.muxer.WriteMPEG4Audio(t, ntp, pts, [][]byte{f.Payload})
	case media.CodecOpus:
		if len(f.Payload) == 0 {
			return
		}
		err = in.muxer.WriteOpus(t, ntp, pts, [][]byte{f.Payload})
	}
	if err != nil {
		in.encodeError(err)
	}
}

func (in *instance) encodeError(err error) {
	msg := err.Error()
	in.errMu.Lock()
	seen := in.errSet[msg]
	warn := !seen && len(in.errSet) < maxLoggedErrors
	if !seen && len(in.errSet) < 4*maxLoggedErrors {
		in.errSet[msg] = true
	}
	in.errMu.Unlock()
	if warn {
		in.log.Warn("hls-fmp4 muxer", "error", msg)
	} else {
		in.log.Debug("hls-fmp4 muxer", "error", msg)
	}
}

// close stops the muxer: requests it holds (blocking reloads, preload
// hints) end, and it serves nothing more.
func (in *instance) close() {
	in.closeOnce.Do(func() {
		in.muxer.Close()
		<-in.probeDone
		close(in.closed)
	})
}

// handle serves a file of the muxer; the path's base name is the file.
func (in *instance) handle(w http.ResponseWriter, r *http.Request) {
	if t := in.initAACTrack(path.Base(r.URL.Path)); t != nil {
		in.serveAACInit(w, r, t)
		return
	}
	in.muxer.Handle(w, r)
}

// initAACTrack returns the AAC track of the init file named file, or nil.
// gohlslib's fMP4 variants give each track a stream of its own, named
// after its place in Tracks: PREFIX_audioN_init.mp4.
func (in *instance) initAACTrack(file string) *media.Track {
	name, ok := strings.CutSuffix(file, "_init.mp4")
	if !ok {
		return nil
	}
	i := strings.LastIndex(name, "_audio")
	if i < 0 {
		return nil
	}
	n, err := strconv.Atoi(name[i+len("_audio"):])
	if err != nil || n < 1 || n > len(in.order) || in.order[n-1].Codec != media.CodecAAC {
		return nil
	}
	return in.order[n-1]
}

// serveAACInit serves an init file of gohlslib with the AAC config t has
// in place of the one mediacommon rebuilt (which has no program config
// element nor HE-AAC sync extension).
func (in *instance) serveAACInit(w http.ResponseWriter, r *http.Request, t *media.Track) {
	rec := &recordWriter{header: http.Header{}}
	in.muxer.Handle(rec, r)
	body := rec.body.Bytes()
	if rec.status == http.StatusOK {
		fixed, err := mp4.WithAACConfigs(body, []*media.Track{t})
		if err != nil {
			in.encodeError(err)
		} else {
			body = fixed
		}
	}
	if rec.status == 0 {
		return // not there: the caller answers 404
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.status)
	_, _ = w.Write(body)
}

// recordWriter keeps a reply: status, header and body.
type recordWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recordWriter) Header() http.Header { return w.header }

func (w *recordWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func hasSequenceHeader(tu av1.Bitstream) bool {
	for _, obu := range tu {
		if len(obu) > 0 && av1.OBUType((obu[0]>>3)&0xf) == av1.OBUTypeSequenceHeader {
			return true
		}
	}
	return false
}
