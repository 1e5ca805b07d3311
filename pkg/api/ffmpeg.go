package api

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/ffmpegsrc"
)

// FFmpegSources runs FFmpeg sources (pkg/ffmpegsrc's Manager).
type FFmpegSources interface {
	Add(ctx context.Context, spec ffmpegsrc.Spec) (string, error)
	Delete(ctx context.Context, key string) (bool, error)
	List() []ffmpegsrc.Info
}

// RegisterFFmpeg registers addFFmpegSource, delFFmpegSource and
// listFFmpegSource.
func (s *Server) RegisterFFmpeg(sources FFmpegSources) {
	e := &ffmpegEndpoints{sources: sources}
	s.Handle("addFFmpegSource", e.add)
	s.Handle("delFFmpegSource", e.del)
	s.Handle("listFFmpegSource", e.list)
}

type ffmpegEndpoints struct{ sources FFmpegSources }

// flagParam reads enable_hls and enable_mp4: ZLMediaKit takes an int
// (any non-zero is on); true/false are accepted too.
func flagParam(p *Params, name string) (bool, error) {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return false, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n != 0, nil
	}
	return p.Bool(name, false)
}

// add answers once the destination stream is live (ZLMediaKit answers
// from its callback too), so it may take up to timeout_ms.
func (e *ffmpegEndpoints) add(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("src_url", "dst_url", "timeout_ms"); err != nil {
		return nil, err
	}
	ms, err := p.Int("timeout_ms", 0)
	if err != nil {
		return nil, err
	}
	if ms <= 0 {
		return nil, Errorf(CodeInvalidArgs, "parameter \"timeout_ms\": %d is not a positive number of milliseconds", ms)
	}
	// Longer waits are cut to the manager's bound; the multiplication
	// must not overflow first.
	ms = min(ms, ffmpegsrc.MaxTimeout.Milliseconds())
	spec := ffmpegsrc.Spec{
		SrcURL:  p.Get("src_url"),
		DstURL:  p.Get("dst_url"),
		Timeout: time.Duration(ms) * time.Millisecond,
		CmdKey:  p.Get("ffmpeg_cmd_key"),
	}
	if spec.EnableHLS, err = flagParam(p, "enable_hls"); err != nil {
		return nil, err
	}
	if spec.EnableMP4, err = flagParam(p, "enable_mp4"); err != nil {
		return nil, err
	}
	key, err := e.sources.Add(ctx, spec)
	switch {
	case errors.Is(err, ffmpegsrc.ErrInvalid):
		return nil, &Error{Code: CodeInvalidArgs, Msg: err.Error()}
	case err != nil:
		return nil, &Error{Code: CodeOtherFailed, Msg: err.Error()}
	}
	return Reply{"data": map[string]any{"key": key}}, nil
}

func (e *ffmpegEndpoints) del(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("key"); err != nil {
		return nil, err
	}
	found, err := e.sources.Delete(ctx, p.Get("key"))
	if err != nil {
		return Reply{"data": map[string]any{"flag": found}}, &Error{Code: CodeOtherFailed, Msg: err.Error()}
	}
	return Reply{"data": map[string]any{"flag": found}}, nil
}

// list gives ZLMediaKit's fields (src_url, dst_url, cmd, ffmpeg_cmd_key,
// key) and the supervisor's view: status, pid, restarts, uptime,
// last_exit, stderr (its tail).
func (e *ffmpegEndpoints) list(ctx context.Context, p *Params) (Reply, error) {
	list := e.sources.List()
	if len(list) == 0 {
		return Reply{}, nil // no data key, as ZLMediaKit
	}
	data := make([]map[string]any, 0, len(list))
	for _, in := range list {
		data = append(data, map[string]any{
			"key":            in.Key,
			"src_url":        in.SrcURL,
			"dst_url":        in.DstURL,
			"cmd":            in.Cmd,
			"ffmpeg_cmd_key": in.CmdKey,
			"timeout_ms":     in.Timeout.Milliseconds(),
			"enable_hls":     in.EnableHLS,
			"enable_mp4":     in.EnableMP4,
			"status":         string(in.State),
			"pid":            in.PID,
			"restarts":       in.Restarts,
			"uptime":         int64(in.Uptime / time.Second),
			"last_exit":      in.LastExit,
			"stderr":         in.Stderr,
		})
	}
	return Reply{"data": data}, nil
}
