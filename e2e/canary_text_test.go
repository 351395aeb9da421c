package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/call"
)

// hookReceiver is a webhook receiver that keeps every request it takes.
type hookReceiver struct {
	srv  *httptest.Server
	seen chan struct{} // a value per request

	mu     sync.Mutex
	bodies bytes.Buffer // headers and bodies, one request after another
	result bool         // a payment.result came
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{seen: make(chan struct{}, 1024)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		for k, v := range req.Header {
			fmt.Fprintf(&r.bodies, "%s: %s\n", k, strings.Join(v, ","))
		}
		r.bodies.Write(b)
		r.bodies.WriteByte('\n')
		if req.Header.Get("Dtmfgw-Event") == "payment.result" {
			r.result = true
		}
		r.mu.Unlock()
		r.seen <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) text() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies.String(), r.result
}

// digitsOnly drops every space, hyphen and dot between two digits.
func digitsOnly(s string) string {
	return strings.NewReplacer(" ", "", "-", "", ".", "").Replace(joinDigitGroups(s))
}

// TestCanaryInFreeTextThroughTheGateway runs a gateway with a
// webhook (results and progress) to a test receiver, and types a
// Luhn-valid canary card number, in several writings, into the reference
// and the cardholder name of POST /v1/payments and of PATCH with the API
// key and the form token: each is refused with 400 card_number_in_text.
// A payment then runs to its end, so that webhooks are sent; the SQLite
// files (database, WAL, shared memory), the webhook requests received and
// the gateway's log hold none of the canary's digits, separators dropped.
// (The log is the gateway's own, which masks digit runs besides: the
// unmasked log is searched by the API's TestCanaryInFreeText.)
func TestCanaryInFreeTextThroughTheGateway(t *testing.T) {
	const canary = "4917613849275031" // Luhn-valid, no test card's
	writings := []string{canary, "4917 6138 4927 5031", "4917-6138-4927-5031", "4917.6138.4927.5031", "pan " + canary + " exp 12/30"}
	rcv := newHookReceiver(t)
	db := filepath.Join(t.TempDir(), "dtmfgw.db")
	g := startGateway(t, fmt.Sprintf(`payments:
  configurations:
    - id: card
      name: Card payment
      processor: sandbox
      currency: GBP
      accepted_brands: [visa]
      fields:
        - {id: card_number, kind: card_number}
        - {id: expiry, kind: expiry}
        - {id: security_code, kind: security_code}
      webhook: {url: %q, secret: 0123456789abcdef0123456789abcdef, progress: true}
storage:
  dsn: sqlite:%s
log:
  level: debug
`, rcv.srv.URL+"/hook", db))
	base := g.base() + "/v1/"
	c, err := g.Calls().NewCall(call.Correlation{AgentID: "agent-canary"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.End(call.EndCallerHangup) })

	do := func(method, path, cred, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+cred)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	refused := func(what string, code int, b []byte) {
		t.Helper()
		if code != http.StatusBadRequest || !bytes.Contains(b, []byte(`"card_number_in_text"`)) {
			t.Fatalf("%s: %d %s, want 400 card_number_in_text", what, code, b)
		}
		if strings.Contains(digitsOnly(string(b)), canary[:12]) {
			t.Fatalf("%s: the refusal repeats the number", what)
		}
	}
	for _, w := range writings {
		q, _ := json.Marshal(w)
		code, b := do("POST", "payments", g.Key, `{"call_id":"`+c.ID()+`","prefill":{"amount":100,"reference":`+string(q)+`}}`)
		refused("POST reference", code, b)
		code, b = do("POST", "payments", g.Key, `{"call_id":"`+c.ID()+`","prefill":{"amount":100,"cardholder_name":`+string(q)+`}}`)
		refused("POST cardholder_name", code, b)
	}
	code, b := do("POST", "payments", g.Key, `{"call_id":"`+c.ID()+`","prefill":{"amount":100,"reference":"order-7"}}`)
	var cr struct {
		Payment   struct{ ID string } `json:"payment"`
		FormToken string              `json:"form_token"`
	}
	if code != http.StatusCreated || json.Unmarshal(b, &cr) != nil {
		t.Fatalf("POST: %d %s", code, b)
	}
	for _, w := range writings {
		q, _ := json.Marshal(w)
		for _, cred := range []string{g.Key, cr.FormToken} {
			for _, key := range []string{"reference", "cardholder_name"} {
				code, b := do("PATCH", "payments/"+cr.Payment.ID, cred, `{"`+key+`":`+string(q)+`}`)
				refused("PATCH "+key, code, b)
			}
		}
	}
	// Progress and a result, for the webhooks to carry.
	if code, b := do("POST", "payments/"+cr.Payment.ID+"/fields/card_number/arm", cr.FormToken, ""); code != http.StatusOK {
		t.Fatalf("arm: %d %s", code, b)
	}
	if code, b := do("POST", "payments/"+cr.Payment.ID+"/end", cr.FormToken, ""); code != http.StatusOK {
		t.Fatalf("end: %d %s", code, b)
	}
	deadline := time.After(20 * time.Second)
	for {
		if _, ok := rcv.text(); ok {
			break
		}
		select {
		case <-rcv.seen:
		case <-deadline:
			t.Fatal("no payment.result webhook in 20 s")
		}
	}

	hooks, _ := rcv.text()
	files, _ := filepath.Glob(db + "*")
	texts := map[string]string{"webhook requests": hooks, "gateway log": g.Log.String()}
	var stored strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[filepath.Base(f)] = string(b)
		stored.Write(b)
	}
	for name, text := range texts {
		flat := digitsOnly(text)
		for _, needle := range []string{canary, canary[:12], canary[len(canary)-8:]} {
			if strings.Contains(flat, needle) {
				t.Errorf("%s holds %d digits of the canary", name, len(needle))
			}
		}
	}
	// The searches read what was there to read.
	if !strings.Contains(hooks, "order-7") || !strings.Contains(hooks, "payment.progress") {
		t.Errorf("the webhooks carried no payment: the search proves nothing:\n%s", hooks)
	}
	if len(files) < 2 || !strings.Contains(stored.String(), "order-7") {
		t.Errorf("the payment's rows are not in %v: the search proves nothing", files)
	}
	if !strings.Contains(g.Log.String(), `"payment created"`) {
		t.Error("the log holds no payment: the search proves nothing")
	}
}
