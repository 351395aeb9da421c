package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// PaymentState is where a payment is in its life:
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
type PaymentState uint8

// The payment states.
const (
	// StateCreated: made for a call, no field armed yet.
	StateCreated PaymentState = iota + 1
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

	numPaymentStates
)

var paymentStateNames = [numPaymentStates]string{"", "created", "collecting", "ready", "processing", "approved", "declined", "failed", "cancelled", "timed_out", "reconciling"}

// String returns the state's name ("timed_out").
func (s PaymentState) String() string {
	if s == 0 || s >= numPaymentStates {
		return "invalid"
	}
	return paymentStateNames[s]
}

// MarshalText writes the state's name.
func (s PaymentState) MarshalText() ([]byte, error) {
	if s == 0 || s >= numPaymentStates {
		return nil, fmt.Errorf("session: payment state %d: unknown", uint8(s))
	}
	return []byte(s.String()), nil
}

// Final reports whether the state is an end: approved, declined, failed,
// cancelled or timed out.
func (s PaymentState) Final() bool { return s >= StateApproved && s <= StateTimedOut }

// open reports whether the payment takes digits and agent edits.
func (s PaymentState) open() bool { return s >= StateCreated && s <= StateReady }

// Errors of payments.
var (
	// ErrPaymentActive: the call already has a payment that is not over.
	ErrPaymentActive = errors.New("session: the call already has a payment in progress")
	// ErrNoConfig: no payment configuration has the id.
	ErrNoConfig = errors.New("session: no such payment configuration")
	// ErrNoField: the payment's configuration has no field with the id.
	ErrNoField = errors.New("session: no such field")
	// ErrNotReady: Process was called before every required field was
	// complete and valid, or without an amount and currency.
	ErrNotReady = errors.New("session: payment not ready")
	// ErrProcessing: the processor has the card; the payment cannot be
	// changed or ended until it answers.
	ErrProcessing = errors.New("session: payment being processed")
	// ErrPaymentEnded: the payment is over.
	ErrPaymentEnded = errors.New("session: payment ended")
	// ErrBadAttributes wraps an unusable amount, currency, reference or
	// name.
	ErrBadAttributes = errors.New("session: bad payment attributes")
	// ErrNotRecorded: durable storage refused the record. Before
	// processing, nothing was charged; after, the result is kept in memory
	// and Reconcile records it.
	ErrNotRecorded = errors.New("session: payment record not stored")
	// ErrStillUnknown: Reconcile got no answer either.
	ErrStillUnknown = errors.New("session: charge outcome still unknown")
	// ErrNotReconciling: Reconcile was called on a payment with nothing to
	// reconcile.
	ErrNotReconciling = errors.New("session: payment not awaiting reconciliation")
	// ErrSetClosed: the call has ended.
	ErrSetClosed = errors.New("session: call's payments closed")
)

// Reasons a payment ends without a processor result.
const (
	ReasonAgentEnded     = "agent ended"
	ReasonSessionTimeout = "session timeout"
	ReasonCallEnded      = "call ended"
	ReasonUnknown        = "no answer from the processor: reconciling"
	ReasonNotCharged     = "the processor has no charge under the key: not charged"
)

// NotFoundGrace is how long after a charge attempt a processor's "no
// charge under this key" (processor.ErrNotFound) is taken to mean none
// will appear: some processors index charges with a delay.
const NotFoundGrace = 5 * time.Minute

// MaxAmount bounds Attributes.Amount (minor units): the processors'.
const MaxAmount = processor.MaxAmount

// Attributes are a payment's data that are not typed by the caller:
// prefilled by the API or entered by the agent. They are not card data.
type Attributes struct {
	// Amount is in the currency's minor units (cents); it must be positive
	// to process.
	Amount int64 `json:"amount"`
	// Currency is an ISO 4217 code ("GBP"); required to process.
	Currency string `json:"currency,omitempty"`
	// Reference is the merchant's (an order or invoice number).
	Reference string `json:"reference,omitempty"`
	// CardholderName is the name on the card, where the agent takes it.
	CardholderName string `json:"cardholder_name,omitempty"`
}

// validate checks what is given; an amount and currency are required
// only to process (processable). A reference or name that holds a card
// number is refused (ErrCardNumberInText): the payment would keep it,
// record it and send it in webhooks.
func (a Attributes) validate() error {
	switch {
	case a.Amount < 0 || a.Amount > MaxAmount:
		return fmt.Errorf("%w: amount %d outside 0 … %d", ErrBadAttributes, a.Amount, int64(MaxAmount))
	case a.Currency != "" && !ValidCurrency(a.Currency):
		return fmt.Errorf("%w: currency is not an ISO 4217 code (three capital letters)", ErrBadAttributes)
	case HoldsCardNumber(a.Reference):
		return fmt.Errorf("%w: reference", ErrCardNumberInText)
	case HoldsCardNumber(a.CardholderName):
		return fmt.Errorf("%w: cardholder name", ErrCardNumberInText)
	case len(a.Reference) > processor.MaxTextLen || hasControl(a.Reference):
		return fmt.Errorf("%w: reference: at most %d bytes, no control characters", ErrBadAttributes, processor.MaxTextLen)
	case len(a.CardholderName) > processor.MaxTextLen || hasControl(a.CardholderName):
		return fmt.Errorf("%w: cardholder name: at most %d bytes, no control characters", ErrBadAttributes, processor.MaxTextLen)
	}
	return nil
}

func (a Attributes) processable() error {
	if a.Amount <= 0 {
		return fmt.Errorf("%w: no amount", ErrNotReady)
	}
	if a.Currency == "" {
		return fmt.Errorf("%w: no currency", ErrNotReady)
	}
	return nil
}

// fieldState is one field's progress. Its digits are in Payment.caps at
// the same index.
type fieldState struct {
	cfg      FieldConfig
	complete bool
	valid    bool
	// lost: a key press went missing (a gap in dtmf.Press.Number) while the
	// field was armed, so its digits cannot be trusted.
	lost bool
	// reported is the validity last sent in an EventFieldComplete.
	reported bool
}

// digitOutcome says what became of a digit handed to a payment.
type digitOutcome uint8

const (
	digitDropped  digitOutcome = iota // no payment collecting, or no field armed
	digitCaptured                     // went into the armed field, or cleared or ended it
	digitIgnored                      // no meaning here (A–D, a key switched off, a full or complete field)
)

// Payment is one card payment taken during a call: its fields' digits in
// capture buffers, its state, its timers. Digits reach it only through
// its PaymentSet (HandleDigit), and only the armed field takes them. All
// methods are safe for concurrent use.
type Payment struct {
	id      string
	key     string // idempotency key
	cfg     PaymentConfig
	set     *PaymentSet
	proc    processor.Processor
	created time.Time
	// deadline is the session timeout, by the payments' clock: the one
	// clock events, views and the timers are judged by.
	deadline time.Time

	stateA atomic.Uint32 // PaymentState, readable without mu

	mu            sync.Mutex
	state         PaymentState
	reason        string
	attrs         Attributes
	fixed         AttributeSet // set by the back end: the agent's only where cfg.AgentEditable says
	fields        []fieldState
	caps          []capture
	armed         int // index of the armed field, -1 for none
	expiry        *time.Timer
	ticker        *time.Timer
	nextRemaining time.Time // by the timers' clock
	// cardBrand and cardLast4 are kept from the card number at the
	// hand-off or end, before the buffers are zeroed (the last four only
	// of a valid one); kept says they are.
	cardBrand   Brand
	cardLast4   string
	kept        bool
	result      *Result      // set when the payment ends or awaits reconciliation
	pending     *Result      // an outcome not yet recorded durably
	reconciling bool         // a Reconcile is asking the processor
	chargedAt   time.Time    // when Charge was called, by the timers' clock
	recorded    PaymentState // the state of the last record storage took
	left        bool         // the agent went back to the call (leaveLocked)
	updated     time.Time    // the last change of state
}

// ID returns the payment's id: random, opaque, URL-safe.
func (p *Payment) ID() string { return p.id }

// String names the payment for logs.
func (p *Payment) String() string { return "payment " + p.id }

// GoString is String, for %#v: the payment's fields hold card data.
func (p *Payment) GoString() string { return p.String() }

// IdempotencyKey returns the key every processor call of the payment
// carries.
func (p *Payment) IdempotencyKey() string { return p.key }

// Config returns the payment's configuration.
func (p *Payment) Config() PaymentConfig { return p.cfg }

// State returns the payment's state.
func (p *Payment) State() PaymentState { return PaymentState(p.stateA.Load()) }

func (p *Payment) setStateLocked(s PaymentState, reason string) {
	p.state, p.reason = s, reason
	p.stateA.Store(uint32(s))
	p.set.ps.noteState(s)
	p.updated = p.set.ps.now()
	p.publishLocked(Event{Type: EventState, State: s, Reason: reason})
}

func (p *Payment) publishLocked(e Event) {
	e.CallID, e.PaymentID = p.set.callID, p.id
	p.set.bus.publishFor(p.set.ps.hook, p.cfg.ID, e)
}

// Attributes returns the payment's amount, currency, reference and name.
func (p *Payment) Attributes() Attributes {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attrs
}

// SetAttributes replaces the amount, currency, reference and cardholder
// name as the back end (EditorBackEnd), until the payment is processed. A
// zero Currency takes the configuration's.
func (p *Payment) SetAttributes(a Attributes) error {
	_, err := p.PatchAttributes(EditorBackEnd, AttributesPatch{
		Amount: &a.Amount, Currency: &a.Currency, Reference: &a.Reference, CardholderName: &a.CardholderName,
	})
	return err
}

// PatchAttributes changes the attributes the patch names, as editor,
// until the payment is processed, and returns them as they are then. The
// agent may change an attribute the back end set only where the
// configuration's AgentEditable lists it (a *NotEditableError otherwise);
// see AttributesPatch.Apply. On an error nothing changes.
func (p *Payment) PatchAttributes(editor Editor, ch AttributesPatch) (Attributes, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.editableLocked(); err != nil {
		return p.attrs, err
	}
	a, fixed, err := ch.Apply(editor, p.attrs, p.fixed, p.cfg.agentEditable(), p.cfg.Currency)
	if err != nil {
		return p.attrs, err
	}
	p.attrs, p.fixed = a, fixed
	return a, nil
}

// FixedAttributes returns the attributes the back end set.
func (p *Payment) FixedAttributes() AttributeSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fixed
}

// editableLocked says why the payment cannot be changed, or nil.
func (p *Payment) editableLocked() error {
	switch {
	case p.state.open():
		return nil
	case p.state == StateProcessing:
		return ErrProcessing
	}
	return ErrPaymentEnded
}

// Arm makes the field the one the caller's digits go to. A field that is
// complete is cleared first (its digits zeroed), so the caller types it
// afresh; one that is not keeps its digits and goes on. The first Arm
// moves a created payment to collecting.
func (p *Payment) Arm(fieldID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.editableLocked(); err != nil {
		return err
	}
	i := p.cfg.field(fieldID)
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrNoField, clip([]byte(fieldID), maxIDLen))
	}
	if p.fields[i].complete {
		p.clearLocked(i)
	}
	p.armLocked(i)
	p.refreshLocked()
	return nil
}

// Clear zeroes the field's digits and arms it, so the caller can type it
// again at once (the agent form's per-field clear button).
func (p *Payment) Clear(fieldID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.editableLocked(); err != nil {
		return err
	}
	i := p.cfg.field(fieldID)
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrNoField, clip([]byte(fieldID), maxIDLen))
	}
	p.clearLocked(i)
	p.armLocked(i)
	p.refreshLocked()
	return nil
}

// armLocked arms field i (-1: none) and says so.
func (p *Payment) armLocked(i int) {
	if p.state == StateCreated && i >= 0 {
		p.setStateLocked(StateCollecting, "")
	}
	p.armed = i
	id := ""
	if i >= 0 {
		id = p.fields[i].cfg.ID
	}
	p.publishLocked(Event{Type: EventFieldArmed, Field: id})
}

// clearLocked zeroes field i and says so.
func (p *Payment) clearLocked(i int) {
	f := &p.fields[i]
	p.caps[i].clear()
	f.complete, f.valid, f.lost, f.reported = false, false, false, false
	p.publishLocked(Event{Type: EventFieldLength, Field: f.cfg.ID})
}

// handleDigit puts a key press into the armed field; lost says a press
// went missing before it. Keys: a digit is typed; `*` clears the field
// and `#` ends a variable-length one, where the configuration says so.
func (p *Payment) handleDigit(d dtmf.Press, lost bool) digitOutcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.state.open() || p.armed < 0 {
		return digitDropped
	}
	i := p.armed
	f, c := &p.fields[i], &p.caps[i]
	if lost && !f.complete {
		f.lost = true
	}
	switch {
	case keyIsDigit(d.Key):
		if f.complete || !c.append(d.Key) { // full: cannot happen, complete first
			return digitIgnored
		}
		e := p.lengthEventLocked(i)
		e.PressAt = d.FirstSeen
		p.publishLocked(e)
		if p.completeNowLocked(i) {
			p.completeLocked(i)
		}
	case d.Key == '*' && p.cfg.StarClearsField:
		p.clearLocked(i)
	case d.Key == '#' && p.cfg.HashEndsField:
		switch {
		case f.complete || f.cfg.fixedLen():
			return digitIgnored
		case c.len() == 0 && f.cfg.required():
			return digitIgnored
		}
		// An empty optional field is skipped: complete, valid, empty.
		p.completeLocked(i)
	default:
		return digitIgnored
	}
	p.refreshLocked()
	return digitCaptured
}

// lengthEventLocked reports field i's length (and a card number's brand).
func (p *Payment) lengthEventLocked(i int) Event {
	e := Event{Type: EventFieldLength, Field: p.fields[i].cfg.ID, Length: p.caps[i].len()}
	if p.fields[i].cfg.Kind == FieldCardNumber {
		e.Brand = BrandOf(p.caps[i].bytes())
	}
	return e
}

// completeNowLocked reports whether field i is whole without `#`.
func (p *Payment) completeNowLocked(i int) bool {
	b := p.caps[i].bytes()
	switch p.fields[i].cfg.Kind {
	case FieldCardNumber:
		return panComplete(b)
	case FieldExpiry:
		return len(b) == 4
	case FieldSecurityCode:
		if want := p.brandLocked().SecurityCodeLen(); want != 0 {
			return len(b) == want
		}
		return len(b) == 4
	}
	return len(b) >= p.fields[i].cfg.MaxLen
}

// brandLocked returns the card number's brand so far.
func (p *Payment) brandLocked() Brand {
	for i := range p.fields {
		if p.fields[i].cfg.Kind == FieldCardNumber {
			return BrandOf(p.caps[i].bytes())
		}
	}
	return BrandUnknown
}

// completeLocked marks field i complete, reports it, and arms the next
// unfinished field when AutoAdvance says so.
func (p *Payment) completeLocked(i int) {
	f := &p.fields[i]
	f.complete = true
	f.valid = p.validLocked(i, p.set.ps.now())
	f.reported = f.valid
	p.publishLocked(p.completeEventLocked(i))
	if !p.cfg.AutoAdvance {
		return
	}
	next := -1
	for j := 1; j < len(p.fields); j++ {
		k := (i + j) % len(p.fields)
		if !p.fields[k].complete {
			next = k
			break
		}
	}
	p.armLocked(next)
}

func (p *Payment) completeEventLocked(i int) Event {
	f := &p.fields[i]
	e := Event{Type: EventFieldComplete, Field: f.cfg.ID, Length: p.caps[i].len(), Complete: true, Valid: f.valid}
	if f.cfg.Kind == FieldCardNumber {
		e.Brand = BrandOf(p.caps[i].bytes())
		e.MaskedPAN = p.maskedPANLocked(i)
	}
	return e
}

// maskedPANLocked returns "•••• " and the last four digits of field i, a
// card number, when it is complete and valid; else "". The last four are
// the only digits that ever leave a capture buffer as a string.
func (p *Payment) maskedPANLocked(i int) string {
	if l4 := p.last4Locked(i); l4 != "" {
		return "•••• " + l4
	}
	return ""
}

func (p *Payment) last4Locked(i int) string {
	f := &p.fields[i]
	if !f.complete || !f.valid || f.cfg.Kind != FieldCardNumber {
		return ""
	}
	b := p.caps[i].bytes()
	return string(b[len(b)-4:])
}

// validLocked judges field i's digits at now.
func (p *Payment) validLocked(i int, now time.Time) bool {
	f := &p.fields[i]
	b := p.caps[i].bytes()
	if f.lost {
		return false
	}
	switch f.cfg.Kind {
	case FieldCardNumber:
		_, ok := ValidPAN(b, p.cfg.AcceptedBrands)
		return ok
	case FieldExpiry:
		return ValidExpiry(b, now)
	case FieldSecurityCode:
		return ValidSecurityCode(b, p.brandLocked())
	}
	n := len(b)
	return (n == 0 && !f.cfg.required()) || (n >= f.cfg.MinLen && n <= f.cfg.MaxLen)
}

// refreshLocked judges every complete field again (a security code's
// validity follows the card number's brand), reports changes, and moves
// between collecting and ready. It reports whether the payment is ready.
func (p *Payment) refreshLocked() bool {
	now := p.set.ps.now()
	ready := true
	for i := range p.fields {
		f := &p.fields[i]
		if !f.complete && f.cfg.Kind == FieldSecurityCode && p.caps[i].len() > 0 && p.completeNowLocked(i) {
			// Typed before the card number told its length (3 digits
			// waited for a 4th or `#`): whole now.
			if i == p.armed {
				p.completeLocked(i)
			} else {
				f.complete = true
				f.valid = p.validLocked(i, now)
				f.reported = f.valid
				p.publishLocked(p.completeEventLocked(i))
			}
		}
		if f.complete {
			f.valid = p.validLocked(i, now)
			if f.valid != f.reported {
				f.reported = f.valid
				p.publishLocked(p.completeEventLocked(i))
			}
		}
		switch {
		case f.complete && f.valid:
		case !f.complete && p.caps[i].len() == 0 && !f.cfg.required():
			// An optional field left empty.
		default:
			ready = false
		}
	}
	switch {
	case ready && p.state == StateCollecting:
		p.setStateLocked(StateReady, "")
	case !ready && p.state == StateReady:
		p.setStateLocked(StateCollecting, "")
	}
	return ready
}

// Process hands the card to the processor when the payment is ready (every
// required field complete and valid, an amount and a currency) and
// returns its outcome. The card data is zeroed as soon as the processor
// returns, whatever it says. Before the charge the payment is recorded
// durably with its idempotency key (if that fails, nothing is charged and
// the payment stays ready); the outcome is recorded before it is reported.
// The processor's status decides, with or without an error
// (processor.Processor): Unknown leaves the payment reconciling
// (Reconcile) and Process returns ErrStillUnknown.
//
// The charge is not cancelled with ctx (the agent closing the form must
// not abandon a charge half made): it runs for at most the processing
// timeout (WithProcessTimeout).
func (p *Payment) Process(ctx context.Context) (Result, error) {
	p.mu.Lock()
	if p.state != StateReady {
		err := p.editableLocked()
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrNotReady, p.state)
		}
		p.mu.Unlock()
		return Result{}, err
	}
	if !p.refreshLocked() {
		// The expiry month has just ended, say.
		p.mu.Unlock()
		return Result{}, fmt.Errorf("%w: a field is no longer valid", ErrNotReady)
	}
	if err := p.attrs.processable(); err != nil {
		p.mu.Unlock()
		return Result{}, err
	}
	rec := p.recordLocked()
	rec.State, rec.Actor, rec.Action = StateProcessing, ActorAgent, "payment.processing"
	if err := p.writeLocked(ctx, rec); err != nil {
		p.mu.Unlock()
		return Result{}, fmt.Errorf("%w: before processing, so nothing was charged: %v", ErrNotRecorded, err)
	}
	req := p.requestLocked()
	// The processor may zero or scribble on what it is handed: the brand
	// and last four are taken now.
	p.keepCardLocked()
	p.stopTimersLocked()
	if p.armed >= 0 {
		p.armLocked(-1)
	}
	p.setStateLocked(StateProcessing, "")
	p.mu.Unlock()

	// Nothing changes the buffers now: every edit and digit is refused
	// while processing.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.set.ps.processTimeout)
	p.chargedAt = time.Now()
	cr, err := p.proc.Charge(pctx, req)
	cancel()
	p.set.ps.noteProcessor(p.proc.Name(), cr.Status, time.Since(p.chargedAt))

	p.mu.Lock()
	defer p.mu.Unlock()
	zeroRequest(req)
	p.zeroLocked()
	if err != nil {
		// The status still says what may be concluded; the error says why.
		p.set.ps.log.Warn("payment processor error", "payment", p.id, "processor", p.proc.Name(),
			"status", cr.Status.String(), "err", err)
	}
	res := p.resultLocked(cr)
	return res, p.finishWithResultLocked(ctx, res)
}

// requestLocked builds the charge request on the capture buffers, without
// copying a digit.
func (p *Payment) requestLocked() *processor.Request {
	req := &processor.Request{
		IdempotencyKey: p.key,
		Amount:         p.attrs.Amount,
		Currency:       p.attrs.Currency,
		Reference:      p.attrs.Reference,
		CardholderName: p.attrs.CardholderName,
	}
	for i, f := range p.fields {
		b := p.caps[i].bytes()
		switch {
		case f.cfg.Kind == FieldCardNumber:
			req.PAN = b
		case f.cfg.Kind == FieldExpiry:
			req.ExpMonth, req.ExpYear, _ = ExpiryOf(b, p.set.ps.now())
		case f.cfg.Kind == FieldSecurityCode:
			req.CVC = b
		case f.cfg.ID == PostcodeFieldID && len(b) > 0:
			req.Postcode = b
		}
	}
	return req
}

// zeroRequest zeroes the request's card data, wherever its slices point.
func zeroRequest(r *processor.Request) {
	clear(r.PAN)
	clear(r.CVC)
	clear(r.Postcode)
	r.PAN, r.CVC, r.Postcode = nil, nil, nil
	r.ExpMonth, r.ExpYear = 0, 0
}

// resultLocked turns the processor's answer into the payment's result.
// The card's brand and last four are taken before the buffers are zeroed
// (zeroLocked keeps them).
func (p *Payment) resultLocked(cr processor.Result) Result {
	st := StateReconciling
	switch cr.Status {
	case processor.Approved:
		st = StateApproved
	case processor.Declined:
		st = StateDeclined
	case processor.Failed:
		st = StateFailed
	}
	r := p.baseResultLocked(st)
	if st == StateReconciling {
		r.Reason = ReasonUnknown
	}
	r.ProcessorReference = clipText(cr.Reference)
	r.DeclineCode = clipText(cr.DeclineCode)
	r.Message = maskDigitRuns(clipText(cr.Message))
	return r
}

func (p *Payment) baseResultLocked(st PaymentState) Result {
	brand, last4 := p.cardLocked()
	return Result{State: st, Brand: brand, Last4: last4, Amount: p.attrs.Amount, Currency: p.attrs.Currency, Reference: p.attrs.Reference}
}

// finishWithResultLocked records res and then reports it. When storage
// refuses, the result waits in pending for Reconcile to record it, and
// the payment stays where it is — unless the record is final already
// (store.ErrFinal): another node sharing the store settled it by asking
// the same processor under the same key, its result stands in the
// record, and res is reported all the same rather than kept for a write
// that can never succeed.
func (p *Payment) finishWithResultLocked(ctx context.Context, res Result) error {
	rec := p.recordLocked()
	rec.State, rec.Reason, rec.Actor, rec.Action = res.State, res.Reason, ActorSystem, "payment.result"
	rec.ProcessorReference, rec.DeclineCode, rec.Message = res.ProcessorReference, res.DeclineCode, res.Message
	if err := p.writeLocked(ctx, rec); err != nil && errors.Is(err, store.ErrFinal) && res.State.Final() {
		p.set.ps.log.Warn("payment result already recorded elsewhere; reported, not recorded", "payment", p.id, "state", res.State.String())
	} else if err != nil {
		p.pending = &res
		p.set.ps.log.Error("payment result not recorded; kept for Reconcile", "payment", p.id, "state", res.State.String(), "err", err)
		return fmt.Errorf("%w: the %s result is kept until Reconcile records it: %v", ErrNotRecorded, res.State, err)
	}
	p.pending = nil
	p.result = &res
	p.setStateLocked(res.State, res.Reason)
	p.publishLocked(Event{Type: EventResult, State: res.State, Reason: res.Reason, Result: &res})
	p.leaveLocked()
	p.set.ps.log.Info("payment result", "payment", p.id, "call", p.set.callID, "state", res.State.String(),
		"processor", p.proc.Name(), "processor_reference", res.ProcessorReference)
	if res.State == StateReconciling {
		return fmt.Errorf("%w: %s", ErrStillUnknown, ReasonUnknown)
	}
	if res.State.Final() {
		p.set.ps.forgetIfDone(p)
	}
	return nil
}

// Reconcile settles a payment the processor left without an answer: it
// asks the processor, by idempotency key, what became of the charge (it
// never charges), and records and reports the outcome. A processor that
// has no charge under the key NotFoundGrace after the attempt settles it
// as failed (not charged). It also records a result that storage refused
// earlier. ErrStillUnknown: ask again later.
func (p *Payment) Reconcile(ctx context.Context) (Result, error) {
	p.mu.Lock()
	if p.pending != nil {
		defer p.mu.Unlock()
		res := *p.pending
		return res, p.finishWithResultLocked(ctx, res)
	}
	if p.state != StateReconciling {
		p.mu.Unlock()
		return Result{}, ErrNotReconciling
	}
	if p.reconciling {
		p.mu.Unlock()
		return Result{}, fmt.Errorf("%w: a Reconcile is already asking", ErrStillUnknown)
	}
	p.reconciling = true
	p.mu.Unlock()

	rctx, cancel := context.WithTimeout(ctx, p.set.ps.processTimeout)
	asked := time.Now()
	cr, err := p.proc.Reconcile(rctx, p.key)
	cancel()
	p.set.ps.noteProcessor(p.proc.Name(), cr.Status, time.Since(asked))

	p.mu.Lock()
	defer p.mu.Unlock()
	p.reconciling = false
	switch {
	case errors.Is(err, processor.ErrNotFound) && time.Since(p.chargedAt) >= NotFoundGrace:
		res := p.baseResultLocked(StateFailed)
		res.Reason = ReasonNotCharged
		return res, p.finishWithResultLocked(ctx, res)
	case !cr.Status.Final():
		if err != nil {
			p.set.ps.log.Warn("payment reconciliation: no answer yet", "payment", p.id, "processor", p.proc.Name(), "err", err)
		}
		return *p.result, ErrStillUnknown
	}
	res := p.resultLocked(cr)
	return res, p.finishWithResultLocked(ctx, res)
}

// unsettled reports whether the payment awaits Reconcile.
func (p *Payment) unsettled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending != nil || p.state == StateReconciling
}

// End ends a payment that has not been processed: its digits are zeroed
// and it is cancelled. A payment being processed cannot be ended.
func (p *Payment) End() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.editableLocked(); err != nil {
		return err
	}
	p.endLocked(StateCancelled, ReasonAgentEnded, ActorAgent)
	return nil
}

// cancel ends the payment if it is open; it reports whether it did.
func (p *Payment) cancel(reason string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.state.open() {
		return false
	}
	p.endLocked(StateCancelled, reason, ActorSystem)
	return true
}

// endLocked ends an open payment without a processor result: zeroed,
// state st, recorded (a failure is logged: the payment ends regardless,
// its card data gone), reported. actor caused it.
func (p *Payment) endLocked(st PaymentState, reason, actor string) {
	p.stopTimersLocked()
	p.zeroLocked()
	if p.armed >= 0 {
		p.armLocked(-1)
	}
	res := p.baseResultLocked(st)
	res.Reason = reason
	p.result = &res
	rec := p.recordLocked()
	rec.State, rec.Reason, rec.Actor, rec.Action = st, reason, actor, "payment."+st.String()
	if err := p.writeLocked(context.Background(), rec); err != nil {
		p.set.ps.log.Error("payment end not recorded", "payment", p.id, "state", st.String(), "err", err)
	}
	p.setStateLocked(st, reason)
	p.publishLocked(Event{Type: EventResult, State: st, Reason: reason, Result: &res})
	p.leaveLocked()
	p.set.ps.log.Info("payment ended", "payment", p.id, "call", p.set.callID, "state", st.String(), "reason", reason)
	p.set.ps.forgetIfDone(p)
}

// leaveLocked takes the agent back to the call: secure mode off, the
// agent state of the call's direction. Once only: a payment reconciled
// later, when another may be open, leaves the call as it is.
func (p *Payment) leaveLocked() {
	if p.left {
		return
	}
	p.left = true
	p.set.call.SetSecureMode(false)
	p.publishLocked(Event{Type: EventAgentState, AgentState: returnState(p.set.call.Correlation().Direction)})
}

// keepCardLocked keeps the card number's brand and last four for the
// result and the records, once, before the buffers are zeroed.
func (p *Payment) keepCardLocked() {
	if !p.kept {
		p.cardBrand, p.cardLast4 = p.cardLocked()
		p.kept = true
	}
}

// zeroLocked keeps the brand and last four, then zeroes every capture
// buffer for good.
func (p *Payment) zeroLocked() {
	p.keepCardLocked()
	for i := range p.caps {
		p.caps[i].zero()
	}
}

// cardLocked returns the card number's brand so far and, when it is
// complete and valid, its last four digits.
func (p *Payment) cardLocked() (Brand, string) {
	if p.kept {
		return p.cardBrand, p.cardLast4
	}
	for i, f := range p.fields {
		if f.cfg.Kind == FieldCardNumber {
			return BrandOf(p.caps[i].bytes()), p.last4Locked(i)
		}
	}
	return BrandUnknown, ""
}

// writeLocked hands rec to the store, as the successor of the last record
// it took.
func (p *Payment) writeLocked(ctx context.Context, rec PaymentRecord) error {
	rec.Previous = p.recorded
	if err := p.set.ps.record(ctx, rec); err != nil {
		return err
	}
	p.recorded = rec.State
	return nil
}

// recordLocked returns the payment's record as it stands.
func (p *Payment) recordLocked() PaymentRecord {
	r := PaymentRecord{
		PaymentID:      p.id,
		CallID:         p.set.callID,
		ConfigID:       p.cfg.ID,
		Processor:      p.proc.Name(),
		IdempotencyKey: p.key,
		State:          p.state,
		Reason:         p.reason,
		Attributes:     p.attrs,
		Correlation:    p.set.call.Correlation(),
		Created:        p.created,
		Updated:        p.set.ps.now(),
	}
	r.Brand, r.Last4 = p.cardLocked()
	if p.result != nil {
		r.ProcessorReference, r.DeclineCode, r.Message = p.result.ProcessorReference, p.result.DeclineCode, p.result.Message
	}
	return r
}

// startTimersLocked starts the session timeout and the ticker that
// reports the time left and watches the secure status.
func (p *Payment) startTimersLocked() {
	now := p.set.ps.now()
	p.expiry = time.AfterFunc(p.deadline.Sub(now), p.expire)
	p.nextRemaining = now
	p.ticker = time.AfterFunc(0, p.tick)
}

func (p *Payment) stopTimersLocked() {
	if p.expiry != nil {
		p.expiry.Stop()
	}
	if p.ticker != nil {
		p.ticker.Stop()
	}
}

// expire is the session timeout.
func (p *Payment) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.open() {
		p.endLocked(StateTimedOut, ReasonSessionTimeout, ActorSystem)
	}
}

// tick checks the call's secure status and, every RemainingEvery, reports
// the time left.
func (p *Payment) tick() {
	p.set.UpdateSecure()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.state.open() {
		return
	}
	now := p.set.ps.now()
	if !now.Before(p.nextRemaining) {
		p.publishLocked(p.remainingEventLocked(now))
		p.nextRemaining = now.Add(p.set.ps.remainingEvery)
	}
	p.ticker.Reset(p.set.ps.tickEvery)
}

func (p *Payment) remainingEventLocked(now time.Time) Event {
	left := max(p.deadline.Sub(now), 0)
	return Event{Type: EventRemaining, Deadline: p.deadline, Remaining: int64((left + time.Second - 1) / time.Second)}
}

// FieldView is a field's progress as the API and the form see it: never
// a digit.
type FieldView struct {
	ID       string    `json:"id"`
	Label    string    `json:"label"`
	Kind     FieldKind `json:"kind"`
	Required bool      `json:"required"`
	Armed    bool      `json:"armed,omitempty"`
	Length   int       `json:"length"`
	Complete bool      `json:"complete,omitempty"`
	Valid    bool      `json:"valid,omitempty"`
	// Brand and MaskedPAN are the card number's, as in events.
	Brand     Brand  `json:"brand,omitzero"`
	MaskedPAN string `json:"masked_pan,omitempty"`
}

// PaymentView is a payment as the API and the form see it: never a digit.
type PaymentView struct {
	ID         string       `json:"id"`
	CallID     string       `json:"call_id"`
	ConfigID   string       `json:"config_id"`
	State      PaymentState `json:"state"`
	Reason     string       `json:"reason,omitempty"`
	Attributes Attributes   `json:"attributes"`
	// AgentEditable are the attributes the agent's form may change: those
	// the back end did not set, and those the configuration lets the agent
	// change all the same. Nothing is editable once the payment is being
	// processed.
	AgentEditable AttributeSet `json:"agent_editable"`
	Fields        []FieldView  `json:"fields"`
	Created       time.Time    `json:"created"`
	Updated       time.Time    `json:"updated"`
	Deadline      time.Time    `json:"deadline"`
	// Remaining is the time left, in whole seconds, while the payment is
	// open.
	Remaining int64   `json:"remaining_seconds,omitempty"`
	Result    *Result `json:"result,omitempty"`
}

// View returns the payment as it stands.
func (p *Payment) View() PaymentView {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := PaymentView{
		ID: p.id, CallID: p.set.callID, ConfigID: p.cfg.ID, State: p.state, Reason: p.reason,
		Attributes: p.attrs, Created: p.created, Updated: p.updated, Deadline: p.deadline,
		Fields: make([]FieldView, len(p.fields)),
	}
	if p.state.open() {
		v.Remaining = p.remainingEventLocked(p.set.ps.now()).Remaining
		v.AgentEditable = AgentEditable(p.fixed, p.cfg.agentEditable())
	}
	if p.state.Final() || p.state == StateReconciling {
		r := *p.result
		v.Result = &r
	}
	for i, f := range p.fields {
		fv := FieldView{
			ID: f.cfg.ID, Label: f.cfg.label(), Kind: f.cfg.Kind, Required: f.cfg.required(),
			Armed: i == p.armed, Length: p.caps[i].len(), Complete: f.complete, Valid: f.complete && f.valid,
		}
		if f.cfg.Kind == FieldCardNumber {
			brand, last4 := p.cardLocked()
			fv.Brand = brand
			if last4 != "" {
				fv.MaskedPAN = "•••• " + last4
			}
		}
		v.Fields[i] = fv
	}
	return v
}

// maxProcessorText bounds what is kept of a processor's reference, code
// and message.
const maxProcessorText = 256

func clipText(s string) string {
	if len(s) > maxProcessorText {
		s = s[:maxProcessorText]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// maskDigitRuns replaces every run of six or more digits in a processor's
// message with "•": a message is meant to hold no card data, but one that
// echoed a card number must not carry it into events and records.
func maskDigitRuns(s string) string {
	var b strings.Builder
	run := 0
	flush := func(end int) {
		if run >= 6 {
			b.WriteString("•")
		} else {
			b.WriteString(s[end-run : end])
		}
		run = 0
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
			continue
		}
		flush(i)
		b.WriteByte(s[i])
	}
	flush(len(s))
	return b.String()
}

// keyIsDigit reports whether k is '0'–'9'.
func keyIsDigit(k dtmf.Key) bool { return k >= '0' && k <= '9' }
