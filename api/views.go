package api

import (
	"context"
	"errors"
	"time"

	"dtmfgw/session"
	"dtmfgw/store"
)

// paymentView is a payment as the API answers it (PaymentView+ in the
// contract): the session's view, which holds no digit, with the call it is
// taken on, the form session's id, and the configurations to choose from
// while none is chosen.
type paymentView struct {
	session.PaymentView
	Call           *callInfo               `json:"call,omitempty"`
	WebSessionID   string                  `json:"web_session_id"`
	Configurations []session.PaymentConfig `json:"configurations,omitempty"`
}

// callInfo is what the form's session information shows of the call: the
// contact centre's ids and numbers, never a SIP Call-ID (with one, and
// the tags, anyone could try to act in the call's dialogs; the B2BUA
// refuses them, and the form has no use for them).
type callInfo struct {
	ID              string    `json:"id"`
	PrimaryCallID   string    `json:"primary_call_id,omitempty"`
	SecondaryCallID string    `json:"secondary_call_id,omitempty"`
	CallerNumber    string    `json:"caller_number,omitempty"`
	CalledNumber    string    `json:"called_number,omitempty"`
	Started         time.Time `json:"started,omitzero"`
	Secure          bool      `json:"secure"`
}

// callJSON is a live call in GET /v1/calls.
type callJSON struct {
	ID             string            `json:"id"`
	InboundCallID  string            `json:"inbound_call_id"`
	OutboundCallID string            `json:"outbound_call_id"`
	PrimaryCallID  string            `json:"primary_call_id"`
	AgentID        string            `json:"agent_id"`
	CallerNumber   string            `json:"caller_number"`
	CalledNumber   string            `json:"called_number"`
	Direction      session.Direction `json:"direction"`
	Secure         bool              `json:"secure"`
	Started        time.Time         `json:"started"`
	Answered       time.Time         `json:"answered,omitzero"`
	PaymentID      string            `json:"payment_id,omitempty"`
}

// pending is a payment made without a configuration while several exist:
// it waits, in state created, for the form to choose one (PUT
// .../configuration), and only then becomes a session payment under the
// same id. It is not stored: once its call has ended it is not found.
type pending struct {
	id, callID string
	attrs      session.Attributes
	fixed      session.AttributeSet // the attributes the back end set
	created    time.Time
	deadline   time.Time
	state      session.PaymentState
	reason     string
}

// found is a payment looked up by id: live (in memory), pending (no
// configuration yet) or stored (its call has ended).
type found struct {
	live   *session.Payment
	pend   *pending
	stored *store.Payment
}

// lookup finds the payment id wherever it is.
func (s *Server) lookup(ctx context.Context, id string) (found, error) {
	if p := s.payments.Payment(id); p != nil {
		return found{live: p}, nil
	}
	if p := s.pendingPayment(id); p != nil {
		return found{pend: p}, nil
	}
	if s.store == nil || len(id) > maxTokenIDLen {
		return found{}, errPaymentNotFound
	}
	sp, err := s.store.GetPayment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return found{}, errPaymentNotFound
	}
	if err != nil {
		s.log.Warn("reading a payment from the store", "payment", id, "err", err)
		return found{}, errStorage
	}
	return found{stored: &sp}, nil
}

// pendingPayment returns the pending payment id, judging its timeout and
// its call's end first. One whose call has ended is answered a last time
// (cancelled) and forgotten.
func (s *Server) pendingPayment(id string) *pending {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	p := s.pending[id]
	if p == nil {
		return nil
	}
	if p.state == session.StateCreated && !s.now().Before(p.deadline) {
		p.state, p.reason = session.StateTimedOut, session.ReasonSessionTimeout
	}
	if s.payments.Set(p.callID) == nil {
		if p.state == session.StateCreated {
			p.state, p.reason = session.StateCancelled, session.ReasonCallEnded
		}
		delete(s.pending, id)
	}
	cp := *p
	return &cp
}

// pendingOnCall returns the open pending payment of the call, if any.
func (s *Server) pendingOnCall(callID string) *pending {
	s.pmu.Lock()
	var ids []string
	for id, p := range s.pending {
		if p.callID == callID {
			ids = append(ids, id)
		}
	}
	s.pmu.Unlock()
	for _, id := range ids {
		if p := s.pendingPayment(id); p != nil && p.state == session.StateCreated {
			return p
		}
	}
	return nil
}

// view builds the answer for a found payment.
func (s *Server) view(ctx context.Context, f found) paymentView {
	var v paymentView
	var callID string
	switch {
	case f.live != nil:
		v.PaymentView = f.live.View()
		callID = v.CallID
	case f.pend != nil:
		p := f.pend
		v.PaymentView = session.PaymentView{
			ID: p.id, CallID: p.callID, State: p.state, Reason: p.reason, Attributes: p.attrs,
			Fields: []session.FieldView{}, Created: p.created, Updated: p.created, Deadline: p.deadline,
		}
		if p.state == session.StateCreated {
			v.AgentEditable = session.AgentEditable(p.fixed, 0)
			v.Remaining = int64(p.deadline.Sub(s.now()) / time.Second)
			v.Configurations = s.payments.Configs()
		}
		callID = p.callID
	case f.stored != nil:
		v.PaymentView = storedView(*f.stored)
		callID = v.CallID
	}
	v.Created, v.Updated, v.Deadline = v.Created.UTC(), v.Updated.UTC(), v.Deadline.UTC()
	v.WebSessionID = v.ID
	v.Call = s.callInfo(ctx, callID, v.ID, f.stored)
	return v
}

// callInfo describes the call: from the live call, else from the
// payment's record.
func (s *Server) callInfo(ctx context.Context, callID, paymentID string, rec *store.Payment) *callInfo {
	if callID == "" {
		return nil
	}
	if s.calls != nil {
		if c, ok := s.calls.Get(callID); ok {
			corr := c.Correlation()
			return &callInfo{
				ID: callID, PrimaryCallID: corr.PrimaryCallID, SecondaryCallID: corr.SecondaryCallID,
				CallerNumber: corr.CallerNumber, CalledNumber: corr.CalledNumber,
				Started: c.Times().Created.UTC(), Secure: c.Secure(),
			}
		}
	}
	info := &callInfo{ID: callID}
	if rec == nil && s.store != nil {
		// A payment still in memory whose call has ended (its processor
		// has not answered yet): its record has the call's ids.
		if sp, err := s.store.GetPayment(ctx, paymentID); err == nil {
			rec = &sp
		}
	}
	if rec != nil && rec.CallID == callID {
		info.PrimaryCallID = rec.PrimaryCallID
	}
	return info
}

// storedView is a stored payment as a view: state, amounts, result and
// times; the fields' progress is not stored.
func storedView(sp store.Payment) session.PaymentView {
	st := paymentState(sp.State)
	attrs := session.Attributes{Amount: sp.Amount, Currency: sp.Currency, Reference: sp.Reference}
	v := session.PaymentView{
		ID: sp.ID, CallID: sp.CallID, ConfigID: sp.ConfigurationID, State: st, Attributes: attrs,
		Fields: []session.FieldView{}, Created: sp.CreatedAt, Updated: sp.UpdatedAt,
	}
	if st.Final() || st == session.StateReconciling {
		var brand session.Brand
		_ = brand.UnmarshalText([]byte(sp.Brand))
		v.Result = &session.Result{
			State: st, ProcessorReference: sp.ProcessorReference, DeclineCode: sp.DeclineCode,
			Brand: brand, Last4: sp.Last4, Amount: sp.Amount, Currency: sp.Currency, Reference: sp.Reference,
		}
	}
	return v
}

// paymentState maps the store's state name to the session's ("unknown"
// is reconciling).
func paymentState(st store.State) session.PaymentState {
	if st == store.StateUnknown {
		return session.StateReconciling
	}
	for s := session.StateCreated; s <= session.StateReconciling; s++ {
		if s.String() == string(st) {
			return s
		}
	}
	return session.StateFailed
}
