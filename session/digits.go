package session

import (
	"sync"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/media/mask"
)

// Digit is one key press of the caller, as the session hands it on: one
// Digit per press, however many ways the press reached us (RFC 4733
// events, in-band tone, SIP INFO). Key prints as "•"; nothing of the
// session formats it.
type Digit struct {
	// Key is the key pressed.
	Key dtmf.Key
	// Source is how the press was first heard.
	Source dtmf.Source
	// At is when the press was first heard: the first media packet that
	// carried it (for in-band, the tone's onset), or the SIP INFO's
	// arrival, by the Manager's clock.
	At time.Time
	// Decided is when the press was told: the arrival of the media packet
	// that decided it (an RFC 4733 event's first packet, the in-band
	// Detector's decision), or the SIP INFO's arrival, by the Manager's
	// clock. The press-to-event latency is measured from it.
	Decided time.Time
	// Duration is the press's duration where a SIP INFO body gave one,
	// else zero.
	Duration time.Duration
	// Number counts the call's presses from 1. A gap means presses were
	// lost to a full queue (DigitStats.Overflows), so a consumer can tell
	// a lost key from a quiet caller.
	Number uint64
}

// DigitStats are the counters of a call's digit path. They never hold a
// key.
type DigitStats struct {
	// Delivered counts digits queued to the subscriber.
	Delivered uint64
	// Overflows counts presses lost because a queue was full: the
	// subscriber's (Call.Digits) or the media pipeline's.
	Overflows uint64
	// SIPInfo counts SIP INFO presses received; Joined those presses
	// heard both in SIP INFO and in the media and delivered once.
	SIPInfo, Joined uint64
	// RFC4733, Inband and SIPInfoFirst count the presses by the source
	// that reported them first: one count per press, however many ways
	// it came (a press lost to a full queue is counted too, and in
	// Overflows).
	RFC4733, Inband, SIPInfoFirst uint64
	// Invalid counts SIP INFO presses refused because the key was not one
	// of the sixteen.
	Invalid uint64
}

// sipInfoSlack is how far apart, beyond the SIP INFO's own duration, a
// SIP INFO press and a media press of the same key may be heard and still
// be one press. Phones that send both start them together, but the INFO
// travels the signalling path (proxies, TCP, retransmission after a loss
// at T1 = 500 ms is beyond it, RFC 3261 §17.1.2.2) and the media press is
// stamped at its first packet or at the tone's onset. A genuine second
// press of the same key is a duration plus an inter-digit pause (≥ 40 ms,
// ITU-T Q.24) later, and is reported by both paths too: the oldest
// unmatched report is matched first, so pairs stay pairs.
const sipInfoSlack = 250 * time.Millisecond

// historyLen is how many recent unmatched presses of each path are kept
// for matching: far more than fit in one press window.
const historyLen = 8

// heard is one press delivered from one path and not yet matched by the
// other path's report of it.
type heard struct {
	key     dtmf.Key
	at      time.Time
	window  time.Duration // how far from at a report of the other path still matches
	pending bool
}

// history is a small ring of heard presses, oldest first.
type history struct {
	ring [historyLen]heard
	next int
}

func (h *history) add(e heard) {
	h.ring[h.next] = e
	h.next = (h.next + 1) % historyLen
}

// match marks and reports the oldest pending press of key k whose window,
// or window w, covers at.
func (h *history) match(k dtmf.Key, at time.Time, w time.Duration) bool {
	for i := range historyLen {
		e := &h.ring[(h.next+i)%historyLen]
		if !e.pending || e.key != k {
			continue
		}
		d := at.Sub(e.at)
		if d < 0 {
			d = -d
		}
		if d <= max(w, e.window) {
			e.pending = false
			return true
		}
	}
	return false
}

// digitPath is a call's one way for key presses to reach the subscriber:
// media presses (already one per press across RFC 4733 and in-band) and
// SIP INFO presses are joined, numbered and queued without blocking.
// Every method is safe from any goroutine; the lock is held for a few
// comparisons and a non-blocking send.
type digitPath struct {
	mu     sync.Mutex
	out    chan Digit
	closed bool
	number uint64
	// media and info are the presses each path delivered that the other
	// has not reported (yet).
	media, info history
	// lastPress is the Number of the last mask.Press of the current
	// pipeline, to see the pipeline's own overflows as gaps.
	lastPress uint64
	stats     DigitStats
}

func newDigitPath(depth int) *digitPath {
	return &digitPath{out: make(chan Digit, depth)}
}

// fromMedia takes one press from the masking pipeline.
func (d *digitPath) fromMedia(p mask.Press) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if p.Number > d.lastPress+1 {
		// The pipeline's queue was full: keep the numbering honest.
		lost := p.Number - d.lastPress - 1
		d.number += lost
		d.stats.Overflows += lost
	}
	// A Number that does not grow is a new pipeline (re-INVITE) counting
	// from 1 again.
	d.lastPress = p.Number
	if d.info.match(p.Key, p.FirstSeen, 0) {
		d.stats.Joined++
		return
	}
	d.media.add(heard{key: p.Key, at: p.FirstSeen, pending: true})
	if p.Source == dtmf.SourceInband {
		d.stats.Inband++
	} else {
		d.stats.RFC4733++
	}
	d.deliver(Digit{Key: p.Key, Source: p.Source, At: p.FirstSeen, Decided: p.Decided})
}

// fromSIPInfo takes one SIP INFO press.
func (d *digitPath) fromSIPInfo(k dtmf.Key, dur time.Duration, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if !k.Valid() {
		d.stats.Invalid++
		return
	}
	d.stats.SIPInfo++
	dur = max(dur, 0)
	w := dur + sipInfoSlack
	if d.media.match(k, at, w) {
		d.stats.Joined++
		return
	}
	d.info.add(heard{key: k, at: at, window: w, pending: true})
	d.stats.SIPInfoFirst++
	d.deliver(Digit{Key: k, Source: dtmf.SourceSIPInfo, At: at, Decided: at, Duration: dur})
}

// deliver numbers g and queues it without blocking; d.mu is held.
func (d *digitPath) deliver(g Digit) {
	d.number++
	g.Number = d.number
	select {
	case d.out <- g:
		d.stats.Delivered++
	default:
		d.stats.Overflows++
	}
}

// close closes the subscriber's channel; later presses are ignored.
func (d *digitPath) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		close(d.out)
	}
}

func (d *digitPath) snapshot() DigitStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}
