package testkit

import (
	"testing"
	"time"
)

// WaitLimit is how long WaitFor waits: far beyond what any condition needs
// on a loaded machine, so that reaching it means the behaviour is broken.
const WaitLimit = 10 * time.Second

// WaitFor polls cond, a state with no event or channel to wait on, every
// millisecond until it holds, and fails the test after WaitLimit with
// what. It synchronises on the state itself, never on an amount of time.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v", what, WaitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}
