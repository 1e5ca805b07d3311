package api

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/playback"
)

// VODs plays recordings back as streams (pkg/playback's VODs).
type VODs interface {
	Load(ctx context.Context, key engine.Key, paths []string, opts playback.VODOptions) (time.Duration, error)
	Seek(ctx context.Context, key engine.Key, at time.Duration) error
	SetSpeed(ctx context.Context, key engine.Key, speed float64) error
}

// RegisterVOD registers loadMP4File, seekRecordStamp and setRecordSpeed.
// confine admits a file_path (the data dir, record.allow_paths and the
// recording roots) and returns it resolved.
func (s *Server) RegisterVOD(vods VODs, confine func(string) (string, error)) {
	v := &vodEndpoints{vods: vods, confine: confine}
	s.Handle("loadMP4File", v.load)
	s.Handle("seekRecordStamp", v.seek)
	s.Handle("setRecordSpeed", v.speed)
}

type vodEndpoints struct {
	vods    VODs
	confine func(string) (string, error)
}

// requireKey reads the three required parameters naming a stream.
func requireKey(p *Params) (engine.Key, error) {
	if err := p.RequireAll("vhost", "app", "stream"); err != nil {
		return engine.Key{}, err
	}
	key := streamKey(p)
	if err := key.Validate(); err != nil {
		return engine.Key{}, Errorf(CodeInvalidArgs, "%v", err)
	}
	return key, nil
}

func floatParam(p *Params, name string, def float64) (float64, error) {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, Errorf(CodeInvalidArgs, "parameter %q: %q is not a number", name, v)
	}
	return f, nil
}

// load is ZLMediaKit's loadMP4File: file_path, a file or a directory
// whose MP4 files play in name (time) order, published as the stream,
// from seek_ms, at speed, over again with file_repeat; it closes when
// nobody watches. The stream options (enable_hls, ...) apply as to a
// proxy. Replies data.duration_ms.
func (v *vodEndpoints) load(ctx context.Context, p *Params) (Reply, error) {
	key, err := requireKey(p)
	if err != nil {
		return nil, err
	}
	if err := p.RequireAll("file_path"); err != nil {
		return nil, err
	}
	path, err := v.confine(p.Get("file_path"))
	if err != nil {
		return nil, Errorf(CodeInvalidArgs, "file_path: %v", err)
	}
	repeat, err := p.Bool("file_repeat", false)
	if err != nil {
		return nil, err
	}
	seek, err := p.Int("seek_ms", 0)
	if err != nil {
		return nil, err
	}
	speed, err := floatParam(p, "speed", 1)
	if err != nil {
		return nil, err
	}
	if speed == 0 {
		speed = 1 // ZLMediaKit: 0 or absent is normal speed
	}
	files, err := playback.Files(path)
	if err != nil {
		return nil, Errorf(CodeInvalidArgs, "file_path: %v", err)
	}
	// The files of a directory are confined too: a link in it must not
	// lead out of the roots.
	for i, f := range files {
		if files[i], err = v.confine(f); err != nil {
			return nil, Errorf(CodeInvalidArgs, "file_path: %v", err)
		}
	}
	d, err := v.vods.Load(ctx, key, files, playback.VODOptions{
		Repeat: repeat, Seek: millis(seek), Speed: speed, Values: streamOptionValues(p),
	})
	switch {
	case errors.Is(err, playback.ErrSpeed):
		return nil, Errorf(CodeInvalidArgs, "speed: %v", err)
	case errors.Is(err, engine.ErrAlreadyPublishing):
		return nil, &Error{Code: CodeOtherFailed, Msg: "This stream already exists"}
	case err != nil:
		return nil, &Error{Code: CodeOtherFailed, Msg: err.Error()}
	}
	return Reply{"data": map[string]any{"duration_ms": d.Milliseconds()}}, nil
}

// seek is ZLMediaKit's seekRecordStamp: stamp in milliseconds from the
// start of what loadMP4File plays; it lands on the keyframe at or before.
func (v *vodEndpoints) seek(ctx context.Context, p *Params) (Reply, error) {
	key, err := requireKey(p)
	if err != nil {
		return nil, err
	}
	if err := p.RequireAll("stamp"); err != nil {
		return nil, err
	}
	stamp, err := p.Int("stamp", 0)
	if err != nil {
		return nil, err
	}
	return vodResult(v.vods.Seek(ctx, key, millis(stamp)), "seek failed")
}

// speed is ZLMediaKit's setRecordSpeed: from 0.5 to 16, timestamps
// rescaled so that players play at that speed.
func (v *vodEndpoints) speed(ctx context.Context, p *Params) (Reply, error) {
	key, err := requireKey(p)
	if err != nil {
		return nil, err
	}
	if err := p.RequireAll("speed"); err != nil {
		return nil, err
	}
	speed, err := floatParam(p, "speed", 1)
	if err != nil {
		return nil, err
	}
	err = v.vods.SetSpeed(ctx, key, speed)
	if errors.Is(err, playback.ErrSpeed) {
		return Reply{"result": false}, Errorf(CodeInvalidArgs, "speed %v: %v", speed, err)
	}
	return vodResult(err, "set speed failed")
}

// millis is n milliseconds, negative as 0 and saturating instead of
// wrapping past what a Duration holds.
func millis(n int64) time.Duration {
	const most = math.MaxInt64 / int64(time.Millisecond)
	return time.Duration(min(max(n, 0), most)) * time.Millisecond
}

func vodResult(err error, failed string) (Reply, error) {
	switch {
	case errors.Is(err, playback.ErrNotPlaying):
		return nil, errNotFound
	case err != nil:
		return Reply{"result": false}, &Error{Code: CodeOtherFailed, Msg: failed + ": " + err.Error()}
	}
	return Reply{"result": true}, nil
}
