package sms

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"dtmfgw/internal/outbound"
)

// Config is the "sms:" section of the configuration file:
//
//	sms:
//	  provider: twilio        # or outbox, the default
//	  twilio:
//	    account_sid: AC0123456789abcdef0123456789abcdef
//	    auth_token_env: TWILIO_AUTH_TOKEN
//	    from: "+447700900000"
//	    timeout: 10s
//
// Resolve it (the token from the environment), then Validate it, then
// build its provider with New.
type Config struct {
	// Provider is "outbox" (the default when empty) or "twilio".
	Provider string `yaml:"provider" json:"provider"`
	// Twilio is the Twilio provider's configuration, read when Provider
	// is "twilio".
	Twilio TwilioConfig `yaml:"twilio" json:"twilio"`
}

// TwilioName is the Twilio provider's name.
const TwilioName = "twilio"

// Resolve reads the secrets the configuration names from the
// environment, through getenv (os.Getenv in the gateway, a map in
// tests).
func (c *Config) Resolve(getenv func(string) string) error {
	if c.Provider != TwilioName {
		return nil
	}
	return c.Twilio.Resolve(getenv)
}

// Validate checks the section and returns every problem joined, each
// naming its key ("sms.twilio.account_sid: …"), or nil.
func (c Config) Validate() error {
	switch c.Provider {
	case "", OutboxName:
		return nil
	case TwilioName:
		return c.Twilio.Validate()
	}
	return fmt.Errorf("%w: sms.provider: %q is not outbox or twilio", ErrConfig, clip(c.Provider, 32))
}

// New builds the provider c configures: an Outbox (NewOutbox) or Twilio
// (NewTwilio). c must be resolved.
func New(c Config, opts ...Option) (Provider, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Provider == TwilioName {
		return NewTwilio(c.Twilio, opts...)
	}
	return NewOutbox(opts...)
}

// Defaults and limits of TwilioConfig.
const (
	// DefaultTwilioBaseURL is Twilio's REST API.
	DefaultTwilioBaseURL = "https://api.twilio.com"
	// DefaultTwilioTimeout bounds one request to Twilio: it answers a
	// message create in well under a second; a caller waits for the
	// link on the phone.
	DefaultTwilioTimeout = 10 * time.Second
	// MinTwilioTimeout and MaxTwilioTimeout bound Timeout: shorter is a
	// typo, longer keeps a Sender from its other messages.
	MinTwilioTimeout = time.Second
	MaxTwilioTimeout = 2 * time.Minute
)

// TwilioConfig is the "sms.twilio" section. Twilio authenticates with
// HTTP Basic auth: the account SID and its auth token, or an API key SID
// (APIKeySID) and the key's secret in AuthToken.
type TwilioConfig struct {
	// BaseURL replaces DefaultTwilioBaseURL, for a test server. Plain
	// http is accepted only for a loopback host: the credentials go in
	// every request.
	BaseURL string `yaml:"base_url,omitempty" json:"base_url,omitempty"`
	// AccountSID is the account's SID ("AC" and 32 hex digits): it is in
	// every request's path, and the Basic auth user without APIKeySID.
	AccountSID string `yaml:"account_sid" json:"account_sid"`
	// APIKeySID, optional, is an API key's SID ("SK" and 32 hex digits),
	// then the Basic auth user, with the key's secret in AuthToken.
	APIKeySID string `yaml:"api_key_sid,omitempty" json:"api_key_sid,omitempty"`
	// AuthToken is the auth token (or the API key's secret). Resolve
	// reads it from the variable AuthTokenEnv names; it prints, logs and
	// marshals as "[redacted]".
	AuthToken Secret `yaml:"auth_token,omitempty" json:"auth_token,omitempty"`
	// AuthTokenEnv names the environment variable that holds AuthToken,
	// which keeps it out of the file.
	AuthTokenEnv string `yaml:"auth_token_env,omitempty" json:"auth_token_env,omitempty"`
	// From is the sender: a Twilio number in E.164 form, a short code,
	// or an alphanumeric sender id. From, MessagingServiceSID or both.
	From string `yaml:"from,omitempty" json:"from,omitempty"`
	// MessagingServiceSID is a Messaging Service's SID ("MG" and 32 hex
	// digits), which chooses the sender.
	MessagingServiceSID string `yaml:"messaging_service_sid,omitempty" json:"messaging_service_sid,omitempty"`
	// Timeout bounds each request; zero means DefaultTwilioTimeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Resolve sets AuthToken from the variable AuthTokenEnv names, read with
// getenv. Nothing is read when AuthTokenEnv is empty. The error names the
// variable, never its value.
func (c *TwilioConfig) Resolve(getenv func(string) string) error {
	if c.AuthTokenEnv == "" {
		return nil
	}
	if c.AuthToken != "" {
		return fmt.Errorf("%w: sms.twilio.auth_token: set together with auth_token_env; choose one", ErrConfig)
	}
	if !envName(c.AuthTokenEnv) {
		return fmt.Errorf("%w: sms.twilio.auth_token_env: not an environment variable name (A-Z a-z 0-9 _, not starting with a digit)", ErrConfig)
	}
	v := getenv(c.AuthTokenEnv)
	if v == "" {
		return fmt.Errorf("%w: sms.twilio.auth_token_env: %s is not set", ErrConfig, c.AuthTokenEnv)
	}
	c.AuthToken = Secret(v)
	return nil
}

func envName(s string) bool {
	if s == "" || len(s) > 128 || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// withDefaults fills the zero values that mean "the default".
func (c TwilioConfig) withDefaults() TwilioConfig {
	if c.BaseURL == "" {
		c.BaseURL = DefaultTwilioBaseURL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTwilioTimeout
	}
	return c
}

// Validate checks a resolved configuration and returns every problem
// joined, each naming its key ("sms.twilio.from: …"), or nil. No error
// quotes the auth token.
func (c TwilioConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: sms.twilio.%s: %s", ErrConfig, key, fmt.Sprintf(format, args...)))
	}
	if err := checkBaseURL(c.BaseURL); err != nil {
		bad("base_url", "%v", err)
	}
	if !twilioSID(c.AccountSID, "AC") {
		bad("account_sid", "not an account SID (AC and 32 hex digits)")
	}
	if c.APIKeySID != "" && !twilioSID(c.APIKeySID, "SK") {
		bad("api_key_sid", "not an API key SID (SK and 32 hex digits)")
	}
	switch {
	case c.AuthToken == "" && c.AuthTokenEnv != "":
		bad("auth_token_env", "not resolved (Config.Resolve reads it)")
	case c.AuthToken == "":
		bad("auth_token", "missing (set auth_token_env to the variable that holds it)")
	case string(c.AuthToken) == outbound.Redacted:
		bad("auth_token", "holds the redaction mark, not a token (a configuration written out and read back?)")
	case !tokenChars(string(c.AuthToken)):
		bad("auth_token", "contains spaces, control or non-ASCII characters")
	}
	if c.From == "" && c.MessagingServiceSID == "" {
		bad("from", "missing (or messaging_service_sid)")
	}
	if c.From != "" && !validSender(c.From) {
		bad("from", "not an E.164 number, a short code (3 to 8 digits) or an alphanumeric sender id (1 to 11 letters, digits and spaces, one letter at least)")
	}
	if c.MessagingServiceSID != "" && !twilioSID(c.MessagingServiceSID, "MG") {
		bad("messaging_service_sid", "not a Messaging Service SID (MG and 32 hex digits)")
	}
	if c.Timeout < MinTwilioTimeout || c.Timeout > MaxTwilioTimeout {
		bad("timeout", "%v is outside %v..%v", c.Timeout, MinTwilioTimeout, MaxTwilioTimeout)
	}
	return errors.Join(errs...)
}

// twilioSID reports whether s is a Twilio SID of the kind prefix names:
// the two letters, then 32 hex digits.
func twilioSID(s, prefix string) bool {
	if len(s) != 34 || s[:2] != prefix {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// tokenChars accepts a credential that can go into a Basic auth header:
// printable ASCII without spaces.
func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validSender accepts what Twilio takes as From for SMS: an E.164
// number, a short code, or an alphanumeric sender id.
func validSender(s string) bool {
	if ValidE164(s) {
		return true
	}
	if len(s) < 1 || len(s) > 11 {
		return false
	}
	digits, letters := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			digits++
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			letters++
		case c == ' ':
		default:
			return false
		}
	}
	if letters == 0 {
		return digits == len(s) && digits >= 3 && digits <= 8 // a short code
	}
	return s[0] != ' ' && s[len(s)-1] != ' '
}

// checkBaseURL accepts an absolute http(s) URL without user, query or
// fragment; plain http only for a loopback host.
func checkBaseURL(raw string) error { return outbound.CheckBaseURL(raw, "the credentials") }

// Secret is a configuration value that must not be printed: it formats
// as "[redacted]" with every fmt verb, in slog, and in JSON and YAML.
type Secret = outbound.Secret

// String prints the configuration with the auth token redacted (the
// field's own formatting does it; this says so where a reader looks).
func (c TwilioConfig) String() string {
	return fmt.Sprintf("twilio(account_sid=%s from=%q messaging_service_sid=%s auth_token=%s base_url=%s timeout=%v)",
		c.AccountSID, c.From, c.MessagingServiceSID, c.AuthToken, c.BaseURL, c.Timeout)
}

// trimSlash drops a base URL's trailing slashes, so that paths join.
func trimSlash(s string) string { return strings.TrimRight(s, "/") }

// clip cuts s to n bytes at a character boundary, for names quoted in
// errors.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
