// Package auth is mediakit's built-in authorisation: a static list of
// users in the configuration (as MediaMTX's authInternalUsers) that says
// who may publish, play or call the API, from where, on which streams. It
// is asked before the web hooks, and is off while the list is empty.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/mediakit/mediakit/pkg/access"
)

// Action is what a user may do.
type Action string

// Actions.
const (
	ActionPublish Action = "publish"
	ActionPlay    Action = "play"
	ActionAPI     Action = "api"
)

// User is one entry of the list, as the configuration file gives it:
//
//	[[auth.users]]
//	user = "cam"
//	pass = "sha256:..."      # or plain text
//	ips = ["10.0.0.0/8"]     # optional
//	actions = ["publish"]
//	paths = ["live/*"]       # APP/STREAM patterns (* matches anything, ~ starts a regexp); none: every stream
//
// An entry with neither user nor token applies to anyone (within its
// ips); an entry with a token matches a `token` query parameter or a
// Bearer authorization.
type User struct {
	User    string   `toml:"user"`
	Pass    string   `toml:"pass"`
	Token   string   `toml:"token"`
	IPs     []string `toml:"ips"`
	Actions []string `toml:"actions"`
	Paths   []string `toml:"paths"`
}

// Credentials are what a client presented.
type Credentials struct {
	User, Pass, Token string
}

// Rules is a compiled user list; nil or empty means authorisation is off.
type Rules struct {
	users []rule
}

type rule struct {
	user    string
	pass    secret
	token   secret
	ips     access.IPRanges
	actions map[Action]bool
	paths   []pathPattern
}

// secret is a password or token: plain text, or "sha256:" and the
// digest in base64 or hex, so the file need not hold the secret itself.
type secret struct {
	plain  []byte
	digest []byte // sha256, when hashed
}

func parseSecret(s string) (secret, error) {
	rest, hashed := strings.CutPrefix(s, "sha256:")
	if !hashed {
		return secret{plain: []byte(s)}, nil
	}
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, hex.DecodeString, base64.RawStdEncoding.DecodeString} {
		if d, err := dec(rest); err == nil && len(d) == sha256.Size {
			return secret{digest: d}, nil
		}
	}
	return secret{}, fmt.Errorf("sha256: value is not a SHA-256 digest in base64 or hex")
}

func (s secret) set() bool { return s.plain != nil || s.digest != nil }

func (s secret) matches(given string) bool {
	if s.digest != nil {
		sum := sha256.Sum256([]byte(given))
		return subtle.ConstantTimeCompare(sum[:], s.digest) == 1
	}
	return subtle.ConstantTimeCompare([]byte(given), s.plain) == 1
}

type pathPattern struct{ re *regexp.Regexp }

func (p pathPattern) match(name string) bool { return p.re.MatchString(name) }

// globRegexp turns a pattern where * matches any run of characters
// (slashes included: stream names may hold them) and ? one character
// into an anchored regular expression.
func globRegexp(glob string) *regexp.Regexp {
	expr := regexp.QuoteMeta(glob)
	expr = strings.ReplaceAll(expr, `\*`, ".*")
	expr = strings.ReplaceAll(expr, `\?`, ".")
	return regexp.MustCompile("^" + expr + "$")
}

// Compile checks and compiles a user list. Errors name the entry
// (1-based, as a person counts [[auth.users]] tables) and the field.
func Compile(users []User) (*Rules, error) {
	r := &Rules{}
	for i, u := range users {
		c, err := compileUser(u)
		if err != nil {
			return nil, fmt.Errorf("auth.users entry %d: %w", i+1, err)
		}
		r.users = append(r.users, c)
	}
	return r, nil
}

func compileUser(u User) (rule, error) {
	c := rule{user: u.User, actions: map[Action]bool{}}
	if (u.User == "") != (u.Pass == "") {
		return c, fmt.Errorf("user and pass go together")
	}
	if u.User != "" && u.Token != "" {
		return c, fmt.Errorf("give user and pass, or token, not both")
	}
	var err error
	if u.Pass != "" {
		if c.pass, err = parseSecret(u.Pass); err != nil {
			return c, fmt.Errorf("pass: %w", err)
		}
	}
	if u.Token != "" {
		if c.token, err = parseSecret(u.Token); err != nil {
			return c, fmt.Errorf("token: %w", err)
		}
	}
	if c.ips, err = access.ParseIPRanges(strings.Join(u.IPs, ",")); err != nil {
		return c, fmt.Errorf("ips: %w", err)
	}
	if len(u.Actions) == 0 {
		return c, fmt.Errorf("actions: none given (publish, play, api)")
	}
	for _, a := range u.Actions {
		switch act := Action(strings.ToLower(strings.TrimSpace(a))); act {
		case ActionPublish, ActionPlay, ActionAPI:
			c.actions[act] = true
		default:
			return c, fmt.Errorf("actions: %q is not publish, play or api", a)
		}
	}
	if c.actions[ActionAPI] && u.User == "" && u.Token == "" {
		// Any web page a visitor on an allowed address opens could make
		// its browser call the API (an <img> GET carries no Origin):
		// API rights need a credential a page cannot know.
		return c, fmt.Errorf("actions: api needs user and pass, or token")
	}
	for _, p := range u.Paths {
		if expr, ok := strings.CutPrefix(p, "~"); ok {
			re, err := regexp.Compile(expr)
			if err != nil {
				return c, fmt.Errorf("paths: %q: %w", p, err)
			}
			c.paths = append(c.paths, pathPattern{re: re})
			continue
		}
		c.paths = append(c.paths, pathPattern{re: globRegexp(strings.Trim(p, "/"))})
	}
	return c, nil
}

// Enabled reports whether there are rules to apply.
func (r *Rules) Enabled() bool { return r != nil && len(r.users) > 0 }

// Grants reports whether some user whose credentials match may do action
// on stream name ("APP/STREAM"; "" for the API) from addr.
func (r *Rules) Grants(action Action, name string, cred Credentials, addr netip.Addr) bool {
	if !r.Enabled() {
		return false
	}
	for _, u := range r.users {
		if u.actions[action] && u.allowsIP(addr) && u.allowsPath(name) && u.matches(cred) {
			return true
		}
	}
	return false
}

// Allow is Grants when rules are enabled, and true when they are off.
func (r *Rules) Allow(action Action, name string, cred Credentials, addr netip.Addr) bool {
	return !r.Enabled() || r.Grants(action, name, cred, addr)
}

func (u rule) allowsIP(a netip.Addr) bool { return len(u.ips) == 0 || u.ips.Contains(a) }

func (u rule) allowsPath(name string) bool {
	if len(u.paths) == 0 {
		return true
	}
	for _, p := range u.paths {
		if p.match(name) {
			return true
		}
	}
	return false
}

func (u rule) matches(c Credentials) bool {
	switch {
	case u.token.set():
		return c.Token != "" && u.token.matches(c.Token)
	case u.user != "":
		// Evaluate both comparisons so timing does not tell which failed.
		userOK := subtle.ConstantTimeCompare([]byte(c.User), []byte(u.user)) == 1
		passOK := u.pass.matches(c.Pass)
		return userOK && passOK
	}
	return true // an entry for anyone
}
