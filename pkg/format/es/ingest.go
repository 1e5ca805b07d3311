// Package es turns elementary-stream access units, as MPEG-PS demuxers and
// RTP depacketizers produce them (Annex-B H.264 and H.265, ADTS or raw AAC,
// G.711, Opus, MPEG audio), into mediakit tracks and frames for an flv.FrameSink.
//
// Video payloads become AVCC (4-byte NAL unit lengths) without access unit
// delimiters, filler data or the parameter sets the track carries: every
// output gets those from the Track (FLV and MP4 as their sequence header
// or sample entry, MPEG-TS re-inserts them before each keyframe), and
// MP4's hvc1 forbids them in band. A parameter set the track cannot hold
// (a second PPS, say) stays in the payload so that decoders still get it.
package es

import (
	"errors"
	"log/slog"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// Options.OnlyTrack values, ZLMediaKit's only_track.
const (
	AllTracks = 0
	OnlyAudio = 1
	OnlyVideo = 2
)

// Limits.
const (
	// MaxAccessUnitSize is the largest access unit accepted; larger ones
	// are refused with ErrTooLarge. A 50 Mbit/s 2160p60 stream stays far
	// below it.
	MaxAccessUnitSize = 8 << 20

	// Track detection waits at most this long (in media time) or this
	// many frames, as flv.Ingest does, or until this many bytes are held.
	probeDuration = time.Second
	probeFrames   = 256
	maxHeldBytes  = 32 << 20
)

// Errors, wrapped with the operation and the input that caused them.
var (
	ErrTooLarge    = errors.New("access unit larger than 8 MiB")
	ErrUnsupported = errors.New("unsupported codec")
	ErrMalformed   = errors.New("malformed access unit")
)

// Options configure an Ingest.
type Options struct {
	// OnlyTrack is ZLMediaKit's only_track: AllTracks (0), OnlyAudio (1)
	// or OnlyVideo (2). Other values mean all tracks.
	OnlyTrack int
	// ExpectVideo and ExpectAudio are set when the container declares its
	// streams (an MPEG-PS PSM): the tracks are declared as soon as the
	// expected ones are known. Without either, the ingest waits for both
	// a video and an audio track, at most 1 s of media or 256 frames.
	ExpectVideo, ExpectAudio bool
	// Log gets warnings, one line per kind of event per ingest. nil
	// discards them.
	Log *slog.Logger
}

// Stats counts what an Ingest did with its input.
type Stats struct {
	Frames int64 // frames handed to the sink
	// DroppedBeforeKey counts video access units that came before their
	// track's first keyframe (or before the next keyframe after
	// ResyncVideo): no decoder could use them.
	DroppedBeforeKey int64
	// DroppedNoConfig counts access units that could not be given a
	// track: a keyframe without parameter sets, raw AAC without its
	// configuration.
	DroppedNoConfig int64
	// DroppedReplaced counts held frames of a track whose configuration
	// changed before the tracks were declared: the sink never hears of it.
	DroppedReplaced int64
	// DroppedFiltered counts access units of a kind Options.OnlyTrack
	// leaves out.
	DroppedFiltered int64
	// Refused counts calls that returned an error for their input
	// (malformed, larger than MaxAccessUnitSize, unsupported codec).
	Refused int64
	// TrackChanges counts SetTracks calls.
	TrackChanges int64
}

// Ingest turns elementary-stream access units into tracks and frames for
// an flv.FrameSink (*engine.Publisher is one). Like flv.Ingest it holds
// frames back until the tracks are known, so the first frame readers get
// is decodable. It never keeps the caller's buffers. It is not safe for
// concurrent use.
type Ingest struct {
	sink flv.FrameSink
	opts Options
	log  *slog.Logger

	video, audio *media.Track
	videoKeyed   bool // a keyframe of the video track was passed on
	vs           videoState

	declared     bool
	flushing     bool
	pending      []*media.Frame
	pendingBytes int
	firstTS      time.Duration
	lastDTS      [2]time.Duration // per kind, for the backwards warning
	seen         [2]bool

	// An MPEG audio frame that a PES packet cut (PS muxers split frames
	// across packets): its first bytes and its time, finished by the next
	// WriteMP3.
	mp3Part   []byte
	mp3PartAt time.Duration

	warned uint32 // bit set of warning kinds already logged
	stats  Stats
}

// NewIngest returns an ingest feeding sink.
func NewIngest(sink flv.FrameSink, opts Options) *Ingest {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingest{sink: sink, opts: opts, log: log}
}

// Tracks returns the tracks known so far, video first.
func (in *Ingest) Tracks() []*media.Track {
	var out []*media.Track
	if in.video != nil {
		out = append(out, in.video)
	}
	if in.audio != nil {
		out = append(out, in.audio)
	}
	return out
}

// Stats returns the counters so far.
func (in *Ingest) Stats() Stats { return in.stats }

// Flush declares whatever tracks are known and writes the frames held
// back; for a stream that ends, or is torn down, before track detection
// finished. Later frames go straight to the sink.
func (in *Ingest) Flush() error {
	if in.declared || len(in.Tracks()) == 0 {
		return nil
	}
	in.flushing = true
	return in.maybeDeclare()
}

// warning kinds: each is logged once per ingest.
const (
	warnBeforeKey = iota
	warnNoConfig
	warnParamSets
	warnTooLarge
	warnNoStartCode
	warnLeadingBytes
	warnManyNALUs
	warnCarry
	warnADTS
	warnAACConfig
	warnMP3
	warnPTSBeforeDTS
	warnBackwards
	warnHeldBytes
	warnUnsupported
)

// warn logs msg once per ingest for its kind of event.
func (in *Ingest) warn(kind int, msg string, args ...any) {
	if in.warned&(1<<kind) != 0 {
		return
	}
	in.warned |= 1 << kind
	in.log.Warn(msg, args...)
}

// refuse counts an input the caller gets an error for.
func (in *Ingest) refuse(kind int, err error) error {
	in.stats.Refused++
	in.warn(kind, "es: access unit refused (further ones are counted, not logged)", "error", err.Error())
	return err
}

// tracksChanged re-declares the tracks after one was added or replaced.
func (in *Ingest) tracksChanged() error {
	if !in.declared {
		in.dropReplaced()
		return in.maybeDeclare()
	}
	in.stats.TrackChanges++
	return in.sink.SetTracks(in.Tracks())
}

// dropReplaced drops held frames of a track replaced before the tracks
// were declared: the sink will never hear of that track.
func (in *Ingest) dropReplaced() {
	kept := in.pending[:0]
	in.pendingBytes = 0
	for _, f := range in.pending {
		if f.Track == in.video || f.Track == in.audio {
			kept = append(kept, f)
			in.pendingBytes += len(f.Payload)
		} else {
			in.stats.DroppedReplaced++
		}
	}
	clear(in.pending[len(kept):])
	in.pending = kept
	if len(kept) > 0 {
		in.firstTS = kept[0].DTS
	}
}

// complete reports whether every track the ingest waits for is known.
func (in *Ingest) complete() bool {
	if in.flushing {
		return true
	}
	wantVideo := in.opts.OnlyTrack != OnlyAudio
	wantAudio := in.opts.OnlyTrack != OnlyVideo
	if in.opts.ExpectVideo || in.opts.ExpectAudio {
		wantVideo = wantVideo && in.opts.ExpectVideo
		wantAudio = wantAudio && in.opts.ExpectAudio
	}
	return (!wantVideo || in.video != nil) && (!wantAudio || in.audio != nil)
}

// maybeDeclare declares the tracks once every expected one is known, or
// once enough media is held to stop waiting, and sends the held frames.
func (in *Ingest) maybeDeclare() error {
	if in.declared {
		return nil
	}
	tracks := in.Tracks()
	if len(tracks) == 0 {
		return nil
	}
	waited := len(in.pending) >= probeFrames || in.pendingBytes >= maxHeldBytes ||
		(len(in.pending) > 0 && in.pending[len(in.pending)-1].DTS-in.firstTS >= probeDuration)
	if !in.complete() && !waited {
		return nil
	}
	if in.pendingBytes >= maxHeldBytes {
		in.warn(warnHeldBytes, "es: tracks declared early: held frames reached their byte limit", "bytes", in.pendingBytes)
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

// frame passes f on, or holds it until the tracks are declared.
func (in *Ingest) frame(f *media.Frame) error {
	k := 0
	if f.Track.Kind() == media.KindAudio {
		k = 1
	}
	if in.seen[k] && f.DTS < in.lastDTS[k]-probeDuration {
		// Passed on as is: the engine's timeline treats it as a restart
		// of the clock.
		in.warn(warnBackwards, "es: timestamps jumped backwards", "kind", f.Track.Kind().String(),
			"from", in.lastDTS[k], "to", f.DTS)
	}
	in.seen[k], in.lastDTS[k] = true, f.DTS
	if in.declared {
		in.stats.Frames++
		return in.sink.WriteFrame(f)
	}
	if len(in.pending) == 0 {
		in.firstTS = f.DTS
	}
	in.pending = append(in.pending, f)
	in.pendingBytes += len(f.Payload)
	return in.maybeDeclare()
}
