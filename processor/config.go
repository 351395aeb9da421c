package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"dtmfgw/internal/outbound"
)

// Processor types (Config.Type).
const (
	// TypeSandbox is the built-in sandbox: documented test cards, no
	// money moves (sandbox.go).
	TypeSandbox = "sandbox"
	// TypeStripe is the Stripe API through its official Go client
	// (stripe.go).
	TypeStripe = "stripe"
	// TypeHTTP is the generic HTTP connector: the card as signed JSON to
	// an HTTPS endpoint the merchant or a card vault runs (httpconn.go).
	TypeHTTP = "http"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds one Charge or Reconcile: a caller on the
	// phone waits this long at most for an answer before the payment
	// becomes Unknown and is reconciled.
	DefaultTimeout = 30 * time.Second
	// DefaultMinDelay and DefaultMaxDelay bound the sandbox's answer
	// time, drawn uniformly for each call: about what a card network
	// takes to authorise.
	DefaultMinDelay = 300 * time.Millisecond
	DefaultMaxDelay = 800 * time.Millisecond
	// DefaultName is the name of the default (sandbox) processor.
	DefaultName = "sandbox"
)

// Limits of Config.Timeout: shorter is a typo (a card network needs
// hundreds of milliseconds), longer leaves a caller hanging.
const (
	MinTimeout = time.Second
	MaxTimeout = 10 * time.Minute
)

// ErrConfig is wrapped by Configs.Validate and New for an unusable
// configuration; the message names the key.
var ErrConfig = errors.New("processor: bad configuration")

// Config is one processor of the "processors:" section of the config
// file, under its name:
//
//	processors:
//	  sandbox: {type: sandbox}
//	  stripe-uk:
//	    type: stripe
//	    api_key_env: STRIPE_SECRET_KEY
//	    timeout: 20s
//	    moto: true
//
//	  vault:
//	    type: http
//	    url: https://pay.example.com/dtmfgw
//	    username: dtmfgw
//	    password_env: PAY_PASSWORD
//	    signing_secret_env: PAY_SIGNING_SECRET
//
// A zero Timeout means DefaultTimeout; zero MinDelay and MaxDelay mean
// the default delay (to make the sandbox answer at once, set max_delay
// to 1ms).
//
// The HTTP connector's keys are omitted from a rendering when empty, so
// that a printed sandbox or Stripe processor does not list a dozen keys
// it cannot take.
type Config struct {
	// Type is "sandbox", "stripe" or "http".
	Type string `yaml:"type"`
	// APIKey is the Stripe secret key (sk_…) or restricted key (rk_…).
	// Prefer APIKeyEnv, which keeps the key out of the file.
	APIKey Secret `yaml:"api_key"`
	// APIKeyEnv names the environment variable holding the API key.
	APIKeyEnv string `yaml:"api_key_env"`
	// BaseURL replaces Stripe's API address, for stripe-mock
	// ("http://127.0.0.1:12111"). Plain http is accepted only for a
	// loopback host: card data never crosses a network in clear.
	BaseURL string `yaml:"base_url"`
	// Timeout bounds each Charge and Reconcile.
	Timeout time.Duration `yaml:"timeout"`
	// MinDelay and MaxDelay bound the sandbox's answer time.
	MinDelay time.Duration `yaml:"min_delay"`
	MaxDelay time.Duration `yaml:"max_delay"`
	// MOTO marks Stripe charges as mail order / telephone order
	// (payment_method_options[card][moto]), which puts them outside
	// Strong Customer Authentication; the Stripe account must be enabled
	// for it.
	MOTO bool `yaml:"moto"`

	// URL is the HTTP connector's endpoint: https, or plain http for a
	// loopback host (tests, a receiver on the same machine).
	URL string `yaml:"url,omitempty"`
	// Username and Password (or PasswordEnv, the variable holding it)
	// are the connector's HTTP Basic credentials; BearerToken (or
	// BearerTokenEnv) is the alternative. Exactly one of the two is set.
	Username       string `yaml:"username,omitempty"`
	Password       Secret `yaml:"password,omitempty"`
	PasswordEnv    string `yaml:"password_env,omitempty"`
	BearerToken    Secret `yaml:"bearer_token,omitempty"`
	BearerTokenEnv string `yaml:"bearer_token_env,omitempty"`
	// SigningSecret (or SigningSecretEnv) keys the HMAC-SHA256 signature
	// of every connector request (Dtmfgw-Signature), at least
	// MinSigningSecretLen bytes.
	SigningSecret    Secret `yaml:"signing_secret,omitempty"`
	SigningSecretEnv string `yaml:"signing_secret_env,omitempty"`
	// TLSClientCert and TLSClientKey are PEM files of the certificate the
	// connector presents (mutual TLS), both or neither; TLSCA is a PEM
	// file of the certificates it trusts for the endpoint instead of the
	// system's. Read at start.
	TLSClientCert string `yaml:"tls_client_cert,omitempty"`
	TLSClientKey  string `yaml:"tls_client_key,omitempty"`
	TLSCA         string `yaml:"tls_ca,omitempty"`
}

// Secret is a configuration value that must not be printed: it formats
// as "[redacted]" in fmt, slog, JSON and YAML.
type Secret = outbound.Secret

// Configs is the "processors:" section: processors by name.
type Configs map[string]Config

// DefaultConfigs returns the processors dtmfgw has when nothing is
// configured: the sandbox, named "sandbox".
func DefaultConfigs() Configs {
	return Configs{DefaultName: {Type: TypeSandbox}}
}

// Names returns the processors' names, sorted.
func (c Configs) Names() []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Validate checks every processor and returns all problems joined, each
// naming its key ("processors.stripe-uk.api_key_env: STRIPE_KEY is not
// set"), or nil.
func (c Configs) Validate() error {
	var errs []error
	for _, name := range c.Names() {
		key := "processors." + name
		if err := validName(name); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrConfig, key, err))
			continue
		}
		if err := c[name].validate(key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// EnvNames returns the environment variables the processors name for
// their secrets (api_key_env, password_env, bearer_token_env,
// signing_secret_env), sorted, without repeats: the gateway accepts them
// in its DTMFGW_ namespace.
func (c Configs) EnvNames() []string {
	var names []string
	for _, p := range c {
		for _, n := range []string{p.APIKeyEnv, p.PasswordEnv, p.BearerTokenEnv, p.SigningSecretEnv} {
			if n != "" {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// validName accepts names that are safe as a log value and a metric
// label: 1-64 of a-z 0-9 "-" "_", starting with a letter.
func validName(name string) error {
	if name == "" || len(name) > 64 || !('a' <= name[0] && name[0] <= 'z') {
		return errors.New("name must be 1-64 characters of a-z 0-9 - _, starting with a letter")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return errors.New("name must be 1-64 characters of a-z 0-9 - _, starting with a letter")
		}
	}
	return nil
}

// withDefaults fills the zero values that mean "the default".
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Type == TypeSandbox && c.MinDelay == 0 && c.MaxDelay == 0 {
		c.MinDelay, c.MaxDelay = DefaultMinDelay, DefaultMaxDelay
	}
	return c
}

// validate checks one processor; key is its path in the file
// ("processors.stripe-uk").
func (c Config) validate(key string) error {
	c = c.withDefaults()
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s.%s: %s", ErrConfig, key, field, fmt.Sprintf(format, args...)))
	}
	if c.Timeout < MinTimeout || c.Timeout > MaxTimeout {
		bad("timeout", "%v is outside %v..%v", c.Timeout, MinTimeout, MaxTimeout)
	}
	if c.Type != TypeHTTP {
		if k := c.httpKeysSet(); len(k) > 0 {
			bad(k[0], "only a processor of type http takes %s", strings.Join(k, ", "))
		}
	}
	switch c.Type {
	case TypeSandbox:
		if c.APIKey != "" || c.APIKeyEnv != "" || c.BaseURL != "" || c.MOTO {
			bad("type", "sandbox takes no api_key, api_key_env, base_url or moto")
		}
		if c.MinDelay < 0 {
			bad("min_delay", "negative")
		}
		if c.MaxDelay < c.MinDelay {
			bad("max_delay", "less than min_delay")
		}
		if c.MaxDelay >= c.Timeout {
			bad("max_delay", "not less than timeout %v", c.Timeout)
		}
	case TypeStripe:
		if c.MinDelay != 0 || c.MaxDelay != 0 {
			bad("type", "stripe takes no min_delay or max_delay")
		}
		if _, err := c.apiKey(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s.%w", ErrConfig, key, err))
		}
		if c.BaseURL != "" {
			if err := checkBaseURL(c.BaseURL); err != nil {
				bad("base_url", "%v", err)
			}
		}
	case TypeHTTP:
		if c.APIKey != "" || c.APIKeyEnv != "" || c.BaseURL != "" || c.MOTO || c.MinDelay != 0 || c.MaxDelay != 0 {
			bad("type", "http takes no api_key, api_key_env, base_url, moto, min_delay or max_delay")
		}
		_, problems := c.connectorSettings()
		for _, err := range problems {
			errs = append(errs, fmt.Errorf("%w: %s.%w", ErrConfig, key, err))
		}
	case "":
		bad("type", "missing (sandbox, stripe or http)")
	default:
		bad("type", "%q is not sandbox, stripe or http", truncate(c.Type, 32))
	}
	return errors.Join(errs...)
}

// apiKey returns the Stripe key from APIKey or the variable APIKeyEnv
// names; the error starts with the key's field name.
func (c Config) apiKey() (string, error) {
	var key string
	switch {
	case c.APIKey != "" && c.APIKeyEnv != "":
		return "", errors.New("api_key: set together with api_key_env; choose one")
	case c.APIKeyEnv != "":
		v, ok := os.LookupEnv(c.APIKeyEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("api_key_env: %s is not set", truncate(c.APIKeyEnv, 64))
		}
		key = v
	case c.APIKey != "":
		key = string(c.APIKey)
	default:
		return "", errors.New("api_key: missing (or api_key_env)")
	}
	// Stripe's secret keys start sk_, restricted keys rk_; a publishable
	// key (pk_) cannot create charges.
	if !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_") {
		return "", errors.New("api_key: not a Stripe secret (sk_…) or restricted (rk_…) key")
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] >= 0x7f {
			return "", errors.New("api_key: contains spaces or control characters")
		}
	}
	return key, nil
}

// checkBaseURL accepts an absolute http(s) URL without query or fragment;
// plain http only for a loopback host.
func checkBaseURL(raw string) error { return outbound.CheckBaseURL(raw, "card data") }

// Option changes how New builds a processor.
type Option func(*options)

type options struct {
	outbound.Options
	// Test hooks of the Stripe adapter.
	maxRetries   *int64
	noRetrySleep bool
	bodyZeroed   func([]byte)
}

// WithLogger sets where the processor logs one line per charge and
// reconciliation (never card data). Default: nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.Log = l } }

// WithClock sets the clock the sandbox checks expiry dates against and
// the HTTP connector stamps its signatures with. Default: time.Now. (Delays and deadlines use the runtime's timers;
// tests run them under testing/synctest.)
func WithClock(now func() time.Time) Option { return func(o *options) { o.Now = now } }

// WithHTTPClient sets the HTTP client the Stripe adapter and the HTTP
// connector send through (its Transport is wrapped, never changed; the
// connector's TLS settings apply to a copy of it). Default: a client of
// its own on http.DefaultTransport's settings.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.HTTPClient = c } }

// New builds the processor name configures.
func New(name string, cfg Config, opts ...Option) (Processor, error) {
	key := "processors." + name
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, key, err)
	}
	if err := cfg.validate(key); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	o.SetDefaults()
	switch cfg.Type {
	case TypeSandbox:
		return newSandbox(name, cfg, o), nil
	case TypeHTTP:
		return newHTTPConnector(name, cfg, o)
	default: // TypeStripe; validate refused the rest.
		return newStripe(name, cfg, o)
	}
}

// NewAll builds every configured processor, by name.
func NewAll(cfgs Configs, opts ...Option) (map[string]Processor, error) {
	if err := cfgs.Validate(); err != nil {
		return nil, err
	}
	out := make(map[string]Processor, len(cfgs))
	for _, name := range cfgs.Names() {
		p, err := New(name, cfgs[name], opts...)
		if err != nil {
			return nil, err
		}
		out[name] = p
	}
	return out, nil
}
