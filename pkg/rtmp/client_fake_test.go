package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// fakePeer is the server side of a scripted RTMP session, for replies a
// real server never sends.
type fakePeer struct {
	nc   net.Conn
	cr   *ChunkReader
	mw   messageWriter
	seen []*Message // non-command messages read while looking for commands
}

// startFake accepts one connection on a new listener and runs script on
// it. The returned channel gets the script's error once it is done.
func startFake(t *testing.T, script func(p *fakePeer) error) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		nc, err := ln.Accept()
		if err != nil {
			result <- err
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := handshake.DoServer(nc, false); err != nil {
			result <- fmt.Errorf("handshake: %w", err)
			return
		}
		p := &fakePeer{nc: nc, cr: NewChunkReader(bufio.NewReader(nc), DefaultLimits())}
		p.mw.setChunkSize(OutChunkSize)
		if err := p.flush(); err != nil {
			result <- err
			return
		}
		result <- script(p)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-finished
	})
	return "rtmp://" + ln.Addr().String() + "/live/s", result
}

// read returns the next message, applying Set Chunk Size.
func (p *fakePeer) read() (*Message, error) {
	msg, err := p.cr.ReadMessage()
	if err != nil {
		return nil, err
	}
	if msg.Type == MsgSetChunkSize {
		if err := p.cr.SetChunkSize(binary.BigEndian.Uint32(msg.Body)); err != nil {
			return nil, err
		}
	}
	return msg, nil
}

// command reads until the command name.
func (p *fakePeer) command(name string) (*command, error) {
	for {
		msg, err := p.read()
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", name, err)
		}
		if msg.Type != MsgCommandAMF0 {
			p.seen = append(p.seen, msg)
			continue
		}
		cmd, err := parseCommand(msg)
		if err != nil {
			return nil, err
		}
		if cmd.name == name {
			return cmd, nil
		}
	}
}

func (p *fakePeer) flush() error {
	_, err := p.nc.Write(p.mw.buf)
	p.mw.reset()
	return err
}

// accept answers connect and createStream (with stream id id).
func (p *fakePeer) accept(id float64) error {
	cmd, err := p.command("connect")
	if err != nil {
		return err
	}
	if cc, ok := cmd.object.Get("fourCcList"); !ok || fmt.Sprint(cc) != "[avc1 hvc1 mp4a]" {
		return fmt.Errorf("connect fourCcList %v", cc)
	}
	if app, _ := cmd.object.GetString("app"); app != "live" {
		return fmt.Errorf("connect app %q", app)
	}
	p.mw.setChunkSize(4096)
	if err := p.mw.result(cmd.txn, fmsProperties(), statusObject("status", "NetConnection.Connect.Success", "ok")); err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	cmd, err = p.command("createStream")
	if err != nil {
		return err
	}
	if err := p.mw.result(cmd.txn, nil, id); err != nil {
		return err
	}
	return p.flush()
}

// status sends an onStatus on message stream id.
func (p *fakePeer) status(id uint32, level, code string) error {
	if err := p.mw.onStatus(id, level, code, "from the fake"); err != nil {
		return err
	}
	return p.flush()
}

// raw sends an already encoded AMF0 command body on chunk stream 3.
func (p *fakePeer) raw(body []byte) error {
	p.mw.buf = AppendMessage(p.mw.buf, csidCommand, MsgCommandAMF0, 0, 0, body, OutChunkSize)
	return p.flush()
}

func nestedObject(depth int) any {
	var v any = "leaf"
	for range depth {
		v = amf0.Object{{Key: "k", Value: v}}
	}
	return v
}

func TestClientFakeServerSetup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("connect rejected", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			cmd, err := p.command("connect")
			if err != nil {
				return err
			}
			if err := p.mw.amf(csidCommand, MsgCommandAMF0, 0, "_error", cmd.txn, nil,
				statusObject("error", "NetConnection.Connect.Rejected", "go away")); err != nil {
				return err
			}
			return p.flush()
		})
		_, err := DialPlay(ctx, u, ClientOptions{})
		var se *StatusError
		if !errors.As(err, &se) || se.Code != "NetConnection.Connect.Rejected" || se.Description != "go away" {
			t.Fatalf("error %v, want the rejection", err)
		}
		if !strings.Contains(err.Error(), u) {
			t.Errorf("error %q does not name %s", err, u)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	t.Run("deeply nested reply", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			cmd, err := p.command("connect")
			if err != nil {
				return err
			}
			body, err := amf0.Data{"_result", cmd.txn, nil, nestedObject(flv.MaxAMFDepth + 10)}.Marshal()
			if err != nil {
				return err
			}
			if err := p.raw(body); err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, p.nc)
			return nil
		})
		_, err := DialPlay(ctx, u, ClientOptions{})
		if !errors.Is(err, ErrLimit) {
			t.Fatalf("error %v, want ErrLimit", err)
		}
		<-done
	})

	t.Run("oversized reply", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			cmd, err := p.command("connect")
			if err != nil {
				return err
			}
			big := strings.Repeat("x", 40000)
			body, err := amf0.Data{"_result", cmd.txn, nil, big, big}.Marshal()
			if err != nil {
				return err
			}
			if err := p.raw(body); err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, p.nc)
			return nil
		})
		_, err := DialPublish(ctx, u, ClientOptions{})
		if !errors.Is(err, ErrLimit) {
			t.Fatalf("error %v, want ErrLimit", err)
		}
		<-done
	})

	t.Run("garbage reply", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			if _, err := p.command("connect"); err != nil {
				return err
			}
			if err := p.raw([]byte{0x02, 0xff, 0xff, 'x'}); err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, p.nc)
			return nil
		})
		_, err := DialPlay(ctx, u, ClientOptions{})
		if err == nil || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v", err)
		}
		<-done
	})

	t.Run("no stream id", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			cmd, err := p.command("connect")
			if err != nil {
				return err
			}
			if err := p.mw.result(cmd.txn, nil, statusObject("status", "NetConnection.Connect.Success", "")); err != nil {
				return err
			}
			if err := p.flush(); err != nil {
				return err
			}
			if cmd, err = p.command("createStream"); err != nil {
				return err
			}
			if err := p.mw.result(cmd.txn, nil, "one"); err != nil {
				return err
			}
			if err := p.flush(); err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, p.nc)
			return nil
		})
		_, err := DialPlay(ctx, u, ClientOptions{})
		if err == nil || !strings.Contains(err.Error(), "createStream") {
			t.Fatalf("error %v", err)
		}
		<-done
	})

	t.Run("closed during setup", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			_, err := p.command("connect")
			return err
		})
		_, err := DialPlay(ctx, u, ClientOptions{})
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "connection closed by the server") {
			t.Fatalf("error %v", err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	t.Run("publish refused", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			if err := p.accept(1); err != nil {
				return err
			}
			if _, err := p.command("publish"); err != nil {
				return err
			}
			if err := p.status(1, "error", "NetStream.Publish.BadAuth"); err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, p.nc)
			return nil
		})
		_, err := DialPublish(ctx, u, ClientOptions{})
		var se *StatusError
		if !errors.As(err, &se) || se.Code != "NetStream.Publish.BadAuth" {
			t.Fatalf("error %v, want BadAuth", err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestClientFakeServerPlay: control messages are answered, aggregates are
// split, data messages beyond the AMF limits are dropped, and
// NetStream.Play.Stop ends the stream.
func TestClientFakeServerPlay(t *testing.T) {
	t.Parallel()
	const window = 1000
	video := []byte{0x17, 0x01, 0, 0, 0, 1, 2, 3, 4}
	audio := []byte{0xaf, 0x01, 9, 9}
	big := bytes.Repeat([]byte{0x27, 0x01, 0, 0, 0}, 1000) // over the ack window and the chunk size

	u, done := startFake(t, func(p *fakePeer) error {
		if err := p.accept(1); err != nil {
			return err
		}
		cmd, err := p.command("play")
		if err != nil {
			return err
		}
		if name, _ := cmd.stringArg(0); name != "s?k=v" {
			return fmt.Errorf("play %q", name)
		}
		if cmd.streamID != 1 {
			return fmt.Errorf("play on message stream %d", cmd.streamID)
		}
		p.mw.windowAckSize(window)
		p.mw.userControl(ucStreamBegin, 1)
		if err := p.mw.onStatus(1, "status", "NetStream.Play.Reset", ""); err != nil {
			return err
		}
		if err := p.mw.onStatus(1, "status", "NetStream.Play.Start", ""); err != nil {
			return err
		}
		p.mw.userControl(ucPingRequest, 1234)
		// aggregate: two video tags and one audio tag, relative stamps
		var agg []byte
		agg = flv.AppendTag(agg, flv.TagVideo, 1000*time.Millisecond, video)
		agg = flv.AppendTag(agg, flv.TagAudio, 1010*time.Millisecond, audio)
		agg = flv.AppendTag(agg, flv.TagVideo, 1040*time.Millisecond, video)
		p.mw.buf = AppendMessage(p.mw.buf, csidVideo, MsgAggregate, 1, 500*time.Millisecond, agg, 4096)
		md, _ := amf0.Data{"onMetaData", amf0.ECMAArray{{Key: "width", Value: float64(320)}}}.Marshal()
		p.mw.buf = AppendMessage(p.mw.buf, csidData, MsgDataAMF0, 1, 0, md, 4096)
		deep, _ := amf0.Data{"onMetaData", nestedObject(flv.MaxAMFDepth + 5)}.Marshal()
		p.mw.buf = AppendMessage(p.mw.buf, csidData, MsgDataAMF0, 1, 0, deep, 4096)
		p.mw.buf = AppendMessage(p.mw.buf, csidVideo, MsgVideo, 1, 2*time.Second, big, 4096)
		p.mw.userControl(ucStreamEOF, 1)
		if err := p.mw.onStatus(1, "status", "NetStream.Play.Stop", ""); err != nil {
			return err
		}
		if err := p.flush(); err != nil {
			return err
		}
		// The client answers the ping and acknowledges, then says goodbye.
		if _, err := p.command("deleteStream"); err != nil {
			return err
		}
		var pong, ack bool
		for _, m := range p.seen {
			switch {
			case m.Type == MsgUserControl && len(m.Body) == 6 && binary.BigEndian.Uint16(m.Body) == ucPingResponse:
				pong = binary.BigEndian.Uint32(m.Body[2:]) == 1234
			case m.Type == MsgAcknowledgement && len(m.Body) == 4:
				ack = binary.BigEndian.Uint32(m.Body) >= window
			}
		}
		if !pong || !ack {
			return fmt.Errorf("ping answered %v, acknowledged %v", pong, ack)
		}
		return nil
	})

	c, err := DialPlay(context.Background(), u+"?k=v", ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		typ MessageType
		ts  time.Duration
		n   int
	}
	for i, w := range []want{
		{MsgVideo, 500 * time.Millisecond, len(video)},
		{MsgAudio, 510 * time.Millisecond, len(audio)},
		{MsgVideo, 540 * time.Millisecond, len(video)},
		{MsgDataAMF0, 0, -1},
		{MsgVideo, 2 * time.Second, len(big)},
	} {
		msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if msg.Type != w.typ || msg.Timestamp != w.ts || (w.n >= 0 && len(msg.Body) != w.n) {
			t.Fatalf("message %d: type %d at %v, %d bytes; want type %d at %v, %d bytes", i, msg.Type, msg.Timestamp, len(msg.Body), w.typ, w.ts, w.n)
		}
	}
	if _, err := c.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Play.Stop: %v, want io.EOF", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestClientFakeServerPlayBroken(t *testing.T) {
	t.Parallel()

	t.Run("closed mid-stream", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			if err := p.accept(1); err != nil {
				return err
			}
			if _, err := p.command("play"); err != nil {
				return err
			}
			if err := p.mw.onStatus(1, "status", "NetStream.Play.Start", ""); err != nil {
				return err
			}
			p.mw.buf = AppendMessage(p.mw.buf, csidVideo, MsgVideo, 1, 0, []byte{0x17, 1, 0, 0, 0}, OutChunkSize)
			return p.flush()
		})
		c, err := DialPlay(context.Background(), u, ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if msg, err := c.ReadMessage(); err != nil || msg.Type != MsgVideo {
			t.Fatalf("%v %v", msg, err)
		}
		_, err = c.ReadMessage()
		if err == nil || errors.Is(err, io.EOF) || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "rtmp: read "+u) {
			t.Fatalf("error %v, want an unexpected end naming the URL", err)
		}
		if _, again := c.ReadMessage(); again == nil || again.Error() != err.Error() {
			t.Errorf("second read: %v", again)
		}
		<-done
	})

	t.Run("failure status mid-stream", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			if err := p.accept(1); err != nil {
				return err
			}
			if _, err := p.command("play"); err != nil {
				return err
			}
			if err := p.status(1, "status", "NetStream.Play.Start"); err != nil {
				return err
			}
			if err := p.status(1, "error", "NetStream.Play.Failed"); err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, p.nc)
			return nil
		})
		c, err := DialPlay(context.Background(), u, ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ReadMessage()
		var se *StatusError
		if !errors.As(err, &se) || se.Code != "NetStream.Play.Failed" {
			t.Fatalf("error %v", err)
		}
		c.Close()
		<-done
	})

	t.Run("read timeout", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			if err := p.accept(1); err != nil {
				return err
			}
			if _, err := p.command("play"); err != nil {
				return err
			}
			if err := p.status(1, "status", "NetStream.Play.Start"); err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, p.nc)
			return nil
		})
		c, err := DialPlay(context.Background(), u, ClientOptions{ReadTimeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.ReadMessage()
		if err == nil || !strings.Contains(err.Error(), "nothing from the server for 200ms") {
			t.Fatalf("error %v", err)
		}
		// At the 200ms ReadTimeout, not DefaultClientTimeout (10 s).
		if d := time.Since(start); d > DefaultClientTimeout/2 {
			t.Errorf("timed out after %v", d)
		}
		c.Close()
		<-done
	})

	t.Run("close while reading", func(t *testing.T) {
		u, done := startFake(t, func(p *fakePeer) error {
			if err := p.accept(1); err != nil {
				return err
			}
			if _, err := p.command("play"); err != nil {
				return err
			}
			if err := p.status(1, "status", "NetStream.Play.Start"); err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, p.nc)
			return nil
		})
		c, err := DialPlay(context.Background(), u, ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(100*time.Millisecond, func() { c.Close() })
		start := time.Now()
		_, err = c.ReadMessage()
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("error %v, want net.ErrClosed", err)
		}
		// Closed at 100ms; the read would otherwise wait out
		// DefaultClientTimeout (10 s).
		if d := time.Since(start); d > DefaultClientTimeout/2 {
			t.Errorf("returned after %v", d)
		}
		<-done
	})
}

// TestClientFakeServerPublish: a stream id other than 1 is honoured, and
// the metadata, sequence headers and frames arrive as sent.
func TestClientFakeServerPublish(t *testing.T) {
	t.Parallel()
	clip := clientReadClip(t, "h264_aac.flv")
	frames := clip.frames[:20]
	type got struct {
		typ  MessageType
		sid  uint32
		ts   time.Duration
		body []byte
	}
	received := make(chan []got, 1)
	u, done := startFake(t, func(p *fakePeer) error {
		if err := p.accept(7); err != nil {
			return err
		}
		cmd, err := p.command("publish")
		if err != nil {
			return err
		}
		if cmd.streamID != 7 {
			return fmt.Errorf("publish on message stream %d", cmd.streamID)
		}
		p.mw.userControl(ucPingRequest, 99)
		if err := p.status(7, "status", "NetStream.Publish.Start"); err != nil {
			return err
		}
		var msgs []got
		for {
			msg, err := p.read()
			if err != nil {
				return err
			}
			switch msg.Type {
			case MsgAudio, MsgVideo, MsgDataAMF0:
				msgs = append(msgs, got{msg.Type, msg.StreamID, msg.Timestamp, msg.Body})
			case MsgUserControl:
				if binary.BigEndian.Uint16(msg.Body) != ucPingResponse || binary.BigEndian.Uint32(msg.Body[2:]) != 99 {
					return fmt.Errorf("user control %x", msg.Body)
				}
			case MsgCommandAMF0:
				cmd, err := parseCommand(msg)
				if err != nil {
					return err
				}
				if cmd.name == "FCUnpublish" {
					received <- msgs
					return nil
				}
			}
		}
	})
	c, err := DialPublish(context.Background(), u, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.StreamID() != 7 {
		t.Fatalf("stream id %d", c.StreamID())
	}
	if err := c.WriteTracks(clip.tracks, clip.md); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := c.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ReadMessage(); err == nil {
		t.Error("ReadMessage on a publishing client succeeded")
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	msgs := <-received
	want := []got{{MsgDataAMF0, 7, 0, nil}}
	for _, tr := range clip.tracks {
		typ := MsgAudio
		if tr.Kind() == media.KindVideo {
			typ = MsgVideo
		}
		want = append(want, got{typ, 7, 0, flv.SequenceHeaderBody(tr)})
	}
	for _, f := range frames {
		typ := MsgAudio
		if f.Track.Kind() == media.KindVideo {
			typ = MsgVideo
		}
		want = append(want, got{typ, 7, f.DTS, flv.FrameBody(f)})
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for i, w := range want {
		g := msgs[i]
		if g.typ != w.typ || g.sid != w.sid || g.ts != max(w.ts, 0) || (w.body != nil && !bytes.Equal(g.body, w.body)) {
			t.Errorf("message %d: type %d stream %d at %v (%d bytes), want type %d stream %d at %v (%d bytes)",
				i, g.typ, g.sid, g.ts, len(g.body), w.typ, w.sid, w.ts, len(w.body))
		}
	}
	md, ok, err := flv.ParseMetadata(msgs[0].body)
	if err != nil || !ok {
		t.Fatalf("metadata: %v %v", ok, err)
	}
	if w, _ := md.Number("width"); w != 320 {
		t.Errorf("metadata width %v", w)
	}
	if !bytes.HasPrefix(msgs[0].body, setDataFrame) {
		t.Error("metadata without @setDataFrame")
	}
}

// TestClientFakeServerPublishFailure: a failure the server reports while
// publishing is what the next write returns.
func TestClientFakeServerPublishFailure(t *testing.T) {
	t.Parallel()
	clip := clientReadClip(t, "h264_aac.flv")
	u, done := startFake(t, func(p *fakePeer) error {
		if err := p.accept(1); err != nil {
			return err
		}
		if _, err := p.command("publish"); err != nil {
			return err
		}
		if err := p.status(1, "status", "NetStream.Publish.Start"); err != nil {
			return err
		}
		if _, err := p.read(); err != nil { // the first frame
			return err
		}
		if err := p.status(1, "error", "NetStream.Publish.Failed"); err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, p.nc)
		return nil
	})
	c, err := DialPublish(context.Background(), u, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		err := c.WriteFrame(clip.frames[i%len(clip.frames)])
		if err != nil {
			var se *StatusError
			if !errors.As(err, &se) || se.Code != "NetStream.Publish.Failed" {
				t.Fatalf("error %v, want NetStream.Publish.Failed", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes still succeed")
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
