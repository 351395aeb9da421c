package payment

// A payment's hand-off to its processor: the charge, recorded before and
// after, and the reconciliation of an outcome the processor left unknown.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"dtmfgw/processor"
	"dtmfgw/store"
)

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
		Tokenize:       p.attrs.Intent == IntentTokenize,
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
		case f.cfg.postcode() && len(b) > 0:
			req.Postcode = b
		}
	}
	return req
}

// savedToken is the token a processor's answer gives a payment that
// reached st: a saved card's, when approved; nothing otherwise.
func savedToken(st store.State, token string) string {
	if st != store.StateApproved {
		return ""
	}
	return token
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
	if p.attrs.Intent == IntentTokenize {
		r.Token = clipText(savedToken(storeState(st), cr.Token))
	}
	r.DeclineCode = clipText(cr.DeclineCode)
	r.Message = maskDigitRuns(clipText(cr.Message))
	return r
}

func (p *Payment) baseResultLocked(st State) Result {
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
	rec.ProcessorReference, rec.DeclineCode, rec.Message, rec.Token = res.ProcessorReference, res.DeclineCode, res.Message, res.Token
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
