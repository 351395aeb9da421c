package payment

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/processor"
)

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
	// confirm is the index in Payment.caps of the field's second entry
	// (FieldConfig.Confirm), or -1; confirming says the first entry is
	// in and the second is being keyed.
	confirm    int
	confirming bool
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
// its Set (HandleDigit), and only the armed field takes them. All
// methods are safe for concurrent use.
type Payment struct {
	id      string
	key     string // idempotency key
	cfg     Config
	set     *Set
	proc    processor.Processor
	created time.Time
	// deadline is the session timeout, by the payments' clock: the one
	// clock events, views and the timers are judged by.
	deadline time.Time

	stateA atomic.Uint32 // State, readable without mu

	mu            sync.Mutex
	state         State
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
	result      *Result   // set when the payment ends or awaits reconciliation
	pending     *Result   // an outcome not yet recorded durably
	reconciling bool      // a Reconcile is asking the processor
	chargedAt   time.Time // when Charge was called, by the timers' clock
	recorded    State     // the state of the last record storage took
	left        bool      // the agent went back to the call (leaveLocked)
	updated     time.Time // the last change of state
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
func (p *Payment) Config() Config { return p.cfg }

// State returns the payment's state.
func (p *Payment) State() State { return State(p.stateA.Load()) }

func (p *Payment) setStateLocked(s State, reason string) {
	p.state, p.reason = s, reason
	p.stateA.Store(uint32(s))
	p.set.ps.noteState(s)
	p.updated = p.set.ps.now()
	p.publishLocked(Event{Type: EventState, State: s, Reason: reason})
}

func (p *Payment) publishLocked(e Event) {
	e.CallID, e.PaymentID = p.set.callID, p.id
	p.describeFieldLocked(&e)
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
	return ErrEnded
}

// Arm makes the field the one the caller's digits go to. A field that is
// complete is cleared first (its digits zeroed), so the caller types it
// afresh; one that is not keeps its digits and goes on. The first Arm
// moves a created payment to collecting.
func (p *Payment) Arm(fieldID string) error { return p.arm(fieldID, false) }

// Clear zeroes the field's digits and arms it, so the caller can type it
// again at once (the agent form's per-field clear button).
func (p *Payment) Clear(fieldID string) error { return p.arm(fieldID, true) }

// arm is Arm, and with zero Clear: the field's digits are zeroed first
// when zero says so or when the field is complete.
func (p *Payment) arm(fieldID string, zero bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.editableLocked(); err != nil {
		return err
	}
	i := p.cfg.field(fieldID)
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrNoField, clip([]byte(fieldID), maxIDLen))
	}
	if zero || p.fields[i].complete {
		p.clearLocked(i)
	}
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
	if f.confirm >= 0 {
		p.caps[f.confirm].clear()
	}
	f.complete, f.valid, f.lost, f.reported, f.confirming = false, false, false, false, false
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
	case keyIsDigit(d.Key) && f.confirming:
		cc := &p.caps[f.confirm]
		if !cc.append(d.Key) { // full: cannot happen, compared first
			return digitIgnored
		}
		p.publishLocked(Event{Type: EventFieldLength, Field: f.cfg.ID, Length: cc.len(), Confirming: true, PressAt: d.FirstSeen})
		if cc.len() == c.len() {
			p.confirmLocked(i)
		}
	case keyIsDigit(d.Key):
		if f.complete || !c.append(d.Key) { // full: cannot happen, complete first
			return digitIgnored
		}
		e := p.lengthEventLocked(i)
		e.PressAt = d.FirstSeen
		p.publishLocked(e)
		if p.completeNowLocked(i) {
			p.enteredLocked(i)
		}
	case d.Key == '*' && p.cfg.StarClearsField:
		p.clearLocked(i)
	case d.Key == '#' && p.cfg.HashEndsField && f.confirming:
		if p.caps[f.confirm].len() == 0 {
			return digitIgnored
		}
		p.confirmLocked(i)
	case d.Key == '#' && p.cfg.HashEndsField:
		switch {
		case f.complete || f.cfg.fixedLen():
			return digitIgnored
		case c.len() == 0 && f.cfg.required():
			return digitIgnored
		case c.len() == 0:
			// An empty optional field is skipped: complete, valid, empty,
			// with nothing to confirm.
			p.completeLocked(i)
		default:
			p.enteredLocked(i)
		}
	default:
		return digitIgnored
	}
	p.refreshLocked()
	return digitCaptured
}

// enteredLocked acts on field i's first entry being whole: it completes
// the field, or, when the field is keyed twice (FieldConfig.Confirm),
// waits for the second entry.
func (p *Payment) enteredLocked(i int) {
	f := &p.fields[i]
	if !f.cfg.Confirm {
		p.completeLocked(i)
		return
	}
	f.confirming = true
	p.publishLocked(Event{Type: EventFieldLength, Field: f.cfg.ID, Confirming: true})
}

// confirmLocked compares field i's two entries (in constant time: the
// comparison must not tell which digit differed): the same completes the
// field; a difference clears it, for the caller to key it again from the
// start. The second entry is zeroed either way.
func (p *Payment) confirmLocked(i int) {
	f := &p.fields[i]
	c, cc := &p.caps[i], &p.caps[f.confirm]
	same := subtle.ConstantTimeCompare(c.bytes(), cc.bytes()) == 1
	cc.clear()
	f.confirming = false
	if same {
		p.completeLocked(i)
		return
	}
	c.clear()
	f.lost = false
	p.publishLocked(Event{Type: EventFieldLength, Field: f.cfg.ID, Mismatch: true})
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
func (p *Payment) endLocked(st State, reason, actor string) {
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
func (p *Payment) writeLocked(ctx context.Context, rec Record) error {
	rec.Previous = p.recorded
	if err := p.set.ps.record(ctx, rec); err != nil {
		return err
	}
	p.recorded = rec.State
	return nil
}

// recordLocked returns the payment's record as it stands.
func (p *Payment) recordLocked() Record {
	r := Record{
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
