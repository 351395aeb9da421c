package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/tlstest"
	"dtmfgw/processor"
	"dtmfgw/webhook"
)

const (
	testUser   = "dtmfgw"
	testPass   = "receiver-password"
	testSecret = "payreceiver-signing-secret-0123456789"
)

// harness is the receiver behind a TLS server and dtmfgw's HTTP
// connector configured for it, as the package comment says.
type harness struct {
	rc      *receiver
	srv     *httptest.Server
	conn    processor.Processor
	logs    *testkit.Buffer
	mu      sync.Mutex
	headers []http.Header
	bodies  [][]byte
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{logs: &testkit.Buffer{}}
	env := map[string]string{"PAYRECEIVER_USERNAME": testUser, "PAYRECEIVER_PASSWORD": testPass, "PAYRECEIVER_SIGNING_SECRET": testSecret}
	rc, err := newReceiver(func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(h.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.rc = rc
	// Record what arrives, for the signature's cross-check.
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.headers, h.bodies = append(h.headers, r.Header.Clone()), append(h.bodies, body)
		h.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rc.ServeHTTP(w, r)
	}))
	cert := tlstest.SelfSigned(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	h.conn, err = processor.New("receiver", processor.Config{Type: processor.TypeHTTP, URL: h.srv.URL + "/pay",
		Username: testUser, Password: testPass, SigningSecret: testSecret, TLSCA: cert.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func card(key, pan string) *processor.Request {
	cvc := "123"
	if strings.HasPrefix(pan, "37") {
		cvc = "1234"
	}
	return &processor.Request{IdempotencyKey: key, PAN: []byte(pan), ExpMonth: 12, ExpYear: time.Now().Year() + 2,
		CVC: []byte(cvc), Postcode: []byte("SW1A 1AA"), Amount: 1250, Currency: "GBP", Reference: "order-42"}
}

// Every test card gives its documented outcome through the connector.
func TestTestCards(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		pan     string
		want    processor.Status
		decline string
	}{
		{"4242424242424242", processor.Approved, ""},
		{"5555555555554444", processor.Approved, ""},
		{"378282246310005", processor.Approved, ""},
		{"4000000000000002", processor.Declined, "do_not_honor"},
		{"4000000000009995", processor.Declined, "insufficient_funds"},
		{"4000000000005001", processor.Failed, "processing_error"},
		{"4242424242424241", processor.Declined, "incorrect_number"},
	}
	for i, c := range cases {
		res, err := h.conn.Charge(t.Context(), card("card-"+string(rune('a'+i)), c.pan))
		if res.Status != c.want || res.DeclineCode != c.decline || err != nil {
			t.Errorf("%s: %+v, %v; want %v %q", c.pan, res, err, c.want, c.decline)
		}
		if c.want == processor.Approved && !strings.HasPrefix(res.Reference, "ch_") {
			t.Errorf("%s: reference %q", c.pan, res.Reference)
		}
	}
	expired := card("card-expired", "4242424242424242")
	expired.ExpYear = 2020
	if res, _ := h.conn.Charge(t.Context(), expired); res.DeclineCode != "expired_card" {
		t.Errorf("expired: %+v", res)
	}
	if strings.Contains(h.logs.String(), "4242424242424242") || strings.Contains(h.logs.String(), "00000000") {
		t.Errorf("the receiver logged a card number:\n%s", h.logs.String())
	}
}

// A tokenize request saves the card and answers a token; a repeated key
// gets the first answer; the same key with another amount is refused.
func TestTokenizeAndIdempotency(t *testing.T) {
	h := newHarness(t)
	tok := card("tok-1", "4242424242424242")
	tok.Tokenize, tok.Amount = true, 0
	res, err := h.conn.Charge(t.Context(), tok)
	if err != nil || res.Status != processor.Approved || !strings.HasPrefix(res.Token, "tok_") {
		t.Fatalf("tokenize: %+v, %v", res, err)
	}
	first, err := h.conn.Charge(t.Context(), card("pay-1", "4242424242424242"))
	if err != nil || first.Status != processor.Approved {
		t.Fatalf("charge: %+v, %v", first, err)
	}
	again, err := h.conn.Charge(t.Context(), card("pay-1", "4242424242424242"))
	if err != nil || again.Reference != first.Reference {
		t.Fatalf("the same key again: %+v, %v; want %s", again, err, first.Reference)
	}
	other := card("pay-1", "4242424242424242")
	other.Amount = 999
	if res, err := h.conn.Charge(t.Context(), other); res.Status != processor.Failed || !errors.Is(err, processor.ErrIdempotencyMismatch) {
		t.Fatalf("the same key, another amount: %+v, %v", res, err)
	}
	if res, err := h.conn.Reconcile(t.Context(), "pay-1"); err != nil || res.Reference != first.Reference {
		t.Fatalf("status: %+v, %v", res, err)
	}
}

// The timeout cards: dtmfgw gives up, then the status call says what
// happened (charged, or never arrived).
func TestTimeoutThenStatus(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		pan     string
		want    processor.Status
		wantErr error
	}{
		{"4000000000004087", processor.Approved, nil},
		{"4000000000005043", processor.Unknown, processor.ErrNotFound},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		res, err := h.conn.Charge(ctx, card("late-"+c.pan, c.pan))
		cancel()
		if res.Status != processor.Unknown || !errors.Is(err, processor.ErrTimeout) {
			t.Fatalf("%s: %+v, %v; want unknown, ErrTimeout", c.pan, res, err)
		}
		// The receiver answers 409 (still processing) until it has seen
		// dtmfgw give up on the held request.
		testkit.WaitFor(t, "a final answer to the status call", func() bool {
			res, err = h.conn.Reconcile(t.Context(), "late-"+c.pan)
			return res.Status != processor.Unknown || errors.Is(err, processor.ErrNotFound)
		})
		if res.Status != c.want || (c.wantErr == nil) != (err == nil) || c.wantErr != nil && !errors.Is(err, c.wantErr) {
			t.Fatalf("%s: status call %+v, %v; want %v, %v", c.pan, res, err, c.want, c.wantErr)
		}
	}
}

// The receiver's signature check and webhook.Verify both accept what the
// connector signs: the scheme is the webhooks' one. A request with a bad
// signature or bad credentials is refused before its body is read.
func TestSignature(t *testing.T) {
	h := newHarness(t)
	if _, err := h.conn.Charge(t.Context(), card("sig-1", "4242424242424242")); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	header, body := h.headers[0].Get(processor.ConnectorSignatureHeader), h.bodies[0]
	h.mu.Unlock()
	if err := webhook.Verify([]byte(testSecret), header, body, time.Now(), 0); err != nil {
		t.Errorf("webhook.Verify refuses the connector's signature: %v", err)
	}
	if err := verify([]byte(testSecret), header, body, time.Now()); err != nil {
		t.Errorf("the receiver refuses the connector's signature: %v", err)
	}
	if err := verify([]byte(testSecret), header, body, time.Now().Add(time.Hour)); err == nil {
		t.Error("an hour-old signature verified")
	}
	for name, edit := range map[string]func(*http.Request){
		"bad-signature": func(r *http.Request) { r.Header.Set("Dtmfgw-Signature", header[:len(header)-2]+"00") },
		"no-signature":  func(r *http.Request) { r.Header.Del("Dtmfgw-Signature") },
		"bad-password":  func(r *http.Request) { r.SetBasicAuth(testUser, "wrong") },
	} {
		req := httptest.NewRequest(http.MethodPost, "/pay", bytes.NewReader(body))
		req.Header.Set("Dtmfgw-Signature", header)
		req.SetBasicAuth(testUser, testPass)
		edit(req)
		w := httptest.NewRecorder()
		h.rc.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "authentication_error") {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
}

func TestConfiguration(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"nothing":      {},
		"short-secret": {"PAYRECEIVER_USERNAME": "u", "PAYRECEIVER_PASSWORD": "p", "PAYRECEIVER_SIGNING_SECRET": "short"},
		"both":         {"PAYRECEIVER_USERNAME": "u", "PAYRECEIVER_PASSWORD": "p", "PAYRECEIVER_BEARER_TOKEN": "t", "PAYRECEIVER_SIGNING_SECRET": testSecret},
	} {
		if _, err := newReceiver(func(k string) string { return env[k] }, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	env := map[string]string{"PAYRECEIVER_BEARER_TOKEN": "token-0123456789abcdef", "PAYRECEIVER_SIGNING_SECRET": testSecret}
	rc, err := newReceiver(func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if err != nil || rc.authorization != "Bearer token-0123456789abcdef" {
		t.Fatalf("bearer: %+v, %v", rc, err)
	}
	if err := run(slog.New(slog.DiscardHandler), "0.0.0.0:0", "", "", ""); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("plain HTTP off loopback: %v", err)
	}
}
