package processor

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRequestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Request)
		field string // named by the error; "" means valid
	}{
		{"valid", func(*Request) {}, ""},
		{"minimal", func(r *Request) { r.Postcode, r.Reference, r.CardholderName = nil, "", "" }, ""},
		{"lowercase-currency", func(r *Request) { r.Currency = "gbp" }, ""},
		{"uuid-key", func(r *Request) { r.IdempotencyKey = "0f8fad5b-d9cb-469f-a165-70867728950e" }, ""},
		{"key-empty", func(r *Request) { r.IdempotencyKey = "" }, "idempotency_key"},
		{"key-quote", func(r *Request) { r.IdempotencyKey = "a'b" }, "idempotency_key"},
		{"key-too-long", func(r *Request) { r.IdempotencyKey = strings.Repeat("k", MaxIdempotencyKeyLen+1) }, "idempotency_key"},
		{"pan-short", func(r *Request) { r.PAN = []byte("42424242424") }, "pan"},
		{"pan-long", func(r *Request) { r.PAN = []byte("42424242424242424242") }, "pan"},
		{"pan-letter", func(r *Request) { r.PAN = []byte("424242424242424x") }, "pan"},
		{"month-0", func(r *Request) { r.ExpMonth = 0 }, "exp_month"},
		{"month-13", func(r *Request) { r.ExpMonth = 13 }, "exp_month"},
		{"two-digit-year", func(r *Request) { r.ExpYear = 31 }, "exp_year"},
		{"cvc-short", func(r *Request) { r.CVC = []byte("12") }, "cvc"},
		{"cvc-long", func(r *Request) { r.CVC = []byte("12345") }, "cvc"},
		{"cvc-hash", func(r *Request) { r.CVC = []byte("12#") }, "cvc"},
		{"postcode-long", func(r *Request) { r.Postcode = []byte(strings.Repeat("A", MaxPostcodeLen+1)) }, "postcode"},
		{"postcode-newline", func(r *Request) { r.Postcode = []byte("SW1\nAA") }, "postcode"},
		{"amount-zero", func(r *Request) { r.Amount = 0 }, "amount"},
		{"amount-negative", func(r *Request) { r.Amount = -5 }, "amount"},
		{"amount-huge", func(r *Request) { r.Amount = MaxAmount + 1 }, "amount"},
		{"currency-short", func(r *Request) { r.Currency = "GB" }, "currency"},
		{"currency-digits", func(r *Request) { r.Currency = "G8P" }, "currency"},
		{"reference-control", func(r *Request) { r.Reference = "a\r\nb" }, "reference"},
		{"reference-long", func(r *Request) { r.Reference = strings.Repeat("r", MaxTextLen+1) }, "reference"},
		{"name-invalid-utf8", func(r *Request) { r.CardholderName = "\xff" }, "cardholder_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := cardRequest("key-1", canaryPAN)
			tc.edit(r)
			err := r.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("Validate = %v, want ErrInvalidRequest naming %s", err, tc.field)
			}
			if strings.Contains(err.Error(), string(r.PAN)) || strings.Contains(err.Error(), canaryMiddle) {
				t.Errorf("the error holds the card number: %v", err)
			}
		})
	}
	// Every problem is reported, not just the first.
	err := (&Request{}).Validate()
	for _, f := range []string{"idempotency_key", "pan", "exp_month", "exp_year", "cvc", "amount", "currency"} {
		if !strings.Contains(err.Error(), f+":") {
			t.Errorf("the zero Request's error does not name %s: %v", f, err)
		}
	}
}

func TestStatusText(t *testing.T) {
	cases := []struct {
		s    Status
		text string
	}{{Unknown, "unknown"}, {Approved, "approved"}, {Declined, "declined"}, {Failed, "failed"}}
	for _, tc := range cases {
		if got := tc.s.String(); got != tc.text {
			t.Errorf("%d.String() = %q, want %q", tc.s, got, tc.text)
		}
		got, err := ParseStatus(tc.text)
		if err != nil || got != tc.s {
			t.Errorf("ParseStatus(%q) = %v, %v", tc.text, got, err)
		}
		if tc.s.Final() == (tc.s == Unknown) {
			t.Errorf("%v.Final() = %v", tc.s, tc.s.Final())
		}
	}
	if (Result{}).Status != Unknown {
		t.Error("the zero Result is not Unknown")
	}
	if _, err := ParseStatus("Approved"); err == nil {
		t.Error("ParseStatus accepted a wrong case")
	}
	if Status(9).String() != "status(9)" {
		t.Errorf("Status(9) = %q", Status(9).String())
	}
	if _, err := Status(9).MarshalText(); err == nil {
		t.Error("MarshalText accepted status(9)")
	}
	b, err := json.Marshal(struct{ S Status }{Declined})
	if err != nil || string(b) != `{"S":"declined"}` {
		t.Errorf("json = %s, %v", b, err)
	}
	var v struct{ S Status }
	if err := json.Unmarshal([]byte(`{"S":"failed"}`), &v); err != nil || v.S != Failed {
		t.Errorf("json decode = %v, %v", v.S, err)
	}
}

func TestSafeText(t *testing.T) {
	long := strings.Repeat("é", maxMessageLen+5)
	msgs := []struct{ in, want string }{
		{"Your card has insufficient funds.", "Your card has insufficient funds."},
		{"  padded  ", "padded"},
		{"", "fallback"},
		{"Your card number 4242424242424242 is invalid", "fallback"},
		{"code ٣", "fallback"}, // an Arabic-Indic digit is a digit too
		{"line\nbreak", "fallback"},
		{"\xff", "fallback"},
		{long, strings.Repeat("é", maxMessageLen) + "…"},
	}
	for _, tc := range msgs {
		if got := safeMessage(tc.in, "fallback"); got != tc.want {
			t.Errorf("safeMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	tokens := []struct{ in, want string }{
		{"card_declined", "card_declined"},
		{"card[exp_month]", "card[exp_month]"},
		{"insufficient_funds", "insufficient_funds"},
		{"code4242", ""},
		{"a b", ""},
		{strings.Repeat("a", maxTokenLen+1), ""},
	}
	for _, tc := range tokens {
		if got := safeToken(tc.in); got != tc.want {
			t.Errorf("safeToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	ids := []struct{ in, want string }{
		{"pi_3MtwBwLkdIwHu7ix28a3tqPa", "pi_3MtwBwLkdIwHu7ix28a3tqPa"},
		{"req_123", "req_123"},
		{"pi_12345678901", "pi_12345678901"},
		{"pi_" + canaryPAN, ""},
		{"pi_123456789012", ""},
		{"pi-x", ""},
		{"pi_x\n", ""},
		{strings.Repeat("a", maxIDLen+1), ""},
	}
	for _, tc := range ids {
		if got := safeID(tc.in); got != tc.want {
			t.Errorf("safeID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAppendFormValue(t *testing.T) {
	for _, v := range []string{"", "4242424242424242", "SW1A 1AA", "Zoë O'Brien & co", "a+b=c%d", "\x00\xff~-._"} {
		if got, want := string(appendFormValue(nil, []byte(v))), url.QueryEscape(v); got != want {
			t.Errorf("appendFormValue(%q) = %q, want %q", v, got, want)
		}
	}
	// The largest request's PaymentMethod body fits the slice made for it.
	big := cardRequest("k", "4242424242424242424")
	big.CVC, big.Postcode = []byte("1234"), []byte("ZZZZ-ZZZZ ZZZZ-Z")
	big.CardholderName = strings.Repeat("\U0001F600", MaxTextLen)
	if err := big.Validate(); err != nil {
		t.Fatal(err)
	}
	if b := paymentMethodBody(big); cap(b) != paymentMethodBodyCap(big) || len(b) > cap(b) {
		t.Errorf("body len %d cap %d, made with %d", len(b), cap(b), paymentMethodBodyCap(big))
	}

	body := appendFormField(nil, "type", []byte("card"))
	body = appendFormField(body, "card[number]", []byte("4242 4242"))
	if got := string(body); got != "type=card&card%5Bnumber%5D=4242+4242" {
		t.Errorf("form = %q", got)
	}
}
