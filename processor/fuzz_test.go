package processor

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v85"
)

// Seed corpora are in testdata/fuzz/FuzzXxx/.

// longestDigitRun is the length of the longest run of ASCII digits in s.
func longestDigitRun(s string) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

// Validate never panics, never quotes the card number, and a request it
// accepts never panics the sandbox's card logic.
func FuzzRequestValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, key string, pan, cvc, postcode []byte, month, year int, amount int64, currency, ref, name string) {
		r := &Request{IdempotencyKey: key, PAN: pan, ExpMonth: month, ExpYear: year, CVC: cvc, Postcode: postcode,
			Amount: amount, Currency: currency, Reference: ref, CardholderName: name}
		err := r.Validate()
		if err != nil {
			if len(pan) >= minPANRun && allDigits(pan) && strings.Contains(err.Error(), string(pan)) {
				t.Fatalf("the error quotes the card number: %v", err)
			}
			if longestDigitRun(err.Error()) >= minPANRun {
				t.Fatalf("the error has a long digit run: %v", err)
			}
			return
		}
		out := decide(r, testNow)
		if out.result.Status > Failed {
			t.Fatalf("decide = %+v", out)
		}
		// The PaymentMethod body of a valid request is built without
		// growing (no stray copy of the card) and decodes back to it.
		body := paymentMethodBody(r)
		if cap(body) != paymentMethodBodyCap(r) {
			t.Fatalf("the body grew from %d to %d bytes", paymentMethodBodyCap(r), cap(body))
		}
		v, perr := url.ParseQuery(string(body))
		if perr != nil || v.Get("card[number]") != string(pan) || v.Get("card[cvc]") != string(cvc) ||
			v.Get("billing_details[address][postal_code]") != string(postcode) || v.Get("billing_details[name]") != name {
			t.Fatalf("form %q decodes to %v, %v", body, v, perr)
		}
		// So is the HTTP connector's JSON body, with every field in it.
		for _, tokenize := range []bool{false, true} {
			r.Tokenize = tokenize
			if tokenize {
				r.Amount = 0
			}
			jb := connectorBody(r)
			if cap(jb) != connectorBodyCap(r) {
				t.Fatalf("the connector body grew from %d to %d bytes", connectorBodyCap(r), cap(jb))
			}
			var f map[string]any
			if err := json.Unmarshal(jb, &f); err != nil || f["cardnumber"] != string(pan) || f["cvv"] != string(cvc) ||
				f["postal_code"] != string(postcode) || f["cardholder_name"] != name || f["description"] != ref || f["transaction_id"] != key {
				t.Fatalf("connector body %q decodes to %v, %v", jb, f, err)
			}
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseStatus(text)
		if err != nil {
			if s != Unknown {
				t.Fatalf("ParseStatus(%q) = %v with an error", text, s)
			}
			return
		}
		if s.String() != text {
			t.Fatalf("ParseStatus(%q) = %v", text, s)
		}
		var u Status
		if err := u.UnmarshalText([]byte(text)); err != nil || u != s {
			t.Fatalf("UnmarshalText(%q) = %v, %v", text, u, err)
		}
	})
}

// Whatever a processor sends, the filters let no digit into a message, no
// digit into a code and no card-length digit run into an id.
func FuzzSafeText(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		m := safeMessage(s, "fallback")
		if !utf8.ValidString(m) || utf8.RuneCountInString(m) > maxMessageLen+1 {
			t.Fatalf("safeMessage(%q) = %q", s, m)
		}
		for _, r := range m {
			if unicode.IsDigit(r) || !unicode.IsPrint(r) {
				t.Fatalf("safeMessage(%q) = %q", s, m)
			}
		}
		if tok := safeToken(s); tok != "" && (tok != s || strings.ContainsAny(tok, "0123456789 \r\n")) {
			t.Fatalf("safeToken(%q) = %q", s, tok)
		}
		if id := safeID(s); id != "" && (id != s || longestDigitRun(id) >= minPANRun || strings.ContainsAny(id, " \r\n'\"")) {
			t.Fatalf("safeID(%q) = %q", s, id)
		}
	})
}

func FuzzAppendFormValue(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		got := string(appendFormValue(nil, b))
		if want := url.QueryEscape(string(b)); got != want {
			t.Fatalf("appendFormValue(%q) = %q, want %q", b, got, want)
		}
		if back, err := url.QueryUnescape(got); err != nil || back != string(b) {
			t.Fatalf("%q unescapes to %q, %v", got, back, err)
		}
	})
}

// Any answer body, read as a PaymentIntent or as an error, becomes a
// Result and an error with no card-length digit run in them.
func FuzzStripeAnswer(f *testing.F) {
	s := &Stripe{name: "stripe"}
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		var pi stripe.PaymentIntent
		if json.Unmarshal(body, &pi) == nil {
			res := intentResult(&pi)
			check(t, res, nil)
		}
		var wrapped struct {
			Error *stripe.Error `json:"error"`
		}
		if json.Unmarshal(body, &wrapped) == nil && wrapped.Error != nil {
			wrapped.Error.HTTPStatusCode = status
			for _, stage := range []string{stagePaymentMethod, stagePaymentIntent, stageReconcile} {
				res, err := s.errorResult(context.Background(), stage, wrapped.Error)
				check(t, res, err)
			}
		}
	})
}

func check(t *testing.T, res Result, err error) {
	t.Helper()
	text := res.Reference + " " + res.DeclineCode + " " + res.Message
	if err != nil {
		text += " " + err.Error()
	}
	if longestDigitRun(text) >= minPANRun {
		t.Fatalf("a card-length digit run got through: %q", text)
	}
	if res.Status > Failed {
		t.Fatalf("status %v", res.Status)
	}
}

// Whatever a connector answers, with whatever HTTP status, the Result and
// the error hold no card-length digit run, the status is one of the four,
// and the ids obey the rules: an approved tokenize has a token, an
// approved charge a reference unless the receiver's was withheld.
func FuzzConnectorAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, status int, requestID string) {
		for _, method := range []string{methodCharge, methodTokenize, methodStatus} {
			out := connectorResult("vault", method, status, requestID, body)
			check(t, out.res, out.err)
			if longestDigitRun(out.res.Token) >= minPANRun {
				t.Fatalf("a card-length digit run in the token: %q", out.res.Token)
			}
			switch {
			case method == methodTokenize && out.res.Status == Approved && out.res.Token == "":
				t.Fatalf("an approved tokenize without a token: %+v (body %q)", out.res, body)
			case method == methodCharge && out.res.Token != "":
				t.Fatalf("a charge with a token: %+v", out.res)
			case (status < 200 || status >= 300) && out.res.Status == Approved:
				t.Fatalf("approved on HTTP %d: %+v", status, out.res)
			case out.res.Status == Unknown && method != methodStatus && out.err == nil:
				t.Fatalf("an unknown charge without an error: %+v", out.res)
			}
		}
	})
}
