package rtmp

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
)

// metadataBomb is an onMetaData nesting depth one-element strict arrays:
// five bytes a level, so 10 000 levels pass every size limit and only
// the depth limit stops it.
func metadataBomb(t *testing.T, setDataFrame bool, depth int) []byte {
	t.Helper()
	head := amf0.Data{"onMetaData"}
	if setDataFrame {
		head = amf0.Data{"@setDataFrame", "onMetaData"}
	}
	b, err := head.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, bytes.Repeat([]byte{0x0a, 0, 0, 0, 1}, depth)...)
	b = append(b, 0x05) // null
	if len(b) > flv.MaxScriptSize {
		t.Fatalf("bomb of %d bytes is over the size limit", len(b))
	}
	return b
}

// TestServerMetadataBomb: a publisher whose metadata nests 10 000 levels
// deep is disconnected with one log line naming the limit, while another
// publisher and its player keep going.
func TestServerMetadataBomb(t *testing.T) {
	ts := startServer(t, engine.DefaultConfig(), nil)
	pub := startGoodPublisher(t, ts.url(t, "live", "good"))
	pl := startPlayer(t, ts.url(t, "live", "good"))
	requireFlowing(t, pub, pl)

	for i, tc := range []struct {
		name string
		msg  func(body []byte) []byte
	}{
		{"onMetaData", func(body []byte) []byte {
			return AppendMessage(nil, 4, MsgDataAMF0, 1, 0, body, 128)
		}},
		{"AMF3 data message", func(body []byte) []byte {
			return AppendMessage(nil, 4, MsgDataAMF3, 1, 0, append([]byte{0}, body...), 128)
		}},
		{"inside an aggregate message", func(body []byte) []byte {
			agg := flv.AppendTag(nil, flv.TagScript, 0, body)
			return AppendMessage(nil, 4, MsgAggregate, 1, 0, agg, 128)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr, true)
			if code, _ := c.publish("live", fmt.Sprintf("bomb%d", i)).GetString("code"); code != "NetStream.Publish.Start" {
				t.Fatalf("publish answered %s", code)
			}
			c.write(tc.msg(metadataBomb(t, i%2 == 0, 10000)))
			c.waitClosed(3 * time.Second)
			ts.requireClosedWithError(t, c.local(), "nests too deep: more than 32 levels", false)
			requireFlowing(t, pub, pl)
		})
	}

	// Only the bombers' connections ended.
	deadline := time.Now().Add(3 * time.Second)
	for ts.srv.Sessions() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left, want the good publisher and player", ts.srv.Sessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
	requireFlowing(t, pub, pl)
}
