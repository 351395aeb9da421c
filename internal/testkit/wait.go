package testkit

import (
	"testing"
	"time"
)

// WaitLimit is how long WaitFor and Poll wait: far beyond what any
// condition needs on a loaded machine, so that reaching it means the
// behaviour is broken.
const WaitLimit = 10 * time.Second

// WaitFor polls cond, a state with no event or channel to wait on, every
// millisecond until it holds, and fails the test after WaitLimit with
// what. It synchronises on the state itself, never on an amount of time.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(cond) {
		t.Fatalf("%s: not reached within %v", what, WaitLimit)
	}
}

// Poll is WaitFor for a test that says more than WaitFor's what when the
// state is not reached: it polls cond every millisecond and reports
// whether it held within WaitLimit.
func Poll(cond func() bool) bool {
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
