// Command ingest measures what it costs a media server to take in many
// live streams: server CPU seconds per ingested gigabit, for N concurrent
// streams of the same clip sent in real time either as GB28181-style
// MPEG-PS over RTP (UDP) into openRtpServer ports, or over RTMP. Both
// senders run in this process, paced by the clip's timestamps, so the
// server (a child process, its CPU read from /proc) sees the same media
// either way; the RTMP figure is the reference for the RTP one.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/mediakit/mediakit/bench/internal/benchio"
	"github.com/mediakit/mediakit/bench/internal/procstat"
	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

type options struct {
	mediakit string
	clip     string
	ingest   string // "rtp" or "rtmp"
	streams  int
	warmup   time.Duration
	duration time.Duration
	out      string
}

type result struct {
	Ingest        string  `json:"ingest"`
	Streams       int     `json:"streams"`
	Seconds       float64 `json:"seconds"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	IngestedGbit  float64 `json:"ingested_gbit"`
	CPUPerGbit    float64 `json:"cpu_s_per_gbit"`
	CoreShare     float64 `json:"core_share"` // CPU seconds per wall second
	MbpsPerStream float64 `json:"mbps_per_stream"`
	FramesIn      float64 `json:"frames_in"`
	FramesWant    float64 `json:"frames_expected"`
	RTPLost       float64 `json:"rtp_lost"`
	RSSMB         float64 `json:"rss_mb"`
	SendErrors    int64   `json:"send_errors"`
}

func main() {
	var o options
	flag.StringVar(&o.mediakit, "mediakit", "mediakit", "mediakit binary")
	flag.StringVar(&o.clip, "clip", "", "FLV clip (H.264 + AAC), longer than warmup+duration")
	flag.StringVar(&o.ingest, "ingest", "rtp", "rtp (MPEG-PS over RTP/UDP) or rtmp")
	flag.IntVar(&o.streams, "streams", 50, "concurrent streams")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "time after every stream started before measuring")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "measurement window")
	flag.StringVar(&o.out, "out", "", "append the JSON result to this file")
	flag.Parse()
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
	benchio.Emit(o.out, res)
}

// clip is the media every sender sends: FLV frames for RTMP, and the same
// frames muxed as PS for RTP.
type clip struct {
	tracks []*media.Track
	frames []*media.Frame
	ps     [][]byte // PS bytes of each frame
	bytes  int64
	dur    time.Duration
}

func loadClip(path string) (*clip, error) {
	tracks, frames, err := clipframes.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cl := &clip{tracks: tracks, frames: frames}
	var video, audio *media.Track
	for _, t := range tracks {
		if t.Kind() == media.KindVideo {
			video = t
		} else {
			audio = t
		}
	}
	if video == nil || video.Codec != media.CodecH264 || audio == nil || audio.Codec != media.CodecAAC {
		return nil, fmt.Errorf("%s: want H.264 + AAC, got %v", path, tracks)
	}
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(audio.AACConfig); err != nil {
		return nil, fmt.Errorf("%s: AAC config: %w", path, err)
	}
	mux := ps.NewMuxer([]ps.Stream{{ID: 0xE0, Type: ps.StreamH264}, {ID: 0xC0, Type: ps.StreamAAC}})
	for _, fr := range frames {
		var data []byte
		id, typ := byte(0xE0), ps.StreamH264
		if fr.Track.Kind() == media.KindVideo {
			// As a camera sends it: Annex-B, parameter sets before a keyframe.
			nalus, _ := media.AppendAccessUnit(nil, fr)
			data = media.AppendAnnexB(nil, nalus)
		} else {
			id, typ = 0xC0, ps.StreamAAC
			pkt := mpeg4audio.ADTSPacket{Type: asc.Type, SampleRate: asc.SampleRate, ChannelConfig: asc.ChannelConfig, AU: fr.Payload}
			if data, err = (mpeg4audio.ADTSPackets{&pkt}).Marshal(); err != nil {
				return nil, fmt.Errorf("%s: ADTS: %w", path, err)
			}
		}
		pts := int64(fr.PTS * 90000 / time.Second)
		dts := int64(fr.DTS * 90000 / time.Second)
		cl.ps = append(cl.ps, mux.AppendFrame(nil, ps.Frame{StreamID: id, Type: typ, PTS: pts, DTS: dts, Data: data, Key: fr.Key}, fr.Key))
		cl.bytes += int64(len(fr.Payload))
	}
	cl.dur = frames[len(frames)-1].DTS - frames[0].DTS
	return cl, nil
}

type server struct {
	cmd        *exec.Cmd
	http, rtmp string
	dir        string
	apiURL     string
}

func startServer(o options) (*server, error) {
	dir, err := os.MkdirTemp("", "ingest-")
	if err != nil {
		return nil, err
	}
	s := &server{http: fmt.Sprintf("127.0.0.1:%d", benchio.FreePort()), rtmp: fmt.Sprintf("127.0.0.1:%d", benchio.FreePort()), dir: dir}
	s.apiURL = "http://" + s.http + "/index/api/"
	// Live HLS off: this measures ingest, not the HLS muxer every stream
	// would otherwise feed.
	conf := dir + "/mediakit.toml"
	if err := os.WriteFile(conf, []byte("[protocol]\nenable_hls = false\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd = exec.Command(o.mediakit, "serve", "--config", conf, "--rtmp-addr", s.rtmp, "--http-addr", s.http,
		"--rtp-addr", "127.0.0.1:0", "--rtsp-addr", "", "--rtp-port-range", "40000-44999", "--data-dir", dir, "--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + s.http + "/healthz"); err == nil {
			resp.Body.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("server did not start")
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}

func (s *server) api(name string, kv ...string) (map[string]any, error) {
	q := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		q = append(q, kv[i]+"="+kv[i+1])
	}
	resp, err := http.Get(s.apiURL + name + "?" + strings.Join(q, "&"))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	err = json.NewDecoder(resp.Body).Decode(&m)
	return m, err
}

func (s *server) metric(name string) float64 {
	resp, err := http.Get("http://" + s.http + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

func run(o options) (*result, error) {
	cl, err := loadClip(o.clip)
	if err != nil {
		return nil, err
	}
	if cl.dur < o.warmup+o.duration+2*time.Second {
		return nil, fmt.Errorf("clip of %v is shorter than warmup+duration", cl.dur)
	}
	s, err := startServer(o)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var sendErrors atomic.Int64
	for i := 0; i < o.streams; i++ {
		id := fmt.Sprintf("s%03d", i)
		var send func() error
		switch o.ingest {
		case "rtp":
			r, err := s.api("openRtpServer", "port", "0", "stream_id", id)
			port, ok := r["port"].(float64)
			if err != nil || r["code"] != float64(0) || !ok {
				return nil, fmt.Errorf("openRtpServer %s: %v %v", id, r, err)
			}
			send = func() error { return sendRTP(ctx, cl, int(port), uint32(1000+i)) }
		case "rtmp":
			url := fmt.Sprintf("rtmp://%s/rtp/%s", s.rtmp, id)
			send = func() error { return sendRTMP(ctx, cl, url) }
		default:
			return nil, fmt.Errorf("unknown ingest %q", o.ingest)
		}
		wg.Add(1)
		go func(delay time.Duration) {
			defer wg.Done()
			// Staggered over a second, as cameras are not in step.
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			if err := send(); err != nil && ctx.Err() == nil {
				sendErrors.Add(1)
				fmt.Fprintln(os.Stderr, "ingest: sender:", err)
			}
		}(time.Duration(i) * time.Second / time.Duration(o.streams))
	}
	time.Sleep(time.Second + o.warmup)
	cpu0, frames0, t0 := s.cpu(), s.metric("mediakit_frames_in_total"), time.Now()
	time.Sleep(o.duration)
	cpu1, frames1, t1 := s.cpu(), s.metric("mediakit_frames_in_total"), time.Now()
	rss, _ := procstat.MemMB(s.cmd.Process.Pid)
	lost := s.metric("mediakit_rtp_lost_total")
	cancel()
	wg.Wait()
	secs := t1.Sub(t0).Seconds()
	mbps := float64(cl.bytes) * 8 / cl.dur.Seconds() / 1e6
	gbit := mbps * float64(o.streams) * secs / 1000
	perSec := float64(len(cl.frames)) / cl.dur.Seconds()
	return &result{
		Ingest: o.ingest, Streams: o.streams, Seconds: secs, CPUSeconds: cpu1 - cpu0,
		IngestedGbit: gbit, CPUPerGbit: (cpu1 - cpu0) / gbit, CoreShare: (cpu1 - cpu0) / secs,
		MbpsPerStream: mbps, FramesIn: frames1 - frames0, FramesWant: perSec * secs * float64(o.streams),
		RTPLost: lost, RSSMB: rss, SendErrors: sendErrors.Load(),
	}, nil
}

func (s *server) cpu() float64 { return procstat.CPUSeconds(s.cmd.Process.Pid) }

// pace sleeps until frame i is due.
func pace(ctx context.Context, start time.Time, at time.Duration) bool {
	d := time.Until(start.Add(at))
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func sendRTP(ctx context.Context, cl *clip, port int, ssrc uint32) error {
	s, err := gbsender.Dial(gbsender.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), SSRC: ssrc, VideoType: ps.StreamH264, AudioType: ps.StreamAAC, Raw: true})
	if err != nil {
		return err
	}
	defer s.Close()
	start, base := time.Now(), cl.frames[0].DTS
	for i, f := range cl.frames {
		if !pace(ctx, start, f.DTS-base) {
			return nil
		}
		// Raw: the PS bytes were muxed once for every sender.
		if err := s.SendFrame(gbsender.Frame{Video: f.Track.Kind() == media.KindVideo, Key: f.Key,
			PTS: int64(f.PTS * 90000 / time.Second), Data: cl.ps[i]}); err != nil {
			return err
		}
	}
	return nil
}

func sendRTMP(ctx context.Context, cl *clip, url string) error {
	c, err := rtmp.DialPublish(ctx, url, rtmp.ClientOptions{})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.WriteTracks(cl.tracks, nil); err != nil {
		return err
	}
	start, base := time.Now(), cl.frames[0].DTS
	for _, f := range cl.frames {
		if !pace(ctx, start, f.DTS-base) {
			return nil
		}
		if err := c.WriteFrame(f); err != nil {
			return err
		}
	}
	return nil
}
