// Tracker turns one RTP telephone-event stream into key presses.
//
// Keying rules, and why:
//
//   - A press is identified by its SSRC and RTP timestamp, never by the
//     marker bit. Every packet of one event carries the event's start
//     timestamp (RFC 4733 §2.5.1.1); the marker only flags the first packet
//     (§2.5.1.2) and that packet is as likely to be lost as any other.
//   - The first packet seen of a new timestamp opens the press and emits
//     Begin, whatever it is: a start, an update or even an end packet
//     (a press whose first packets were lost is still one press).
//   - The E bit ends the press and emits End. Senders repeat the end packet,
//     usually three times (§2.5.1.4); the repeats are recognised and
//     ignored.
//   - A press whose end packets were all lost ends EndTimeout after its last
//     packet: Tick, driven by the caller's clock, emits End. Without a
//     configured EndTimeout the timeout is three update intervals, the
//     interval being learnt from the duration field (the smallest step seen)
//     and taken as at least 50 ms, the rate §2.5.1.2 suggests, and at most
//     500 ms. A packet arriving after the deadline of its press finds the press
//     already ended, whether or not Tick ran in between, so the result does not
//     depend on when the caller's timer fires.
//   - An event longer than 0xFFFF clock units is sent in segments, each with
//     a new timestamp that starts where the previous segment's duration
//     ended (§2.5.1.3). A packet with the open press's code and the timestamp
//     segment+0xFFFF (or segment+last duration seen) continues that press.
//     A continuation of the press that ended last is folded into it, without
//     a second Begin, if that press ended by timeout (a gap in the packets)
//     or with a full 0xFFFF segment (a sender that sets the E bit on a
//     segment's final packets): nobody can release and press a key again
//     within zero clock units.
//   - A packet may carry several back-to-back events (§2.5.1.5); the k-th
//     starts at the packet timestamp plus the durations of the ones before it.
//   - Packets are lost, duplicated and reordered. Timestamps are compared
//     with serial-number arithmetic (RFC 1982 style, as RTP timestamps
//     wrap). The last eight ended presses are remembered with their SSRC and
//     segment timestamps; a packet of one of them is late and ignored, and so
//     is any packet older than the newest press unless it is further back than
//     a late packet can plausibly be (one segment plus ten seconds), which is
//     taken as a timestamp jump. A late packet therefore never becomes a new digit.
//   - A new SSRC or a backward timestamp jump resets the stream: an open
//     press is ended first (End emitted), so Begin and End always pair up. A
//     forward jump needs no special case: its packet is a new press, which
//     ends the open one first like any other new press.
//   - A new press arriving while one is open ends the open one first
//     (its end packets were lost or are still in flight).
//   - Event codes above 15 are not DTMF keys (RFC 4733 §3.2, RFC 4734); they
//     are counted and ignored and do not disturb an open press.
//   - A packet with the open press's timestamp but another code contradicts
//     §2.5.1.1 (one timestamp, one event). The key first seen stands, because
//     reporting a second key would invent a digit the caller may not have
//     pressed; if the contradicting packet has the E bit it still ends the
//     press, since the sender has said the event is over. Both are counted in
//     TrackerStats.Conflicts.
//   - A payload that is not a whole number of events is rejected with an
//     error and changes nothing.

package dtmf

import "time"

const (
	// defaultClockRate is the telephone-event clock of RFC 4733 §2.3 when
	// the SDP does not say otherwise.
	defaultClockRate = 8000
	// maxClockRate bounds the configured clock so window arithmetic stays
	// within 32 bits; real telephone-event clocks are 8–48 kHz.
	maxClockRate = 1 << 20
	// minUpdateInterval and maxUpdateInterval bound the learnt update
	// interval used for the default end timeout. 50 ms is the interval
	// RFC 4733 §2.5.1.2 suggests; a faster sender does not shorten the
	// timeout below 150 ms, which absorbs ordinary jitter.
	minUpdateInterval = 50 * time.Millisecond
	maxUpdateInterval = 500 * time.Millisecond
	// endTimeoutIntervals is how many update intervals without a packet end a
	// press whose end packets were all lost.
	endTimeoutIntervals = 3
	// maxSegmentDuration is the longest duration one segment can report
	// (RFC 4733 §2.5.1.3).
	maxSegmentDuration = 0xFFFF
	// lateSeconds is how far behind the newest press, beyond one segment, a
	// packet may be and still be taken as late rather than as a jump of the
	// sender's timestamps. Networks do not hold packets for ten seconds.
	lateSeconds = 10
	// recentPresses is how many ended presses are remembered to recognise
	// their late and repeated packets.
	recentPresses = 8
)

// TrackerConfig configures a Tracker. The zero value is valid.
type TrackerConfig struct {
	// ClockRate is the telephone-event RTP clock in Hz from the SDP rtpmap:
	// 8000 (the default when 0), 16000 or 48000. Durations and timestamps
	// are in units of this clock.
	ClockRate uint32
	// EndTimeout ends a press whose end packets were all lost, counted from
	// its last packet. 0 selects three update intervals, the interval learnt
	// from the stream and kept within 50–500 ms (so 150 ms to 1.5 s).
	EndTimeout time.Duration
}

// RTPInfo is what the Tracker needs from an RTP header (RFC 3550 §5.1).
// Sequence and Marker are accepted for the caller's convenience but do not
// drive keying: the timestamp identifies the press (RFC 4733 §2.5.1.1).
type RTPInfo struct {
	// SSRC identifies the stream; a new one resets the Tracker.
	SSRC uint32
	// Sequence is the RTP sequence number.
	Sequence uint16
	// Timestamp is the RTP timestamp: the start of the event (or of the
	// first event, when several are packed in one packet).
	Timestamp uint32
	// Marker is the RTP marker bit.
	Marker bool
}

// TrackerStats counts what a Tracker has seen, for metrics. It never holds
// a key.
type TrackerStats struct {
	// Packets is the number of payloads accepted by Feed.
	Packets uint64
	// Rejected is the number of payloads Feed rejected with an error.
	Rejected uint64
	// Presses is the number of Begin events emitted.
	Presses uint64
	// TimedOut is the number of presses ended by EndTimeout rather than by
	// an end packet.
	TimedOut uint64
	// Late is the number of events ignored as repeats or late packets of
	// presses already ended or superseded.
	Late uint64
	// OtherEvents is the number of events with codes above 15, ignored.
	OtherEvents uint64
	// Conflicts is the number of events whose code contradicted the open
	// press at the same timestamp.
	Conflicts uint64
	// Resets is the number of SSRC changes and backward timestamp jumps.
	Resets uint64
}

// Tracker follows one RTP telephone-event stream (one direction of one leg)
// and reports each key press exactly once as a Begin and an End KeyEvent.
//
// A Tracker is not safe for concurrent use; the relay goroutine that reads
// the stream owns it. Feed, Tick and Deadline allocate nothing when out has
// room for the events they append (at most two per event in the payload,
// plus one).
type Tracker struct {
	clockRate  uint32
	endTimeout time.Duration // configured; 0 means learnt
	lateWindow uint32        // clock units, see lateSeconds

	haveStream bool
	ssrc       uint32
	// floor is the newest segment timestamp of an ended press in the
	// current stream; packets at or behind it are late.
	floor     uint32
	haveFloor bool

	open  bool
	press openPress

	// interval is the learnt update interval, 0 until one is seen.
	interval time.Duration

	recent [recentPresses]endedPress
	next   int // index in recent of the next entry to overwrite

	stats TrackerStats
}

// openPress is the press currently in progress.
type openPress struct {
	key        Key
	code       uint8
	start      uint32 // timestamp of the first segment seen
	seg        uint32 // timestamp of the current segment
	segDur     uint16 // longest duration seen in the current segment
	firstSeen  time.Time
	lastUpdate time.Time
}

// endedPress remembers an ended press so that its late packets are known.
type endedPress struct {
	valid       bool
	timedOut    bool
	code        uint8
	ssrc        uint32
	first, last uint32 // first and last segment timestamps
	lastDur     uint16 // longest duration seen in the last segment
}

// NewTracker returns a Tracker for one stream.
func NewTracker(cfg TrackerConfig) *Tracker {
	rate := cfg.ClockRate
	if rate == 0 {
		rate = defaultClockRate
	}
	if rate > maxClockRate {
		rate = maxClockRate
	}
	t := &Tracker{
		clockRate:  rate,
		endTimeout: max(cfg.EndTimeout, 0),
		lateWindow: maxSegmentDuration + lateSeconds*rate,
	}
	return t
}

// Feed processes the payload of one telephone-event RTP packet that
// arrived at time at, and appends any Begin and End events to out.
//
// Feed first ends an open press whose EndTimeout has passed by at, as Tick
// would, so the events do not depend on when the caller ticks.
//
// A payload that is empty or not a whole number of four-byte events returns
// ErrShortTelephoneEvent or ErrTrailingTelephoneEventBytes and leaves the
// Tracker as it was; the stream goes on. Events with codes above 15 are
// ignored without error.
func (t *Tracker) Feed(h RTPInfo, payload []byte, at time.Time, out []KeyEvent) ([]KeyEvent, error) {
	if len(payload) < TelephoneEventSize {
		t.stats.Rejected++
		return out, ErrShortTelephoneEvent
	}
	if len(payload)%TelephoneEventSize != 0 {
		t.stats.Rejected++
		return out, ErrTrailingTelephoneEventBytes
	}
	t.stats.Packets++
	out = t.Tick(at, out)
	ts := h.Timestamp
	for i := 0; i+TelephoneEventSize <= len(payload); i += TelephoneEventSize {
		ev := decodeTelephoneEvent(payload[i : i+TelephoneEventSize])
		out = t.event(h.SSRC, ts, ev, at, out)
		// RFC 4733 §2.5.1.5: packed events are contiguous, each starting
		// where the previous one's duration ends.
		ts += uint32(ev.Duration)
	}
	return out, nil
}

// Tick ends an open press whose EndTimeout has passed by now (its end
// packets were all lost) and appends the End event to out, with the longest
// duration reported. now comes from the caller's clock, as Feed's arrival
// times do.
func (t *Tracker) Tick(now time.Time, out []KeyEvent) []KeyEvent {
	if d, ok := t.Deadline(); ok && !now.Before(d) {
		t.stats.TimedOut++
		out = t.finish(out, true)
	}
	return out
}

// Deadline reports when Tick next has something to do: the end timeout of
// the open press. ok is false when no press is open.
func (t *Tracker) Deadline() (deadline time.Time, ok bool) {
	if !t.open {
		return time.Time{}, false
	}
	return t.press.lastUpdate.Add(t.timeout()), true
}

// Flush ends an open press now, as when the stream is torn down or
// renegotiated, and appends its End event to out.
func (t *Tracker) Flush(out []KeyEvent) []KeyEvent {
	if t.open {
		out = t.finish(out, false)
	}
	return out
}

// Reset forgets everything, counters included. An open press is dropped
// without its End: call Flush first to end it. The configuration is kept.
func (t *Tracker) Reset() {
	*t = Tracker{clockRate: t.clockRate, endTimeout: t.endTimeout, lateWindow: t.lateWindow}
}

// Stats returns the Tracker's counters.
func (t *Tracker) Stats() TrackerStats { return t.stats }

// timeout is the configured end timeout or three learnt update intervals.
func (t *Tracker) timeout() time.Duration {
	if t.endTimeout > 0 {
		return t.endTimeout
	}
	return endTimeoutIntervals * min(max(t.interval, minUpdateInterval), maxUpdateInterval)
}

// event applies one decoded event whose start timestamp is ts.
func (t *Tracker) event(ssrc, ts uint32, ev TelephoneEvent, at time.Time, out []KeyEvent) []KeyEvent {
	key, ok := ev.Key()
	if !ok {
		t.stats.OtherEvents++
		return out
	}

	if t.open && ssrc == t.ssrc {
		p := &t.press
		switch {
		case ts == p.seg:
			return t.update(ev, at, out)
		case ev.Code == p.code && continues(p.seg, p.segDur, ts):
			// RFC 4733 §2.5.1.3: the next segment of the same long press.
			p.seg, p.segDur = ts, 0
			return t.update(ev, at, out)
		case serialBetween(ts, p.start, p.seg):
			// An earlier segment of the open press, arriving late.
			t.stats.Late++
			return out
		}
	}

	if t.late(ssrc, ts, ev) {
		t.stats.Late++
		return out
	}

	switch {
	case !t.haveStream:
		t.haveStream, t.ssrc = true, ssrc
	case ssrc != t.ssrc:
		t.stats.Resets++
		out = t.Flush(out)
		t.restart(ssrc)
	default:
		ref, haveRef := t.floor, t.haveFloor
		if t.open {
			ref, haveRef = t.press.seg, true
		}
		if d := int32(ts - ref); haveRef && d <= 0 {
			if uint32(-int64(d)) <= t.lateWindow {
				t.stats.Late++
				return out
			}
			// Too far back to be a late packet: the sender's timestamps
			// jumped (a restart under the same SSRC).
			t.stats.Resets++
			out = t.Flush(out)
			t.restart(ssrc)
		}
	}

	// A new press. One still open lost its end packets: end it first.
	out = t.Flush(out)
	t.open = true
	t.press = openPress{
		key:        key,
		code:       ev.Code,
		start:      ts,
		seg:        ts,
		segDur:     ev.Duration,
		firstSeen:  at,
		lastUpdate: at,
	}
	t.stats.Presses++
	out = append(out, t.keyEvent(Begin))
	if ev.End {
		out = t.finish(out, false)
	}
	return out
}

// update applies a packet of the open press's current segment.
func (t *Tracker) update(ev TelephoneEvent, at time.Time, out []KeyEvent) []KeyEvent {
	p := &t.press
	if at.After(p.lastUpdate) {
		p.lastUpdate = at
	}
	if ev.Code != p.code {
		t.stats.Conflicts++
		if ev.End {
			return t.finish(out, false)
		}
		return out
	}
	if ev.Duration > p.segDur {
		if p.segDur > 0 {
			t.learnInterval(ev.Duration - p.segDur)
		}
		p.segDur = ev.Duration
	}
	if ev.End {
		return t.finish(out, false)
	}
	return out
}

// learnInterval keeps the smallest duration step seen: lost packets only
// make steps larger, so the smallest is the sender's update interval.
func (t *Tracker) learnInterval(step uint16) {
	d := time.Duration(uint64(step) * uint64(time.Second) / uint64(t.clockRate))
	if d > 0 && (t.interval == 0 || d < t.interval) {
		t.interval = d
	}
}

// late reports whether an event belongs to a remembered ended press. A
// continuation segment of the most recent press, if that press ended by
// timeout or with a full segment, is folded into it: the caller is still
// holding the key and the press has already been reported once.
func (t *Tracker) late(ssrc, ts uint32, ev TelephoneEvent) bool {
	for i := range t.recent {
		r := &t.recent[i]
		if r.valid && r.ssrc == ssrc && serialBetween(ts, r.first, r.last) {
			if ts == r.last && ev.Code == r.code && ev.Duration > r.lastDur {
				r.lastDur = ev.Duration
			}
			return true
		}
	}
	r := &t.recent[(t.next+recentPresses-1)%recentPresses]
	if r.valid && (r.timedOut || r.lastDur == maxSegmentDuration) && r.ssrc == ssrc && r.code == ev.Code &&
		continues(r.last, r.lastDur, ts) {
		r.last, r.lastDur = ts, ev.Duration
		if t.haveStream && t.ssrc == ssrc {
			t.floor, t.haveFloor = ts, true
		}
		return true
	}
	return false
}

// finish ends the open press, emits End and remembers the press.
func (t *Tracker) finish(out []KeyEvent, timedOut bool) []KeyEvent {
	out = append(out, t.keyEvent(End))
	p := &t.press
	t.recent[t.next] = endedPress{
		valid:    true,
		timedOut: timedOut,
		code:     p.code,
		ssrc:     t.ssrc,
		first:    p.start,
		last:     p.seg,
		lastDur:  p.segDur,
	}
	t.next = (t.next + 1) % recentPresses
	t.floor, t.haveFloor = p.seg, true
	t.open = false
	return out
}

// restart begins a new stream after an SSRC change or a timestamp jump.
// The remembered presses are kept: they carry their SSRC, and late packets
// of the old stream must still be recognised.
func (t *Tracker) restart(ssrc uint32) {
	t.haveStream, t.ssrc = true, ssrc
	t.floor, t.haveFloor = 0, false
	t.interval = 0
}

// keyEvent describes the open press.
func (t *Tracker) keyEvent(kind Kind) KeyEvent {
	p := &t.press
	return KeyEvent{
		Kind:         kind,
		Key:          p.key,
		Source:       SourceRFC4733,
		RTPTimestamp: p.start,
		Duration:     p.seg - p.start + uint32(p.segDur),
		FirstSeen:    p.firstSeen,
	}
}

// continues reports whether ts starts the segment after the one at seg
// (RFC 4733 §2.5.1.3): exactly 0xFFFF units later, or where the longest
// duration seen of that segment ended.
func continues(seg uint32, segDur uint16, ts uint32) bool {
	return ts == seg+maxSegmentDuration || (segDur > 0 && ts == seg+uint32(segDur))
}

// serialBetween reports whether lo ≤ ts ≤ hi in RTP timestamp serial
// arithmetic (RFC 1982 style: differences taken modulo 2^32 as signed).
func serialBetween(ts, lo, hi uint32) bool {
	return int32(ts-lo) >= 0 && int32(hi-ts) >= 0
}
