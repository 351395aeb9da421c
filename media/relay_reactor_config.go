package media

import (
	"errors"
	"time"
)

// The Reactor's configuration is the same on every platform, so that
// code configuring one builds everywhere; only Linux runs one
// (NewReactor elsewhere returns ErrNoReactor).

// DefaultReactorEvents is how many ready sockets a Reactor takes from the
// kernel per epoll_wait(2) when none is configured.
const DefaultReactorEvents = 256

// ErrReactorClosed is returned when a relay starts on a closed Reactor.
var ErrReactorClosed = errors.New("media: reactor closed")

// ReactorConfig configures a Reactor.
type ReactorConfig struct {
	// Now is the clock packets' arrival and media timeouts are judged by;
	// it must be the legs' clock. Nil means time.Now.
	Now func() time.Time
	// TimeoutCheck is how often (wall-clock time) the reactor judges its
	// legs' media timeouts. Zero means DefaultTimeoutCheck.
	TimeoutCheck time.Duration
	// Events is how many ready sockets one epoll_wait(2) returns at most.
	// Zero means DefaultReactorEvents.
	Events int
	// Coalesce, if positive, is how long the reactor waits after relaying
	// a batch before it looks for the next one, so that packets arriving
	// meanwhile share one wake-up: fewer wake-ups per packet for at most
	// Coalesce of added latency. Zero relays every packet as soon as its
	// socket is ready. At most MaxReactorCoalesce.
	Coalesce time.Duration
}

// MaxReactorCoalesce bounds ReactorConfig.Coalesce: a fraction of a
// packet interval, well inside a jitter buffer's slack.
const MaxReactorCoalesce = 2 * time.Millisecond
