package sip

import (
	"errors"
	"testing"
)

// TestNoPanicTurnsALibraryPanicIntoAnError: a panic in the SIP library
// while the agent's INVITE is waited on or cancelled ends that call with an
// error instead of the process; an error or nil passes through unchanged.
func TestNoPanicTurnsALibraryPanicIntoAnError(t *testing.T) {
	var nilResponse *struct{ StatusCode int }
	err := noPanic(func() error {
		_ = nilResponse.StatusCode // what sipgo's inviteCancel does with a nil response
		return nil
	})
	if !errors.Is(err, errLibraryPanic) {
		t.Fatalf("a panic gave %v, want errLibraryPanic", err)
	}
	want := errors.New("the agent said no")
	if err := noPanic(func() error { return want }); err != want {
		t.Errorf("an error came back as %v, want it unchanged", err)
	}
	if err := noPanic(func() error { return nil }); err != nil {
		t.Errorf("nil came back as %v", err)
	}
}
