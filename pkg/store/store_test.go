package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig(map[string]string{"hook.on_publish": "http://127.0.0.1:9/p", "protocol.continue_push_ms": "3000"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig(map[string]string{"protocol.continue_push_ms": "4000"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	if got["hook.on_publish"] != "http://127.0.0.1:9/p" || got["protocol.continue_push_ms"] != "4000" || len(got) != 2 {
		t.Fatalf("config after reopen: %v", got)
	}
}

func TestOpenLockedFails(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(dir, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
}

func TestTasksSurviveReopenAndDeleteSticks(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	type proxy struct{ URL string }
	for _, k := range []string{"__defaultVhost__/live/a", "__defaultVhost__/live/b"} {
		if err := s.PutTask(KindProxy, k, proxy{URL: "rtmp://x/" + k}); err != nil {
			t.Fatal(err)
		}
	}
	if found, err := s.DeleteTask(KindProxy, "__defaultVhost__/live/a"); err != nil || !found {
		t.Fatalf("DeleteTask = %v, %v; want true, nil", found, err)
	}
	if found, _ := s.DeleteTask(KindProxy, "__defaultVhost__/live/a"); found {
		t.Fatal("a second DeleteTask found the task again")
	}
	if err := s.PutTask(KindPusher, "p", proxy{URL: "rtmp://y"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Tasks(KindProxy)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "__defaultVhost__/live/b" || string(got[0].Value) != `{"URL":"rtmp://x/__defaultVhost__/live/b"}` {
		t.Fatalf("proxies after reopen = %+v", got)
	}
	if p, _ := s.Tasks(KindPusher); len(p) != 1 {
		t.Fatalf("pushers after reopen = %+v", p)
	}
	if f, _ := s.Tasks(KindFFmpeg); len(f) != 0 {
		t.Fatalf("ffmpeg tasks = %+v, want none", f)
	}
}

func TestDamagedDatabaseIsReportedAndLeftUntouched(t *testing.T) {
	good := t.TempDir()
	s, err := Open(good, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := s.PutTask(KindProxy, strings.Repeat("k", 10)+string(rune('a'+i%26))+strings.Repeat("x", i), map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	clean, err := os.ReadFile(filepath.Join(good, FileName))
	if err != nil {
		t.Fatal(err)
	}
	pageSize := os.Getpagesize()
	cases := map[string]func([]byte) []byte{
		"garbage":   func([]byte) []byte { return bytes.Repeat([]byte("not a database "), 1000) },
		"truncated": func(b []byte) []byte { return b[:pageSize+100] },
		"meta pages zeroed": func(b []byte) []byte {
			b = bytes.Clone(b)
			clear(b[:2*pageSize])
			return b
		},
		"data pages scribbled": func(b []byte) []byte {
			b = bytes.Clone(b)
			for i := 4 * pageSize; i < len(b); i += 7 {
				b[i] ^= 0x5a
			}
			return b
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			bad := damage(clean)
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, time.Second)
			if err == nil {
				// Some damage is invisible to bbolt's checks; reading must
				// still not panic.
				_, rerr := s.Tasks(KindProxy)
				s.Close()
				t.Logf("damage not detected at open; read gave %v", rerr)
				return
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q does not name the file and the damage on one line", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, bad) {
				t.Fatal("the damaged file was modified")
			}
			// serve --print-config reads the same file read-only: the
			// same report, not a panic. (A copy: a panic inside bolt.Open
			// leaves the first file's lock with its lost descriptor.)
			copyDir := t.TempDir()
			if err := os.WriteFile(filepath.Join(copyDir, FileName), bad, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadConfig(copyDir, time.Second); err == nil || !strings.Contains(err.Error(), "damaged") {
				t.Fatalf("ReadConfig of the damaged file: %v", err)
			}
		})
	}
}
