package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeCreate: any body decodes to a request or a 4xx *apiError,
// never a panic, and an error never quotes the body.
func FuzzDecodeCreate(f *testing.F) {
	f.Add([]byte(`{"call_id":"c1","prefill":{"amount":1999,"currency":"GBP"},"idempotency_key":"k"}`))
	f.Add([]byte(`{"agent_id":"a","type":"digital"}`))
	f.Add([]byte(`{"primary_call_id":"p","prefill":{"amount":"4111111111111111"}}`))
	f.Add([]byte(`{"x":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req createRequest
		err := decodeJSON(body, &req)
		if err == nil {
			err = req.normalize("")
		}
		checkClientError(t, err, body)
	})
}

// FuzzDecodePatch: the same for PATCH and PUT bodies.
func FuzzDecodePatch(f *testing.F) {
	f.Add([]byte(`{"amount":100,"currency":"EUR","reference":"r","cardholder_name":"A N Other"}`))
	f.Add([]byte(`{"amount":null}`))
	f.Add([]byte(`{"configuration":"card"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req patchRequest
		err := decodeJSON(body, &req)
		if err == nil {
			a := func(p *int64) int64 {
				if p == nil {
					return 0
				}
				return *p
			}
			s := func(p *string) string {
				if p == nil {
					return ""
				}
				return *p
			}
			err = checkAttributes(a(req.Amount), s(req.Currency), s(req.Reference), s(req.CardholderName))
		}
		checkClientError(t, err, body)
		var cr configurationRequest
		checkClientError(t, decodeJSON(body, &cr), body)
	})
}

func checkClientError(t *testing.T, err error, body []byte) {
	t.Helper()
	if err == nil {
		return
	}
	var e *apiError
	if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 || e.Code == "" {
		t.Fatalf("error %v is not a 4xx apiError", err)
	}
	if len(body) >= 6 && (strings.Contains(e.Message, string(body)) || strings.Contains(e.Code, string(body))) {
		t.Fatalf("error quotes the body: %v", e)
	}
}

// FuzzFormToken: any string parses or fails cleanly; a token that parses
// under our secret says what was minted; minting what parsed gives the
// same token back.
func FuzzFormToken(f *testing.F) {
	secret := []byte(strings.Repeat("k", 32))
	f.Add(mintFormToken(secret, "pay_abcdefghijklmnopqrstuvwx", time.Unix(1_900_000_000, 0)))
	f.Add("cGF5X2FiY3wxOTAwMDAwMDAwfA")
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := parseFormToken(secret, tok)
		if err != nil {
			return
		}
		if again := mintFormToken(secret, got.paymentID, got.expires); again != tok {
			t.Fatalf("token %q parsed to %+v, which mints %q", tok, got, again)
		}
		// A request bearing it is judged without a panic.
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_ = bearer(r)
	})
}
