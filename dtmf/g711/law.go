package g711

import "fmt"

// Law names one of the two G.711 companding laws, so callers that handle
// both (the relay, the mask tone, the command line) need not branch.
type Law uint8

const (
	// Ulaw is G.711 µ-law, RTP payload type 0 (PCMU, RFC 3551 §4.5.14).
	Ulaw Law = iota + 1
	// Alaw is G.711 A-law, RTP payload type 8 (PCMA, RFC 3551 §4.5.14).
	Alaw
)

// String returns the RTP encoding name of the law.
func (l Law) String() string {
	switch l {
	case Ulaw:
		return "PCMU"
	case Alaw:
		return "PCMA"
	}
	return fmt.Sprintf("Law(%d)", uint8(l))
}

// Valid reports whether l is Ulaw or Alaw.
func (l Law) Valid() bool { return l == Ulaw || l == Alaw }

// Decode decodes codes from src into dst with the law and returns the number
// of samples written; an invalid Law writes nothing. (Decode and Encode
// switch to each law's function rather than call it from a table: through
// a function value dst and src would escape, and the masking path's
// per-packet buffers would be allocated on every packet.)
func (l Law) Decode(dst []int16, src []byte) int {
	switch l {
	case Ulaw:
		return DecodeUlaw(dst, src)
	case Alaw:
		return DecodeAlaw(dst, src)
	}
	return 0
}

// Encode encodes samples from src into dst with the law and returns the
// number of codes written; an invalid Law writes nothing.
func (l Law) Encode(dst []byte, src []int16) int {
	switch l {
	case Ulaw:
		return EncodeUlaw(dst, src)
	case Alaw:
		return EncodeAlaw(dst, src)
	}
	return 0
}

// Silence returns the law's code for a zero sample (0xFF for µ-law, 0xD5 for
// A-law), used to pad frames.
func (l Law) Silence() byte {
	if l == Alaw {
		return 0xD5
	}
	return 0xFF
}
