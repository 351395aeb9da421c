package api

import (
	"errors"
	"net/http"

	"dtmfgw/payment"
	"dtmfgw/sms"
)

// The digital payment's commands: choosing it for a waiting payment,
// sending its link, and the embedded SMS outbox.

// putDigital makes a payment waiting for its type a digital one and
// answers it with its link (the agent's form: "Next").
func (s *Server) putDigital(w http.ResponseWriter, r *http.Request) {
	var req digitalRequest
	f, who, ok := s.changeFor(w, r, &req)
	if !ok {
		return
	}
	if len(req.Configuration) > maxSelectorLen {
		writeError(w, errConfigNotFound)
		return
	}
	nf, _, err := f.ChooseDigital(r.Context(), req.Configuration, req.Phone, who.actor())
	if errors.Is(err, payment.ErrNotReady) {
		err = errAmountRequired
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeCreated(w, r, http.StatusOK, nf)
}

// postSendLink sends a digital payment's link by SMS, to the number given
// or the one it has.
func (s *Server) postSendLink(w http.ResponseWriter, r *http.Request) {
	var req sendRequest
	f, who, ok := s.paymentFor(w, r, true)
	if !ok {
		return
	}
	// The body is optional: without one, the link goes to the number it
	// has.
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	if !f.Digital() {
		writeError(w, payment.ErrNotDigital)
		return
	}
	nf, err := s.payments.SendLink(r.Context(), f.ID(), req.Phone, who.actor())
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeCreated(w, r, http.StatusOK, nf)
}

// getOutbox lists the SMS the embedded outbox holds, newest last: with the
// links they carry, for a developer (or the demo) to open instead of a
// phone. API key only; 404 when another SMS provider is configured.
func (s *Server) getOutbox(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authAPIKey(r); err != nil {
		writeError(w, err)
		return
	}
	if s.outbox == nil {
		writeError(w, errorf(http.StatusNotFound, "sms_outbox_off", "the SMS provider is not the embedded outbox (sms.provider)"))
		return
	}
	msgs := s.outbox()
	if msgs == nil {
		msgs = []sms.OutboxMessage{}
	}
	writeJSON(w, http.StatusOK, struct {
		Messages []sms.OutboxMessage `json:"messages"`
	}{msgs})
}
