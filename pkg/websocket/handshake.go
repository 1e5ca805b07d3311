package websocket

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// acceptGUID is the fixed GUID of RFC 6455 section 1.3 that proves the
// server understood the handshake rather than echoing it.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// IsUpgradeRequest reports whether r asks to switch to the WebSocket
// protocol: a Connection header containing the token "upgrade" and an
// Upgrade header containing the token "websocket", both compared
// case-insensitively. It lets a handler serve the same URL as plain
// HTTP-FLV and as WebSocket-FLV. It does not validate the rest of the
// handshake; Upgrade does.
func IsUpgradeRequest(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

// Upgrade completes the server side of the opening handshake (RFC 6455
// section 4.2) and takes the connection over from net/http.
//
// It requires a GET request over HTTP/1.1 carrying the upgrade headers,
// Sec-WebSocket-Version 13 and a Sec-WebSocket-Key that decodes to 16 bytes.
// If any check fails it writes an error response (405 for a method other
// than GET, 426 with "Sec-WebSocket-Version: 13" for another version, 400
// otherwise) and returns an error; the caller must not write to w again.
//
// On success it hijacks the connection, clears any deadline net/http set on
// it, and writes the 101 Switching Protocols response. If the client offered
// subprotocols, the first one is echoed so that clients that insist on a
// subprotocol accept the connection. extraHeader (for example CORS headers)
// is added to the 101 response; a Sec-WebSocket-Protocol in extraHeader
// replaces the echoed one, while Upgrade, Connection, Sec-WebSocket-Accept
// and Sec-WebSocket-Extensions in extraHeader are ignored because they would
// break the handshake.
//
// The returned *bufio.Reader is the server's buffered reader for the
// connection and may already hold bytes the client sent after its request,
// so client frames must be read from it, not from the net.Conn. Frames are
// written directly to the net.Conn, which the caller now owns and must
// close. Upgrade does not check Origin: a media server normally serves any
// page, and callers that care can check r before calling Upgrade.
func Upgrade(w http.ResponseWriter, r *http.Request, extraHeader http.Header) (net.Conn, *bufio.Reader, error) {
	if err := CheckRequest(w, r); err != nil {
		return nil, nil, err
	}
	key := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))

	resp := appendResponse(nil, key, firstToken(r.Header.Values("Sec-WebSocket-Protocol")), extraHeader)

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			// Nothing was written yet, so the client can still be told.
			http.Error(w, "websocket: connection cannot be hijacked", http.StatusInternalServerError)
		}
		return nil, nil, fmt.Errorf("websocket: upgrade: hijack: %w", err)
	}
	// Server ReadTimeout/WriteTimeout deadlines were meant for one HTTP
	// exchange, not for a stream that lasts hours; the caller sets its own.
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("websocket: upgrade: clear deadline: %w", err)
	}
	if _, err := conn.Write(resp); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("websocket: upgrade: write response: %w", err)
	}
	return conn, brw.Reader, nil
}

// CheckRequest validates the opening handshake of r without taking the
// connection, so a handler can refuse a malformed upgrade before slow work
// (waiting for a stream). On failure it writes the error response, as
// Upgrade would, and returns the error.
func CheckRequest(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		_, _, err := reject(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return err
	}
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		// HTTP/2 has its own WebSocket bootstrap (RFC 8441) and cannot be
		// hijacked; HTTP/1.0 has no Upgrade mechanism.
		_, _, err := reject(w, http.StatusBadRequest, "protocol "+r.Proto+" cannot be upgraded")
		return err
	}
	if !IsUpgradeRequest(r) {
		_, _, err := reject(w, http.StatusBadRequest, "not a websocket upgrade request")
		return err
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		_, _, err := reject(w, http.StatusUpgradeRequired, fmt.Sprintf("unsupported Sec-WebSocket-Version %q", v))
		return err
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		_, _, err := reject(w, http.StatusBadRequest, "need exactly one Sec-WebSocket-Key")
		return err
	}
	key := strings.TrimSpace(keys[0])
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		_, _, err := reject(w, http.StatusBadRequest, "malformed Sec-WebSocket-Key")
		return err
	}
	return nil
}

// reject writes an HTTP error response for a failed handshake and returns
// the matching error.
func reject(w http.ResponseWriter, status int, reason string) (net.Conn, *bufio.Reader, error) {
	http.Error(w, http.StatusText(status)+": "+reason, status)
	return nil, nil, fmt.Errorf("websocket: upgrade: %s (HTTP %d)", reason, status)
}

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// appendResponse appends the 101 response to dst.
func appendResponse(dst []byte, key, protocol string, extra http.Header) []byte {
	h := make(http.Header, len(extra))
	for name, values := range extra {
		if !isToken(name) {
			// A malformed name could inject header lines; drop it.
			continue
		}
		switch strings.ToLower(name) {
		case "upgrade", "connection", "sec-websocket-accept", "sec-websocket-extensions":
			continue
		case "sec-websocket-protocol":
			if len(values) > 0 {
				protocol = values[0]
			}
			continue
		}
		name = http.CanonicalHeaderKey(name)
		h[name] = append(h[name], values...)
	}
	// Assigned directly rather than with Set to keep the RFC spelling;
	// clients compare names case-insensitively, humans reading dumps do not.
	h["Upgrade"] = []string{"websocket"}
	h["Connection"] = []string{"Upgrade"}
	h["Sec-WebSocket-Accept"] = []string{acceptKey(key)}
	if protocol != "" {
		h["Sec-WebSocket-Protocol"] = []string{protocol}
	}
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	// Header.Write replaces CR and LF in values, so extraHeader values
	// cannot split the response.
	h.Write(&b)
	b.WriteString("\r\n")
	return append(dst, b.String()...)
}

// headerHasToken reports whether any value of the comma-separated header
// name contains token, compared case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// firstToken returns the first non-empty element of a comma-separated header
// if it is a valid token, "" otherwise.
func firstToken(values []string) string {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.Trim(t, " \t"); t != "" {
				if isToken(t) {
					return t
				}
				return ""
			}
		}
	}
	return ""
}

// isToken reports whether s is a non-empty RFC 9110 token, the syntax of
// header names and subprotocol names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
