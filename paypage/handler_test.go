package paypage

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/payment"
)

const (
	testToken = "tok_open-1"
	testAddr  = "192.0.2.10:40000"
	// testOrigin is httptest.NewRequest's: its Host is example.com.
	testOrigin = "http://example.com"
)

// env is one test's handler over a fake desk, on a test clock, logging
// into a buffer.
type env struct {
	t     *testing.T
	desk  *fakeDesk
	h     *Handler
	clock *testkit.Clock
	log   *testkit.Buffer
}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, desk: newFakeDesk(), clock: testkit.NewClock(time.Time{}), log: &testkit.Buffer{}}
	e.desk.now = e.clock.Now
	logger := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]Option{WithClock(e.clock.Now), WithLogger(logger)}, opts...)
	h, err := New(e.desk, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.desk.add(testToken, payment.LinkSent)
	return e
}

// req is one request to the handler.
type req struct {
	method, path string
	body         string
	token        string // "" sends no Authorization
	hdr          map[string]string
	// bare sends a POST without the page's Origin, Content-Type and CSRF
	// token (hdr may add its own).
	bare   bool
	remote string
}

func (e *env) do(r req) *http.Response {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	hr.RemoteAddr = testAddr
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.method == http.MethodPost && !r.bare {
		hr.Header.Set("Origin", testOrigin)
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("X-CSRF-Token", e.h.csrfToken(tokenHash(r.token)))
	}
	for k, v := range r.hdr {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	res := rec.Result()
	checkSecurityHeaders(e.t, r.method+" "+r.path, res, e.h.hsts)
	return res
}

// apiError is an error answer as the page reads it.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Payment *viewJSON `json:"payment"`
}

// viewJSON is a payment.PageView as the page reads it (payment.State
// has no UnmarshalText: the tests read names).
type viewJSON struct {
	State        payment.LinkState    `json:"state"`
	Merchant     string               `json:"merchant"`
	Amount       int64                `json:"amount"`
	Currency     string               `json:"currency"`
	Fields       []payment.PageField  `json:"fields"`
	AttemptsLeft int                  `json:"attempts_left"`
	LastAttempt  *payment.PageAttempt `json:"last_attempt"`
	Result       *struct {
		State string        `json:"state"`
		Brand payment.Brand `json:"brand"`
		Last4 string        `json:"last4"`
	} `json:"result"`
}

// payJSON is POST /pay/api/pay's answer as the page reads it.
type payJSON struct {
	Payment viewJSON `json:"payment"`
}

// expect checks a response's status and, for an error, its code; it
// decodes a JSON body into v when v is not nil.
func expect(t *testing.T, res *http.Response, status int, code string, v any) {
	t.Helper()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", res.StatusCode, status, body)
	}
	if code != "" {
		var e apiError
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != code {
			t.Fatalf("error %s, want code %q", body, code)
		}
		if e.Error.Message == "" {
			t.Errorf("error %s has no message", body)
		}
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("API answer with Cache-Control %q, want no-store", res.Header.Get("Cache-Control"))
	}
}

// wantHeaders are the headers every response must carry.
var wantHeaders = map[string]string{
	"Content-Security-Policy":      contentSecurityPolicy,
	"Referrer-Policy":              "no-referrer",
	"X-Content-Type-Options":       "nosniff",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), payment=()",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"X-Frame-Options":              "DENY",
}

func checkSecurityHeaders(t *testing.T, what string, res *http.Response, hsts bool) {
	t.Helper()
	for k, v := range wantHeaders {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %s %q, want %q", what, k, got, v)
		}
	}
	if got := res.Header.Get("Strict-Transport-Security"); hsts && got != "max-age=31536000" || !hsts && got != "" {
		t.Errorf("%s: Strict-Transport-Security %q with HSTS %v", what, got, hsts)
	}
}

func TestCSPIsStrict(t *testing.T) {
	for _, d := range []string{
		"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
		"form-action 'none'", "base-uri 'none'", "frame-ancestors 'none'", "require-trusted-types-for 'script'",
	} {
		if !strings.Contains(contentSecurityPolicy+";", d+";") {
			t.Errorf("CSP %q lacks %q", contentSecurityPolicy, d)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "*", "http:", "https:", "data: 'self'; script"} {
		if strings.Contains(contentSecurityPolicy, bad) {
			t.Errorf("CSP %q holds %q", contentSecurityPolicy, bad)
		}
	}
}

func TestSessionOpen(t *testing.T) {
	e := newEnv(t)
	var s struct {
		Payment viewJSON `json:"payment"`
		CSRF    string   `json:"csrf"`
	}
	expect(t, e.do(req{method: "GET", path: "/pay/api/session", token: testToken}), 200, "", &s)
	if s.Payment.State != payment.LinkOpened || s.Payment.Merchant != "Acme Utilities" || s.Payment.Amount != 1250 || len(s.Payment.Fields) != 4 {
		t.Errorf("view %+v", s.Payment)
	}
	if s.CSRF == "" || s.CSRF != e.h.csrfToken(tokenHash(testToken)) {
		t.Errorf("csrf %q", s.CSRF)
	}
	// Another link has another CSRF token; another Handler (a restart)
	// another again.
	if s.CSRF == e.h.csrfToken(tokenHash("tok_other")) {
		t.Error("two links share a CSRF token")
	}
	if s.CSRF == newEnv(t).h.csrfToken(tokenHash(testToken)) {
		t.Error("two Handlers share a CSRF secret")
	}
}

// Nodes that share a secret accept each other's CSRF tokens: the page's
// session answered by one node, its POST served by another. A node with
// another secret refuses the token before the desk is asked.
func TestCSRFTokenAcrossNodesSharingTheSecret(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	a, b := newEnv(t, WithSecret(secret)), newEnv(t, WithSecret(secret))
	other := newEnv(t, WithSecret([]byte("another-secret-of-thirty-two-byt")))
	var s struct {
		CSRF string `json:"csrf"`
	}
	expect(t, a.do(req{method: "GET", path: "/pay/api/session", token: testToken}), 200, "", &s)
	if s.CSRF == "" || s.CSRF != b.h.csrfToken(tokenHash(testToken)) {
		t.Fatalf("node B makes another CSRF token than node A's %q", s.CSRF)
	}
	post := func(e *env) *http.Response {
		return e.do(req{method: "POST", path: "/pay/api/presence", token: testToken, body: `{"present":true}`,
			hdr: map[string]string{"X-CSRF-Token": s.CSRF}})
	}
	if res := post(b); res.StatusCode/100 != 2 {
		t.Errorf("node B refused node A's CSRF token: %d", res.StatusCode)
	}
	expect(t, post(other), 403, "bad_csrf", nil)
	b.desk.mu.Lock()
	other.desk.mu.Lock()
	if len(b.desk.presence) != 1 || len(other.desk.presence) != 0 {
		t.Errorf("presence reached node B's desk %d times (want 1), the other node's %d (want 0)", len(b.desk.presence), len(other.desk.presence))
	}
	other.desk.mu.Unlock()
	b.desk.mu.Unlock()
	if _, err := New(newFakeDesk(), WithSecret([]byte("short"))); err == nil {
		t.Error("New accepted a 5-byte CSRF secret")
	}
}

func TestSessionClosed(t *testing.T) {
	e := newEnv(t)
	for _, st := range []payment.LinkState{payment.LinkPaid, payment.LinkExpired, payment.LinkCancelled, payment.LinkLocked} {
		tok := "tok_" + st.String()
		e.desk.add(tok, st)
		var s struct {
			Payment viewJSON `json:"payment"`
			CSRF    *string  `json:"csrf"`
		}
		expect(t, e.do(req{method: "GET", path: "/pay/api/session", token: tok}), 200, "", &s)
		if s.Payment.State != st {
			t.Errorf("%v: state %v", st, s.Payment.State)
		}
		if s.CSRF != nil {
			t.Errorf("%v: a closed link got a CSRF token", st)
		}
	}
}

func TestSessionNotFound(t *testing.T) {
	e := newEnv(t)
	res := e.do(req{method: "GET", path: "/pay/api/session", token: "tok_nope"})
	var a apiError
	expect(t, res, 404, "link_not_found", &a)
	if a.Error.Message != "This payment link is not valid." {
		t.Errorf("message %q", a.Error.Message)
	}
	// A token that cannot be a link's is the same to the page.
	for _, tok := range []string{"a b", "tok/1", strings.Repeat("a", 257), "tök"} {
		hr := httptest.NewRequest("GET", "/pay/api/session", nil)
		hr.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, hr)
		expect(t, rec.Result(), 404, "link_not_found", nil)
	}
	res = e.do(req{method: "GET", path: "/pay/api/session"})
	expect(t, res, 401, "unauthorized", nil)
	if res.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	expect(t, e.do(req{method: "GET", path: "/pay/api/session", hdr: map[string]string{"Authorization": "Basic dTpw"}}), 401, "unauthorized", nil)
}

func TestDeskErrors(t *testing.T) {
	e := newEnv(t)
	e.desk.fail("tok_busy", payment.ErrLinkBusy)
	e.desk.fail("tok_broken", errors.New("store: disk on fire at /var/lib/tok_broken"))
	expect(t, e.do(req{method: "GET", path: "/pay/api/session", token: "tok_busy"}), 409, "link_busy", nil)
	var a apiError
	expect(t, e.do(req{method: "GET", path: "/pay/api/session", token: "tok_broken"}), 500, "internal", &a)
	if strings.Contains(a.Error.Message, "disk") {
		t.Errorf("a 500 tells its cause: %q", a.Error.Message)
	}
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_busy", body: `{"fields":{"card_number":"4242424242424242"}}`}), 409, "link_busy", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_broken", body: `{"fields":{"card_number":"4242424242424242"}}`}), 500, "internal", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/progress", token: "tok_broken", body: `{"field":"expiry","length":1}`}), 500, "internal", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/presence", token: "tok_busy", body: `{"present":true}`}), 409, "link_busy", nil)
	if strings.Contains(e.log.String(), "disk on fire") {
		t.Error("the desk's error reached the log")
	}
}

func TestProgress(t *testing.T) {
	e := newEnv(t)
	expect(t, e.do(req{method: "POST", path: "/pay/api/progress", token: testToken, body: `{"field":"card_number","length":7}`}), 204, "", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/progress", token: testToken, body: `{"length":0, "field":"post-code_2"}`}), 204, "", nil)
	if got := e.desk.lengths("card_number"); len(got) != 1 || got[0] != 7 {
		t.Errorf("card_number lengths %v", got)
	}
	if got := e.desk.lengths("post-code_2"); len(got) != 1 || got[0] != 0 {
		t.Errorf("post-code_2 lengths %v", got)
	}
	bad := []struct{ name, body, code string }{
		{"no field", `{"length":3}`, "bad_field_id"},
		{"upper-case field", `{"field":"Card","length":3}`, "bad_field_id"},
		{"long field", `{"field":"` + strings.Repeat("a", 65) + `","length":3}`, "bad_field_id"},
		{"empty field", `{"field":"","length":3}`, "bad_field_id"},
		{"no length", `{"field":"expiry"}`, "bad_length"},
		{"negative", `{"field":"expiry","length":-1}`, "bad_length"},
		{"too long", `{"field":"expiry","length":65}`, "bad_length"},
		{"fraction", `{"field":"expiry","length":1.5}`, "bad_json"},
		{"length as text", `{"field":"expiry","length":"4"}`, "bad_json"},
		// The page sends lengths only: a value is refused, unread.
		{"a value", `{"field":"card_number","length":4,"value":"4242"}`, "bad_json"},
		{"two objects", `{"field":"expiry","length":1}{}`, "bad_json"},
		{"not json", `field=expiry`, "bad_json"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			expect(t, e.do(req{method: "POST", path: "/pay/api/progress", token: testToken, body: b.body}), 400, b.code, nil)
		})
	}
	expect(t, e.do(req{method: "POST", path: "/pay/api/progress", token: testToken, body: `{"field":"expiry","length":1,"x":"` + strings.Repeat("a", 2000) + `"}`}), 413, "body_too_large", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/progress", token: "tok_nope", body: `{"field":"expiry","length":1}`}), 404, "link_not_found", nil)
	e.desk.add("tok_done", payment.LinkPaid)
	expect(t, e.do(req{method: "POST", path: "/pay/api/progress", token: "tok_done", body: `{"field":"expiry","length":1}`}), 410, "link_closed", nil)
	if n := len(e.desk.lengths("card_number")); n != 1 {
		t.Errorf("%d reports after the refused ones, want 1", n)
	}
}

func TestPresence(t *testing.T) {
	e := newEnv(t)
	expect(t, e.do(req{method: "POST", path: "/pay/api/presence", token: testToken, body: `{"present":true}`}), 204, "", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/presence", token: testToken, body: `{"present":false}`}), 204, "", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/presence", token: testToken, body: `{}`}), 400, "bad_present", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/presence", token: testToken, body: `{"present":"yes"}`}), 400, "bad_json", nil)
	e.desk.mu.Lock()
	got := e.desk.presence
	e.desk.mu.Unlock()
	if len(got) != 2 || !got[0] || got[1] {
		t.Errorf("presence %v, want [true false]", got)
	}
}

const goodBody = `{"fields":{"card_number":"4242 4242 4242 4242","expiry":"1230","security_code":"123","postcode":"12345"},"cardholder_name":"A N Other"}`

func TestPayApproved(t *testing.T) {
	e := newEnv(t)
	var a payJSON
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: goodBody}), 200, "", &a)
	if a.Payment.State != payment.LinkPaid || a.Payment.Result == nil || a.Payment.Result.Last4 != "4242" || a.Payment.Result.Brand != payment.BrandVisa {
		t.Fatalf("view %+v", a.Payment)
	}
	e.desk.mu.Lock()
	card, name := e.desk.cards[0], e.desk.names[0]
	e.desk.mu.Unlock()
	want := map[string]string{"card_number": goodCard, "expiry": "1230", "security_code": "123", "postcode": "12345"}
	if len(card) != len(want) {
		t.Errorf("desk got %d fields, want %d", len(card), len(want))
	}
	for id, v := range want {
		if card[id] != v {
			t.Errorf("desk got %s of %d digits, want %d", id, len(card[id]), len(v))
		}
	}
	if name != "A N Other" {
		t.Errorf("name %q", name)
	}
	if err := e.desk.allZero(); err != nil {
		t.Error(err)
	}
	// A paid link takes no other card: 410 with its view.
	var closed apiError
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: goodBody}), 410, "link_closed", &closed)
	if closed.Payment == nil || closed.Payment.State != payment.LinkPaid {
		t.Errorf("410 with view %+v", closed.Payment)
	}
}

func TestPayDeclinedThenLocked(t *testing.T) {
	e := newEnv(t)
	declined := strings.Replace(goodBody, "4242 4242 4242 4242", declinedCard, 1)
	for left := 2; left >= 0; left-- {
		var a payJSON
		expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: declined}), 200, "", &a)
		at := a.Payment.LastAttempt
		if at == nil || at.Outcome != "declined" || a.Payment.AttemptsLeft != left {
			t.Fatalf("view %+v, attempt %+v, want declined with %d left", a.Payment, at, left)
		}
	}
	if st := e.desk.state(testToken); st != payment.LinkLocked {
		t.Fatalf("state %v after three declines", st)
	}
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: goodBody}), 410, "link_closed", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_nope", body: goodBody}), 404, "link_not_found", nil)
}

// TestPayZeroes: the slices the desk got are zeroed when the handler
// returns even when the desk neither zeroes nor drops them, and the body's
// buffer is zeroed whether the body parsed or not.
func TestPayZeroes(t *testing.T) {
	e := newEnv(t)
	e.desk.keep = true
	var buffers int
	e.h.bodyZeroed = func(b []byte) {
		buffers++
		if len(b) != MaxPayBody+1 {
			t.Errorf("buffer of %d bytes", len(b))
		}
		for i, c := range b {
			if c != 0 {
				t.Fatalf("body buffer byte %d is %q after the request", i, c)
			}
		}
	}
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: goodBody}), 200, "", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: `{"fields":{"card_number":"4242x"}}`}), 400, "field_not_digits", nil)
	if buffers != 2 {
		t.Errorf("%d buffers seen, want 2", buffers)
	}
	e.desk.mu.Lock()
	n := len(e.desk.held)
	e.desk.mu.Unlock()
	if n != 4 {
		t.Fatalf("desk held %d slices, want 4", n)
	}
	if err := e.desk.allZero(); err != nil {
		t.Error(err)
	}
}

func TestPayBodies(t *testing.T) {
	e := newEnv(t, WithRateLimits(Limits{}))
	bad := []struct{ name, body, code string }{
		{"empty", ``, "bad_json"},
		{"not json", `card_number=4242424242424242`, "bad_json"},
		{"array", `[]`, "bad_json"},
		{"no fields", `{"cardholder_name":"A"}`, "missing_fields"},
		{"empty fields", `{"fields":{}}`, "missing_fields"},
		{"fields not an object", `{"fields":["4242"]}`, "bad_fields"},
		{"letters", `{"fields":{"card_number":"4242abcd"}}`, "field_not_digits"},
		{"number not string", `{"fields":{"card_number":4242424242424242}}`, "field_not_digits"},
		{"escape", `{"fields":{"card_number":"42\u0034242"}}`, "field_not_digits"},
		{"dash", `{"fields":{"expiry":"12-30"}}`, "field_not_digits"},
		{"too many digits", `{"fields":{"card_number":"` + strings.Repeat("4", 65) + `"}}`, "field_too_long"},
		{"bad id", `{"fields":{"Card Number":"4242"}}`, "bad_field_id"},
		{"duplicate field", `{"fields":{"expiry":"1230","expiry":"1231"}}`, "duplicate_field"},
		{"duplicate key", `{"fields":{"expiry":"1230"},"fields":{"expiry":"1230"}}`, "duplicate_key"},
		{"unknown key", `{"fields":{"expiry":"1230"},"amount":1}`, "unknown_key"},
		{"name not string", `{"fields":{"expiry":"1230"},"cardholder_name":5}`, "bad_cardholder_name"},
		{"name too long", `{"fields":{"expiry":"1230"},"cardholder_name":"` + strings.Repeat("a", 600) + `"}`, "cardholder_name_too_long"},
		{"trailing", `{"fields":{"expiry":"1230"}} x`, "bad_json"},
		{"unterminated", `{"fields":{"expiry":"1230`, "bad_json"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			var a apiError
			expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: b.body}), 400, b.code, &a)
			for _, digits := range []string{"4242", "1230", "1231"} {
				if strings.Contains(a.Error.Message, digits) {
					t.Errorf("message %q repeats a value", a.Error.Message)
				}
			}
		})
	}
	e.desk.mu.Lock()
	n := len(e.desk.cards)
	e.desk.mu.Unlock()
	if n != 0 {
		t.Errorf("the desk got %d refused bodies", n)
	}
}

func TestPayTooLarge(t *testing.T) {
	e := newEnv(t)
	big := `{"fields":{"card_number":"4242424242424242"},"cardholder_name":"` + strings.Repeat("a", MaxPayBody) + `"}`
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: big}), 413, "body_too_large", nil)
	// No Content-Length (chunked): the read itself stops at the bound.
	hr := httptest.NewRequest("POST", "/pay/api/pay", io.MultiReader(strings.NewReader(big)))
	hr.ContentLength = -1
	hr.Header.Set("Authorization", "Bearer "+testToken)
	hr.Header.Set("Origin", testOrigin)
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-CSRF-Token", e.h.csrfToken(tokenHash(testToken)))
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	expect(t, rec.Result(), 413, "body_too_large", nil)
	// At the bound exactly, the body is read (and refused for its name).
	exact := `{"fields":{"expiry":"1230"},"cardholder_name":"` + strings.Repeat("a", MaxPayBody-49) + `"}`
	if len(exact) != MaxPayBody {
		t.Fatalf("exact body of %d bytes", len(exact))
	}
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: exact}), 400, "cardholder_name_too_long", nil)
}

func TestPostGuards(t *testing.T) {
	e := newEnv(t, WithRateLimits(Limits{})) // no limits: the guards alone
	const tok = "tok_guard"
	csrf := e.h.csrfToken(tokenHash(tok))
	tests := []struct {
		name   string
		hdr    map[string]string
		bare   bool
		status int
		code   string
	}{
		{"the page", nil, false, 200, ""},
		{"no CSRF token", map[string]string{"X-CSRF-Token": ""}, false, 403, "bad_csrf"},
		{"wrong CSRF token", map[string]string{"X-CSRF-Token": csrf[:len(csrf)-2] + "AA"}, false, 403, "bad_csrf"},
		{"another link's CSRF token", map[string]string{"X-CSRF-Token": e.h.csrfToken(tokenHash("tok_other"))}, false, 403, "bad_csrf"},
		{"another site", map[string]string{"Origin": "https://evil.example"}, false, 403, "bad_origin"},
		{"another port", map[string]string{"Origin": "http://example.com:8080"}, false, 403, "bad_origin"},
		{"https for http", map[string]string{"Origin": "https://example.com"}, false, 403, "bad_origin"},
		{"null origin", map[string]string{"Origin": "null"}, false, 403, "bad_origin"},
		{"no origin, same-origin fetch", map[string]string{"Origin": "", "Sec-Fetch-Site": "same-origin"}, false, 200, ""},
		{"no origin, cross-site fetch", map[string]string{"Origin": "", "Sec-Fetch-Site": "cross-site"}, false, 403, "bad_origin"},
		{"no origin, no fetch metadata", map[string]string{"Origin": ""}, false, 403, "bad_origin"},
		{"form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, false, 415, "unsupported_media_type"},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, false, 415, "unsupported_media_type"},
		{"no content type", map[string]string{"Content-Type": ""}, false, 415, "unsupported_media_type"},
		{"json with charset", map[string]string{"Content-Type": "application/json; charset=utf-8"}, false, 200, ""},
		{"nothing of the page", nil, true, 403, "bad_origin"},
	}
	bodies := map[string]string{
		"/pay/api/progress": `{"field":"card_number","length":3}`,
		"/pay/api/presence": `{"present":true}`,
		"/pay/api/pay":      goodBody,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for p, body := range bodies {
				e.desk.add(tok, payment.LinkOpened) // afresh: the last case may have paid
				status := tt.status
				if status == 200 && p != "/pay/api/pay" {
					status = 204
				}
				expect(t, e.do(req{method: "POST", path: p, token: tok, body: body, hdr: tt.hdr, bare: tt.bare}), status, tt.code, nil)
			}
		})
	}
}

func TestPublicOrigin(t *testing.T) {
	e := newEnv(t, WithPublicOrigin("HTTPS://Pay.Example.COM:443/"))
	body := `{"present":true}`
	expect(t, e.do(req{method: "POST", path: "/pay/api/presence", token: testToken, body: body, hdr: map[string]string{"Origin": "https://pay.example.com"}}), 204, "", nil)
	// The request's own Host no longer counts.
	expect(t, e.do(req{method: "POST", path: "/pay/api/presence", token: testToken, body: body}), 403, "bad_origin", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/presence", token: testToken, body: body, hdr: map[string]string{"Origin": "http://pay.example.com"}}), 403, "bad_origin", nil)
	for _, bad := range []string{"", "pay.example.com", "ftp://pay.example.com", "https://", "https://pay.example.com/pay/", "https://u@pay.example.com", "https://pay.example.com?x=1", "https://pay.example.com#f"} {
		if _, err := New(newFakeDesk(), WithPublicOrigin(bad)); err == nil {
			t.Errorf("public origin %q accepted", bad)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New without a desk")
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path string
		status       int
		ctype, cache string
		allow        string
	}{
		{"GET", "/pay/", 200, "text/html; charset=utf-8", "no-store", ""},
		{"HEAD", "/pay/", 200, "text/html; charset=utf-8", "no-store", ""},
		{"GET", "/pay/assets/page.js", 200, "text/javascript; charset=utf-8", "no-cache", ""},
		{"GET", "/pay/assets/page.css", 200, "text/css; charset=utf-8", "no-cache", ""},
		{"GET", "/pay/assets/icon.svg", 200, "image/svg+xml", "no-cache", ""},
		{"GET", "/pay/integrity.json", 200, "application/json", "no-store", ""},
		{"GET", "/pay/index.html", 404, "application/json", "no-store", ""},
		{"GET", "/pay/assets/", 404, "application/json", "no-store", ""},
		{"GET", "/pay/assets/nope.js", 404, "application/json", "no-store", ""},
		{"GET", "/pay/assets/../index.html", 404, "application/json", "no-store", ""},
		{"GET", "/pay/assets//page.js", 404, "application/json", "no-store", ""},
		{"GET", "/pay/api/", 404, "application/json", "no-store", ""},
		{"GET", "/pay/api/nope", 404, "application/json", "no-store", ""},
		{"GET", "/pay/x", 404, "application/json", "no-store", ""},
		{"GET", "/elsewhere", 404, "application/json", "no-store", ""},
		{"POST", "/pay/", 405, "application/json", "no-store", "GET, HEAD"},
		{"DELETE", "/pay/assets/page.js", 405, "application/json", "no-store", "GET, HEAD"},
		{"POST", "/pay/api/session", 405, "application/json", "no-store", "GET"},
		{"GET", "/pay/api/pay", 405, "application/json", "no-store", "POST"},
		{"PUT", "/pay/api/progress", 405, "application/json", "no-store", "POST"},
		{"GET", "/pay/api/presence", 405, "application/json", "no-store", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			hr := httptest.NewRequest(tt.method, "/", nil)
			hr.URL.Path = tt.path // as a mux would hand it on, uncleaned
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, hr)
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if got := res.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := res.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if got := res.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			checkSecurityHeaders(t, tt.method+" "+tt.path, res, false)
			body, _ := io.ReadAll(res.Body)
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered %d bytes", len(body))
			}
		})
	}
}

func TestAssetETag(t *testing.T) {
	e := newEnv(t)
	res := e.do(req{method: "GET", path: "/pay/assets/page.js"})
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on an asset")
	}
	res = e.do(req{method: "GET", path: "/pay/assets/page.js", hdr: map[string]string{"If-None-Match": etag}})
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", res.StatusCode)
	}
}

// TestSecurityHeadersEverywhere: every kind of answer, the refusals
// included, carries the headers; HSTS only when asked for.
func TestSecurityHeadersEverywhere(t *testing.T) {
	for _, hsts := range []bool{false, true} {
		e := newEnv(t, WithHSTS(hsts), WithRateLimits(Limits{PagePerLink: 1}))
		reqs := []req{
			{method: "GET", path: "/pay/"},
			{method: "GET", path: "/pay/assets/page.js"},
			{method: "GET", path: "/pay/integrity.json"},
			{method: "GET", path: "/pay/nope"},
			{method: "POST", path: "/pay/"},
			{method: "GET", path: "/pay/api/session", token: testToken},
			{method: "GET", path: "/pay/api/session", token: testToken}, // 429
			{method: "GET", path: "/pay/api/session"},
			{method: "POST", path: "/pay/api/pay", token: testToken, body: "{}", bare: true},
			{method: "POST", path: "/pay/api/pay", token: testToken, body: strings.Repeat("x", MaxPayBody+1)},
			{method: "POST", path: "/pay/api/pay", token: testToken, body: goodBody},
		}
		statuses := map[int]bool{}
		for _, r := range reqs {
			var body io.Reader = strings.NewReader(r.body)
			hr := httptest.NewRequest(r.method, r.path, body)
			hr.RemoteAddr = testAddr
			if r.token != "" {
				hr.Header.Set("Authorization", "Bearer "+r.token)
			}
			if r.method == "POST" && !r.bare {
				hr.Header.Set("Origin", testOrigin)
				hr.Header.Set("Content-Type", "application/json")
				hr.Header.Set("X-CSRF-Token", e.h.csrfToken(tokenHash(r.token)))
			}
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, hr)
			statuses[rec.Code] = true
			checkSecurityHeaders(t, r.method+" "+r.path, rec.Result(), hsts)
		}
		for _, s := range []int{200, 401, 403, 404, 405, 413, 429} {
			if !statuses[s] {
				t.Errorf("no %d among the answers checked", s)
			}
		}
	}
}

func TestLogsRouteAndStatusOnly(t *testing.T) {
	e := newEnv(t)
	expect(t, e.do(req{method: "GET", path: "/pay/api/session", token: testToken}), 200, "", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: `{"fields":{"card_number":"4242x"}}`}), 400, "field_not_digits", nil)
	lines := strings.Split(strings.TrimSpace(e.log.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), e.log.String())
	}
	for i, want := range []struct {
		route  string
		status int
	}{{"session", 200}, {"pay", 400}} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "time")
		delete(m, "level")
		delete(m, "msg")
		if len(m) != 2 || m["route"] != want.route || m["status"] != float64(want.status) {
			t.Errorf("log line %d has %v, want route %s and status %d only", i, m, want.route, want.status)
		}
	}
}

// TestCanaryNeverLogged runs the whole flow, every error path too, with a
// canary card and token, and searches the log and every answer.
func TestCanaryNeverLogged(t *testing.T) {
	const canaryToken = "canary_TOKEN-7f3a9c"
	e := newEnv(t)
	e.desk.add(canaryToken, payment.LinkSent)
	var answers bytes.Buffer
	keep := func(res *http.Response) {
		body, _ := io.ReadAll(res.Body)
		answers.Write(body)
		for k, vs := range res.Header {
			answers.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
	}
	keep(e.do(req{method: "GET", path: "/pay/api/session", token: canaryToken}))
	keep(e.do(req{method: "POST", path: "/pay/api/presence", token: canaryToken, body: `{"present":true}`}))
	for n := 1; n <= 16; n++ {
		keep(e.do(req{method: "POST", path: "/pay/api/progress", token: canaryToken, body: `{"field":"card_number","length":` + strconv.Itoa(n) + `}`}))
	}
	keep(e.do(req{method: "POST", path: "/pay/api/pay", token: canaryToken, body: `{"fields":{"card_number":"` + goodCard + `x"}}`}))
	keep(e.do(req{method: "POST", path: "/pay/api/pay", token: canaryToken, body: `{"fields":{"card_number":` + goodCard + `}}`}))
	keep(e.do(req{method: "POST", path: "/pay/api/pay", token: canaryToken, body: `{"fields":{"card_number":"` + goodCard + `"},"cardholder_name":"` + goodCard + `"}`}))
	keep(e.do(req{method: "POST", path: "/pay/api/pay", token: canaryToken, body: strings.Replace(goodBody, "4242 4242 4242 4242", goodCard, 1)}))
	keep(e.do(req{method: "POST", path: "/pay/api/pay", token: canaryToken, body: goodBody}))
	keep(e.do(req{method: "POST", path: "/pay/api/presence", token: canaryToken, body: `{"present":false}`, hdr: map[string]string{"X-CSRF-Token": goodCard}}))
	if e.desk.state(canaryToken) != payment.LinkPaid {
		t.Fatal("the canary flow did not pay")
	}
	log := e.log.String()
	if !strings.Contains(log, `"route":"pay"`) {
		t.Fatalf("the log has no pay line:\n%s", log)
	}
	for _, secret := range []string{canaryToken, goodCard, goodCard[:8], "4242 4242", tokenHashHex(canaryToken)} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds %q:\n%s", secret, log)
		}
	}
	for _, secret := range []string{canaryToken, goodCard, "4242 4242"} {
		if strings.Contains(answers.String(), secret) {
			t.Errorf("an answer holds %q", secret)
		}
	}
}

// tokenHashHex is a token's hash as a careless log line might print it.
func tokenHashHex(token string) string {
	h := tokenHash(token)
	return hex.EncodeToString(h[:])
}
