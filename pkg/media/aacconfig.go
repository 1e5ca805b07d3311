package media

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/bits"
)

// AACSampleRates are the rates of MPEG-4 audio's sampling_frequency_index
// (ISO 14496-3 1.6.3.4), shared by AudioSpecificConfig and ADTS.
var AACSampleRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// AACConfig is what an AudioSpecificConfig says of the audio it
// describes, read as a decoder reads it: mediacommon stops after the
// GASpecificConfig flags, so it misses the channels of a program config
// element and the SBR and PS that the backward-compatible sync extension
// (0x2b7, 0x548) signals after it.
type AACConfig struct {
	ObjectType int // of the core: 2 for AAC LC, also under HE-AAC
	CoreRate   int // the core's rate: a frame holds 1024 (or 960) samples of it
	SampleRate int // the decoded rate: SBR's when SBR is present, else CoreRate
	// ChannelConfig is the channel configuration, 0 when a program
	// config element gives the layout.
	ChannelConfig int
	Channels      int // decoded channels: PS makes a mono core stereo
	SBR, PS       bool
	// PCE is the program config element of a channel configuration 0,
	// written as the first element of a raw_data_block (ID_PCE, then the
	// element, its byte alignment counted from the block's start), so
	// that it can lead an ADTS frame whose header says channel
	// configuration 0. Nil without one.
	PCE []byte
}

// ParseAACConfig reads an AudioSpecificConfig (ISO 14496-3 1.6.2.1):
// explicit SBR and PS signalling (object types 5 and 29), the
// GASpecificConfig with its program config element, and the
// backward-compatible sync extension after it. It reads what it needs
// and ignores trailing bits, as decoders do; a truncated sync extension
// is ignored too, a truncated GASpecificConfig is an error.
func ParseAACConfig(asc []byte) (AACConfig, error) {
	r := bitReader{b: asc}
	var c AACConfig
	c.ObjectType = r.objectType()
	c.CoreRate = r.rate()
	c.ChannelConfig = r.read(4)
	if c.ObjectType == 5 || c.ObjectType == 29 {
		c.SBR, c.PS = true, c.ObjectType == 29
		c.SampleRate = r.rate()
		c.ObjectType = r.objectType()
	}
	if r.err != nil {
		return AACConfig{}, fmt.Errorf("aac: AudioSpecificConfig %x: %w", asc, r.err)
	}
	switch c.ObjectType {
	case 1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23: // GASpecificConfig
	default:
		return AACConfig{}, fmt.Errorf("aac: AudioSpecificConfig %x: object type %d", asc, c.ObjectType)
	}
	if c.CoreRate <= 0 {
		return AACConfig{}, fmt.Errorf("aac: AudioSpecificConfig %x: sample rate %d", asc, c.CoreRate)
	}
	if c.ChannelConfig > 7 {
		return AACConfig{}, fmt.Errorf("aac: AudioSpecificConfig %x: channel configuration %d", asc, c.ChannelConfig)
	}
	r.read(1)           // frameLengthFlag
	if r.read(1) == 1 { // dependsOnCoreCoder
		r.read(14)
	}
	extension := r.read(1)
	switch {
	case c.ChannelConfig == 7:
		c.Channels = 8
	case c.ChannelConfig > 0:
		c.Channels = c.ChannelConfig
	default:
		c.Channels, c.PCE = r.pce()
	}
	if c.ObjectType == 6 || c.ObjectType == 20 {
		r.read(3) // layerNr
	}
	if extension == 1 {
		switch c.ObjectType {
		case 22:
			r.read(5 + 11) // numOfSubFrame, layer_length
		case 17, 19, 20, 23:
			r.read(3) // the three resilience flags
		}
		r.read(1) // extensionFlag3
	}
	switch c.ObjectType {
	case 17, 19, 20, 21, 22, 23:
		// epConfig, and an ErrorProtectionSpecificConfig this does not
		// read: no sync extension is looked for after it.
		if r.read(2) >= 2 {
			r.err = errors.New("error protection config")
		}
	}
	if r.err != nil {
		return AACConfig{}, fmt.Errorf("aac: AudioSpecificConfig %x: %w", asc, r.err)
	}
	if !c.SBR {
		r.syncExtension(&c)
	}
	if c.SampleRate == 0 {
		c.SampleRate = c.CoreRate
	}
	if c.PS && c.Channels == 1 {
		c.Channels = 2 // parametric stereo decodes a mono core to stereo
	}
	return c, nil
}

// syncExtension reads the backward-compatible signalling of SBR and PS
// that follows the GASpecificConfig of an AAC config (ISO 14496-3
// 1.6.5.2). A truncated one leaves c as it was.
func (r *bitReader) syncExtension(c *AACConfig) {
	if r.left() < 16 || r.read(11) != 0x2b7 || r.objectType() != 5 {
		return
	}
	if r.read(1) != 1 { // sbrPresentFlag
		return
	}
	rate := r.rate()
	if r.err != nil || rate <= 0 {
		return
	}
	c.SBR, c.SampleRate = true, rate
	if r.left() >= 12 && r.read(11) == 0x548 && r.read(1) == 1 && r.err == nil {
		c.PS = true
	}
}

// pce reads a program_config_element (ISO 14496-3 4.4.1.1) and returns
// its channels (2 when it is cut short or declares none, as before
// decoders see its frames) and the element rewritten for a
// raw_data_block, nil when cut short.
func (r *bitReader) pce() (int, []byte) {
	start := r.pos
	r.read(4 + 2 + 4) // element_instance_tag, object_type, sampling_frequency_index
	front, side, back, lfe := r.read(4), r.read(4), r.read(4), r.read(2)
	assoc, cc := r.read(3), r.read(4)
	for i := 0; i < 3; i++ { // mono, stereo, matrix mixdown
		if r.read(1) == 1 {
			r.read(4 - i/2)
		}
	}
	channels := lfe
	for i := 0; i < front+side+back; i++ {
		if r.read(1) == 1 { // is_cpe
			channels += 2
		} else {
			channels++
		}
		r.read(4)
	}
	r.skip(4*(lfe+assoc) + 5*cc)
	body := r.pos - start // the element before its byte alignment
	if r.err != nil {
		r.err = nil // mediacommon accepts such configs: keep its reading
		r.pos = len(r.b) * 8
		return 2, nil
	}
	if channels == 0 {
		channels = 2
	}
	// A config that ends with the element's body (no comment_field_bytes,
	// as hand-made ones do) reads as an empty comment.
	comment := 0
	commentAt := (start + body + 7) / 8 // the comment_field_bytes byte
	if commentAt < len(r.b) {
		r.pos = commentAt * 8
		comment = r.read(8)
		r.skip(8 * comment)
		if r.err != nil {
			r.err = nil
			r.pos = len(r.b) * 8
			comment = 0
		}
	} else {
		r.pos = len(r.b) * 8
	}
	// ID_PCE (3 bits), the element, zero bits to the next byte of the
	// raw_data_block, then the comment.
	n := 3 + body
	out := make([]byte, (n+7)/8+1+comment)
	pos := 0
	bits.WriteBitsUnsafe(out, &pos, 5, 3)
	for p, left := start, body; left > 0; {
		k := min(left, 32)
		v, _ := bits.ReadBits(r.b, &p, k)
		bits.WriteBitsUnsafe(out, &pos, v, k)
		left -= k
	}
	pos = (pos + 7) / 8 * 8
	if comment > 0 {
		copy(out[pos/8:], r.b[commentAt:commentAt+1+comment])
	}
	return channels, out
}

// bitReader reads big-endian bit fields; after the first read past the
// end every read returns 0 and err is set.
type bitReader struct {
	b   []byte
	pos int
	err error
}

func (r *bitReader) read(n int) int {
	if r.err != nil {
		return 0
	}
	v, err := bits.ReadBits(r.b, &r.pos, n)
	if err != nil {
		r.err = errors.New("cut short")
		return 0
	}
	return int(v)
}

func (r *bitReader) skip(n int) {
	if r.err == nil && r.left() < n {
		r.err = errors.New("cut short")
		return
	}
	r.pos += n
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

// objectType reads GetAudioObjectType().
func (r *bitReader) objectType() int {
	t := r.read(5)
	if t == 31 {
		t = 32 + r.read(6)
	}
	return t
}

// rate reads a sampling_frequency_index and, for 15, the rate; 0 for a
// reserved index.
func (r *bitReader) rate() int {
	i := r.read(4)
	switch {
	case i == 15:
		return r.read(24)
	case i < len(AACSampleRates):
		return AACSampleRates[i]
	}
	return 0
}
