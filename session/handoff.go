package session

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// The hand-off to a payment processor and to durable storage. The types
// here mirror the shapes of the processor package (issue 5): until it is
// merged the session defines them itself, and the integration replaces
// them with aliases (type ChargeRequest = processor.Request, …) without
// changing the payment code.

// ChargeRequest is what a payment hands its processor: the card data, as
// []byte aliasing the payment's capture buffers, and the attributes. The
// payment zeroes every []byte field (and the expiry) as soon as Charge
// returns; a processor must not keep them, copy them into a string it
// logs, or put them in an error.
type ChargeRequest struct {
	// IdempotencyKey is the same for every attempt at one payment, so a
	// retry can never charge twice.
	IdempotencyKey string
	PAN            []byte
	ExpMonth       int
	ExpYear        int // four digits
	CVC            []byte
	Postcode       []byte
	Amount         int64 // minor units
	Currency       string
	Reference      string
	CardholderName string
}

// String describes the request without its card data, so a request
// printed or logged by mistake (%v, %+v, %s) shows none.
func (r ChargeRequest) String() string {
	return fmt.Sprintf("charge %s: %d %s, card data withheld", r.IdempotencyKey, r.Amount, r.Currency)
}

// GoString is String, for %#v.
func (r ChargeRequest) GoString() string { return r.String() }

// LogValue is String, for log/slog.
func (r ChargeRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// ChargeStatus is the outcome of a charge.
type ChargeStatus uint8

// The outcomes of a charge.
const (
	// ChargeApproved: the processor took the payment.
	ChargeApproved ChargeStatus = iota + 1
	// ChargeDeclined: the issuer refused it (a decline code says why).
	ChargeDeclined
	// ChargeFailed: the processor refused it for a reason of its own, and
	// did not charge.
	ChargeFailed
	// ChargeUnknown: no answer (timeout, lost connection): it may or may
	// not have charged. It is reconciled by idempotency key, never
	// retried blindly.
	ChargeUnknown
)

// ChargeResult is the processor's answer.
type ChargeResult struct {
	Status ChargeStatus
	// Reference is the processor's id of the charge.
	Reference string
	// DeclineCode says why a charge was declined ("insufficient_funds").
	DeclineCode string
	// Message is a human-readable line without card data.
	Message string
}

// Processor charges cards. Charge and Reconcile are bounded by their
// context.
type Processor interface {
	// Name returns the processor's configuration name ("sandbox").
	Name() string
	// Charge charges the card. An error means the outcome is not known.
	Charge(ctx context.Context, req *ChargeRequest) (ChargeResult, error)
	// Reconcile asks what became of an earlier Charge with this
	// idempotency key (after ChargeUnknown); it never charges.
	Reconcile(ctx context.Context, idempotencyKey string) (ChargeResult, error)
}

// PaymentRecord is what durable storage keeps of a payment: never a card
// number, expiry, security code or any typed digit, only the brand and
// the last four digits of a valid card number.
type PaymentRecord struct {
	PaymentID      string
	CallID         string
	ConfigID       string
	Processor      string
	IdempotencyKey string
	State          PaymentState
	// Reason says why a payment ended without a processor result
	// ("agent ended", "session timeout", "call ended").
	Reason string
	Brand  Brand
	// Last4 is the card number's last four digits, once it is complete
	// and valid; else empty.
	Last4 string
	Attributes
	// ProcessorReference, DeclineCode and Message are the processor's.
	ProcessorReference string
	DeclineCode        string
	Message            string
	Correlation        Correlation
	Created, Updated   time.Time
}

// PaymentStore keeps payment records durably. RecordPayment inserts or
// replaces the record of r.PaymentID and returns once it is committed.
// A payment records itself before it calls the processor (so a crash in
// the middle leaves an idempotency key to reconcile), and records a result
// before any event reports it.
type PaymentStore interface {
	RecordPayment(ctx context.Context, r PaymentRecord) error
}
