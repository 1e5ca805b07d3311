package api

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/session"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// Engine is what the endpoints need from the engine.
type Engine interface {
	Streams(ctx context.Context) ([]engine.StreamInfo, error)
	// EachStream calls fn with each stream Streams would list, in its
	// order, through one StreamInfo that fn must not keep.
	EachStream(ctx context.Context, fn func(*engine.StreamInfo) error) error
	Stream(ctx context.Context, key engine.Key) (engine.StreamInfo, bool, error)
	CloseStream(ctx context.Context, key engine.Key, reason string) (bool, error)
}

// Sessions is what the endpoints need from the session registry.
type Sessions interface {
	List() []session.Info
	Kick(id string) bool
	KickMatching(match func(session.Info) bool) int
}

// ServerConfig reads and changes the configuration as ZLMediaKit's
// getServerConfig and setServerConfig see it.
type ServerConfig interface {
	// ServerConfig returns every key as a string.
	ServerConfig() map[string]string
	// SetServerConfig applies the known keys of values that can change
	// without a restart, persists them, and returns how many changed.
	SetServerConfig(values map[string]string) (int, error)
}

// VersionInfo is what `version` reports.
type VersionInfo struct {
	BranchName string
	BuildTime  string
	CommitHash string
}

// Deps are the endpoints' dependencies.
type Deps struct {
	Engine    Engine
	Sessions  Sessions
	Config    ServerConfig
	Version   VersionInfo
	Speed     *zlm.SpeedMeter
	Statistic func() map[string]any
	// Schemas tells which schemas a stream is served in; nil: rtmp only.
	Schemas zlm.SchemaSet
}

// RegisterZLM registers ZLMediaKit's endpoints that mediakit implements.
func (s *Server) RegisterZLM(d Deps) {
	if d.Speed == nil {
		d.Speed = &zlm.SpeedMeter{}
	}
	e := &endpoints{Deps: d, server: s}
	s.Handle("getApiList", e.getAPIList)
	s.Handle("getMediaList", e.getMediaList)
	s.Handle("isMediaOnline", e.isMediaOnline)
	s.Handle("getMediaInfo", e.getMediaInfo)
	s.Handle("getMediaPlayerList", e.getMediaPlayerList)
	s.Handle("close_stream", e.closeStream)
	s.Handle("close_streams", e.closeStreams)
	s.Handle("getAllSession", e.getAllSession)
	s.Handle("kick_session", e.kickSession)
	s.Handle("kick_sessions", e.kickSessions)
	s.Handle("getServerConfig", e.getServerConfig)
	s.Handle("setServerConfig", e.setServerConfig)
	s.Handle("getStatistic", e.getStatistic)
	s.Handle("getThreadsLoad", e.getThreadsLoad)
	s.Handle("getWorkThreadsLoad", e.getThreadsLoad)
	s.Handle("version", e.version)
}

type endpoints struct {
	Deps
	server *Server
}

// errNotFound is ZLMediaKit's answer for a missing stream.
var errNotFound = &Error{Code: CodeNotFound, Msg: "can not find the stream"}

func (e *endpoints) getAPIList(ctx context.Context, p *Params) (Reply, error) {
	names := e.server.Names()
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = Prefix + n
	}
	return Reply{"data": out}, nil
}

// filter is the optional schema/vhost/app/stream selection of list calls.
type filter struct{ schema, vhost, app, stream string }

func newFilter(p *Params) filter {
	return filter{p.Get("schema"), p.Get("vhost"), p.Get("app"), p.Get("stream")}
}

func (f filter) match(schema string, key engine.Key) bool {
	return (f.schema == "" || f.schema == schema) && (f.vhost == "" || f.vhost == key.Vhost) &&
		(f.app == "" || f.app == key.App) && (f.stream == "" || f.stream == key.Stream)
}

// eachSource calls fn for every ready stream with the schemas of it that
// filter selects (never none) and the stream's receive rate. info and
// schemas are refilled for the next stream: fn must not keep them.
func (e *endpoints) eachSource(ctx context.Context, f filter, fn func(info *engine.StreamInfo, schemas []string, speed int64, now time.Time) error) error {
	sweep := e.Speed.Sweep()
	var matched []string
	err := e.Engine.EachStream(ctx, func(info *engine.StreamInfo) error {
		if !info.Ready {
			return nil
		}
		// A clock reading per stream: a streamed list can take as long as
		// its client reads, and a stream's age and rate are as of when
		// its snapshot was taken.
		now := time.Now()
		speed := e.Speed.Speed(*info, now) // also keeps the stream's rate current
		matched = matched[:0]
		for _, schema := range e.schemas(*info) {
			if f.match(schema, info.Key) {
				matched = append(matched, schema)
			}
		}
		if len(matched) == 0 {
			return nil
		}
		return fn(info, matched, speed, now)
	})
	if err != nil {
		return err
	}
	e.Speed.ForgetUnseen(sweep)
	return nil
}

// sources returns one media object per stream and schema that filter
// selects, ready streams only.
func (e *endpoints) sources(ctx context.Context, f filter) ([]map[string]any, error) {
	var out []map[string]any
	err := e.eachSource(ctx, f, func(info *engine.StreamInfo, schemas []string, speed int64, now time.Time) error {
		out = append(out, zlm.MediaSources(*info, schemas, speed, now)...)
		return nil
	})
	return out, err
}

// getMediaList streams its items into the reply (mediaList): with a
// thousand streams they are five thousand objects and megabytes of JSON,
// polled by platforms every few seconds, so they are written out stream
// by stream as the engine is walked, not built and then copied.
func (e *endpoints) getMediaList(ctx context.Context, p *Params) (Reply, error) {
	list := &mediaList{e: e, ctx: ctx, filter: newFilter(p)}
	err := e.eachSource(ctx, list.filter, func(*engine.StreamInfo, []string, int64, time.Time) error { return errMediaFound })
	if err == nil {
		// ZLMediaKit leaves "data" out when nothing matches, and clients
		// (WVP-GB28181-pro) rely on it.
		return Reply{}, nil
	}
	if err != errMediaFound {
		return nil, err
	}
	return Reply{"data": list}, nil
}

// errMediaFound ends getMediaList's first walk at the first match.
var errMediaFound = errors.New("api: a media source matches")

// mediaList is getMediaList's data array, written by walking the engine
// when the reply is encoded. A stream that goes between the check that
// something matches and the walk can leave the array empty (where
// ZLMediaKit would leave "data" out); that race is accepted.
type mediaList struct {
	e      *endpoints
	ctx    context.Context
	filter filter
}

// AppendJSON appends the whole array.
func (l *mediaList) AppendJSON(dst []byte) ([]byte, error) {
	return l.AppendJSONStream(dst, nil)
}

// AppendJSONStream appends the array, offering flush the bytes after
// every stream. It runs while the reply is written, outside the
// handler's recover, so a panic of the walk becomes its error.
func (l *mediaList) AppendJSONStream(dst []byte, flush func([]byte) ([]byte, error)) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = dst, fmt.Errorf("getMediaList: panic: %v", v)
		}
	}()
	dst = append(dst, '[')
	more := false
	err = l.e.eachSource(l.ctx, l.filter, func(info *engine.StreamInfo, schemas []string, speed int64, now time.Time) error {
		dst = zlm.AppendMediaItems(dst, more, info, schemas, speed, now)
		more = true
		if flush == nil {
			return nil
		}
		var err error
		dst, err = flush(dst)
		return err
	})
	if err != nil {
		return dst, err
	}
	return append(dst, ']'), nil
}

// MarshalJSON is AppendJSON for encoding/json.
func (l *mediaList) MarshalJSON() ([]byte, error) { return l.AppendJSON(nil) }

// requireStream reads the four parameters naming one media source.
func requireStream(p *Params) (string, engine.Key, error) {
	if err := p.RequireAll("schema", "vhost", "app", "stream"); err != nil {
		return "", engine.Key{}, err
	}
	return p.Get("schema"), engine.NewKey(p.Get("vhost"), p.Get("app"), p.Get("stream")), nil
}

// find returns the media object of one source.
func (e *endpoints) find(ctx context.Context, schema string, key engine.Key) (map[string]any, error) {
	f := filter{schema: schema, vhost: key.Vhost, app: key.App, stream: key.Stream}
	list, err := e.sources(ctx, f)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list[0], nil
}

func (e *endpoints) isMediaOnline(ctx context.Context, p *Params) (Reply, error) {
	schema, key, err := requireStream(p)
	if err != nil {
		return nil, err
	}
	m, err := e.find(ctx, schema, key)
	if err != nil {
		return nil, err
	}
	return Reply{"online": m != nil}, nil
}

func (e *endpoints) getMediaInfo(ctx context.Context, p *Params) (Reply, error) {
	schema, key, err := requireStream(p)
	if err != nil {
		return nil, err
	}
	m, err := e.find(ctx, schema, key)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotFound
	}
	reply := Reply(m)
	reply["online"] = true // older ZLMediaKit, and clients that read it
	return reply, nil
}

func (e *endpoints) getMediaPlayerList(ctx context.Context, p *Params) (Reply, error) {
	schema, key, err := requireStream(p)
	if err != nil {
		return nil, err
	}
	info, found, err := e.Engine.Stream(ctx, key)
	if err != nil {
		return nil, err
	}
	if !found || !info.Ready || !slices.Contains(e.schemas(info), schema) {
		return nil, errNotFound
	}
	var players []map[string]any
	for _, r := range info.Readers {
		if zlm.ReaderSchema(r.Protocol) == schema {
			m := zlm.SockInfo(r.SessionInfo)
			m["typeid"] = zlm.SessionTypeID(r.Protocol)
			players = append(players, m)
		}
	}
	if len(players) == 0 {
		return Reply{}, nil
	}
	return Reply{"data": players}, nil
}

// schemas are the schemas a stream is served in.
func (e *endpoints) schemas(info engine.StreamInfo) []string {
	if e.Schemas == nil {
		return zlm.RTMPOnly(info)
	}
	return e.Schemas(info)
}

func (e *endpoints) closeStream(ctx context.Context, p *Params) (Reply, error) {
	schema, key, err := requireStream(p)
	if err != nil {
		return nil, err
	}
	force, err := p.Bool("force", false)
	if err != nil {
		return nil, err
	}
	m, err := e.find(ctx, schema, key)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotFound
	}
	if !force && m["totalReaderCount"].(int) > 0 {
		return Reply{"result": -1}, &Error{Code: CodeOtherFailed, Msg: "close failed"}
	}
	if _, err := e.Engine.CloseStream(ctx, key, "closed by the API"); err != nil {
		return nil, err
	}
	return Reply{"result": 0, "msg": "success"}, nil
}

func (e *endpoints) closeStreams(ctx context.Context, p *Params) (Reply, error) {
	force, err := p.Bool("force", false)
	if err != nil {
		return nil, err
	}
	list, err := e.sources(ctx, newFilter(p))
	if err != nil {
		return nil, err
	}
	hit, closed := 0, 0
	done := map[string]bool{}
	for _, m := range list {
		hit++
		if !force && m["totalReaderCount"].(int) > 0 {
			continue
		}
		key := engine.NewKey(m["vhost"].(string), m["app"].(string), m["stream"].(string))
		if done[key.String()] {
			closed++ // another schema of a stream already closed
			continue
		}
		ok, err := e.Engine.CloseStream(ctx, key, "closed by the API")
		if err != nil {
			return nil, err
		}
		done[key.String()] = true
		if ok {
			closed++
		}
	}
	return Reply{"count_hit": hit, "count_closed": closed}, nil
}

// sessionFilter is the local_port / peer_ip selection of session calls.
func sessionFilter(p *Params) (func(session.Info) bool, error) {
	port, err := p.Int("local_port", 0)
	if err != nil {
		return nil, err
	}
	peer := p.Get("peer_ip")
	return func(s session.Info) bool {
		if port != 0 {
			if _, lp := zlm.SplitAddr(addrString(s.Local)); int64(lp) != port {
				return false
			}
		}
		if peer != "" {
			if ip, _ := zlm.SplitAddr(addrString(s.Remote)); ip != peer {
				return false
			}
		}
		return true
	}, nil
}

func (e *endpoints) getAllSession(ctx context.Context, p *Params) (Reply, error) {
	match, err := sessionFilter(p)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, s := range e.Sessions.List() {
		if match(s) {
			out = append(out, zlm.Session(s))
		}
	}
	if len(out) == 0 {
		return Reply{}, nil
	}
	return Reply{"data": out}, nil
}

func (e *endpoints) kickSession(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("id"); err != nil {
		return nil, err
	}
	if !e.Sessions.Kick(p.Get("id")) {
		return nil, &Error{Code: CodeOtherFailed, Msg: "can not find the target"}
	}
	return Reply{"msg": "success"}, nil
}

func (e *endpoints) kickSessions(ctx context.Context, p *Params) (Reply, error) {
	match, err := sessionFilter(p)
	if err != nil {
		return nil, err
	}
	return Reply{"count_hit": e.Sessions.KickMatching(match)}, nil
}

func (e *endpoints) getServerConfig(ctx context.Context, p *Params) (Reply, error) {
	return Reply{"data": []map[string]string{e.Config.ServerConfig()}}, nil
}

func (e *endpoints) setServerConfig(ctx context.Context, p *Params) (Reply, error) {
	values := make(map[string]string)
	for _, name := range p.Names() {
		if strings.EqualFold(name, "secret") {
			continue
		}
		values[name] = p.Get(name)
	}
	changed, err := e.Config.SetServerConfig(values)
	if err != nil {
		// changed counts what was applied despite the error (a refused
		// path does not stop a platform's hook URLs from being set).
		var reply Reply
		if changed > 0 {
			reply = Reply{"changed": changed}
		}
		var apiErr *Error
		if errors.As(err, &apiErr) {
			return reply, err
		}
		return reply, &Error{Code: CodeInvalidArgs, Msg: err.Error()}
	}
	return Reply{"changed": changed}, nil
}

func (e *endpoints) getStatistic(ctx context.Context, p *Params) (Reply, error) {
	data := map[string]any{}
	if e.Statistic != nil {
		data = e.Statistic()
	}
	return Reply{"data": data}, nil
}

// getThreadsLoad reports one entry per CPU mediakit may use; Go schedules
// goroutines over them, so there is no per-thread load to give.
func (e *endpoints) getThreadsLoad(ctx context.Context, p *Params) (Reply, error) {
	n := runtime.GOMAXPROCS(0)
	data := make([]map[string]any, n)
	for i := range data {
		data[i] = map[string]any{"delay": 0, "load": 0}
	}
	return Reply{"data": data}, nil
}

func (e *endpoints) version(ctx context.Context, p *Params) (Reply, error) {
	return Reply{"data": map[string]string{
		"branchName": e.Version.BranchName,
		"buildTime":  e.Version.BuildTime,
		"commitHash": e.Version.CommitHash,
	}}, nil
}

func addrString(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}
