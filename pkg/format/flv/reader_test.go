package flv

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

func TestReader(t *testing.T) {
	hdr := AppendHeader(nil, true, true)
	tag1 := AppendTag(nil, TagScript, 0, []byte{2, 0, 1, 'x'})
	tag2 := AppendTag(nil, TagVideo, ms(40), []byte{0x17, 1, 0, 0, 0, 9})
	// Timestamp with the extended byte: 0x01020304 ms.
	tagExt := AppendTag(nil, TagAudio, ms(0x01020304), []byte{0xaf, 1, 7})
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	longHeader := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 13, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0}

	type wantTag struct {
		typ  TagType
		ts   time.Duration
		body []byte
	}
	tests := []struct {
		name       string
		in         []byte
		maxTagSize int
		audio      bool
		video      bool
		tags       []wantTag
		endErr     error // error after the tags; io.EOF for a clean end
		endAny     bool  // some error other than io.EOF
	}{
		{name: "two tags", in: cat(hdr, tag1, tag2), audio: true, video: true,
			tags:   []wantTag{{TagScript, 0, []byte{2, 0, 1, 'x'}}, {TagVideo, ms(40), []byte{0x17, 1, 0, 0, 0, 9}}},
			endErr: io.EOF},
		{name: "header only", in: hdr, audio: true, video: true, endErr: io.EOF},
		{name: "audio only flags", in: AppendHeader(nil, true, false), audio: true, endErr: io.EOF},
		{name: "extended timestamp", in: cat(hdr, tagExt), audio: true, video: true,
			tags: []wantTag{{TagAudio, ms(0x01020304), []byte{0xaf, 1, 7}}}, endErr: io.EOF},
		{name: "longer header", in: cat(longHeader, tag1), audio: true, video: true,
			tags: []wantTag{{TagScript, 0, []byte{2, 0, 1, 'x'}}}, endErr: io.EOF},
		{name: "last PreviousTagSize missing", in: cat(hdr, tag2[:len(tag2)-4]), audio: true, video: true,
			tags: []wantTag{{TagVideo, ms(40), []byte{0x17, 1, 0, 0, 0, 9}}}, endErr: io.EOF},
		{name: "tag at the size limit", in: cat(hdr, tag2), maxTagSize: 6, audio: true, video: true,
			tags: []wantTag{{TagVideo, ms(40), []byte{0x17, 1, 0, 0, 0, 9}}}, endErr: io.EOF},

		{name: "empty", in: nil, endErr: ErrNotFLV},
		{name: "short header", in: hdr[:5], endErr: ErrNotFLV},
		{name: "not FLV", in: cat([]byte("FLX"), hdr[3:]), endErr: ErrNotFLV},
		{name: "MPEG-TS", in: bytes.Repeat([]byte{0x47, 0x40, 0, 0x10}, 10), endErr: ErrNotFLV},
		{name: "version 2", in: cat([]byte("FLV"), []byte{2}, hdr[4:]), endAny: true},
		{name: "header length 8", in: []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 8, 0, 0, 0, 0}, endAny: true},
		{name: "header length 1 MiB", in: []byte{'F', 'L', 'V', 1, 5, 0, 0x10, 0, 0, 0, 0, 0, 0}, endAny: true},
		{name: "header without PreviousTagSize0", in: hdr[:HeaderLen+2], endAny: true},
		{name: "tag over the size limit", in: cat(hdr, tag2), maxTagSize: 5, audio: true, video: true, endAny: true},
		{name: "huge tag size", in: cat(hdr, []byte{9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0}), maxTagSize: 1024, audio: true, video: true, endAny: true},
		{name: "tag header cut", in: cat(hdr, tag2[:5]), audio: true, video: true, endErr: io.ErrUnexpectedEOF},
		{name: "tag body cut", in: cat(hdr, tag2[:TagHeaderLen+3]), audio: true, video: true, endErr: io.ErrUnexpectedEOF},
		{name: "encrypted tag", in: cat(hdr, []byte{0x29}, tag2[1:]), audio: true, video: true, endAny: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var src io.Reader = bytes.NewReader(tt.in)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				r := NewReader(src, tt.maxTagSize)
				for i, w := range tt.tags {
					tag, err := r.Next()
					if err != nil {
						t.Fatalf("tag %d: %v", i, err)
					}
					if tag.Type != w.typ || tag.Timestamp != w.ts || !bytes.Equal(tag.Body, w.body) {
						t.Errorf("tag %d: %d %v % x, want %d %v % x", i, tag.Type, tag.Timestamp, tag.Body, w.typ, w.ts, w.body)
					}
				}
				_, err := r.Next()
				switch {
				case tt.endAny:
					if err == nil || err == io.EOF {
						t.Errorf("end: %v, want an error", err)
					}
				case tt.endErr == io.EOF:
					if err != io.EOF {
						t.Errorf("end: %v, want io.EOF itself", err)
					}
				case !errors.Is(err, tt.endErr):
					t.Errorf("end: %v, want %v", err, tt.endErr)
				}
				if len(tt.tags) > 0 && (r.HasAudio != tt.audio || r.HasVideo != tt.video) {
					t.Errorf("HasAudio %v HasVideo %v, want %v %v", r.HasAudio, r.HasVideo, tt.audio, tt.video)
				}
			}
		})
	}
}

func TestAppendTagHeader(t *testing.T) {
	got := AppendTagHeader(nil, TagVideo, 0x010203, ms(0x7f010203))
	want := []byte{9, 1, 2, 3, 1, 2, 3, 0x7f, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Errorf("% x, want % x", got, want)
	}
	if got := AppendPrevSize(nil, 100); !bytes.Equal(got, []byte{0, 0, 0, 111}) {
		t.Errorf("PreviousTagSize % x", got)
	}
	if got := AppendHeader(nil, true, false); !bytes.Equal(got, []byte{'F', 'L', 'V', 1, 4, 0, 0, 0, 9, 0, 0, 0, 0}) {
		t.Errorf("header % x", got)
	}
}
