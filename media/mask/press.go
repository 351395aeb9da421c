package mask

import (
	"sync"
	"time"

	"dtmfgw/dtmf"
)

// PressStats are the counters of a call's Joiner. They never hold a key.
type PressStats struct {
	// Delivered counts presses queued to the consumer.
	Delivered uint64
	// Overflows counts presses lost because the queue was full.
	Overflows uint64
	// SIPInfo counts SIP INFO presses received; Joined counts the reports
	// that belonged to a press already delivered (a second media source,
	// or SIP INFO and media reporting one press).
	SIPInfo, Joined uint64
	// RFC4733, Inband and SIPInfoFirst count the presses by the source
	// that reported them first: one count per press, however many ways it
	// came (a press lost to a full queue is counted too, and in
	// Overflows).
	RFC4733, Inband, SIPInfoFirst uint64
	// Invalid counts SIP INFO presses refused because the key was not one
	// of the sixteen.
	Invalid uint64
}

// joinWindow is how long after a press ended a report of the same key from
// another media source still belongs to it. An in-band Begin comes 28–32
// ms after the tone's onset and a sender's end packets up to a few update
// intervals after its end (RFC 4733 §2.5.1.4), so the two can cross; a
// real second press of the same key comes after an inter-digit pause of ≥
// 40 ms (ITU-T Q.24) and from the same source as the first, which never
// joins.
const joinWindow = 150 * time.Millisecond

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

// pressSource is a bit set of dtmf.Source values.
type pressSource uint8

func sourceBit(s dtmf.Source) pressSource { return 1 << (s & 7) }

// heard is one press delivered from one path (media or SIP INFO) and not
// yet matched by the other path's report of it.
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

// Joiner is a call's one way for key presses to leave it: it makes one
// Press of the reports of every source — RFC 4733 events and in-band tones
// from the call's masking pipelines, SIP INFO from signalling — numbers it
// and queues it without ever blocking. One Joiner serves every pipeline a
// call has (a re-INVITE's new pipeline carries on its numbering).
//
// Two joins, because the sources meet on two timelines:
//
//   - media sources join on the audio timeline: a Begin of a key from
//     source s joins the current press when it has the same key, was not
//     yet heard from s (each source's own Tracker or Detector reports a
//     press once) and is open or ended within joinWindow;
//   - SIP INFO and media join within the INFO's duration plus
//     sipInfoSlack of each other, oldest first.
//
// Every method is safe from any goroutine; the lock is held for a few
// comparisons and a non-blocking send, once per report, never per packet.
type Joiner struct {
	mu     sync.Mutex
	out    chan dtmf.Press // nil: presses are judged and counted, not queued
	closed bool
	number uint64
	heardF func(dtmf.Press)

	// The current media press.
	key   dtmf.Key
	heard pressSource // media sources that reported it
	open  pressSource // media sources whose report has not ended
	ended time.Time   // when the last open source ended it

	// media and info are the presses each path delivered that the other
	// has not reported (yet).
	media, info history
	stats       PressStats
}

// NewJoiner returns a Joiner whose queue holds depth presses.
func NewJoiner(depth int) *Joiner {
	return &Joiner{out: make(chan dtmf.Press, depth)}
}

// OnMediaPress sets f to be told of every new press the media reported
// (RFC 4733 or in-band), delivered or joined to an earlier SIP INFO, on
// the reporting pipeline's goroutine (a detection-latency histogram). f
// must not block. Set it before the Joiner is in use.
func (j *Joiner) OnMediaPress(f func(dtmf.Press)) { j.heardF = f }

// Presses returns the queue: one dtmf.Press per key press. It is closed by
// Close, after the presses already queued.
func (j *Joiner) Presses() <-chan dtmf.Press { return j.out }

// String names the stage for logs.
func (j *Joiner) String() string { return "press-joiner" }

// begin records a Begin from media source src of key k at time at, first
// heard at firstSeen, and reports whether it is a new press rather than
// another media source's report of the current one: a new press gets its
// own mask tone, even when SIP INFO delivered it first.
func (j *Joiner) begin(k dtmf.Key, src dtmf.Source, at, firstSeen time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	bit := sourceBit(src)
	if j.heard != 0 && j.key == k && j.heard&bit == 0 &&
		(j.open != 0 || at.Sub(j.ended) <= joinWindow) {
		j.heard |= bit
		j.open |= bit
		j.stats.Joined++
		return false
	}
	j.key, j.heard, j.open = k, bit, bit
	p := dtmf.Press{Key: k, Source: src, FirstSeen: firstSeen, Decided: at}
	if j.heardF != nil {
		j.heardF(p)
	}
	if j.closed {
		return true
	}
	if j.info.match(k, firstSeen, 0) {
		j.stats.Joined++
		return true
	}
	j.media.add(heard{key: k, at: firstSeen, pending: true})
	if src == dtmf.SourceInband {
		j.stats.Inband++
	} else {
		j.stats.RFC4733++
	}
	j.deliver(p)
	return true
}

// end records the End of media source src's report of the current press.
func (j *Joiner) end(src dtmf.Source, at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	bit := sourceBit(src)
	if j.open&bit == 0 {
		return
	}
	j.open &^= bit
	if j.open == 0 {
		j.ended = at
	}
}

// SIPInfo takes a key press the caller sent in a SIP INFO request
// (application/dtmf-relay or application/dtmf): dur is the body's (zero if
// none), at is when the INFO arrived by the call's clock. A press that
// also arrived in the media within the press window is delivered once.
func (j *Joiner) SIPInfo(k dtmf.Key, dur time.Duration, at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	if !k.Valid() {
		j.stats.Invalid++
		return
	}
	j.stats.SIPInfo++
	dur = max(dur, 0)
	w := dur + sipInfoSlack
	if j.media.match(k, at, w) {
		j.stats.Joined++
		return
	}
	j.info.add(heard{key: k, at: at, window: w, pending: true})
	j.stats.SIPInfoFirst++
	j.deliver(dtmf.Press{Key: k, Source: dtmf.SourceSIPInfo, FirstSeen: at, Decided: at, Duration: dur})
}

// deliver numbers p and queues it without blocking; j.mu is held.
func (j *Joiner) deliver(p dtmf.Press) {
	j.number++
	p.Number = j.number
	if j.out == nil {
		return
	}
	select {
	case j.out <- p:
		j.stats.Delivered++
	default:
		// Never block the reading goroutine on a slow consumer.
		j.stats.Overflows++
	}
}

// Close closes the queue after the presses already in it; later reports
// are judged for masking but not queued.
func (j *Joiner) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.closed {
		j.closed = true
		if j.out != nil {
			close(j.out)
		}
	}
}

// Stats returns the Joiner's counters.
func (j *Joiner) Stats() PressStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}
