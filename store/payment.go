package store

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors of the store. Each is wrapped with context that never includes a
// value the caller passed.
var (
	// ErrNotFound is returned for a payment id (or idempotency key) the
	// store does not hold.
	ErrNotFound = errors.New("store: payment not found")
	// ErrDuplicate is returned by CreatePayment for an id or an
	// idempotency key already taken.
	ErrDuplicate = errors.New("store: payment id or idempotency key already taken")
	// ErrConflict is returned when the payment is not in the state the
	// caller said it was (another actor moved it first), or when a change
	// would alter what is fixed once a charge is under way.
	ErrConflict = errors.New("store: payment changed under the caller")
	// ErrFinal is returned for a change to a payment whose state is
	// final: a result, once committed, stands.
	ErrFinal = errors.New("store: payment is final")
	// ErrInvalid is wrapped for a record or change the store refuses.
	ErrInvalid = errors.New("store: invalid")
	// ErrCardData is wrapped for text that looks like it holds card data
	// (a run of six or more digits). It is refused, not cleaned.
	ErrCardData = errors.New("store: text looks like card data")
)

// State is where a payment is in its lifecycle: created →
// collecting → ready → processing → approved | declined | failed, or
// cancelled | timed out. Unknown means the processor did not answer: the
// charge may or may not have happened, and only reconciliation with the
// processor (never a blind retry) may move the payment on.
type State string

// The states of a payment.
const (
	// StateCreated: the payment exists; no field is armed yet.
	StateCreated State = "created"
	// StateCollecting: the caller's digits are being captured.
	StateCollecting State = "collecting"
	// StateReady: every field is complete and valid; the agent may
	// process.
	StateReady State = "ready"
	// StateProcessing: the charge is with the processor.
	StateProcessing State = "processing"
	// StateUnknown: the processor did not answer; reconciliation decides.
	StateUnknown State = "unknown"
	// StateApproved: the processor approved the charge. Final.
	StateApproved State = "approved"
	// StateDeclined: the processor declined the charge. Final.
	StateDeclined State = "declined"
	// StateFailed: the charge could not be made (an error, not a
	// decline). Final.
	StateFailed State = "failed"
	// StateCancelled: the agent or the API ended the payment. Final.
	StateCancelled State = "cancelled"
	// StateTimedOut: the session timeout ended the payment. Final.
	StateTimedOut State = "timed_out"
)

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	switch s {
	case StateCreated, StateCollecting, StateReady, StateProcessing, StateUnknown,
		StateApproved, StateDeclined, StateFailed, StateCancelled, StateTimedOut:
		return true
	}
	return false
}

// Final reports whether s is an end state: nothing moves a payment out of
// it.
func (s State) Final() bool {
	switch s {
	case StateApproved, StateDeclined, StateFailed, StateCancelled, StateTimedOut:
		return true
	}
	return false
}

// Unresolved reports whether a charge may be under way in s: the payment
// waits for a processor's answer or for reconciliation.
func (s State) Unresolved() bool { return s == StateProcessing || s == StateUnknown }

// Actor is who did something to a payment, for the audit trail.
type Actor string

// The actors.
const (
	// ActorAgent is the contact-centre agent, through the payment form.
	ActorAgent Actor = "agent"
	// ActorAPI is a backend system through the REST API.
	ActorAPI Actor = "api"
	// ActorSystem is dtmfgw itself: timeouts, processor results,
	// reconciliation.
	ActorSystem Actor = "system"
)

// Valid reports whether a is one of the actors above.
func (a Actor) Valid() bool { return a == ActorAgent || a == ActorAPI || a == ActorSystem }

// Type is how a payment's card is taken.
type Type string

// The payment types.
const (
	// TypeAgentAssist: the caller keys the card on the telephone keypad
	// while on the call with the agent.
	TypeAgentAssist Type = "agent_assist"
	// TypeDigital: the caller types the card into the hosted payment
	// page, reached through a link sent by SMS (Link).
	TypeDigital Type = "digital"
)

// Intent is what a payment does with the card.
type Intent string

// The intents.
const (
	// IntentCharge takes the amount from the card.
	IntentCharge Intent = "charge"
	// IntentTokenize saves the card for later charges and keeps the
	// processor's token (Payment.Token); the amount is zero.
	IntentTokenize Intent = "tokenize"
)

// Payment is the durable record of one payment. It holds no card data:
// only the brand and the last 4 digits, which the caller provides.
type Payment struct {
	// ID identifies the payment. CreatePayment makes one when it is
	// empty.
	ID string
	// Type is how the card is taken; empty means TypeAgentAssist.
	Type Type
	// Intent is what is done with the card; empty means IntentCharge.
	Intent Intent
	// CallID is dtmfgw's id of the call the payment was taken on.
	CallID string
	// InboundCallID and OutboundCallID are the SIP Call-IDs of the
	// caller's dialog and of the dialog toward the agent (RFC 3261
	// §8.1.1.4).
	InboundCallID, OutboundCallID string
	// PrimaryCallID is the contact centre's own id of the customer's
	// call.
	PrimaryCallID string
	// AgentID identifies the agent taking the payment.
	AgentID string
	// ConfigurationID names the payment configuration used.
	ConfigurationID string
	// State is where the payment is in its lifecycle.
	State State
	// Brand is the card brand ("visa", "mastercard", …): lower-case
	// letters, spaces and hyphens, never a digit.
	Brand string
	// Last4 is the card number's last four digits, or empty until known.
	Last4 string
	// Amount is in the currency's minor units (pence, cents); zero until
	// known.
	Amount int64
	// Currency is the ISO 4217 code ("GBP"), or empty until known.
	Currency string
	// Reference is the merchant's reference for the payment.
	Reference string
	// Processor names the processor adapter that charged (or will
	// charge) the card.
	Processor string
	// ProcessorReference is the processor's id of the charge.
	ProcessorReference string
	// IdempotencyKey is sent with every processor call for this payment,
	// so a retry or a reconciliation never charges twice. It is recorded
	// before the charge is attempted and never changes afterwards.
	IdempotencyKey string
	// DeclineCode is the processor's reason for a decline.
	DeclineCode string
	// Token is, for a card saved (IntentTokenize) and approved, the
	// processor's reusable token of the card: an id, not card data.
	Token string
	// CreatedAt and UpdatedAt are when the record was created and last
	// changed; CompletedAt when the payment reached a final state (zero
	// until then). All are UTC, to the microsecond.
	CreatedAt, UpdatedAt, CompletedAt time.Time
}

// Entry is who did what to a payment, for its audit trail.
type Entry struct {
	// Actor is who did it.
	Actor Actor
	// Action is what was done: a short name of lower-case letters, dots,
	// hyphens and underscores ("payment.created", "field.cleared").
	Action string
	// Detail is free text the caller promises holds no card data. As a
	// safety net the store refuses a detail with a run of six or more
	// digits, counting digits separated by one space or hyphen as one run
	// ("4111 1111" is a run of eight).
	Detail string
}

// AuditEntry is one entry of a payment's audit trail as stored.
type AuditEntry struct {
	// Seq orders the entries; it grows with every entry in the store.
	Seq int64
	// PaymentID is the payment the entry is about.
	PaymentID string
	// At is when the entry was written (UTC, to the microsecond).
	At time.Time
	// Actor, Action and Detail are as in Entry.
	Actor  Actor
	Action string
	Detail string
}

// Change moves a payment from one state to another (or keeps its state,
// when To equals From) and records facts learnt on the way, with the audit
// entry that says who did it. A zero fact leaves the stored one as it is.
type Change struct {
	// From is the state the caller believes the payment is in; the change
	// fails with ErrConflict when it is not.
	From State
	// To is the new state. Results (approved, declined, unknown) are
	// committed with CommitResult instead.
	To State
	// Entry is written to the audit trail in the same transaction.
	Entry
	// Facts learnt by this step (see Payment). Once a payment is
	// processing, they are fixed.
	AgentID, Brand, Last4, Currency, Reference, Processor, IdempotencyKey string
	Amount                                                                int64
	// ConfigurationID, when set, is the configuration chosen for a payment
	// stored without one (it waited for the agent's choice): only while it
	// is created, and only once. Intent, when set, is that configuration's
	// intent, likewise.
	ConfigurationID string
	Intent          Intent
}

// Result is a processor's answer for a payment that is processing (or
// unknown, when reconciliation has learnt more).
type Result struct {
	// From is the state the caller believes the payment is in:
	// processing or unknown.
	From State
	// State is the outcome: approved, declined, failed, or unknown (the
	// processor did not answer; reconciliation follows).
	State State
	// ProcessorReference is the processor's id of the charge, when it
	// gave one. Empty keeps one recorded earlier.
	ProcessorReference string
	// DeclineCode is the processor's reason for a decline; only with
	// StateDeclined.
	DeclineCode string
	// Token is the reusable token of a card saved (IntentTokenize),
	// with StateApproved.
	Token string
	// Entry is written to the audit trail in the same transaction.
	Entry
}

// Limits on text lengths, in bytes: generous for real ids, small enough
// that nobody stores a document in a field.
const (
	maxID     = 128
	maxText   = 256
	maxDetail = 1024
	maxName   = 64
)

// checkText checks a free-text field: valid UTF-8, no control characters,
// at most max bytes. field names the field in the error; the value is
// never shown.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, field, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s holds a control character", ErrInvalid, field)
		}
	}
	return nil
}

// checkID checks a payment id: 1 to maxID bytes of letters, digits and
// "-_.:". Ids appear in URLs and logs, so they are kept plain.
func checkID(id string) error {
	if id == "" || len(id) > maxID {
		return fmt.Errorf("%w: payment id must be 1 to %d bytes", ErrInvalid, maxID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != ':' {
			return fmt.Errorf("%w: payment id may hold only letters, digits, hyphens, underscores, dots and colons", ErrInvalid)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// checkBrand: lower-case letters, spaces and hyphens: no digit can hide in
// a brand.
func checkBrand(s string) error {
	if len(s) > 32 {
		return fmt.Errorf("%w: brand is longer than 32 bytes", ErrInvalid)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z') && c != ' ' && c != '-' {
			return fmt.Errorf("%w: brand may hold only lower-case letters, spaces and hyphens", ErrInvalid)
		}
	}
	return nil
}

// checkLast4: empty or exactly four ASCII digits; never more.
func checkLast4(s string) error {
	return checkCode(s, 4, '0', '9', "last4 must be exactly 4 digits")
}

// checkCurrency: empty or three upper-case letters (ISO 4217 alphabetic
// code).
func checkCurrency(s string) error {
	return checkCode(s, 3, 'A', 'Z', "currency must be an ISO 4217 code of 3 upper-case letters")
}

// checkCode accepts s empty or of exactly n bytes, each from lo to hi; it
// refuses anything else as ErrInvalid because want.
func checkCode(s string, n int, lo, hi byte, want string) error {
	if s == "" {
		return nil
	}
	if len(s) != n {
		return fmt.Errorf("%w: %s", ErrInvalid, want)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < lo || s[i] > hi {
			return fmt.Errorf("%w: %s", ErrInvalid, want)
		}
	}
	return nil
}

// checkName checks a short machine name (an action, a processor): 1 to
// maxName bytes of lower-case letters, digits, dots, hyphens and
// underscores.
func checkName(field, s string) error {
	if s == "" || len(s) > maxName {
		return fmt.Errorf("%w: %s must be 1 to %d bytes", ErrInvalid, field, maxName)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') && c != '.' && c != '-' && c != '_' {
			return fmt.Errorf("%w: %s may hold only lower-case letters, digits and ._-", ErrInvalid, field)
		}
	}
	return nil
}

// check validates an audit entry.
func (e Entry) check() error {
	if !e.Actor.Valid() {
		return fmt.Errorf("%w: actor must be agent, api or system", ErrInvalid)
	}
	if err := checkName("action", e.Action); err != nil {
		return err
	}
	if err := checkText("detail", e.Detail, maxDetail); err != nil {
		return err
	}
	return checkNoCardData("detail", e.Detail)
}

// checkFacts validates the descriptive fields of a payment.
func (p *Payment) checkFacts() error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"call id", p.CallID, maxText},
		{"inbound call id", p.InboundCallID, maxText},
		{"outbound call id", p.OutboundCallID, maxText},
		{"primary call id", p.PrimaryCallID, maxText},
		{"agent id", p.AgentID, maxText},
		{"configuration id", p.ConfigurationID, maxText},
		{"reference", p.Reference, maxText},
		{"processor reference", p.ProcessorReference, maxText},
		{"idempotency key", p.IdempotencyKey, maxText},
		{"decline code", p.DeclineCode, maxName},
	} {
		if err := checkText(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	if p.Processor != "" {
		if err := checkName("processor", p.Processor); err != nil {
			return err
		}
	}
	if err := checkBrand(p.Brand); err != nil {
		return err
	}
	if err := checkLast4(p.Last4); err != nil {
		return err
	}
	if err := checkCurrency(p.Currency); err != nil {
		return err
	}
	if p.Amount < 0 {
		return fmt.Errorf("%w: amount is negative", ErrInvalid)
	}
	if !p.State.Valid() {
		return fmt.Errorf("%w: unknown state", ErrInvalid)
	}
	if p.Type != TypeAgentAssist && p.Type != TypeDigital {
		return fmt.Errorf("%w: payment type is agent_assist or digital", ErrInvalid)
	}
	if p.Intent != IntentCharge && p.Intent != IntentTokenize {
		return fmt.Errorf("%w: intent is charge or tokenize", ErrInvalid)
	}
	if p.Intent == IntentTokenize && p.Amount != 0 {
		return fmt.Errorf("%w: a card saved has no amount", ErrInvalid)
	}
	if p.Token != "" && (p.Intent != IntentTokenize || p.State != StateApproved) {
		return fmt.Errorf("%w: a token belongs to an approved card saved only", ErrInvalid)
	}
	if err := checkText("token", p.Token, maxText); err != nil {
		return err
	}
	// A charge cannot be under way without what reconciliation needs to
	// find it again, nor without what it charged.
	if p.State == StateProcessing || p.State == StateUnknown || p.State == StateApproved || p.State == StateDeclined {
		switch {
		case p.Processor == "":
			return fmt.Errorf("%w: a %s payment needs its processor", ErrInvalid, p.State)
		case p.IdempotencyKey == "":
			return fmt.Errorf("%w: a %s payment needs its idempotency key", ErrInvalid, p.State)
		case p.Amount == 0 && p.Intent == IntentCharge || p.Currency == "":
			return fmt.Errorf("%w: a %s payment needs its amount and currency", ErrInvalid, p.State)
		case p.Last4 == "":
			return fmt.Errorf("%w: a %s payment needs the card's last 4 digits", ErrInvalid, p.State)
		}
	}
	if p.DeclineCode != "" && p.State != StateDeclined {
		return fmt.Errorf("%w: a decline code belongs to a declined payment only", ErrInvalid)
	}
	return nil
}
