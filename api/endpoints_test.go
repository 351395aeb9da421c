package api

import (
	"strings"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/payment"
)

// endpoint is one route as the table tests call it.
type endpoint struct {
	method, path string
	body         string // a valid body ("" for none)
	payment      bool   // a form token of the payment may call it
	apiKeyOnly   bool
	public       bool
}

func endpoints(id string) []endpoint {
	return []endpoint{
		{method: "GET", path: "/v1/openapi.json", public: true},
		{method: "GET", path: "/v1/configurations", apiKeyOnly: true},
		{method: "GET", path: "/v1/calls", apiKeyOnly: true},
		{method: "POST", path: "/v1/payments", body: `{"agent_id":"nobody"}`, apiKeyOnly: true},
		{method: "GET", path: "/v1/payments/" + id, payment: true},
		{method: "PATCH", path: "/v1/payments/" + id, body: `{"amount":100}`, payment: true},
		{method: "PUT", path: "/v1/payments/" + id + "/configuration", body: `{"configuration":"card"}`, payment: true},
		{method: "POST", path: "/v1/payments/" + id + "/fields/card_number/arm", payment: true},
		{method: "POST", path: "/v1/payments/" + id + "/fields/card_number/clear", payment: true},
		{method: "POST", path: "/v1/payments/" + id + "/process", payment: true},
		{method: "POST", path: "/v1/payments/" + id + "/end", payment: true},
		{method: "POST", path: "/v1/payments/" + id + "/another", payment: true},
		{method: "GET", path: "/v1/payments/" + id + "/events", payment: true},
	}
}

func TestEndpointAuth(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	mine := e.create(e.newCall(call.Correlation{}), "")
	other := e.create(e.newCall(call.Correlation{}), "")
	id := mine.Payment.ID
	for _, ep := range endpoints(id) {
		if ep.public {
			continue
		}
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			cases := []struct {
				name, auth string
				status     int
				code       string
			}{
				{"no key", "", 401, "unauthorized"},
				{"wrong key", "test-key-0123456789abcdeX", 401, "unauthorized"},
				{"garbage", "not.a~token", 401, "unauthorized"},
			}
			if ep.payment {
				cases = append(cases, struct {
					name, auth string
					status     int
					code       string
				}{"another payment's token", other.FormToken, 404, "payment_not_found"})
			} else {
				cases = append(cases, struct {
					name, auth string
					status     int
					code       string
				}{"form token", mine.FormToken, 401, "unauthorized"})
			}
			for _, c := range cases {
				code, b, _ := e.req(ep.method, ep.path, c.auth, ep.body)
				if code != c.status || errorCode(t, b) != c.code {
					t.Errorf("%s: %d %s, want %d %s", c.name, code, b, c.status, c.code)
				}
			}
		})
	}
	// Expired: the clock moves past the token's life.
	e.clock.Advance(DefaultFormTokenTTL + time.Second)
	for _, ep := range endpoints(id) {
		if !ep.payment {
			continue
		}
		code, b, _ := e.req(ep.method, ep.path, mine.FormToken, ep.body)
		if code != 401 || errorCode(t, b) != "token_expired" {
			t.Errorf("%s %s expired: %d %s", ep.method, ep.path, code, b)
		}
	}
	// The token on the query string is for the event stream only.
	code, b, _ := e.req("GET", "/v1/payments/"+id+"?access_token="+mine.FormToken, "", "")
	if code != 401 {
		t.Errorf("query token on GET payment: %d %s", code, b)
	}
}

func TestNoAPIKeyConfigured(t *testing.T) {
	e := newTestEnv(t, envOptions{edit: func(c *Config) { c.APIKeys = nil }})
	for _, p := range []string{"/v1/configurations", "/v1/calls", "/v1/payments/pay_x"} {
		code, b, _ := e.req("GET", p, testKey, "")
		if code != 401 || errorCode(t, b) != "no_api_key_configured" {
			t.Errorf("%s: %d %s", p, code, b)
		}
	}
	e.must(200, "GET", "/v1/openapi.json", "", "", nil)
}

func TestMalformedRequests(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	theCall := e.newCall(call.Correlation{AgentID: "a1"})
	id := e.create(theCall, "").Payment.ID
	big := `{"agent_id":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	for _, ep := range endpoints(id) {
		if ep.method == "GET" {
			continue
		}
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			for _, c := range []struct {
				name, body, ctype string
				status            int
				code              string
			}{
				{"malformed", `{"amount":`, "", 400, "invalid_json"},
				{"not an object", `[1,2]`, "", 400, "invalid_json"},
				{"unknown field", `{"colour":"red"}`, "", 400, "unknown_field"},
				{"trailing data", `{} {}`, "", 400, "invalid_json"},
				{"oversize", big, "", 413, "body_too_large"},
				{"wrong content type", `{}`, "text/plain", 415, "unsupported_media_type"},
				{"form content type", `a=b`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
			} {
				hdr := []string{}
				if c.ctype != "" {
					hdr = []string{"Content-Type", c.ctype}
				}
				code, b, _ := e.req(ep.method, ep.path, testKey, c.body, hdr...)
				if code != c.status || errorCode(t, b) != c.code {
					t.Errorf("%s: %d %s, want %d %s", c.name, code, b, c.status, c.code)
				}
			}
		})
	}
	// Wrong methods: a JSON 405 naming the allowed ones.
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/payments/" + id, "GET"},
		{"POST", "/v1/configurations", "GET"},
		{"GET", "/v1/payments/" + id + "/process", "POST"},
		{"PUT", "/v1/payments", "POST"},
		{"POST", "/v1/openapi.json", "GET"},
	} {
		code, b, h := e.req(c.method, c.path, testKey, "")
		if code != 405 || errorCode(t, b) != "method_not_allowed" || !strings.Contains(h.Get("Allow"), c.allow) {
			t.Errorf("%s %s: %d %s Allow %q", c.method, c.path, code, b, h.Get("Allow"))
		}
	}
	code, b, _ := e.req("GET", "/v1/nothing", testKey, "")
	if code != 404 || errorCode(t, b) != "not_found" {
		t.Errorf("unknown path: %d %s", code, b)
	}
	// Bad values: 4xx with a code naming the field.
	for _, c := range []struct {
		body   string
		status int
		code   string
	}{
		{`{}`, 400, "bad_request"},
		{`{"agent_id":"a1","call_id":"x"}`, 400, "bad_request"},
		{`{"agent_id":"a1","call_id":"x","type":"digital"}`, 400, "bad_request"},
		{`{"agent_id":"a1","type":"fax"}`, 400, "invalid_type"},
		{`{"agent_id":"a1","prefill":{"amount":-1}}`, 400, "invalid_amount"},
		{`{"agent_id":"a1","prefill":{"amount":"ten"}}`, 400, "invalid_amount"},
		{`{"agent_id":"a1","prefill":{"currency":"gbp"}}`, 400, "invalid_currency"},
		{`{"agent_id":"a1","prefill":{"reference":"a\u0000b"}}`, 400, "invalid_reference"},
		{`{"agent_id":"a1","configuration":"nope"}`, 404, "configuration_not_found"},
		{`{"agent_id":"nobody"}`, 404, "call_not_found"},
		{`{"call_id":"nope"}`, 404, "call_not_found"},
		{`{"agent_id":"a1","idempotency_key":"a b"}`, 400, "invalid_idempotency_key"},
	} {
		code, b, _ := e.req("POST", "/v1/payments", testKey, c.body)
		if code != c.status || errorCode(t, b) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.body, code, b, c.status, c.code)
		}
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/payments/" + id + "/fields/nope/arm", "", 404, "not_found"},
		{"POST", "/v1/payments/" + id + "/process", "", 422, "not_ready"},
		{"PATCH", "/v1/payments/" + id, `{"currency":"pounds"}`, 400, "invalid_currency"},
		{"PUT", "/v1/payments/" + id + "/configuration", `{"configuration":"card"}`, 409, "invalid_state"},
		{"PUT", "/v1/payments/" + id + "/configuration", `{"configuration":"nope"}`, 404, "configuration_not_found"},
		{"GET", "/v1/payments/pay_nothere", "", 404, "payment_not_found"},
		{"GET", "/v1/payments/" + id + "/events?last_event_id=x", "", 400, "invalid_last_event_id"},
	} {
		code, b, _ := e.req(c.method, c.path, testKey, c.body)
		if code != c.status || errorCode(t, b) != c.code {
			t.Errorf("%s %s %s: %d %s, want %d %s", c.method, c.path, c.body, code, b, c.status, c.code)
		}
	}
	// Nothing above was a 500.
	for _, x := range e.exchanges {
		if x.status >= 500 {
			t.Errorf("%s %s: %d", x.method, x.path, x.status)
		}
	}
}

func TestCreateSelectorsAndIdempotency(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	a := e.newCall(call.Correlation{InboundCallID: "in-a@x", AgentID: "agent-1", PrimaryCallID: "p-1"})
	e.newCall(call.Correlation{InboundCallID: "in-b@x", AgentID: "agent-2", PrimaryCallID: "p-2"})
	e.newCall(call.Correlation{InboundCallID: "in-c@x", AgentID: "agent-2", PrimaryCallID: "p-3"})
	code, b, _ := e.req("POST", "/v1/payments", testKey, `{"agent_id":"agent-2"}`)
	if code != 409 || errorCode(t, b) != "ambiguous_call" {
		t.Errorf("two calls: %d %s", code, b)
	}
	body := `{"call_id":"in-a@x","prefill":{"amount":500}}`
	var first, again created
	code, b, _ = e.req("POST", "/v1/payments", testKey, body, "Idempotency-Key", "k-1")
	if code != 201 {
		t.Fatalf("first: %d %s", code, b)
	}
	mustDecode(t, b, &first)
	if first.Payment.CallID != a.ID() {
		t.Errorf("call %q, want %q", first.Payment.CallID, a.ID())
	}
	// The same request again (the key in the body this time, fields
	// reordered): the same payment, a 200.
	e.must(200, "POST", "/v1/payments", testKey, `{"idempotency_key":"k-1","prefill":{"amount":500},"call_id":"in-a@x"}`, &again)
	if again.Payment.ID != first.Payment.ID {
		t.Errorf("again %q, first %q", again.Payment.ID, first.Payment.ID)
	}
	code, b, _ = e.req("POST", "/v1/payments", testKey, `{"call_id":"in-a@x","prefill":{"amount":501}}`, "Idempotency-Key", "k-1")
	if code != 409 || errorCode(t, b) != "idempotency_conflict" {
		t.Errorf("other body: %d %s", code, b)
	}
	e.must(201, "POST", "/v1/payments", testKey, `{"primary_call_id":"p-2"}`, nil)
	type listed struct {
		Calls []struct {
			InboundCallID string `json:"inbound_call_id"`
			PaymentID     string `json:"payment_id"`
		} `json:"calls"`
	}
	var list listed
	e.must(200, "GET", "/v1/calls?call_id="+a.ID(), testKey, "", &list)
	if len(list.Calls) != 1 || list.Calls[0].PaymentID != first.Payment.ID || list.Calls[0].InboundCallID != "in-a@x" {
		t.Errorf("by our id: %+v", list)
	}
	list = listed{}
	e.must(200, "GET", "/v1/calls?agent_id=agent-2", testKey, "", &list)
	if len(list.Calls) != 2 {
		t.Errorf("by agent: %+v", list)
	}
	list = listed{}
	e.must(200, "GET", "/v1/calls?primary_call_id=p-3&agent_id=agent-2", testKey, "", &list)
	if len(list.Calls) != 1 || list.Calls[0].PaymentID != "" {
		t.Errorf("by primary: %+v", list)
	}
}

// With several configurations and none named, the payment waits for the
// form's choice.
func TestPendingConfiguration(t *testing.T) {
	card := payment.DefaultConfigs()[0]
	card.Currency = "GBP"
	amex := card
	amex.ID, amex.Name, amex.AcceptedBrands = "amex", "Amex only", []payment.Brand{payment.BrandAmex}
	e := newTestEnv(t, envOptions{configs: []payment.Config{card, amex}})
	c := e.newCall(call.Correlation{})
	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	if cr.Payment.State != "created" || cr.Payment.ConfigID != "" || len(cr.Payment.Configurations) != 2 {
		t.Fatalf("pending %+v", cr.Payment)
	}
	code, b, _ := e.req("POST", "/v1/payments/"+id+"/fields/card_number/arm", tok, "")
	if code != 409 || errorCode(t, b) != "field_not_armable" {
		t.Errorf("arm before the choice: %d %s", code, b)
	}
	code, b, _ = e.req("POST", "/v1/payments", testKey, `{"call_id":"`+c.ID()+`"}`)
	if code != 409 || errorCode(t, b) != "payment_active" {
		t.Errorf("second on the call: %d %s", code, b)
	}
	var v viewJSON
	// The back end's amount is not the form's to change, pending or not.
	code, b, _ = e.req("PATCH", "/v1/payments/"+id, tok, `{"amount":700}`)
	if code != 403 || errorCode(t, b) != "field_not_editable" {
		t.Errorf("form token's amount: %d %s", code, b)
	}
	e.must(200, "PATCH", "/v1/payments/"+id, testKey, `{"amount":700}`, &v)
	v = viewJSON{}
	e.must(200, "PUT", "/v1/payments/"+id+"/configuration", tok, `{"configuration":"amex"}`, &v)
	if v.ID != id || v.ConfigID != "amex" || v.State != "created" || len(v.Configurations) != 0 || v.Attributes.Amount != 700 {
		t.Fatalf("chosen %+v", v)
	}
	e.must(200, "POST", "/v1/payments/"+id+"/fields/card_number/arm", tok, "", &v)
	if v.State != "collecting" {
		t.Errorf("armed %+v", v)
	}
}
