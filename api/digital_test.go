package api

import (
	"net/http"
	"strings"
	"testing"

	"dtmfgw/call"
	"dtmfgw/payment"
)

// digitalEnv is a test gateway whose configuration allows both payment
// types, with digital payments on and their SMS kept by texts.
func digitalEnv(t *testing.T) (*testEnv, *sentTexts) {
	cfg := payment.DefaultConfigs()[0]
	cfg.Currency = "GBP"
	cfg.Types = []payment.PaymentType{payment.TypeAgentAssist, payment.TypeDigital}
	texts := &sentTexts{}
	return newTestEnv(t, envOptions{configs: []payment.Config{cfg}, texter: texts}), texts
}

func TestDigitalPaymentWithoutCall(t *testing.T) {
	e, texts := digitalEnv(t)
	var d created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"type":"digital","prefill":{"amount":1250,"reference":"INV-9"},"idempotency_key":"k-1"}`, &d)
	if d.Payment.Type != "digital" || d.Payment.Link == nil || d.Payment.Link.State != "created" || d.Payment.CallID != "" {
		t.Fatalf("created %+v", d.Payment)
	}
	if d.Link == nil || !strings.HasPrefix(d.Link.URL, "https://pay.example.com/pay/#") || len(d.Link.URL) < 60 {
		t.Fatalf("link %+v", d.Link)
	}
	// The same request again: the same payment and link.
	var again created
	e.must(http.StatusOK, "POST", "/v1/payments", testKey, `{"type":"digital","prefill":{"amount":1250,"reference":"INV-9"},"idempotency_key":"k-1"}`, &again)
	if again.Payment.ID != d.Payment.ID || again.Link == nil || again.Link.URL != d.Link.URL {
		t.Fatalf("repeated: %+v / %+v", again.Payment, again.Link)
	}
	// No number yet: nothing to send to.
	code, b, _ := e.req("POST", "/v1/payments/"+d.Payment.ID+"/link/send", testKey, "")
	if code != http.StatusBadRequest || errorCode(t, b) != "no_phone" {
		t.Fatalf("send with no number: %d %s", code, b)
	}
	code, b, _ = e.req("POST", "/v1/payments/"+d.Payment.ID+"/link/send", testKey, `{"phone":"07700 900123"}`)
	if code != http.StatusBadRequest || errorCode(t, b) != "invalid_phone" || strings.Contains(string(b), "900123") {
		t.Fatalf("send to a national number: %d %s", code, b)
	}
	var sent created
	e.must(http.StatusOK, "POST", "/v1/payments/"+d.Payment.ID+"/link/send", testKey, `{"phone":"+44 7700 900123"}`, &sent)
	if sent.Payment.Link.State != "sent" || sent.Payment.Link.Phone != "+447700900123" || len(sent.Payment.Link.Messages) != 1 || sent.Payment.Link.Messages[0].State != "queued" {
		t.Fatalf("sent %+v", sent.Payment.Link)
	}
	if m := texts.all(); len(m) != 1 || !strings.Contains(m[0].Body, d.Link.URL) || m[0].To != "+447700900123" || strings.Contains(m[0].Redacted, d.Link.URL) {
		t.Fatalf("sms %+v", m)
	}
	// The link's token is never in a log line.
	_, token, _ := strings.Cut(d.Link.URL, "#")
	if strings.Contains(e.logs.String(), token) {
		t.Fatal("the log holds the link's token")
	}
	// Cancelled: the link closes, sending is refused.
	var ended viewJSON
	e.must(http.StatusOK, "POST", "/v1/payments/"+d.Payment.ID+"/end", testKey, "", &ended)
	if ended.State != "cancelled" || ended.Link.State != "cancelled" {
		t.Fatalf("ended %+v / %+v", ended, ended.Link)
	}
	code, b, _ = e.req("POST", "/v1/payments/"+d.Payment.ID+"/link/send", testKey, "")
	if code != http.StatusConflict || errorCode(t, b) != "link_closed" {
		t.Fatalf("send a cancelled link: %d %s", code, b)
	}
}

func TestDigitalPaymentRefusesStrangers(t *testing.T) {
	e, texts := digitalEnv(t)
	var d created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"type":"digital","prefill":{"amount":1250},"phone":"+447700900123"}`, &d)
	var other created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"type":"digital","prefill":{"amount":99}}`, &other)
	for _, auth := range []string{"", "wrong-key-0123456789abcdef", other.FormToken, d.FormToken + "x"} {
		for _, rq := range [][3]string{
			{"POST", "/v1/payments/" + d.Payment.ID + "/link/send", `{"phone":"+447700900999"}`},
			{"POST", "/v1/payments/" + d.Payment.ID + "/end", ""},
		} {
			code, b, _ := e.req(rq[0], rq[1], auth, rq[2])
			if code != http.StatusUnauthorized && code != http.StatusForbidden && code != http.StatusNotFound {
				t.Fatalf("%s %s with a stranger's credential: %d %s", rq[0], rq[1], code, b)
			}
		}
	}
	var v viewJSON
	e.must(http.StatusOK, "GET", "/v1/payments/"+d.Payment.ID, testKey, "", &v)
	if v.Link.State != "created" || len(v.Link.Messages) != 0 || len(texts.all()) != 0 {
		t.Fatalf("a stranger changed the payment: %+v", v.Link)
	}
	// The payment's own form token may send it.
	e.must(http.StatusOK, "POST", "/v1/payments/"+d.Payment.ID+"/link/send", d.FormToken, "", nil)
	if len(texts.all()) != 1 {
		t.Fatal("the form token did not send the link")
	}
}

func TestDigitalPaymentOnACall(t *testing.T) {
	e, _ := digitalEnv(t)
	c := e.newCall(call.Correlation{AgentID: "agent-d", CallerNumber: "+447700900123"})
	// No type: the configuration allows both, so the form chooses.
	var w created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"call_id":"`+c.ID()+`"}`, &w)
	if w.Payment.Type != "" || strings.Join(w.Payment.Types, ",") != "agent_assist,digital" || w.Payment.State != "created" {
		t.Fatalf("waiting %+v", w.Payment)
	}
	code, b, _ := e.req("PUT", "/v1/payments/"+w.Payment.ID+"/digital", w.FormToken, `{}`)
	if code != http.StatusBadRequest || errorCode(t, b) != "amount_required" {
		t.Fatalf("digital without an amount: %d %s", code, b)
	}
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+w.Payment.ID, w.FormToken, `{"amount":4200,"reference":"R-1"}`, nil)
	var d created
	e.must(http.StatusOK, "PUT", "/v1/payments/"+w.Payment.ID+"/digital", w.FormToken, `{}`, &d)
	if d.Payment.ID != w.Payment.ID || d.Payment.Type != "digital" || d.Link == nil || d.Payment.Link.Phone != "+447700900123" || d.Payment.Attributes.Amount != 4200 {
		t.Fatalf("made digital: %+v / %+v", d.Payment, d.Link)
	}
	// One payment at a time on the call.
	code, b, _ = e.req("POST", "/v1/payments", testKey, `{"call_id":"`+c.ID()+`","type":"agent_assist"}`)
	if code != http.StatusConflict || errorCode(t, b) != "payment_active" {
		t.Fatalf("a second payment beside an open link: %d %s", code, b)
	}
	code, b, _ = e.req("GET", "/v1/calls?call_id="+c.ID(), testKey, "")
	if code != http.StatusOK || !strings.Contains(string(b), `"payment_id":"`+d.Payment.ID+`"`) {
		t.Fatalf("the call's payment in progress: %d %s", code, b)
	}
	// The link outlives the call.
	e.endCall(c)
	var v viewJSON
	e.must(http.StatusOK, "GET", "/v1/payments/"+d.Payment.ID, testKey, "", &v)
	if v.Link.State != "created" || v.State != "created" {
		t.Fatalf("after the call: %+v / %+v", v, v.Link)
	}
}

func TestDigitalPaymentRefusals(t *testing.T) {
	e, _ := digitalEnv(t)
	for _, tc := range []struct{ body, code string }{
		{`{"type":"digital"}`, "amount_required"},
		{`{"type":"digital","prefill":{"amount":5},"phone":"12"}`, "invalid_phone"},
		{`{"type":"digital","prefill":{"amount":5},"call_id":"nope"}`, "call_not_found"},
		{`{"type":"digital","prefill":{"amount":5},"call_id":"a","agent_id":"b"}`, "bad_request"},
		{`{"type":"agent_assist","call_id":"a","phone":"+447700900123"}`, "bad_request"},
		{`{"type":"sms","call_id":"a"}`, "invalid_type"},
	} {
		code, b, _ := e.req("POST", "/v1/payments", testKey, tc.body)
		if code < 400 || errorCode(t, b) != tc.code {
			t.Errorf("%s: %d %s, want %s", tc.body, code, b, tc.code)
		}
	}
	// A configuration that does not allow digital payments.
	plain := newTestEnv(t, envOptions{texter: &sentTexts{}})
	code, b, _ := plain.req("POST", "/v1/payments", testKey, `{"type":"digital","prefill":{"amount":5}}`)
	if code != http.StatusUnprocessableEntity || errorCode(t, b) != "type_not_allowed" {
		t.Fatalf("digital on an agent-assist-only configuration: %d %s", code, b)
	}
	// Digital payments off (no public page).
	off := newTestEnv(t, envOptions{})
	code, b, _ = off.req("POST", "/v1/payments", testKey, `{"type":"digital","prefill":{"amount":5}}`)
	if code != http.StatusServiceUnavailable || errorCode(t, b) != "digital_unavailable" {
		t.Fatalf("digital payments off: %d %s", code, b)
	}
}
