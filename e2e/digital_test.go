package e2e

// A digital payment end to end: the agent's form, in one headless
// Chromium, chooses "digital", sends the link by SMS (the embedded outbox)
// and watches; the caller's page, in another at 360 px, opens the link
// from the SMS, is declined, then pays. A second link is locked by
// declines, a third has expired. The canary cards are then searched for
// in everything the run left: the log, the API's bodies, the event
// stream, both pages, the SMS, the webhooks and the database files.

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "modernc.org/sqlite"

	"dtmfgw/call"
)

// digitalGateway starts a gateway whose card configuration allows both
// payment types, with a webhook to rcv, its database at db.
func digitalGateway(t *testing.T, rcv *hookReceiver, db string) *testGateway {
	return startGateway(t, fmt.Sprintf(`payments:
  configurations:
    - id: card
      name: Acme Energy
      processor: sandbox
      currency: GBP
      types: [agent_assist, digital]
      accepted_brands: [visa, mastercard, amex]
      fields:
        - {id: card_number, label: Card number, kind: card_number}
        - {id: expiry, label: Expiry date, kind: expiry}
        - {id: security_code, label: Security code, kind: security_code}
      webhook: {url: %q, secret: 0123456789abcdef0123456789abcdef}
processors:
  sandbox: {type: sandbox, min_delay: 1ms, max_delay: 20ms}
storage:
  dsn: sqlite:%s
log:
  level: debug
`, rcv.srv.URL+"/hook", db))
}

// payOnPage types a card into the caller's page (which empties its card
// fields after a failed attempt) and presses Pay.
func payOnPage(b *e2eBrowser, pan string) {
	b.t.Helper()
	b.run("type the card",
		chromedp.SendKeys(chromedp.ID("f-card_number"), pan),
		chromedp.SendKeys(chromedp.ID("f-expiry"), cardExpiry),
		chromedp.SendKeys(chromedp.ID("f-security_code"), cardCVC),
		chromedp.Click(chromedp.ID("pay-button")))
}

// pageEnded is a condition: the caller's page shows the end state.
func pageEnded(state string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector('#end'); return !!e && !e.hidden && e.dataset.state === %q; })()`, state)
}

func TestDigitalPaymentThroughTheHostedPage(t *testing.T) {
	if testing.Short() {
		t.Skip("a digital payment through two headless Chromium pages, about 20 s: make test runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rcv := newHookReceiver(t)
	db := filepath.Join(t.TempDir(), "dtmfgw.db")
	g := digitalGateway(t, rcv, db)
	api := g.api(t)
	c, err := g.Calls().NewCall(call.Correlation{AgentID: "agent-digital", CallerNumber: "07700 900123"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.End(call.EndCallerHangup) })

	// The CRM makes a payment and leaves the type to the agent.
	var w e2ePayment
	api.must(ctx, 201, "POST", "/v1/payments", map[string]any{
		"call_id": c.ID(), "configuration": "card",
		"prefill": map[string]any{"amount": 4250, "reference": "ACME-77"},
	}, &w)
	stream := api.stream(ctx, w.Payment.ID)

	agent := newSizedBrowser(t, "agent", 480, 900)
	agent.run("open the form", chromedp.Navigate(w.FormURL))
	agent.until("the type choice", `!document.querySelector('#types').hidden`, e2eWait)
	agent.shot("type-choice")
	agent.run("choose digital", chromedp.Click(chromedp.ID("type-digital")))
	agent.until("the digital set-up", `!document.querySelector('#digital-setup').hidden`, e2eWait)
	// The call's number is national: the agent types it in full.
	eval[bool](agent, `(document.querySelector('#phone').value = '', true)`)
	agent.run("the caller's number",
		chromedp.SendKeys(chromedp.ID("phone"), "+44 7700 900123"),
		chromedp.Click(chromedp.ID("next")))
	agent.until("the link", `document.querySelector('#link-url').value.startsWith('http')`, e2eWait)
	link := eval[string](agent, `document.querySelector('#link-url').value`)
	if !strings.Contains(link, "/pay/#") {
		t.Fatalf("the link %q is not the page's, with its token after #", link)
	}
	agent.run("send the link", chromedp.Click(chromedp.ID("send")))
	agent.until("the SMS sent", `!!document.querySelector('#link-messages li[data-state="sent"]')`, e2eWait)
	agent.shot("link-sent")

	// The SMS, read from the outbox as a phone would show it.
	var outbox struct {
		Messages []struct {
			To, Body string
		} `json:"messages"`
	}
	api.must(ctx, 200, "GET", "/v1/sms/outbox", nil, &outbox)
	if len(outbox.Messages) != 1 || outbox.Messages[0].To != "+447700900123" || !strings.Contains(outbox.Messages[0].Body, link) {
		t.Fatalf("the outbox holds %+v, want one SMS to +447700900123 with the link", outbox.Messages)
	}
	smsBodies := outbox.Messages[0].Body

	// The caller opens it on a phone; the agent's badge turns green.
	caller := newSizedBrowser(t, "caller", 360, 780)
	caller.run("open the link", chromedp.Navigate(link))
	caller.until("the card form", `!document.querySelector('#pay').hidden`, e2eWait)
	if href := eval[string](caller, `location.href`); strings.Contains(href, "#") {
		t.Errorf("the page kept the token in its address: %q", href)
	}
	agent.until("the caller on the page", `document.querySelector('#link-badge').dataset.present === 'true'`, e2eWait)
	caller.shot("page-open")
	agent.shot("caller-on-page")

	// Declined, then paid; the agent sees the caller's dots and the result.
	payOnPage(caller, cardDeclined)
	caller.until("the decline", `(() => { const a = document.querySelector('#alert'); return !!a && !a.hidden && /declined/i.test(a.textContent); })()`, e2eWait)
	agent.until("the dots of the declined card", `document.querySelectorAll('li.field[data-field="card_number"] .dot').length === 16`, e2eWait)
	agent.until("the failed attempt", `/1 of 3 attempts failed/.test(document.querySelector('#link-state').textContent)`, e2eWait)
	caller.shot("declined")
	payOnPage(caller, cardApproved)
	caller.until("the payment made", pageEnded("approved"), e2eWait)
	if got := eval[string](caller, `document.querySelector('#end-card').textContent`); !strings.Contains(got, "4242") {
		t.Errorf("the page's result shows %q, want the card's last four", got)
	}
	caller.shot("paid")
	agent.until("the result", `document.querySelector('#result').dataset.state === 'approved'`, e2eWait)
	agent.shot("approved")
	if err := stream.waitEvent(ctx, "result", "approved", nil); err != nil {
		t.Fatal(err)
	}
	if eval[bool](agent, `!document.querySelector('#countdown').hidden`) {
		t.Error("the form counts a keypad session down over a digital payment")
	}
	// The next payment on the call: the agent chooses its type again.
	agent.run("take another payment", chromedp.Click(chromedp.ID("another")))
	agent.afterNavigation("the type choice again", `!document.querySelector('#types').hidden && location.pathname.indexOf('`+w.Payment.ID+`') < 0`, e2eWait)
	agent.shot("another")
	// The result's webhook.
	for {
		if _, ok := rcv.text(); ok {
			break
		}
		select {
		case <-rcv.seen:
		case <-ctx.Done():
			t.Fatal("no payment.result webhook")
		}
	}

	// A second link, no call: three declines lock it.
	locked := newDigital(ctx, api, "ACME-78")
	// A link differs from the last only after '#': a new page, not a jump
	// within this one.
	caller.run("open the second link", chromedp.Navigate("about:blank"), chromedp.Navigate(locked))
	for i := range 3 {
		caller.until(fmt.Sprintf("the card form, attempt %d", i+1), `!document.querySelector('#pay').hidden`, e2eWait)
		payOnPage(caller, cardDeclined)
		if i < 2 {
			caller.until(fmt.Sprintf("decline %d", i+1), fmt.Sprintf(`/%d attempt/.test(document.querySelector('#attempts').textContent)`, 2-i), e2eWait)
		}
	}
	caller.until("the locked page", pageEnded("locked"), e2eWait)
	caller.shot("locked")

	// A third link whose time has run out (set in the database: 72 hours
	// are not waited for).
	expired := newDigital(ctx, api, "ACME-79")
	expireLinks(t, db)
	caller.run("open the expired link", chromedp.Navigate("about:blank"), chromedp.Navigate(expired))
	caller.until("the expired page", pageEnded("expired"), e2eWait)
	caller.shot("expired")

	hooks, _ := rcv.text()
	artifacts := map[string]string{
		"gateway log":  g.Log.String(),
		"API bodies":   api.Transcript(),
		"SSE stream":   stream.String(),
		"agent form":   eval[string](agent, `document.documentElement.outerHTML`),
		"caller page":  eval[string](caller, `document.documentElement.outerHTML`),
		"SMS bodies":   smsBodies,
		"webhooks":     hooks,
		"database":     readFile(db),
		"database WAL": readFile(db + "-wal"),
		"screenshots":  strings.Join(append(agent.shots, caller.shots...), "\n"),
	}
	checkNoCardDigits(t, artifacts, cardApproved, cardDeclined)
	// The link's token is only in what the caller is meant to have.
	_, token, _ := strings.Cut(link, "#")
	for _, name := range []string{"gateway log", "database", "database WAL", "webhooks", "SSE stream"} {
		if strings.Contains(artifacts[name], token) {
			t.Errorf("the %s holds the link's token", name)
		}
	}
}

// newDigital creates a digital payment with no call and returns its link.
func newDigital(ctx context.Context, api *e2eAPI, reference string) string {
	api.t.Helper()
	var d struct {
		Link struct {
			URL string `json:"url"`
		} `json:"link"`
	}
	api.must(ctx, 201, "POST", "/v1/payments", map[string]any{
		"type": "digital", "configuration": "card", "prefill": map[string]any{"amount": 990, "reference": reference},
	}, &d)
	if d.Link.URL == "" {
		api.t.Fatal("a digital payment without its link")
	}
	return d.Link.URL
}

// expireLinks moves every open link's expiry into the past, as 72 hours
// would.
func expireLinks(t *testing.T, db string) {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`UPDATE payment_links SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE state IN ('created', 'sent', 'opened')`); err != nil {
		t.Fatal(err)
	}
}
