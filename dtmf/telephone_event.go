package dtmf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TelephoneEventSize is the length in bytes of one RFC 4733 §2.3 event:
// event code, E/R/volume and a 16-bit duration.
const TelephoneEventSize = 4

// Errors returned when a telephone-event payload cannot be decoded. Their
// messages never contain payload bytes, so they are safe to log: a payload
// byte can be a card digit.
var (
	// ErrShortTelephoneEvent means the payload is shorter than one event.
	ErrShortTelephoneEvent = errors.New("dtmf: telephone-event payload shorter than 4 bytes")
	// ErrTrailingTelephoneEventBytes means the payload carries whole events
	// followed by 1–3 bytes that are not a whole event. The whole events are
	// still returned by DecodeTelephoneEvents.
	ErrTrailingTelephoneEventBytes = errors.New("dtmf: telephone-event payload has trailing bytes that are not a whole event")
)

// Bits of the second payload byte (RFC 4733 §2.3): E, R, then a 6-bit volume.
const (
	endBit     = 0x80
	volumeMask = 0x3F // the R bit (0x40) is reserved: senders set it to 0, receivers ignore it
)

// TelephoneEvent is one RFC 4733 §2.3 named event as carried in an RTP
// telephone-event payload.
type TelephoneEvent struct {
	// Code is the event code: 0–15 are the DTMF keys (RFC 4733 §3.2), other
	// values are other telephony events.
	Code uint8
	// End is the E bit: this packet reports the end of the event (§2.5.1.4).
	End bool
	// Volume is the power level in −dBm0, 0–63 (§2.3). Only the low six bits
	// are kept; AppendTo writes only those.
	Volume uint8
	// Duration is how long the event has lasted so far, in RTP clock units
	// from the packet's timestamp (§2.5.1.1).
	Duration uint16
}

// DecodeTelephoneEvent decodes the first event of a telephone-event payload.
// Bytes after the first four are not looked at; use DecodeTelephoneEvents to
// read a payload carrying several events (RFC 4733 §2.5.1.5).
func DecodeTelephoneEvent(b []byte) (TelephoneEvent, error) {
	if len(b) < TelephoneEventSize {
		return TelephoneEvent{}, ErrShortTelephoneEvent
	}
	return decodeTelephoneEvent(b), nil
}

// decodeTelephoneEvent decodes b[0:4]; the caller has checked the length.
func decodeTelephoneEvent(b []byte) TelephoneEvent {
	return TelephoneEvent{
		Code:     b[0],
		End:      b[1]&endBit != 0,
		Volume:   b[1] & volumeMask,
		Duration: binary.BigEndian.Uint16(b[2:4]),
	}
}

// DecodeTelephoneEvents appends every event of a telephone-event payload to
// dst and returns the extended slice. A payload may carry several events
// back to back (RFC 4733 §2.5.1.5); it allocates nothing when dst has room.
//
// An empty or too-short payload returns dst unchanged and
// ErrShortTelephoneEvent. A payload whose length is not a multiple of four
// returns the whole events before the stray bytes together with an error
// wrapping ErrTrailingTelephoneEventBytes.
func DecodeTelephoneEvents(b []byte, dst []TelephoneEvent) ([]TelephoneEvent, error) {
	if len(b) < TelephoneEventSize {
		return dst, ErrShortTelephoneEvent
	}
	whole := len(b) - len(b)%TelephoneEventSize
	for i := 0; i < whole; i += TelephoneEventSize {
		dst = append(dst, decodeTelephoneEvent(b[i:i+TelephoneEventSize]))
	}
	if whole != len(b) {
		return dst, fmt.Errorf("%w: %d of %d bytes", ErrTrailingTelephoneEventBytes, len(b)-whole, len(b))
	}
	return dst, nil
}

// AppendTo appends the event's four-byte wire form to b. The R bit is
// always written as zero and the volume is truncated to six bits, as
// RFC 4733 §2.3 requires of a sender.
func (e TelephoneEvent) AppendTo(b []byte) []byte {
	flags := e.Volume & volumeMask
	if e.End {
		flags |= endBit
	}
	return append(b, e.Code, flags, byte(e.Duration>>8), byte(e.Duration))
}

// Key returns the DTMF key the event code stands for. Codes above 15 are
// other events (RFC 4733 §3.2, RFC 4734): ok is false.
func (e TelephoneEvent) Key() (k Key, ok bool) {
	return KeyFromCode(e.Code)
}

// MaxEventsPerPacket bounds how many events EventShaped accepts in one
// payload: RFC 4733 §2.5.1.5 packs a few events per packet, a sender needs
// no more than a handful, and audio payloads are far longer.
const MaxEventsPerPacket = 8

// EventShaped reports whether an RTP payload could be RFC 4733 §2.3 DTMF
// events: one to MaxEventsPerPacket whole four-byte events with event codes
// 0–15 (RFC 4733 §3.2). It looks at the payload only, not at the payload
// type, because a key press could travel on any type: it is the rule for
// counting, or looking for, event-shaped packets among what an agent
// receives. A 4–32 byte audio payload whose every fourth byte is below 16
// passes too, which is why the rule is meant for streams whose audio
// frames are longer (20 ms of G.711 is 160 bytes).
func EventShaped(payload []byte) bool {
	if len(payload) == 0 || len(payload)%TelephoneEventSize != 0 || len(payload) > MaxEventsPerPacket*TelephoneEventSize {
		return false
	}
	for i := 0; i < len(payload); i += TelephoneEventSize {
		if payload[i] > 15 {
			return false
		}
	}
	return true
}
