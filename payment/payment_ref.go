package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"dtmfgw/store"
)

// Reader reads a payment's durable record: the store gives it
// (StorePayments). Payments finds through it a payment whose call has
// ended.
type Reader interface {
	GetPayment(ctx context.Context, id string) (store.Payment, error)
}

// waiting is a payment made while several configurations exist and none
// was named: it waits, in state created, for the form to choose one
// (Ref.Choose), and only then becomes a Payment under the same id.
// It holds no field. It is stored (created, with no configuration yet),
// so that every node reads it and a survivor ends it if its node dies;
// it records its end (timed out, ended by the agent, its call ended), and
// the Payment it becomes carries on from its record. Once its call has
// ended it is answered a last time (cancelled) from memory and forgotten.
// Payments.mu guards it.
type waiting struct {
	id, callID string
	// configID is the configuration the back end named, if any; types
	// the payment types the form chooses from (empty: agent assist only).
	configID string
	types    []PaymentType
	attrs    Attributes
	fixed    AttributeSet // the attributes the back end set
	created  time.Time
	deadline time.Time
	state    State
	reason   string
	// stored says the store took its creation: its ends are recorded, and
	// the payment it becomes updates its record rather than making one.
	stored bool
	expiry *time.Timer
}

// Ref is a payment found by id, wherever it is: live (in memory,
// with its configuration), waiting for a configuration, or stored (its
// call has ended). Its methods are the payment's operations, whichever
// kind it is: each refuses, with an error that says why, what the payment
// cannot do now.
type Ref struct {
	ps      *Payments
	live    *Payment
	waiting *waiting // a copy, as of the lookup
	stored  *store.Payment
	// link and messages are a stored digital payment's.
	link     *store.Link
	messages []store.Message
}

// Live returns the payment in memory, or nil (waiting or stored).
func (r Ref) Live() *Payment { return r.live }

// Stored returns the payment's record when its call has ended and it is
// no longer in memory, or nil.
func (r Ref) Stored() *store.Payment { return r.stored }

// Waiting reports whether the payment waits for its configuration.
func (r Ref) Waiting() bool { return r.waiting != nil && r.waiting.state == StateCreated }

// Create makes a payment on the live call callID under id: of the
// configuration configID, or of the only one there is, or, with several
// to choose from and none named, a payment waiting for the form to choose
// (Ref.Choose). fixed are the attributes the back end set.
func (ps *Payments) Create(callID, configID, id string, attrs Attributes, fixed AttributeSet) (Ref, error) {
	return ps.create(callID, configID, id, attrs, fixed, false)
}

// CreateChoosing is Create for a payment whose type the back end left
// to the agent: when its configuration (or any, with none named) allows a
// digital payment as well, the payment waits for the form to choose the
// type (Ref.Choose or Ref.ChooseDigital).
func (ps *Payments) CreateChoosing(callID, configID, id string, attrs Attributes, fixed AttributeSet) (Ref, error) {
	return ps.create(callID, configID, id, attrs, fixed, true)
}

func (ps *Payments) create(callID, configID, id string, attrs Attributes, fixed AttributeSet, choose bool) (Ref, error) {
	ps.createMu.Lock()
	defer ps.createMu.Unlock()
	set := ps.Set(callID)
	if set == nil {
		return Ref{}, ErrNoCall
	}
	if ps.waitingOnCall(callID) != nil {
		return Ref{}, ErrInProgress
	}
	if configID == "" {
		if cfgs := ps.Configs(); len(cfgs) == 1 {
			configID = cfgs[0].ID
		}
	} else if _, ok := ps.Config(configID); !ok {
		return Ref{}, ErrNoConfig
	}
	var types []PaymentType
	if choose && ps.links != nil {
		for _, c := range ps.Configs() {
			if (configID == "" || c.ID == configID) && c.Allows(TypeDigital) {
				types = []PaymentType{TypeAgentAssist, TypeDigital}
			}
		}
	}
	if configID != "" && types == nil {
		p, err := set.NewWithFixed(id, configID, attrs, fixed)
		if err != nil {
			return Ref{}, err
		}
		return Ref{ps: ps, live: p}, nil
	}
	if a := set.Active(); (a != nil && a.State().blocking()) || set.digitalInProgress() != "" {
		return Ref{}, ErrInProgress
	}
	if !validPaymentID(id) {
		return Ref{}, fmt.Errorf("%w: payment id", ErrBadAttributes)
	}
	now := ps.now()
	w := &waiting{id: id, callID: callID, configID: configID, types: types, attrs: attrs, fixed: fixed, created: now,
		deadline: now.Add(DefaultSessionTimeout), state: StateCreated}
	rec := w.record(StateCreated, ActorAgent, "payment.created", "awaiting a configuration", now)
	rec.Previous, rec.Correlation = 0, set.call.Correlation()
	if err := ps.record(context.Background(), rec); err != nil {
		ps.log.Warn("payment creation not recorded", "payment", id, "err", err)
	} else {
		w.stored = ps.store != nil
	}
	ps.mu.Lock()
	ps.waiting[id] = w
	w.expiry = time.AfterFunc(DefaultSessionTimeout, func() { ps.expireWaiting(id) })
	cp := *w // under the lock: the timeout may end it at any moment now
	ps.mu.Unlock()
	ps.log.Info("payment created, awaiting a configuration", "payment", id, "call", callID)
	return Ref{ps: ps, waiting: &cp}, nil
}

// record is the waiting payment's record in state st (from created).
func (w *waiting) record(st State, actor, action, reason string, now time.Time) Record {
	return Record{PaymentID: w.id, CallID: w.callID, ConfigID: w.configID, State: st, Previous: StateCreated,
		Actor: actor, Action: action, Reason: reason, Attributes: w.attrs, Created: w.created, Updated: now}
}

// endWaitingLocked ends the waiting payment w, still created, in state st
// for reason, caused by actor, and returns its record for writeWaiting
// once Payments.mu is let go.
func (ps *Payments) endWaitingLocked(w *waiting, st State, reason, actor string) *Record {
	w.state, w.reason = st, reason
	if w.expiry != nil {
		w.expiry.Stop()
	}
	if !w.stored {
		return nil
	}
	rec := w.record(st, actor, "payment."+st.String(), reason, ps.now())
	return &rec
}

// writeWaiting writes the records endWaitingLocked returned; a failure is
// logged: the payment has ended regardless.
func (ps *Payments) writeWaiting(recs ...*Record) {
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		if err := ps.record(context.Background(), *rec); err != nil {
			ps.log.Error("payment end not recorded", "payment", rec.PaymentID, "state", rec.State.String(), "err", err)
		}
	}
}

// expireWaiting is a waiting payment's session timeout.
func (ps *Payments) expireWaiting(id string) {
	ps.mu.Lock()
	var rec *Record
	if w := ps.waiting[id]; w != nil && w.state == StateCreated && !ps.now().Before(w.deadline) {
		rec = ps.endWaitingLocked(w, StateTimedOut, ReasonSessionTimeout, ActorSystem)
	}
	ps.mu.Unlock()
	ps.writeWaiting(rec)
}

// endCallWaiting ends the payments of the call callID still waiting for
// their configuration: the call has ended (reason).
func (ps *Payments) endCallWaiting(callID, reason string) {
	var recs []*Record
	ps.mu.Lock()
	for _, w := range ps.waiting {
		if w.callID == callID && w.state == StateCreated {
			recs = append(recs, ps.endWaitingLocked(w, StateCancelled, reason, ActorSystem))
		}
	}
	ps.mu.Unlock()
	ps.writeWaiting(recs...)
}

// Find looks the payment id up: in memory, waiting, or in the store.
func (ps *Payments) Find(ctx context.Context, id string) (Ref, error) {
	if p := ps.Payment(id); p != nil {
		return Ref{ps: ps, live: p}, nil
	}
	if w := ps.waitingPayment(id); w != nil {
		return Ref{ps: ps, waiting: w}, nil
	}
	rd, ok := ps.store.(Reader)
	if !ok || !validPaymentID(id) {
		return Ref{}, ErrNotFound
	}
	sp, err := rd.GetPayment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Ref{}, ErrNotFound
	}
	if err != nil {
		ps.log.Warn("reading a payment from the store", "payment", id, "err", err)
		return Ref{}, ErrStoreUnavailable
	}
	r := Ref{ps: ps, stored: &sp}
	if sp.Type == store.TypeDigital && ps.links != nil {
		if err := ps.loadDigital(ctx, &r); err != nil {
			ps.log.Warn("reading a payment link from the store", "payment", id, "err", err)
			return Ref{}, ErrStoreUnavailable
		}
	}
	return r, nil
}

// InProgress returns the id of the call's payment in progress, waiting or
// live, or "".
func (ps *Payments) InProgress(callID string) string {
	if w := ps.waitingOnCall(callID); w != nil {
		return w.id
	}
	if set := ps.Set(callID); set != nil {
		if a := set.Active(); a != nil && a.State().blocking() {
			return a.ID()
		}
		return set.digitalInProgress()
	}
	return ""
}

// waitingPayment returns a copy of the waiting payment id, judging its
// timeout and its call's end first. One whose call has ended is answered a
// last time (cancelled) and forgotten.
func (ps *Payments) waitingPayment(id string) *waiting {
	var rec *Record
	defer func() { ps.writeWaiting(rec) }()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	w := ps.waiting[id]
	if w == nil {
		return nil
	}
	if w.state == StateCreated && !ps.now().Before(w.deadline) {
		rec = ps.endWaitingLocked(w, StateTimedOut, ReasonSessionTimeout, ActorSystem)
	}
	if ps.sets[w.callID] == nil {
		if w.state == StateCreated {
			rec = ps.endWaitingLocked(w, StateCancelled, ReasonCallEnded, ActorSystem)
		}
		delete(ps.waiting, id)
	}
	cp := *w
	return &cp
}

// waitingOnCall returns the call's payment waiting for a configuration,
// if any.
func (ps *Payments) waitingOnCall(callID string) *waiting {
	ps.mu.Lock()
	var ids []string
	for id, w := range ps.waiting {
		if w.callID == callID {
			ids = append(ids, id)
		}
	}
	ps.mu.Unlock()
	for _, id := range ids {
		if w := ps.waitingPayment(id); w != nil && w.state == StateCreated {
			return w
		}
	}
	return nil
}

// ID returns the payment's id.
func (r Ref) ID() string {
	switch {
	case r.live != nil:
		return r.live.ID()
	case r.waiting != nil:
		return r.waiting.id
	case r.stored != nil:
		return r.stored.ID
	}
	return ""
}

// View returns what the API and the form see of the payment: never a
// digit. A stored payment shows its state, amounts, result and times (the
// fields' progress is not stored).
func (r Ref) View() View {
	switch {
	case r.live != nil:
		return r.live.View()
	case r.waiting != nil:
		w := r.waiting
		v := View{
			ID: w.id, CallID: w.callID, ConfigID: w.configID, State: w.state, Reason: w.reason, Attributes: w.attrs,
			Fields: []FieldView{}, Created: w.created, Updated: w.created, Deadline: w.deadline, Types: w.types,
		}
		if len(w.types) == 0 {
			v.Type = TypeAgentAssist
		}
		if w.state == StateCreated {
			v.AgentEditable = AgentEditable(w.fixed, 0)
			v.Remaining = int64(w.deadline.Sub(r.ps.now()) / time.Second)
		}
		return v
	case r.link != nil:
		v := storedView(*r.stored)
		v.Link = r.linkView()
		v.Deadline = v.Link.Expires
		// The fields the page asks for, for the agent's form to draw their
		// dots as the page reports lengths (which are not stored).
		if cfg, ok := r.ps.Config(v.ConfigID); ok {
			for _, f := range cfg.Fields {
				v.Fields = append(v.Fields, FieldView{ID: f.ID, Label: f.label(), Kind: f.Kind, Required: f.required()})
			}
		}
		return v
	case r.stored != nil:
		return storedView(*r.stored)
	}
	return View{Fields: []FieldView{}}
}

// PatchAttributes changes the attributes editor may change (a waiting
// payment: none is opened by a configuration, and the currency has no
// default).
func (r *Ref) PatchAttributes(editor Editor, ch AttributesPatch) error {
	switch {
	case r.live != nil:
		_, err := r.live.PatchAttributes(editor, ch)
		return err
	case r.waiting != nil:
		return r.onWaiting(func(w *waiting) error {
			a, fixed, err := ch.Apply(editor, w.attrs, w.fixed, 0, "")
			if err != nil {
				return err
			}
			w.attrs, w.fixed = a, fixed
			r.waiting.attrs, r.waiting.fixed = a, fixed
			return nil
		})
	}
	return ErrInvalidState
}

// onWaiting runs op, under Payments.mu, on the waiting payment r was
// found as, if it still waits for its configuration.
func (r *Ref) onWaiting(op func(*waiting) error) error {
	r.ps.mu.Lock()
	defer r.ps.mu.Unlock()
	w := r.ps.waiting[r.waiting.id]
	if w == nil || w.state != StateCreated {
		return ErrInvalidState
	}
	return op(w)
}

// Arm arms the field fieldID (Payment.Arm).
func (r Ref) Arm(fieldID string) error {
	return r.onLive(func(p *Payment) error { return p.Arm(fieldID) })
}

// Clear clears the field fieldID (Payment.Clear).
func (r Ref) Clear(fieldID string) error {
	return r.onLive(func(p *Payment) error { return p.Clear(fieldID) })
}

// onLive runs op on a live payment; a waiting one has no field yet.
func (r Ref) onLive(op func(*Payment) error) error {
	switch {
	case r.live != nil:
		return op(r.live)
	case r.Waiting():
		return ErrNoConfigYet
	}
	return ErrInvalidState
}

// Process hands the card to the processor (Payment.Process). A waiting
// payment is not ready.
func (r Ref) Process(ctx context.Context) (Result, error) {
	switch {
	case r.live != nil:
		return r.live.Process(ctx)
	case r.Waiting():
		return Result{}, ErrNotReady
	}
	return Result{}, ErrInvalidState
}

// End ends the payment unprocessed: a live one as Payment.End, a waiting
// one as cancelled by the agent, a digital one's link cancelled (refused
// while a card of it is with the processor).
func (r *Ref) End() error {
	switch {
	case r.live != nil:
		return r.live.End()
	case r.link != nil:
		p, l, err := r.ps.closeLink(context.Background(), r.stored.ID, store.LinkCancelled, store.ActorAgent)
		if err != nil {
			return err
		}
		r.stored, r.link = &p, &l
		return nil
	case r.waiting != nil:
		var rec *Record
		err := r.onWaiting(func(w *waiting) error {
			rec = r.ps.endWaitingLocked(w, StateCancelled, ReasonAgentEnded, ActorAgent)
			*r.waiting = *w
			return nil
		})
		r.ps.writeWaiting(rec)
		return err
	}
	return ErrInvalidState
}

// Choose gives a waiting payment its configuration: it becomes a live
// Payment under the same id, with the attributes it has so far.
func (r Ref) Choose(configID string) (Ref, error) {
	ps := r.ps
	if _, ok := ps.Config(configID); !ok {
		return Ref{}, ErrNoConfig
	}
	if r.waiting == nil {
		return Ref{}, ErrConfigChosen
	}
	ps.createMu.Lock()
	defer ps.createMu.Unlock()
	w := ps.waitingPayment(r.waiting.id)
	if w == nil || w.state != StateCreated {
		return Ref{}, ErrInvalidState
	}
	set := ps.Set(w.callID)
	if set == nil {
		return Ref{}, ErrNoCall
	}
	live, err := set.newPayment(w.id, configID, w.attrs, w.fixed, w.stored)
	if err != nil {
		return Ref{}, err
	}
	ps.forgetWaiting(w.id)
	return Ref{ps: ps, live: live}, nil
}

// ChooseDigital makes a waiting payment a digital one under the same id,
// with the attributes it has so far (CreateDigital): configID empty takes
// the one the back end named, or the only one.
func (r Ref) ChooseDigital(ctx context.Context, configID, phone string, actor store.Actor) (Ref, DigitalLink, error) {
	ps := r.ps
	if r.waiting == nil {
		return Ref{}, DigitalLink{}, ErrConfigChosen
	}
	ps.createMu.Lock()
	defer ps.createMu.Unlock()
	w := ps.waitingPayment(r.waiting.id)
	if w == nil || w.state != StateCreated {
		return Ref{}, DigitalLink{}, ErrInvalidState
	}
	if configID == "" {
		configID = w.configID
	}
	req := DigitalRequest{ID: w.id, CallID: w.callID, ConfigID: configID, Attributes: w.attrs, Phone: phone, Actor: actor}
	ref, link, err := ps.createDigitalLocked(ctx, req, w.id, w.stored)
	if err != nil {
		return Ref{}, DigitalLink{}, err
	}
	ps.forgetWaiting(w.id)
	return ref, link, nil
}

// forgetWaiting forgets the waiting payment id, which has become a live
// or a digital payment.
func (ps *Payments) forgetWaiting(id string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if w := ps.waiting[id]; w != nil && w.expiry != nil {
		w.expiry.Stop()
	}
	delete(ps.waiting, id)
}

// Another starts the next payment on the call of a finished one, under
// id, with its configuration and its attributes but the amount ("take
// another payment" in the form). What the back end set stays fixed, but
// the amount, which the next payment starts without.
func (r Ref) Another(id string) (Ref, error) {
	switch {
	case r.link != nil && storedState(r.stored.State).Final() && r.stored.CallID != "":
		// After a digital payment, the next on its call may be of either
		// type again.
		attrs := Attributes{Currency: r.stored.Currency, Reference: r.stored.Reference}
		return r.ps.create(r.stored.CallID, r.stored.ConfigurationID, id, attrs, 0, true)
	case r.stored != nil:
		return Ref{}, ErrNoCall
	case r.live == nil || !r.live.State().Final():
		return Ref{}, fmt.Errorf("%w: another payment follows only a finished one", ErrInvalidState)
	}
	attrs := r.live.Attributes()
	attrs.Amount = 0
	fixed := r.live.FixedAttributes() &^ AttributeSetOf(AttrAmount)
	return r.ps.Create(r.live.View().CallID, r.live.Config().ID, id, attrs, fixed)
}

// storedView is a stored payment as a view: state, amounts, result and
// times; the fields' progress is not stored.
func storedView(sp store.Payment) View {
	st := storedState(sp.State)
	attrs := Attributes{Amount: sp.Amount, Currency: sp.Currency, Reference: sp.Reference}
	v := View{
		ID: sp.ID, Type: TypeAgentAssist, Intent: Intent(sp.Intent), CallID: sp.CallID, ConfigID: sp.ConfigurationID, State: st,
		Attributes: attrs, Fields: []FieldView{}, Created: sp.CreatedAt, Updated: sp.UpdatedAt,
	}
	if sp.Type == store.TypeDigital {
		v.Type = TypeDigital
	}
	if st.Final() || st == StateReconciling {
		var brand Brand
		_ = brand.UnmarshalText([]byte(sp.Brand))
		v.Result = &Result{
			State: st, ProcessorReference: sp.ProcessorReference, DeclineCode: sp.DeclineCode, Token: sp.Token,
			Brand: brand, Last4: sp.Last4, Amount: sp.Amount, Currency: sp.Currency, Reference: sp.Reference,
		}
	}
	return v
}

// storedState maps the store's state name to a State ("unknown" is
// reconciling).
func storedState(st store.State) State {
	if st == store.StateUnknown {
		return StateReconciling
	}
	if s, ok := stateText.Parse([]byte(st)); ok {
		return s
	}
	return StateFailed
}
