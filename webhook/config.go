package webhook

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config.
const (
	// DefaultMaxAge is how long a delivery is retried before it is given
	// up: a day, twice the twelve hours a receiver's outage must be
	// outlasted.
	DefaultMaxAge = 24 * time.Hour
	// DefaultInitialBackoff is the wait after the first failed attempt;
	// each further failure doubles it.
	DefaultInitialBackoff = 5 * time.Second
	// DefaultMaxBackoff caps the wait between attempts.
	DefaultMaxBackoff = time.Hour
	// DefaultTimeout bounds one attempt: connect, send, and the
	// receiver's status line.
	DefaultTimeout = 10 * time.Second
	// DefaultConcurrency is how many deliveries are attempted at once.
	DefaultConcurrency = 4
	// DefaultProgressQueue is how many progress events may wait to be
	// written to the outbox; more are dropped (progress is best-effort).
	DefaultProgressQueue = 1024
)

// Limits of Config.
const (
	// MinMaxAge is the shortest MaxAge accepted: retries must outlast a
	// receiver's outage of 12 hours.
	MinMaxAge = 12 * time.Hour
	// MaxMaxAge bounds MaxAge: a week-old result helps nobody.
	MaxMaxAge = 7 * 24 * time.Hour
	// MaxConcurrency bounds Concurrency.
	MaxConcurrency = 64
)

// ErrConfig is wrapped by Config.Validate; the message names the key.
var ErrConfig = errors.New("webhook: bad configuration")

// Config is the "webhooks:" section of the configuration file: how every
// payment configuration's webhook is delivered. Where each goes, and its
// secret, are the payment configuration's (payment.WebhookConfig).
type Config struct {
	// MaxAge is how long after its creation a delivery is still tried;
	// an attempt that fails past it gives the delivery up (logged and
	// counted).
	MaxAge time.Duration `yaml:"max_age"`
	// InitialBackoff and MaxBackoff shape the waits between attempts:
	// InitialBackoff, doubled after each failure, capped at MaxBackoff,
	// each drawn at random from its upper half (jitter, so receivers
	// coming back are not hit by every sender at once).
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// Timeout bounds one attempt.
	Timeout time.Duration `yaml:"timeout"`
	// Concurrency is how many attempts run at once.
	Concurrency int `yaml:"concurrency"`
	// ProgressQueue bounds the progress events waiting to be enqueued.
	ProgressQueue int `yaml:"progress_queue"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxAge:         DefaultMaxAge,
		InitialBackoff: DefaultInitialBackoff,
		MaxBackoff:     DefaultMaxBackoff,
		Timeout:        DefaultTimeout,
		Concurrency:    DefaultConcurrency,
		ProgressQueue:  DefaultProgressQueue,
	}
}

// Validate reports every unusable setting, each naming its key
// ("webhooks.max_age: …").
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: webhooks.%s: %s", ErrConfig, key, fmt.Sprintf(format, args...)))
	}
	if c.MaxAge < MinMaxAge || c.MaxAge > MaxMaxAge {
		bad("max_age", "%v outside %v … %v", c.MaxAge, MinMaxAge, MaxMaxAge)
	}
	if c.InitialBackoff < time.Second || c.InitialBackoff > time.Hour {
		bad("initial_backoff", "%v outside 1s … 1h", c.InitialBackoff)
	}
	if c.MaxBackoff < c.InitialBackoff || c.MaxBackoff > 6*time.Hour {
		bad("max_backoff", "%v outside initial_backoff (%v) … 6h", c.MaxBackoff, c.InitialBackoff)
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > 5*time.Minute {
		bad("timeout", "%v outside 100ms … 5m", c.Timeout)
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		bad("concurrency", "%d outside 1 … %d", c.Concurrency, MaxConcurrency)
	}
	if c.ProgressQueue < 1 || c.ProgressQueue > 1<<20 {
		bad("progress_queue", "%d outside 1 … %d", c.ProgressQueue, 1<<20)
	}
	return errors.Join(errs...)
}
