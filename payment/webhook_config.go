package payment

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Limits of WebhookConfig.
const (
	// MinWebhookSecret is the shortest webhook secret accepted, in bytes:
	// 128 bits, so an HMAC key cannot be guessed.
	MinWebhookSecret = 16
	// maxWebhookSecret and maxWebhookURL bound what the file may give.
	maxWebhookSecret = 1024
	maxWebhookURL    = 2048
)

// Secret is a string that never shows itself: it prints, logs and
// marshals as "[redacted]". Its value is read with Reveal, where it is
// used (a webhook's HMAC key).
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() []byte { return []byte(s) }

// String returns "[redacted]" (empty for an empty secret).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns what String does, for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue keeps the secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText writes "[redacted]", so that no encoder that finds a Secret
// (JSON, YAML, a debug dump) can write its value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the secret's value as it is (the configuration
// file).
func (s *Secret) UnmarshalText(t []byte) error {
	*s = Secret(t)
	return nil
}

// WebhookFormat is the vocabulary a webhook's deliveries are written in.
type WebhookFormat string

// The webhook formats.
const (
	// FormatDTMFGW is dtmfgw's own: signed JSON documents, payment.result
	// and payment.progress (docs/webhooks.md). The default.
	FormatDTMFGW WebhookFormat = "dtmfgw"
	// FormatCompatible is form-urlencoded callbacks named and valued as
	// the keypad payment verb of the best-known programmable-voice
	// platform names its status callbacks (Capture, PartialResult,
	// Required, ErrorType, Result, …), which many CRM integrations already
	// parse; still signed with Dtmfgw-Signature and delivered from the
	// same outbox. Its final result replaces the JSON payment.result.
	FormatCompatible WebhookFormat = "compatible"
)

// WebhookConfig is where a configuration's payment results, and on
// request its progress, are sent (package webhook): an HTTPS (or HTTP)
// URL that receives signed POSTs.
type WebhookConfig struct {
	// URL is the receiver: absolute, http or https, without user info
	// (credentials belong in the secret, not in a URL that is shown by
	// GET /v1/configurations) or fragment.
	URL string `yaml:"url" json:"url"`
	// Secret is the HMAC-SHA256 key of the Dtmfgw-Signature header, at
	// least MinWebhookSecret bytes. It is never shown: not in JSON, logs
	// or errors.
	Secret Secret `yaml:"secret" json:"-"`
	// Progress sends payment.progress webhooks too (best-effort), not
	// only payment.result.
	Progress bool `yaml:"progress" json:"progress"`
	// Events limits the progress webhooks to these event types
	// ("field_length", "state", …); empty means every type but
	// "remaining", which only counts down.
	Events []EventType `yaml:"events" json:"events,omitempty"`
	// Format is the vocabulary of the deliveries: FormatDTMFGW (empty
	// means it) or FormatCompatible.
	Format WebhookFormat `yaml:"format" json:"format,omitempty"`
}

// Enabled reports whether a webhook is configured.
func (w WebhookConfig) Enabled() bool { return w.URL != "" }

// Compatible reports whether the deliveries are in FormatCompatible.
func (w WebhookConfig) Compatible() bool { return w.Enabled() && w.Format == FormatCompatible }

// SendsProgress reports whether a progress event of type t is sent.
func (w WebhookConfig) SendsProgress(t EventType) bool {
	if !w.Enabled() || !w.Progress {
		return false
	}
	if len(w.Events) == 0 {
		return t != EventRemaining
	}
	for _, e := range w.Events {
		if e == t {
			return true
		}
	}
	return false
}

// validate checks the webhook; bad names the key of a problem.
func (w WebhookConfig) validate(bad func(key, format string, args ...any) error) error {
	switch w.Format {
	case "", FormatDTMFGW, FormatCompatible:
	default:
		// Not quoted: the value is the file's, and no text of a
		// configuration is echoed unchecked.
		return bad("webhook.format", "unknown format: want dtmfgw or compatible")
	}
	if !w.Enabled() {
		switch {
		case w.Format == FormatCompatible:
			return bad("webhook.format", "compatible only with a webhook url")
		case w.Secret != "":
			return bad("webhook.url", "required with a secret")
		case w.Progress || len(w.Events) > 0:
			return bad("webhook.url", "required with progress or events")
		}
		return nil
	}
	if err := checkWebhookURL(w.URL); err != nil {
		return bad("webhook.url", "%v", err)
	}
	switch n := len(w.Secret); {
	case n == 0:
		return bad("webhook.secret", "required: at least %d bytes (e.g. openssl rand -hex 32)", MinWebhookSecret)
	case n < MinWebhookSecret:
		return bad("webhook.secret", "%d bytes, at least %d (e.g. openssl rand -hex 32)", n, MinWebhookSecret)
	case n > maxWebhookSecret:
		return bad("webhook.secret", "%d bytes, at most %d", n, maxWebhookSecret)
	}
	if len(w.Events) > 0 && !w.Progress {
		return bad("webhook.events", "only with progress: true")
	}
	for i, e := range w.Events {
		if e == 0 || e >= numEventTypes {
			return bad(fmt.Sprintf("webhook.events[%d]", i), "unknown event type")
		}
	}
	return nil
}

// checkWebhookURL accepts an absolute http or https URL with a host, no
// user info and no fragment. The URL is never echoed: it may carry a
// token in its query.
func checkWebhookURL(s string) error {
	if len(s) > maxWebhookURL {
		return fmt.Errorf("%d bytes, at most %d", len(s), maxWebhookURL)
	}
	if hasControl(s) || strings.ContainsAny(s, " ") {
		return errors.New("holds a space or a control character")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an absolute http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("user info in the URL: put no credentials there (the secret signs every request)")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("a fragment is never sent: leave it out")
	}
	return nil
}
