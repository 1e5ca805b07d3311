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
// that order. skipped names the tracks left out.
func describeTracks(tracks []*media.Track) (*description.Session, []*outMedia, []string, error) {
	var out []*outMedia
	var skipped []string
	for _, t := range tracks {
		if t != nil && t.Kind() == 0 {
			skipped = append(skipped, t.String())
		}
	}
	for _, kind := range []media.Kind{media.KindVideo, media.KindAudio} {
		for _, t := range tracks {
			if t == nil || t.Kind() != kind {
				continue
			}
			f, err := FormatForTrack(t)
			if err != nil {
				skipped = append(skipped, t.String())
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
			break
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
