package processor

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/tlstest"
)

// Credentials of the test receiver.
const (
	connUser    = "dtmfgw-test"
	connPass    = "receiver-password-1"
	connToken   = "bearer-token-abcdefghijklmnop"
	connSecret  = "signing-secret-0123456789abcdefghij"
	connCVC     = "739"
	connKeyHdr  = "Idempotency-Key"
	connSigHdr  = "Dtmfgw-Signature"
	connAuthHdr = "Authorization"
)

// received is one request as the test receiver saw it.
type received struct {
	header http.Header
	url    string
	body   []byte
	fields map[string]any
}

// receiver is a TLS endpoint that checks every request the connector
// makes (method, content type, credentials, signature, idempotency key)
// independently of the connector's code, records it, and answers with
// answer.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	cert   tlstest.Cert
	bearer bool // expect a bearer token instead of HTTP Basic

	mu       sync.Mutex
	requests []received
	problems []string
	answer   func(w http.ResponseWriter, r *http.Request, fields map[string]any)
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, fields map[string]any)) *receiver {
	t.Helper()
	rc := &receiver{t: t, answer: answer}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	// Refused handshakes are the point of some tests, not noise to print.
	rc.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	// Offered, and refused by the connector: it speaks HTTP/1.1 only.
	rc.srv.EnableHTTP2 = true
	rc.cert = tlstest.SelfSigned(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(rc.cert.CertFile, rc.cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	rc.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	t.Cleanup(func() {
		rc.srv.Close()
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, p := range rc.problems {
			t.Errorf("receiver: %s", p)
		}
	})
	return rc
}

func (rc *receiver) start() *receiver { rc.srv.StartTLS(); return rc }

// config is a connector configuration for this receiver.
func (rc *receiver) config() Config {
	cfg := Config{Type: TypeHTTP, URL: rc.srv.URL + "/pay", SigningSecret: connSecret, TLSCA: rc.cert.CertFile}
	if rc.bearer {
		cfg.BearerToken = connToken
	} else {
		cfg.Username, cfg.Password = connUser, connPass
	}
	return cfg
}

func (rc *receiver) problem(format string, args ...any) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.problems = append(rc.problems, fmt.Sprintf(format, args...))
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.problem("reading the body: %v", err)
		return
	}
	rc.check(r, body)
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		rc.problem("the body is not a JSON object: %v", err)
	}
	rc.mu.Lock()
	rc.requests = append(rc.requests, received{header: r.Header.Clone(), url: r.URL.String(), body: body, fields: fields})
	answer := rc.answer
	rc.mu.Unlock()
	if key := r.Header.Get(connKeyHdr); fields != nil && fields["method"] != "status" && key != fields["transaction_id"] {
		rc.problem("Idempotency-Key %q is not the body's transaction_id %v", key, fields["transaction_id"])
	}
	answer(w, r, fields)
}

// check verifies a request as a receiver must, with code of its own.
func (rc *receiver) check(r *http.Request, body []byte) {
	if r.Method != http.MethodPost || r.URL.Path != "/pay" || r.URL.RawQuery != "" || r.ProtoMajor != 1 {
		rc.problem("request %s %s %s", r.Method, r.URL, r.Proto)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rc.problem("Content-Type %q", ct)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(connUser+":"+connPass))
	if rc.bearer {
		want = "Bearer " + connToken
	}
	if got := r.Header.Get(connAuthHdr); got != want {
		rc.problem("Authorization %q, want %q", got, want)
	}
	if err := verifyTestSignature(r.Header.Get(connSigHdr), body, time.Now()); err != nil {
		rc.problem("signature: %v", err)
	}
	for name, values := range r.Header {
		for _, v := range values {
			if strings.Contains(v, canaryPAN) || strings.Contains(v, canaryMiddle) {
				rc.problem("header %s holds the card number", name)
			}
		}
	}
	if strings.Contains(r.URL.String(), canaryMiddle) {
		rc.problem("the URL holds the card number")
	}
}

// verifyTestSignature checks "t=<unix>,v1=<hex>" as a receiver written
// from the documentation would: HMAC-SHA256 of "<t>.<body>".
func verifyTestSignature(header string, body []byte, now time.Time) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no timestamp in %q", header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %v from now", ts, d)
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("v1 is not hex: %q", header)
	}
	mac := hmac.New(sha256.New, []byte(connSecret))
	io.WriteString(mac, ts+".")
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("v1 does not match the body")
	}
	return nil
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.requests...)
}

// answerJSON answers status with a JSON body.
func answerJSON(status int, body string) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req_abc")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// connHarness is a connector under test with its log and the bodies it
// zeroed.
type connHarness struct {
	p      *HTTPConnector
	logs   *testkit.Buffer
	mu     sync.Mutex
	zeroed [][]byte
}

func newTestConnector(t *testing.T, cfg Config, opts ...Option) *connHarness {
	t.Helper()
	h := &connHarness{logs: &testkit.Buffer{}}
	opts = append([]Option{WithLogger(debugLogger(h.logs)), func(o *options) {
		o.bodyZeroed = func(b []byte) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.zeroed = append(h.zeroed, append([]byte(nil), b...))
		}
	}}, opts...)
	p, err := New("vault", cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p.(*HTTPConnector)
	return h
}

// checkZeroed fails unless n bodies were zeroed, every byte.
func (h *connHarness) checkZeroed(t *testing.T, n int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.zeroed) != n {
		t.Fatalf("%d request bodies zeroed, want %d", len(h.zeroed), n)
	}
	for _, b := range h.zeroed {
		if len(b) == 0 || bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
			t.Fatalf("a request body was not zeroed: %q", b)
		}
	}
}

// cvcToken finds the canary's security code as a number of its own.
var cvcToken = regexp.MustCompile(`\b` + connCVC + `\b`)

// checkNoCard fails if the card number or the security code shows in
// what the connector gave back or logged.
func (h *connHarness) checkNoCard(t *testing.T, res Result, err error) {
	t.Helper()
	text := fmt.Sprintf("%+v %#v", res, res)
	if err != nil {
		text += " " + err.Error()
	}
	text += " " + h.logs.String()
	for _, leak := range []string{canaryPAN, canaryMiddle, `"cvv"`, "cardnumber"} {
		if strings.Contains(text, leak) {
			t.Fatalf("%q shows in the result, the error or the log: %s", leak, text)
		}
	}
	if cvcToken.MatchString(text) {
		t.Fatalf("the security code shows in the result, the error or the log: %s", text)
	}
}

func connRequest(key string) *Request {
	r := cardRequest(key, canaryPAN)
	r.CVC = []byte(connCVC)
	return r
}

func TestHTTPConnectorOutcomes(t *testing.T) {
	cases := []struct {
		name     string
		tokenize bool
		status   int
		body     string
		want     Status
		wantErr  error
		decline  string
		ref, tok string
		message  string
	}{
		{name: "approved", status: 200, body: `{"charge_id":"ch_123abc","error_code":null,"error_message":null}`, want: Approved, ref: "ch_123abc"},
		{name: "approved-201", status: 201, body: `{"charge_id":"ch_1"}`, want: Approved, ref: "ch_1"},
		{name: "approved-uuid", status: 200, body: `{"charge_id":"0f8fad5b-d9cb-469f-a165-70867728950e"}`, want: Approved, ref: "0f8fad5b-d9cb-469f-a165-70867728950e"},
		// A UUID whose last group is all digits has a card-length run:
		// withheld like any other id that could hold a card number.
		{name: "approved-uuid-digits", status: 200, body: `{"charge_id":"0f8fad5b-d9cb-469f-a165-708677289501"}`, want: Approved, ref: ""},
		{name: "approved-id-like-a-card", status: 200, body: `{"charge_id":"ch_` + canaryPAN + `"}`, want: Approved, ref: ""},
		{name: "declined", status: 200, body: `{"charge_id":null,"error_code":"card_declined","error_message":"The card was declined."}`, want: Declined, decline: "card_declined", message: "The card was declined."},
		{name: "declined-numeric-code", status: 200, body: `{"error_code":51,"error_message":"Insufficient funds"}`, want: Declined, decline: "51", message: "Insufficient funds"},
		{name: "declined-message-with-digits", status: 200, body: `{"error_code":"do_not_honor","error_message":"card ` + canaryPAN + ` refused"}`, want: Declined, decline: "do_not_honor", message: "declined"},
		{name: "declined-402", status: 402, body: `{"error_code":"insufficient_funds"}`, want: Declined, decline: "insufficient_funds"},
		{name: "failed-code", status: 200, body: `{"error_code":"processing_error","error_message":"Upstream unavailable"}`, want: Failed, decline: "processing_error", message: "Upstream unavailable"},
		{name: "failed-not-supported", status: 200, body: `{"error_code":"not_supported"}`, want: Failed, decline: "not_supported"},
		{name: "failed-400", status: 400, body: `{"error_code":"invalid_request","error_message":"bad"}`, want: Failed, wantErr: ErrProcessor, decline: "invalid_request"},
		{name: "failed-401", status: 401, body: `unauthorized`, want: Failed, wantErr: ErrProcessor},
		{name: "failed-404", status: 404, body: ``, want: Failed, wantErr: ErrProcessor},
		{name: "failed-redirect", status: 302, body: ``, want: Failed, wantErr: ErrProcessor},
		{name: "idempotency-mismatch", status: 422, body: `{"error_code":"idempotency_mismatch"}`, want: Failed, wantErr: ErrIdempotencyMismatch, decline: "idempotency_mismatch"},
		{name: "in-progress-409", status: 409, body: `{}`, want: Unknown, wantErr: ErrProcessor},
		{name: "server-error-500", status: 500, body: `{"error_code":"internal"}`, want: Unknown, wantErr: ErrProcessor},
		{name: "bad-gateway-502", status: 502, body: `<html>bad gateway</html>`, want: Unknown, wantErr: ErrProcessor},
		{name: "not-json", status: 200, body: `<html>ok</html>`, want: Unknown, wantErr: ErrTransport},
		{name: "echoes-the-card", status: 200, body: `{"cardnumber":"` + canaryPAN + `","cvv":"` + connCVC + `"`, want: Unknown, wantErr: ErrTransport},
		{name: "no-id-no-code", status: 200, body: `{}`, want: Unknown, wantErr: ErrProcessor},
		{name: "too-long", status: 200, body: `{"charge_id":"ch_1","pad":"` + strings.Repeat("x", maxAnswerLen) + `"}`, want: Unknown, wantErr: ErrTransport},
		{name: "tokenized", tokenize: true, status: 200, body: `{"token_id":"tok_a1b2c3","error_code":null}`, want: Approved, tok: "tok_a1b2c3"},
		{name: "tokenize-declined", tokenize: true, status: 200, body: `{"error_code":"expired_card"}`, want: Declined, decline: "expired_card"},
		{name: "tokenize-no-token", tokenize: true, status: 200, body: `{"charge_id":"ch_1"}`, want: Failed, wantErr: ErrProcessor},
		{name: "tokenize-token-like-a-card", tokenize: true, status: 200, body: `{"token_id":"` + canaryPAN + `"}`, want: Failed, wantErr: ErrProcessor},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, answerJSON(tc.status, tc.body)).start()
			h := newTestConnector(t, rc.config())
			req := connRequest("key-" + tc.name)
			if tc.tokenize {
				req.Tokenize, req.Amount = true, 0
			}
			res, err := h.p.Charge(t.Context(), req)
			if res.Status != tc.want || (tc.wantErr == nil) != (err == nil) || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Charge = %+v, %v; want %v, %v", res, err, tc.want, tc.wantErr)
			}
			if res.DeclineCode != tc.decline || res.Reference != tc.ref || res.Token != tc.tok {
				t.Errorf("Charge = %+v; want decline code %q, reference %q, token %q", res, tc.decline, tc.ref, tc.tok)
			}
			if tc.message != "" && res.Message != tc.message {
				t.Errorf("Message = %q, want %q", res.Message, tc.message)
			}
			if len(rc.got()) != 1 {
				t.Errorf("the receiver got %d requests, want 1", len(rc.got()))
			}
			h.checkZeroed(t, 1)
			h.checkNoCard(t, res, err)
		})
	}
}

// The body holds every field under the documented name, amounts in the
// currency's unit and in minor units, and nothing else.
func TestHTTPConnectorBody(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(*Request)
		want     map[string]string
		absent   []string
		bearer   bool
		amountOK func(json.Number) bool
	}{
		{name: "charge-gbp", want: map[string]string{
			"method": "charge", "transaction_id": "key-body", "cardnumber": canaryPAN, "cvv": connCVC,
			"expiry_month": "12", "expiry_year": "2031", "postal_code": "SW1A 1AA", "cardholder_name": "Ada Lovelace",
			"description": "order-42", "currency_code": "GBP", "amount": "12.50", "amount_minor": "1250",
		}, absent: []string{"token_type"}},
		{name: "charge-jpy-bearer", bearer: true, edit: func(r *Request) {
			r.Currency, r.Amount, r.ExpMonth, r.Postcode, r.Reference, r.CardholderName = "jpy", 1250, 3, nil, `say "hi"\`, ""
		}, want: map[string]string{
			"currency_code": "JPY", "amount": "1250", "amount_minor": "1250", "expiry_month": "03",
			"postal_code": "", "description": `say "hi"\`, "cardholder_name": "",
		}},
		{name: "charge-kwd", edit: func(r *Request) { r.Currency, r.Amount = "KWD", 5 }, want: map[string]string{"amount": "0.005", "amount_minor": "5"}},
		{name: "tokenize", edit: func(r *Request) { r.Tokenize, r.Amount = true, 0 }, want: map[string]string{
			"method": "tokenize", "transaction_id": "key-body", "cardnumber": canaryPAN, "cvv": connCVC,
			"currency_code": "GBP", "token_type": "reusable",
		}, absent: []string{"amount", "amount_minor"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, answerJSON(200, `{"charge_id":"ch_1","token_id":"tok_1"}`))
			rc.bearer = tc.bearer
			rc.start()
			h := newTestConnector(t, rc.config())
			req := connRequest("key-body")
			if tc.edit != nil {
				tc.edit(req)
			}
			if res, err := h.p.Charge(t.Context(), req); err != nil || res.Status != Approved {
				t.Fatalf("Charge = %+v, %v", res, err)
			}
			got := rc.got()
			if len(got) != 1 {
				t.Fatalf("%d requests", len(got))
			}
			r := got[0]
			for k, v := range tc.want {
				if fmt.Sprint(r.fields[k]) != v {
					t.Errorf("%s = %v, want %q (body %s)", k, r.fields[k], v, r.body)
				}
			}
			for _, k := range tc.absent {
				if _, ok := r.fields[k]; ok {
					t.Errorf("%s is in the body: %s", k, r.body)
				}
			}
			if r.header.Get(connKeyHdr) != "key-body" {
				t.Errorf("Idempotency-Key = %q", r.header.Get(connKeyHdr))
			}
			h.checkZeroed(t, 1)
		})
	}
}

// A charge whose answer does not come in time is Unknown; the status
// call then settles it with the receiver's first outcome, sends no card
// data and no Idempotency-Key; a key the receiver never saw is
// ErrNotFound.
func TestHTTPConnectorTimeoutThenReconcile(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	outcomes := map[string]string{}
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, f map[string]any) {
		key, _ := f["transaction_id"].(string)
		switch f["method"] {
		case "charge":
			mu.Lock()
			outcomes[key] = `{"charge_id":"ch_late"}`
			mu.Unlock()
			select { // charged, but the answer is late
			case <-release:
			case <-r.Context().Done():
			}
		case "status":
			mu.Lock()
			out, ok := outcomes[key]
			mu.Unlock()
			if !ok {
				answerJSON(404, `{"error_code":"not_found","error_message":"no such transaction"}`)(w, r, f)
				return
			}
			answerJSON(200, out)(w, r, f)
		}
	}).start()
	defer close(release)
	h := newTestConnector(t, rc.config())

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	res, err := h.p.Charge(ctx, connRequest("key-late"))
	if res.Status != Unknown || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Charge = %+v, %v; want unknown, ErrTimeout", res, err)
	}
	h.checkZeroed(t, 1)
	res2, err := h.p.Reconcile(t.Context(), "key-late")
	if err != nil || res2.Status != Approved || res2.Reference != "ch_late" {
		t.Fatalf("Reconcile = %+v, %v; want approved ch_late", res2, err)
	}
	res3, err := h.p.Reconcile(t.Context(), "key-never-seen")
	if res3.Status != Unknown || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Reconcile of an unknown key = %+v, %v; want ErrNotFound", res3, err)
	}
	got := rc.got()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for _, r := range got[1:] {
		if r.fields["method"] != "status" || len(r.fields) != 2 || r.header.Get(connKeyHdr) != "" {
			t.Errorf("status call %s with Idempotency-Key %q: want method and transaction_id only, no key", r.body, r.header.Get(connKeyHdr))
		}
	}
	h.checkNoCard(t, res, err)
}

func TestHTTPConnectorStatusCall(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		want    Status
		wantErr error
		tok     string
	}{
		{"approved", 200, `{"charge_id":"ch_9"}`, Approved, nil, ""},
		{"tokenized", 200, `{"token_id":"tok_9"}`, Approved, nil, "tok_9"},
		{"declined", 200, `{"error_code":"do_not_honor"}`, Declined, nil, ""},
		{"failed", 200, `{"error_code":"processing_error"}`, Failed, nil, ""},
		{"not-found-200", 200, `{"error_code":"not_found"}`, Unknown, ErrNotFound, ""},
		{"not-found-404", 404, `{"error_code":"not_found"}`, Unknown, ErrNotFound, ""},
		// A bare 404 may be a wrong URL, not a receiver that has no
		// charge: concluding "not charged" from it could lose a charge.
		{"bare-404", 404, `not found`, Unknown, ErrProcessor, ""},
		{"still-processing-409", 409, `{}`, Unknown, ErrProcessor, ""},
		{"still-processing-empty", 200, `{}`, Unknown, nil, ""},
		{"refused-401", 401, ``, Unknown, ErrProcessor, ""},
		{"server-error", 503, ``, Unknown, ErrProcessor, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, answerJSON(tc.status, tc.body)).start()
			h := newTestConnector(t, rc.config())
			res, err := h.p.Reconcile(t.Context(), "key-status")
			if res.Status != tc.want || (tc.wantErr == nil) != (err == nil) || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Reconcile = %+v, %v; want %v, %v", res, err, tc.want, tc.wantErr)
			}
			if res.Token != tc.tok {
				t.Errorf("Token = %q, want %q", res.Token, tc.tok)
			}
		})
	}
}

// A lost connection is Unknown; a connection never made is Failed
// (nothing was sent).
func TestHTTPConnectorTransport(t *testing.T) {
	t.Run("connection-dropped", func(t *testing.T) {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}).start()
		h := newTestConnector(t, rc.config())
		res, err := h.p.Charge(t.Context(), connRequest("key-drop"))
		if res.Status != Unknown || !errors.Is(err, ErrTransport) {
			t.Fatalf("Charge = %+v, %v; want unknown, ErrTransport", res, err)
		}
		h.checkZeroed(t, 1)
		h.checkNoCard(t, res, err)
	})
	t.Run("connection-refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		rc := newReceiver(t, answerJSON(200, `{}`))
		cfg := rc.config()
		cfg.URL = "https://" + addr + "/pay"
		h := newTestConnector(t, cfg)
		res, err := h.p.Charge(t.Context(), connRequest("key-refused"))
		if res.Status != Failed || !errors.Is(err, ErrTransport) {
			t.Fatalf("Charge = %+v, %v; want failed, ErrTransport", res, err)
		}
		h.checkZeroed(t, 1)
		if res, err := h.p.Reconcile(t.Context(), "key-refused"); res.Status != Unknown || !errors.Is(err, ErrTransport) {
			t.Fatalf("Reconcile = %+v, %v; want unknown, ErrTransport", res, err)
		}
	})
	t.Run("untrusted-server", func(t *testing.T) {
		rc := newReceiver(t, answerJSON(200, `{"charge_id":"ch_1"}`)).start()
		cfg := rc.config()
		cfg.TLSCA = ""
		h := newTestConnector(t, cfg)
		res, err := h.p.Charge(t.Context(), connRequest("key-untrusted"))
		if res.Status != Failed || !errors.Is(err, ErrTransport) || len(rc.got()) != 0 {
			t.Fatalf("Charge = %+v, %v (%d requests); want failed, ErrTransport, none received", res, err, len(rc.got()))
		}
		h.checkNoCard(t, res, err)
	})
}

// With a server that requires a client certificate, the connector
// without one fails cleanly (nothing reached the receiver); with one, it
// charges.
func TestHTTPConnectorMutualTLS(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			rc := newReceiver(t, answerJSON(200, `{"charge_id":"ch_mtls"}`))
			client := tlstest.SelfSignedClient(t, t.TempDir())
			rc.srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
			rc.srv.TLS.ClientCAs = client.Pool
			rc.srv.TLS.MaxVersion = version
			rc.start()

			without := newTestConnector(t, rc.config())
			res, err := without.p.Charge(t.Context(), connRequest("key-no-cert"))
			if res.Status != Failed || !errors.Is(err, ErrTransport) || len(rc.got()) != 0 {
				t.Fatalf("without a client certificate: %+v, %v (%d requests); want failed, ErrTransport, none received", res, err, len(rc.got()))
			}
			t.Logf("without a client certificate: %v", err)
			without.checkZeroed(t, 1)
			without.checkNoCard(t, res, err)

			cfg := rc.config()
			cfg.TLSClientCert, cfg.TLSClientKey = client.CertFile, client.KeyFile
			with := newTestConnector(t, cfg)
			res, err = with.p.Charge(t.Context(), connRequest("key-cert"))
			if err != nil || res.Status != Approved || res.Reference != "ch_mtls" {
				t.Fatalf("with a client certificate: %+v, %v", res, err)
			}
		})
	}
}

// The connector sends each key's charge once per Charge; a second Charge
// with the same key sends the same key again, for the receiver to
// answer with the first outcome.
func TestHTTPConnectorSameKeyAgain(t *testing.T) {
	var mu sync.Mutex
	first := map[string]string{}
	n := 0
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, f map[string]any) {
		key, _ := f["transaction_id"].(string)
		mu.Lock()
		out, ok := first[key]
		if !ok {
			n++
			out = fmt.Sprintf(`{"charge_id":"ch_%c"}`, 'a'+n)
			first[key] = out
		}
		mu.Unlock()
		answerJSON(200, out)(w, r, f)
	}).start()
	h := newTestConnector(t, rc.config())
	a, err1 := h.p.Charge(t.Context(), connRequest("key-twice"))
	b, err2 := h.p.Charge(t.Context(), connRequest("key-twice"))
	if err1 != nil || err2 != nil || a.Reference != b.Reference || a.Status != Approved {
		t.Fatalf("Charge twice = %+v, %v and %+v, %v", a, err1, b, err2)
	}
	got := rc.got()
	if len(got) != 2 || got[0].header.Get(connKeyHdr) != got[1].header.Get(connKeyHdr) {
		t.Fatalf("requests: %d", len(got))
	}
	h.checkZeroed(t, 2)
}

// A request that fails validation is not sent.
func TestHTTPConnectorInvalidRequestNotSent(t *testing.T) {
	rc := newReceiver(t, answerJSON(200, `{"charge_id":"ch_1"}`)).start()
	h := newTestConnector(t, rc.config())
	req := connRequest("key-invalid")
	req.Tokenize = true // with an amount
	res, err := h.p.Charge(t.Context(), req)
	if res.Status != Failed || !errors.Is(err, ErrInvalidRequest) || len(rc.got()) != 0 {
		t.Fatalf("Charge = %+v, %v (%d requests)", res, err, len(rc.got()))
	}
	if _, err := h.p.Reconcile(t.Context(), "bad key"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("Reconcile(bad key) = %v", err)
	}
}

// Whatever the receiver answers, the connector's log holds no card data
// and says one line per call.
func TestHTTPConnectorLogs(t *testing.T) {
	rc := newReceiver(t, answerJSON(200, `{"error_code":"card_declined","error_message":"no"}`)).start()
	h := newTestConnector(t, rc.config())
	res, err := h.p.Charge(t.Context(), connRequest("key-log"))
	if res.Status != Declined {
		t.Fatalf("Charge = %+v, %v", res, err)
	}
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"idempotency_key":"key-log"`) || !strings.Contains(lines[0], `"decline_code":"card_declined"`) {
		t.Fatalf("log: %s", h.logs.String())
	}
	h.checkNoCard(t, res, err)
}

func TestConnectorSignatureIsTheWebhooksScheme(t *testing.T) {
	body := []byte(`{"method":"status","transaction_id":"k"}`)
	at := time.Unix(1_700_000_000, 0)
	got := signConnector([]byte(connSecret), at, body)
	if !strings.HasPrefix(got, "t=1700000000,v1=") {
		t.Fatalf("signature %q", got)
	}
	if err := verifyTestSignature(got, body, at); err != nil {
		t.Fatal(err)
	}
	if err := verifyTestSignature(got, append(body, ' '), at); err == nil {
		t.Fatal("a changed body verified")
	}
	// The test vector of docs/processor.md.
	vector := signConnector([]byte("example-signing-secret-0123456789abcdef"), time.Unix(1767225600, 0),
		[]byte(`{"method":"status","transaction_id":"pay_7Hq2kX"}`))
	if want := "t=1767225600,v1=49ddfcca9b17a8c0cab056df2e2f60df13781bb9c0ae7947d4ecd5ed689aa218"; vector != want {
		t.Errorf("the documented test vector signs as %s, want %s", vector, want)
	}
}

func TestAppendDecimal(t *testing.T) {
	for _, c := range []struct {
		v    int64
		exp  int
		want string
	}{{1250, 2, "12.50"}, {5, 2, "0.05"}, {100, 2, "1.00"}, {1250, 0, "1250"}, {5, 3, "0.005"}, {99_999_999, 2, "999999.99"}, {-5, 2, "-0.05"}, {12345, 4, "1.2345"}} {
		if got := string(appendDecimal(nil, c.v, c.exp)); got != c.want {
			t.Errorf("appendDecimal(%d, %d) = %q, want %q", c.v, c.exp, got, c.want)
		}
	}
}

func TestHTTPConnectorConfig(t *testing.T) {
	dir := t.TempDir()
	server, client := tlstest.SelfSigned(t, dir), tlstest.SelfSignedClient(t, dir)
	notPEM := dir + "/not.pem"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DTMFGW_TEST_CONN_PASSWORD", "from-env-password")
	t.Setenv("DTMFGW_TEST_CONN_TOKEN", "from-env-token-0123456789")
	t.Setenv("DTMFGW_TEST_CONN_SECRET", "from-env-secret-0123456789abcdefghij")
	t.Setenv("DTMFGW_TEST_CONN_SHORT", "short-secret")
	base := Config{Type: TypeHTTP, URL: "https://pay.example.com/dtmfgw", Username: "dtmfgw", Password: "pw-supersecret", SigningSecret: "signing-supersecret-0123456789abcdef"}
	cases := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error; none means valid
	}{
		{"basic", func(*Config) {}, nil},
		{"bearer", func(c *Config) { c.Username, c.Password, c.BearerToken = "", "", "tok-supersecret-0123456789" }, nil},
		{"from-env", func(c *Config) {
			c.Password, c.PasswordEnv, c.SigningSecret, c.SigningSecretEnv = "", "DTMFGW_TEST_CONN_PASSWORD", "", "DTMFGW_TEST_CONN_SECRET"
		}, nil},
		{"bearer-env", func(c *Config) { c.Username, c.Password, c.BearerTokenEnv = "", "", "DTMFGW_TEST_CONN_TOKEN" }, nil},
		{"loopback-http", func(c *Config) { c.URL = "http://127.0.0.1:8099/pay" }, nil},
		{"mutual-tls", func(c *Config) {
			c.TLSClientCert, c.TLSClientKey, c.TLSCA = client.CertFile, client.KeyFile, server.CertFile
		}, nil},
		{"timeout", func(c *Config) { c.Timeout = 45 * time.Second }, nil},
		{"no-url", func(c *Config) { c.URL = "" }, []string{"processors.vault.url: missing"}},
		{"remote-http", func(c *Config) { c.URL = "http://pay.example.com/dtmfgw" }, []string{"processors.vault.url: plain http is accepted only for a loopback host"}},
		{"url-query", func(c *Config) { c.URL = "https://pay.example.com/?k=v" }, []string{"processors.vault.url: must be"}},
		{"url-user", func(c *Config) { c.URL = "https://u:p@pay.example.com/" }, []string{"processors.vault.url: must be"}},
		{"no-auth", func(c *Config) { c.Username, c.Password = "", "" }, []string{"processors.vault.username: missing: set username and password"}},
		{"both-auth", func(c *Config) { c.BearerToken = "tok-supersecret-0123456789" }, []string{"processors.vault.bearer_token: set together"}},
		{"no-password", func(c *Config) { c.Password = "" }, []string{"processors.vault.password: missing"}},
		{"no-username", func(c *Config) { c.Username = "" }, []string{"processors.vault.username: missing"}},
		{"username-colon", func(c *Config) { c.Username = "a:b" }, []string{"processors.vault.username: not printable ASCII"}},
		{"password-newline", func(c *Config) { c.Password = "pw-supersecret\n" }, []string{"processors.vault.password: not printable"}},
		{"password-both", func(c *Config) { c.PasswordEnv = "DTMFGW_TEST_CONN_PASSWORD" }, []string{"processors.vault.password: set together with password_env"}},
		{"password-env-unset", func(c *Config) { c.Password, c.PasswordEnv = "", "DTMFGW_TEST_CONN_UNSET" }, []string{"processors.vault.password_env: DTMFGW_TEST_CONN_UNSET is not set"}},
		{"bearer-short", func(c *Config) { c.Username, c.Password, c.BearerToken = "", "", "supersecret" }, []string{"processors.vault.bearer_token: not a token of at least 16"}},
		{"bearer-space", func(c *Config) { c.Username, c.Password, c.BearerToken = "", "", "supersecret 0123456789" }, []string{"processors.vault.bearer_token: not a token"}},
		{"no-signing-secret", func(c *Config) { c.SigningSecret = "" }, []string{"processors.vault.signing_secret: missing"}},
		{"short-signing-secret", func(c *Config) { c.SigningSecret = "supersecret" }, []string{"processors.vault.signing_secret: shorter than 32 bytes"}},
		{"short-signing-secret-env", func(c *Config) { c.SigningSecret, c.SigningSecretEnv = "", "DTMFGW_TEST_CONN_SHORT" }, []string{"processors.vault.signing_secret: shorter than 32 bytes"}},
		{"cert-without-key", func(c *Config) { c.TLSClientCert = client.CertFile }, []string{"processors.vault.tls_client_key: missing"}},
		{"key-without-cert", func(c *Config) { c.TLSClientKey = client.KeyFile }, []string{"processors.vault.tls_client_cert: missing"}},
		{"cert-not-its-key", func(c *Config) { c.TLSClientCert, c.TLSClientKey = client.CertFile, server.KeyFile }, []string{"processors.vault.tls_client_cert:"}},
		{"ca-missing-file", func(c *Config) { c.TLSCA = dir + "/nothing.pem" }, []string{"processors.vault.tls_ca:", "no such file"}},
		{"ca-not-pem", func(c *Config) { c.TLSCA = notPEM }, []string{"processors.vault.tls_ca:", "holds no PEM certificate"}},
		{"tls-with-plain-http", func(c *Config) { c.URL, c.TLSCA = "http://127.0.0.1:8099/pay", server.CertFile }, []string{"processors.vault.url: plain http with"}},
		{"stripe-keys", func(c *Config) { c.APIKey, c.MOTO = "sk_test_supersecret", true }, []string{"processors.vault.type: http takes no api_key"}},
		{"sandbox-keys", func(c *Config) { c.MaxDelay = time.Millisecond }, []string{"processors.vault.type: http takes no"}},
		{"http-keys-on-sandbox", func(c *Config) { *c = Config{Type: TypeSandbox, URL: "https://x.example", Username: "u"} }, []string{"processors.vault.url: only a processor of type http takes url, username"}},
		{"http-keys-on-stripe", func(c *Config) { *c = Config{Type: TypeStripe, APIKey: "sk_test_supersecret", TLSCA: "x.pem"} }, []string{"processors.vault.tls_ca: only a processor of type http takes tls_ca"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			cfgs := Configs{"vault": cfg}
			err := cfgs.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				p, err := New("vault", cfg)
				if err != nil {
					t.Fatalf("New = %v", err)
				}
				if _, ok := p.(*HTTPConnector); !ok {
					t.Fatalf("New = %T", p)
				}
				return
			}
			wantConfigError(t, err, tc.want, "supersecret", "from-env")
			if _, err := New("vault", cfg); err == nil {
				t.Error("New accepted what Validate refused")
			}
		})
	}
}

// The connector's secrets never print, and its keys are left out of the
// rendering of other processors.
func TestHTTPConnectorConfigRendering(t *testing.T) {
	cfg := Config{Type: TypeHTTP, URL: "https://pay.example.com/", Username: "dtmfgw", Password: "pw-supersecret",
		BearerToken: "tok-supersecret", SigningSecret: "sig-supersecret"}
	ys, err := yaml.Marshal(Configs{"vault": cfg, "sandbox": {Type: TypeSandbox}})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), string(ys), string(js)} {
		if strings.Contains(s, "supersecret") {
			t.Errorf("a secret shows in %s", s)
		}
	}
	sandbox := string(ys[strings.Index(string(ys), "sandbox:"):strings.Index(string(ys), "vault:")])
	if strings.Contains(sandbox, " url:") || strings.Contains(sandbox, "signing_secret") {
		t.Errorf("the sandbox's rendering lists the connector's keys:\n%s", sandbox)
	}
	got := Configs{"a": cfg, "b": {Type: TypeStripe, APIKeyEnv: "K1"}, "c": {Type: TypeHTTP, PasswordEnv: "K2", SigningSecretEnv: "K1", BearerTokenEnv: "K3"}}.EnvNames()
	if fmt.Sprint(got) != "[K1 K2 K3]" {
		t.Errorf("EnvNames = %v", got)
	}
}
