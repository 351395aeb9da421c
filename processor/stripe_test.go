package processor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
)

const testStripeKey = "sk_test_dtmfgw"

func noRetries() Option {
	return func(o *options) {
		n := int64(0)
		o.maxRetries = &n
	}
}

func newTestStripe(t *testing.T, baseURL string, logs *testkit.Buffer, opts ...Option) *Stripe {
	t.Helper()
	if logs == nil {
		logs = &testkit.Buffer{}
	}
	all := append([]Option{WithLogger(debugLogger(logs)), noRetries()}, opts...)
	p, err := New("stripe", Config{Type: TypeStripe, APIKey: testStripeKey, BaseURL: baseURL}, all...)
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Stripe)
}

func isPost(r recorded, path string) bool { return r.Method == http.MethodPost && r.Path == path }

const (
	pathPM     = "/v1/payment_methods"
	pathPI     = "/v1/payment_intents"
	pathSearch = "/v1/payment_intents/search"
)

// setIntent makes stripe-mock's PaymentIntent answer say status (its
// fixture always says requires_payment_method).
func setIntent(t *testing.T, status string, lastError map[string]any) func(recorded, *answer) {
	return func(r recorded, a *answer) {
		if isPost(r, pathPI) {
			editJSON(t, a, func(o map[string]any) {
				o["status"] = status
				o["last_payment_error"] = nil
				if lastError != nil {
					o["last_payment_error"] = lastError
				}
			})
		}
	}
}

func form(t *testing.T, body string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(body)
	if err != nil {
		t.Fatalf("request body is not a form: %v", err)
	}
	return v
}

func TestStripeApproved(t *testing.T) {
	p := newMockProxy(t)
	p.setRewrite(setIntent(t, "succeeded", nil))
	var zeroed []byte
	var zeroedCalls int
	s := newTestStripe(t, p.URL(), nil, func(o *options) {
		o.bodyZeroed = func(b []byte) { zeroed = append([]byte(nil), b...); zeroedCalls++ }
	})
	res, err := s.Charge(t.Context(), cardRequest("approve-1", canaryPAN))
	if err != nil || res.Status != Approved || !strings.HasPrefix(res.Reference, "pi_") || res.DeclineCode != "" {
		t.Fatalf("Charge = %+v, %v; want Approved with a pi_ reference", res, err)
	}

	reqs := p.requests()
	if len(reqs) != 2 || !isPost(reqs[0], pathPM) || !isPost(reqs[1], pathPI) {
		t.Fatalf("requests = %+v, want POST %s then POST %s", reqs, pathPM, pathPI)
	}
	pm, pi := reqs[0], reqs[1]
	for _, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testStripeKey {
			t.Errorf("%s Authorization = %q", r.Path, got)
		}
	}
	if got := pm.Header.Get("Idempotency-Key"); got != "approve-1:pm" {
		t.Errorf("PaymentMethod Idempotency-Key = %q, want approve-1:pm", got)
	}
	if got := pi.Header.Get("Idempotency-Key"); got != "approve-1:pi" {
		t.Errorf("PaymentIntent Idempotency-Key = %q, want approve-1:pi", got)
	}
	// The card goes in the PaymentMethod request, and only there.
	wantPM := map[string]string{
		"type": "card", "card[number]": canaryPAN, "card[exp_month]": "12", "card[exp_year]": "2031", "card[cvc]": "739",
		"billing_details[address][postal_code]": "SW1A 1AA", "billing_details[name]": "Ada Lovelace",
	}
	gotPM := form(t, pm.Body)
	for k, v := range wantPM {
		if gotPM.Get(k) != v {
			t.Errorf("PaymentMethod %s = %q, want %q", k, gotPM.Get(k), v)
		}
	}
	if len(gotPM) != len(wantPM) {
		t.Errorf("PaymentMethod form = %v, want exactly %v", gotPM, wantPM)
	}
	gotPI := form(t, pi.Body)
	wantPI := map[string]string{
		"amount": "1250", "currency": "gbp", "confirm": "true", "payment_method_types[0]": "card",
		"metadata[" + MetadataIdempotencyKey + "]": "approve-1", "metadata[" + MetadataReference + "]": "order-42",
		"description": "order-42",
	}
	for k, v := range wantPI {
		if gotPI.Get(k) != v {
			t.Errorf("PaymentIntent %s = %q, want %q", k, gotPI.Get(k), v)
		}
	}
	if !strings.HasPrefix(gotPI.Get("payment_method"), "pm_") {
		t.Errorf("PaymentIntent payment_method = %q, want stripe-mock's pm_ id", gotPI.Get("payment_method"))
	}
	if strings.Contains(pi.Body, canaryPAN) || strings.Contains(pi.Body, canaryMiddle) || strings.Contains(pi.Body, "739") {
		t.Errorf("card data in the PaymentIntent request: %s", pi.Body)
	}
	// Our copy of the card is zeroed once the request is over.
	if zeroedCalls != 1 || len(zeroed) == 0 {
		t.Fatalf("body zeroed %d times (%d bytes), want once", zeroedCalls, len(zeroed))
	}
	for i, c := range zeroed {
		if c != 0 {
			t.Fatalf("request body byte %d is %q after the call, want 0", i, c)
		}
	}
}

func TestStripeMOTO(t *testing.T) {
	p := newMockProxy(t)
	p.setRewrite(setIntent(t, "succeeded", nil))
	c, err := New("stripe", Config{Type: TypeStripe, APIKey: testStripeKey, BaseURL: p.URL(), MOTO: true}, noRetries())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Charge(t.Context(), cardRequest("moto-1", "4242424242424242")); err != nil || res.Status != Approved {
		t.Fatalf("Charge = %+v, %v", res, err)
	}
	reqs := p.requests()
	if got := form(t, reqs[len(reqs)-1].Body).Get("payment_method_options[card][moto]"); got != "true" {
		t.Errorf("payment_method_options[card][moto] = %q, want true", got)
	}
}

// Each way Stripe can answer the PaymentIntent (or the PaymentMethod)
// becomes the right Status. stripe-mock cannot decline a card: its
// answers are rewritten into the shapes Stripe documents.
func TestStripeOutcomes(t *testing.T) {
	cardError := func(code, decline, msg string) map[string]any {
		e := map[string]any{"type": "card_error", "code": code, "message": msg}
		if decline != "" {
			e["decline_code"] = decline
		}
		return e
	}
	errorBody := func(status int, e map[string]any) func(*testing.T, recorded, *answer) {
		return func(t *testing.T, r recorded, a *answer) { replaceJSON(t, a, status, map[string]any{"error": e}) }
	}
	cases := []struct {
		name     string
		stage    string // the request whose answer changes
		answer   func(*testing.T, recorded, *answer)
		status   Status
		decline  string
		err      error
		piSent   bool // whether the PaymentIntent request went out
		wantsRef bool
	}{
		{name: "succeeded", stage: pathPI, answer: intentStatus("succeeded", nil), status: Approved, piSent: true, wantsRef: true},
		{name: "requires-capture", stage: pathPI, answer: intentStatus("requires_capture", nil), status: Approved, piSent: true, wantsRef: true},
		{name: "processing", stage: pathPI, answer: intentStatus("processing", nil), status: Unknown, piSent: true, wantsRef: true},
		{name: "stripe-mock-fixture-as-is", stage: "", status: Declined, decline: "card_declined", piSent: true, wantsRef: true},
		{name: "declined-do-not-honor", stage: pathPI, answer: intentStatus("requires_payment_method", cardError("card_declined", "do_not_honor", "Your card was declined.")), status: Declined, decline: "do_not_honor", piSent: true, wantsRef: true},
		{name: "requires-action", stage: pathPI, answer: intentStatus("requires_action", nil), status: Declined, decline: "authentication_required", piSent: true, wantsRef: true},
		{name: "canceled", stage: pathPI, answer: intentStatus("canceled", nil), status: Failed, piSent: true, wantsRef: true},
		{name: "402-insufficient-funds", stage: pathPI, answer: func(t *testing.T, r recorded, a *answer) {
			e := cardError("card_declined", "insufficient_funds", "Your card has insufficient funds.")
			e["payment_intent"] = map[string]any{"id": "pi_declined1", "object": "payment_intent", "status": "requires_payment_method"}
			replaceJSON(t, a, http.StatusPaymentRequired, map[string]any{"error": e})
		}, status: Declined, decline: "insufficient_funds", piSent: true, wantsRef: true},
		{name: "402-expired-no-decline-code", stage: pathPI, answer: errorBody(402, cardError("expired_card", "", "Your card has expired.")), status: Declined, decline: "expired_card", piSent: true},
		{name: "400-invalid-request", stage: pathPI, answer: errorBody(400, map[string]any{"type": "invalid_request_error", "code": "parameter_missing", "param": "amount"}), status: Failed, err: ErrProcessor, piSent: true},
		{name: "401-bad-key", stage: pathPI, answer: errorBody(401, map[string]any{"type": "invalid_request_error", "message": "Invalid API Key provided"}), status: Failed, err: ErrProcessor, piSent: true},
		{name: "429-rate-limited", stage: pathPI, answer: errorBody(429, map[string]any{"type": "invalid_request_error", "code": "rate_limit"}), status: Failed, err: ErrProcessor, piSent: true},
		{name: "idempotency-mismatch", stage: pathPI, answer: errorBody(400, map[string]any{"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}), status: Failed, err: ErrIdempotencyMismatch, piSent: true},
		{name: "500-outcome-open", stage: pathPI, answer: errorBody(500, map[string]any{"type": "api_error"}), status: Unknown, err: ErrProcessor, piSent: true},
		{name: "409-concurrent", stage: pathPI, answer: errorBody(409, map[string]any{"type": "invalid_request_error", "code": "idempotency_key_in_use"}), status: Unknown, err: ErrProcessor, piSent: true},
		{name: "502-not-json", stage: pathPI, answer: func(t *testing.T, r recorded, a *answer) {
			a.status, a.body = http.StatusBadGateway, []byte("<html>bad gateway</html>")
		}, status: Unknown, err: ErrTransport, piSent: true},
		{name: "pm-incorrect-number", stage: pathPM, answer: errorBody(402, cardError("incorrect_number", "", "Your card number is incorrect.")), status: Declined, decline: "incorrect_number"},
		{name: "pm-500", stage: pathPM, answer: errorBody(500, map[string]any{"type": "api_error"}), status: Failed, err: ErrProcessor},
		{name: "pm-not-json", stage: pathPM, answer: func(t *testing.T, r recorded, a *answer) { a.status, a.body = 200, []byte("not json") }, status: Failed, err: ErrTransport},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newMockProxy(t)
			if tc.answer != nil {
				p.setRewrite(func(r recorded, a *answer) {
					if isPost(r, tc.stage) {
						tc.answer(t, r, a)
					}
				})
			}
			s := newTestStripe(t, p.URL(), nil)
			res, err := s.Charge(t.Context(), cardRequest("outcome-"+tc.name, canaryPAN))
			if res.Status != tc.status || res.DeclineCode != tc.decline {
				t.Errorf("Charge = %+v, want %v %q", res, tc.status, tc.decline)
			}
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("Charge error = %v, want %v", err, tc.err)
			}
			if tc.wantsRef != strings.HasPrefix(res.Reference, "pi_") {
				t.Errorf("Reference = %q", res.Reference)
			}
			if res.Message == "" {
				t.Error("no Message")
			}
			reqs := p.requests()
			if sent := len(reqs) == 2 && isPost(reqs[1], pathPI); sent != tc.piSent {
				t.Errorf("PaymentIntent sent = %v, want %v (requests %d)", sent, tc.piSent, len(reqs))
			}
			var ae *APIError
			if errors.As(err, &ae) && (ae.Processor != "stripe" || ae.HTTPStatus == 0 || ae.Type == "") {
				t.Errorf("APIError = %+v", ae)
			}
		})
	}
}

func intentStatus(status string, lastError map[string]any) func(*testing.T, recorded, *answer) {
	return func(t *testing.T, r recorded, a *answer) { setIntent(t, status, lastError)(r, a) }
}

// The same key twice sends the same requests under the same
// Idempotency-Keys, so Stripe replays its first answer; the client's own
// retry after a 500 reuses the key too.
func TestStripeIdempotencyKeys(t *testing.T) {
	p := newMockProxy(t)
	p.setRewrite(setIntent(t, "succeeded", nil))
	s := newTestStripe(t, p.URL(), nil)
	for range 2 {
		if res, err := s.Charge(t.Context(), cardRequest("same-key", canaryPAN)); err != nil || res.Status != Approved {
			t.Fatalf("Charge = %+v, %v", res, err)
		}
	}
	reqs := p.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i := range 2 {
		a, b := reqs[i], reqs[i+2]
		if a.Path != b.Path || a.Header.Get("Idempotency-Key") != b.Header.Get("Idempotency-Key") || a.Header.Get("Idempotency-Key") == "" {
			t.Errorf("replayed %s differs: key %q vs %q", a.Path, a.Header.Get("Idempotency-Key"), b.Header.Get("Idempotency-Key"))
		}
		// Stripe replays the PaymentMethod's first answer under its key,
		// so the PaymentIntents would be identical; stateless stripe-mock
		// makes a new pm_ id each time, so that one field differs here.
		fa, fb := form(t, a.Body), form(t, b.Body)
		fa.Del("payment_method")
		fb.Del("payment_method")
		if fa.Encode() != fb.Encode() {
			t.Errorf("replayed %s body differs:\n%s\n%s", a.Path, fa.Encode(), fb.Encode())
		}
	}

	// The PaymentIntent's answer is lost (the connection drops) and the
	// request is sent again — by net/http itself, which treats a request
	// with an Idempotency-Key as replayable, or else by the client's
	// retry — under the same key, so Stripe answers with the first
	// outcome instead of charging twice.
	p2 := newMockProxy(t)
	var mu sync.Mutex
	failed := false
	p2.setRewrite(func(r recorded, a *answer) {
		if !isPost(r, pathPI) {
			return
		}
		mu.Lock()
		first := !failed
		failed = true
		mu.Unlock()
		if first {
			a.drop = true
			return
		}
		setIntent(t, "succeeded", nil)(r, a)
	})
	one := int64(1)
	s2 := newTestStripe(t, p2.URL(), nil, func(o *options) { o.maxRetries, o.noRetrySleep = &one, true })
	if res, err := s2.Charge(t.Context(), cardRequest("retried", canaryPAN)); err != nil || res.Status != Approved {
		t.Fatalf("Charge after a lost answer = %+v, %v", res, err)
	}
	reqs = p2.requests()
	if len(reqs) != 3 || !isPost(reqs[1], pathPI) || !isPost(reqs[2], pathPI) {
		t.Fatalf("requests = %d, want PaymentMethod, PaymentIntent, PaymentIntent again", len(reqs))
	}
	if k1, k2 := reqs[1].Header.Get("Idempotency-Key"), reqs[2].Header.Get("Idempotency-Key"); k1 != "retried:pi" || k2 != k1 {
		t.Errorf("retry keys %q, %q; want retried:pi twice", k1, k2)
	}
}

// A PaymentIntent that gets no answer is Unknown; Reconcile then finds it
// by its metadata.
func TestStripeTimeoutThenReconcile(t *testing.T) {
	cases := []struct {
		name     string
		deadline bool // the context's deadline ends the call, else the caller cancels
	}{{"caller-cancels", false}, {"deadline", true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newMockProxy(t)
			p.setHold(func(r recorded) bool { return isPost(r, pathPI) })
			s := newTestStripe(t, p.URL(), nil)
			key := "timeout-" + tc.name

			var ctx context.Context
			var cancel context.CancelFunc
			if tc.deadline {
				ctx, cancel = context.WithTimeout(t.Context(), 500*time.Millisecond)
			} else {
				ctx, cancel = context.WithCancel(t.Context())
				go func() {
					<-p.held // the PaymentIntent is at the processor; the answer never comes
					cancel()
				}()
			}
			defer cancel()
			res, err := s.Charge(ctx, cardRequest(key, canaryPAN))
			if res.Status != Unknown || err == nil {
				t.Fatalf("Charge = %+v, %v; want Unknown with an error", res, err)
			}
			if tc.deadline != errors.Is(err, ErrTimeout) || !tc.deadline && !errors.Is(err, context.Canceled) {
				t.Errorf("Charge error = %v", err)
			}

			// Reconcile searches by metadata. stripe-mock's search answers
			// with a fixture that matches nothing, so the proxy marks it as
			// ours and succeeded, as Stripe would.
			p.setHold(nil)
			p.setRewrite(func(r recorded, a *answer) {
				if r.Path == pathSearch {
					editJSON(t, a, func(o map[string]any) {
						data := o["data"].([]any)
						pi := data[0].(map[string]any)
						pi["metadata"] = map[string]any{MetadataIdempotencyKey: key}
						pi["status"] = "succeeded"
						pi["last_payment_error"] = nil
						// A result that is not ours is ignored.
						other := map[string]any{"id": "pi_other", "object": "payment_intent", "status": "succeeded", "metadata": map[string]any{MetadataIdempotencyKey: "someone-else"}}
						o["data"] = []any{other, pi}
					})
				}
			})
			rec, err := s.Reconcile(t.Context(), key)
			if err != nil || rec.Status != Approved || !strings.HasPrefix(rec.Reference, "pi_") || rec.Reference == "pi_other" {
				t.Fatalf("Reconcile = %+v, %v; want Approved", rec, err)
			}
			reqs := p.requests()
			last := reqs[len(reqs)-1]
			if last.Method != http.MethodGet || last.Path != pathSearch {
				t.Fatalf("Reconcile sent %s %s, want GET %s", last.Method, last.Path, pathSearch)
			}
			q, _ := url.ParseQuery(last.Query)
			if want := fmt.Sprintf("metadata['%s']:'%s'", MetadataIdempotencyKey, key); q.Get("query") != want {
				t.Errorf("search query = %q, want %q", q.Get("query"), want)
			}
			for _, r := range reqs {
				if r.Method == http.MethodPost && r.Header.Get("Idempotency-Key") == "" {
					t.Errorf("POST %s without Idempotency-Key", r.Path)
				}
			}
			// Reconcile never charges.
			for _, r := range reqs[2:] {
				if r.Method != http.MethodGet {
					t.Errorf("Reconcile sent %s %s", r.Method, r.Path)
				}
			}
		})
	}
}

// A PaymentMethod request without an answer charged nothing: Failed.
func TestStripePaymentMethodTimeoutIsFailed(t *testing.T) {
	p := newMockProxy(t)
	p.setHold(func(r recorded) bool { return isPost(r, pathPM) })
	s := newTestStripe(t, p.URL(), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	res, err := s.Charge(ctx, cardRequest("pm-timeout", canaryPAN))
	if res.Status != Failed || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Charge = %+v, %v; want Failed, ErrTimeout", res, err)
	}
	if n := len(p.requests()); n != 1 {
		t.Errorf("%d requests, want only the PaymentMethod", n)
	}
}

func TestStripeReconcileNotFound(t *testing.T) {
	p := newMockProxy(t) // stripe-mock's search fixture carries no metadata of ours
	s := newTestStripe(t, p.URL(), nil)
	res, err := s.Reconcile(t.Context(), "never-charged")
	if res.Status != Unknown || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Reconcile = %+v, %v; want Unknown, ErrNotFound", res, err)
	}
	if reqs := p.requests(); len(reqs) != 2 || reqs[0].Path != pathSearch || reqs[1].Path != "/v1/customers/search" {
		t.Errorf("requests = %+v, want the PaymentIntents' search, then the Customers' (a card saved)", reqs)
	}
	if res, err := s.Reconcile(t.Context(), "bad key"); res.Status != Unknown || !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Reconcile(bad key) = %+v, %v", res, err)
	}
}

// A charge left processing is reconciled by retrieving its PaymentIntent
// by id, which (unlike search) is consistent at once.
func TestStripeReconcileKnownIntent(t *testing.T) {
	p := newMockProxy(t)
	p.setRewrite(setIntent(t, "processing", nil))
	s := newTestStripe(t, p.URL(), nil)
	res, err := s.Charge(t.Context(), cardRequest("processing-1", canaryPAN))
	if err != nil || res.Status != Unknown || res.Reference == "" {
		t.Fatalf("Charge = %+v, %v; want Unknown with a reference", res, err)
	}
	p.setRewrite(func(r recorded, a *answer) {
		if r.Method == http.MethodGet && r.Path == pathPI+"/"+res.Reference {
			editJSON(t, a, func(o map[string]any) {
				o["status"] = "succeeded"
				o["last_payment_error"] = nil
			})
		}
	})
	rec, err := s.Reconcile(t.Context(), "processing-1")
	if err != nil || rec.Status != Approved || rec.Reference != res.Reference {
		t.Fatalf("Reconcile = %+v, %v; want Approved %s", rec, err, res.Reference)
	}
	reqs := p.requests()
	if last := reqs[len(reqs)-1]; last.Method != http.MethodGet || last.Path != pathPI+"/"+res.Reference {
		t.Errorf("Reconcile sent %s %s", last.Method, last.Path)
	}
}

func TestStripeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s := newTestStripe(t, "http://"+addr, nil)
	res, err := s.Charge(t.Context(), cardRequest("unreachable", canaryPAN))
	if res.Status != Failed || !errors.Is(err, ErrTransport) || !strings.Contains(err.Error(), pathPM) {
		t.Errorf("Charge = %+v, %v; want Failed, ErrTransport naming the request", res, err)
	}
}

// The canary: wherever the far end echoes the card (an error message, a
// code, an id, a body that is not JSON), nothing of it reaches a Result,
// an error or a log line.
func TestStripeCanary(t *testing.T) {
	echo := func(t *testing.T, r recorded, a *answer) {
		replaceJSON(t, a, 400, map[string]any{"error": map[string]any{
			"type": "invalid_request_error", "code": "bad_" + canaryPAN, "param": "card[number]=" + canaryPAN,
			"message": "Invalid card number " + canaryPAN, "request_id": "req_" + canaryPAN,
			"decline_code": canaryMiddle, "doc_url": "https://x/" + canaryPAN,
		}})
	}
	cases := []struct {
		name  string
		stage string
		fn    func(*testing.T, recorded, *answer)
	}{
		{"approved", pathPI, intentStatus("succeeded", nil)},
		{"pm-error-echoes-card", pathPM, echo},
		{"pi-error-echoes-card", pathPI, echo},
		{"pm-not-json-echoes-body", pathPM, func(t *testing.T, r recorded, a *answer) { a.status, a.body = 502, []byte(r.Body) }},
		{"pm-json-without-error-echoes-body", pathPM, func(t *testing.T, r recorded, a *answer) {
			replaceJSON(t, a, 400, map[string]any{"echo": r.Body})
		}},
		{"pm-id-is-the-card", pathPM, func(t *testing.T, r recorded, a *answer) {
			editJSON(t, a, func(o map[string]any) { o["id"] = "pm_" + canaryPAN })
		}},
		{"pi-card-error-echoes-card", pathPI, func(t *testing.T, r recorded, a *answer) {
			replaceJSON(t, a, 402, map[string]any{"error": map[string]any{
				"type": "card_error", "code": "card_declined", "decline_code": "x" + canaryPAN,
				"message": "Card " + canaryPAN + " declined", "payment_intent": map[string]any{"id": "pi_" + canaryPAN},
			}})
		}},
		{"pi-intent-echoes-card", pathPI, func(t *testing.T, r recorded, a *answer) {
			editJSON(t, a, func(o map[string]any) {
				o["id"] = "pi_" + canaryPAN
				o["last_payment_error"] = map[string]any{"type": "card_error", "code": canaryPAN, "message": "card " + canaryPAN}
			})
		}},
	}
	var logs testkit.Buffer
	var seen []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newMockProxy(t)
			p.setRewrite(func(r recorded, a *answer) {
				if isPost(r, tc.stage) {
					tc.fn(t, r, a)
				}
			})
			s := newTestStripe(t, p.URL(), &logs)
			res, err := s.Charge(t.Context(), cardRequest("canary-"+tc.name, canaryPAN))
			seen = append(seen, fmt.Sprintf("%+v %#v", res, res))
			if err != nil {
				seen = append(seen, err.Error(), fmt.Sprintf("%+v %#v", err, err))
			}
			// Positive control: the far end did receive the card.
			if reqs := p.requests(); len(reqs) == 0 || !strings.Contains(reqs[0].Body, canaryPAN) {
				t.Fatal("the card never reached the mock: the canary proves nothing")
			}
			rec, err := s.Reconcile(t.Context(), "canary-"+tc.name)
			seen = append(seen, fmt.Sprintf("%+v", rec))
			if err != nil {
				seen = append(seen, err.Error())
			}
		})
	}
	if !strings.Contains(logs.String(), "canary-approved") {
		t.Fatalf("no log line for the charges: %q", logs.String())
	}
	seen = append(seen, logs.String())
	for _, text := range seen {
		if strings.Contains(text, canaryPAN) || strings.Contains(text, canaryMiddle) {
			t.Errorf("card data in %q", text)
		}
	}
}

// A card saved, not charged: the PaymentMethod, a Customer, and a
// confirmed off-session SetupIntent attaching one to the other, each
// under its own idempotency key; the token is the PaymentMethod, the
// reference the SetupIntent. No PaymentIntent: nothing is charged. A
// SetupIntent left without an answer is reconciled by its id.
func TestStripeTokenize(t *testing.T) {
	p := newMockProxy(t)
	p.setRewrite(func(r recorded, a *answer) {
		if isPost(r, "/v1/setup_intents") || r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v1/setup_intents/") {
			editJSON(t, a, func(o map[string]any) {
				o["status"] = "succeeded"
				o["payment_method"] = "pm_saved_1"
			})
		}
	})
	var zeroed int
	s := newTestStripe(t, p.URL(), nil, func(o *options) {
		o.bodyZeroed = func([]byte) { zeroed++ }
	})
	req := cardRequest("save-1", canaryPAN)
	req.Tokenize, req.Amount = true, 0
	res, err := s.Charge(t.Context(), req)
	if err != nil || res.Status != Approved || res.Token != "pm_saved_1" || !strings.HasPrefix(res.Reference, "seti_") {
		t.Fatalf("Charge(tokenize) = %+v, %v; want Approved, token pm_saved_1, a seti_ reference", res, err)
	}
	reqs := p.requests()
	if len(reqs) != 3 || !isPost(reqs[0], pathPM) || !isPost(reqs[1], "/v1/customers") || !isPost(reqs[2], "/v1/setup_intents") {
		t.Fatalf("requests = %+v, want the PaymentMethod, the Customer, the SetupIntent", reqs)
	}
	for i, key := range []string{"save-1:pm", "save-1:cus", "save-1:si"} {
		if got := reqs[i].Header.Get("Idempotency-Key"); got != key {
			t.Errorf("%s Idempotency-Key = %q, want %q", reqs[i].Path, got, key)
		}
	}
	cus, si := form(t, reqs[1].Body), form(t, reqs[2].Body)
	if cus.Get("metadata["+MetadataIdempotencyKey+"]") != "save-1" || cus.Get("name") != "Ada Lovelace" {
		t.Errorf("Customer form = %v", cus)
	}
	want := map[string]string{"confirm": "true", "usage": "off_session", "payment_method_types[0]": "card",
		"metadata[" + MetadataIdempotencyKey + "]": "save-1"}
	for k, v := range want {
		if si.Get(k) != v {
			t.Errorf("SetupIntent %s = %q, want %q", k, si.Get(k), v)
		}
	}
	if !strings.HasPrefix(si.Get("customer"), "cus_") || !strings.HasPrefix(si.Get("payment_method"), "pm_") {
		t.Errorf("SetupIntent customer %q, payment_method %q", si.Get("customer"), si.Get("payment_method"))
	}
	for _, r := range reqs[1:] {
		if strings.Contains(r.Body, canaryPAN) || strings.Contains(r.Body, "739") {
			t.Errorf("card data in %s: %s", r.Path, r.Body)
		}
	}
	if zeroed != 1 {
		t.Errorf("card body zeroed %d times, want once", zeroed)
	}

	// Reconciled by the SetupIntent's id, known from the call.
	res2, err := s.Reconcile(t.Context(), "save-1")
	if err != nil || res2.Status != Approved || res2.Token != "pm_saved_1" || res2.Reference != res.Reference {
		t.Fatalf("Reconcile = %+v, %v", res2, err)
	}
	if last := p.requests()[len(p.requests())-1]; last.Method != http.MethodGet || last.Path != "/v1/setup_intents/"+res.Reference {
		t.Errorf("Reconcile asked %s %s", last.Method, last.Path)
	}

	// A declined card: the SetupIntent's last_setup_error.
	p.setRewrite(func(r recorded, a *answer) {
		if isPost(r, "/v1/setup_intents") {
			editJSON(t, a, func(o map[string]any) {
				o["status"] = "requires_payment_method"
				o["last_setup_error"] = map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}
			})
		}
	})
	req = cardRequest("save-2", canaryPAN)
	req.Tokenize, req.Amount = true, 0
	if res, err := s.Charge(t.Context(), req); err != nil || res.Status != Declined || res.DeclineCode != "insufficient_funds" || res.Token != "" {
		t.Errorf("declined save = %+v, %v", res, err)
	}
	// An amount with Tokenize is refused before anything is sent.
	req = cardRequest("save-3", canaryPAN)
	req.Tokenize = true
	if res, err := s.Charge(t.Context(), req); !errors.Is(err, ErrInvalidRequest) || res.Status != Failed {
		t.Errorf("tokenize with an amount = %+v, %v", res, err)
	}
}
