package demo

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The demo's digital payment: the CRM makes a digital payment on the
// caller's call and sends its link by SMS (to the embedded outbox, which
// the demo reads as the caller's phone would); a person may open the link
// and pay; after --wait, the simulated caller pays on the page itself,
// through the page's own API, as its script would.

// demoMobile is the number the demo's SMS goes to (an Ofcom drama
// number: never a real subscriber).
const demoMobile = "+447700900123"

// digitalCreatedJSON is POST /v1/payments's answer for a digital payment.
type digitalCreatedJSON struct {
	Payment paymentJSON `json:"payment"`
	FormURL string      `json:"form_url"`
	Link    struct {
		URL string `json:"url"`
	} `json:"link"`
}

func (d *demo) runDigital(ctx, step, partsCtx context.Context, primary string) error {
	body := map[string]any{
		"primary_call_id": primary,
		"type":            "digital",
		"configuration":   "card",
		"phone":           demoMobile,
		"prefill":         map[string]any{"amount": demoAmount, "currency": demoCurrency, "reference": "DEMO-" + strings.ToUpper(randomHex(3))},
		"idempotency_key": "demo-" + randomHex(8),
	}
	var created digitalCreatedJSON
	if err := d.api.do(step, "POST", "/v1/payments", body, &created); err != nil {
		return fmt.Errorf("creating the digital payment: %w", err)
	}
	p := created.Payment
	d.say("  payment   %s created over the API: digital, %s %d.%02d, reference %s", p.ID, demoCurrency, demoAmount/100, demoAmount%100, p.Attributes.Reference)
	events, err := d.api.events(partsCtx, p.ID)
	if err != nil {
		return err
	}
	if _, err := events.next(step); err != nil { // the snapshot: subscribed
		return err
	}
	if err := d.api.do(step, "POST", "/v1/payments/"+p.ID+"/link/send", nil, nil); err != nil {
		return fmt.Errorf("sending the link: %w", err)
	}
	sms, err := d.readSMS(step, p.ID)
	if err != nil {
		return err
	}
	d.say("  sms       to %s: %s", demoMobile, sms)
	d.say("")
	d.say("Agent form: %s", created.FormURL)
	d.say("Payment link (the caller's SMS): %s", created.Link.URL)
	d.say("")
	if d.wait > 0 {
		d.say("Open the payment link in a browser and pay with a sandbox test card (4242 4242 4242 4242, any future expiry, any 3 digits);")
		d.say("the simulated caller pays by itself in %s if nobody has.", d.wait)
	}
	paid, err := d.awaitPaid(ctx, events, d.wait)
	if err != nil {
		return err
	}
	if !paid {
		d.say("  caller    opens the link and pays on the page")
		if err := d.payOnPage(step, created.Link.URL); err != nil {
			return err
		}
		if _, err := d.awaitPaid(step, events, demoStepTimeout); err != nil {
			return err
		}
	}
	var view paymentJSON
	if err := d.api.do(step, "GET", "/v1/payments/"+p.ID, nil, &view); err != nil {
		return err
	}
	if view.Result == nil || view.Result.State != "approved" {
		return fmt.Errorf("the demo payment was %s, not approved", view.State)
	}
	if d.linger > 0 {
		d.say("")
		d.say("The call and the form stay up for %s (--linger); Ctrl-C ends the demo now.", d.linger)
		select {
		case <-time.After(d.linger):
		case <-ctx.Done():
		}
	}
	return nil
}

// readSMS returns the text of the payment's SMS from the outbox.
func (d *demo) readSMS(ctx context.Context, paymentID string) (string, error) {
	var outbox struct {
		Messages []struct {
			Body      string `json:"body"`
			PaymentID string `json:"payment_id"`
		} `json:"messages"`
	}
	if err := d.api.do(ctx, "GET", "/v1/sms/outbox", nil, &outbox); err != nil {
		return "", fmt.Errorf("reading the SMS outbox: %w", err)
	}
	for _, m := range outbox.Messages {
		if m.PaymentID == paymentID {
			return m.Body, nil
		}
	}
	return "", fmt.Errorf("the SMS outbox holds no message of payment %s", paymentID)
}

// awaitPaid prints the payment's events until its result (true), or
// until wait has passed without one (false).
func (d *demo) awaitPaid(ctx context.Context, events *sseStream, wait time.Duration) (bool, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		ev, err := events.next(wctx)
		if err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				return false, nil
			}
			return false, err
		}
		d.print(ev)
		if ev.Type == "link" && ev.Link != nil {
			d.say("  link      %s%s", ev.Link.State, map[bool]string{true: ", the caller is on the page"}[ev.Link.Present])
		}
		if ev.Type == "result" {
			return true, nil
		}
	}
}

// payOnPage pays as the page's script does: the session (and its CSRF
// token), the length of each field as it is typed, then the card. The
// card's digits live in one []byte, zeroed when done.
func (d *demo) payOnPage(ctx context.Context, link string) error {
	base, token, ok := strings.Cut(link, "#")
	if !ok {
		return fmt.Errorf("the link has no token")
	}
	origin := d.api.base
	page := &pageClient{api: strings.TrimSuffix(base, "/") + "/api/", token: token, origin: origin, client: d.api.client}
	var session struct {
		CSRF string `json:"csrf"`
	}
	if err := page.do(ctx, "GET", "session", nil, &session); err != nil {
		return err
	}
	page.csrf = session.CSRF
	keys := scriptKeys(time.Now())
	defer clear(keys)
	pan, expiry, cvc := keys[:len(demoPAN)], keys[len(demoPAN):len(demoPAN)+4], keys[len(demoPAN)+4:]
	for _, f := range []struct {
		id string
		n  int
	}{{"card_number", len(pan)}, {"expiry", len(expiry)}, {"security_code", len(cvc)}} {
		for n := 1; n <= f.n; n++ {
			if err := page.do(ctx, "POST", "progress", []byte(fmt.Sprintf(`{"field":%q,"length":%d}`, f.id, n)), nil); err != nil {
				return err
			}
		}
	}
	body := make([]byte, 0, 128)
	body = append(body, `{"fields":{"card_number":"`...)
	body = append(body, pan...)
	body = append(body, `","expiry":"`...)
	body = append(body, expiry...)
	body = append(body, `","security_code":"`...)
	body = append(body, cvc...)
	body = append(body, `"}}`...)
	defer clear(body)
	return page.do(ctx, "POST", "pay", body, nil)
}

// pageClient speaks the hosted page's API with a link's token.
type pageClient struct {
	api, token, origin, csrf string
	client                   *http.Client
}

func (c *pageClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	hdr := http.Header{"Authorization": {"Bearer " + c.token}}
	if body != nil {
		hdr.Set("Origin", c.origin)
		hdr.Set("X-Csrf-Token", c.csrf)
	}
	if err := sendJSON(ctx, c.client, method, c.api+path, hdr, body, out); err != nil {
		return fmt.Errorf("the payment page: %w", err)
	}
	return nil
}
