package proxy

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// PullSpec is a pull proxy as addStreamProxy describes it. It is stored
// as JSON, so its field names are a file format: add, never rename.
type PullSpec struct {
	Vhost  string `json:"vhost"`
	App    string `json:"app"`
	Stream string `json:"stream"`
	URL    string `json:"url"`
	// RetryCount is how many failures in a row are retried before the
	// proxy gives up; -1 retries forever (ZLMediaKit's default).
	RetryCount int `json:"retry_count"`
	// Timeout bounds connecting and ends a source that sends no media for
	// this long (timeout_sec); 0 selects the source's default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// RTPType is ZLMediaKit's RTSP transport choice (0 TCP, 1 UDP, 2
	// multicast), kept for rtsp:// sources.
	RTPType int `json:"rtp_type,omitempty"`
	// DropAudio drops the source's audio (enable_audio=0); AddMuteAudio
	// adds a silent AAC track to a source that has none.
	DropAudio    bool `json:"drop_audio,omitempty"`
	AddMuteAudio bool `json:"add_mute_audio,omitempty"`
	// AutoClose removes the proxy once its stream has had no reader for
	// general.streamNoneReaderDelayMS.
	AutoClose bool `json:"auto_close,omitempty"`
	// Options are the stream options the API call gave (enable_hls,
	// enable_mp4, mp4_save_path, ...); the stream's owner applies them
	// when the stream starts, as it does an on_publish reply's.
	Options map[string]string `json:"options,omitempty"`
	Created time.Time         `json:"created"`

	// Origins, for an on-demand pull from cluster.origin_url, are tried
	// in turn after URL. On-demand pulls are never stored.
	Origins  []string `json:"-"`
	OnDemand bool     `json:"-"`
}

// Key is the stream the proxy publishes.
func (s PullSpec) Key() engine.Key { return engine.NewKey(s.Vhost, s.App, s.Stream) }

// url is the source of attempt n.
func (s PullSpec) url(n int) string {
	if len(s.Origins) == 0 {
		return s.URL
	}
	all := append([]string{s.URL}, s.Origins...)
	return all[n%len(all)]
}

// PushSpec is a push proxy as addStreamPusherProxy describes it; stored
// as JSON like PullSpec.
type PushSpec struct {
	Schema     string        `json:"schema"`
	Vhost      string        `json:"vhost"`
	App        string        `json:"app"`
	Stream     string        `json:"stream"`
	URL        string        `json:"dst_url"`
	RetryCount int           `json:"retry_count"`
	Timeout    time.Duration `json:"timeout,omitempty"`
	RTPType    int           `json:"rtp_type,omitempty"`
	Created    time.Time     `json:"created"`
}

// Source is the local stream pushed.
func (s PushSpec) Source() engine.Key { return engine.NewKey(s.Vhost, s.App, s.Stream) }

// Key is ZLMediaKit's pusher key: schema/vhost/app/stream/md5(dst_url).
func (s PushSpec) Key() string {
	k := s.Source()
	sum := md5.Sum([]byte(s.URL))
	return s.Schema + "/" + k.Vhost + "/" + k.App + "/" + k.Stream + "/" + hex.EncodeToString(sum[:])
}

// redact hides a URL's password for logs and the API.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
