// Package hook calls web hooks: HTTP POSTs of JSON bodies to URLs the
// configuration names, with ZLMediaKit's hook names and bodies (see
// hooks.go). Calls never run under a lock and never on the media path: an
// authorization hook blocks only the session that waits for it, and
// notifications go through a bounded queue that drops (and counts) events
// when the hook server cannot keep up.
package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/internal/jsonlimit"
)

// Settings are read at every call, so changes apply at once.
type Settings struct {
	Enable        bool
	URLs          map[string]string // hook name -> URL; empty: not called
	Timeout       time.Duration
	Retry         int           // extra attempts after a failure
	RetryDelay    time.Duration // between attempts
	MediaServerID string
}

// Metrics records hook calls; nil is allowed.
type Metrics interface {
	ObserveHook(name, result string, d time.Duration)
}

// Results of a hook call, for metrics and logs.
const (
	ResultOK      = "ok"
	ResultDenied  = "denied" // the reply's code was not 0
	ResultFailed  = "failed" // no usable reply after every attempt
	ResultDropped = "dropped"
)

// ErrNotConfigured means the hook has no URL or hooks are disabled.
var ErrNotConfigured = errors.New("hook not configured")

// maxReply bounds a hook reply, and maxReplyDepth how deeply it nests:
// ZLMediaKit's replies are flat objects.
const (
	maxReply      = 1 << 20
	maxReplyDepth = 32
)

// Client calls hooks.
type Client struct {
	settings func() Settings
	http     *http.Client
	log      *slog.Logger
	metrics  Metrics
	index    atomic.Uint64

	queues    []chan job // one per worker; a stream's events share one
	next      atomic.Uint64
	ctx       context.Context // cancelled when Close gives up waiting
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeMu   sync.RWMutex
	closed    bool
	dropped   atomic.Int64
	startOnce sync.Once
}

type job struct {
	name string
	body map[string]any
	done func(reply map[string]any, err error)
}

// Queue size (in all) and workers for notifications.
const (
	queueSize = 1024
	workers   = 4
)

// queueFor picks the worker of a notification: the same one for every
// event of a stream, so that they arrive in the order they happened (a
// platform told regist=false before regist=true would think a live
// stream gone), and any for events of no stream.
func (c *Client) queueFor(body map[string]any) chan job {
	app, _ := body["app"].(string)
	stream, _ := body["stream"].(string)
	if app == "" && stream == "" {
		return c.queues[c.next.Add(1)%uint64(len(c.queues))]
	}
	vhost, _ := body["vhost"].(string)
	h := fnv.New32a()
	h.Write([]byte(vhost))
	h.Write([]byte{0})
	h.Write([]byte(app))
	h.Write([]byte{0})
	h.Write([]byte(stream))
	return c.queues[h.Sum32()%uint32(len(c.queues))]
}

// NewClient returns a client reading its settings from settings.
func NewClient(settings func() Settings, log *slog.Logger, metrics Metrics) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		settings: settings,
		log:      log,
		metrics:  metrics,
		queues:   make([]chan job, workers),
		http: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	for i := range c.queues {
		c.queues[i] = make(chan job, queueSize/workers)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Start starts the workers that send notifications; until then they
// queue. Call and Configured work without it.
func (c *Client) Start() {
	c.startOnce.Do(func() {
		for _, q := range c.queues {
			c.wg.Add(1)
			go c.work(q)
		}
	})
}

// Configured reports whether hook name would be called.
func (c *Client) Configured(name string) bool {
	s := c.settings()
	return s.Enable && s.URLs[name] != ""
}

// Dropped returns how many notifications were dropped on a full queue.
func (c *Client) Dropped() int64 { return c.dropped.Load() }

// Call posts body to hook name and returns its reply, retrying as the
// settings say on network errors, timeouts, non-200 answers and replies
// that are not JSON. A reply whose code is not 0 comes with a
// *DeniedError. The error is ErrNotConfigured when the hook is off.
func (c *Client) Call(ctx context.Context, name string, body map[string]any) (map[string]any, error) {
	s := c.settings()
	url := s.URLs[name]
	if !s.Enable || url == "" {
		return nil, ErrNotConfigured
	}
	payload := make(map[string]any, len(body)+2)
	for k, v := range body {
		payload[k] = v
	}
	payload["mediaServerId"] = s.MediaServerID
	// ZLMediaKit adds an X-VHOST header when the body has a vhost.
	vhost, _ := body["vhost"].(string)

	start := time.Now()
	attempts := 1 + max(s.Retry, 0)
	var reply map[string]any
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-time.After(s.RetryDelay):
			case <-ctx.Done():
				err = ctx.Err()
				i = attempts
				continue
			}
		}
		// hook_index counts requests, retries included, from 0, as
		// ZLMediaKit's process-wide s_hook_index++.
		payload["hook_index"] = c.index.Add(1) - 1
		data, merr := json.Marshal(payload)
		if merr != nil {
			return nil, fmt.Errorf("hook %s: encode body: %w", name, merr)
		}
		reply, err = c.post(ctx, url, data, s.Timeout, vhost)
		if err == nil || ctx.Err() != nil {
			break
		}
		c.log.Debug("hook attempt failed", "hook", name, "attempt", i+1, "error", err.Error())
	}
	result := ResultOK
	switch {
	case err != nil:
		result = ResultFailed
		err = fmt.Errorf("hook %s: %w", name, err)
	case replyCode(reply) != 0:
		result = ResultDenied
		err = &DeniedError{Hook: name, Code: replyCode(reply), Msg: replyMsg(reply)}
	}
	if c.metrics != nil {
		c.metrics.ObserveHook(name, result, time.Since(start))
	}
	return reply, err
}

func (c *Client) post(ctx context.Context, url string, body []byte, timeout time.Duration, vhost string) (map[string]any, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mediakit")
	if vhost != "" {
		req.Header.Set("X-VHOST", vhost)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return parseReply(raw)
}

// parseReply decodes the body of a hook server's reply: a JSON object
// with an integer code.
func parseReply(raw []byte) (map[string]any, error) {
	// The reply is decoded into nested maps, one recursion per level.
	if err := jsonlimit.CheckDepth(raw, maxReplyDepth); err != nil {
		return nil, fmt.Errorf("reply is not usable: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var reply map[string]any
	if err := dec.Decode(&reply); err != nil {
		return nil, fmt.Errorf("reply is not a JSON object: %w", err)
	}
	// As ZLMediaKit: a reply whose code is missing or not an integer is
	// no answer, and is retried.
	if n, ok := reply["code"].(json.Number); !ok {
		return nil, fmt.Errorf("reply has no integer code")
	} else if _, err := n.Int64(); err != nil {
		return nil, fmt.Errorf("reply code %s is not an integer", n)
	}
	return reply, nil
}

// DeniedError is a hook reply with a non-zero code.
type DeniedError struct {
	Hook string
	Code int64
	Msg  string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("hook %s: denied with code %d: %s", e.Hook, e.Code, e.Msg)
}

func replyCode(reply map[string]any) int64 {
	n, _ := reply["code"].(json.Number).Int64() // post checked it
	return n
}

func replyMsg(reply map[string]any) string {
	s, _ := reply["msg"].(string)
	return s
}

// Notify queues a call whose reply nobody waits for. When the queue is
// full the event is dropped and counted: a hung hook server must not make
// mediakit hold unbounded memory.
func (c *Client) Notify(name string, body map[string]any) {
	c.NotifyFunc(name, body, nil)
}

// NotifyFunc is Notify with a function run on the reply, in a worker.
func (c *Client) NotifyFunc(name string, body map[string]any, done func(reply map[string]any, err error)) {
	if !c.Configured(name) {
		return
	}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return
	}
	select {
	case c.queueFor(body) <- job{name: name, body: body, done: done}:
	default:
		if n := c.dropped.Add(1); n == 1 || n%100 == 0 {
			c.log.Warn("hook queue full, events dropped", "hook", name, "dropped_total", n)
		}
		if c.metrics != nil {
			c.metrics.ObserveHook(name, ResultDropped, 0)
		}
	}
}

func (c *Client) work(queue chan job) {
	defer c.wg.Done()
	for j := range queue {
		reply, err := c.Call(c.ctx, j.name, j.body)
		if c.ctx.Err() != nil {
			// Close gave up: the rest of the queue is abandoned quietly.
			if j.done != nil {
				j.done(nil, err)
			}
			continue
		}
		if err != nil && !errors.Is(err, ErrNotConfigured) {
			var denied *DeniedError
			if !errors.As(err, &denied) {
				c.log.Warn("hook failed", "hook", j.name, "error", err.Error())
			}
		}
		if j.done != nil {
			j.done(reply, err)
		}
	}
}

// Close stops taking notifications and waits until the queued ones were
// sent or ctx ends.
func (c *Client) Close(ctx context.Context) {
	c.closeMu.Lock()
	if !c.closed {
		c.closed = true
		for _, q := range c.queues {
			close(q)
		}
	}
	c.closeMu.Unlock()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Abandon what is still queued or in flight.
		c.cancel()
		<-done
	}
	c.cancel()
	c.http.CloseIdleConnections()
}
