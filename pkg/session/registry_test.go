package session

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	var closed atomic.Int32
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1935}
	remove1 := r.Add(Info{ID: "a", Protocol: "rtmp", Local: addr, Remote: addr}, func() { closed.Add(1) })
	r.Add(Info{ID: "b", Protocol: "http-flv", Local: addr, Remote: addr}, func() { closed.Add(10) })
	if r.Len() != 2 || len(r.List()) != 2 {
		t.Fatalf("len %d", r.Len())
	}
	if !r.Kick("a") || closed.Load() != 1 {
		t.Fatal("kick a")
	}
	if r.Kick("nope") {
		t.Fatal("kicked a missing session")
	}
	if n := r.KickMatching(func(i Info) bool { return i.Protocol == "http-flv" }); n != 1 || closed.Load() != 11 {
		t.Fatalf("kick matching: %d, closed %d", n, closed.Load())
	}
	remove1()
	remove1() // idempotent
	if r.Len() != 1 {
		t.Fatalf("len %d after remove", r.Len())
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := string(rune('a'+g)) + string(rune('0'+i%10))
				remove := r.Add(Info{ID: id}, func() {})
				r.List()
				r.Kick(id)
				remove()
			}
		}()
	}
	wg.Wait()
	if r.Len() != 0 {
		t.Fatalf("%d sessions left", r.Len())
	}
}
