// Package outbound holds what an outbound HTTPS client of ours (a payment
// processor's, an SMS provider's, the webhooks') is configured with: a base URL that
// keeps credentials and card data off the network in clear, and secrets
// that never print.
package outbound

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Redacted is what a Secret prints as.
const Redacted = "[redacted]"

// Secret is a configuration value that must not be printed: it formats
// as "[redacted]" with every fmt verb, in slog, and in JSON and YAML.
// Decoding is unaffected.
type Secret string

// String returns "[redacted]" ("" for an empty secret, so a missing one
// shows as missing).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString returns the String form quoted, for %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// Format writes the String form whatever the verb, so %x, %q or %d
// cannot print the value either.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' || verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue keeps the secret out of slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the secret out of JSON and YAML renderings of a
// configuration (slog's JSON handler included).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// CheckBaseURL accepts an absolute http(s) URL without user, query or
// fragment, and plain http only for a loopback host; what names what
// would cross the network in clear otherwise ("card data").
func CheckBaseURL(raw, what string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be scheme://host[:port][/path] without user, query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost(u.Hostname()) {
			return fmt.Errorf("plain http is accepted only for a loopback host (%s would cross the network in clear)", what)
		}
	default:
		return errors.New("scheme must be https (or http for a loopback host)")
	}
	return nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Options is what an outbound client is given besides its configuration,
// alike in processor and sms: where it logs, its clock, and the HTTP
// client it sends through.
type Options struct {
	Log        *slog.Logger
	Now        func() time.Time
	HTTPClient *http.Client
}

// SetDefaults fills in what was not given: a logger that discards, and
// time.Now. HTTPClient stays as given (Client copies it, or makes one).
func (o *Options) SetDefaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Client returns a copy of c (a client of its own when c is nil) that
// follows no redirect: the credentials, and the card data or the text a
// request carries, must not follow one elsewhere. The caller's client is
// not changed.
func Client(c *http.Client) *http.Client {
	hc := &http.Client{}
	if c != nil {
		cp := *c
		hc = &cp
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc
}
