package payment

// The hosted page's side of a digital payment (Desk): the link found by
// its token, what the page shows, the caller's progress and presence told
// to the agent's form, and the card, checked and charged under a key of
// the attempt's own.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"dtmfgw/processor"
	"dtmfgw/store"
)

// linkFor finds the digital payment behind token.
func (ps *Payments) linkFor(ctx context.Context, token string) (Ref, Config, error) {
	if ps.links == nil {
		return Ref{}, Config{}, ErrLinkNotFound
	}
	if token == "" || len(token) > 128 {
		return Ref{}, Config{}, ErrLinkNotFound
	}
	l, err := ps.links.st.LinkByTokenHash(ctx, tokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return Ref{}, Config{}, ErrLinkNotFound
	}
	if err != nil {
		return Ref{}, Config{}, ps.linkErr(err)
	}
	r, err := ps.digitalRef(ctx, l.PaymentID)
	if err != nil {
		return Ref{}, Config{}, err
	}
	cfg, ok := ps.Config(r.stored.ConfigurationID)
	if !ok {
		// Removed by a reload since: the card fields of the default.
		cfg = DefaultConfigs()[0]
		cfg.Name = ""
	}
	return r, cfg, nil
}

// pageView is what the page shows of r.
func (ps *Payments) pageView(r Ref, cfg Config) PageView {
	lv := r.linkView()
	p := r.stored
	v := PageView{State: lv.State, Merchant: cfg.Name, Amount: p.Amount, Currency: p.Currency, Reference: p.Reference,
		AskCardholderName: cfg.AskCardholderName, AcceptedBrands: cfg.AcceptedBrands, Expires: lv.Expires,
		AttemptsLeft: max(lv.MaxAttempts-lv.FailedAttempts, 0), LastAttempt: lv.LastAttempt, Fields: []PageField{}}
	for _, f := range cfg.Fields {
		v.Fields = append(v.Fields, PageField{ID: f.ID, Label: f.label(), Kind: f.Kind, Required: f.required(), MinLen: f.MinLen, MaxLen: f.MaxLen})
	}
	if v.AcceptedBrands == nil {
		v.AcceptedBrands = []Brand{}
	}
	if st := storedState(p.State); st == StateApproved || st == StateReconciling {
		v.Result = storedView(*p).Result
	}
	return v
}

// OpenLink is Desk.OpenLink.
func (ps *Payments) OpenLink(ctx context.Context, token string) (PageView, error) {
	r, cfg, err := ps.linkFor(ctx, token)
	if err != nil {
		return PageView{}, err
	}
	if !r.link.State.Open() {
		return ps.pageView(r, cfg), ErrLinkClosed
	}
	if r.link.State != store.LinkOpened {
		l, err := ps.links.st.UpdateLink(ctx, r.stored.ID, store.LinkChange{To: store.LinkOpened,
			Entry: store.Entry{Actor: store.ActorSystem, Action: "link.opened"}})
		if err != nil {
			return ps.pageView(r, cfg), ps.linkErr(err)
		}
		r.link = &l
		ps.noteLink(LinkOpened)
		ps.log.Info("payment link opened", "payment", r.stored.ID)
		if !ps.seen(r, true) {
			ps.publishDigital(*r.stored, Event{Type: EventLink, Link: r.linkView()})
		}
		return ps.pageView(r, cfg), nil
	}
	ps.seen(r, true)
	return ps.pageView(r, cfg), nil
}

// LinkProgress is Desk.LinkProgress: the length, never a character.
func (ps *Payments) LinkProgress(ctx context.Context, token, field string, length int) error {
	r, cfg, err := ps.linkFor(ctx, token)
	if err != nil {
		return err
	}
	if !r.link.State.Open() {
		return ErrLinkClosed
	}
	if cfg.field(field) < 0 && !(field == string(AttrCardholderName) && cfg.AskCardholderName) {
		return fmt.Errorf("%w: %q", ErrNoField, clip([]byte(field), maxIDLen))
	}
	if length < 0 || length > 64 {
		return fmt.Errorf("%w: length", ErrBadAttributes)
	}
	ps.seen(r, true)
	ps.publishDigital(*r.stored, Event{Type: EventFieldLength, Field: field, Length: length})
	return nil
}

// LinkPresence is Desk.LinkPresence.
func (ps *Payments) LinkPresence(ctx context.Context, token string, present bool) error {
	r, _, err := ps.linkFor(ctx, token)
	if err != nil {
		return err
	}
	if !r.link.State.Open() {
		return ErrLinkClosed
	}
	ps.seen(r, present)
	return nil
}

// seen notes the caller on the page (on) or gone, and tells the form when
// that changes (and reports whether it did). Being on lasts
// presenceTimeout after the last sign.
func (ps *Payments) seen(r Ref, on bool) bool {
	lk := ps.links
	id := r.stored.ID
	lk.mu.Lock()
	pr := lk.present[id]
	if pr == nil {
		p := *r.stored
		pr = &presence{}
		pr.timer = time.AfterFunc(presenceTimeout, func() { ps.gone(p) })
		lk.present[id] = pr
	}
	changed := pr.on != on
	pr.on = on
	if on {
		pr.timer.Reset(presenceTimeout)
	} else {
		pr.timer.Stop()
	}
	lk.mu.Unlock()
	if changed {
		ps.publishDigital(*r.stored, Event{Type: EventLink, Link: r.linkView()})
	}
	return changed
}

// gone is the presence timeout: no sign of the caller for a while.
func (ps *Payments) gone(p store.Payment) {
	lk := ps.links
	lk.mu.Lock()
	pr := lk.present[p.ID]
	changed := pr != nil && pr.on
	if changed {
		pr.on = false
	}
	lk.mu.Unlock()
	if !changed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if r, err := ps.digitalRef(ctx, p.ID); err == nil {
		ps.publishDigital(*r.stored, Event{Type: EventLink, Link: r.linkView()})
	}
}

// PayLink is Desk.PayLink: the card checked as a keypad payment's is,
// charged under a key of the attempt's own, the answer recorded with the
// link before it is reported. The card's digits are zeroed before it
// returns, whatever happens.
func (ps *Payments) PayLink(ctx context.Context, token string, card PageCard) (PageView, error) {
	defer card.Zero()
	r, cfg, err := ps.linkFor(ctx, token)
	if err != nil {
		return PageView{}, err
	}
	p := *r.stored
	switch {
	case !r.link.State.Open():
		return ps.pageView(r, cfg), ErrLinkClosed
	case p.State == store.StateProcessing || p.State == store.StateUnknown:
		return ps.pageView(r, cfg), ErrLinkBusy
	}
	now := ps.now()
	req, brand, last4, bad := cardRequest(cfg, card, now)
	defer zeroRequest(req)
	lk := ps.links
	if len(bad) > 0 {
		_, _, err := lk.st.RefuseAttempt(ctx, p.ID, store.Entry{Actor: store.ActorSystem, Action: "payment.attempt_refused",
			Detail: "refused by the card checks: " + strings.Join(bad, ", ")})
		if err != nil {
			return ps.pageView(r, cfg), ps.linkErr(err)
		}
		return ps.afterAttempt(ctx, p.ID, cfg, &PageAttempt{Outcome: "invalid", Fields: bad,
			Message: "Please check the details you entered."})
	}
	name := card.CardholderName
	if len(name) > processor.MaxTextLen || hasControl(name) || HoldsCardNumber(name) {
		name = ""
	}
	key := fmt.Sprintf("dtmfgw-%s-%d", p.ID, r.link.Attempts+1)
	req.IdempotencyKey, req.Amount, req.Currency, req.Reference, req.CardholderName = key, p.Amount, p.Currency, p.Reference, name
	if _, _, err := lk.st.BeginAttempt(ctx, p.ID, store.Attempt{IdempotencyKey: key, Brand: brand.String(), Last4: last4,
		Amount: p.Amount, Currency: p.Currency, Reference: p.Reference, Processor: p.Processor,
		Entry: store.Entry{Actor: store.ActorSystem, Action: "payment.processing", Detail: "digital"}}); err != nil {
		return ps.pageView(r, cfg), ps.linkErr(err)
	}
	lk.mu.Lock()
	lk.charging[p.ID] = true
	lk.mu.Unlock()
	defer func() {
		lk.mu.Lock()
		delete(lk.charging, p.ID)
		lk.mu.Unlock()
	}()
	ps.publishDigital(p, Event{Type: EventState, State: StateProcessing})
	proc := ps.procs[p.Processor]
	var cr processor.Result
	if proc == nil {
		cr, err = processor.Result{Status: processor.Failed}, fmt.Errorf("no processor %q", p.Processor)
	} else {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ps.processTimeout)
		start := time.Now()
		cr, err = proc.Charge(pctx, req)
		cancel()
		ps.noteProcessor(proc.Name(), cr.Status, time.Since(start))
	}
	zeroRequest(req)
	card.Zero()
	if err != nil {
		ps.log.Warn("payment processor error", "payment", p.ID, "processor", p.Processor, "status", cr.Status.String(), "err", err)
	}
	to := store.StateUnknown
	switch cr.Status {
	case processor.Approved:
		to = store.StateApproved
	case processor.Declined:
		to = store.StateDeclined
	case processor.Failed:
		to = store.StateFailed
	}
	_, _, err = lk.st.FinishAttempt(ctx, p.ID, store.Result{State: to, ProcessorReference: clipText(cr.Reference),
		DeclineCode: clipText(cr.DeclineCode), Entry: store.Entry{Actor: store.ActorSystem, Action: "payment.result", Detail: string(to)}})
	if err != nil {
		// The record says processing: the reconciler asks the processor
		// by the attempt's key.
		ps.log.Error("payment result not recorded; the reconciler will settle it", "payment", p.ID, "err", err)
		return ps.pageView(r, cfg), fmt.Errorf("%w: %v", ErrNotRecorded, err)
	}
	var failed *PageAttempt
	switch to {
	case store.StateDeclined:
		failed = &PageAttempt{Outcome: "declined", Message: "Your card was declined. You can try another card."}
	case store.StateFailed:
		failed = &PageAttempt{Outcome: "failed", Message: "The payment could not be made. You can try again or use another card."}
	}
	ps.log.Info("payment link attempt", "payment", p.ID, "state", string(to), "processor_reference", clipText(cr.Reference))
	return ps.afterAttempt(ctx, p.ID, cfg, failed)
}

// afterAttempt reads the payment again after an attempt, keeps a failed
// attempt's message, tells the form, and answers the page.
func (ps *Payments) afterAttempt(ctx context.Context, id string, cfg Config, failed *PageAttempt) (PageView, error) {
	lk := ps.links
	if failed != nil {
		lk.mu.Lock()
		lk.last[id] = failed
		lk.mu.Unlock()
	}
	r, err := ps.digitalRef(ctx, id)
	if err != nil {
		return PageView{}, err
	}
	v := ps.pageView(r, cfg)
	p := *r.stored
	st := storedState(p.State)
	ps.publishDigital(p, Event{Type: EventLink, Link: r.linkView()})
	if st != StateCreated {
		ps.publishDigital(p, Event{Type: EventState, State: st})
	}
	if st.Final() || st == StateReconciling {
		ps.noteLink(v.State)
		ps.noteState(st)
		ps.publishDigital(p, Event{Type: EventResult, State: st, Result: storedView(p).Result})
		ps.settledDigital(p)
	}
	return v, nil
}

// cardRequest checks the page's card as a keypad payment's fields are
// checked and builds the charge request on its slices (no copy of a
// digit). bad names the fields refused; brand and last4 are the card
// number's when it is valid.
func cardRequest(cfg Config, card PageCard, now time.Time) (req *processor.Request, brand Brand, last4 string, bad []string) {
	req = &processor.Request{}
	for _, f := range cfg.Fields {
		b := card.Fields[f.ID]
		ok := allDigits(b)
		switch f.Kind {
		case FieldCardNumber:
			brand, ok = ValidPAN(b, cfg.AcceptedBrands)
			if ok {
				req.PAN, last4 = b, string(b[len(b)-4:])
			}
		case FieldExpiry:
			if ok = ValidExpiry(b, now); ok {
				req.ExpMonth, req.ExpYear, _ = ExpiryOf(b, now)
			}
		case FieldSecurityCode:
			// Judged with the card number's brand, once known.
		default:
			n := len(b)
			ok = ok && ((n == 0 && !f.required()) || (n >= f.MinLen && n <= f.MaxLen))
			if ok && f.postcode() && n > 0 {
				req.Postcode = b
			}
		}
		if !ok {
			bad = append(bad, f.ID)
		}
	}
	for _, f := range cfg.Fields {
		if f.Kind == FieldSecurityCode {
			b := card.Fields[f.ID]
			if ValidSecurityCode(b, brand) {
				req.CVC = b
			} else {
				bad = append(bad, f.ID)
			}
		}
	}
	return req, brand, last4, bad
}

// chargingDigital reports whether the digital payment id's card is with
// the processor in this process now.
func (ps *Payments) chargingDigital(id string) bool {
	lk := ps.links
	if lk == nil {
		return false
	}
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.charging[id]
}
