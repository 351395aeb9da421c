package sip

import (
	"errors"
	"fmt"
	"unicode/utf8"

	sipmsg "github.com/emiago/sipgo/sip"
)

// MaxHeaderValueLen bounds every header value we copy between legs or build
// from input. RFC 3261 sets no limit; 1024 bytes is far above any value a
// B2BUA needs to carry (a long P-Asserted-Identity is ~200) and small enough
// that a hostile peer cannot make us relay or log kilobytes per header.
const MaxHeaderValueLen = 1024

// MaxHeaderNameLen bounds a header name. A name comes from our own config
// or from a peer's message; no registered header name is near this long.
const MaxHeaderNameLen = 128

// ErrInvalidHeader is wrapped by every error that rejects a header name or
// value (see HeaderError).
var ErrInvalidHeader = errors.New("invalid SIP header")

// ErrLegHeader is wrapped when asked to copy or set a header that the B2BUA
// must build separately for each leg (RFC 3261 §8.1.1, §12.1: Via, From, To,
// Call-ID, CSeq, Contact, Route and the body headers belong to one dialog).
var ErrLegHeader = errors.New("header is built per leg and never copied")

// HeaderError says why a header name or value was refused. It names the
// header (once the name itself is known to be a token) and never contains
// the value, which may be anything a peer sent, card digits included.
type HeaderError struct {
	// Header is the header name, empty when the name itself was refused.
	Header string
	// Reason says what is wrong, without quoting the value.
	Reason string
}

// Error formats the header and the reason, never the value.
func (e *HeaderError) Error() string {
	if e.Header == "" {
		return "invalid SIP header name: " + e.Reason
	}
	return "invalid SIP header " + e.Header + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidHeader) hold.
func (e *HeaderError) Unwrap() error { return ErrInvalidHeader }

// isTokenChar reports whether c may appear in an RFC 3261 §25.1 token:
// alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

// ValidateHeaderName checks that name is an RFC 3261 §25.1 token
// (header-name = token, §25.1 extension-header) of at most MaxHeaderNameLen
// bytes. The error does not quote the name: a name that is not a token may
// hold anything.
func ValidateHeaderName(name string) error {
	if name == "" {
		return &HeaderError{Reason: "empty"}
	}
	if len(name) > MaxHeaderNameLen {
		return &HeaderError{Reason: fmt.Sprintf("longer than %d bytes", MaxHeaderNameLen)}
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return &HeaderError{Reason: "not an RFC 3261 §25.1 token"}
		}
	}
	return nil
}

// ValidateHeaderValue checks a header value before it is written into a SIP
// message. It refuses CR, LF and NUL (a CR or LF ends the header line and
// would let the value inject headers or a body, RFC 3261 §7.3.1; a NUL
// truncates it for C peers), every other C0 control except HTAB, DEL, C1
// controls (U+0085 is a line break to some parsers), U+2028/U+2029,
// malformed UTF-8 (§25.1 TEXT-UTF8 allows only well-formed UTF8-NONASCII),
// and values longer than MaxHeaderValueLen bytes. An empty value is valid.
//
// The error names the header (after ValidateHeaderName) and never contains
// the value.
func ValidateHeaderValue(name, value string) error {
	if err := ValidateHeaderName(name); err != nil {
		return err
	}
	if reason := checkValue(value, MaxHeaderValueLen); reason != "" {
		return &HeaderError{Header: name, Reason: reason}
	}
	return nil
}

// checkValue returns why value may not be written into a header, or "".
// The reason never quotes the value.
func checkValue(value string, maxLen int) string {
	if len(value) > maxLen {
		return fmt.Sprintf("value longer than %d bytes", maxLen)
	}
	for i := 0; i < len(value); {
		c := value[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return fmt.Sprintf("value contains control character 0x%02X", c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(value[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return "value is not valid UTF-8"
		case 0x80 <= r && r <= 0x9f:
			return fmt.Sprintf("value contains control character U+%04X", r)
		case r == 0x2028 || r == 0x2029:
			return fmt.Sprintf("value contains line separator U+%04X", r)
		}
		i += size
	}
	return ""
}

// legHeaders are the headers a B2BUA builds itself on each leg (RFC 3261
// §8.1.1 for the request, §12.1 for the dialog, §20.14/§20.15 for the body),
// long and compact (§7.3.3) forms, lower case. Copying one of them from the
// other leg would mix two dialogs.
var legHeaders = map[string]bool{
	"via": true, "v": true,
	"from": true, "f": true,
	"to": true, "t": true,
	"call-id": true, "i": true,
	"cseq":    true,
	"contact": true, "m": true,
	"route":          true,
	"record-route":   true,
	"max-forwards":   true,
	"content-length": true, "l": true,
	"content-type": true, "c": true,
	"content-encoding": true, "e": true,
}

// isLegHeader reports whether name is one of legHeaders, in any case.
func isLegHeader(name string) bool {
	return legHeaders[sipmsg.ASCIIToLower(name)]
}

// MessageHeaders is the part of a SIP message the header helpers use;
// sipgo's *sip.Request and *sip.Response implement it.
type MessageHeaders interface {
	GetHeaders(name string) []sipmsg.Header
	AppendHeader(header sipmsg.Header)
	RemoveHeader(name string) bool
}

// CopyHeader copies every instance of the header name from src to dst,
// replacing any instance dst already has, and returns how many it copied.
// It copies nothing, and returns an error naming the header, when the name
// is not a token, is a header built per leg (ErrLegHeader), or when any
// instance's value fails ValidateHeaderValue: a B2BUA relays a header whole
// or not at all (RFC 3261 §7.3.1 lets a list header be split over lines, so
// dropping one line would change its meaning). A header src lacks leaves
// dst unchanged and returns 0, nil.
func CopyHeader(dst, src MessageHeaders, name string) (int, error) {
	if err := ValidateHeaderName(name); err != nil {
		return 0, err
	}
	if isLegHeader(name) {
		return 0, fmt.Errorf("%w: %s", ErrLegHeader, name)
	}
	hs := src.GetHeaders(name)
	if len(hs) == 0 {
		return 0, nil
	}
	for _, h := range hs {
		if err := ValidateHeaderValue(name, h.Value()); err != nil {
			return 0, err
		}
	}
	removeHeaders(dst, name)
	for _, h := range hs {
		// Written under the configured spelling of the name so that both
		// legs carry one spelling whatever case the peer used (§7.3.1:
		// names are case-insensitive).
		dst.AppendHeader(sipmsg.NewHeader(name, h.Value()))
	}
	return len(hs), nil
}

// SetHeader replaces every instance of the header name in m with one header
// carrying value, after checking both with ValidateHeaderValue. Headers
// built per leg are refused with ErrLegHeader. On error m is unchanged.
func SetHeader(m MessageHeaders, name, value string) error {
	if err := ValidateHeaderValue(name, value); err != nil {
		return err
	}
	if isLegHeader(name) {
		return fmt.Errorf("%w: %s", ErrLegHeader, name)
	}
	removeHeaders(m, name)
	m.AppendHeader(sipmsg.NewHeader(name, value))
	return nil
}

// removeHeaders removes every instance of name from m, whatever the case of
// each instance's spelling (sipgo's RemoveHeader matches the exact name and
// removes one instance per call).
func removeHeaders(m MessageHeaders, name string) {
	for _, h := range m.GetHeaders(name) {
		m.RemoveHeader(h.Name())
	}
}
