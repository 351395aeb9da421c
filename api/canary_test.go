package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dtmfgw/call"
)

// withCheckDigit appends the Luhn check digit to body.
func withCheckDigit(body string) string {
	for d := byte('0'); d <= '9'; d++ {
		s := body + string(d)
		sum := 0
		for i := 0; i < len(s); i++ {
			v := int(s[len(s)-1-i] - '0')
			if i%2 == 1 {
				if v *= 2; v > 9 {
					v -= 9
				}
			}
			sum += v
		}
		if sum%10 == 0 {
			return s
		}
	}
	panic("no check digit")
}

// TestCanary takes payments keyed with package payment's canary card number over
// the API (one approved, one cleared half-way and ended, one read after the
// call), following the event stream, then searches every response body and
// header, every event and the log for the number and its last eight
// digits.
func TestCanary(t *testing.T) {
	canary := withCheckDigit("491761384927503") // payment's canary: a Visa no test card uses
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{AgentID: "agent-c"})
	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	s := e.openStream("/v1/payments/"+id+"/events?access_token="+tok, "")
	e.must(200, "POST", "/v1/payments/"+id+"/fields/card_number/arm", tok, "", nil)
	e.press(c, canary[:10])
	e.must(200, "GET", "/v1/payments/"+id, tok, "", nil)
	e.must(200, "POST", "/v1/payments/"+id+"/fields/card_number/clear", tok, "", nil)
	e.press(c, canary+"1230"+"321")
	e.must(200, "GET", "/v1/payments/"+id, testKey, "", nil)
	e.must(200, "GET", "/v1/calls", testKey, "", nil)
	var v viewJSON
	e.must(200, "POST", "/v1/payments/"+id+"/process", tok, "", &v)
	if v.State != "approved" {
		t.Fatalf("processed %+v", v)
	}
	var next created
	e.must(201, "POST", "/v1/payments/"+id+"/another", tok, "", &next)
	e.must(200, "POST", "/v1/payments/"+next.Payment.ID+"/fields/card_number/arm", next.FormToken, "", nil)
	e.press(c, canary[:12])
	e.must(200, "POST", "/v1/payments/"+next.Payment.ID+"/end", next.FormToken, "", nil)
	e.endCall(c)
	var streamed []string
	for range 10000 {
		m, ok := s.next(true)
		if !ok {
			break
		}
		streamed = append(streamed, fmt.Sprintf("%+v", m))
	}
	if len(streamed) < 20 {
		t.Fatalf("only %d messages streamed", len(streamed))
	}
	e.must(200, "GET", "/v1/payments/"+id, testKey, "", nil)
	e.must(200, "GET", "/v1/payments/"+next.Payment.ID, next.FormToken, "", nil)

	texts := append(streamed, e.logs.String())
	e.mu.Lock()
	for _, x := range e.exchanges {
		texts = append(texts, string(x.body), fmt.Sprint(x.header), x.path)
	}
	e.mu.Unlock()
	for i, text := range texts {
		for _, needle := range []string{canary, canary[len(canary)-8:], canary[:12]} {
			if strings.Contains(text, needle) {
				t.Errorf("text %d holds %d digits of the canary", i, len(needle))
			}
		}
	}
	if !strings.Contains(strings.Join(texts, ""), "•••• "+canary[len(canary)-4:]) {
		t.Error("the masked number never showed: the search looked at nothing")
	}
}

// stripSeparators drops every space, hyphen and dot that stands between
// two digits, so that "4917 6138-4927.5030" is searched as the digits it
// writes.
func stripSeparators(b []byte) []byte {
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if bytes.IndexByte([]byte(" -."), b[i]) >= 0 && len(out) > 0 && isDigit(out[len(out)-1]) {
			j := i
			for j < len(b) && bytes.IndexByte([]byte(" -."), b[j]) >= 0 {
				j++
			}
			if j < len(b) && isDigit(b[j]) {
				i = j - 1
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

// canaryWritings are the ways a card number is typed into text: whole,
// grouped by spaces, hyphens or dots, inside a sentence, glued to a word.
func canaryWritings(pan string) []string {
	group := func(sep string) string { return pan[:4] + sep + pan[4:8] + sep + pan[8:12] + sep + pan[12:] }
	return []string{pan, group(" "), group("-"), group("."), "order " + group(" ") + " exp 12/30", "ref" + pan}
}

// TestCanaryInFreeText: a Luhn-valid canary card number typed into the
// reference or the cardholder name, in every writing, through POST and
// through PATCH with the API key and with the form token, and as an
// idempotency key, is refused with 400 card_number_in_text, whose message
// does not repeat it, and changes nothing; afterwards the SQLite files
// (database, WAL, shared memory), every answer, the event stream and the
// log are searched for the canary's digits with separators dropped, and
// none holds them.
func TestCanaryInFreeText(t *testing.T) {
	canary := withCheckDigit("491761384927503")
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{AgentID: "agent-t"})
	post := func(prefill string) string {
		return `{"call_id":"` + c.ID() + `","prefill":{"amount":1999,` + prefill + `}}`
	}
	refused := func(what string, code int, b []byte) {
		t.Helper()
		if code != http.StatusBadRequest || errorCode(t, b) != "card_number_in_text" {
			t.Fatalf("%s: %d %s, want 400 card_number_in_text", what, code, b)
		}
	}
	for _, w := range canaryWritings(canary) {
		q, _ := json.Marshal(w)
		code, b, _ := e.req("POST", "/v1/payments", testKey, post(`"reference":`+string(q)))
		refused("POST reference", code, b)
		code, b, _ = e.req("POST", "/v1/payments", testKey, post(`"reference":"order-7","cardholder_name":`+string(q)))
		refused("POST cardholder_name", code, b)
		code, b, _ = e.req("POST", "/v1/payments", testKey, post(`"reference":"order-7"`), "Idempotency-Key", w)
		refused("POST Idempotency-Key", code, b)
	}
	var calls struct {
		Calls []struct {
			PaymentID string `json:"payment_id"`
		} `json:"calls"`
	}
	e.must(http.StatusOK, "GET", "/v1/calls?call_id="+c.ID(), testKey, "", &calls)
	if len(calls.Calls) != 1 || calls.Calls[0].PaymentID != "" {
		t.Fatalf("a refused POST made a payment: %+v", calls.Calls)
	}

	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	s := e.openStream("/v1/payments/"+id+"/events?access_token="+tok, "")
	before := e.ps.Payment(id).Attributes()
	for _, w := range canaryWritings(canary) {
		q, _ := json.Marshal(w)
		for _, cred := range []string{testKey, tok} {
			for _, body := range []string{`{"reference":` + string(q) + `}`, `{"cardholder_name":` + string(q) + `}`} {
				code, b, _ := e.req("PATCH", "/v1/payments/"+id, cred, body)
				refused("PATCH", code, b)
				if got := e.ps.Payment(id).Attributes(); got != before {
					t.Fatalf("a refused PATCH changed the payment: %+v", got)
				}
			}
		}
	}
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, tok, `{"cardholder_name":"A Person"}`, nil)
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/end", tok, "", nil)
	e.endCall(c)
	var streamed bytes.Buffer
	for range 1000 {
		m, ok := s.next(true)
		if !ok {
			break
		}
		fmt.Fprintf(&streamed, "%+v\n", m)
	}

	needles := [][]byte{[]byte(canary), []byte(canary[:12]), []byte(canary[len(canary)-8:])}
	search := func(name string, hay []byte) {
		t.Helper()
		hay = stripSeparators(hay)
		for _, n := range needles {
			if bytes.Contains(hay, n) {
				t.Errorf("%s holds %d digits of the canary", name, len(n))
			}
		}
	}
	files, _ := filepath.Glob(e.db + "*")
	var stored []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		search(filepath.Base(f), b)
		stored = append(stored, b...)
	}
	if len(files) < 2 || !bytes.Contains(stored, []byte("order-7")) || !bytes.Contains(stored, []byte("agent-t")) {
		t.Errorf("the payment's rows are not in %v: the search proves nothing", files)
	}
	search("the log", []byte(e.logs.String()))
	if !strings.Contains(e.logs.String(), "payment created") {
		t.Error("the log holds no payment: the search proves nothing")
	}
	search("the event stream", streamed.Bytes())
	if !strings.Contains(streamed.String(), "cancelled") {
		t.Error("the stream was not read to the payment's end")
	}
	e.mu.Lock()
	for _, x := range e.exchanges {
		// The requests' own bodies hold the canary, by design; what came
		// back must not.
		search(x.method+" "+x.path+" answer", append(x.body, fmt.Sprint(x.header)...))
	}
	e.mu.Unlock()
}
