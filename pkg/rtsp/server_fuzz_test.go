package rtsp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// FuzzStreamKey: any RTSP path and query give a valid key or an error.
func FuzzStreamKey(f *testing.F) {
	f.Add("/live/cam", "")
	f.Add("/live/cam/sub", "vhost=v1&token=x")
	f.Add("//..//", "vhost=%zz")
	f.Fuzz(func(t *testing.T, path, query string) {
		key, err := StreamKey(path, query)
		if err != nil {
			return
		}
		if key.Validate() != nil || strings.Contains(key.App, "/") || key.Vhost == "" {
			t.Fatalf("StreamKey(%q, %q) = %+v", path, query, key)
		}
	})
}

// FuzzSetupTrackID: the media index of any SETUP URL is -1 or more.
func FuzzSetupTrackID(f *testing.F) {
	f.Add("rtsp://h:8554/live/cam/trackID=1")
	f.Add("rtsp://h/live/cam?token=a/trackID=0")
	f.Add("rtsp://h/live/cam/trackID=99999999999999")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := base.ParseURL(raw)
		if err != nil {
			return
		}
		if id := setupTrackID(u); id < -1 {
			t.Fatalf("setupTrackID(%q) = %d", raw, id)
		}
	})
}

// FuzzRealmAuthorization: any Authorization header and URL is answered
// with a 401 (and, with credentials, a closed connection) unless it is
// right; nothing panics.
func FuzzRealmAuthorization(f *testing.F) {
	f.Add("Digest username=\"admin\", realm=\"cams\", nonce=\"x\", uri=\"rtsp://h/live/cam\", response=\"00\"", "rtsp://h/live/cam")
	f.Add("Basic YWRtaW46d3Jvbmc=", "rtsp://h/live/cam")
	f.Add("Digest username=\"admin\", algorithm=\"SHA-256\"", "rtsp://h/")
	f.Add("Basic", "rtsp://h/a/b")
	f.Fuzz(func(t *testing.T, header, rawURL string) {
		u, err := base.ParseURL(rawURL)
		if err != nil {
			return
		}
		fake := &authFake{realm: "cams", password: "a password no input contains"}
		c := authConn(fake)
		req := &base.Request{Method: base.Describe, URL: u, Header: base.Header{"Authorization": base.HeaderValue{header}}}
		ctx, res, err := c.realmAuth(context.Background(), req, engine.NewKey("", "live", "cam"), engine.SessionInfo{})
		if res == nil || res.StatusCode != base.StatusUnauthorized || ctx != nil {
			t.Fatalf("header %q accepted: %v %v", header, res, err)
		}
	})
}

// FuzzEachPacket: walking a packet list never reads past it, and
// PacketCount agrees with the walk.
func FuzzEachPacket(f *testing.F) {
	tr, _ := media.NewG711Track(media.CodecG711A, 8000, 1)
	f.Add(FramePackets(&media.Frame{Track: tr, Key: true, Payload: make([]byte, 3000)}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 3, 'a', 'b'})
	f.Fuzz(func(t *testing.T, list []byte) {
		n, size := 0, 0
		EachPacket(list, func(_ bool, _ uint32, p []byte) bool {
			n++
			size += packetRecordHeader + len(p)
			return true
		})
		if n != PacketCount(list) || size > len(list) {
			t.Fatalf("%d packets walked, PacketCount %d; %d of %d bytes", n, PacketCount(list), size, len(list))
		}
	})
}

// FuzzFramePackets: frames of any content (a publisher's AVCC payload
// may be anything) packetize without panicking, into packets that fit.
func FuzzFramePackets(f *testing.F) {
	f.Add(uint8(1), true, media.AppendAVCC(nil, []byte{0x65, 1, 2, 3}))
	f.Add(uint8(2), true, media.AppendAVCC(nil, []byte{0x26, 1, 2, 3}, []byte{}))
	f.Add(uint8(3), true, []byte{0x21, 0x10})
	f.Add(uint8(5), true, make([]byte, 2000))
	f.Fuzz(func(t *testing.T, codec uint8, key bool, payload []byte) {
		tr := &media.Track{Codec: media.Codec(codec % 8), SampleRate: 8000, Channels: 1 + int(codec/8)%2,
			SPS: []byte{0x67, 0x42}, PPS: []byte{0x68}, VPS: []byte{0x40, 1}}
		fr := &media.Frame{Track: tr, Key: key, PTS: time.Second, Payload: payload}
		EachPacket(FramePackets(fr), func(_ bool, _ uint32, p []byte) bool {
			if len(p) > rtpPayloadMax+8 {
				t.Fatalf("%s packet of %d bytes", tr.Codec, len(p))
			}
			return true
		})
	})
}
