package rtsp

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/mediakit/mediakit/pkg/media"
)

// errNoPlayableTrack: a stream none of whose tracks can be sent over RTSP.
var errNoPlayableTrack = errors.New("no track can be sent over RTSP")

// outMedia is one media of the SDP a player was given: the track kind
// whose frames it carries and how they are described.
type outMedia struct {
	media  *description.Media
	format format.Format
	kind   media.Kind
	codec  media.Codec
	clock  int
	pt     uint8
}

// describeTracks builds the session description of a stream for its
// players: the first video and the first audio track RTSP can carry, in
// that order. skipped holds the tracks left out: those RTSP cannot
// carry (FormatForTrack fails) and further tracks of a kind.
func describeTracks(tracks []*media.Track) (*description.Session, []*outMedia, []*media.Track, error) {
	var out []*outMedia
	var skipped []*media.Track
	for _, t := range tracks {
		if t != nil && t.Kind() == 0 {
			skipped = append(skipped, t)
		}
	}
	for _, kind := range []media.Kind{media.KindVideo, media.KindAudio} {
		for _, t := range tracks {
			if t == nil || t.Kind() != kind {
				continue
			}
			if len(out) > 0 && out[len(out)-1].kind == kind {
				skipped = append(skipped, t)
				continue
			}
			f, err := FormatForTrack(t)
			if err != nil {
				skipped = append(skipped, t)
				continue
			}
			typ := description.MediaTypeVideo
			if kind == media.KindAudio {
				typ = description.MediaTypeAudio
			}
			out = append(out, &outMedia{
				media:  &description.Media{Type: typ, Formats: []format.Format{f}},
				format: f,
				kind:   kind,
				codec:  t.Codec,
				clock:  f.ClockRate(),
				pt:     f.PayloadType(),
			})
		}
	}
	if len(out) == 0 {
		return nil, nil, skipped, errNoPlayableTrack
	}
	desc := &description.Session{Title: "mediakit"}
	for _, m := range out {
		desc.Medias = append(desc.Medias, m.media)
	}
	if _, err := desc.Marshal(); err != nil {
		return nil, nil, skipped, fmt.Errorf("rtsp: describe: %w", err)
	}
	return desc, out, skipped, nil
}
