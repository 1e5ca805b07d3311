package flv

import (
	"errors"
	"fmt"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// FrameSink receives what an ingest produces; *engine.Publisher is one.
type FrameSink interface {
	SetTracks(tracks []*media.Track) error
	SetMetadata(md media.Metadata)
	WriteFrame(f *media.Frame) error
}

// Track detection waits at most this long (in media time) or this many
// frames for every expected track's configuration before declaring the
// tracks it has.
const (
	probeDuration = time.Second
	probeFrames   = 256
)

// Ingest turns FLV audio, video and script bodies (RTMP messages or FLV
// file tags) into tracks and frames for a FrameSink. Frames are held back
// until the tracks are known, so the first frame readers get is
// decodable.
type Ingest struct {
	sink FrameSink

	video, audio    *media.Track
	videoLengthSize int
	expectVideo     bool
	expectAudio     bool
	haveMetadata    bool
	declared        bool
	declaredVideo   bool
	declaredAudio   bool
	pending         []*media.Frame
	firstTS         time.Duration

	// Dropped counts frames that arrived before their track's sequence
	// header and so could not be decoded, and held-back frames whose
	// configuration was replaced before the tracks were declared.
	Dropped int
}

// NewIngest returns an ingest feeding sink.
func NewIngest(sink FrameSink) *Ingest {
	return &Ingest{sink: sink, videoLengthSize: 4}
}

// Tracks returns the tracks known so far.
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

// Script handles a data message or script tag (onMetaData). It returns
// an error (wrapping ErrScriptTooDeep) only for script data nested deeper
// than MaxAMFDepth: no encoder sends that, so the sender is hostile and
// its session should end. Other data it cannot use is ignored.
func (in *Ingest) Script(payload []byte) error {
	if len(payload) > MaxScriptSize {
		return nil // not metadata any player needs; ignore rather than decode
	}
	md, ok, err := ParseMetadata(payload)
	if errors.Is(err, ErrScriptTooDeep) {
		return err
	}
	if err != nil || !ok {
		return nil // other data messages (|RtmpSampleAccess, onTextData, ...)
	}
	in.haveMetadata = true
	in.expectVideo = announces(md, "videocodecid")
	in.expectAudio = announces(md, "audiocodecid")
	in.sink.SetMetadata(md)
	return nil
}

// Video handles a video body stamped ts. The ingest keeps body: frame
// payloads alias it, so the caller must not modify or reuse it afterwards
// (an RTMP message body is the caller's to give; copy a Reader's Tag.Body,
// which the next Reader.Next overwrites).
func (in *Ingest) Video(ts time.Duration, body []byte) error {
	p, err := ParseVideo(body)
	if err != nil {
		return err
	}
	switch p.Type {
	case VideoSequenceHeader:
		t, lengthSize, err := videoTrack(p)
		if err != nil {
			return err
		}
		in.videoLengthSize = lengthSize
		if !t.SameConfig(in.video) {
			in.video = t
			return in.tracksChanged()
		}
		return nil
	case VideoFrame:
		if in.video == nil || in.video.Codec != p.Codec {
			in.noConfig()
			return nil
		}
		if len(p.Data) == 0 {
			return nil
		}
		payload, err := ConvertLengthSize(p.Data, in.videoLengthSize)
		if err != nil {
			return err
		}
		key := p.Key || media.IsRandomAccess(in.video.Codec, payload)
		return in.frame(&media.Frame{Track: in.video, DTS: ts, PTS: ts + p.CTS, Key: key, Payload: payload})
	}
	return nil
}

// Audio handles an audio body stamped ts. Like Video, it keeps body.
func (in *Ingest) Audio(ts time.Duration, body []byte) error {
	p, err := ParseAudio(body)
	if err != nil {
		return err
	}
	if p.Ignored {
		return nil
	}
	if p.SequenceHeader {
		t, err := media.NewAACTrack(p.Data)
		if err != nil {
			return err
		}
		if !t.SameConfig(in.audio) {
			in.audio = t
			return in.tracksChanged()
		}
		return nil
	}
	if in.audio == nil && (p.Codec == media.CodecG711A || p.Codec == media.CodecG711U) {
		t, err := media.NewG711Track(p.Codec, p.SampleRate, p.Channels)
		if err != nil {
			return err
		}
		in.audio = t
		if err := in.tracksChanged(); err != nil {
			return err
		}
	}
	if in.audio == nil || in.audio.Codec != p.Codec {
		in.noConfig()
		return nil
	}
	if len(p.Data) == 0 {
		return nil
	}
	return in.frame(&media.Frame{Track: in.audio, DTS: ts, PTS: ts, Key: true, Payload: p.Data})
}

func (in *Ingest) noConfig() {
	in.Dropped++
}

func videoTrack(p VideoPacket) (*media.Track, int, error) {
	switch p.Codec {
	case media.CodecH264:
		c, err := media.ParseAVCConfig(p.Data)
		if err != nil {
			return nil, 0, err
		}
		if len(c.SPS) == 0 || len(c.PPS) == 0 {
			return nil, 0, errors.New("flv: H.264 sequence header without SPS or PPS")
		}
		t, err := media.NewH264Track(c.SPS[0], c.PPS[0])
		return t, c.LengthSize, err
	case media.CodecH265:
		c, err := media.ParseHEVCConfig(p.Data)
		if err != nil {
			return nil, 0, err
		}
		if len(c.VPS) == 0 || len(c.SPS) == 0 || len(c.PPS) == 0 {
			return nil, 0, errors.New("flv: H.265 sequence header without VPS, SPS or PPS")
		}
		t, err := media.NewH265Track(c.VPS[0], c.SPS[0], c.PPS[0])
		return t, c.LengthSize, err
	}
	return nil, 0, fmt.Errorf("flv: video codec %s: %w", p.Codec, ErrUnsupportedCodec)
}

// tracksChanged re-declares tracks after a configuration change.
func (in *Ingest) tracksChanged() error {
	if !in.declared {
		in.dropReplaced()
		return in.maybeDeclare()
	}
	return in.sink.SetTracks(in.Tracks())
}

// dropReplaced drops held-back frames of a track replaced before the tracks
// were declared: the sink will never hear of that track.
func (in *Ingest) dropReplaced() {
	kept := in.pending[:0]
	for _, f := range in.pending {
		if f.Track == in.video || f.Track == in.audio {
			kept = append(kept, f)
		} else {
			in.Dropped++
		}
	}
	clear(in.pending[len(kept):])
	in.pending = kept
	if len(kept) > 0 {
		in.firstTS = kept[0].DTS
	}
}

// maybeDeclare declares the tracks once every expected one is configured,
// or once enough media passed to stop waiting.
func (in *Ingest) maybeDeclare() error {
	if in.declared {
		return nil
	}
	complete := in.video != nil && in.audio != nil
	if in.haveMetadata {
		complete = (!in.expectVideo || in.video != nil) && (!in.expectAudio || in.audio != nil) &&
			(in.video != nil || in.audio != nil)
	}
	waitedEnough := len(in.pending) >= probeFrames ||
		(len(in.pending) > 0 && in.pending[len(in.pending)-1].DTS-in.firstTS >= probeDuration)
	if !complete && !waitedEnough {
		return nil
	}
	tracks := in.Tracks()
	if len(tracks) == 0 {
		return nil
	}
	if err := in.sink.SetTracks(tracks); err != nil {
		return err
	}
	in.declared = true
	pending := in.pending
	in.pending = nil
	for _, f := range pending {
		if err := in.sink.WriteFrame(f); err != nil {
			return err
		}
	}
	return nil
}

func (in *Ingest) frame(f *media.Frame) error {
	if in.declared {
		return in.sink.WriteFrame(f)
	}
	if len(in.pending) == 0 {
		in.firstTS = f.DTS
	}
	in.pending = append(in.pending, f)
	return in.maybeDeclare()
}

// Flush declares whatever tracks are known and writes held-back frames;
// for a source that ends before track detection finished.
func (in *Ingest) Flush() error {
	if in.declared || len(in.Tracks()) == 0 {
		return nil
	}
	in.haveMetadata, in.expectVideo, in.expectAudio = true, in.video != nil, in.audio != nil
	return in.maybeDeclare()
}

// announces reports whether metadata announces a codec: a FourCC string or
// a non-zero id. Some encoders (gortmplib) write audiocodecid 0 for "no
// audio".
func announces(md media.Metadata, key string) bool {
	v, ok := md.Get(key)
	if !ok {
		return false
	}
	switch v := v.(type) {
	case float64:
		return v != 0
	case string:
		return v != ""
	}
	return false
}
