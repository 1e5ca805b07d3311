package hook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/zlm"
)

// OnHTTPAccess asks whether a client may read a file over HTTP.
const OnHTTPAccess = "on_http_access"

// HTTPAccess is a request for a file, as on_http_access describes it.
type HTTPAccess struct {
	Remote string // client address, host:port
	ID     string // session identifier
	Path   string // the file's absolute path
	IsDir  bool   // a directory's list rather than a file
	Params string // the URL's query
	Header http.Header
}

// maxHTTPAccessCache bounds how long an on_http_access answer is reused.
const maxHTTPAccessCache = time.Hour

// AuthorizeHTTPAccess asks on_http_access whether a client may read a
// file. An answer with code 0 and no "err" allows it, for the reply's
// "second" seconds (0: this request only), as ZLMediaKit's hook does; any
// other answer, or none, denies it. The error is ErrNotConfigured when
// the hook is off.
func (h *Hooks) AuthorizeHTTPAccess(ctx context.Context, a HTTPAccess) (cacheFor time.Duration, err error) {
	ip, port := zlm.SplitAddr(a.Remote)
	body := map[string]any{
		"ip": ip, "port": port, "id": a.ID, "path": a.Path, "is_dir": a.IsDir, "params": a.Params,
	}
	for k, v := range a.Header {
		body["header."+k] = strings.Join(v, ",")
	}
	reply, err := h.client.Call(ctx, OnHTTPAccess, body)
	if errors.Is(err, ErrNotConfigured) {
		return 0, err
	}
	if err == nil {
		if msg, _ := reply["err"].(string); msg != "" {
			err = &DeniedError{Hook: OnHTTPAccess, Msg: msg}
		}
	}
	if err != nil {
		h.log.Info("file access denied by hook", "remote", a.Remote, "file", a.Path, "error", err.Error())
		return 0, err
	}
	var second float64
	if n, ok := reply["second"].(json.Number); ok {
		second, _ = n.Float64()
	}
	return min(time.Duration(max(second, 0)*float64(time.Second)), maxHTTPAccessCache), nil
}
