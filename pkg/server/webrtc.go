package server

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/webrtc"
)

// WHEP and WHIP URLs: a viewer's offer is POSTed to /APP/STREAM/whep, a
// publisher's to /APP/STREAM/whip; the session it makes lives at
// /webrtc/session/ID (DELETE ends it).
const (
	whepSuffix    = "/whep"
	whipSuffix    = "/whip"
	sessionPrefix = "/webrtc/session/"
	// maxOffer bounds an SDP offer (browsers send a few KiB).
	maxOffer = 64 << 10
)

// serveWebRTC answers WHEP and WHIP requests; it reports false for other
// paths.
func (s *Server) serveWebRTC(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, whepSuffix), strings.HasSuffix(p, whipSuffix):
	case strings.HasPrefix(p, sessionPrefix):
	default:
		return false
	}
	h := w.Header()
	s.guard().policy.MediaCORS(h, r)
	h.Set("Access-Control-Expose-Headers", "Location")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if s.rtc == nil {
		http.Error(w, "WebRTC is off (webrtc.addr)", http.StatusNotFound)
		return true
	}
	if id, ok := strings.CutPrefix(p, sessionPrefix); ok {
		switch r.Method {
		case http.MethodDelete:
			if !s.rtc.End(id) {
				http.NotFound(w, r)
				return true
			}
			w.WriteHeader(http.StatusOK)
		case http.MethodPatch:
			// No trickle ICE: the answer carries every candidate.
			w.Header().Set("Allow", "DELETE")
			http.Error(w, "trickle ICE is not supported; the answer has every candidate", http.StatusMethodNotAllowed)
		default:
			w.Header().Set("Allow", "DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
		return true
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return true
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/sdp") {
		http.Error(w, "the offer must be Content-Type: application/sdp", http.StatusUnsupportedMediaType)
		return true
	}
	publish := strings.HasSuffix(p, whipSuffix)
	key, err := keyFromPath(p[:len(p)-len(whepSuffix)], r) // "/whip" is as long
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return true
	}
	offer, err := io.ReadAll(io.LimitReader(r.Body, maxOffer+1))
	if err != nil || len(offer) == 0 || len(offer) > maxOffer {
		http.Error(w, "an SDP offer of at most 64 KiB is wanted", http.StatusBadRequest)
		return true
	}
	info := s.httpSessionInfo(r, "webrtc")
	var answer, id string
	if publish {
		answer, id, err = s.rtc.Publish(r.Context(), key, info, string(offer))
	} else {
		answer, id, err = s.rtc.Play(r.Context(), key, info, string(offer))
	}
	if status, msg := webrtcFailure(err, key, publish); status != 0 {
		http.Error(w, msg, status)
		return true
	}
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", sessionPrefix+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	return true
}

// webrtcFailure is the HTTP status and text of a WHEP or WHIP error; 0
// for none.
func webrtcFailure(err error, key engine.Key, publish bool) (int, string) {
	verb := "play"
	if publish {
		verb = "publish"
	}
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrInvalidKey):
		return http.StatusNotFound, "no such stream: " + key.String()
	case errors.Is(err, engine.ErrDenied):
		return http.StatusForbidden, verb + " denied"
	case errors.Is(err, engine.ErrAlreadyPublishing):
		return http.StatusConflict, err.Error()
	case errors.Is(err, engine.ErrTooManyReaders), errors.Is(err, engine.ErrTooManyStreams),
		errors.Is(err, webrtc.ErrTooMany), errors.Is(err, webrtc.ErrClosed):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, webrtc.ErrNoTrack):
		return http.StatusNotAcceptable, err.Error()
	case errors.Is(err, webrtc.ErrOffer):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}

// keyFromPath is the stream of /APP/STREAM (vhost from the query).
func keyFromPath(name string, r *http.Request) (engine.Key, error) {
	app, stream, ok := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if !ok || app == "" || stream == "" {
		return engine.Key{}, errors.New("want /APP/STREAM/whep or /APP/STREAM/whip")
	}
	key := engine.NewKey(r.URL.Query().Get("vhost"), app, stream)
	if err := key.Validate(); err != nil {
		return engine.Key{}, err
	}
	return key, nil
}

// httpSessionInfo describes the client of r as a player of protocol.
func (s *Server) httpSessionInfo(r *http.Request, protocol string) engine.SessionInfo {
	info := engine.SessionInfo{
		ID:            protocol + "-" + strconv.FormatInt(s.webrtcIDs.Add(1), 10),
		Protocol:      protocol,
		Remote:        s.clientRemote(r),
		Params:        r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"),
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.Local = la.String()
	}
	return info
}

// zlmWebRTC is ZLMediaKit's /index/api/webrtc?app=&stream=&type=play|push:
// the SDP offer as the request body, {"code":0,"id":ID,"sdp":ANSWER,
// "type":"answer"} as the reply, so that players written for ZLMediaKit
// (WVP-GB28181-pro's) work unchanged. Like ZLMediaKit's it asks for no
// secret: the peer is authorised as every player (on_play, built-in
// users) or publisher (on_publish) is.
func (s *Server) zlmWebRTC(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	s.guard().policy.MediaCORS(h, r)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	reply := func(v map[string]any) {
		h.Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(code int, msg string) { reply(map[string]any{"code": code, "msg": msg}) }
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodPost:
		fail(-300, "POST the SDP offer")
		return
	case q.Get("type") == "":
		fail(-300, `Required parameter missed: "type"`)
		return
	case q.Get("type") != "play" && q.Get("type") != "push":
		fail(-1, "type "+q.Get("type")+" is not served (play or push)")
		return
	case s.rtc == nil:
		fail(-1, "WebRTC is off (webrtc.addr)")
		return
	}
	key := engine.NewKey(q.Get("vhost"), q.Get("app"), q.Get("stream"))
	if err := key.Validate(); err != nil {
		fail(-300, err.Error())
		return
	}
	offer, err := io.ReadAll(io.LimitReader(r.Body, maxOffer+1))
	if err != nil || len(offer) == 0 || len(offer) > maxOffer {
		fail(-300, "http body (webrtc offer sdp) is empty or over 64 KiB")
		return
	}
	var answer, id string
	if q.Get("type") == "push" {
		answer, id, err = s.rtc.Publish(r.Context(), key, s.httpSessionInfo(r, "webrtc"), string(offer))
	} else {
		answer, id, err = s.rtc.Play(r.Context(), key, s.httpSessionInfo(r, "webrtc"), string(offer))
	}
	switch {
	case errors.Is(err, engine.ErrNotFound):
		fail(-500, "can not find the stream")
	case errors.Is(err, engine.ErrDenied):
		fail(-100, q.Get("type")+" denied")
	case errors.Is(err, engine.ErrAlreadyPublishing):
		fail(-1, "already publishing")
	case err != nil:
		fail(-400, err.Error())
	default:
		reply(map[string]any{"code": 0, "id": id, "sdp": answer, "type": "answer"})
	}
}
