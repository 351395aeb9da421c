//go:build !linux

package media

import (
	"errors"
	"time"
)

// reactorSupported reports whether NewReactor works on this platform.
const reactorSupported = false

// DefaultReactorEvents is how many ready sockets a Reactor takes from the
// kernel per wait when none is configured.
const DefaultReactorEvents = 256

// ErrNoReactor is returned by NewReactor where there is no epoll(7).
var ErrNoReactor = errors.New("media: Reactor needs Linux (epoll)")

// ReactorConfig configures a Reactor (see the Linux version).
type ReactorConfig struct {
	Now          func() time.Time
	TimeoutCheck time.Duration
	Events       int
}

// Reactor reads many legs' sockets on one goroutine; Linux only.
type Reactor struct{}

// NewReactor returns ErrNoReactor on this platform.
func NewReactor(ReactorConfig) (*Reactor, error) { return nil, ErrNoReactor }

// Len returns 0.
func (r *Reactor) Len() int { return 0 }

// Close does nothing.
func (r *Reactor) Close() error { return nil }

func (r *Reactor) attach(*Leg, PacketHandler) (int32, error) { return -1, ErrNoReactor }

func (r *Reactor) detach(int32) {}
