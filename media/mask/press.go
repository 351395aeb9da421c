package mask

import (
	"time"

	"dtmfgw/dtmf"
)

// Press is one key press of the caller, as the pipeline hands it to the
// session through Config.Presses. One press is one Press, however
// many ways it arrived (telephone events, in-band tone, both).
type Press struct {
	// Key is the key pressed.
	Key dtmf.Key
	// Source is how the press was first heard. The Press is queued at
	// once, so a second source that reports the same press later is not
	// in it (it is counted in Stats.Joined).
	Source dtmf.Source
	// FirstSeen is the arrival time of the first packet that carried the
	// press (for in-band, of the tone's onset), by the leg's clock.
	FirstSeen time.Time
	// Decided is the arrival time of the packet at which the press was
	// told (an RFC 4733 Begin, or the Detector's decision), by the leg's
	// clock: Decided − FirstSeen is the detection latency.
	Decided time.Time
	// Number counts the call's presses from 1, so a consumer can tell an
	// overflow (a gap in the numbers) from a quiet caller.
	Number uint64
}

// pressSource is a bit set of dtmf.Source values.
type pressSource uint8

func sourceBit(s dtmf.Source) pressSource { return 1 << (s & 7) }

// joinWindow is how long after a press ended a report of the same key from
// another source still belongs to it. An in-band Begin comes 28–32 ms after
// the tone's onset and a sender's end packets up to a few update intervals
// after its end (RFC 4733 §2.5.1.4), so the two can cross; a real second
// press of the same key comes after an inter-digit pause of ≥ 40 ms (ITU-T
// Q.24) and from the same source as the first, which never joins.
const joinWindow = 150 * time.Millisecond

// pressJoiner is the stage that makes one press out of the reports of every
// source: a Begin of a key from source s joins the current press when it has
// the same key, was not yet heard from s (each source's own Tracker or
// Detector reports a press once) and is open or ended within joinWindow.
// Anything else is a new press, queued to the session without blocking.
type pressJoiner struct {
	key      dtmf.Key
	heard    pressSource // sources that reported the current press
	open     pressSource // sources whose report has not ended
	ended    time.Time   // when the last open source ended it
	number   uint64
	queue    chan<- Press
	overflow uint64
	joined   uint64
}

// String names the stage for logs.
func (j *pressJoiner) String() string { return "press-joiner" }

// begin records a Begin from src of key k at time at, first heard at
// firstSeen, and reports whether it is a new press (queued) rather than
// another source's report of the current one.
func (j *pressJoiner) begin(k dtmf.Key, src dtmf.Source, at, firstSeen time.Time) bool {
	bit := sourceBit(src)
	if j.heard != 0 && j.key == k && j.heard&bit == 0 &&
		(j.open != 0 || at.Sub(j.ended) <= joinWindow) {
		j.heard |= bit
		j.open |= bit
		j.joined++
		return false
	}
	j.key, j.heard, j.open = k, bit, bit
	j.number++
	p := Press{Key: k, Source: src, FirstSeen: firstSeen, Decided: at, Number: j.number}
	if j.queue != nil {
		// Never block the reading goroutine on a slow session.
		select {
		case j.queue <- p:
		default:
			j.overflow++
		}
	}
	return true
}

// end records the End of src's report of the current press.
func (j *pressJoiner) end(src dtmf.Source, at time.Time) {
	bit := sourceBit(src)
	if j.open&bit == 0 {
		return
	}
	j.open &^= bit
	if j.open == 0 {
		j.ended = at
	}
}
