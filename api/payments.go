package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"dtmfgw/call"
	"dtmfgw/payment"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// createRequest is the body of POST /v1/payments.
type createRequest struct {
	// CallID is our call id or either SIP Call-ID; PrimaryCallID the
	// contact centre's; AgentID the agent's. Exactly one is given.
	CallID        string `json:"call_id,omitempty"`
	PrimaryCallID string `json:"primary_call_id,omitempty"`
	AgentID       string `json:"agent_id,omitempty"`
	Configuration string `json:"configuration,omitempty"`
	Type          string `json:"type,omitempty"`
	// Intent is charge or tokenize (save the card, no amount); empty takes
	// the configuration's.
	Intent         string   `json:"intent,omitempty"`
	Prefill        *prefill `json:"prefill,omitempty"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	// Phone is where a digital payment's link is sent (E.164); empty
	// takes the caller's number.
	Phone string `json:"phone,omitempty"`
}

// prefill is a new payment's attributes.
type prefill struct {
	Amount         int64  `json:"amount,omitempty"`
	Currency       string `json:"currency,omitempty"`
	Reference      string `json:"reference,omitempty"`
	CardholderName string `json:"cardholder_name,omitempty"`
}

// patchRequest is the body of PATCH /v1/payments/{id}: any subset.
type patchRequest struct {
	Amount         *int64  `json:"amount"`
	Currency       *string `json:"currency"`
	Reference      *string `json:"reference"`
	CardholderName *string `json:"cardholder_name"`
}

// configurationRequest is the body of PUT /v1/payments/{id}/configuration.
type configurationRequest struct {
	Configuration string `json:"configuration"`
}

// createResponse answers the creation of a payment.
type createResponse struct {
	Payment          paymentView `json:"payment"`
	FormURL          string      `json:"form_url"`
	FormToken        string      `json:"form_token"`
	FormTokenExpires time.Time   `json:"form_token_expires"`
	// Link is a digital payment's link, answered while this node holds
	// its token (at its creation, a repeat of it, and a send).
	Link *payment.DigitalLink `json:"link,omitempty"`
}

// digitalRequest is the body of PUT /v1/payments/{id}/digital.
type digitalRequest struct {
	Configuration string `json:"configuration"`
	Phone         string `json:"phone"`
}

// sendRequest is the body of POST /v1/payments/{id}/link/send.
type sendRequest struct {
	Phone string `json:"phone"`
}

// Payment types: agent assist (the caller keys the card while on the call
// with the agent) and digital (a link by SMS to the hosted payment page);
// none given lets the agent's form choose when the configuration allows
// both.
const (
	typeAgentAssist = string(payment.TypeAgentAssist)
	typeDigital     = string(payment.TypeDigital)
)

// maxSelectorLen bounds a call selector (a SIP Call-ID may be long).
const maxSelectorLen = 256

// maxOtherCalls bounds the other nodes' calls one answer lists.
const maxOtherCalls = 1000

func (s *Server) postPayment(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authAPIKey(r); err != nil {
		writeError(w, err)
		return
	}
	if s.draining.Load() {
		writeError(w, errDraining)
		return
	}
	var req createRequest
	raw, err := readBody(w, r)
	if err == nil {
		r.Body = io.NopCloser(bytes.NewReader(raw))
		err = decodeBody(w, r, &req)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if err := req.normalize(r.Header.Get("Idempotency-Key")); err != nil {
		writeError(w, err)
		return
	}
	hash := req.hash()
	if req.IdempotencyKey != "" {
		// A repeat answers the first payment wherever its call is now
		// (ended, or another node's).
		if earlier, found, err := s.lookupKey(r.Context(), req.IdempotencyKey); err != nil {
			writeError(w, err)
			return
		} else if found {
			s.answerRepeat(w, r, earlier, hash)
			return
		}
	}
	var c *call.Call
	if req.Type != typeDigital || req.namesCall() {
		if c, err = s.findCall(req); errors.Is(err, errCallNotFound) {
			// Another node's call: that node makes the payment (and claims
			// its idempotency key), this one passes its answer back.
			if node := s.callNode(r.Context(), req); node != "" {
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(raw)), int64(len(raw))
				if s.handOn(w, r, node) {
					return
				}
			}
		}
		if err != nil {
			writeError(w, err)
			return
		}
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	id := store.NewID()
	if req.IdempotencyKey != "" {
		earlier, taken, err := s.claimKey(r.Context(), req.IdempotencyKey, hash, id)
		if err != nil {
			writeError(w, err)
			return
		}
		if taken {
			s.answerRepeat(w, r, earlier, hash)
			return
		}
	}
	created := false
	defer func() {
		if req.IdempotencyKey != "" && !created {
			s.releaseKey(req.IdempotencyKey, id)
		}
	}()
	attrs := payment.Attributes{Intent: payment.Intent(req.Intent)}
	if req.Prefill != nil {
		attrs = payment.Attributes{Amount: req.Prefill.Amount, Currency: req.Prefill.Currency,
			Reference: req.Prefill.Reference, CardholderName: req.Prefill.CardholderName, Intent: payment.Intent(req.Intent)}
	}
	var f payment.Ref
	switch req.Type {
	case typeDigital:
		callID := ""
		if c != nil {
			callID = c.ID()
		}
		f, _, err = s.payments.CreateDigital(r.Context(), payment.DigitalRequest{ID: id, CallID: callID,
			ConfigID: req.Configuration, Attributes: attrs, Phone: req.Phone, Actor: store.ActorAPI})
		if errors.Is(err, payment.ErrNotReady) {
			err = errAmountRequired
		}
	case typeAgentAssist:
		// What the back end prefills is fixed for the agent's form.
		f, err = s.payments.Create(c.ID(), req.Configuration, id, attrs, attrs.Given())
	default:
		f, err = s.payments.CreateChoosing(c.ID(), req.Configuration, id, attrs, attrs.Given())
	}
	if err != nil {
		writeError(w, err)
		return
	}
	created = true
	if c != nil {
		s.recordRoute(r.Context(), id, c.ID())
	}
	s.writeCreated(w, r, http.StatusCreated, f)
}

// callNode returns the other node that holds the one live call the
// request names, or "".
func (s *Server) callNode(ctx context.Context, req createRequest) string {
	if s.cluster == nil || !s.cluster.Enabled() || s.store == nil {
		return ""
	}
	cs, err := s.store.LiveCalls(ctx, store.CallFilter{ID: req.CallID, PrimaryCallID: req.PrimaryCallID, AgentID: req.AgentID}, 2)
	if err != nil || len(cs) != 1 || cs[0].NodeID == s.cluster.Self() {
		return ""
	}
	return cs[0].NodeID
}

// writeCreated answers a new (or idempotently repeated) payment with a
// fresh form token.
func (s *Server) writeCreated(w http.ResponseWriter, r *http.Request, status int, f payment.Ref) {
	v := s.view(r.Context(), f)
	exp := s.now().Add(s.cfg.FormTokenTTL).Truncate(time.Second).UTC()
	tok := mintFormToken(s.secret, v.ID, exp)
	resp := createResponse{
		Payment: v, FormURL: s.cfg.publicBase() + "/form/" + v.ID + "#token=" + tok,
		FormToken: tok, FormTokenExpires: exp,
	}
	if f.Digital() {
		if u, ok := s.payments.LinkURL(v.ID); ok {
			resp.Link = &payment.DigitalLink{URL: u, Expires: v.Link.Expires}
		}
	}
	writeJSON(w, status, resp)
}

// namesCall reports whether the request names a call.
func (req *createRequest) namesCall() bool {
	return req.CallID != "" || req.PrimaryCallID != "" || req.AgentID != ""
}

// errAmountRequired refuses a digital payment without its amount: the
// caller's page shows it.
var errAmountRequired = errorf(http.StatusBadRequest, "amount_required",
	"a digital payment needs its amount (and a currency, unless its configuration has one)")

// normalize checks the request and fills in its defaults; idemHeader is
// the Idempotency-Key header.
func (req *createRequest) normalize(idemHeader string) error {
	given := 0
	for _, v := range []string{req.CallID, req.PrimaryCallID, req.AgentID} {
		if v != "" {
			given++
		}
		if len(v) > maxSelectorLen {
			return errorf(http.StatusBadRequest, "invalid_call", "a call selector is too long")
		}
	}
	switch req.Type {
	case "", typeAgentAssist:
		if given != 1 {
			return errorf(http.StatusBadRequest, "bad_request", "give exactly one of call_id, primary_call_id and agent_id")
		}
	case typeDigital:
		if given > 1 {
			return errorf(http.StatusBadRequest, "bad_request", "give at most one of call_id, primary_call_id and agent_id")
		}
	default:
		return errorf(http.StatusBadRequest, "invalid_type", "type is agent_assist or digital")
	}
	if req.Phone != "" && req.Type != typeDigital {
		return errorf(http.StatusBadRequest, "bad_request", "phone is for a digital payment")
	}
	switch req.Intent {
	case "", string(payment.IntentCharge):
	case string(payment.IntentTokenize):
		if req.Type == typeDigital {
			return errorf(http.StatusBadRequest, "invalid_intent", "a digital payment charges: tokenize is for agent_assist")
		}
		if req.Prefill != nil && req.Prefill.Amount != 0 {
			return errorf(http.StatusBadRequest, "invalid_intent", "a card saved (intent tokenize) has no amount")
		}
	default:
		return errorf(http.StatusBadRequest, "invalid_intent", "intent is charge or tokenize")
	}
	if len(req.Configuration) > maxSelectorLen {
		return errConfigNotFound
	}
	switch {
	case idemHeader != "" && req.IdempotencyKey != "" && idemHeader != req.IdempotencyKey:
		return errorf(http.StatusBadRequest, "invalid_idempotency_key", "the Idempotency-Key header and idempotency_key differ")
	case idemHeader != "":
		req.IdempotencyKey = idemHeader
	}
	if payment.HoldsCardNumber(req.IdempotencyKey) {
		return cardNumberIn("idempotency_key")
	}
	if len(req.IdempotencyKey) > MaxIdempotencyKeyLen || !printableASCII(req.IdempotencyKey) {
		return errorf(http.StatusBadRequest, "invalid_idempotency_key", "an idempotency key is at most 200 printable ASCII characters")
	}
	if req.Prefill != nil {
		return checkAttributes(req.Prefill.Amount, req.Prefill.Currency, req.Prefill.Reference, req.Prefill.CardholderName)
	}
	return nil
}

// hash is the request's fingerprint for idempotency: its meaning, not its
// bytes (field order and spacing do not matter), without the key.
func (req createRequest) hash() [sha256.Size]byte {
	req.IdempotencyKey = ""
	b, _ := json.Marshal(req)
	return sha256.Sum256(b)
}

// checkAttributes checks a payment's attributes field by field, so the
// error names the field (package payment checks them again).
func checkAttributes(amount int64, currency, reference, name string) error {
	switch {
	case payment.HoldsCardNumber(reference):
		return cardNumberIn("reference")
	case payment.HoldsCardNumber(name):
		return cardNumberIn("cardholder_name")
	case amount < 0 || amount > payment.MaxAmount:
		return errorf(http.StatusBadRequest, "invalid_amount", "amount is in minor units, 0 to 99999999")
	case currency != "" && !payment.ValidCurrency(currency):
		return errorf(http.StatusBadRequest, "invalid_currency", "currency is an ISO 4217 code: three capital letters")
	case len(reference) > processor.MaxTextLen || !printableText(reference):
		return errorf(http.StatusBadRequest, "invalid_reference", "reference is at most 200 bytes without control characters")
	case len(name) > processor.MaxTextLen || !printableText(name):
		return errorf(http.StatusBadRequest, "invalid_cardholder_name", "cardholder_name is at most 200 bytes without control characters")
	}
	return nil
}

// cardNumberIn refuses free text that holds a card number, naming the
// field and never repeating the value.
func cardNumberIn(field string) error {
	return errorf(http.StatusBadRequest, "card_number_in_text",
		field+" holds what looks like a card number: card numbers are keyed by the caller, never typed into text")
}

func printableText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// findCall returns the one live call the request names.
func (s *Server) findCall(req createRequest) (*call.Call, error) {
	var calls []*call.Call
	switch {
	case req.CallID != "":
		calls = s.listCalls(call.ListFilter{}, req.CallID)
	case req.PrimaryCallID != "":
		calls = s.listCalls(call.ListFilter{PrimaryCallID: req.PrimaryCallID}, "")
	default:
		calls = s.listCalls(call.ListFilter{AgentID: req.AgentID}, "")
	}
	switch len(calls) {
	case 0:
		return nil, errCallNotFound
	case 1:
		return calls[0], nil
	}
	return nil, errorf(http.StatusConflict, "ambiguous_call", "more than one live call matches: name the call by call_id")
}

// paymentFor authorises a request on the payment {id} and finds it.
// write says the request changes something (refused while draining).
func (s *Server) paymentFor(w http.ResponseWriter, r *http.Request, write bool) (payment.Ref, principal, bool) {
	id := r.PathValue("id")
	who, err := s.authPayment(r, id, false)
	if err != nil {
		writeError(w, err)
		return payment.Ref{}, principal{}, false
	}
	f, err := s.payments.Find(r.Context(), id)
	if (err != nil || (f.Live() == nil && !f.Waiting())) && s.handOn(w, r, s.routeTo(r.Context(), id)) {
		// Its call is another node's: that node answered.
		return payment.Ref{}, principal{}, false
	}
	if write && s.draining.Load() {
		writeError(w, errDraining)
		return payment.Ref{}, principal{}, false
	}
	if err != nil {
		writeError(w, err)
		return payment.Ref{}, principal{}, false
	}
	return f, who, true
}

// changeFor is paymentFor for a request that changes the payment: it is
// refused while draining, and its body is decoded into body (nil: the body
// must be empty or {}).
func (s *Server) changeFor(w http.ResponseWriter, r *http.Request, body any) (payment.Ref, principal, bool) {
	f, who, ok := s.paymentFor(w, r, true)
	if !ok {
		return payment.Ref{}, principal{}, false
	}
	if err := decodeBody(w, r, body); err != nil {
		writeError(w, err)
		return payment.Ref{}, principal{}, false
	}
	return f, who, true
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	f, _, ok := s.paymentFor(w, r, false)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), f))
}

func (s *Server) patchPayment(w http.ResponseWriter, r *http.Request) {
	var req patchRequest
	f, who, ok := s.changeFor(w, r, &req)
	if !ok {
		return
	}
	if err := req.check(); err != nil {
		writeError(w, err)
		return
	}
	ch := payment.AttributesPatch{Amount: req.Amount, Currency: req.Currency, Reference: req.Reference, CardholderName: req.CardholderName}
	// The form token is the agent's: it may not change what the back end
	// set, unless the configuration says so (package payment decides).
	editor := payment.EditorAgent
	if who.apiKey {
		editor = payment.EditorBackEnd
	}
	if err := f.PatchAttributes(editor, ch); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), f))
}

// check checks the values the request gives, field by field, so that the
// error names the field.
func (req patchRequest) check() error {
	var amount int64
	var currency, reference, name string
	if req.Amount != nil {
		amount = *req.Amount
	}
	if req.Currency != nil {
		currency = *req.Currency
	}
	if req.Reference != nil {
		reference = *req.Reference
	}
	if req.CardholderName != nil {
		name = *req.CardholderName
	}
	return checkAttributes(amount, currency, reference, name)
}

func (s *Server) putConfiguration(w http.ResponseWriter, r *http.Request) {
	var req configurationRequest
	f, _, ok := s.changeFor(w, r, &req)
	if !ok {
		return
	}
	live, err := f.Choose(req.Configuration)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), live))
}

// change authorises a change to the payment {id} (refused while
// draining; the body, if any, must be empty or {}), applies op and answers
// the payment as it is then.
func (s *Server) change(w http.ResponseWriter, r *http.Request, op func(f *payment.Ref) error) {
	f, _, ok := s.changeFor(w, r, nil)
	if !ok {
		return
	}
	if err := op(&f); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), f))
}

func (s *Server) postArm(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, func(f *payment.Ref) error { return f.Arm(r.PathValue("field")) })
}

func (s *Server) postClear(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, func(f *payment.Ref) error { return f.Clear(r.PathValue("field")) })
}

func (s *Server) postEnd(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, (*payment.Ref).End)
}

func (s *Server) postProcess(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, func(f *payment.Ref) error {
		// Process waits for the processor (bounded by the processor
		// timeout) and is not cancelled by the client going away.
		_, err := f.Process(r.Context())
		switch {
		case err == nil, errors.Is(err, payment.ErrStillUnknown):
		case errors.Is(err, payment.ErrNotRecorded) && f.Live().State() == payment.StateReady:
			s.log.Warn("payment not processed: not recorded", "payment", f.ID(), "err", err)
			return err
		case errors.Is(err, payment.ErrNotRecorded):
			// The result is known and kept in memory; the store will get it.
			s.log.Warn("payment result not recorded yet", "payment", f.ID(), "err", err)
		default:
			return err
		}
		return nil
	})
}

// postAnother starts the next payment on the call of a finished one, with
// its configuration and its prefill but the amount ("take another payment"
// in the form, whose token is the finished payment's).
func (s *Server) postAnother(w http.ResponseWriter, r *http.Request) {
	f, _, ok := s.changeFor(w, r, nil)
	if !ok {
		return
	}
	nf, err := f.Another(store.NewID())
	if err != nil {
		writeError(w, err)
		return
	}
	s.recordRoute(r.Context(), nf.ID(), nf.View().CallID)
	s.writeCreated(w, r, http.StatusCreated, nf)
}
