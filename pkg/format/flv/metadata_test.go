package flv

import (
	"strings"
	"testing"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

func marshalAMF(t testing.TB, d amf0.Data) []byte {
	t.Helper()
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMetadata(t *testing.T) {
	entries := amf0.Object{
		{Key: "width", Value: float64(320)},
		{Key: "stereo", Value: true},
		{Key: "encoder", Value: "obs-output module"},
		{Key: "nested", Value: amf0.Object{{Key: "a", Value: float64(1)}}},
		{Key: "nothing", Value: nil},
		{Key: "list", Value: amf0.StrictArray{float64(1)}},
		{Key: "s1024", Value: strings.Repeat("x", 1024)},
		{Key: "s1025", Value: strings.Repeat("x", 1025)},
		{Key: strings.Repeat("k", 257), Value: float64(1)},
		{Key: strings.Repeat("k", 256), Value: float64(2)},
	}
	want := media.Metadata{
		{Key: "width", Value: float64(320)},
		{Key: "stereo", Value: true},
		{Key: "encoder", Value: "obs-output module"},
		{Key: "s1024", Value: strings.Repeat("x", 1024)},
		{Key: strings.Repeat("k", 256), Value: float64(2)},
	}
	tests := []struct {
		name    string
		payload []byte
		ok      bool
		wantErr bool
		want    media.Metadata
	}{
		{name: "@setDataFrame ECMA array", payload: marshalAMF(t, amf0.Data{"@setDataFrame", "onMetaData", amf0.ECMAArray(entries)}), ok: true, want: want},
		{name: "@setDataFrame object", payload: marshalAMF(t, amf0.Data{"@setDataFrame", "onMetaData", entries}), ok: true, want: want},
		{name: "onMetaData ECMA array", payload: marshalAMF(t, amf0.Data{"onMetaData", amf0.ECMAArray(entries)}), ok: true, want: want},
		{name: "onMetaData object", payload: marshalAMF(t, amf0.Data{"onMetaData", entries}), ok: true, want: want},
		{name: "empty object", payload: marshalAMF(t, amf0.Data{"onMetaData", amf0.Object{}}), ok: true, want: media.Metadata{}},

		{name: "onTextData", payload: marshalAMF(t, amf0.Data{"onTextData", entries})},
		{name: "|RtmpSampleAccess", payload: marshalAMF(t, amf0.Data{"|RtmpSampleAccess", false, false})},
		{name: "@setDataFrame alone", payload: marshalAMF(t, amf0.Data{"@setDataFrame"})},
		{name: "onMetaData alone", payload: marshalAMF(t, amf0.Data{"onMetaData"})},
		{name: "empty", payload: nil},

		{name: "onMetaData number", payload: marshalAMF(t, amf0.Data{"onMetaData", float64(1)}), wantErr: true},
		{name: "oversize", payload: marshalAMF(t, amf0.Data{"onMetaData", amf0.Object{{Key: "x", Value: strings.Repeat("y", MaxScriptSize)}}}), wantErr: true},
		{name: "bad AMF", payload: []byte{0x02, 0x00, 0x0a, 'o', 'n'}, wantErr: true},
		{name: "unknown marker", payload: []byte{0x55}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, ok, err := ParseMetadata(tt.payload)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !tt.ok {
				return
			}
			if len(md) != len(tt.want) {
				t.Fatalf("got %d keys %v, want %d", len(md), keys(md), len(tt.want))
			}
			for i := range md {
				if md[i] != tt.want[i] {
					t.Errorf("key %d: %q=%v, want %q=%v", i, short(md[i].Key), md[i].Value, short(tt.want[i].Key), tt.want[i].Value)
				}
			}
		})
	}
}

func keys(md media.Metadata) []string {
	var out []string
	for _, p := range md {
		out = append(out, short(p.Key))
	}
	return out
}

func short(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

func TestParseMetadataClip(t *testing.T) {
	tags := readTags(t, testutil.Clip(t, "h264_aac.flv"))
	if tags[0].Type != TagScript {
		t.Fatalf("first tag is %d, not script", tags[0].Type)
	}
	md, ok, err := ParseMetadata(tags[0].Body)
	if err != nil || !ok {
		t.Fatalf("ParseMetadata: %v, %v", ok, err)
	}
	for key, want := range map[string]any{
		"width": float64(320), "height": float64(240), "framerate": float64(25),
		"videocodecid": float64(7), "audiocodecid": float64(10), "audiosamplerate": float64(44100),
		"stereo": true,
	} {
		if got, _ := md.Get(key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if n, _ := md.Number("filesize"); n != 298657 {
		t.Errorf("filesize = %v, want 298657", n)
	}
	if len(md) != 12 {
		t.Errorf("%d keys %v, want 12", len(md), keys(md))
	}
}

func TestMetadataBody(t *testing.T) {
	avc, aac := clipTracks(t, "h264_aac.flv")
	hevc := hevcTrack(t)
	g711, err := media.NewG711Track(media.CodecG711U, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	noFPS := &media.Track{Codec: media.CodecH264, SPS: avc.SPS, PPS: avc.PPS, Width: 320, Height: 240}
	publisher := media.Metadata{
		{Key: "width", Value: float64(1920)},
		{Key: "videocodecid", Value: "avc1"},
		{Key: "encoder", Value: "obs"},
		{Key: "duration", Value: float64(99)},
		{Key: "framerate", Value: float64(30)},
		{Key: "title", Value: "my stream"},
		{Key: "videodatarate", Value: float64(2500)},
		{Key: "custom", Value: true},
	}
	tests := []struct {
		name   string
		tracks []*media.Track
		want   map[string]any
		absent []string
	}{
		{
			name:   "h264 aac",
			tracks: []*media.Track{avc, aac},
			want: map[string]any{
				"width": float64(320), "height": float64(240), "framerate": float64(25), "videocodecid": float64(7),
				"audiocodecid": float64(10), "audiosamplerate": float64(44100), "audiosamplesize": float64(16),
				"stereo": true, "audiochannels": float64(2), "duration": float64(0), "encoder": "mediakit",
				"title": "my stream", "videodatarate": float64(2500), "custom": true,
			},
		},
		{
			name:   "hevc",
			tracks: []*media.Track{hevc},
			want: map[string]any{
				"width": float64(320), "height": float64(240), "framerate": float64(25),
				"videocodecid": float64(0x68766331), // 'hvc1'
				"title":        "my stream",
			},
			absent: []string{"audiocodecid", "stereo"},
		},
		{
			name:   "g711 only",
			tracks: []*media.Track{g711},
			want: map[string]any{
				"audiocodecid": float64(8), "audiosamplerate": float64(8000), "stereo": false, "audiochannels": float64(1),
			},
			absent: []string{"videocodecid", "width", "height", "framerate"},
		},
		{
			name:   "framerate from the publisher when the SPS has none",
			tracks: []*media.Track{noFPS},
			want:   map[string]any{"framerate": float64(30), "width": float64(320)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := MetadataBody(tt.tracks, publisher)
			if body == nil {
				t.Fatal("nil body")
			}
			md, ok, err := ParseMetadata(body)
			if err != nil || !ok {
				t.Fatalf("body does not parse back: %v, %v", ok, err)
			}
			seen := map[string]bool{}
			for _, p := range md {
				if seen[p.Key] {
					t.Errorf("key %q appears twice", p.Key)
				}
				seen[p.Key] = true
			}
			for k, want := range tt.want {
				if got, ok := md.Get(k); !ok || got != want {
					t.Errorf("%s = %v (%v), want %v", k, got, ok, want)
				}
			}
			for _, k := range tt.absent {
				if v, ok := md.Get(k); ok {
					t.Errorf("%s = %v, want absent", k, v)
				}
			}
			// The body is a script tag body the ingest accepts.
			sink := &recSink{}
			if err := NewIngest(sink).Script(body); err != nil || len(sink.metadata) != 1 {
				t.Errorf("ingest of the body: %v, %d metadata", err, len(sink.metadata))
			}
		})
	}
	if body := MetadataBody(nil, nil); body == nil {
		t.Error("MetadataBody without tracks is nil")
	}
	// A value AMF0 cannot carry makes the body nil rather than garbage.
	if body := MetadataBody(nil, media.Metadata{{Key: "bad", Value: struct{}{}}}); body != nil {
		t.Errorf("MetadataBody with an unencodable value = % x", body)
	}
}
