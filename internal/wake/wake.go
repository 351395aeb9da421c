// Package wake is the wait between two rounds of a background loop (the
// payment reconciler, the webhook dispatcher): for a while, cut short when
// the loop is poked because there is work, and given up when the loop's
// context ends, so that shutdown never waits out a timer.
package wake

import (
	"context"
	"time"
)

// Why says what ended a Wait.
type Why uint8

const (
	// Elapsed: the whole duration passed.
	Elapsed Why = iota
	// Woken: the wake channel delivered first.
	Woken
	// Done: the context ended first; the loop should stop.
	Done
)

// Wait waits d, until wake delivers, or until ctx ends, whichever comes
// first, and says which. Its timer is stopped before it returns, so a loop
// may call it as often as it likes.
func Wait(ctx context.Context, d time.Duration, wake <-chan struct{}) Why {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return Done
	case <-wake:
		return Woken
	case <-t.C:
		return Elapsed
	}
}
