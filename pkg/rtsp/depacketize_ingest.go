package rtsp

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// Track detection waits at most this long (in media time), this many
// frames or this many bytes for every chosen track before declaring the
// tracks it has, as flv.Ingest and es.Ingest do.
const (
	dpProbeDuration = time.Second
	dpProbeFrames   = 256
	dpMaxHeldBytes  = 32 << 20
)

// IngestOptions configure an Ingest.
type IngestOptions struct {
	// Log gets warnings (a track dropped for its codec, packets that
	// could not be decoded), each kind once per Ingest. Nil discards
	// them.
	Log *slog.Logger
}

// IngestStats counts what an Ingest did.
type IngestStats struct {
	Frames       int64 // frames handed to the sink
	TrackChanges int64 // SetTracks calls
	// DroppedReplaced counts held frames of a track replaced before the
	// tracks were declared.
	DroppedReplaced int64
	// DecodeErrors counts packets a depacketizer could not (fully) use.
	DecodeErrors int64
	// Video and Audio are the chosen depacketizers' counters.
	Video, Audio DepacketizerStats
	// DroppedFormats names, once each, the formats left out: codecs
	// mediakit cannot carry, or a second video or audio format.
	DroppedFormats []string
}

// Ingest turns the RTP packets of an RTSP session (the medias a client
// plays, or a publisher announces) into tracks and frames for an
// flv.FrameSink (*engine.Publisher is one). It picks the first usable
// video format and the first usable audio format and drops the others
// with one warning each. Like flv.Ingest it holds frames back until
// every chosen track is known (H.264 and H.265 without parameter sets in
// the SDP: until the first keyframe brings them), at most 1 s of media,
// 256 frames or 32 MiB, so that the first frame readers get is
// decodable; a track that changes later (new parameter sets) is declared
// again.
//
// Ingest is not safe for concurrent use. gortsplib calls OnPacketRTP
// callbacks from several goroutines (with UDP, one per media): funnel
// the packets into one goroutine.
type Ingest struct {
	sink flv.FrameSink
	log  *slog.Logger

	video, audio *Depacketizer
	cur          [2]*media.Track // current track of video, audio
	videoSeen    bool            // a video frame came out

	declared     bool
	pending      []*media.Frame
	pendingBytes int
	firstDTS     time.Duration

	warned map[string]bool
	stats  IngestStats
}

// NewIngest returns an ingest of the packets of formats into sink. It
// fails with an error wrapping ErrNoUsableTrack when no format is one
// mediakit can carry.
func NewIngest(sink flv.FrameSink, formats []format.Format, opts IngestOptions) (*Ingest, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Ingest{sink: sink, log: log, warned: map[string]bool{}}
	var names []string
	for _, f := range formats {
		if f == nil {
			continue
		}
		name := FormatName(f)
		names = append(names, name)
		kind := dpFormatKind(f)
		slot := &in.video
		if kind == media.KindAudio {
			slot = &in.audio
		}
		if kind == 0 || *slot != nil {
			in.dropFormat(f, "")
			continue
		}
		d, err := NewDepacketizer(f)
		if err != nil {
			in.dropFormat(f, err.Error())
			continue
		}
		*slot = d
		in.cur[dpSlot(kind)] = d.Track()
	}
	if in.video == nil && in.audio == nil {
		if len(names) == 0 {
			return nil, fmt.Errorf("rtsp: %w: the session has no media", ErrNoUsableTrack)
		}
		return nil, fmt.Errorf("rtsp: %w among %s (mediakit carries H.264, H.265, AV1, VP9, AAC, MP3, Opus and G.711)",
			ErrNoUsableTrack, strings.Join(names, ", "))
	}
	return in, nil
}

func (in *Ingest) dropFormat(f format.Format, why string) {
	name := FormatName(f)
	in.stats.DroppedFormats = append(in.stats.DroppedFormats, name)
	switch {
	case why != "":
		in.log.Warn("rtsp: dropping track", "format", name, "error", why)
	case dpFormatKind(f) == 0:
		in.log.Warn("rtsp: dropping track: mediakit cannot carry its codec", "format", name)
	default:
		in.log.Warn("rtsp: dropping track: another "+dpFormatKind(f).String()+" track was chosen", "format", name)
	}
}

func dpSlot(k media.Kind) int {
	if k == media.KindAudio {
		return 1
	}
	return 0
}

// Formats returns the chosen formats, video first: the medias holding
// them are the ones to set up.
func (in *Ingest) Formats() []format.Format {
	var out []format.Format
	if in.video != nil {
		out = append(out, in.video.Format())
	}
	if in.audio != nil {
		out = append(out, in.audio.Format())
	}
	return out
}

// Tracks returns the tracks known so far, video first.
func (in *Ingest) Tracks() []*media.Track {
	var out []*media.Track
	for _, t := range in.cur {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// Stats returns the counters so far.
func (in *Ingest) Stats() IngestStats {
	s := in.stats
	s.DroppedFormats = append([]string(nil), s.DroppedFormats...)
	if in.video != nil {
		s.Video = in.video.Stats()
	}
	if in.audio != nil {
		s.Audio = in.audio.Stats()
	}
	return s
}

// WritePacket takes a packet of format f with its PTS in ticks of f's
// clock rate (see Depacketizer.Decode). Packets of formats not chosen
// are ignored, and packets that cannot be decoded are counted and
// logged once; the error is the sink's, which should end the session.
func (in *Ingest) WritePacket(f format.Format, pkt *rtp.Packet, pts int64) error {
	var d *Depacketizer
	switch {
	case in.video != nil && f == in.video.Format():
		d = in.video
	case in.audio != nil && f == in.audio.Format():
		d = in.audio
	default:
		return nil
	}
	frames, err := d.Decode(pkt, pts)
	if err != nil {
		in.stats.DecodeErrors++
		in.warnOnce("decode "+FormatName(f), "rtsp: packets could not be decoded (further ones are counted, not logged)",
			"format", FormatName(f), "error", err.Error())
	}
	for _, fr := range frames {
		if err := in.frame(fr); err != nil {
			return err
		}
	}
	return nil
}

// Flush declares whatever tracks are known and writes the frames held
// back; for a session that ends before track detection finished. Later
// frames go straight to the sink.
func (in *Ingest) Flush() error {
	if in.declared || len(in.Tracks()) == 0 {
		return nil
	}
	return in.declare()
}

func (in *Ingest) frame(f *media.Frame) error {
	i := dpSlot(f.Track.Kind())
	if i == 0 {
		in.videoSeen = true
	}
	if f.Track != in.cur[i] {
		in.cur[i] = f.Track
		if in.declared {
			in.stats.TrackChanges++
			if err := in.sink.SetTracks(in.Tracks()); err != nil {
				return err
			}
		} else {
			in.dropReplaced()
		}
	}
	if in.declared {
		in.stats.Frames++
		return in.sink.WriteFrame(f)
	}
	if len(in.pending) == 0 {
		in.firstDTS = f.DTS
	}
	in.pending = append(in.pending, f)
	in.pendingBytes += len(f.Payload)
	complete := (in.video == nil || in.videoSeen) && (in.audio == nil || in.cur[1] != nil)
	waited := len(in.pending) >= dpProbeFrames || in.pendingBytes >= dpMaxHeldBytes ||
		f.DTS-in.firstDTS >= dpProbeDuration
	if !complete && !waited {
		return nil
	}
	return in.declare()
}

// dropReplaced drops held frames of a track replaced before the tracks
// were declared: the sink never hears of that track.
func (in *Ingest) dropReplaced() {
	kept := in.pending[:0]
	in.pendingBytes = 0
	for _, f := range in.pending {
		if f.Track == in.cur[0] || f.Track == in.cur[1] {
			kept = append(kept, f)
			in.pendingBytes += len(f.Payload)
		} else {
			in.stats.DroppedReplaced++
		}
	}
	clear(in.pending[len(kept):])
	in.pending = kept
	if len(kept) > 0 {
		in.firstDTS = kept[0].DTS
	}
}

// declare declares the known tracks and writes the held frames.
func (in *Ingest) declare() error {
	tracks := in.Tracks()
	if len(tracks) == 0 {
		return nil
	}
	if in.video != nil && in.cur[0] == nil {
		in.warnOnce("no video", "rtsp: tracks declared without video: no parameter sets or keyframe yet",
			"format", FormatName(in.video.Format()))
	}
	in.stats.TrackChanges++
	if err := in.sink.SetTracks(tracks); err != nil {
		return err
	}
	in.declared = true
	pending := in.pending
	in.pending, in.pendingBytes = nil, 0
	for i, f := range pending {
		in.stats.Frames++
		if err := in.sink.WriteFrame(f); err != nil {
			clear(pending[i:])
			return err
		}
	}
	return nil
}

func (in *Ingest) warnOnce(key, msg string, args ...any) {
	if in.warned[key] {
		return
	}
	in.warned[key] = true
	in.log.Warn(msg, args...)
}
