package hook

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// FuzzParseReply feeds hook server replies, which come from the network,
// through what reads them: parseReply, then the code, the message and an
// on_publish reply's options. Seeds beyond these are in
// testdata/fuzz/FuzzParseReply.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		`{"code":0,"msg":"success"}`,
		`{"code":-1,"msg":"denied"}`,
		`{"code":0,"enable_mp4":true,"enable_hls":false,"mp4_max_second":1,"stream_replace":" renamed ","continue_push_ms":1500.5}`,
		`{"code":0,"continue_push_ms":null,"mp4_save_path":null}`,
		`{"code":"0"}`,
		`{"code":1.5}`,
		`{"msg":"no code"}`,
		`[{"code":0}]`,
		`{"code":0}{"code":1}`,
		`{"code":0,"x":{"y":[1,{"z":[]}]}}`,
	} {
		f.Add([]byte(s))
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, raw []byte) {
		reply, err := parseReply(raw)
		if err != nil {
			if reply != nil {
				t.Fatalf("a reply and an error: %v", err)
			}
			return
		}
		if _, ok := reply["code"].(json.Number); !ok {
			t.Fatalf("reply without a numeric code: %v", reply)
		}
		_ = replyCode(reply)
		_ = replyMsg(reply)
		opts := publishOptions(reply, log)
		if opts.ContinuePush != nil && *opts.ContinuePush < 0 {
			t.Fatalf("continue_push_ms %q gave a negative grace period %v", opts.Values["continue_push_ms"], *opts.ContinuePush)
		}
		if opts.StreamReplace != strings.TrimSpace(opts.StreamReplace) {
			t.Fatalf("stream_replace %q not trimmed", opts.StreamReplace)
		}
		for _, k := range []string{"code", "msg"} {
			if _, ok := opts.Values[k]; ok {
				t.Fatalf("%s taken as an option", k)
			}
		}
	})
}
