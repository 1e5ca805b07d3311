package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// droppedBy returns the outputs getMediaInfo lists in dropped_by for the
// stream's track whose codec_id_name is codec.
func droppedBy(t *testing.T, ts *testServer, stream, codec string) []string {
	t.Helper()
	reply := ts.apiCall(t, "getMediaInfo", url2values("rtmp", "live", stream))
	tracks, _ := reply["tracks"].([]any)
	for _, tr := range tracks {
		m, _ := tr.(map[string]any)
		if !strings.EqualFold(fmt.Sprint(m["codec_id_name"]), codec) {
			continue
		}
		var out []string
		b, _ := json.Marshal(m["dropped_by"])
		_ = json.Unmarshal(b, &out)
		return out
	}
	t.Fatalf("getMediaInfo: no %s track: %v", codec, reply)
	return nil
}
