package source

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/mediakit/mediakit/pkg/rtmp"
)

// pingOnlyServer accepts RTMP players, starts their play and then sends
// nothing but pings: the connection is busy, the stream has no media.
func pingOnlyServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				_ = servePings(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return "rtmp://" + ln.Addr().String() + "/live/pings"
}

func servePings(nc net.Conn) error {
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := handshake.DoServer(nc, false); err != nil {
		return err
	}
	cr := rtmp.NewChunkReader(bufio.NewReader(nc), rtmp.DefaultLimits())
	send := func(csid uint32, typ rtmp.MessageType, stream uint32, body []byte) error {
		_, err := nc.Write(rtmp.AppendMessage(nil, csid, typ, stream, 0, body, 128))
		return err
	}
	command := func(stream uint32, values ...any) error {
		body, err := amf0.Data(values).Marshal()
		if err != nil {
			return err
		}
		return send(3, rtmp.MsgCommandAMF0, stream, body)
	}
	for {
		msg, err := cr.ReadMessage()
		if err != nil {
			return err
		}
		switch msg.Type {
		case rtmp.MsgSetChunkSize:
			if err := cr.SetChunkSize(binary.BigEndian.Uint32(msg.Body)); err != nil {
				return err
			}
			continue
		case rtmp.MsgCommandAMF0:
		default:
			continue
		}
		data, err := amf0.Unmarshal(msg.Body)
		if err != nil || len(data) < 2 {
			return errors.New("bad command")
		}
		name, _ := data[0].(string)
		txn, _ := data[1].(float64)
		switch name {
		case "connect":
			err = command(0, "_result", txn, amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}},
				amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"}})
		case "createStream":
			err = command(0, "_result", txn, nil, float64(1))
		case "play":
			err = command(1, "onStatus", float64(0), nil,
				amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetStream.Play.Start"}})
			for err == nil {
				// Ping Request, every 50 ms, forever.
				err = send(2, rtmp.MsgUserControl, 0, []byte{0, 6, 0, 0, 0, 1})
				time.Sleep(50 * time.Millisecond)
			}
		}
		if err != nil {
			return err
		}
	}
}

// TestRTMPStall: a server that keeps the connection busy with pings but
// sends no media ends the source with the stall error.
func TestRTMPStall(t *testing.T) {
	t.Parallel()
	u := pingOnlyServer(t)
	done := runAsync(context.Background(), mustOpen(t, u, Options{ReadTimeout: 500 * time.Millisecond}), &recSink{})
	requireStall(t, waitRun(t, done, 10*time.Second), u, 500*time.Millisecond)
}

func TestWatchdog(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	fired := make(chan struct{})
	w := startWatchdog(timeout, func() { close(fired) })
	// Kicked far more often than its timeout, for several timeouts, it
	// does not fire. The kicks are paced by sleeps: a loaded machine
	// that stretched a gap past the timeout makes a fire legitimate, so
	// the gaps are measured and only a fire with every gap short fails.
	// A fire means that at the watchdog's check the last kick was a
	// timeout old, so a gap measured here (from before that kick to
	// after the check) was at least as long.
	var longest time.Duration
	last := time.Now()
kicking:
	for start := last; time.Since(start) < 4*timeout; {
		w.kick()
		time.Sleep(10 * time.Millisecond)
		now := time.Now()
		longest, last = max(longest, now.Sub(last)), now
		select {
		case <-fired:
			if longest < timeout {
				t.Fatalf("fired while kicked (longest gap between kicks %v, timeout %v)", longest, timeout)
			}
			t.Logf("fired after a %v gap between kicks on a loaded machine; the kicks are not checked", longest)
			break kicking
		default:
		}
	}
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("did not fire 10 s after the last kick")
	}
	if !w.disarm() {
		t.Error("disarm after firing reports it did not fire")
	}
}
