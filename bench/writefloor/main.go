// Command writefloor measures the floor under a fan-out server's CPU: a
// program that does nothing but write one shared stream to N loopback
// TCP players, one write per player per batching window, with the
// players in a second process as in bench/fanout. What a server spends
// per write above this figure is its own; what it spends up to it is the
// kernel's (the system call, the copy into the socket, TCP and IP, and on
// loopback the receiving socket's work and the player's wake-up).
//
//	go run ./bench/writefloor -players 1000 -window 100ms -mbps 2
//
// -mode writev writes each batch as -iov buffers with one writev (as
// mediakit and SRS do); -mode sendfile sends it from a memfd holding the
// stream with one sendfile (zero-copy into the socket), and
// -mode hdr+sendfile first sends a few bytes of framing of the player's
// own (an HTTP chunk header) with MSG_MORE, as an HTTP/1.1 server would.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mediakit/mediakit/bench/internal/benchio"
	"github.com/mediakit/mediakit/bench/internal/procstat"
)

type options struct {
	players  int
	window   time.Duration
	mbps     float64
	duration time.Duration
	mode     string
	iov      int
	out      string
	round    int
	recv     string // internal: the players' process dials this address
}

type result struct {
	Mode          string  `json:"mode"`
	Players       int     `json:"players"`
	Window        string  `json:"window"`
	BytesPerWrite int     `json:"bytes_per_write"`
	Writes        int     `json:"writes"`
	Full          int     `json:"full"` // writes the socket could not take whole
	Seconds       float64 `json:"seconds"`
	ThreadCPU     float64 `json:"writer_thread_cpu_seconds"`
	Iov           int     `json:"iov,omitempty"` // writev: buffers per write
	ProcessCPU    float64 `json:"process_cpu_seconds"`
	ProcessUser   float64 `json:"process_user_cpu_seconds"`
	PlayersCPU    float64 `json:"players_cpu_seconds"`
	USPerWrite    float64 `json:"process_us_per_write"`
	ThreadUS      float64 `json:"writer_thread_us_per_write"`
	DeliveredGB   float64 `json:"delivered_gb"`
	CPUPerGB      float64 `json:"cpu_s_per_gb"`
	Round         int     `json:"round,omitempty"`
}

func main() {
	var o options
	flag.IntVar(&o.players, "players", 1000, "players")
	flag.DurationVar(&o.window, "window", 100*time.Millisecond, "batching window: one write per player per window")
	flag.Float64Var(&o.mbps, "mbps", 2.0, "stream rate in Mbit/s (bytes per write = rate x window)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measurement")
	flag.StringVar(&o.mode, "mode", "writev", "writev, sendfile or hdr+sendfile")
	flag.IntVar(&o.iov, "iov", 9, "writev: buffers per write (a batch's frames and framing)")
	flag.StringVar(&o.out, "out", "", "append the JSON result to this file")
	flag.IntVar(&o.round, "round", 0, "the round this run belongs to, recorded in the result (bench/writefloor.sh's ROUNDS)")
	flag.StringVar(&o.recv, "recv", "", "internal: run as the players' process, dialling this address")
	flag.Parse()
	if o.recv != "" {
		if err := play(o); err != nil {
			fmt.Fprintln(os.Stderr, "writefloor players:", err)
			os.Exit(1)
		}
		return
	}
	if o.players < 1 || o.duration <= 0 {
		fmt.Fprintf(os.Stderr, "writefloor: -players %d, -duration %s: want at least one player and a duration\n", o.players, o.duration)
		os.Exit(2)
	}
	if o.iov < 1 || o.iov > 1024 {
		fmt.Fprintf(os.Stderr, "writefloor: -iov %d: want 1 to 1024 (IOV_MAX)\n", o.iov)
		os.Exit(2)
	}
	if o.mode != "writev" && o.mode != "sendfile" && o.mode != "hdr+sendfile" {
		fmt.Fprintf(os.Stderr, "writefloor: -mode %q: want writev, sendfile or hdr+sendfile\n", o.mode)
		os.Exit(2)
	}
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writefloor:", err)
		os.Exit(1)
	}
	benchio.Emit(o.out, res)
}

// play is the players' process: it dials every player and reads until
// the writer goes.
func play(o options) error {
	for i := 0; i < o.players; i++ {
		c, err := net.Dial("tcp", o.recv)
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 64<<10) // as bench/fanout's players
			for {
				if _, err := c.Read(buf); err != nil {
					os.Exit(0)
				}
			}
		}()
	}
	select {}
}

// ringSize is the stream's bytes the writes walk through: larger than
// the caches, as a server's recent frames would be.
const ringSize = 64 << 20

func run(o options) (*result, error) {
	size := int(o.mbps * 1e6 / 8 * o.window.Seconds())
	if size <= 0 || size > ringSize/4 {
		return nil, fmt.Errorf("-mbps %g and -window %s give %d bytes per write", o.mbps, o.window, size)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	players := exec.Command(os.Args[0], "-recv", ln.Addr().String(), "-players", fmt.Sprint(o.players))
	players.Stderr = os.Stderr
	if err := players.Start(); err != nil {
		return nil, err
	}
	defer players.Wait()
	defer players.Process.Kill()
	conns := make([]syscall.RawConn, 0, o.players)
	// A players' process that fails before dialling them all must not
	// leave the accept waiting for ever.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
	for range o.players {
		c, err := ln.Accept()
		if err != nil {
			return nil, fmt.Errorf("players: %w", err)
		}
		defer c.Close()
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			return nil, err
		}
		conns = append(conns, rc)
	}

	ring := make([]byte, ringSize)
	for i := range ring {
		ring[i] = byte(i * 7)
	}
	w := &writer{mode: o.mode, size: size, ring: ring, head: []byte(fmt.Sprintf("%x\r\n", size))}
	if o.mode != "writev" {
		if w.memfd, err = unix.MemfdCreate("writefloor", 0); err != nil {
			return nil, fmt.Errorf("memfd: %w", err)
		}
		defer unix.Close(w.memfd)
		if _, err := unix.Write(w.memfd, ring); err != nil {
			return nil, fmt.Errorf("memfd: %w", err)
		}
	}
	w.fn = w.write

	runtime.LockOSThread() // the writer's thread CPU is the figure
	defer runtime.UnlockOSThread()
	res := &result{Mode: o.mode, Players: o.players, Window: o.window.String(), BytesPerWrite: size, Round: o.round}
	if o.mode == "writev" {
		res.Iov = o.iov
	}
	tick := time.NewTicker(o.window)
	defer tick.Stop()
	user0, sys0 := procstat.CPUSplit(os.Getpid())
	cpu0, players0 := threadCPU(), procstat.CPUSeconds(players.Process.Pid)
	start := time.Now()
	for time.Since(start) < o.duration {
		w.iovecs(o.iov)
		for _, rc := range conns {
			if err := rc.Control(w.fn); err != nil {
				return nil, err
			}
			if w.errno != 0 && !errors.Is(w.errno, syscall.EAGAIN) {
				return nil, fmt.Errorf("%s: %w", o.mode, w.errno)
			}
			if w.n < size {
				res.Full++
			}
			res.DeliveredGB += float64(max(w.n, 0)) / 1e9
			res.Writes++
		}
		w.off = (w.off + size) % (ringSize - size)
		<-tick.C
	}
	res.Seconds = time.Since(start).Seconds()
	res.ThreadCPU = (threadCPU() - cpu0).Seconds()
	user1, sys1 := procstat.CPUSplit(os.Getpid())
	res.ProcessCPU = user1 - user0 + sys1 - sys0
	res.ProcessUser = user1 - user0
	res.PlayersCPU = procstat.CPUSeconds(players.Process.Pid) - players0
	res.USPerWrite = res.ProcessCPU / float64(res.Writes) * 1e6
	res.ThreadUS = res.ThreadCPU / float64(res.Writes) * 1e6
	if res.DeliveredGB > 0 {
		res.CPUPerGB = res.ProcessCPU / res.DeliveredGB
	}
	return res, nil
}

// writer writes the current window's bytes to one player's socket.
type writer struct {
	mode  string
	size  int
	ring  []byte
	off   int
	head  []byte // the player's own framing (hdr+sendfile)
	memfd int
	iov   []unix.Iovec
	fn    func(fd uintptr) // write, made once

	n     int
	errno syscall.Errno
}

// iovecs splits this window's bytes into parts buffers of about equal
// size.
func (w *writer) iovecs(parts int) {
	w.iov = w.iov[:0]
	parts = min(parts, w.size)
	for i := range parts {
		from, to := i*w.size/parts, (i+1)*w.size/parts
		v := unix.Iovec{Base: &w.ring[w.off+from]}
		v.SetLen(to - from)
		w.iov = append(w.iov, v)
	}
}

func (w *writer) write(fd uintptr) {
	var r uintptr
	switch w.mode {
	case "writev":
		r, _, w.errno = syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
	default:
		if w.mode == "hdr+sendfile" {
			r, _, w.errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&w.head[0])), uintptr(len(w.head)), unix.MSG_MORE, 0, 0)
			if w.errno != 0 || int(r) < len(w.head) {
				w.n = 0 // counted as a write the socket could not take
				return
			}
		}
		off := int64(w.off)
		r, _, w.errno = syscall.RawSyscall6(syscall.SYS_SENDFILE, fd, uintptr(w.memfd), uintptr(unsafe.Pointer(&off)), uintptr(w.size), 0, 0)
	}
	w.n = int(r)
	if w.errno != 0 {
		w.n = 0
	}
}

// threadCPU is the calling thread's user and system CPU time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
