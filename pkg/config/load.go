package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"

	"github.com/mediakit/mediakit/pkg/access"
)

// RegisterFlags adds a flag for every setting that has one, with the
// built-in default shown in help.
func RegisterFlags(fs *pflag.FlagSet) {
	def := Default()
	for _, s := range settings {
		if s.Flag == "" {
			continue
		}
		usage := s.Usage + " (" + s.Env() + ", " + s.Key + ")"
		switch p := s.field(def).(type) {
		case *string:
			fs.String(s.Flag, *p, usage)
		case *bool:
			fs.Bool(s.Flag, *p, usage)
		case *int64:
			fs.Int64(s.Flag, *p, usage)
		case *time.Duration:
			fs.Duration(s.Flag, *p, usage)
		}
	}
}

// Load builds the effective configuration: defaults, then the TOML file
// at path (if any), then the environment, then flags that were set.
// Unknown keys in the file are returned as warnings, not errors, so a
// config shared with a newer version still loads.
func Load(fs *pflag.FlagSet, getenv func(string) string, path string) (*Config, []string, error) {
	return LoadWithSaved(fs, getenv, path, nil)
}

// LoadWithSaved is Load with the settings saved through the API
// (setServerConfig) applied between the file and the environment:
// flag > env > saved > file > default. A saved value that no longer
// parses is skipped with a warning.
func LoadWithSaved(fs *pflag.FlagSet, getenv func(string) string, path string, saved map[string]string) (*Config, []string, error) {
	c := Default()
	var warnings []string
	if path != "" {
		data, err := readConfigFile(path)
		if err != nil {
			return nil, nil, err
		}
		warnings, err = c.applyTOML(data)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	savedKeys := make([]string, 0, len(saved))
	for k := range saved {
		savedKeys = append(savedKeys, k)
	}
	sort.Strings(savedKeys)
	beforeSaved := map[string]string{} // confined keys the saved settings set
	for _, k := range savedKeys {
		s, ok := Lookup(k)
		if !ok || s.Restart {
			continue
		}
		before := format(s, s.field(c))
		if err := s.set(c, saved[k]); err != nil {
			warnings = append(warnings, fmt.Sprintf("ignored saved setting %s: %v", k, err))
			continue
		}
		if s.Confined {
			beforeSaved[k] = before
		}
	}
	for _, s := range settings {
		env := s.Env()
		if env == "" || getenv == nil {
			continue
		}
		if v, ok := lookupEnv(getenv, env); ok {
			if err := s.setFlag(c, v); err != nil {
				return nil, nil, fmt.Errorf("config: %s: %w", env, err)
			}
		}
	}
	if fs != nil {
		for _, s := range settings {
			if s.Flag == "" || !fs.Changed(s.Flag) {
				continue
			}
			if err := s.setFlag(c, fs.Lookup(s.Flag).Value.String()); err != nil {
				return nil, nil, fmt.Errorf("config: --%s: %w", s.Flag, err)
			}
		}
	}
	warnings = append(warnings, c.reconfine(beforeSaved)...)
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return c, warnings, nil
}

// reconfine checks again the paths that settings saved through the API
// set: the data dir or record.allow_paths may have changed since, and a
// path the API could not set today must not come back from the store.
// Such a value is dropped for the one it replaced.
func (c *Config) reconfine(beforeSaved map[string]string) []string {
	if len(beforeSaved) == 0 {
		return nil
	}
	var warnings []string
	guard, err := access.NewPathGuard(c.General.DataDir, c.Record.AllowPathList())
	keys := make([]string, 0, len(beforeSaved))
	for k := range beforeSaved {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, _ := Lookup(k)
		v := format(s, s.field(c))
		if v == "" {
			continue
		}
		cerr := err
		if cerr == nil {
			_, cerr = guard.Confine(v)
		}
		if cerr != nil {
			_ = s.set(c, beforeSaved[k])
			warnings = append(warnings, fmt.Sprintf("ignored saved setting %s: %v", k, cerr))
		}
	}
	return warnings
}

// readConfigFile reads at most MaxConfigSize+1 bytes, so a huge or
// endless file (a device, a FIFO) is refused without being read whole,
// and checks nesting before the TOML decoder recurses into it.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if err := checkTOML(data); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return data, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// applyTOML sets every known key of a TOML document.
func (c *Config) applyTOML(data []byte) ([]string, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("line %d column %d: %s", row, col, de.Error())
		}
		return nil, err
	}
	var warnings []string
	secNames := make([]string, 0, len(doc))
	for k := range doc {
		secNames = append(secNames, k)
	}
	sort.Strings(secNames)
	for _, sec := range secNames {
		if sec == "auth" {
			if err := c.applyAuthTOML(data); err != nil {
				return nil, err
			}
			for k := range doc[sec].(map[string]any) {
				if k != "users" {
					warnings = append(warnings, fmt.Sprintf("ignored unknown key %q", "auth."+k))
				}
			}
			continue
		}
		table, ok := doc[sec].(map[string]any)
		if !ok {
			warnings = append(warnings, fmt.Sprintf("ignored top-level key %q: settings live in sections", sec))
			continue
		}
		keys := make([]string, 0, len(table))
		for k := range table {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			key := sec + "." + k
			s, ok := Lookup(key)
			if !ok && sec == "ffmpeg" && strings.HasPrefix(k, TemplatePrefix) {
				tmpl, isString := table[k].(string)
				if !isString {
					return nil, fmt.Errorf("%s: a command template must be a string, not %T", key, table[k])
				}
				if !templateName.MatchString(k) {
					// WriteTOML writes the name as a bare key.
					return nil, fmt.Errorf("%s: a template name is letters, digits, _ and - only", key)
				}
				if c.FFmpeg.Templates == nil {
					c.FFmpeg.Templates = map[string]string{}
				}
				c.FFmpeg.Templates[k] = tmpl
				continue
			}
			if !ok {
				warnings = append(warnings, fmt.Sprintf("ignored unknown key %q", key))
				continue
			}
			var text string
			switch v := table[k].(type) {
			case string:
				text = v
			case int64:
				text = strconv.FormatInt(v, 10)
			case float64:
				text = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				text = strconv.FormatBool(v)
			default:
				return nil, fmt.Errorf("%s: unsupported value of type %T", key, v)
			}
			if err := s.set(c, text); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	return warnings, nil
}

// WriteTOML writes c as a TOML file. With showSecrets Load reads it back
// unchanged; without, secrets (api.secret, passwords) are left out as
// comments, so the output can be shown or shared.
func (c *Config) WriteTOML(w io.Writer, showSecrets bool) error {
	var b strings.Builder
	for i, sec := range sections() {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n", sec)
		for _, s := range settings {
			secName, key, _ := strings.Cut(s.Key, ".")
			if secName != sec {
				continue
			}
			fmt.Fprintf(&b, "# %s\n", s.Usage)
			v := s.field(c)
			text := format(s, v)
			if s.Secret && text != "" && !showSecrets {
				fmt.Fprintf(&b, "# %s = (%s)\n", key, hiddenNote)
				continue
			}
			switch v.(type) {
			case *bool, *int64:
			case *time.Duration:
				if _, err := strconv.ParseInt(text, 10, 64); err != nil {
					text = tomlQuote(text)
				}
			default:
				text = tomlQuote(text)
			}
			fmt.Fprintf(&b, "%s = %s\n", key, text)
		}
		if sec == "ffmpeg" {
			c.FFmpeg.writeTemplates(&b)
		}
	}
	c.Auth.writeAuthTOML(&b, showSecrets)
	_, err := io.WriteString(w, b.String())
	return err
}

// tomlQuote writes s as a TOML basic string. strconv.Quote is not enough:
// TOML has no \x, \a or \v escapes.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r) // invalid UTF-8 becomes U+FFFD
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// templateName is what a template's key may be: a bare TOML key.
var templateName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (f *FFmpeg) writeTemplates(b *strings.Builder) {
	names := make([]string, 0, len(f.Templates))
	for name := range f.Templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(b, "# command template for ffmpeg_cmd_key=ffmpeg.%s\n%s = %s\n", name, name, tomlQuote(f.Templates[name]))
	}
}
