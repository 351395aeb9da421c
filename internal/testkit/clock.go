package testkit

import (
	"sync"
	"time"
)

// Epoch is the time a Clock starts at unless told otherwise: a fixed
// instant, so a test's times are the same on every run.
var Epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a clock a test moves by hand, safe from any goroutine. Pass its
// Now wherever the code under test takes a clock.
//
// With a step (NewSteppingClock) every reading moves it on by the step, so
// that each reading is later than the one before: ordering by time is then
// deterministic, and a reader that reads once per datagram sees datagrams
// step apart.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
	wall bool          // Now is the wall clock plus offset
	off  time.Duration // a wall clock's offset
}

// NewClock returns a clock standing at start (Epoch when start is zero).
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = Epoch
	}
	return &Clock{t: start}
}

// NewSteppingClock returns a clock at start (Epoch when zero) that moves on
// by step at every reading, before it returns.
func NewSteppingClock(start time.Time, step time.Duration) *Clock {
	c := NewClock(start)
	c.step = step
	return c
}

// NewWallClock returns the wall clock plus an offset that Advance moves:
// for code that also meets real timers (HTTP servers, TLS) but whose
// expiries a test must pass without waiting.
func NewWallClock() *Clock { return &Clock{wall: true} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall {
		return time.Now().Add(c.off)
	}
	c.t = c.t.Add(c.step)
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall {
		c.off += d
		return
	}
	c.t = c.t.Add(d)
}

// Set puts the clock at t. It has no meaning for a wall clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
