package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"dtmfgw/call"
	"dtmfgw/payment"
)

// reachView is what a reach test reads of a payment.
type reachView struct {
	Attributes    payment.Attributes `json:"attributes"`
	AgentEditable []string           `json:"agent_editable"`
}

func (e *testEnv) attrs(id string) reachView {
	e.t.Helper()
	var v reachView
	e.must(http.StatusOK, "GET", "/v1/payments/"+id, testKey, "", &v)
	return v
}

// TestFormTokenCannotChangeWhatTheAPISet: the form token may fill in what
// the back end left empty, but a change of what the back end set is
// refused with 403 field_not_editable and changes nothing; the API key
// may change it, and a value it withdraws is the agent's again; the view
// says which attributes the form may change.
func TestFormTokenCannotChangeWhatTheAPISet(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{AgentID: "agent-r"})
	var cr created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey,
		`{"call_id":"`+c.ID()+`","prefill":{"amount":1999,"currency":"EUR","reference":"order-7"}}`, &cr)
	id, tok := cr.Payment.ID, cr.FormToken
	before := e.attrs(id)
	if want := []string{"cardholder_name"}; !slices.Equal(before.AgentEditable, want) {
		t.Fatalf("agent_editable %v, want %v", before.AgentEditable, want)
	}
	for _, body := range []string{
		`{"amount":1}`,
		`{"currency":"GBP"}`,
		`{"reference":"mine"}`,
		`{"reference":""}`,
		`{"cardholder_name":"A Person","amount":2}`, // one refused: nothing changes
	} {
		code, b, _ := e.req("PATCH", "/v1/payments/"+id, tok, body)
		if code != http.StatusForbidden || errorCode(t, b) != "field_not_editable" {
			t.Errorf("form token %s: %d %s", body, code, b)
		}
		if got := e.attrs(id); got.Attributes != before.Attributes {
			t.Fatalf("a refused PATCH %s changed the payment: %+v", body, got.Attributes)
		}
		got := e.ps.Payment(id).Attributes()
		got.Intent = "" // not an attribute the API shows among them (the view's intent)
		if got != before.Attributes {
			t.Fatalf("a refused PATCH %s changed the domain's payment: %+v", body, got)
		}
	}
	// What it shows, sent back unchanged, and the empty name: accepted.
	var v reachView
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, tok, `{"amount":1999,"reference":"order-7","cardholder_name":"A Person"}`, &v)
	if v.Attributes.CardholderName != "A Person" || v.Attributes.Amount != 1999 {
		t.Errorf("form token's name: %+v", v.Attributes)
	}
	// The back end changes its amount, and withdraws its reference.
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, testKey, `{"amount":2500,"reference":""}`, &v)
	if want := []string{"reference", "cardholder_name"}; !slices.Equal(v.AgentEditable, want) {
		t.Errorf("after the back end's change agent_editable %v, want %v", v.AgentEditable, want)
	}
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, tok, `{"reference":"agent-ref"}`, &v)
	if code, b, _ := e.req("PATCH", "/v1/payments/"+id, tok, `{"amount":1}`); code != http.StatusForbidden {
		t.Errorf("the back end's new amount, by the form token: %d %s", code, b)
	}
	if a := e.attrs(id).Attributes; a.Amount != 2500 || a.Reference != "agent-ref" || a.Currency != "EUR" {
		t.Errorf("attributes %+v", a)
	}
	// The payment that follows: no amount, the agent's to enter; the back
	// end's currency still fixed.
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/end", tok, "", nil)
	var next created
	e.must(http.StatusCreated, "POST", "/v1/payments/"+id+"/another", tok, "", &next)
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+next.Payment.ID, next.FormToken, `{"amount":300}`, nil)
	if code, b, _ := e.req("PATCH", "/v1/payments/"+next.Payment.ID, next.FormToken, `{"currency":"GBP"}`); code != http.StatusForbidden || errorCode(t, b) != "field_not_editable" {
		t.Errorf("the back end's currency in the next payment: %d %s", code, b)
	}
}

// TestAgentEditableConfiguration: a configuration that lists amount in
// agent_editable lets the form token change the back end's amount, and
// nothing else it set.
func TestAgentEditableConfiguration(t *testing.T) {
	cfg := payment.DefaultConfigs()[0]
	cfg.AgentEditable = []payment.Attribute{payment.AttrAmount}
	e := newTestEnv(t, envOptions{configs: []payment.Config{cfg}})
	theCall := e.newCall(call.Correlation{AgentID: "agent-e"})
	cr := e.create(theCall, "")
	id, tok := cr.Payment.ID, cr.FormToken
	var v reachView
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, tok, `{"amount":5}`, &v)
	if v.Attributes.Amount != 5 {
		t.Errorf("amount %d", v.Attributes.Amount)
	}
	if want := []string{"amount", "currency", "cardholder_name"}; !slices.Equal(v.AgentEditable, want) {
		t.Errorf("agent_editable %v, want %v", v.AgentEditable, want)
	}
	if code, b, _ := e.req("PATCH", "/v1/payments/"+id, tok, `{"reference":"x"}`); code != http.StatusForbidden || errorCode(t, b) != "field_not_editable" {
		t.Errorf("reference: %d %s", code, b)
	}
	var cfgs struct {
		Configurations []json.RawMessage `json:"configurations"`
	}
	e.must(http.StatusOK, "GET", "/v1/configurations", testKey, "", &cfgs)
	var c struct {
		AgentEditable []string `json:"agent_editable"`
	}
	mustDecode(t, cfgs.Configurations[0], &c)
	if !slices.Equal(c.AgentEditable, []string{"amount"}) {
		t.Errorf("configuration's agent_editable %v", c.AgentEditable)
	}
}

// TestFormMadePaymentIsTheAgents: a payment the back end created with no
// prefill lets the form token enter every attribute and change it again.
func TestFormMadePaymentIsTheAgents(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{AgentID: "agent-f"})
	var cr created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"call_id":"`+c.ID()+`"}`, &cr)
	id, tok := cr.Payment.ID, cr.FormToken
	for _, body := range []string{
		`{"amount":100,"currency":"EUR","reference":"r1","cardholder_name":"N"}`,
		`{"amount":200,"currency":"USD","reference":"r2","cardholder_name":"M"}`,
	} {
		e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, tok, body, nil)
	}
	if a := e.attrs(id).Attributes; a != (payment.Attributes{Amount: 200, Currency: "USD", Reference: "r2", CardholderName: "M"}) {
		t.Errorf("attributes %+v", a)
	}
}
