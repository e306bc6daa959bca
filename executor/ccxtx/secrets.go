package ccxtx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/warden-trading/warden/agent/redact"
)

// Redacted replaces a secret wherever Warden prints one.
const Redacted = redact.Mask

// Credentials are an exchange API key and secret. They never print: String,
// GoString, MarshalJSON and LogValue all redact, so a Credentials value that
// reaches a log line, an error or a JSON document shows nothing secret.
type Credentials struct {
	apiKey string
	secret string
	// Created is the key's creation date when the key file gives one.
	Created time.Time
}

// NewCredentials wraps an API key and secret.
func NewCredentials(apiKey, secret string) Credentials {
	return Credentials{apiKey: apiKey, secret: secret}
}

// IsZero reports whether no key is set.
func (c Credentials) IsZero() bool { return c.apiKey == "" && c.secret == "" }

func (c Credentials) secretValues() []string {
	var out []string
	for _, s := range []string{c.apiKey, c.secret} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c Credentials) redactedFields() (key, secret string) {
	key, secret = "", ""
	if c.apiKey != "" {
		key = Redacted
	}
	if c.secret != "" {
		secret = Redacted
	}
	return key, secret
}

// Redact removes these credentials (and anything Redact recognises) from
// s, without handing the secrets out: give it to other stores and senders
// as their redaction hook (agent/audit's Options.Redact, notifiers).
func (c Credentials) Redact(s string) string { return Redact(s, c.secretValues()...) }

// AddTo registers these credentials with r, the process's one redactor,
// without handing the secrets out.
func (c Credentials) AddTo(r *redact.Redactor) { r.Add(c.secretValues()...) }

// String redacts.
func (c Credentials) String() string {
	k, s := c.redactedFields()
	return fmt.Sprintf("Credentials{api_key:%s secret:%s}", k, s)
}

// GoString redacts (for %#v).
func (c Credentials) GoString() string { return "ccxtx." + c.String() }

// MarshalJSON redacts.
func (c Credentials) MarshalJSON() ([]byte, error) {
	k, s := c.redactedFields()
	return json.Marshal(map[string]string{"api_key": k, "secret": s})
}

// LogValue redacts (log/slog).
func (c Credentials) LogValue() slog.Value {
	k, s := c.redactedFields()
	return slog.GroupValue(slog.String("api_key", k), slog.String("secret", s))
}

var _ slog.LogValuer = Credentials{}

// CredentialSource says where the API key comes from: the environment
// (APIKeyEnv and SecretEnv name the variables) or a file. Never from a
// policy, a prompt or the config file itself.
//
// The file must be owner-only (0600 or 0400) and holds YAML:
//
//	api_key: ...
//	secret: ...
//	created: 2026-01-31   # optional, the key's creation date
type CredentialSource struct {
	APIKeyEnv string
	SecretEnv string
	File      string
	// Getenv reads the environment; default os.Getenv.
	Getenv func(string) string
}

type keyFile struct {
	APIKey  string `yaml:"api_key"`
	Secret  string `yaml:"secret"`
	Created string `yaml:"created"`
}

// LoadCredentials reads a key and secret from src. It refuses a file that
// group or others can read, and a source that gives only half a key.
func LoadCredentials(src CredentialSource) (Credentials, error) {
	fromEnv := src.APIKeyEnv != "" || src.SecretEnv != ""
	switch {
	case fromEnv && src.File != "":
		return Credentials{}, errors.New("ccxtx: credentials: give either environment variables or a file, not both")
	case fromEnv:
		if src.APIKeyEnv == "" || src.SecretEnv == "" {
			return Credentials{}, errors.New("ccxtx: credentials: both the key and the secret variable must be named")
		}
		getenv := src.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		key, secret := strings.TrimSpace(getenv(src.APIKeyEnv)), strings.TrimSpace(getenv(src.SecretEnv))
		if key == "" || secret == "" {
			return Credentials{}, fmt.Errorf("ccxtx: credentials: environment variables %s and %s must both be set", src.APIKeyEnv, src.SecretEnv)
		}
		return NewCredentials(key, secret), nil
	case src.File != "":
		return loadKeyFile(src.File)
	}
	return Credentials{}, errors.New("ccxtx: credentials: no source configured")
}

func loadKeyFile(path string) (Credentials, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("ccxtx: credentials file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Credentials{}, fmt.Errorf("ccxtx: credentials file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("ccxtx: credentials file %s has permissions %04o; want 0600 (chmod 600 %s)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("ccxtx: credentials file: %w", err)
	}
	var kf keyFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&kf); err != nil {
		// the YAML error may quote the file's content: say where, not what
		return Credentials{}, fmt.Errorf("ccxtx: credentials file %s: not YAML with api_key, secret and optional created", path)
	}
	kf.APIKey, kf.Secret = strings.TrimSpace(kf.APIKey), strings.TrimSpace(kf.Secret)
	if kf.APIKey == "" || kf.Secret == "" {
		return Credentials{}, fmt.Errorf("ccxtx: credentials file %s: api_key and secret are both required", path)
	}
	c := NewCredentials(kf.APIKey, kf.Secret)
	if kf.Created != "" {
		t, err := time.Parse(time.DateOnly, kf.Created)
		if err != nil {
			return Credentials{}, fmt.Errorf("ccxtx: credentials file %s: created %q: want YYYY-MM-DD", path, kf.Created)
		}
		c.Created = t
	}
	return c, nil
}

// Redact removes secrets from s: every form of each given secret (see
// agent/redact), signature query parameters, the X-MBX-APIKEY header and
// key=value pairs that name a key, secret, password or token. Every error
// text built from ccxt's output passes through it.
func Redact(s string, secrets ...string) string {
	return redact.New(secrets...).String(s)
}
