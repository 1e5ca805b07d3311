package hls

import (
	"bytes"
	"fmt"
	"io"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/mediakit/mediakit/pkg/media"
)

// TSWriter muxes the frames of a fixed set of tracks into one continuous
// MPEG-TS, with the segmenter's muxer but without cutting segments: for
// HTTP-TS and MPEG-TS over RTP. It carries the first video and the first
// audio track that MPEG-TS carries (see CanCarry), video on PID 256;
// frames of other tracks are refused by Carries. Timestamps are the
// stream's plus TimestampOffset, as in HLS. Not safe for concurrent use.
type TSWriter struct {
	mux          *tsMuxer
	video, audio *tsStream
}

// tsStream is one carried track: the declared track and its TS track.
type tsStream struct {
	decl *media.Track
	ts   *tsTrack
}

// NewTSWriter returns a writer to w for tracks, or an error wrapping
// ErrNoTracks when MPEG-TS carries none of them. Tracks it leaves out are
// those for which Carries is false.
func NewTSWriter(w io.Writer, tracks []*media.Track) (*TSWriter, error) {
	tw := &TSWriter{mux: newTSMuxer(w)}
	for _, t := range tracks {
		if t == nil || !CanCarry(t.Codec) {
			continue
		}
		switch {
		case t.Kind() == media.KindVideo && tw.video == nil:
			tw.video = &tsStream{decl: t}
		case t.Kind() == media.KindAudio && tw.audio == nil:
			tw.audio = &tsStream{decl: t}
		}
	}
	if tw.video == nil && tw.audio == nil {
		return nil, fmt.Errorf("%w (tracks: %v)", ErrNoTracks, tracks)
	}
	for _, st := range []*tsStream{tw.video, tw.audio} {
		if st == nil {
			continue
		}
		var err error
		switch t := st.decl; t.Codec {
		case media.CodecMP3:
			st.ts = tw.mux.addMP3Track(t.SampleRate)
		case media.CodecOpus:
			st.ts, err = tw.mux.addOpusTrack(t.Channels)
		case media.CodecAAC:
			var conf mpeg4audio.AudioSpecificConfig
			if err = conf.Unmarshal(t.AACConfig); err != nil {
				return nil, fmt.Errorf("hls: AAC AudioSpecificConfig %x: %w", t.AACConfig, err)
			}
			st.ts, err = tw.mux.addTrack(t.Codec, &conf)
		default:
			st.ts, err = tw.mux.addTrack(t.Codec, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("hls: %w", err)
		}
	}
	return tw, nil
}

// Video is the video track carried, nil if none.
func (w *TSWriter) Video() *media.Track { return w.video.track() }

// Audio is the audio track carried, nil if none.
func (w *TSWriter) Audio() *media.Track { return w.audio.track() }

func (s *tsStream) track() *media.Track {
	if s == nil {
		return nil
	}
	return s.decl
}

// Carries reports whether frames of t go into this writer's stream: t
// is of the carried track's kind and codec, with the same configuration
// in what the program tables say (AAC configuration, MP3's MPEG-1 or
// MPEG-2 rates, Opus channels). New H.264/H.265 parameter sets ride in
// keyframes.
func (w *TSWriter) Carries(t *media.Track) bool { return w.streamFor(t) != nil }

func (w *TSWriter) streamFor(t *media.Track) *tsStream {
	if t == nil {
		return nil
	}
	st := w.audio
	if t.Kind() == media.KindVideo {
		st = w.video
	}
	if st == nil || (t != st.decl && !sameTSConfig(t, st.decl)) {
		return nil
	}
	return st
}

// sameTSConfig reports whether a and b map onto the same TS track.
func sameTSConfig(a, b *media.Track) bool {
	if a.Codec != b.Codec {
		return false
	}
	switch a.Codec {
	case media.CodecAAC:
		return bytes.Equal(a.AACConfig, b.AACConfig)
	case media.CodecMP3:
		return mp3LowRate(a.SampleRate) == mp3LowRate(b.SampleRate)
	case media.CodecOpus:
		return a.Channels == b.Channels
	}
	return true
}

// WriteTables writes PAT and PMT, naming the video (or, without video,
// the audio) the PCR track if no frame was written yet.
func (w *TSWriter) WriteTables() error { return w.mux.writeTables() }

// WriteFrame writes f, whose track must be one Carries accepts; it
// reports false (and no error) for a frame it has nothing to write from
// and for a frame of a track it does not carry.
func (w *TSWriter) WriteFrame(f *media.Frame) (bool, error) {
	st := w.streamFor(f.Track)
	if st == nil {
		return false, nil
	}
	wrote, err := w.mux.writeFrame(st.ts, f, ticks(f.PTS), ticks(f.DTS))
	if err != nil {
		return wrote, fmt.Errorf("mpegts: %s frame at %v: %w", f.Track.Codec, f.DTS, err)
	}
	return wrote, nil
}
