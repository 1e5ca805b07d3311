package flv

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
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
	md              media.Metadata
	warned          map[string]bool
	// ts and the callbacks carry a message's timestamp to the packets of
	// its body without a closure per message.
	ts      time.Duration
	onVideo func(VideoPacket) error
	onAudio func(AudioPacket) error
	room    []byte // the current body's tag room (VideoInRoom, AudioInRoom)

	// Log gets one warning per session for each kind of media the ingest
	// leaves out: a codec mediakit does not carry, the extra tracks of a
	// multitrack publisher. Nil discards.
	Log *slog.Logger

	// Dropped counts frames that arrived before their track's sequence
	// header and so could not be decoded, and held-back frames whose
	// configuration was replaced before the tracks were declared.
	Dropped int
	// LeftOut counts messages of tracks the ingest leaves out: codecs
	// mediakit does not carry, and the tracks of a multitrack publisher
	// other than the default one (track id 0) of each kind.
	LeftOut int
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
	in.md = md
	in.expectVideo = announces(md, "videocodecid")
	in.expectAudio = announces(md, "audiocodecid")
	in.sink.SetMetadata(md)
	return nil
}

// Video handles a video body stamped ts. The ingest keeps body: frame
// payloads alias it, so the caller must not modify or reuse it afterwards
// (an RTMP message body is the caller's to give; copy a Reader's Tag.Body,
// which the next Reader.Next overwrites). Only a malformed body is an
// error: a codec mediakit does not carry, or a multitrack body's other
// tracks, are left out and the session goes on.
func (in *Ingest) Video(ts time.Duration, body []byte) error {
	if in.onVideo == nil {
		in.onVideo = in.videoPacket // a method value built once, not a closure per message
	}
	in.ts = ts
	return EachVideoPacket(body, in.onVideo)
}

// VideoInRoom is Video for a body that lies in room at TagHeaderLen, with
// PrevSizeLen bytes after it (an RTMP message's Room): its frame's FLV
// tag is then written around the body instead of copied.
func (in *Ingest) VideoInRoom(ts time.Duration, body, room []byte) error {
	in.room = room
	defer func() { in.room = nil }()
	return in.Video(ts, body)
}

// AudioInRoom is Audio for a body that lies in room, as VideoInRoom.
func (in *Ingest) AudioInRoom(ts time.Duration, body, room []byte) error {
	in.room = room
	defer func() { in.room = nil }()
	return in.Audio(ts, body)
}

func (in *Ingest) videoPacket(p VideoPacket) error {
	ts := in.ts
	if p.TrackID != 0 {
		in.leaveOut(media.KindVideo, "video multitrack", "only the default video track (id 0) is kept", false)
		return nil
	}
	if p.Unsupported != "" {
		in.leaveOut(media.KindVideo, "video "+p.Unsupported, "mediakit does not carry this codec", true)
		return nil
	}
	switch p.Type {
	case VideoSequenceHeader:
		return in.videoConfig(p)
	case VideoFrame:
		if len(p.Data) == 0 {
			return nil
		}
		payload, err := in.videoPayload(p)
		if err != nil {
			return err
		}
		if len(payload) == 0 {
			return nil // an AV1 temporal unit of delimiters only
		}
		if in.video == nil || in.video.Codec != p.Codec {
			in.noConfig()
			return nil
		}
		key := p.Key || media.IsRandomAccess(in.video.Codec, payload)
		room := in.room
		if &payload[0] != &p.Data[0] {
			// A new buffer (AV1 without its delimiters, NAL units given
			// 4-byte lengths): the room would only keep the message alive.
			room = nil
		}
		return in.frame(&media.Frame{Track: in.video, DTS: ts, PTS: ts + p.CTS, Key: key, Payload: payload, TagRoom: room})
	}
	return nil
}

// videoConfig handles a sequence header: a new configuration, perhaps of
// another codec, replaces the video track.
func (in *Ingest) videoConfig(p VideoPacket) error {
	switch p.Codec {
	case media.CodecVP9:
		// vpcC has no frame size: the track waits for a keyframe, unless
		// onMetaData gave the size.
		params, err := parseVP9Config(p.Data)
		if err != nil {
			return err
		}
		if in.video != nil && in.video.Codec == media.CodecVP9 {
			return nil // the next keyframe tells whether the size changed
		}
		if w, h := in.metadataSize(); w > 0 && h > 0 {
			t, err := media.NewVP9Track(w, h, params)
			if err != nil {
				return err
			}
			return in.setVideo(t)
		}
		return nil
	case media.CodecAV1:
		seq, err := parseAV1Config(p.Data)
		if err != nil {
			return err
		}
		if seq == nil {
			return nil // the first keyframe brings the sequence header
		}
		t, err := media.NewAV1Track(seq)
		if err != nil {
			return err
		}
		return in.setVideo(t)
	}
	t, lengthSize, err := videoTrack(p)
	if err != nil {
		return err
	}
	in.videoLengthSize = lengthSize
	return in.setVideo(t)
}

// setVideo makes t the video track unless it has the same configuration.
func (in *Ingest) setVideo(t *media.Track) error {
	if t.SameConfig(in.video) {
		return nil
	}
	in.video = t
	return in.tracksChanged()
}

// videoPayload returns a frame's payload in media.Frame's form. AV1 and
// VP9 frames update the track when they carry a configuration of their
// own: senders such as gortmplib announce a placeholder sequence start,
// and the real sequence header comes with the first keyframe.
func (in *Ingest) videoPayload(p VideoPacket) ([]byte, error) {
	switch p.Codec {
	case media.CodecAV1:
		payload, err := av1Frame(p.Data)
		if err != nil {
			return nil, err
		}
		if seq := av1SequenceHeader(payload); seq != nil &&
			(in.video == nil || in.video.Codec != media.CodecAV1 || !bytes.Equal(seq, in.video.AV1SequenceHeader)) {
			if t, err := media.NewAV1Track(seq); err == nil {
				if err := in.setVideo(t); err != nil {
					return nil, err
				}
			}
		}
		return payload, nil
	case media.CodecVP9:
		if p.Key || in.video == nil || in.video.Codec != media.CodecVP9 {
			if t, err := media.NewVP9TrackFromKeyframe(p.Data); err == nil {
				if err := in.setVideo(t); err != nil {
					return nil, err
				}
			}
		}
		return p.Data, nil
	}
	if in.video == nil || in.video.Codec != p.Codec {
		return p.Data, nil // dropped by the caller
	}
	return ConvertLengthSize(p.Data, in.videoLengthSize)
}

// metadataSize is the frame size onMetaData announced, if any.
func (in *Ingest) metadataSize() (w, h int) {
	fw, _ := in.md.Number("width")
	fh, _ := in.md.Number("height")
	if fw < 1 || fh < 1 || fw > 1<<16 || fh > 1<<16 {
		return 0, 0
	}
	return int(fw), int(fh)
}

// Audio handles an audio body stamped ts. Like Video, it keeps body and
// leaves out what it does not carry.
func (in *Ingest) Audio(ts time.Duration, body []byte) error {
	if in.onAudio == nil {
		in.onAudio = in.audioPacket
	}
	in.ts = ts
	return EachAudioPacket(body, in.onAudio)
}

func (in *Ingest) audioPacket(p AudioPacket) error {
	ts := in.ts
	if p.TrackID != 0 {
		in.leaveOut(media.KindAudio, "audio multitrack", "only the default audio track (id 0) is kept", false)
		return nil
	}
	if p.Unsupported != "" {
		in.leaveOut(media.KindAudio, "audio "+p.Unsupported, "mediakit does not carry this codec", true)
		return nil
	}
	if p.Ignored {
		return nil
	}
	if p.SequenceHeader {
		return in.audioConfig(p)
	}
	if len(p.Data) == 0 {
		return nil
	}
	if in.audio == nil || in.audio.Codec != p.Codec {
		// Codecs whose frames describe themselves make their track from
		// the first frame (replacing one of another codec).
		t, err := selfDescribedTrack(p)
		if err != nil {
			in.noConfig()
			return nil
		}
		if t != nil {
			in.audio = t
			if err := in.tracksChanged(); err != nil {
				return err
			}
		}
	}
	if in.audio == nil || in.audio.Codec != p.Codec {
		in.noConfig()
		return nil
	}
	return in.frame(&media.Frame{Track: in.audio, DTS: ts, PTS: ts, Key: true, Payload: p.Data, TagRoom: in.room})
}

// audioConfig handles an audio sequence header.
func (in *Ingest) audioConfig(p AudioPacket) error {
	var t *media.Track
	var err error
	switch p.Codec {
	case media.CodecAAC:
		if ot := aacObjectType(p.Data); ot != 0 && ot != 2 && ot != 5 && ot != 29 {
			// AAC Main, LTP, LD, ELD...: a profile mediakit does not
			// carry, not a broken publisher.
			in.leaveOut(media.KindAudio, fmt.Sprintf("audio AAC object type %d", ot), "only AAC LC and HE-AAC are carried", true)
			return nil
		}
		t, err = media.NewAACTrack(p.Data)
	case media.CodecOpus:
		var ch int
		if ch, err = opusHeadChannels(p.Data); err != nil {
			return err
		}
		if t, err = media.NewOpusTrack(ch); err != nil {
			in.leaveOut(media.KindAudio, fmt.Sprintf("audio Opus %d channels", ch), "only mono and stereo Opus are carried", true)
			return nil
		}
	default:
		return nil // MP3's sequence start is empty: frames carry their headers
	}
	if err != nil {
		return err
	}
	if !t.SameConfig(in.audio) {
		in.audio = t
		return in.tracksChanged()
	}
	return nil
}

// aacObjectType is the audio object type an AudioSpecificConfig starts
// with, or 0 if it is too short.
func aacObjectType(asc []byte) int {
	if len(asc) < 1 {
		return 0
	}
	ot := int(asc[0] >> 3)
	if ot == 31 { // escape: 32 + the next 6 bits
		if len(asc) < 2 {
			return 0
		}
		ot = 32 + int(asc[0]&0x07)<<3 | int(asc[1]>>5)
	}
	return ot
}

// selfDescribedTrack builds the track of a codec whose frames are enough
// to decode it (G.711 from the legacy header, MP3 from its frame header,
// Opus from its TOC byte), or nil for codecs that need a sequence header.
func selfDescribedTrack(p AudioPacket) (*media.Track, error) {
	switch p.Codec {
	case media.CodecG711A, media.CodecG711U:
		return media.NewG711Track(p.Codec, p.SampleRate, p.Channels)
	case media.CodecMP3:
		return media.NewMP3Track(p.Data)
	case media.CodecOpus:
		ch := 1
		if p.Data[0]&0x04 != 0 { // TOC stereo flag
			ch = 2
		}
		return media.NewOpusTrack(ch)
	}
	return nil, nil
}

func (in *Ingest) noConfig() {
	in.Dropped++
}

// leaveOut counts a message of a track the ingest does not keep and warns
// once per session for each kind of thing left out. When the default
// track itself is left out (noTrack), a track of that kind announced by
// the metadata is not waited for.
func (in *Ingest) leaveOut(kind media.Kind, what, reason string, noTrack bool) {
	in.LeftOut++
	if noTrack && kind == media.KindVideo && in.video == nil {
		in.expectVideo = false
	}
	if noTrack && kind == media.KindAudio && in.audio == nil {
		in.expectAudio = false
	}
	if in.warned[what] || len(in.warned) >= 32 {
		return
	}
	if in.warned == nil {
		in.warned = map[string]bool{}
	}
	in.warned[what] = true
	if in.Log != nil {
		in.Log.Warn("ingest: media left out, session goes on", "media", what, "reason", reason)
	}
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
