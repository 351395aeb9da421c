package sdp

import (
	"errors"
	"fmt"
)

// ErrUnacceptable is wrapped by every error Parse and the negotiation
// functions return for a session description we cannot accept: the SIP
// layer answers 488 Not Acceptable Here (RFC 3261 §21.4.26). errors.As
// with *Error gives the Warning code and text for the response (RFC 3261
// §20.43).
var ErrUnacceptable = errors.New("sip: unacceptable SDP")

// Warning codes of RFC 3261 §20.43 used in Error.Code.
const (
	// WarnAddress is 301 Incompatible network address formats.
	WarnAddress = 301
	// WarnTransport is 302 Incompatible transport protocol.
	WarnTransport = 302
	// WarnMediaType is 304 Media type not available.
	WarnMediaType = 304
	// WarnMediaFormat is 305 Incompatible media format.
	WarnMediaFormat = 305
	// WarnParameter is 307 Session description parameter not understood.
	WarnParameter = 307
	// WarnMisc is 399 Miscellaneous warning.
	WarnMisc = 399
)

// Error says why a session description was refused. Text is short,
// plain ASCII without quotes or line breaks, and never quotes the SDP
// itself (it names a line by number at most), so it can go into a Warning
// header as it is: Warning: 305 host "no common codec".
type Error struct {
	// Code is a Warning code of RFC 3261 §20.43 (3xx).
	Code int
	// Text is the reason, for people.
	Text string
}

// Error returns "sip: unacceptable SDP: " and the reason.
func (e *Error) Error() string { return ErrUnacceptable.Error() + ": " + e.Text }

// Unwrap returns ErrUnacceptable.
func (e *Error) Unwrap() error { return ErrUnacceptable }

func badSDP(code int, format string, args ...any) error {
	return &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

// Limits on what Parse reads. A SIP body over UDP is far smaller than
// MaxSize; the rest bound the work one hostile body can cause.
const (
	// MaxSize is the largest SDP body Parse accepts, in bytes.
	MaxSize     = 32 << 10
	maxSDPLines = 1024
	maxLineLen  = 4096
	maxMedia    = 32  // m= lines
	maxFormats  = 64  // formats on one m= line
	maxTokenLen = 64  // media, proto, fmt, encoding name, o= username
	maxFmtpLen  = 512 // a=fmtp parameters kept (and passed on)
	maxPtime    = 1000
)
