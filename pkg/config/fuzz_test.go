package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/pkg/config"
)

// FuzzLoadTOML feeds arbitrary file contents to Load. It must not panic;
// an error is one line naming the file; a config that loads is valid and
// survives WriteTOML and Load unchanged.
func FuzzLoadTOML(f *testing.F) {
	var def bytes.Buffer
	if err := config.Default().WriteTOML(&def, true); err != nil {
		f.Fatal(err)
	}
	f.Add(def.Bytes())
	f.Add([]byte("[protocol]\ncontinue_push_ms = 3000\n"))
	f.Add([]byte("[general]\nmergeWriteMS = \"1500us\"\ndataDir = \"a\\u0000b\"\n"))
	f.Add([]byte("x = 1\n[[general]]\n[rtmp.addr]\n"))
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, _, err := config.Load(nil, nil, path)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, path) && !namesKey(msg) {
				// Validate runs on the merged layers, so its errors
				// name the key instead of the file.
				t.Errorf("error %q names neither the file nor a key", msg)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load returned an invalid config: %v", err)
		}
		var out bytes.Buffer
		if err := c.WriteTOML(&out, true); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		again, warnings, err := config.Load(nil, nil, path)
		if err != nil {
			t.Fatalf("Load of WriteTOML output: %v\n%s", err, out.String())
		}
		if len(warnings) > 0 {
			t.Errorf("WriteTOML output warns: %q", warnings)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip\n got %+v\nwant %+v\n%s", again, c, out.String())
		}
	})
}

func namesKey(msg string) bool {
	for _, k := range config.Keys() {
		if strings.HasPrefix(msg, "config: "+k+": ") {
			return true
		}
	}
	return false
}
