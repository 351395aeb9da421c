package dtmf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SIP INFO DTMF has no RFC of its own. RFC 6086 defines the INFO method and
// its Info Packages; the two bodies met in the field predate it and are
// de facto conventions:
//
//   - application/dtmf-relay: "Signal=<key>" and an optional
//     "Duration=<milliseconds>" on separate lines, in any order;
//   - application/dtmf: the body is the key itself, e.g. "5".
//
// Both are parsed here without allocating, and no error returned by this
// file ever contains the key or any part of the body: a SIP INFO body is
// card data while a payment is being taken.

// MaxSIPInfoBody is the longest SIP INFO body ParseSIPInfo reads. Real
// bodies are a few dozen bytes; anything this long is refused rather than
// scanned.
const MaxSIPInfoBody = 1024

// maxSIPInfoDurationMS bounds the Duration field. A key held for ten
// minutes is not a key press; refusing it keeps the arithmetic small.
const maxSIPInfoDurationMS = 600_000

// Content types of the two SIP INFO DTMF bodies (compared case-insensitively,
// RFC 3261 §7.3.1 and RFC 2045 §5.1).
const (
	ContentTypeDTMFRelay = "application/dtmf-relay"
	ContentTypeDTMF      = "application/dtmf"
)

var (
	// ErrUnsupportedContentType is returned for a SIP INFO whose
	// Content-Type is neither application/dtmf-relay nor application/dtmf.
	ErrUnsupportedContentType = errors.New("dtmf: unsupported SIP INFO content type")
	// ErrMalformedSIPInfo is returned for a DTMF body that cannot be read.
	ErrMalformedSIPInfo = errors.New("dtmf: malformed SIP INFO DTMF body")
	// ErrSIPInfoTooLarge is returned for a body longer than MaxSIPInfoBody.
	ErrSIPInfoTooLarge = errors.New("dtmf: SIP INFO body too large")
	// ErrNotAKey is returned for a well-formed body that signals something
	// other than one of the sixteen keys (for example hook flash, event 16
	// in RFC 4733 §3.2, often sent as "Signal=!"). Callers usually ignore it.
	ErrNotAKey = errors.New("dtmf: SIP INFO signal is not a DTMF key")
)

// ParseSIPInfo reads the key, and the press duration when the body gives
// one, from a SIP INFO request body. contentType is the Content-Type header
// value; parameters after ';' are ignored and the media type is compared
// case-insensitively. The duration is 0 when the body does not give one.
//
// Errors wrap ErrUnsupportedContentType, ErrSIPInfoTooLarge,
// ErrMalformedSIPInfo or ErrNotAKey and never contain the body.
func ParseSIPInfo(contentType string, body []byte) (Key, time.Duration, error) {
	mt := mediaType(contentType)
	switch {
	case strings.EqualFold(mt, ContentTypeDTMFRelay):
		return ParseDTMFRelay(body)
	case strings.EqualFold(mt, ContentTypeDTMF):
		k, err := ParseDTMFBody(body)
		return k, 0, err
	}
	// The content type is not card data; it is shown (bounded) to help
	// whoever reads the log find the misconfigured peer.
	if len(mt) > 64 {
		mt = mt[:64]
	}
	return 0, 0, fmt.Errorf("%w: %q", ErrUnsupportedContentType, mt)
}

// ParseDTMFRelay reads an application/dtmf-relay body: lines "Signal=<key>"
// and optionally "Duration=<ms>", separated by CRLF or LF, in either order,
// with field names in any case and blanks around names and values. Lines
// with other names are ignored, as senders add their own. Signal is one of
// 0–9, *, #, A–D (or a–d), or a numeric event code 10–15 (RFC 4733 §3.2).
func ParseDTMFRelay(body []byte) (Key, time.Duration, error) {
	if len(body) > MaxSIPInfoBody {
		return 0, 0, fmt.Errorf("%w: %d bytes (limit %d)", ErrSIPInfoTooLarge, len(body), MaxSIPInfoBody)
	}
	var (
		key         Key
		haveSignal  bool
		durMS       int
		haveDur     bool
		notAKey     bool
		lineNo, pos int
	)
	for pos < len(body) {
		end := pos
		for end < len(body) && body[end] != '\n' {
			end++
		}
		line := body[pos:end]
		pos = end + 1
		lineNo++
		line = bytes.TrimSpace(line) // also drops the CR of a CRLF
		if len(line) == 0 {
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			return 0, 0, fmt.Errorf("%w: line %d has no '='", ErrMalformedSIPInfo, lineNo)
		}
		name, value := bytes.TrimSpace(line[:eq]), bytes.TrimSpace(line[eq+1:])
		switch {
		case bytes.EqualFold(name, []byte("signal")):
			if haveSignal {
				return 0, 0, fmt.Errorf("%w: more than one Signal line", ErrMalformedSIPInfo)
			}
			haveSignal = true
			k, ok, known := parseSignal(value)
			switch {
			case ok:
				key = k
			case known:
				notAKey = true
			default:
				return 0, 0, fmt.Errorf("%w: line %d: Signal value is not a key", ErrMalformedSIPInfo, lineNo)
			}
		case bytes.EqualFold(name, []byte("duration")):
			if haveDur {
				return 0, 0, fmt.Errorf("%w: more than one Duration line", ErrMalformedSIPInfo)
			}
			haveDur = true
			ms, ok := parseMillis(value)
			if !ok {
				return 0, 0, fmt.Errorf("%w: line %d: Duration is not a number of milliseconds up to %d", ErrMalformedSIPInfo, lineNo, maxSIPInfoDurationMS)
			}
			durMS = ms
		}
	}
	if !haveSignal {
		return 0, 0, fmt.Errorf("%w: no Signal line", ErrMalformedSIPInfo)
	}
	if notAKey {
		return 0, 0, ErrNotAKey
	}
	return key, time.Duration(durMS) * time.Millisecond, nil
}

// ParseDTMFBody reads an application/dtmf body: the key alone (0–9, *, #,
// A–D, a–d) or its numeric event code 10–15, with surrounding blanks and
// line ends ignored.
func ParseDTMFBody(body []byte) (Key, error) {
	if len(body) > MaxSIPInfoBody {
		return 0, fmt.Errorf("%w: %d bytes (limit %d)", ErrSIPInfoTooLarge, len(body), MaxSIPInfoBody)
	}
	v := bytes.TrimSpace(body)
	if len(v) == 0 {
		return 0, fmt.Errorf("%w: empty body", ErrMalformedSIPInfo)
	}
	k, ok, known := parseSignal(v)
	switch {
	case ok:
		return k, nil
	case known:
		return 0, ErrNotAKey
	}
	return 0, fmt.Errorf("%w: body is not a key", ErrMalformedSIPInfo)
}

// parseSignal reads a key character or an event code. ok is true for one of
// the sixteen keys. known is true for a recognised signal that is not a key:
// '!' (hook flash) or an event code 16–255 (RFC 4733 §3.2, RFC 4734).
func parseSignal(v []byte) (k Key, ok, known bool) {
	if len(v) == 1 {
		if k, ok := KeyFromChar(v[0]); ok {
			return k, true, false
		}
		return 0, false, v[0] == '!'
	}
	if len(v) == 0 || len(v) > 3 {
		return 0, false, false
	}
	code := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		code = code*10 + int(c-'0')
	}
	if v[0] == '0' || code > 255 {
		// "05" or "300" is no convention we know of.
		return 0, false, false
	}
	if k, ok := KeyFromCode(uint8(code)); ok {
		return k, true, false
	}
	return 0, false, true
}

// parseMillis reads a non-negative decimal integer no larger than
// maxSIPInfoDurationMS.
func parseMillis(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 7 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= maxSIPInfoDurationMS
}

// mediaType returns the part of a Content-Type value before any parameters
// (RFC 2045 §5.1), without surrounding blanks.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}
