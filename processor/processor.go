package processor

import (
	"context"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Processor charges a card through one payment processor (PSP).
//
// Charge and Reconcile are safe for concurrent use. Neither keeps the
// Request's card fields after it returns, copies them into a string, a
// log line or an error: the caller zeroes them once Charge returns.
type Processor interface {
	// Name is the processor's name in the configuration ("sandbox",
	// "stripe-uk"): for logs, records and metric labels.
	Name() string
	// Charge asks the processor to take req.Amount from the card, once
	// per req.IdempotencyKey: the same key again never charges twice, it
	// returns the outcome of the first charge. With req.Tokenize it takes
	// nothing: it saves the card for later charges and answers its
	// reusable token (Result.Token), once per key likewise; Approved then
	// means "card saved".
	//
	// The Result's Status always says what the caller may conclude, even
	// when the error is not nil: Failed means nothing was charged, Unknown
	// means the charge may have been taken (a timeout, a lost answer) and
	// must be settled with Reconcile, never retried under a new key. A
	// non-nil error explains a Failed or Unknown for the log; it carries
	// no card data.
	Charge(ctx context.Context, req *Request) (Result, error)
	// Reconcile asks the processor what became of an earlier Charge with
	// this idempotency key (after Unknown); it never charges. A Result
	// whose Status is still Unknown means the processor has not finished
	// yet. ErrNotFound means the processor has no charge under the key:
	// since some processors index charges with a delay (Stripe's search,
	// up to a minute), conclude "not charged" only when ErrNotFound
	// persists for a few minutes after the charge was attempted.
	Reconcile(ctx context.Context, idempotencyKey string) (Result, error)
}

// Request is one charge. The card fields are byte slices owned by the
// caller, who zeroes them after Charge returns (they are never strings,
// which cannot be zeroed).
type Request struct {
	// IdempotencyKey identifies the charge: the processor charges at most
	// once per key. 1 to MaxIdempotencyKeyLen characters of A-Z a-z 0-9
	// and "-_.:" (a UUID fits), so it can be quoted in a processor's
	// search query and sent in a header unchanged.
	IdempotencyKey string
	// PAN is the card number, 12 to 19 ASCII digits.
	PAN []byte
	// ExpMonth (1-12) and ExpYear (four digits, e.g. 2031) are the
	// expiry date.
	ExpMonth, ExpYear int
	// CVC is the security code, 3 or 4 ASCII digits.
	CVC []byte
	// Postcode is the billing postcode, optional: letters, digits,
	// spaces and hyphens, at most 16 bytes.
	Postcode []byte
	// Amount is in the currency's minor units (pence, cents; yen for
	// JPY), more than zero; zero when Tokenize.
	Amount int64
	// Tokenize asks for the card to be saved, not charged: the processor
	// answers a reusable token (Result.Token) and takes no money. Amount
	// is zero; Currency still names the currency later charges will be in.
	Tokenize bool
	// Currency is the ISO 4217 code, three letters ("GBP", "usd").
	Currency string
	// Reference is the caller's reference for the payment (an order or
	// invoice number), optional, at most 200 printable characters. It
	// goes to the processor as is, so it must not contain card data.
	Reference string
	// CardholderName is optional, at most 200 printable characters.
	CardholderName string
}

// Limits of Request.
const (
	// MaxIdempotencyKeyLen leaves room under Stripe's 255-character limit
	// for the suffix that tells a charge's requests apart.
	MaxIdempotencyKeyLen = 200
	// MaxAmount is the largest amount accepted, in minor units: Stripe's
	// own limit for most currencies (999,999.99).
	MaxAmount = 99_999_999
	// MaxTextLen bounds Reference and CardholderName.
	MaxTextLen = 200
	// MaxPostcodeLen bounds Postcode: the longest postal codes are 10
	// characters; 16 leaves room for spacing.
	MaxPostcodeLen = 16
)

// Validate checks the request before anything is sent. The error names
// the field and the rule, never the value; it wraps ErrInvalidRequest.
func (r *Request) Validate() error {
	var errs []error
	bad := func(field, rule string) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidRequest, field, rule))
	}
	if err := ValidateIdempotencyKey(r.IdempotencyKey); err != nil {
		errs = append(errs, err)
	}
	if n := len(r.PAN); n < 12 || n > 19 || !allDigits(r.PAN) {
		bad("pan", "not 12 to 19 digits")
	}
	if r.ExpMonth < 1 || r.ExpMonth > 12 {
		bad("exp_month", "not 1 to 12")
	}
	if r.ExpYear < 2000 || r.ExpYear > 2099 {
		bad("exp_year", "not a four-digit year 2000 to 2099")
	}
	if n := len(r.CVC); n < 3 || n > 4 || !allDigits(r.CVC) {
		bad("cvc", "not 3 or 4 digits")
	}
	if len(r.Postcode) > MaxPostcodeLen || !postcodeBytes(r.Postcode) {
		bad("postcode", fmt.Sprintf("not letters, digits, spaces and hyphens, at most %d", MaxPostcodeLen))
	}
	switch {
	case r.Tokenize && r.Amount != 0:
		bad("amount", "not zero: a card saved is not charged")
	case !r.Tokenize && (r.Amount <= 0 || r.Amount > MaxAmount):
		bad("amount", fmt.Sprintf("not 1 to %d minor units", MaxAmount))
	}
	if !isCurrency(r.Currency) {
		bad("currency", "not a three-letter ISO 4217 code")
	}
	if !printable(r.Reference, MaxTextLen) {
		bad("reference", fmt.Sprintf("not printable text of at most %d characters", MaxTextLen))
	}
	if !printable(r.CardholderName, MaxTextLen) {
		bad("cardholder_name", fmt.Sprintf("not printable text of at most %d characters", MaxTextLen))
	}
	return errors.Join(errs...)
}

// ValidateIdempotencyKey checks a key as Request.Validate does; the error
// wraps ErrInvalidRequest.
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return fmt.Errorf("%w: idempotency_key: not 1 to %d characters", ErrInvalidRequest, MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return fmt.Errorf("%w: idempotency_key: only A-Z a-z 0-9 and -_.: are allowed", ErrInvalidRequest)
		}
	}
	return nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func postcodeBytes(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ' ' || c == '-') {
			return false
		}
	}
	return true
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := s[i] | 0x20 // ASCII lower case
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 of at most max runes with no
// control characters (a value that could split a log line or a header).
func printable(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// Status is what became of a charge. The zero value is Unknown, so a
// Result nobody filled in never reads as approved.
type Status uint8

const (
	// Unknown: the charge may or may not have been taken (no answer
	// before the deadline, a lost connection, a processor error that
	// leaves the outcome open). Settle it with Reconcile; never charge
	// again under a new key.
	Unknown Status = iota
	// Approved: the processor took the payment.
	Approved
	// Declined: the issuer or the processor refused the card
	// (Result.DeclineCode says why). Nothing was charged.
	Declined
	// Failed: the charge was not made for a reason other than the card (a
	// request refused as invalid, bad credentials, a processor error that
	// is known to have charged nothing). Nothing was charged.
	Failed
)

var statusNames = [...]string{Unknown: "unknown", Approved: "approved", Declined: "declined", Failed: "failed"}

// String returns "unknown", "approved", "declined" or "failed".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Final reports whether the status settles the charge (anything but
// Unknown).
func (s Status) Final() bool { return s == Approved || s == Declined || s == Failed }

// ParseStatus is the inverse of String, for records and APIs.
func ParseStatus(text string) (Status, error) {
	for i, n := range statusNames {
		if text == n {
			return Status(i), nil
		}
	}
	return Unknown, fmt.Errorf("processor: %q is not a status (approved, declined, failed, unknown)", truncate(text, 32))
}

// MarshalText implements encoding.TextMarshaler (the String form).
func (s Status) MarshalText() ([]byte, error) {
	if int(s) >= len(statusNames) {
		return nil, fmt.Errorf("processor: status(%d) is not a status", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (ParseStatus).
func (s *Status) UnmarshalText(text []byte) error {
	v, err := ParseStatus(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Result is a processor's answer. Every field is safe to log and to
// store: no card data.
type Result struct {
	// Status is what became of the charge.
	Status Status
	// Reference is the processor's id for the charge (a Stripe
	// PaymentIntent id, "pi_…"), or for the saving of a card (a Stripe
	// SetupIntent id, "seti_…"), when it gave one.
	Reference string
	// Token is, for a card saved (Request.Tokenize) and Approved, the
	// reusable token later charges name the card by (a Stripe
	// PaymentMethod id attached to a Customer, "pm_…"; the HTTP
	// connector's receiver's own). It is not card data; empty otherwise.
	Token string
	// DeclineCode says why a card was declined (or, when the processor
	// gives one, why a charge failed), in the processor's vocabulary
	// (Stripe's decline codes: "do_not_honor", "insufficient_funds",
	// "expired_card", "incorrect_cvc", "processing_error", …).
	DeclineCode string
	// Message is a short human-readable explanation for the agent and the
	// log, never containing a digit from the processor's own text.
	Message string
}

// Errors that Charge and Reconcile wrap; test with errors.Is.
var (
	// ErrInvalidRequest: the request failed Validate; nothing was sent.
	ErrInvalidRequest = errors.New("processor: invalid request")
	// ErrTimeout: no answer before the deadline. The Status is Unknown,
	// or Failed when the unanswered request could not have charged
	// (Stripe's PaymentMethod request, before any PaymentIntent).
	ErrTimeout = errors.New("processor: no answer before the deadline")
	// ErrNotFound: Reconcile found no charge under the key.
	ErrNotFound = errors.New("processor: no charge under this idempotency key")
	// ErrIdempotencyMismatch: the key was used before for a different
	// amount, currency or reference; this call charged nothing, the first
	// charge stands.
	ErrIdempotencyMismatch = errors.New("processor: idempotency key reused with different parameters")
	// ErrProcessor: the processor refused or failed the request for a
	// reason other than the card (credentials, a malformed request, its
	// own error); *APIError has the details.
	ErrProcessor = errors.New("processor: processor error")
	// ErrTransport: the processor could not be reached or its answer was
	// lost or unreadable.
	ErrTransport = errors.New("processor: transport error")
)
