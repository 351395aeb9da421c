package dtmf

import "time"

// Press is one key press of the caller, as a call hands it on: one Press
// per press, however many ways it arrived (RFC 4733 events, in-band tone,
// SIP INFO). Key prints as "•"; nothing here formats it.
type Press struct {
	// Key is the key pressed.
	Key Key
	// Source is how the press was first heard. The Press is queued at
	// once, so a second source that reports the same press later is not
	// in it (media/mask's Joiner counts it as joined).
	Source Source
	// FirstSeen is when the press was first heard: the arrival of the
	// first packet that carried it (for in-band, of the tone's onset), or
	// of the SIP INFO, by the call's clock.
	FirstSeen time.Time
	// Decided is when the press was told: the arrival of the packet at
	// which it was (an RFC 4733 Begin, or the Detector's decision), or of
	// the SIP INFO. Decided − FirstSeen is the detection latency; the
	// press-to-event latency is measured from Decided.
	Decided time.Time
	// Duration is the press's duration where a SIP INFO body gave one,
	// else zero.
	Duration time.Duration
	// Number counts the call's presses from 1. A gap means presses were
	// lost to a full queue (a full queue), so a consumer can tell
	// a lost key from a quiet caller.
	Number uint64
}
