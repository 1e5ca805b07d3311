package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// Publisher is what a pull publishes into: *engine.Publisher.
type Publisher interface {
	SetTracks(tracks []*media.Track) error
	SetMetadata(md media.Metadata)
	WriteFrame(f *media.Frame) error
	// AddBytesIn counts bytes the source read (getMediaList's bytesSpeed
	// and totalBytes, the stream's bytes-in metric).
	AddBytesIn(n int)
	OnDone(fn func()) (stop func() bool)
	Reason() error
	Close()
}

// errStreamClosed ends an attempt whose stream was closed from outside
// (close_stream, an on_stream_none_reader reply): like ZLMediaKit, the
// proxy is then removed.
var errStreamClosed = errors.New("stream closed")

// publishSink is the flv.FrameSink a source runs into for one attempt.
// It publishes when the source's tracks are known, so an attempt that
// never gets media never takes the stream, and it drops or adds audio
// as the proxy asks.
type publishSink struct {
	open    func() (Publisher, error)
	onLive  func()
	dropAud bool
	addMute bool
	// abort ends the attempt when the stream is taken away.
	abort context.CancelCauseFunc
	// bytesRead is the source's running byte count, passed on to the
	// publisher frame by frame.
	bytesRead func() int64
	counted   int64

	pub      Publisher
	stopDone func() bool
	mute     *muteAudio
}

func (s *publishSink) SetTracks(tracks []*media.Track) error {
	kept := make([]*media.Track, 0, len(tracks)+1)
	hasAudio := false
	for _, t := range tracks {
		if t.Kind() == media.KindAudio {
			if s.dropAud {
				continue
			}
			hasAudio = true
		}
		kept = append(kept, t)
	}
	s.mute = nil
	if s.addMute && !hasAudio {
		s.mute = newMuteAudio()
		kept = append(kept, s.mute.track)
	}
	if len(kept) == 0 {
		return errors.New("no track left to publish (the source has audio only and enable_audio=0)")
	}
	if s.pub == nil {
		pub, err := s.open()
		if err != nil {
			return err
		}
		s.pub = pub
		s.stopDone = pub.OnDone(func() { s.abort(takenAway(pub.Reason())) })
	}
	if err := s.pub.SetTracks(kept); err != nil {
		return err
	}
	if s.onLive != nil {
		s.onLive()
		s.onLive = nil
	}
	return nil
}

func (s *publishSink) SetMetadata(md media.Metadata) {
	if s.pub != nil {
		s.pub.SetMetadata(md)
	}
}

func (s *publishSink) WriteFrame(f *media.Frame) error {
	if s.pub == nil {
		return nil // before tracks: ingest holds frames until SetTracks
	}
	if f.Track.Kind() == media.KindAudio && s.dropAud {
		return nil
	}
	if s.mute != nil && f.Track.Kind() == media.KindVideo {
		for _, m := range s.mute.upTo(f.DTS) {
			if err := s.pub.WriteFrame(m); err != nil {
				return err
			}
		}
	}
	if s.bytesRead != nil {
		if n := s.bytesRead(); n > s.counted {
			s.pub.AddBytesIn(int(n - s.counted))
			s.counted = n
		}
	}
	return s.pub.WriteFrame(f)
}

// close detaches the publisher (its readers wait out the grace period for
// the next attempt).
func (s *publishSink) close() {
	if s.pub == nil {
		return
	}
	if s.stopDone != nil {
		s.stopDone()
	}
	// The stream may have been taken away as the source ended (a write
	// refused), before the OnDone callback ran: tell the attempt here
	// too, or the proxy would retry a stream that was closed. The first
	// cause given to abort is the one kept.
	if reason := s.pub.Reason(); reason != nil {
		s.abort(takenAway(reason))
	}
	s.pub.Close()
	s.pub = nil
}

// takenAway is the cause that ends an attempt whose publisher ended for
// reason: replaced by another publisher, or otherwise closed.
func takenAway(reason error) error {
	if errors.Is(reason, engine.ErrReplaced) {
		return reason
	}
	return errStreamClosed
}

// muteAudio makes silent AAC-LC frames (44.1 kHz mono) that follow the
// video's timestamps, for players and platforms that need an audio track
// (add_mute_audio).
type muteAudio struct {
	track *media.Track
	next  time.Duration
	begun bool
}

// silentAACFrame is one raw AAC-LC frame of silence for 44.1 kHz mono,
// encoded by ffmpeg's aac encoder from anullsrc.
var silentAACFrame = []byte{0x01, 0x18, 0x20, 0x07}

// aacLC44100Mono is the AudioSpecificConfig of silentAACFrame.
var aacLC44100Mono = []byte{0x12, 0x08}

const muteFrameDuration = time.Duration(1024 * int64(time.Second) / 44100)

func newMuteAudio() *muteAudio {
	t, err := media.NewAACTrack(aacLC44100Mono)
	if err != nil {
		panic("proxy: the built-in silent AAC configuration does not parse: " + err.Error())
	}
	return &muteAudio{track: t}
}

// upTo returns the silent frames due up to dts.
func (m *muteAudio) upTo(dts time.Duration) []*media.Frame {
	// A jump in the video's clock (a new source session) restarts the
	// silence there rather than filling the gap.
	if !m.begun || dts-m.next > 2*time.Second || m.next-dts > 2*time.Second {
		m.next, m.begun = dts, true
	}
	var out []*media.Frame
	for m.next <= dts {
		out = append(out, &media.Frame{Track: m.track, DTS: m.next, PTS: m.next, Key: true, Payload: silentAACFrame})
		m.next += muteFrameDuration
	}
	return out
}
