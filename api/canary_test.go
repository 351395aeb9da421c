package api

import (
	"fmt"
	"strings"
	"testing"

	"dtmfgw/session"
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

// TestCanary takes payments keyed with session's canary card number over
// the API (one approved, one cleared half-way and ended, one read after the
// call), following the event stream, then searches every response body and
// header, every event and the log for the number and its last eight
// digits.
func TestCanary(t *testing.T) {
	canary := withCheckDigit("491761384927503") // session's canary: a Visa no test card uses
	e := newTestEnv(t, envOptions{})
	call := e.newCall(session.Correlation{AgentID: "agent-c"})
	cr := e.create(call, "")
	id, tok := cr.Payment.ID, cr.FormToken
	s := e.openStream("/v1/payments/"+id+"/events?access_token="+tok, "")
	e.must(200, "POST", "/v1/payments/"+id+"/fields/card_number/arm", tok, "", nil)
	e.press(call, canary[:10])
	e.must(200, "GET", "/v1/payments/"+id, tok, "", nil)
	e.must(200, "POST", "/v1/payments/"+id+"/fields/card_number/clear", tok, "", nil)
	e.press(call, canary+"1230"+"321")
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
	e.press(call, canary[:12])
	e.must(200, "POST", "/v1/payments/"+next.Payment.ID+"/end", next.FormToken, "", nil)
	e.endCall(call)
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
