package rtsp

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtplpcm"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpsimpleaudio"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/media"
)

// dpMaxReorder is how far behind the latest packet a sequence number may
// be and still count as late (dropped) rather than as the sender
// restarting its numbering.
const dpMaxReorder = 1000

// DepacketizerStats counts what a Depacketizer did with its packets.
type DepacketizerStats struct {
	Packets int64 // packets given to Decode
	Frames  int64 // frames returned
	// Lost counts packets missing from the sequence numbers; after a
	// loss video waits for its next keyframe.
	Lost int64
	// Late counts duplicate or late packets, dropped: gortsplib's UDP
	// receiver already puts packets back in order.
	Late int64
	// DroppedBeforeKey counts video access units dropped while waiting
	// for a keyframe (at the start and after a loss).
	DroppedBeforeKey int64
	// DroppedNoParams counts video keyframes dropped because no
	// parameter sets were known yet (neither in the SDP nor in band).
	DroppedNoParams int64
	// Damaged counts access units dropped because packets of theirs were
	// lost or malformed.
	Damaged int64
	// Errors counts Decode calls that returned an error.
	Errors int64
}

// Depacketizer turns the RTP packets of one format (H.264, H.265, AV1,
// VP9, AAC, MP3, Opus, G.711) into frames. It is not safe for concurrent use: feed it
// from one goroutine, in sequence order (gortsplib's receivers reorder
// UDP).
//
// Video frames are access units in AVCC form (4-byte lengths) without
// access unit delimiters, filler data or the parameter sets their track
// carries, marked Key on IDR (H.264) and IRAP (H.265) pictures; DTS comes
// from PTS through mediacommon's DTS extractors, so B-frames get DTS <
// PTS. Frames before the first keyframe, and after a sequence gap until
// the next keyframe, are dropped. A keyframe whose parameter sets differ
// from the current track's makes a new track. AAC gives one frame per
// access unit, MP3 one per MP3 frame, Opus and G.711 one per packet. AV1
// frames are temporal units in the low-overhead form (see media.AV1LowOverhead),
// VP9 frames as sent; both wait for their first keyframe (AV1: a
// sequence header) for their track.
type Depacketizer struct {
	format    format.Format
	clockRate int
	track     *media.Track

	video *dpVideo
	vpx   *dpFrameVideo // AV1, VP9
	mp3   *dpMP3
	aac   *rtpmpeg4audio.Decoder
	aacAU int64 // samples of an AAC access unit
	opus  *rtpsimpleaudio.Decoder
	g711  *rtplpcm.Decoder

	haveSeq bool
	lastSeq uint16
	stats   DepacketizerStats
}

// NewDepacketizer returns a depacketizer for f. Formats TrackFromFormat
// does not support give an error wrapping ErrUnsupportedFormat.
func NewDepacketizer(f format.Format) (*Depacketizer, error) {
	if f == nil {
		return nil, fmt.Errorf("rtsp: depacketizer: no format: %w", ErrUnsupportedFormat)
	}
	t, err := TrackFromFormat(f)
	if err != nil {
		return nil, err
	}
	d := &Depacketizer{format: f, clockRate: f.ClockRate(), track: t}
	if d.clockRate <= 0 {
		return nil, fmt.Errorf("rtsp: depacketizer %s: clock rate %d: %w", FormatName(f), d.clockRate, ErrUnsupportedFormat)
	}
	switch f := f.(type) {
	case *format.H264, *format.H265:
		d.video, err = newDPVideo(f, t)
	case *format.AV1:
		d.vpx = newDPFrameVideo(media.CodecAV1)
	case *format.VP9:
		d.vpx = newDPFrameVideo(media.CodecVP9)
	case *format.MPEG1Audio:
		d.mp3 = &dpMP3{}
	case *format.MPEG4Audio:
		if f.SizeLength <= 0 || f.SizeLength > 32 || f.IndexLength < 0 || f.IndexLength > 32 ||
			f.IndexDeltaLength < 0 || f.IndexDeltaLength > 32 {
			return nil, fmt.Errorf("rtsp: depacketizer %s: AU header sizes %d/%d/%d: %w", FormatName(f),
				f.SizeLength, f.IndexLength, f.IndexDeltaLength, ErrUnsupportedFormat)
		}
		d.aacAU = 1024
		if f.Config.FrameLengthFlag {
			d.aacAU = 960
		}
		d.aac, err = f.CreateDecoder()
	case *format.Opus:
		d.opus, err = f.CreateDecoder()
	case *format.G711:
		d.g711, err = f.CreateDecoder()
	}
	if err != nil {
		return nil, fmt.Errorf("rtsp: depacketizer %s: %w", FormatName(f), err)
	}
	return d, nil
}

// Format returns the format the depacketizer reads.
func (d *Depacketizer) Format() format.Format { return d.format }

// Track returns the current track: nil for H.264 and H.265 until their
// parameter sets are known.
func (d *Depacketizer) Track() *media.Track {
	if d.video != nil {
		return d.video.track
	}
	if d.vpx != nil {
		return d.vpx.track
	}
	return d.track
}

// Stats returns the counters so far.
func (d *Depacketizer) Stats() DepacketizerStats { return d.stats }

// Decode takes the next packet and returns the frames it completed, in
// decoding order. pts is the packet's presentation time in ticks of the
// format's clock rate, as gortsplib's Client.PacketPTS and
// ServerSession.PacketPTS return it (packets for which they say !ok are
// not given to Decode); frames carry it as time.Duration.
//
// An error means something in the packet could not be used (malformed,
// a damaged access unit, a bad parameter set): it is for a warning, the
// depacketizer goes on with the next packet, and the frames returned
// with it are good. The frames and their payloads belong to the caller;
// the depacketizer keeps no reference to pkt after the access unit it
// belongs to is complete.
func (d *Depacketizer) Decode(pkt *rtp.Packet, pts int64) ([]*media.Frame, error) {
	if pkt == nil {
		return nil, nil
	}
	d.stats.Packets++
	lost := false
	if d.haveSeq {
		diff := int16(pkt.SequenceNumber - d.lastSeq)
		switch {
		case diff == 0 || (diff < 0 && diff > -dpMaxReorder):
			d.stats.Late++
			return nil, nil
		case diff != 1:
			lost = true
			if diff > 1 {
				d.stats.Lost += int64(diff - 1)
			} else {
				d.stats.Lost++ // the sender restarted its numbering
			}
		}
	}
	d.haveSeq, d.lastSeq = true, pkt.SequenceNumber

	var units []dpFrame
	var err error
	switch {
	case d.video != nil:
		units, err = d.video.decode(pkt, pts, lost, &d.stats)
	case d.vpx != nil:
		units, err = d.vpx.decode(pkt, pts, lost, &d.stats)
	case d.mp3 != nil:
		units, err = d.decodeMP3(pkt, pts, lost)
	case d.aac != nil:
		units, err = d.decodeAAC(pkt, pts)
	case d.opus != nil:
		units, err = d.decodeSimple(pkt, pts, d.opus.Decode)
	case d.g711 != nil:
		units, err = d.decodeSimple(pkt, pts, d.g711.Decode)
	}
	if err != nil {
		d.stats.Errors++
		err = fmt.Errorf("rtsp: %s packet %d: %w", FormatName(d.format), pkt.SequenceNumber, err)
	}
	if len(units) == 0 {
		return nil, err
	}
	frames := make([]*media.Frame, len(units))
	for i, u := range units {
		frames[i] = &media.Frame{
			Track:   u.track,
			DTS:     dpDuration(u.dts, d.clockRate),
			PTS:     dpDuration(u.pts, d.clockRate),
			Key:     u.key,
			Payload: u.payload,
		}
	}
	d.stats.Frames += int64(len(frames))
	return frames, err
}

// dpFrame is a frame timed in ticks of the format's clock rate.
type dpFrame struct {
	track    *media.Track
	dts, pts int64
	key      bool
	payload  []byte
}

// decodeAAC returns the access units of an RFC 3640 (AAC-hbr) packet,
// the i-th stamped i access unit durations after pts.
func (d *Depacketizer) decodeAAC(pkt *rtp.Packet, pts int64) ([]dpFrame, error) {
	aus, err := d.aac.Decode(pkt)
	if errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	units := make([]dpFrame, 0, len(aus))
	for i, au := range aus {
		if len(au) == 0 {
			continue
		}
		at := pts + int64(i)*d.aacAU
		units = append(units, dpFrame{track: d.track, dts: at, pts: at, key: true, payload: bytes.Clone(au)})
	}
	return units, nil
}

// decodeSimple returns the one frame of an Opus or G.711 packet.
func (d *Depacketizer) decodeSimple(pkt *rtp.Packet, pts int64, dec func(*rtp.Packet) ([]byte, error)) ([]dpFrame, error) {
	b, err := dec(pkt)
	if err != nil {
		return nil, err
	}
	return []dpFrame{{track: d.track, dts: pts, pts: pts, key: true, payload: bytes.Clone(b)}}, nil
}

// dpDuration converts ticks of a clock rate to a duration without
// overflowing for streams of any realistic length.
func dpDuration(ticks int64, rate int) time.Duration {
	r := int64(rate)
	secs, rem := ticks/r, ticks%r
	return time.Duration(secs)*time.Second + time.Duration(rem*int64(time.Second)/r)
}
