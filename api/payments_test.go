package api

import (
	"net/http"
	"strings"
	"testing"

	"dtmfgw/call"
	"dtmfgw/payment"
)

// A payment's life over HTTP: armed, typed, a field cleared and typed
// again, processed; and after its call has ended, still readable.
func TestPaymentLife(t *testing.T) {
	for _, c := range []struct {
		name, card, state, decline, brand, last4 string
	}{
		{"approved", "4242424242424242", "approved", "", "visa", "4242"},
		{"declined", "4000000000000002", "declined", "do_not_honor", "visa", "0002"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, envOptions{})
			theCall := e.newCall(call.Correlation{AgentID: "agent-7", PrimaryCallID: "pc-1", CallerNumber: "447700900123"})
			cr := e.create(theCall, "")
			id, tok := cr.Payment.ID, cr.FormToken
			if cr.Payment.State != "created" || cr.Payment.ConfigID != "card" || cr.Payment.WebSessionID != id || cr.Payment.Call == nil || cr.Payment.Call.PrimaryCallID != "pc-1" {
				t.Fatalf("created %+v", cr.Payment)
			}
			if !strings.HasPrefix(cr.FormURL, "https://pay.example.com/form/"+id+"#token=") || tok == "" {
				t.Errorf("form url %q", cr.FormURL)
			}
			var v viewJSON
			// The form (with its token) arms the card number; the caller types.
			e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/fields/card_number/arm", tok, "", &v)
			if v.State != "collecting" || !v.Fields[v.field("card_number")].Armed {
				t.Fatalf("after arm %+v", v)
			}
			e.press(theCall, c.card+"1230"+"123")
			e.must(http.StatusOK, "GET", "/v1/payments/"+id, tok, "", &v)
			pan := v.Fields[v.field("card_number")]
			if v.State != "ready" || pan.Length != 16 || !pan.Complete || !pan.Valid || pan.Brand != c.brand || pan.MaskedPAN != "•••• "+c.last4 {
				t.Fatalf("after typing %+v", v)
			}
			// Clear the security code, type it again.
			e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/fields/security_code/clear", tok, "{}", &v)
			if sc := v.Fields[v.field("security_code")]; v.State != "collecting" || sc.Length != 0 || !sc.Armed {
				t.Fatalf("after clear %+v", v)
			}
			e.press(theCall, "321")
			e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/process", tok, "", &v)
			if v.State != c.state || v.Result == nil || v.Result.State != c.state || v.Result.DeclineCode != c.decline || v.Result.Last4 != c.last4 || v.Result.Amount != 1999 {
				t.Fatalf("after process %+v %+v", v, v.Result)
			}
			// Processing twice is refused.
			code, b, _ := e.req("POST", "/v1/payments/"+id+"/process", tok, "")
			if code != http.StatusConflict || errorCode(t, b) != "invalid_state" {
				t.Errorf("second process: %d %s", code, b)
			}
			e.endCall(theCall)
			if e.ps.Payment(id) != nil {
				t.Fatal("the payment is still in memory")
			}
			e.must(http.StatusOK, "GET", "/v1/payments/"+id, testKey, "", &v)
			if v.State != c.state || v.Result == nil || v.Result.Brand != c.brand || v.Result.Last4 != c.last4 || v.Result.DeclineCode != c.decline || v.Call == nil || v.Call.PrimaryCallID != "pc-1" {
				t.Fatalf("from the store %+v", v)
			}
			// The form token still reads it; nothing changes it.
			e.must(http.StatusOK, "GET", "/v1/payments/"+id, tok, "", nil)
			code, b, _ = e.req("POST", "/v1/payments/"+id+"/end", tok, "")
			if code != http.StatusConflict || errorCode(t, b) != "invalid_state" {
				t.Errorf("end after the call: %d %s", code, b)
			}
		})
	}
}

func TestPaymentEndAndAnother(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{AgentID: "agent-7"})
	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	// Another payment while this one is open: refused.
	code, b, _ := e.req("POST", "/v1/payments", testKey, `{"agent_id":"agent-7"}`)
	if code != http.StatusConflict || errorCode(t, b) != "payment_active" {
		t.Fatalf("second payment: %d %s", code, b)
	}
	code, b, _ = e.req("POST", "/v1/payments/"+id+"/another", tok, "")
	if code != http.StatusConflict || errorCode(t, b) != "invalid_state" {
		t.Fatalf("another before the end: %d %s", code, b)
	}
	var v viewJSON
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, testKey, `{"amount":2500,"currency":"EUR"}`, &v)
	if v.Attributes.Amount != 2500 || v.Attributes.Currency != "EUR" {
		t.Errorf("patched %+v", v.Attributes)
	}
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/end", tok, "", &v)
	if v.State != "cancelled" || v.Reason != payment.ReasonAgentEnded {
		t.Fatalf("ended %+v", v)
	}
	var next created
	e.must(http.StatusCreated, "POST", "/v1/payments/"+id+"/another", tok, "", &next)
	if next.Payment.ID == id || next.Payment.State != "created" || next.Payment.Attributes.Amount != 0 || next.Payment.Attributes.Currency != "EUR" || next.FormToken == tok {
		t.Fatalf("another %+v", next)
	}
	// The old token does not reach the new payment.
	code, b, _ = e.req("GET", "/v1/payments/"+next.Payment.ID, tok, "")
	if code != http.StatusNotFound || errorCode(t, b) != "payment_not_found" {
		t.Errorf("old token on the new payment: %d %s", code, b)
	}
	var calls struct {
		Calls []struct {
			ID        string `json:"id"`
			PaymentID string `json:"payment_id"`
		} `json:"calls"`
	}
	e.must(http.StatusOK, "GET", "/v1/calls?agent_id=agent-7", testKey, "", &calls)
	if len(calls.Calls) != 1 || calls.Calls[0].PaymentID != next.Payment.ID {
		t.Errorf("calls %+v", calls)
	}
}

func TestFormCallInfoHoldsNoSIPCallID(t *testing.T) {
	// The form shows the contact centre's ids and numbers. A SIP Call-ID
	// (with the tags) is what an outsider needs to try the call's
	// dialogs, and the form has no use for one: neither leg's is shown.
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{
		InboundCallID: "in-9@carrier.example", OutboundCallID: "out-9@gw.example",
		PrimaryCallID: "pc-9", SecondaryCallID: "sc-9", CallerNumber: "447700900123",
	})
	cr := e.create(c, "")
	status, body, _ := e.req("GET", "/v1/payments/"+cr.Payment.ID, cr.FormToken, "")
	if status != http.StatusOK {
		t.Fatalf("GET with the form token: %d %s", status, body)
	}
	for _, want := range []string{`"primary_call_id":"pc-9"`, `"secondary_call_id":"sc-9"`, `"caller_number":"447700900123"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the form's view lacks %s: %s", want, body)
		}
	}
	for _, sipID := range []string{"in-9@carrier.example", "out-9@gw.example"} {
		if strings.Contains(string(body), sipID) {
			t.Errorf("the form's view shows the SIP Call-ID %s: %s", sipID, body)
		}
	}
}
