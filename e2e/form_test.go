package e2e

// End-to-end tests: a SIPp caller keys a card through dtmfgw
// (serving in-process) to a Go agent; the agent's form, in headless
// Chromium, shows the dots, the brand and the ticks; Process gives the
// processor's answer. Screenshots of each step are kept as artifacts.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"dtmfgw/internal/testkit/stripemock"
	"dtmfgw/webhook"
)

// Sandbox test cards (docs/processor.md) and the rest of a card.
const (
	cardApproved = "4242424242424242" // approved, Visa
	cardDeclined = "4000000000000002" // declined, do_not_honor
	cardExpiry   = "1230"             // December 2030
	cardCVC      = "123"
)

// A fast caller: 40 ms tones with 80 ms gaps, about 8 presses a second.
const (
	pressTone = 40 * time.Millisecond
	pressGap  = 80 * time.Millisecond
)

// e2eRun is one end-to-end call: the gateway, the agent, the SIPp caller
// with its steps, the API, and the form in a browser.
type e2eRun struct {
	t       *testing.T
	ctx     context.Context
	gw      *testGateway
	agent   *e2eAgent
	caller  *e2eCaller
	api     *e2eAPI
	call    e2eCall
	payment e2ePayment
	stream  *e2eStream
	browser *e2eBrowser
	steps   int // steps cued so far
}

// startRun brings up everything and opens the form of a new payment. The
// runs are long (over a minute in all, a payment's real-time expiry among
// them): -short (make check) leaves them to make test.
func startRun(t *testing.T, agentID string, o e2eOptions, steps ...string) *e2eRun {
	t.Helper()
	if testing.Short() {
		t.Skip("a call through the gateway to the agent form in headless Chromium, 6-30 s each: make test runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	r := &e2eRun{t: t, ctx: ctx}
	r.agent = newE2EAgent(t)
	r.gw = startE2EGateway(t, r.agent.addr, o)
	r.api = r.gw.api(t)
	r.caller = startE2ECaller(ctx, t, r.gw.SIP, agentID, steps, pressTone, pressGap)
	if err := r.agent.answered(ctx); err != nil {
		t.Fatal(err)
	}
	r.call = r.api.findCall(ctx, agentID)
	r.payment = r.api.newPaymentWith(ctx, r.call.ID, "e2e-"+agentID, o.Tokenize)
	r.stream = r.api.stream(ctx, r.payment.Payment.ID)
	r.browser = newBrowser(t)
	r.browser.run("open the form", chromedp.Navigate(r.payment.FormURL))
	r.browser.until("the form", `!!document.querySelector('#badge.secure') && !!document.querySelector('`+field("card_number")+`')`, e2eWait)
	r.browser.shot("form-open")
	return r
}

// cue makes the caller key its next step: the agent's re-INVITE reaches
// the caller through the gateway, and the caller plays the step's keys.
func (r *e2eRun) cue() {
	r.t.Helper()
	if r.steps >= r.caller.steps {
		r.t.Fatalf("no step %d: the caller has %d", r.steps+1, r.caller.steps)
	}
	r.steps++
	if err := r.agent.signal(r.ctx, false); err != nil {
		r.t.Fatal(err)
	}
}

// hangUp makes the caller hang up (its scenario's last cue) and waits for
// SIPp to finish the call.
func (r *e2eRun) hangUp() {
	r.t.Helper()
	if r.steps != r.caller.steps {
		r.t.Fatalf("hanging up after %d of %d steps", r.steps, r.caller.steps)
	}
	if err := r.agent.signal(r.ctx, true); err != nil {
		r.t.Fatal(err)
	}
	r.caller.wait(r.t)
}

// click clicks an element of the form.
func (r *e2eRun) click(what, sel string) {
	r.t.Helper()
	r.browser.run(what, chromedp.Click(chromedp.CSS(sel)))
}

// keyField arms a field on the form (unless it is armed already), cues
// the caller, and waits for the field to complete with n dots.
func (r *e2eRun) keyField(id string, n int, valid bool, shot string) {
	r.t.Helper()
	if !eval[bool](r.browser, fieldArmed(id, 0)) {
		r.click("arm "+id, field(id)+" .arm")
		r.browser.until(id+" armed", fieldArmed(id, 0), e2eWait)
	}
	r.cue()
	r.browser.until(id+" complete", fieldDone(id, n, valid), e2eWait)
	r.browser.shot(shot)
}

// checkArtifacts searches everything the run left for the card numbers'
// digits: the gateway's log, the API's bodies, the SSE stream, the form's
// DOM, SIPp's logs and the screenshots' names.
func (r *e2eRun) checkArtifacts(cards ...string) {
	r.t.Helper()
	dom := eval[string](r.browser, `document.documentElement.outerHTML`)
	names := strings.Join(r.browser.shots, "\n")
	artifacts := map[string]string{
		"gateway log":        r.gw.Log.String(),
		"API bodies":         r.api.Transcript(),
		"SSE stream":         r.stream.String(),
		"form DOM":           dom,
		"screenshot names":   names,
		"SIPp error log":     readFile(r.caller.dir + "/errors.log"),
		"SIPp screen output": readFile(r.caller.dir + "/screen.log"),
	}
	if !strings.Contains(artifacts["SSE stream"], "event: field_length") {
		r.t.Errorf("the SSE stream holds no field_length event: was it read?")
	}
	for k, v := range artifacts {
		if strings.HasPrefix(k, "SIPp") && v == "" {
			artifacts[k] = "(empty)"
		}
	}
	checkNoCardDigits(r.t, artifacts, cards...)
	if n := r.agent.eventPackets.Load(); n != 0 {
		r.t.Errorf("the agent received %d RTP packets that are not PCMU", n)
	}
	if r.agent.packets.Load() == 0 {
		r.t.Error("the agent received no RTP at all")
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestE2EApprovedClearAndHangUp: a SIPp caller keys a Visa test card,
// its expiry and security code; the form shows a dot per key, the brand
// and a tick per field; the agent clears the card number and the caller
// keys it again; Process gives Approved; the caller hangs up and the
// secure badge turns grey.
func TestE2EApprovedClearAndHangUp(t *testing.T) {
	t.Parallel()
	r := startRun(t, "agent-approved", e2eOptions{}, cardApproved, cardExpiry, cardCVC, cardApproved)
	b := r.browser

	r.keyField("card_number", 16, true, "card-number-keyed")
	if brand := eval[string](b, `document.querySelector('`+field("card_number")+`').dataset.brand`); brand != "visa" {
		t.Errorf("brand %q, want visa", brand)
	}
	if !strings.Contains(eval[string](b, `document.querySelector('`+field("card_number")+` .brand')?.textContent || ""`), "Visa") {
		t.Error("the form does not show the brand Visa")
	}
	// The gateway armed the expiry itself (auto-advance).
	r.keyField("expiry", 4, true, "expiry-keyed")
	r.keyField("security_code", 3, true, "security-code-keyed")
	b.until("Process enabled", `!document.querySelector('#process').disabled`, e2eWait)

	r.click("clear the card number", field("card_number")+" .clear")
	b.until("card number cleared", fieldArmed("card_number", 0), e2eWait)
	b.until("Process disabled", `document.querySelector('#process').disabled`, e2eWait)
	b.shot("card-number-cleared")
	r.keyField("card_number", 16, true, "card-number-rekeyed")
	b.until("Process enabled again", `!document.querySelector('#process').disabled`, e2eWait)

	r.click("Process", "#process")
	b.until("Approved", `document.querySelector('#result')?.dataset.state === 'approved'`, e2eWait)
	if txt := eval[string](b, `document.querySelector('#result').textContent`); !strings.Contains(txt, "Approved") || !strings.Contains(txt, "4242") {
		t.Errorf("result %q lacks Approved or the last four", txt)
	}
	b.shot("approved")

	r.hangUp()
	b.until("badge grey", `!document.querySelector('#badge').classList.contains('secure')`, e2eWait)
	b.shot("caller-hung-up")
	r.checkArtifacts(cardApproved)
}

// TestE2EDeclined: the sandbox's do_not_honor card is declined, with the
// processor's message on the form.
// TestE2ECardSaved: the payment saves the card instead of charging it,
// on the sandbox and on Stripe (stripe-mock, whose SetupIntent answer a
// proxy makes "succeeded"). A SIPp caller keys a Visa test card, its
// expiry and security code; the form asks for no amount and offers "Save
// card"; the result says "Card saved" with the brand and last four, no
// amount; the API's result holds the processor's token and the payment
// took nothing.
func TestE2ECardSaved(t *testing.T) {
	t.Run("sandbox", func(t *testing.T) {
		t.Parallel()
		cardSaved(t, "agent-saved", e2eOptions{Tokenize: true}, "sbxtok_")
	})
	t.Run("stripe-mock", func(t *testing.T) {
		t.Parallel()
		cardSaved(t, "agent-saved-stripe", e2eOptions{Tokenize: true, Processor: "stripe",
			ProcessorYAML: "  stripe:\n    type: stripe\n    api_key: sk_test_e2e\n    base_url: " + savingStripe(t) + "\n"}, "pm_e2e_saved")
	})
	t.Run("http-connector", func(t *testing.T) {
		t.Parallel()
		recv := newVault(t)
		cardSaved(t, "agent-saved-http", e2eOptions{Tokenize: true, Processor: "vault", ProcessorYAML: fmt.Sprintf(
			"  vault:\n    type: http\n    url: %s/pay\n    username: dtmfgw\n    password: %s\n    signing_secret: %s\n",
			recv.srv.URL, vaultPassword, vaultSecret)}, "tok_vault_")
		// The receiving side is the one place the card is: it checked the
		// request's credentials, signature and idempotency key.
		bodies := recv.log()
		if !strings.Contains(bodies, cardApproved) || !strings.Contains(bodies, `"method":"tokenize"`) {
			t.Errorf("the receiver's request log lacks the tokenize request with the card")
		}
		if recv.refused() != 0 {
			t.Errorf("the receiver refused %d requests", recv.refused())
		}
	})
}

// The e2e vault's credentials: the connector's configuration and the
// receiver's checks share them.
const (
	vaultPassword = "e2e-vault-password"
	vaultSecret   = "e2e-vault-signing-secret-0123456789abcdef"
)

// vault is a receiver of the HTTP connector, as a merchant's card vault
// runs one: it checks the credentials, the signature and the idempotency
// key of each request, keeps each body (the one place the card may be),
// and saves the card under a token.
type vault struct {
	srv *httptest.Server

	mu      sync.Mutex
	bodies  strings.Builder
	refusal int
}

func newVault(t *testing.T) *vault {
	t.Helper()
	v := &vault{}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		user, pass, ok := r.BasicAuth()
		var req struct {
			Method        string `json:"method"`
			TransactionID string `json:"transaction_id"`
		}
		switch {
		case err != nil, !ok, user != "dtmfgw", pass != vaultPassword,
			webhook.Verify([]byte(vaultSecret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute) != nil,
			json.Unmarshal(body, &req) != nil, req.TransactionID == "", r.Header.Get("Idempotency-Key") != req.TransactionID:
			v.mu.Lock()
			v.refusal++
			v.mu.Unlock()
			http.Error(w, `{"error_code":"authentication_error"}`, http.StatusUnauthorized)
			return
		}
		v.mu.Lock()
		v.bodies.Write(body)
		v.bodies.WriteByte('\n')
		v.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if req.Method == "tokenize" {
			fmt.Fprintf(w, `{"token_id":"tok_vault_%x"}`, len(req.TransactionID))
			return
		}
		fmt.Fprint(w, `{"error_code":"not_supported","error_message":"this vault only saves cards"}`)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vault) log() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.bodies.String()
}

func (v *vault) refused() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.refusal
}

// savingStripe is stripe-mock behind a proxy that makes every SetupIntent
// it answers succeeded, with the PaymentMethod pm_e2e_saved, and that
// fails the test if a PaymentIntent (a charge) is asked for.
func savingStripe(t *testing.T) string {
	t.Helper()
	base, stop, err := stripemock.Start()
	if err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	t.Cleanup(stop)
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(res *http.Response) error {
		if !strings.HasPrefix(res.Request.URL.Path, "/v1/setup_intents") {
			return nil
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			return err
		}
		obj["status"], obj["payment_method"] = "succeeded", "pm_e2e_saved"
		if body, err = json.Marshal(obj); err != nil {
			return err
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		res.ContentLength = int64(len(body))
		res.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/payment_intents") {
			t.Errorf("a card saved asked Stripe for a charge: %s %s", r.Method, r.URL.Path)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// cardSaved runs a call whose payment saves the card on o's processor and
// checks the form, the API's view (a token starting with tokenPrefix) and
// every output for the card.
func cardSaved(t *testing.T, agentID string, o e2eOptions, tokenPrefix string) {
	r := startRun(t, agentID, o, cardApproved, cardExpiry, cardCVC)
	b := r.browser
	if !eval[bool](b, `document.querySelector('#amount').hidden`) {
		t.Error("the form asks for an amount for a card saved")
	}
	r.keyField("card_number", 16, true, "card-number-keyed")
	r.keyField("expiry", 4, true, "expiry-keyed")
	r.keyField("security_code", 3, true, "security-code-keyed")
	b.until("Save card enabled", `!document.querySelector('#process').disabled && document.querySelector('#process').textContent === 'Save card'`, e2eWait)
	r.click("Save card", "#process")
	b.until("Card saved", `document.querySelector('#result')?.dataset.state === 'approved'`, e2eWait)
	txt := eval[string](b, `document.querySelector('#result').textContent`)
	if !strings.Contains(txt, "Card saved") || !strings.Contains(txt, "4242") || strings.Contains(txt, "£") {
		t.Errorf("result %q: want Card saved with the last four and no amount", txt)
	}
	b.shot("card-saved")
	var v struct {
		Intent string `json:"intent"`
		Result struct {
			State  string `json:"state"`
			Token  string `json:"token"`
			Amount int64  `json:"amount"`
			Last4  string `json:"last4"`
		} `json:"result"`
	}
	r.api.must(r.ctx, 200, "GET", "/v1/payments/"+r.payment.Payment.ID, nil, &v)
	if v.Intent != "tokenize" || v.Result.State != "approved" || !strings.HasPrefix(v.Result.Token, tokenPrefix) || v.Result.Amount != 0 || v.Result.Last4 != "4242" {
		t.Errorf("the payment as the API shows it: %+v", v)
	}
	r.hangUp()
	r.checkArtifacts(cardApproved)
}

func TestE2EDeclined(t *testing.T) {
	t.Parallel()
	r := startRun(t, "agent-declined", e2eOptions{}, cardDeclined, cardExpiry, cardCVC)
	b := r.browser
	r.keyField("card_number", 16, true, "card-number-keyed")
	r.keyField("expiry", 4, true, "expiry-keyed")
	r.keyField("security_code", 3, true, "security-code-keyed")
	r.click("Process", "#process")
	b.until("Declined", `document.querySelector('#result')?.dataset.state === 'declined'`, e2eWait)
	if txt := eval[string](b, `document.querySelector('#result').textContent`); !strings.Contains(txt, "Declined") {
		t.Errorf("result %q lacks Declined", txt)
	}
	b.shot("declined")
	r.hangUp()
	b.until("badge grey", `!document.querySelector('#badge').classList.contains('secure')`, e2eWait)
	r.checkArtifacts(cardDeclined)
}

// TestE2ETimeout: a payment nobody finishes times out (the shortest
// session timeout the configuration takes, 30 s); the form says so.
func TestE2ETimeout(t *testing.T) {
	t.Parallel()
	const timeout = 30 * time.Second
	r := startRun(t, "agent-timeout", e2eOptions{SessionTimeout: timeout}, cardApproved[:6])
	b := r.browser
	b.until("the countdown", `!document.querySelector('#countdown').hidden`, e2eWait)
	r.click("arm the card number", field("card_number")+" .arm")
	b.until("card number armed", fieldArmed("card_number", 0), e2eWait)
	r.cue()
	b.until("six dots", `document.querySelectorAll('`+field("card_number")+` .dot').length === 6`, e2eWait)
	b.shot("part-keyed")
	b.until("Timed out", `document.querySelector('#result')?.dataset.state === 'timed_out'`, timeout+e2eWait)
	b.shot("timed-out")
	r.hangUp()
	b.until("badge grey", `!document.querySelector('#badge').classList.contains('secure')`, e2eWait)
	r.checkArtifacts(cardApproved)
}
