package sms

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"dtmfgw/internal/outbound"
)

// ErrConfig is wrapped by the errors of a bad configuration or option
// (Config.Validate, TwilioConfig.Resolve, NewTwilio, NewOutbox,
// NewSender); the message names the key or the option.
var ErrConfig = errors.New("sms: bad configuration")

// Option changes how NewOutbox, NewTwilio, NewSender or New builds its
// value; an option that does not concern the value is ignored.
type Option func(*options)

type options struct {
	outbound.Options
	outboxSize  int
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
	queueSize   int
	report      func(Status)
}

// Defaults of the options.
const (
	// DefaultOutboxSize is how many messages the Outbox keeps.
	DefaultOutboxSize = 1000
	// DefaultMaxAttempts is how many times a Sender tries a message
	// that fails transiently: with the default backoff the last attempt
	// is 14 s after the first, still within a phone call.
	DefaultMaxAttempts = 4
	// DefaultBackoff is the wait after a first failed attempt, doubled
	// after each further one up to DefaultMaxBackoff.
	DefaultBackoff    = 2 * time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultQueueSize bounds the messages a Sender holds (queued or
	// waiting to be retried).
	DefaultQueueSize = 1024
)

// Limits of the options, beyond which a value is a mistake.
const (
	maxOutboxSize  = 1_000_000
	maxMaxAttempts = 100
	maxQueueSize   = 1_000_000
	maxBackoffCap  = time.Hour
)

// WithLogger sets where the Outbox logs each message and the Sender each
// attempt (never a Body). Default: nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.Log = l } }

// WithClock sets the clock of the Outbox's OutboxMessage.At and the
// Sender's Status.At. Default: time.Now. (The Sender's waits run on the
// runtime's timers; tests run them under testing/synctest.)
func WithClock(now func() time.Time) Option { return func(o *options) { o.Now = now } }

// WithHTTPClient sets the client Twilio sends through; its Timeout and
// redirect policy are replaced (the configuration's timeout; redirects
// are not followed, so credentials go nowhere else). Default: a client
// of its own on http.DefaultTransport.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.HTTPClient = c } }

// WithOutboxSize sets how many messages the Outbox keeps, 1 to 1,000,000
// (default DefaultOutboxSize); older ones are forgotten.
func WithOutboxSize(n int) Option { return func(o *options) { o.outboxSize = n } }

// WithMaxAttempts sets how many times a Sender tries a message, 1 to 100
// (default DefaultMaxAttempts).
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = n } }

// WithBackoff sets the Sender's wait after the first failed attempt and
// its cap: the wait doubles after each failure up to max (defaults
// DefaultBackoff, DefaultMaxBackoff). 0 < initial <= max <= 1h.
func WithBackoff(initial, max time.Duration) Option {
	return func(o *options) { o.backoff, o.maxBackoff = initial, max }
}

// WithQueueSize bounds the messages a Sender holds, queued or waiting to
// be retried, 1 to 1,000,000 (default DefaultQueueSize); beyond it Send
// refuses with ErrQueueFull.
func WithQueueSize(n int) Option { return func(o *options) { o.queueSize = n } }

// WithReport sets the function a Sender tells each message's progress to
// (queued, then sent or failed). It is called from the goroutine of Send
// (queued) and of Run (the others), one call at a time per message and in
// that order; it should return quickly, since the Sender waits for it.
func WithReport(f func(Status)) Option { return func(o *options) { o.report = f } }

func buildOptions(opts []Option) options {
	o := options{
		outboxSize:  DefaultOutboxSize,
		maxAttempts: DefaultMaxAttempts,
		backoff:     DefaultBackoff,
		maxBackoff:  DefaultMaxBackoff,
		queueSize:   DefaultQueueSize,
	}
	for _, opt := range opts {
		opt(&o)
	}
	o.SetDefaults()
	if o.report == nil {
		o.report = func(Status) {}
	}
	return o
}
