package store

import (
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
