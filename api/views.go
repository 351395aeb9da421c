package api

import (
	"context"
	"time"

	"dtmfgw/call"
	"dtmfgw/payment"
	"dtmfgw/store"
)

// paymentView is a payment as the API answers it (PaymentView+ in the
// contract): the payment domain's view, which holds no digit, with the call it is
// taken on, the form session's id, and the configurations to choose from
// while none is chosen.
type paymentView struct {
	payment.View
	Call           *callInfo        `json:"call,omitempty"`
	WebSessionID   string           `json:"web_session_id"`
	Configurations []payment.Config `json:"configurations,omitempty"`
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
	ID             string         `json:"id"`
	InboundCallID  string         `json:"inbound_call_id"`
	OutboundCallID string         `json:"outbound_call_id"`
	PrimaryCallID  string         `json:"primary_call_id"`
	AgentID        string         `json:"agent_id"`
	CallerNumber   string         `json:"caller_number"`
	CalledNumber   string         `json:"called_number"`
	Direction      call.Direction `json:"direction"`
	Secure         bool           `json:"secure"`
	Started        time.Time      `json:"started"`
	Answered       time.Time      `json:"answered,omitzero"`
	PaymentID      string         `json:"payment_id,omitempty"`
	// Node is the node that holds the call, when it is another (several
	// nodes): its other fields are known there.
	Node string `json:"node,omitempty"`
}

// view builds the answer for a payment: the domain's view, with the call
// it is taken on and, while it waits for one, the configurations to
// choose from.
func (s *Server) view(ctx context.Context, ref payment.Ref) paymentView {
	v := paymentView{View: ref.View()}
	if ref.Waiting() {
		v.Configurations = s.payments.Configs()
	}
	v.Created, v.Updated, v.Deadline = v.Created.UTC(), v.Updated.UTC(), v.Deadline.UTC()
	v.WebSessionID = v.ID
	v.Call = s.callInfo(ctx, v.CallID, v.ID, ref.Stored())
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
