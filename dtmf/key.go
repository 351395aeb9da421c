package dtmf

import "time"

// Key is one of the sixteen DTMF keys, held as its ASCII character:
// '0'–'9', '*', '#' and 'A'–'D'. The zero Key is not a key.
type Key byte

// keyByCode maps RFC 4733 §3.2 event codes 0–15 to keys.
var keyByCode = [16]Key{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'}

// KeyFromCode returns the key for an RFC 4733 event code. Codes above 15
// are other telephony events (RFC 4733 §3.2, RFC 4734): ok is false.
func KeyFromCode(code uint8) (k Key, ok bool) {
	if code > 15 {
		return 0, false
	}
	return keyByCode[code], true
}

// KeyFromChar returns the key for a character, accepting lower-case a–d.
func KeyFromChar(c byte) (k Key, ok bool) {
	switch {
	case c >= '0' && c <= '9', c == '*', c == '#', c >= 'A' && c <= 'D':
		return Key(c), true
	case c >= 'a' && c <= 'd':
		return Key(c - 'a' + 'A'), true
	}
	return 0, false
}

// Code returns the key's RFC 4733 event code, or 0xFF if k is not a key.
func (k Key) Code() uint8 {
	switch {
	case k >= '0' && k <= '9':
		return uint8(k - '0')
	case k == '*':
		return 10
	case k == '#':
		return 11
	case k >= 'A' && k <= 'D':
		return uint8(k-'A') + 12
	}
	return 0xFF
}

// Valid reports whether k is one of the sixteen keys.
func (k Key) Valid() bool { return k.Code() != 0xFF }

// String returns "•" for a key and "?" for a value that is not one: the
// key itself is card data, and String is what %v, %s and log attributes
// print, so nothing formatted by accident can carry a digit. Use Reveal
// where showing the key is the point (dtmfgw detect, tests).
func (k Key) String() string {
	if !k.Valid() {
		return "?"
	}
	return "•"
}

// MarshalText returns what String does. Without it, encoding/json and
// slog's JSON handler would write a Key as its byte value (48 for "0"),
// which reveals the key as surely as the character.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Reveal returns the key's character ("0"–"9", "*", "#", "A"–"D"), or "?"
// for a value that is not a key. Only code whose purpose is to show keys
// calls it.
func (k Key) Reveal() string {
	if !k.Valid() {
		return "?"
	}
	return string(rune(k))
}

// Kind says whether a KeyEvent starts or ends a key press.
type Kind uint8

const (
	// Begin is emitted once per key press, as soon as the press is known.
	Begin Kind = iota + 1
	// End is emitted once per key press, after its Begin.
	End
)

func (k Kind) String() string {
	switch k {
	case Begin:
		return "begin"
	case End:
		return "end"
	}
	return "unknown"
}

// Source says how a key press reached us.
type Source uint8

const (
	// SourceRFC4733 is a telephone-event RTP stream (RFC 4733).
	SourceRFC4733 Source = iota + 1
	// SourceInband is a tone pair in the audio (ITU-T Q.23).
	SourceInband
	// SourceSIPInfo is a SIP INFO request body.
	SourceSIPInfo
)

func (s Source) String() string {
	switch s {
	case SourceRFC4733:
		return "rfc4733"
	case SourceInband:
		return "inband"
	case SourceSIPInfo:
		return "sipinfo"
	}
	return "unknown"
}

// KeyEvent is the beginning or the end of one key press. The Tracker fills
// the RTP fields, the Detector the sample fields.
type KeyEvent struct {
	Kind   Kind
	Key    Key
	Source Source

	// RTPTimestamp is the RTP timestamp of the event's first segment
	// (RFC 4733 §2.5.1.1: every packet of one event carries the event's start).
	RTPTimestamp uint32
	// Duration is the press length in RTP clock units (RFC 4733) or in
	// samples at 8 kHz (in-band). On Begin it is what is known so far.
	Duration uint32
	// FirstSeen is the arrival time of the first packet seen of this press
	// (RFC 4733), as passed in by the caller.
	FirstSeen time.Time

	// Onset is the index, in samples since the Detector started, of the
	// tone's first sample (in-band only).
	Onset int64
	// EndSample is the index one past the tone's last sample (in-band End only).
	EndSample int64
	// DecisionLatency is how many samples after Onset the Detector had
	// consumed when it decided (in-band Begin only).
	DecisionLatency int
}
