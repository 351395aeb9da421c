package payment

import (
	"errors"
	"time"

	"dtmfgw/internal/enumtext"
	"dtmfgw/processor"
)

// State is where a payment is in its life:
//
//	created → collecting ⇄ ready → processing → approved | declined | failed
//	                                          ↘ reconciling → approved | declined | failed
//	created, collecting, ready → cancelled | timed out
//
// A processor whose answer is processor.Unknown (no answer in time, a
// lost connection) leaves the payment reconciling rather than failed: the
// card may have been charged, so it is neither charged again nor reported
// as failed until Reconcile has asked the processor by idempotency key.
// Its card data is zeroed all the same: reconciling needs none.
type State uint8

// The payment states.
const (
	// StateCreated: made for a call, no field armed yet.
	StateCreated State = iota + 1
	// StateCollecting: the caller is typing; not every required field is
	// complete and valid.
	StateCollecting
	// StateReady: every required field is complete and valid; Process
	// may hand the card to the processor.
	StateReady
	// StateProcessing: the processor has the card.
	StateProcessing
	// StateApproved, StateDeclined, StateFailed: the processor's answer.
	StateApproved
	StateDeclined
	StateFailed
	// StateCancelled: ended by the agent, or by the call's end, before
	// processing.
	StateCancelled
	// StateTimedOut: the session timeout ended it before processing.
	StateTimedOut
	// StateReconciling: the processor gave no answer; Reconcile asks it
	// what became of the charge.
	StateReconciling
)

var stateText = enumtext.Table[State]{What: "payment: payment state", Invalid: "invalid", Names: []string{
	StateCreated: "created", StateCollecting: "collecting", StateReady: "ready", StateProcessing: "processing",
	StateApproved: "approved", StateDeclined: "declined", StateFailed: "failed", StateCancelled: "cancelled",
	StateTimedOut: "timed_out", StateReconciling: "reconciling",
}}

// String returns the state's name ("timed_out").
func (s State) String() string { return stateText.String(s) }

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) { return stateText.MarshalText(s) }

// Final reports whether the state is an end: approved, declined, failed,
// cancelled or timed out.
func (s State) Final() bool { return s >= StateApproved && s <= StateTimedOut }

// open reports whether the payment takes digits and agent edits.
func (s State) open() bool { return s >= StateCreated && s <= StateReady }

// blocking reports whether a payment in s keeps another from starting on
// its call.
func (s State) blocking() bool { return s >= StateCreated && s <= StateProcessing }

// Errors of payments.
var (
	// ErrInProgress: the call already has a payment that is not over.
	ErrInProgress = errors.New("payment: the call already has a payment in progress")
	// ErrNoConfig: no payment configuration has the id.
	ErrNoConfig = errors.New("payment: no such payment configuration")
	// ErrNoField: the payment's configuration has no field with the id.
	ErrNoField = errors.New("payment: no such field")
	// ErrNotReady: Process was called before every required field was
	// complete and valid, or without an amount and currency.
	ErrNotReady = errors.New("payment: payment not ready")
	// ErrProcessing: the processor has the card; the payment cannot be
	// changed or ended until it answers.
	ErrProcessing = errors.New("payment: payment being processed")
	// ErrEnded: the payment is over.
	ErrEnded = errors.New("payment: payment ended")
	// ErrBadAttributes wraps an unusable amount, currency, reference or
	// name.
	ErrBadAttributes = errors.New("payment: bad payment attributes")
	// ErrNotRecorded: durable storage refused the record. Before
	// processing, nothing was charged; after, the result is kept in memory
	// and Reconcile records it.
	ErrNotRecorded = errors.New("payment: payment record not stored")
	// ErrStillUnknown: Reconcile got no answer either.
	ErrStillUnknown = errors.New("payment: charge outcome still unknown")
	// ErrNotReconciling: Reconcile was called on a payment with nothing to
	// reconcile.
	ErrNotReconciling = errors.New("payment: payment not awaiting reconciliation")
	// ErrSetClosed: the call has ended.
	ErrSetClosed = errors.New("payment: call's payments closed")

	// A payment looked up by id (Ref) refuses with these.

	// ErrNotFound: no payment has this id, live, waiting or stored.
	ErrNotFound = errors.New("payment: no such payment")
	// ErrNoCall: no live call with this id takes payments.
	ErrNoCall = errors.New("payment: no such live call")
	// ErrInvalidState: the payment cannot do this in its current state.
	ErrInvalidState = errors.New("payment: not in the payment's current state")
	// ErrNoConfigYet: the payment waits for its configuration to be
	// chosen; it has no field to arm and nothing to process.
	ErrNoConfigYet = errors.New("payment: no configuration chosen yet")
	// ErrConfigChosen: the payment's configuration is chosen already.
	ErrConfigChosen = errors.New("payment: the payment's configuration is chosen already")
	// ErrStoreUnavailable: the store could not be read.
	ErrStoreUnavailable = errors.New("payment: payment store unavailable")
)

// Reasons a payment ends without a processor result.
const (
	ReasonAgentEnded     = "agent ended"
	ReasonSessionTimeout = "session timeout"
	ReasonCallEnded      = "call ended"
	// ReasonCallLost: the node that held the call died (several nodes).
	ReasonCallLost   = "call lost"
	ReasonUnknown    = "no answer from the processor: reconciling"
	ReasonNotCharged = "the processor has no charge under the key: not charged"
)

// NotFoundGrace is how long after a charge attempt a processor's "no
// charge under this key" (processor.ErrNotFound) is taken to mean none
// will appear: some processors index charges with a delay.
const NotFoundGrace = 5 * time.Minute

// MaxAmount bounds Attributes.Amount (minor units): the processors'.
const MaxAmount = processor.MaxAmount
