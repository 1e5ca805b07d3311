package config

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/mediakit/mediakit/pkg/auth"
)

// Auth is the built-in authorisation: [[auth.users]] tables in the file.
// It has no flag, environment variable or API key: it holds passwords,
// and the API must not be able to grant itself rights.
type Auth struct {
	// Users is never modified after loading, so a Clone may share it.
	Users []auth.User
}

// Rules compiles the users; nil rules (authorisation off) when there are
// none.
func (a *Auth) Rules() (*auth.Rules, error) {
	if len(a.Users) == 0 {
		return nil, nil
	}
	return auth.Compile(a.Users)
}

// authFile is the part of the file holding the user list.
type authFile struct {
	Auth struct {
		Users []auth.User `toml:"users"`
	} `toml:"auth"`
}

// applyAuthTOML reads [[auth.users]] from a TOML document.
func (c *Config) applyAuthTOML(data []byte) error {
	var f authFile
	if err := toml.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("auth.users: %w", err)
	}
	c.Auth.Users = f.Auth.Users
	return nil
}

// hiddenNote replaces a secret in printed configuration.
const hiddenNote = "hidden; mediakit serve --print-config --show-secrets prints it"

// writeAuthTOML writes the user list; passwords and tokens only with
// showSecrets, else as comments, so a printed file that is loaded again
// fails validation ("user and pass go together") instead of granting
// rights without a password.
func (a *Auth) writeAuthTOML(b *strings.Builder, showSecrets bool) {
	for _, u := range a.Users {
		b.WriteString("\n[[auth.users]]\n")
		str := func(key, v string, secret bool) {
			switch {
			case v == "":
			case secret && !showSecrets:
				fmt.Fprintf(b, "# %s = (%s)\n", key, hiddenNote)
			default:
				fmt.Fprintf(b, "%s = %s\n", key, tomlQuote(v))
			}
		}
		list := func(key string, vs []string) {
			if len(vs) == 0 {
				return
			}
			q := make([]string, len(vs))
			for i, v := range vs {
				q[i] = tomlQuote(v)
			}
			fmt.Fprintf(b, "%s = [%s]\n", key, strings.Join(q, ", "))
		}
		str("user", u.User, false)
		str("pass", u.Pass, true)
		str("token", u.Token, true)
		list("ips", u.IPs)
		list("actions", u.Actions)
		list("paths", u.Paths)
	}
}
