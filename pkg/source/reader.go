package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/mediakit/mediakit/pkg/format/es"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
)

// Container names what OpenReader detected.
const (
	ContainerFLV    = "flv"
	ContainerMPEGTS = "mpegts"
	ContainerPS     = "ps"
	// ContainerMP4 is read from a stream when it is fragmented; an MP4
	// with sample tables needs seeking (see Open).
	ContainerMP4 = "mp4"
)

// ErrUnknownContainer: OpenReader's input starts like no container it reads.
var ErrUnknownContainer = errors.New("not FLV, MPEG-TS, MPEG-PS or MP4")

// DetectContainer names the container whose first bytes head starts with:
// "FLV" (FLV), 0x47 every 188 bytes (MPEG-TS), a pack start code
// 00 00 01 BA (MPEG-PS), an ftyp, moov or styp box (MP4); "" otherwise.
func DetectContainer(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("FLV")):
		return ContainerFLV
	case len(head) >= 8 && (string(head[4:8]) == "ftyp" || string(head[4:8]) == "moov" || string(head[4:8]) == "styp"):
		return ContainerMP4
	case bytes.HasPrefix(head, []byte{0, 0, 1, 0xBA}):
		return ContainerPS
	case len(head) > 0 && head[0] == 0x47 && (len(head) <= 188 || head[188] == 0x47):
		return ContainerMPEGTS
	}
	return ""
}

// OpenReader returns a source reading a stream of FLV, MPEG-TS, MPEG-PS or
// fragmented MP4 from r (stdin, a pipe, a .ps file, the init and media
// segments of an HLS recording), detected by its first bytes when Run
// starts. name names the input in errors; size is its length when known,
// else -1. It can be Run once: r is not rewound.
func OpenReader(name string, r io.Reader, size int64, opts Options) Source {
	s := &readerSource{name: name, r: r, opts: opts.withDefaults()}
	s.size.Store(size)
	return s
}

type readerSource struct {
	name  string
	r     io.Reader
	opts  Options
	ran   bool
	bytes atomic.Int64
	size  atomic.Int64
	damageNote
}

func (s *readerSource) String() string   { return s.name }
func (s *readerSource) BytesRead() int64 { return s.bytes.Load() }
func (s *readerSource) Size() int64      { return s.size.Load() }

func (s *readerSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.ran {
		return fmt.Errorf("source: %s: cannot be read twice", s.name)
	}
	s.ran = true
	br := bufio.NewReaderSize(countingReader{r: s.r, n: &s.bytes}, 64<<10)
	head, err := br.Peek(189)
	if len(head) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("source: read %s: %w", s.name, err)
	}
	fd := newFeed(ctx, sink, s.opts, s.opts.Realtime)
	defer s.note(fd)
	switch DetectContainer(head) {
	case ContainerFLV:
		err = readFLV(fd, s.name, br, s.opts.MaxTagSize)
	case ContainerMPEGTS:
		err = readTS(fd, br)
		if err != nil && fd.ctx.Err() == nil && fd.out.failed() == nil {
			err = fmt.Errorf("source: read %s: %w", s.name, err)
		}
	case ContainerPS:
		err = readPS(fd, br)
		if err != nil && fd.ctx.Err() == nil && fd.out.failed() == nil {
			err = fmt.Errorf("source: read %s: %w", s.name, err)
		}
	case ContainerMP4:
		err = readMP4Stream(fd, s.name, br)
	default:
		return fmt.Errorf("source: %s: %w (starts % x)", s.name, ErrUnknownContainer, head[:min(len(head), 4)])
	}
	if ferr := fd.flush(); err == nil && ferr != nil {
		err = fmt.Errorf("source: %s: %w", s.name, ferr)
	}
	return runResult(ctx, err)
}

// readPS reads an MPEG program stream from r into the feed's
// elementary-stream ingest: H.264, H.265, AAC and G.711; other streams
// are dropped with one warning each.
func readPS(fd *feed, r io.Reader) error {
	d := ps.NewDemuxer()
	defer func() { fd.psStats = d.Stats() }()
	in := fd.es(es.Options{})
	clocks := map[byte]*ps.Clock{}
	var failed error
	emit := func(f ps.Frame) {
		if failed != nil {
			return
		}
		failed = psFrame(fd, in, clocks, f)
	}
	buf := make([]byte, 64<<10)
	for {
		if err := fd.ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := d.Write(buf[:n], emit); err != nil {
				fd.warnOnce("ps-demux", "source: MPEG-PS data dropped", "error", err.Error())
			}
			if failed != nil {
				return failed
			}
		}
		if errors.Is(rerr, io.EOF) {
			fd.psCut = d.Cut()
			d.Flush(emit)
			return failed
		}
		if rerr != nil {
			return rerr
		}
	}
}

func psFrame(fd *feed, in *es.Ingest, clocks map[byte]*ps.Clock, f ps.Frame) error {
	st := clocks[f.StreamID]
	if st == nil {
		st = &ps.Clock{}
		clocks[f.StreamID] = st
	}
	pts, dts, ok := st.Stamp(f)
	if !ok {
		fd.warnOnce("ps-nopts", "source: MPEG-PS frame without a timestamp dropped")
		return nil
	}
	var kind media.Kind = media.KindAudio
	if ps.IsVideoID(f.StreamID) {
		kind = media.KindVideo
	}
	switch f.Type {
	case ps.StreamH264, ps.StreamH265, ps.StreamAAC, ps.StreamG711A, ps.StreamG711U,
		ps.StreamMPEG1Audio, ps.StreamMPEG2Audio, ps.StreamOpus:
	default:
		fd.warnOnce(fmt.Sprint("ps-type", f.Type), "source: MPEG-PS stream of a codec mediakit cannot carry dropped",
			"stream_type", f.Type.String())
		return nil
	}
	out, err := fd.stamp(kind, dts)
	if err != nil {
		return err
	}
	shift := out - dts
	switch f.Type {
	case ps.StreamH264:
		err = in.WriteVideo(media.CodecH264, pts+shift, out, f.Data)
	case ps.StreamH265:
		err = in.WriteVideo(media.CodecH265, pts+shift, out, f.Data)
	case ps.StreamAAC:
		err = in.WriteAAC(out, f.Data)
	case ps.StreamG711A:
		err = in.WriteG711(media.CodecG711A, out, f.Data)
	case ps.StreamG711U:
		err = in.WriteG711(media.CodecG711U, out, f.Data)
	case ps.StreamMPEG1Audio, ps.StreamMPEG2Audio:
		err = in.WriteMP3Stream(out, f.Data)
	case ps.StreamOpus:
		err = in.WriteOpus(out, ps.OpusPayload(f.Data))
	}
	if err != nil {
		if ferr := fd.out.failed(); ferr != nil {
			return ferr
		}
	}
	return nil
}
