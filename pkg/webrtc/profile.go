package webrtc

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/sdp/v3"

	"github.com/mediakit/mediakit/pkg/media"
)

// offerCodecs is what an offer's video sections accept, read once.
type offerCodecs struct {
	// h264 are the profile-level-ids of H.264 in packetization mode 1.
	h264 []string
	// h265 are the profile-id and tier-flag pairs of H.265 in tx-mode
	// SRST ("1/0": Main, main tier).
	h265 []string
	// names are the other video encoding names, upper case ("VP9").
	names map[string]bool
}

// parseOffer reads the video codecs an offer accepts.
func parseOffer(offer string) (offerCodecs, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return offerCodecs{}, fmt.Errorf("%w: %w", ErrOffer, err)
	}
	oc := offerCodecs{names: map[string]bool{}}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" {
			continue
		}
		encodings := map[string]string{} // payload type: encoding name
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, enc, _ := strings.Cut(a.Value, " ")
			name, _, _ := strings.Cut(enc, "/")
			name = strings.ToUpper(name)
			encodings[pt] = name
			oc.names[name] = true
		}
		for _, a := range m.Attributes {
			if a.Key != "fmtp" {
				continue
			}
			pt, params, _ := strings.Cut(a.Value, " ")
			p := fmtpParams(params)
			switch encodings[pt] {
			case "H264":
				if profile := strings.ToLower(p["profile-level-id"]); p["packetization-mode"] == "1" && len(profile) == 6 {
					oc.h264 = append(oc.h264, profile)
				}
			case "H265":
				if mode := p["tx-mode"]; mode == "" || strings.EqualFold(mode, "SRST") {
					oc.h265 = append(oc.h265, orDefault(p["profile-id"], "1")+"/"+orDefault(p["tier-flag"], "0"))
				}
			}
		}
		// An H.265 payload type without fmtp is Main, main tier (RFC 7798).
		for pt, name := range encodings {
			if name == "H265" && !hasFmtp(m.Attributes, pt) {
				oc.h265 = append(oc.h265, "1/0")
			}
		}
	}
	return oc, nil
}

// accepts reports whether the offer takes video of codec (H.264 in
// packetization mode 1; H.265 in a profile the stream's SPS fits).
func (oc offerCodecs) accepts(t *media.Track) bool {
	switch t.Codec {
	case media.CodecH264:
		return len(oc.h264) > 0
	case media.CodecH265:
		return oc.pickH265(t.SPS) != ""
	}
	return oc.names[rtpName(t.Codec)]
}

// pickH265 is the "profile/tier" a stream whose SPS is sps is sent as:
// its own when offered; Main labelled as Main 10 when only that is (a
// Main 10 decoder plays Main); "" when the offer cannot take it.
func (oc offerCodecs) pickH265(sps []byte) string {
	own := h265ProfileTier(sps)
	if slices.Contains(oc.h265, own) {
		return own
	}
	if main10 := "2" + own[1:]; own[0] == '1' && slices.Contains(oc.h265, main10) {
		return main10
	}
	return ""
}

// h265ProfileTier is an H.265 SPS's general_profile_idc and tier flag as
// "profile/tier" (Main, main tier when the SPS cannot be read).
func h265ProfileTier(sps []byte) string {
	var s h265.SPS
	if len(sps) == 0 || s.Unmarshal(sps) != nil || s.ProfileTierLevel.GeneralProfileIdc == 0 {
		return "1/0"
	}
	tier := "0"
	if s.ProfileTierLevel.GeneralTierFlag != 0 {
		tier = "1"
	}
	return strconv.Itoa(int(s.ProfileTierLevel.GeneralProfileIdc)) + "/" + tier
}

func fmtpParams(params string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		out[strings.ToLower(k)] = v
	}
	return out
}

func hasFmtp(attrs []sdp.Attribute, pt string) bool {
	for _, a := range attrs {
		if a.Key == "fmtp" && strings.HasPrefix(a.Value, pt+" ") {
			return true
		}
	}
	return false
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
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
