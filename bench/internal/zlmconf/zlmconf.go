// Package zlmconf writes and checks the ZLMediaKit configuration the
// benchmarks run it with.
package zlmconf

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Config is a ZLMediaKit config.ini as "section.key", "value" pairs,
// in the order written. MediaServer starts from its built-in defaults
// (those of conf/config.ini) and overrides the keys the file sets.
type Config []string

// Base is what every ZLMediaKit run sets: its listeners on loopback,
// on the given ports, and those the benchmarks do not use off (RTSP,
// WebRTC, SRT, the telnet shell, TLS); no hooks (no on_publish
// authentication, no on_stream_none_reader to close unwatched streams);
// files under dir; and an API secret the load generator knows. The rest,
// general.modify_stamp and protocol.auto_close (0) among them, stays at
// its defaults.
func Base(dir, secret string, httpPort, rtmpPort, rtpPort int) Config {
	www := dir + "/www"
	return Config{
		"api.apiDebug", "0",
		"api.secret", secret,
		"api.snapRoot", www + "/snap/",
		"api.downloadRoot", www,
		"ffmpeg.log", dir + "/ffmpeg/ffmpeg.log",
		"general.mediaServerId", "bench",
		"general.listen_ip", "127.0.0.1",
		"hook.enable", "0",
		"protocol.hls_save_path", www,
		"protocol.mp4_save_path", www,
		"http.port", fmt.Sprint(httpPort),
		"http.sslport", "0",
		"http.rootPath", www,
		"rtmp.port", fmt.Sprint(rtmpPort),
		"rtmp.sslport", "0",
		"rtsp.port", "0",
		"rtsp.sslport", "0",
		"rtp_proxy.port", fmt.Sprint(rtpPort),
		"rtc.port", "0",
		"rtc.tcpPort", "0",
		"rtc.signalingPort", "0",
		"rtc.signalingSslPort", "0",
		"rtc.icePort", "0",
		"rtc.iceTcpPort", "0",
		"srt.port", "0",
		"shell.port", "0",
	}
}

// Set sets a key, replacing the value if the key is there already.
func (c *Config) Set(key, value string) {
	for i := 0; i+1 < len(*c); i += 2 {
		if (*c)[i] == key {
			(*c)[i+1] = value
			return
		}
	}
	*c = append(*c, key, value)
}

// INI renders the config, one [section] per section in first-seen order.
func (c Config) INI() string {
	var order []string
	keys := map[string][]string{}
	for i := 0; i+1 < len(c); i += 2 {
		sec, key, _ := strings.Cut(c[i], ".")
		if _, ok := keys[sec]; !ok {
			order = append(order, sec)
		}
		keys[sec] = append(keys[sec], key+"="+c[i+1])
	}
	var b strings.Builder
	for _, sec := range order {
		fmt.Fprintf(&b, "[%s]\n%s\n", sec, strings.Join(keys[sec], "\n"))
	}
	return b.String()
}

// Write writes the config to file.
func (c Config) Write(file string) error { return os.WriteFile(file, []byte(c.INI()), 0o644) }

// Check reads the running config back (getServerConfig) and reports a
// key whose value did not take: a misspelt key or a file not loaded.
func (c Config) Check(httpAddr, secret string) error {
	resp, err := http.Get("http://" + httpAddr + "/index/api/getServerConfig?secret=" + secret)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Code int                 `json:"code"`
		Msg  string              `json:"msg"`
		Data []map[string]string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("getServerConfig: %w", err)
	}
	if r.Code != 0 || len(r.Data) == 0 {
		return fmt.Errorf("getServerConfig: code %d %s", r.Code, r.Msg)
	}
	for i := 0; i+1 < len(c); i += 2 {
		if got, ok := r.Data[0][c[i]]; !ok || got != c[i+1] {
			return fmt.Errorf("ZLMediaKit config %s: set %q, running with %q", c[i], c[i+1], got)
		}
	}
	return nil
}

// Secret is a random api.secret (MediaServer replaces an empty one
// or its sample's by a random one the load generator would not know).
func Secret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Args are MediaServer's arguments: the config, logs at warn (3) to
// the console and into dir/log.
func Args(conf, dir string) []string {
	return []string{"-c", conf, "-l", "3", "--log-dir", dir + "/log/"}
}
