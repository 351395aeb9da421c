package payment

import (
	"context"
	"time"

	"dtmfgw/call"
)

// The hand-off to a payment processor is package processor's Processor:
// a payment builds a processor.Request on its capture buffers (no copy of
// a digit), calls Charge once under its idempotency key, and zeroes the
// buffers, and so the request, as soon as Charge returns. An Unknown
// status is settled with Reconcile, never charged again.
//
// Durable storage is the small Store interface below, for the
// store package to implement.

// Record is what durable storage keeps of a payment: never a card
// number, expiry, security code or any typed digit, only the brand and
// the last four digits of a valid card number.
type Record struct {
	PaymentID      string
	CallID         string
	ConfigID       string
	Processor      string
	IdempotencyKey string
	// State is the payment's state as of this record; Previous the
	// state of its last record that storage took (0 for the first): what
	// a store that compares and sets expects to find. A payment records
	// its creation, the hand-off (processing), the processor's answer
	// (approved, declined, failed, reconciling and what reconciling
	// settles to) and an end without a charge (cancelled, timed out).
	State    State
	Previous State
	// Actor says who caused the record, for the audit trail: ActorAgent
	// (an action of the agent, through the form or the API on its behalf)
	// or ActorSystem (dtmfgw by itself: a timeout, the call's end, a
	// processor's answer). Action names the step ("payment.created").
	Actor, Action string
	// Reason says why a payment ended without a processor result
	// ("agent ended", "session timeout", "call ended").
	Reason string
	Brand  Brand
	// Last4 is the card number's last four digits, once it is complete
	// and valid; else empty.
	Last4 string
	Attributes
	// Token is a saved card's reusable token (an approved IntentTokenize
	// payment's).
	Token string
	// ProcessorReference, DeclineCode and Message are the processor's.
	ProcessorReference string
	DeclineCode        string
	Message            string
	Correlation        call.Correlation
	Created, Updated   time.Time
}

// Actors of Record.
const (
	ActorAgent  = "agent"
	ActorSystem = "system"
)

// Store keeps payment records durably. RecordPayment inserts or
// replaces the record of r.PaymentID and returns once it is committed.
// A payment records itself before it calls the processor (so a crash in
// the middle leaves an idempotency key to reconcile), and records a result
// before any event reports it.
type Store interface {
	RecordPayment(ctx context.Context, r Record) error
}
