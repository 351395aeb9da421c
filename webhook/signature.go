package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>":
	// the HMAC, keyed with the configuration's webhook secret, of the
	// decimal timestamp, a dot and the body exactly as sent.
	SignatureHeader = "Dtmfgw-Signature"
	// DeliveryHeader carries the delivery's id: the same on every retry,
	// so a receiver can drop a delivery it has already taken.
	DeliveryHeader = "Dtmfgw-Delivery"
	// EventHeader carries the event type ("payment.result",
	// "payment.progress").
	EventHeader = "Dtmfgw-Event"
)

// DefaultTolerance is how far from the receiver's clock Verify accepts a
// signature's timestamp when given no tolerance: enough for clock skew
// and a slow network, short enough that a captured request replayed
// later is refused.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify. Each names what failed, never the secret or the
// expected signature.
var (
	// ErrNoSignature: the header is empty.
	ErrNoSignature = errors.New("webhook: no signature")
	// ErrBadHeader: the header is not t=<unix>,v1=<hex>[,…].
	ErrBadHeader = errors.New("webhook: malformed signature header")
	// ErrTimestamp: the timestamp is further than the tolerance from
	// now (a replay, or a clock far off).
	ErrTimestamp = errors.New("webhook: signature timestamp outside the tolerance")
	// ErrSignature: no v1 signature matches the body and the secret.
	ErrSignature = errors.New("webhook: signature does not match")
)

// Limits of the header parser: a header longer, or with more parts, is
// not one dtmfgw sent.
const (
	maxHeaderLen   = 4096
	maxHeaderParts = 16
)

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// mac is HMAC-SHA256(secret, ts "." body).
func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// signature is a parsed SignatureHeader.
type signature struct {
	ts string   // the timestamp as sent: the signed text
	t  int64    // the timestamp
	v1 [][]byte // every v1 signature (several while a secret is rotated)
}

// parseSignature reads "t=<unix>,v1=<hex>[,v1=<hex>…]". Parts of other
// schemes (v0=, v2=) are ignored, so a newer sender's header still
// verifies; spaces around parts are allowed.
func parseSignature(h string) (signature, error) {
	var s signature
	if strings.TrimSpace(h) == "" {
		return s, ErrNoSignature
	}
	if len(h) > maxHeaderLen {
		return s, fmt.Errorf("%w: longer than %d bytes", ErrBadHeader, maxHeaderLen)
	}
	parts := strings.Split(h, ",")
	if len(parts) > maxHeaderParts {
		return s, fmt.Errorf("%w: more than %d parts", ErrBadHeader, maxHeaderParts)
	}
	seenT := false
	for _, part := range parts {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return s, fmt.Errorf("%w: a part is not key=value", ErrBadHeader)
		}
		switch k {
		case "t":
			if seenT {
				return s, fmt.Errorf("%w: two timestamps", ErrBadHeader)
			}
			seenT = true
			t, err := parseUnix(v)
			if err != nil {
				return s, err
			}
			s.ts, s.t = v, t
		case "v1":
			if len(v) != 2*sha256.Size {
				return s, fmt.Errorf("%w: a v1 signature is not %d hex digits", ErrBadHeader, 2*sha256.Size)
			}
			b, err := hex.DecodeString(v)
			if err != nil {
				return s, fmt.Errorf("%w: a v1 signature is not hex", ErrBadHeader)
			}
			s.v1 = append(s.v1, b)
		}
	}
	if !seenT {
		return s, fmt.Errorf("%w: no timestamp (t=)", ErrBadHeader)
	}
	if len(s.v1) == 0 {
		return s, fmt.Errorf("%w: no v1 signature", ErrBadHeader)
	}
	return s, nil
}

// parseUnix reads a timestamp as Sign writes it: 1 to 12 decimal digits,
// no sign (the signed text must be the one sent, so no other spelling of
// the number is accepted).
func parseUnix(v string) (int64, error) {
	if len(v) == 0 || len(v) > 12 {
		return 0, fmt.Errorf("%w: the timestamp is not 1 to 12 digits", ErrBadHeader)
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: the timestamp is not decimal seconds", ErrBadHeader)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// Verify checks a delivery as a receiver gets it: header is the
// Dtmfgw-Signature header, body the request body exactly as read, now
// the receiver's clock, tolerance how far the timestamp may be from now
// (0: DefaultTolerance). It returns nil when one v1 signature is the
// HMAC-SHA256 of the timestamp, ".", and the body under secret, and the
// timestamp is within the tolerance; else an error wrapping
// ErrNoSignature, ErrBadHeader, ErrTimestamp or ErrSignature.
//
// Verify before parsing the body, and drop a Dtmfgw-Delivery id already
// taken: a delivery is retried until it is acknowledged with a 2xx, so it
// may come more than once.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return errors.New("webhook: Verify needs the secret")
	}
	s, err := parseSignature(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	skew := now.Unix() - s.t
	if skew < 0 {
		skew = -skew
	}
	if skew > int64(tolerance/time.Second) {
		return ErrTimestamp
	}
	want := mac(secret, s.ts, body)
	ok := false
	for _, got := range s.v1 {
		// Every candidate is compared, in constant time.
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}
