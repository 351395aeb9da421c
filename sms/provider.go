package sms

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode"

	"dtmfgw/internal/redact"
)

// Provider sends SMS: the Outbox (in memory, the default) or Twilio.
//
// Send is safe for concurrent use. It reads m.Body only to send it (the
// Outbox keeps it: that is its purpose) and never puts it in a log line
// or an error; its errors are *Error or wrap ErrInvalidMessage, and say
// with errors.Is(err, ErrTransient) or ErrPermanent whether trying again
// can help.
type Provider interface {
	// Name is the provider's name in the configuration ("outbox",
	// "twilio"): for logs and statuses.
	Name() string
	// Send hands m to the provider. A nil error means the provider took
	// the message (it may still fail to reach the handset later; the
	// Receipt's Status is the provider's word at this point).
	Send(ctx context.Context, m Message) (Receipt, error)
}

// Receipt is a provider's answer to a message it took.
type Receipt struct {
	// ProviderID is the provider's id of the message (Twilio's "SM…"
	// sid), safe to log.
	ProviderID string
	// Status is the provider's status word ("queued", "accepted",
	// "sent").
	Status string
}

// Classes of provider errors; test with errors.Is. Every *Error is one
// or the other.
var (
	// ErrTransient: trying again later may succeed (a timeout, a lost
	// connection, HTTP 429 or 5xx). A transient failure after the
	// request was sent may also mean the provider took the message, so
	// a retry can deliver it twice: SMS delivery is at least once.
	ErrTransient = errors.New("sms: transient provider error")
	// ErrPermanent: the same message will fail again (an invalid number,
	// an unsubscribed recipient, bad credentials, a refused request).
	ErrPermanent = errors.New("sms: permanent provider error")
)

// Codes of our own in Error.Code, for failures that did not come with a
// provider's code.
const (
	// CodeTimeout: no answer before the deadline.
	CodeTimeout = "timeout"
	// CodeNetwork: the connection failed or broke.
	CodeNetwork = "network"
	// CodeBadResponse: the answer could not be read as the provider's
	// (not JSON, no message id, too large). After a 2xx the provider may
	// have taken the message, so it is permanent: not sent twice.
	CodeBadResponse = "bad_response"
)

// Error is a provider's refusal or a failure to reach it. Its fields are
// safe to log: Message has been cleaned (see Error.Message), and no field
// holds the message's text or a credential.
type Error struct {
	// Provider is the provider's name ("twilio").
	Provider string
	// Status is the HTTP status of the answer, or 0 when there was none.
	Status int
	// Code is the provider's error code ("21211"), or one of ours
	// (CodeTimeout, CodeNetwork, CodeBadResponse), or "".
	Code string
	// Message is the provider's message, or ours: at most
	// maxProviderText characters, control characters replaced by spaces,
	// every number of 6 digits or more masked (providers echo the
	// recipient's number), and withheld whole if it quotes the SMS text.
	Message string
	// Transient says whether trying again may help (ErrTransient) or
	// not (ErrPermanent).
	Transient bool

	cause error
}

// Error returns "sms: twilio: HTTP 400, code 21211: <message> (permanent)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sms: ")
	if e.Provider != "" {
		b.WriteString(e.Provider)
		b.WriteString(": ")
	}
	if e.Status != 0 {
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
		b.WriteString(", ")
	}
	if e.Code != "" {
		b.WriteString("code ")
		b.WriteString(e.Code)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Transient {
		b.WriteString(" (transient)")
	} else {
		b.WriteString(" (permanent)")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrTransient) and errors.Is(err, ErrPermanent)
// follow Transient.
func (e *Error) Is(target error) bool {
	return target == ErrTransient && e.Transient || target == ErrPermanent && !e.Transient
}

// Unwrap returns the transport error behind a timeout or a network
// failure (so errors.Is(err, context.DeadlineExceeded) works), or nil.
// Its text is not part of Error's.
func (e *Error) Unwrap() error { return e.cause }

// errorCode is what a Status records as ErrorCode for err: the provider's
// code, "http_NNN" without one, "invalid_message", or "error" for an
// error that is not ours.
func errorCode(err error) string {
	if pe, ok := errors.AsType[*Error](err); ok {
		switch {
		case pe.Code != "":
			return pe.Code
		case pe.Status != 0:
			return "http_" + strconv.Itoa(pe.Status)
		}
		return "error"
	}
	if errors.Is(err, ErrInvalidMessage) {
		return "invalid_message"
	}
	return "error"
}

// transient reports whether err may pass if tried again. An error of a
// provider that says neither (not one of ours) is taken as transient: the
// Sender's attempts are bounded.
func transient(err error) bool { return !errors.Is(err, ErrPermanent) }

// Text from a provider is cleaned before it goes into an Error: a
// provider, or a proxy in front of it, may echo what it was sent.

// maxProviderText bounds Error.Message, in characters.
const maxProviderText = 200

// minNumberRun is the fewest digits in a number that cleanText masks:
// phone numbers have 8 or more, and providers' error codes have 5.
const minNumberRun = 6

// cleanText makes text fit for Error.Message: valid UTF-8, control
// characters turned into spaces, cut at maxProviderText characters, and
// the digits of every number of minNumberRun digits or more masked with
// '*'. A number's digits may be separated by one or two spaces, hyphens,
// dots or parentheses ("+1 (415) 555-2671" is one number of 11 digits),
// so that a formatted phone number is caught as well as a plain one.
func cleanText(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	var b []rune
	for _, r := range text {
		if len(b) == maxProviderText {
			b = append(b, '…')
			break
		}
		if r != ' ' && !unicode.IsPrint(r) {
			r = ' '
		}
		b = append(b, r)
	}
	maskNumbers(b)
	return strings.TrimSpace(string(b))
}

// numberSep reports whether r may stand between two digits of one
// written number.
func numberSep(r rune) bool { return r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' }

// maxNumberSeps is the most separators in a row within one number: ") "
// in "(415) 555".
const maxNumberSeps = 2

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

// maskNumbers masks, in place, the digits of every number in b that has
// minNumberRun digits or more: a number is a run of ASCII digits in which
// up to maxNumberSeps separators (numberSep) may stand between two
// digits.
func maskNumbers(b []rune) {
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		// b[i:end] is one number: it starts and ends with a digit.
		end, digits := i, 0
		for end < len(b) && isDigit(b[end]) {
			digits++
			end++
			// Separators count only if a digit follows them.
			k := end
			for k < len(b) && k-end < maxNumberSeps && numberSep(b[k]) {
				k++
			}
			if k > end && k < len(b) && isDigit(b[k]) {
				end = k
			}
		}
		if digits >= minNumberRun {
			for k := i; k < end; k++ {
				if isDigit(b[k]) {
					b[k] = '*'
				}
			}
		}
		i = end
	}
}

// cleanCode returns a provider's error code if it looks like one: 1 to 16
// of A-Z a-z 0-9 "_" "-", with fewer than minNumberRun digits in a row
// (Twilio's are 5 digits). Anything else becomes "".
func cleanCode(s string) string { return redact.Ident(s, 16, minNumberRun, "_-") }

// secretWindow is the shortest piece of a secret word that quotesSecret
// looks for: shorter pieces occur by chance in ordinary text.
const secretWindow = 8

// quotesSecret reports whether text holds a piece of m's secret: any
// secretWindow bytes of a word of m.Body that Redacted does not have (the
// words that were replaced: the token). A word is a run of A-Z a-z 0-9
// "-" "_", the characters of a URL token.
func quotesSecret(text string, m Message) bool {
	if text == "" || m.Body == m.Redacted {
		return false
	}
	keep := make(map[string]bool)
	for _, w := range words(m.Redacted) {
		keep[w] = true
	}
	for _, w := range words(m.Body) {
		if keep[w] || len(w) < secretWindow {
			continue
		}
		for i := 0; i+secretWindow <= len(w); i++ {
			if strings.Contains(text, w[i:i+secretWindow]) {
				return true
			}
		}
	}
	return false
}

// words splits s into runs of A-Z a-z 0-9 "-" "_".
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	})
}

// withheld replaces a provider's message that quotes the SMS text.
const withheld = "the provider's message quoted the SMS text and is withheld"

// providerMessage is cleanText(text), or withheld when text quotes m's
// secret, or fallback when nothing is left.
func providerMessage(text string, m Message, fallback string) string {
	if quotesSecret(text, m) {
		return withheld
	}
	if t := cleanText(text); t != "" {
		return t
	}
	return fallback
}
