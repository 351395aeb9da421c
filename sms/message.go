package sms

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode/utf8"

	"dtmfgw/internal/randid"
)

// Message is one SMS to send. Body is the text the recipient reads and
// holds a secret (a payment link's single-use token); Redacted is the same
// text with the secret replaced, and is the only form of the text that
// may reach a log line, an error, a metric or a record. Only a provider's
// Send reads Body (and the Outbox keeps it, as the "delivered" SMS).
type Message struct {
	// ID is ours, random (NewMessage draws it): it names the message in
	// statuses, logs and the outbox.
	ID string
	// To is the recipient's number in E.164 form ("+447700900123").
	To string
	// Body is the text sent, secret included: at most MaxBodyLen
	// characters.
	Body string
	// Redacted is Body with its secret replaced (RedactedMark).
	Redacted string
	// PaymentID is the payment the message is for, for logs and
	// statuses; optional.
	PaymentID string
}

// Limits of Message.
const (
	// MaxBodyLen is the longest Body, in characters: Twilio refuses a
	// longer one (error 21617), and ten concatenated segments are
	// already more than a payment link needs.
	MaxBodyLen = 1600
	// MaxIDLen bounds ID and PaymentID.
	MaxIDLen = 128
	// idBytes is the randomness of a message id (128 bits).
	idBytes = 16
)

// RedactedMark is what NewMessage puts in Redacted where Body has the
// secret.
const RedactedMark = "[redacted]"

// ErrInvalidMessage is wrapped by NewMessage, Message.Validate and the
// providers' Send for a message that cannot be sent as it is. It is a
// permanent error: errors.Is(err, ErrPermanent) holds, so a Sender does
// not retry it.
var ErrInvalidMessage = fmt.Errorf("%w: invalid message", ErrPermanent)

// NewMessage returns a message to to (normalised by NormalizeE164) for
// the payment paymentID, with a fresh ID. body is the text and secret the
// part of it that must never be logged: Redacted is body with every
// occurrence of secret replaced by RedactedMark. An empty secret means the
// text has none (Redacted is body). The error wraps ErrInvalidMessage and
// never quotes a value.
func NewMessage(to, paymentID, body, secret string) (Message, error) {
	n, err := NormalizeE164(to)
	if err != nil {
		return Message{}, fmt.Errorf("%w: to: %w", ErrInvalidMessage, err)
	}
	redacted := body
	if secret != "" {
		if !strings.Contains(body, secret) {
			return Message{}, fmt.Errorf("%w: the secret is not in the body", ErrInvalidMessage)
		}
		redacted = strings.ReplaceAll(body, secret, RedactedMark)
	}
	m := Message{ID: randid.New(idBytes), To: n, Body: body, Redacted: redacted, PaymentID: paymentID}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Validate checks the message before it is queued or sent. The error
// names the field and the rule, never the value; it wraps
// ErrInvalidMessage.
func (m Message) Validate() error {
	var errs []error
	bad := func(field, rule string) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidMessage, field, rule))
	}
	if !safeIdent(m.ID, MaxIDLen) {
		bad("id", fmt.Sprintf("not 1 to %d characters of A-Z a-z 0-9 - _ . :", MaxIDLen))
	}
	if !ValidE164(m.To) {
		bad("to", "not an E.164 number (+ then 8 to 15 digits)")
	}
	if !textOK(m.Body, MaxBodyLen) {
		bad("body", fmt.Sprintf("not 1 to %d characters of valid UTF-8", MaxBodyLen))
	}
	if !textOK(m.Redacted, maxRedactedLen) {
		bad("redacted", fmt.Sprintf("not 1 to %d characters of valid UTF-8", maxRedactedLen))
	}
	if m.PaymentID != "" && !safeIdent(m.PaymentID, MaxIDLen) {
		bad("payment_id", fmt.Sprintf("not 1 to %d characters of A-Z a-z 0-9 - _ . :", MaxIDLen))
	}
	return errors.Join(errs...)
}

// maxRedactedLen bounds Redacted: RedactedMark may be longer than the
// secret it replaces, so Redacted may be longer than Body.
const maxRedactedLen = 2 * MaxBodyLen

// textOK accepts a Body or a Redacted: valid UTF-8, not blank, at most
// max characters.
func textOK(s string, max int) bool {
	return strings.TrimSpace(s) != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= max
}

// safeIdent accepts an id that can go into a log line, a header or a URL
// as it is: 1 to max of A-Z a-z 0-9 and "-_.:".
func safeIdent(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// MaskedTo returns To with all but its first two and last three digits
// masked ("+44*******123"): enough to tell numbers apart in a log, not
// enough to call one.
func (m Message) MaskedTo() string { return maskNumber(m.To) }

func maskNumber(n string) string {
	if !ValidE164(n) {
		return "[invalid number]"
	}
	b := []byte(n)
	for i := 3; i < len(b)-3; i++ {
		b[i] = '*'
	}
	return string(b)
}

// String describes the message without its Body: id, masked number,
// payment id and the Redacted text.
func (m Message) String() string {
	return fmt.Sprintf("sms.Message{id=%s to=%s payment_id=%s text=%q}", m.ID, m.MaskedTo(), m.PaymentID, m.Redacted)
}

// Format prints String whatever the verb (%v, %+v, %#v, %s, %q, %x…), so
// that a message printed by mistake shows no Body.
func (m Message) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// LogValue is what slog logs of a message: never its Body.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", m.ID), slog.String("to", m.MaskedTo()),
		slog.String("payment_id", m.PaymentID), slog.String("text", m.Redacted))
}

// E.164 bounds. The upper one is the standard's (ITU-T E.164 §6: at
// most 15 digits, country code included). The lower one, 8, is ours: it
// catches a national number typed without its area code, at the cost of
// refusing the 7-digit numbers of a few territories (Niue +683, Saint
// Helena +290).
const (
	minE164Digits = 8
	maxE164Digits = 15
)

// ValidE164 reports whether s is an E.164 number as providers take it:
// "+", then 8 to 15 ASCII digits, the first 1 to 9.
func ValidE164(s string) bool {
	if len(s) < 1+minE164Digits || len(s) > 1+maxE164Digits || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ErrInvalidNumber is wrapped by NormalizeE164's errors.
var ErrInvalidNumber = errors.New("sms: invalid phone number")

// maxNumberInput bounds what NormalizeE164 reads: a written number with
// generous spacing is under 40 characters.
const maxNumberInput = 64

// NormalizeE164 turns a number as people write it into E.164: it drops
// spaces, tabs, hyphens, dots and parentheses, reads a leading "00" (the
// international prefix of most countries) as "+", drops a "(0)" (the
// trunk prefix some write after the country code, "+44 (0)20 …"), and
// then checks the result with ValidE164. A number without "+" or "00" is
// refused: without its country code it cannot be sent. The error says
// what is wrong, never the number; it wraps ErrInvalidNumber.
func NormalizeE164(s string) (string, error) {
	if len(s) > maxNumberInput {
		return "", fmt.Errorf("%w: longer than %d characters", ErrInvalidNumber, maxNumberInput)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidNumber)
	}
	// "(0)" is dropped whole before the other separators, so that its 0
	// does not become part of the number.
	s = strings.ReplaceAll(s, "(0)", "")
	digits := make([]byte, 0, len(s))
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			digits = append(digits, c)
		case c == '+':
			if plus || len(digits) > 0 {
				return "", fmt.Errorf("%w: a + that is not at the start", ErrInvalidNumber)
			}
			plus = true
		case c == ' ' || c == '\t' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", fmt.Errorf("%w: a character other than digits, +, spaces, hyphens, dots and parentheses", ErrInvalidNumber)
		}
	}
	if !plus {
		if len(digits) < 2 || digits[0] != '0' || digits[1] != '0' {
			return "", fmt.Errorf("%w: no country code (start with + or 00)", ErrInvalidNumber)
		}
		digits = digits[2:]
	}
	switch {
	case len(digits) == 0:
		return "", fmt.Errorf("%w: no digits", ErrInvalidNumber)
	case digits[0] == '0':
		return "", fmt.Errorf("%w: a country code cannot start with 0", ErrInvalidNumber)
	case len(digits) < minE164Digits || len(digits) > maxE164Digits:
		return "", fmt.Errorf("%w: %d digits, want %d to %d with the country code", ErrInvalidNumber, len(digits), minE164Digits, maxE164Digits)
	}
	out := "+" + string(digits)
	if !ValidE164(out) { // by construction; a guard against a future edit
		return "", fmt.Errorf("%w: not E.164", ErrInvalidNumber)
	}
	return out, nil
}
