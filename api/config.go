package api

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults and limits of Config.
const (
	// DefaultListen is the public listener's address: loopback, so a
	// gateway started with no configuration exposes nothing.
	DefaultListen = "127.0.0.1:8080"
	// DefaultFormTokenTTL is how long a form token is good for: an agent's
	// payment takes minutes (session.MaxSessionTimeout is an hour).
	DefaultFormTokenTTL = time.Hour
	// MinFormTokenTTL and MaxFormTokenTTL bound FormTokenTTL.
	MinFormTokenTTL = time.Minute
	MaxFormTokenTTL = 24 * time.Hour
	// MinFormTokenSecret is the shortest FormTokenSecret accepted, in
	// bytes: an HMAC key shorter than this is guessable.
	MinFormTokenSecret = 32
	// MaxAPIKeys bounds APIKeys; each request is compared with every key.
	MaxAPIKeys = 64
	// MinAPIKeyLen is the shortest API key accepted.
	MinAPIKeyLen = 16
)

// Config is the "http:" section of the configuration file: the public
// listener that serves the JSON API under /v1/ and the agent form under
// /form/. Start from DefaultConfig, decode over it, then Validate; error
// messages name the key ("http.listen: ...").
type Config struct {
	// Listen is the public listener's address, host:port.
	Listen string `yaml:"listen"`
	// PublicURL is how clients reach the listener (behind a proxy, say):
	// the base of the form URLs handed out. Empty: "http://" + Listen
	// ("https://" with TLS).
	PublicURL string `yaml:"public_url"`
	// APIKeys are the bearer keys back-end clients authenticate with.
	// None: every /v1 request that needs one is refused
	// (no_api_key_configured).
	APIKeys []string `yaml:"api_keys"`
	// FormTokenTTL is how long a form token (one payment's) is valid.
	FormTokenTTL time.Duration `yaml:"form_token_ttl"`
	// FormTokenSecret is the HMAC key of form tokens. Empty: a random one
	// per start, so tokens die with the process; several nodes behind one
	// balancer must share one.
	FormTokenSecret string `yaml:"form_token_secret"`
	// TLS serves HTTPS when both files are given.
	TLS TLSConfig `yaml:"tls"`
	// FrameAncestors are who may show the agent form in a frame (the
	// CSP frame-ancestors sources, CSP Level 3 §7.7.3): "*" (the
	// default: an agent desktop of any origin), "'self'", "'none'", a
	// scheme or host source ("https://desk.example.com").
	FrameAncestors []string `yaml:"frame_ancestors"`
}

// TLSConfig names the public listener's certificate: both or neither.
// The files are read once, at start (Load); the listener then speaks
// TLS 1.2 and later only (MinTLSVersion).
type TLSConfig struct {
	// CertFile is the PEM certificate chain, KeyFile its private key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// DefaultConfig returns the section as `make run` uses it: loopback port
// 8080, no keys (serve generates one), one-hour form tokens, a random
// token secret, no TLS.
func DefaultConfig() Config {
	return Config{Listen: DefaultListen, FormTokenTTL: DefaultFormTokenTTL, FrameAncestors: slices.Clone(DefaultFrameAncestors)}
}

// ErrConfig is wrapped by Validate's errors.
var ErrConfig = errors.New("api: bad http configuration")

// Validate reports every unusable setting, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: http.%s: %s", ErrConfig, key, fmt.Sprintf(format, args...)))
	}
	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "not host:port")
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.ContainsAny(host, " /") {
		bad("listen", "not host:port")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			bad("public_url", "not an http or https URL")
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			bad("public_url", "must be a base URL without user, query or fragment")
		}
	}
	if len(c.APIKeys) > MaxAPIKeys {
		bad("api_keys", "at most %d keys", MaxAPIKeys)
	}
	for i, k := range c.APIKeys {
		// The key itself is never part of the message.
		if len(k) < MinAPIKeyLen || !printableASCII(k) {
			bad(fmt.Sprintf("api_keys[%d]", i), "at least %d printable ASCII characters, no spaces", MinAPIKeyLen)
		}
	}
	if c.FormTokenTTL < MinFormTokenTTL || c.FormTokenTTL > MaxFormTokenTTL {
		bad("form_token_ttl", "%v outside %v … %v", c.FormTokenTTL, MinFormTokenTTL, MaxFormTokenTTL)
	}
	if c.FormTokenSecret != "" && len(c.FormTokenSecret) < MinFormTokenSecret {
		bad("form_token_secret", "at least %d bytes", MinFormTokenSecret)
	}
	if err := ValidateFrameAncestors(c.FrameAncestors); err != nil {
		bad("frame_ancestors", "%v", err)
	}
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		bad("tls.key_file", "required with http.tls.cert_file")
	case c.TLS.KeyFile != "" && c.TLS.CertFile == "":
		bad("tls.cert_file", "required with http.tls.key_file")
	}
	return errors.Join(errs...)
}

// publicBase is the base of form URLs, without a trailing slash.
// PublicBase is the public URL of the listener, without a trailing
// slash: http.public_url, or the listener's address.
func (c Config) PublicBase() string { return c.publicBase() }

func (c Config) publicBase() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	if c.TLS.Enabled() {
		return "https://" + c.Listen
	}
	return "http://" + c.Listen
}

// printableASCII reports whether s is visible ASCII without spaces: what
// a bearer token may hold (RFC 6750 §2.1 allows fewer still).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
