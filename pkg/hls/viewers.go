package hls

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/engine"
)

// DefaultViewerTimeout is how long an HLS viewer stays after its last
// request, as ZLMediaKit's HLS cookie (60 s): longer than any player
// waits between playlist refreshes.
const DefaultViewerTimeout = 60 * time.Second

// maxViewers bounds the viewer table: one entry per viewer and stream.
const maxViewers = 1 << 16

// ErrTooManyViewers refuses a new viewer when the table is full.
var ErrTooManyViewers = errors.New("hls: too many viewers")

// ViewerEngine attaches a counted player that reads nothing itself.
type ViewerEngine interface {
	Watch(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Reader, error)
}

// Viewers turns HLS requests into players. HTTP has no connection per
// player, so a viewer is a session: it starts at a client's first request
// for a stream, which asks the play authoriser (on_play) once; it is
// recognised on later requests by a cookie (ZLMediaKit does the same) or,
// for a player that keeps no cookies, by its address and User-Agent; and
// it ends after Timeout without a request (then on_flow_report). While it
// lasts it is an engine player: readerCount, getMediaPlayerList,
// max_readers and on_stream_none_reader all see it.
//
// One Viewers serves every HLS variant of the server; a viewer belongs to
// one stream and one protocol ("hls", "hls-fmp4").
type Viewers struct {
	Engine ViewerEngine
	// Authorizer, if set, is asked once per new viewer.
	Authorizer PlayAuthorizer
	// Timeout returns the quiet period that ends a viewer; nil or zero
	// selects DefaultViewerTimeout.
	Timeout func() time.Duration
	Log     *slog.Logger

	nextID atomic.Uint64

	mu       sync.Mutex
	byToken  map[string]*Viewer
	byClient map[clientKey]*Viewer
	closed   bool
}

// clientKey recognises a player that sends no cookie.
type clientKey struct {
	key      engine.Key
	protocol string
	addr     netip.Addr
	agent    string
}

// Viewer is one HLS player of one stream.
type Viewer struct {
	token  string
	client clientKey
	info   engine.SessionInfo
	last   atomic.Int64 // unix nanoseconds of the last request

	mu     sync.Mutex
	reader *engine.Reader // nil until the stream is watched
	gone   bool
}

// ID is the viewer's session id ("hls-N").
func (v *Viewer) ID() string { return v.info.ID }

// AddBytes counts bytes served to the viewer (its on_flow_report).
func (v *Viewer) AddBytes(n int) {
	v.mu.Lock()
	r := v.reader
	v.mu.Unlock()
	if r != nil {
		r.AddBytesOut(n)
	}
}

// NewViewers returns an empty viewer table.
func NewViewers(e ViewerEngine, auth PlayAuthorizer, log *slog.Logger) *Viewers {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Viewers{Engine: e, Authorizer: auth, Log: log}
}

// CookieName is the cookie that carries a viewer's token for protocol.
func CookieName(protocol string) string {
	return "mediakit_" + strings.NewReplacer("-", "_", ".", "_").Replace(protocol)
}

func (vs *Viewers) timeout() time.Duration {
	if vs.Timeout != nil {
		if d := vs.Timeout(); d > 0 {
			return d
		}
	}
	return DefaultViewerTimeout
}

// Find returns the viewer that r belongs to, if it is known, and renews
// it. It asks nothing: a known viewer was authorised when it started.
func (vs *Viewers) Find(r *http.Request, key engine.Key, protocol, remote string) *Viewer {
	ck, hasIP := newClientKey(r, key, protocol, remote)
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var v *Viewer
	if c, err := r.Cookie(CookieName(protocol)); err == nil {
		if cand := vs.byToken[c.Value]; cand != nil && cand.client.key == key && cand.client.protocol == protocol {
			v = cand
		}
	}
	if v == nil && hasIP {
		v = vs.byClient[ck]
	}
	if v != nil {
		v.last.Store(time.Now().UnixNano())
	}
	return v
}

// Authorize asks the authoriser whether the client of r may start
// watching key, as a new viewer would be.
func (vs *Viewers) Authorize(r *http.Request, key engine.Key, protocol, remote string) (engine.SessionInfo, error) {
	info := engine.SessionInfo{
		ID:            protocol + "-" + strconv.FormatUint(vs.nextID.Add(1), 10),
		Protocol:      protocol,
		Remote:        remote,
		Params:        r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"),
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.Local = la.String()
	}
	if vs.Authorizer == nil {
		return info, nil
	}
	return info, vs.Authorizer.AuthorizePlay(r.Context(), key, info)
}

// Admit makes the client of r a watching viewer of key: v, found by Find
// (nil for a new viewer, which info describes, as Authorize returned it).
// A new viewer gets its cookie on w, scoped to the stream's directory
// cookiePath. A viewer whose stream ended and came back watches the new
// one without being asked again.
func (vs *Viewers) Admit(w http.ResponseWriter, r *http.Request, key engine.Key, v *Viewer, info engine.SessionInfo, cookiePath string) (*Viewer, error) {
	if v != nil {
		return v, vs.watch(r.Context(), key, v)
	}
	ck, hasIP := newClientKey(r, key, info.Protocol, info.Remote)
	v = &Viewer{token: newToken(), client: ck, info: info}
	v.last.Store(time.Now().UnixNano())
	if err := vs.watch(r.Context(), key, v); err != nil {
		return nil, err
	}
	vs.mu.Lock()
	if vs.closed || len(vs.byToken) >= maxViewers {
		vs.mu.Unlock()
		v.end()
		return nil, ErrTooManyViewers
	}
	if vs.byToken == nil {
		vs.byToken = make(map[string]*Viewer)
		vs.byClient = make(map[clientKey]*Viewer)
	}
	vs.byToken[v.token] = v
	if hasIP {
		// Two players behind one address with one User-Agent: the newer
		// is the one found by address; the older keeps its cookie.
		vs.byClient[ck] = v
	}
	vs.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: CookieName(info.Protocol), Value: v.token, Path: cookiePath,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	vs.Log.Debug("hls viewer started", "session", info.ID, "stream", key.String(), "remote", info.Remote)
	return v, nil
}

// watch attaches v to the live stream of key unless it watches it already.
func (vs *Viewers) watch(ctx context.Context, key engine.Key, v *Viewer) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gone {
		return engine.ErrNotFound
	}
	if v.reader != nil && !v.reader.StreamEnded() {
		return nil
	}
	if v.reader != nil {
		v.reader.Close()
		v.reader = nil
	}
	rd, err := vs.Engine.Watch(ctx, key, v.info)
	if err != nil {
		return err
	}
	v.reader = rd
	return nil
}

// end closes the viewer's player, which reports its session.
func (v *Viewer) end() {
	v.mu.Lock()
	r := v.reader
	v.reader, v.gone = nil, true
	v.mu.Unlock()
	if r != nil {
		r.Close()
	}
}

// Reap ends the viewers idle for longer than the timeout.
func (vs *Viewers) Reap(now time.Time) {
	limit := now.Add(-vs.timeout()).UnixNano()
	var gone []*Viewer
	vs.mu.Lock()
	for tok, v := range vs.byToken {
		if v.last.Load() < limit {
			delete(vs.byToken, tok)
			if vs.byClient[v.client] == v {
				delete(vs.byClient, v.client)
			}
			gone = append(gone, v)
		}
	}
	vs.mu.Unlock()
	for _, v := range gone {
		vs.Log.Debug("hls viewer left", "session", v.info.ID, "stream", v.client.key.String(), "remote", v.info.Remote)
		v.end()
	}
}

// Len is the number of viewers.
func (vs *Viewers) Len() int {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return len(vs.byToken)
}

// Close ends every viewer; later ones are refused.
func (vs *Viewers) Close() {
	vs.mu.Lock()
	vs.closed = true
	all := make([]*Viewer, 0, len(vs.byToken))
	for _, v := range vs.byToken {
		all = append(all, v)
	}
	vs.byToken, vs.byClient = nil, nil
	vs.mu.Unlock()
	for _, v := range all {
		v.end()
	}
}

// newClientKey names the client of r for players without cookies. A
// client with no IP address (a unix socket's) has none: every such client
// would share it.
func newClientKey(r *http.Request, key engine.Key, protocol, remote string) (clientKey, bool) {
	addr, ok := access.ParseAddr(remote)
	return clientKey{key: key, protocol: protocol, addr: addr, agent: r.UserAgent()}, ok
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
