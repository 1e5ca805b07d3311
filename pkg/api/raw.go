package api

import (
	"net/http"
	"strconv"
)

// Raw is a reply sent as it is rather than as JSON: getSnap's image.
type Raw struct {
	ContentType string
	Body        []byte
}

// rawKey holds a Raw in a Reply; no JSON field can be named so.
const rawKey = "\x00raw"

// RawReply returns a Reply that ServeHTTP sends as raw's bytes, with HTTP
// 200, when the handler returns no error. With an error, the usual JSON
// envelope is sent and raw is dropped.
func RawReply(raw Raw) Reply { return Reply{rawKey: raw} }

// rawOf returns the Raw a successful reply carries.
func rawOf(reply Reply, code Code) (Raw, bool) {
	if code != CodeSuccess {
		delete(reply, rawKey)
		return Raw{}, false
	}
	raw, ok := reply[rawKey].(Raw)
	return raw, ok
}

// writeRaw sends raw.
func writeRaw(w http.ResponseWriter, r *http.Request, raw Raw) {
	h := w.Header()
	h.Set("Content-Type", raw.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(raw.Body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(raw.Body)
	}
}
