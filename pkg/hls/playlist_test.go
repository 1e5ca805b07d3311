package hls

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSegmentURI(t *testing.T) {
	for _, seq := range []uint64{0, 1, 42, 1<<64 - 1} {
		name := SegmentURI(seq)
		got, ok := ParseSegmentURI(name)
		if !ok || got != seq {
			t.Errorf("ParseSegmentURI(%q) = %d, %v", name, got, ok)
		}
	}
	if SegmentURI(7) != "hls-7.ts" {
		t.Errorf("SegmentURI(7) = %q", SegmentURI(7))
	}
	for _, bad := range []string{"", "hls-.ts", "hls-01.ts", "hls--1.ts", "hls-+1.ts", "hls-1.ts.ts", "hls-1.mp4",
		"x-1.ts", "hls-18446744073709551616.ts", "hls-1 .ts", "../hls-1.ts"} {
		if seq, ok := ParseSegmentURI(bad); ok {
			t.Errorf("ParseSegmentURI(%q) = %d, want rejection", bad, seq)
		}
	}
}

func TestEndedPlaylist(t *testing.T) {
	segs := []*Segment{seg(3, 2*time.Second, false), seg(4, 1500*time.Millisecond, true), seg(5, 333*time.Millisecond, false)}
	got := string(EndedPlaylist(segs, 2*time.Second, nil))
	want := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-PLAYLIST-TYPE:VOD\n" +
		"#EXTINF:2.000,\nhls-3.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.500,\nhls-4.ts\n#EXTINF:0.333,\nhls-5.ts\n#EXT-X-ENDLIST\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	p := mustParse(t, []byte(got))
	if !p.Ended || p.PlaylistType != "VOD" || len(p.Segments) != 3 || p.Segments[2].Duration != 333*time.Millisecond {
		t.Errorf("parsed %+v", p)
	}
	// The target covers the longest segment, whatever the caller says.
	long := string(EndedPlaylist([]*Segment{seg(0, 6500*time.Millisecond, false)}, time.Second, func(seq uint64) string { return "a.ts" }))
	if !strings.Contains(long, "#EXT-X-TARGETDURATION:7\n") || !strings.Contains(long, "\na.ts\n") {
		t.Errorf("long segment:\n%s", long)
	}
	if empty := mustParse(t, EndedPlaylist(nil, 0, nil)); empty.TargetDuration != 1 || len(empty.Segments) != 0 || !empty.Ended {
		t.Errorf("empty: %+v", empty)
	}
}

func TestParsePlaylist(t *testing.T) {
	in := "#EXTM3U\r\n#EXT-X-VERSION:3\r\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:4\n" +
		"#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-DISCONTINUITY-SEQUENCE:7\n# a comment\n\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\n#EXTINF:3.9999,first\nhttp://h/a.ts\n" +
		"#EXT-X-DISCONTINUITY\n#EXTINF:4,\nb.ts\n#EXTINF:0.5,\nc.ts\n#EXT-X-ENDLIST\n# trailing comment"
	p := mustParse(t, []byte(in))
	want := &MediaPlaylist{
		Version: 3, TargetDuration: 4, MediaSequence: 100, DiscontinuitySequence: 7, IndependentSegments: true, Ended: true,
		Segments: []PlaylistSegment{
			{Seq: 100, Duration: 3999900 * time.Microsecond, Title: "first", URI: "http://h/a.ts"},
			{Seq: 101, Duration: 4 * time.Second, URI: "b.ts", Discontinuity: true},
			{Seq: 102, Duration: 500 * time.Millisecond, URI: "c.ts"},
		},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
	// Marshal then parse: the same playlist, durations in milliseconds.
	again := mustParse(t, p.Marshal())
	want.Segments[0].Duration = 4 * time.Second
	if !reflect.DeepEqual(again, want) {
		t.Errorf("round trip %+v\nwant %+v", again, want)
	}
}

func TestParsePlaylistRejects(t *testing.T) {
	const head = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
	for name, in := range map[string]string{
		"empty":                  "",
		"garbage":                "hello world\n",
		"binary":                 "\x00\x01\x02",
		"no EXTM3U":              "#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n",
		"indented EXTM3U":        " #EXTM3U\n#EXT-X-TARGETDURATION:2\n",
		"no target":              "#EXTM3U\n#EXTINF:2,\na.ts\n",
		"two targets":            head + "#EXT-X-TARGETDURATION:3\n",
		"target not a number":    "#EXTM3U\n#EXT-X-TARGETDURATION:two\n",
		"negative target":        "#EXTM3U\n#EXT-X-TARGETDURATION:-2\n",
		"target with space":      "#EXTM3U\n#EXT-X-TARGETDURATION: 2\n",
		"decimal target":         "#EXTM3U\n#EXT-X-TARGETDURATION:2.5\n",
		"huge target":            "#EXTM3U\n#EXT-X-TARGETDURATION:99999999999\n",
		"version 0":              "#EXTM3U\n#EXT-X-VERSION:0\n#EXT-X-TARGETDURATION:2\n",
		"two versions":           head + "#EXT-X-VERSION:3\n",
		"media seq overflow":     head + "#EXT-X-MEDIA-SEQUENCE:18446744073709551616\n",
		"media seq after seg":    head + "#EXTINF:2,\na.ts\n#EXT-X-MEDIA-SEQUENCE:3\n",
		"seq wraps":              head + "#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n",
		"uri without extinf":     head + "a.ts\n",
		"extinf without uri":     head + "#EXTINF:2,\n",
		"two extinf":             head + "#EXTINF:2,\n#EXTINF:2,\na.ts\n",
		"extinf no value":        head + "#EXTINF\na.ts\n",
		"negative duration":      head + "#EXTINF:-1,\na.ts\n",
		"nan duration":           head + "#EXTINF:NaN,\na.ts\n",
		"exp duration":           head + "#EXTINF:1e0,\na.ts\n",
		"duration over target":   head + "#EXTINF:2.501,\na.ts\n",
		"decimal in version 1":   "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.5,\na.ts\n",
		"dangling discontinuity": head + "#EXTINF:2,\na.ts\n#EXT-X-DISCONTINUITY\n",
		"discontinuity value":    head + "#EXT-X-DISCONTINUITY:1\n#EXTINF:2,\na.ts\n",
		"segment after endlist":  head + "#EXT-X-ENDLIST\n#EXTINF:2,\na.ts\n",
		"two endlists":           head + "#EXT-X-ENDLIST\n#EXT-X-ENDLIST\n",
		"endlist in segment":     head + "#EXTINF:2,\n#EXT-X-ENDLIST\na.ts\n",
		"bad playlist type":      head + "#EXT-X-PLAYLIST-TYPE:LIVE\n",
		"unknown tag":            head + "#EXT-X-FOO:1\n",
		"encrypted":              head + "#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:2,\na.ts\n",
		"fmp4":                   head + "#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\na.ts\n",
		"control char":           head + "#EXTINF:2,\na\x01.ts\n",
		"uri with spaces":        head + "#EXTINF:2,\n a.ts\n",
		"white space line":       head + "   \n",
	} {
		if p, err := ParsePlaylist([]byte(in)); err == nil {
			t.Errorf("%s: accepted: %+v", name, p)
		}
	}
	master := "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow.m3u8\n"
	if _, err := ParsePlaylist([]byte(master)); !errors.Is(err, ErrMasterPlaylist) {
		t.Errorf("master playlist: %v", err)
	}
}
