package webrtc

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// offeredH264 lists the profile-level-ids of the H.264 codecs in
// packetization mode 1 that an offer's video sections accept.
func offeredH264(offer string) ([]string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOffer, err)
	}
	var out []string
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" {
			continue
		}
		h264 := map[string]bool{} // payload types
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, enc, _ := strings.Cut(a.Value, " ")
			if strings.HasPrefix(strings.ToUpper(enc), "H264/") {
				h264[pt] = true
			}
		}
		for _, a := range m.Attributes {
			if a.Key != "fmtp" {
				continue
			}
			pt, params, _ := strings.Cut(a.Value, " ")
			if !h264[pt] {
				continue
			}
			mode1, profile := false, ""
			for _, kv := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
				switch strings.ToLower(k) {
				case "packetization-mode":
					mode1 = v == "1"
				case "profile-level-id":
					profile = strings.ToLower(v)
				}
			}
			if mode1 && len(profile) == 6 {
				out = append(out, profile)
			}
		}
	}
	return out, nil
}

// pickProfile is the profile-level-id a stream whose SPS is sps is sent
// as, among those offered: the stream's own profile and constraints when
// offered, else one of the same profile_idc, else the first offered (a
// decoder of a higher profile plays a lower one; most browsers decode
// what they are sent).
func pickProfile(sps []byte, offered []string) string {
	own := ""
	if len(sps) >= 4 {
		own = hex.EncodeToString(sps[1:4])
	}
	for _, p := range offered {
		if own != "" && p[:4] == own[:4] {
			return own // exactly the stream's profile, at its level
		}
	}
	for _, p := range offered {
		if own != "" && p[:2] == own[:2] {
			return p
		}
	}
	if len(offered) > 0 {
		return offered[0]
	}
	return "42e01f"
}

// offersVideo reports whether an offer's video sections accept codec
// (an rtpmap encoding name: "VP9", "AV1").
func offersVideo(offer, codec string) bool {
	var d sdp.SessionDescription
	if d.UnmarshalString(offer) != nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			_, enc, _ := strings.Cut(a.Value, " ")
			if name, _, _ := strings.Cut(enc, "/"); strings.EqualFold(name, codec) {
				return true
			}
		}
	}
	return false
}
