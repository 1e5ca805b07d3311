package api

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/jsonw"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/zlm"
)

var (
	benchNow     = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	benchSchemas = []string{zlm.SchemaRTMP, zlm.SchemaRTSP, zlm.SchemaTS, zlm.SchemaFMP4, zlm.SchemaHLS}
)

// benchMediaListReply is a getMediaList reply for streams streams as
// maps: one zlm.MediaSource per stream and schema (five schemas).
func benchMediaListReply(streams int) Reply {
	list := make([]map[string]any, 0, streams*len(benchSchemas))
	for i, info := range benchStreamInfos(streams) {
		list = append(list, zlm.MediaSources(info, benchSchemas, int64(i)*1000+12345, benchNow)...)
	}
	return Reply{"code": 0, "data": list}
}

// benchStreamInfos are streams snapshots, each stream with an H.264 and
// an AAC track, an RTMP publisher and a few readers.
func benchStreamInfos(streams int) []engine.StreamInfo {
	now := benchNow
	readerProtos := []string{"rtmp", "http-flv", "rtsp", "hls", "ws-fmp4"}
	infos := make([]engine.StreamInfo, 0, streams)
	for i := range streams {
		video := &media.Track{Codec: media.CodecH264, Width: 1920, Height: 1080, FPS: 25}
		audio := &media.Track{Codec: media.CodecAAC, SampleRate: 44100, Channels: 2}
		info := engine.StreamInfo{
			Key:    engine.Key{Vhost: "__defaultVhost__", App: "live", Stream: fmt.Sprintf("camera-%04d", i)},
			State:  engine.StateLive,
			Ready:  true,
			Tracks: []*media.Track{video, audio},
			Publisher: &engine.SessionInfo{
				ID:       fmt.Sprintf("pub-%d", i),
				Protocol: "rtmp",
				Remote:   fmt.Sprintf("10.0.%d.%d:%d", i/250, i%250+1, 40000+i),
				Local:    "192.168.1.10:1935",
				Params:   "token=abc&user=cam<" + fmt.Sprint(i) + ">",
			},
			CreatedAt:  now.Add(-time.Duration(i+1) * time.Minute),
			BytesIn:    int64(i) * 1234567,
			BytesOut:   int64(i) * 7654321,
			FramesIn:   int64(i) * 1500,
			Publishers: 1,
			TrackStats: map[*media.Track]engine.TrackStats{
				video: {Frames: 90000 + int64(i), KeyFrames: 1800, GOPSize: 50, GOPInterval: 2 * time.Second, Duration: time.Hour},
				audio: {Frames: 155000 + int64(i), Duration: time.Hour},
			},
			Sinks: []string{"record-hls"},
			Drops: []engine.TrackDrop{{Output: "webrtc", Codec: media.CodecAAC, Reason: "no AAC in WebRTC"}},
		}
		for r := range 1 + i%4 {
			info.Readers = append(info.Readers, engine.ReaderInfo{
				SessionInfo: engine.SessionInfo{
					ID:       fmt.Sprintf("rd-%d-%d", i, r),
					Protocol: readerProtos[(i+r)%len(readerProtos)],
					Remote:   fmt.Sprintf("172.16.%d.%d:%d", r, i%250, 50000+r),
					Local:    "192.168.1.10:80",
				},
				Since: now.Add(-time.Duration(r) * time.Second),
			})
		}
		infos = append(infos, info)
	}
	return infos
}

// BenchmarkMediaListJSON encodes a 1000-stream getMediaList reply with
// encoding/json and with appendJSON.
func BenchmarkMediaListJSON(b *testing.B) {
	reply := benchMediaListReply(1000)
	want, err := json.Marshal(reply)
	if err != nil {
		b.Fatal(err)
	}
	if got, err := jsonw.Marshal(map[string]any(reply)); err != nil || string(got) != string(want) {
		b.Fatalf("marshalJSON differs from json.Marshal (err %v)", err)
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(want)))
		for b.Loop() {
			if _, err := json.Marshal(reply); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(want)))
		for b.Loop() {
			if _, err := jsonw.Marshal(map[string]any(reply)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMediaList is a getMediaList reply of 1000 streams from their
// snapshots to the reply's bytes: "maps" builds the 5000 item maps and
// encodes them (as the endpoint did before zlm's item writer), "items"
// writes them with zlm.AppendMediaItems, as the endpoint does
// (BenchmarkGetMediaList measures the whole call).
func BenchmarkMediaList(b *testing.B) {
	infos := benchStreamInfos(1000)
	maps := func() []byte {
		list := make([]map[string]any, 0, len(infos)*len(benchSchemas))
		for i, info := range infos {
			list = append(list, zlm.MediaSources(info, benchSchemas, int64(i)*1000+12345, benchNow)...)
		}
		out, err := jsonw.Marshal(map[string]any{"code": 0, "data": list})
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	direct := func() []byte {
		items := []byte{'['}
		for i := range infos {
			items = zlm.AppendMediaItems(items, i > 0, &infos[i], benchSchemas, int64(i)*1000+12345, benchNow)
		}
		out, err := jsonw.Marshal(map[string]any{"code": 0, "data": jsonw.Raw(append(items, ']'))})
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	if string(maps()) != string(direct()) {
		b.Fatal("the items differ from the maps")
	}
	for _, bc := range []struct {
		name string
		fn   func() []byte
	}{{"maps", maps}, {"items", direct}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.fn()
			}
		})
	}
}
