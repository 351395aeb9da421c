package mask

import (
	"time"

	"dtmfgw/dtmf"
)

// packetClass is what the classifier stage makes of a caller packet.
type packetClass uint8

const (
	// classAudio is the negotiated audio payload type.
	classAudio packetClass = iota + 1
	// classComfortNoise is RFC 3389 comfort noise (static PT 13): a noise
	// level and spectrum, no tone; forwarded.
	classComfortNoise
	// classEvent is a negotiated telephone-event payload type (RFC 4733).
	classEvent
	// classGuessedEvent is a packet on an un-negotiated dynamic payload type
	// (RFC 3551 §6: 96–127) shaped like telephone events.
	classGuessedEvent
	// classOther is anything else: not negotiated toward the agent, so
	// never forwarded (it could be audio we cannot inspect).
	classOther
)

// ptComfortNoise is the static comfort-noise payload type (RFC 3551 §6).
const ptComfortNoise = 13

// maxEventPTs bounds the telephone-event payload types a pipeline follows
// (one per clock rate in practice).
const maxEventPTs = 4

// maxEventsPerPacket bounds the events read from one payload: RFC 4733
// §2.5.1.5 packs several events in one packet only for redundancy, a few at
// most. A longer payload is not telephone-event-shaped.
const maxEventsPerPacket = 8

// eventStage is the stage that recognises telephone-event packets and turns
// them into key events with a dtmf.Tracker. It never lets one through: the
// pipeline drops them (RFC 4733 packets carry the digit in clear).
//
// Besides the negotiated payload types it watches for events on dynamic
// payload types the SDP did not name (some peers send them anyway, DTMF.md):
// a payload of 1–maxEventsPerPacket whole 4-byte events, each a DTMF key
// code (0–15) with a volume of at most 63 (RFC 4733 §2.3). Such a packet is
// dropped on sight; it is fed to a second Tracker only once a second packet
// on the same payload type repeats its timestamp, as every packet of one
// event does (§2.5.1.1), so that a stray packet does not make a press.
type eventStage struct {
	pts     [maxEventPTs]uint8
	npt     int
	audioPT uint8

	tracker *dtmf.Tracker
	guessed *dtmf.Tracker
	guessPT uint8
	guessTS uint32
	guessOK bool // guessPT/guessTS hold the last shaped packet
}

// String names the stage for logs.
func (s *eventStage) String() string { return "telephone-event" }

// classify sorts a packet by payload type and, for un-negotiated dynamic
// types, by the shape of its payload.
func (s *eventStage) classify(pt uint8, payload []byte) packetClass {
	if pt == s.audioPT {
		return classAudio
	}
	for i := 0; i < s.npt; i++ {
		if s.pts[i] == pt {
			return classEvent
		}
	}
	if pt == ptComfortNoise {
		return classComfortNoise
	}
	if pt >= 96 && pt <= 127 && eventShaped(payload) {
		return classGuessedEvent
	}
	return classOther
}

// eventShaped reports whether payload reads as RFC 4733 DTMF events.
func eventShaped(payload []byte) bool {
	if len(payload) == 0 || len(payload)%dtmf.TelephoneEventSize != 0 ||
		len(payload) > maxEventsPerPacket*dtmf.TelephoneEventSize {
		return false
	}
	for i := 0; i < len(payload); i += dtmf.TelephoneEventSize {
		if payload[i] > 15 {
			return false
		}
	}
	return true
}

// feed runs a negotiated event packet through the Tracker.
func (s *eventStage) feed(h dtmf.RTPInfo, payload []byte, at time.Time, evs []dtmf.KeyEvent) []dtmf.KeyEvent {
	evs, _ = s.tracker.Feed(h, payload, at, evs)
	return evs
}

// feedGuessed runs an event-shaped packet on an un-negotiated payload type
// through the second Tracker once its timestamp has been seen repeated.
func (s *eventStage) feedGuessed(h dtmf.RTPInfo, pt uint8, payload []byte, at time.Time, evs []dtmf.KeyEvent) []dtmf.KeyEvent {
	confirmed := s.guessOK && s.guessPT == pt && s.guessTS == h.Timestamp
	if !confirmed && s.guessOK && s.guessPT == pt {
		// A new timestamp on a type that has already shown a repeat
		// (the second Tracker accepted packets): the Tracker keys the
		// new event itself.
		confirmed = s.guessed.Stats().Packets > 0
	}
	s.guessPT, s.guessTS, s.guessOK = pt, h.Timestamp, true
	if !confirmed {
		return evs
	}
	evs, _ = s.guessed.Feed(h, payload, at, evs)
	return evs
}

// tick ends presses whose end packets were all lost.
func (s *eventStage) tick(now time.Time, evs []dtmf.KeyEvent) []dtmf.KeyEvent {
	evs = s.tracker.Tick(now, evs)
	return s.guessed.Tick(now, evs)
}
