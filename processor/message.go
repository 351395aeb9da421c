package processor

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"dtmfgw/internal/redact"
)

// Text that comes back from a processor (its message, error code, ids) is
// checked before it goes into a Result, an error or a log line: a
// processor, a proxy or a mock that echoes the request could otherwise
// hand the card number straight back to us.

// maxMessageLen bounds Result.Message, in runes.
const maxMessageLen = 200

// safeMessage returns text if it is fit for Result.Message: valid UTF-8,
// printable, not empty and without a single digit (no digit means no part
// of a card number, expiry or code); otherwise fallback. Long text is cut
// at maxMessageLen runes.
func safeMessage(text, fallback string) string {
	text = strings.TrimSpace(text)
	if text == "" || !utf8.ValidString(text) {
		return fallback
	}
	n := 0
	for i, r := range text {
		if unicode.IsDigit(r) || !unicode.IsPrint(r) {
			return fallback
		}
		if n == maxMessageLen {
			return text[:i] + "…"
		}
		n++
	}
	return text
}

// maxTokenLen bounds a code, a type or a parameter name from a processor.
const maxTokenLen = 64

// safeToken returns s if it looks like a processor's code, type or
// parameter name ("card_declined", "card[exp_month]"): ASCII letters,
// "_", "[", "]", "." and "-", at most maxTokenLen, no digits. Anything
// else becomes "".
func safeToken(s string) string {
	if len(s) > maxTokenLen {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '[' || c == ']' || c == '.' || c == '-') {
			return ""
		}
	}
	return s
}

// maxIDLen bounds an object or request id from a processor.
const maxIDLen = 255

// minPANRun is the shortest run of digits that could be a card number
// (Request.Validate's lower bound).
const minPANRun = 12

// safeID returns s if it looks like a processor's object or request id
// ("pi_3Mtw…", "req_…", "sbx_…"): ASCII letters, digits and "_", at most
// maxIDLen, and no run of minPANRun or more digits. Anything else
// becomes "".
func safeID(s string) string { return redact.Ident(s, maxIDLen, minPANRun, "_") }
