package remux

import (
	"errors"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// Clip is the part of one input to keep, in the input's own time from its
// first frame (or, Absolute, in its decode times): from the video
// keyframe at or before From (so the output starts decodable), up to but
// not including To (0: to the end).
type Clip struct {
	From, To time.Duration
	// Absolute: From and To are decode times, for a reader that may
	// itself have skipped to a keyframe before From (source.Options.Start).
	Absolute bool
}

// errClipDone ends reading an input whose clip is complete.
var errClipDone = errors.New("clip complete")

// ClipSink passes on to next the frames of clip, for a reader of one input
// that is not a remux (a recording played back from a seek point). Past
// clip.To its WriteFrame returns an error that ends the input's Run;
// ClipDone tells that error.
func ClipSink(next flv.FrameSink, clip Clip) flv.FrameSink { return &clipper{next: next, clip: clip} }

// ClipDone reports whether err is a ClipSink's end of clip.
func ClipDone(err error) bool { return errors.Is(err, errClipDone) }

// maxHeldFrames bounds the frames kept from the last keyframe while
// seeking to From: a GOP longer than this starts at the next keyframe.
const maxHeldFrames = 16384

// clipper passes on the frames of one input's clip.
type clipper struct {
	next     flv.FrameSink
	clip     Clip
	hasVideo bool
	first    time.Duration
	seen     bool
	passing  bool
	// held are the frames from the last video keyframe before From.
	held []*media.Frame
	// start is the decode time of the clip's first frame; a frame
	// decoded before it (audio interleaved just ahead of the keyframe) is
	// left out, so that the output's time starts there.
	start time.Duration
}

func (c *clipper) SetTracks(tracks []*media.Track) error {
	for _, t := range tracks {
		if t != nil && t.Kind() == media.KindVideo {
			c.hasVideo = true
		}
	}
	return c.next.SetTracks(tracks)
}

func (c *clipper) SetMetadata(md media.Metadata) { c.next.SetMetadata(md) }

func (c *clipper) WriteFrame(f *media.Frame) error {
	if !c.seen {
		c.seen, c.first = true, f.DTS
		if c.clip.Absolute {
			c.first = 0
		}
	}
	at := f.DTS - c.first
	if c.clip.To > 0 && at >= c.clip.To {
		return errClipDone
	}
	if !c.passing {
		if at < c.clip.From {
			switch {
			case !c.hasVideo:
			case f.Track.Kind() == media.KindVideo && f.Key:
				clear(c.held)
				c.held = append(c.held[:0], f)
			case len(c.held) > 0 && len(c.held) < maxHeldFrames:
				c.held = append(c.held, f)
			default:
				clear(c.held)
				c.held = c.held[:0]
			}
			return nil
		}
		c.passing = true
		held := c.held
		c.held = nil
		c.start = f.DTS
		if len(held) > 0 {
			c.start = held[0].DTS
		}
		for _, h := range held {
			if h.DTS < c.start {
				continue
			}
			if err := c.next.WriteFrame(h); err != nil {
				return err
			}
		}
	}
	if f.DTS < c.start {
		return nil
	}
	return c.next.WriteFrame(f)
}
