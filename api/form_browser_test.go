package api

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/chromium"
	"dtmfgw/payment"
	"dtmfgw/store"
)

// The agent form in headless Chromium (Debian's chromium, driven with
// chromedp) against a server on loopback over a real payment.Payments:
// the caller's key presses are fed with payment.Set.HandleDigit, as the
// call's digit path does. Every wait is for a DOM condition, bounded by a
// context timeout; screenshots of each step go to $DTMFGW_ARTIFACTS
// (default test-artifacts/form/ at the repository's root).

const (
	// stepTimeout bounds one step (a wait for the DOM, a click).
	stepTimeout = 15 * time.Second
	// formWidth is the narrowest width the form must work at.
	formWidth, formHeight = 360, 900
)

// formCall is the payment.Call of the browser tests: its secure status is
// what the test says.
type formCall struct {
	mu     sync.Mutex
	secure bool
}

func (c *formCall) ID() string { return "call-1" }
func (c *formCall) Correlation() call.Correlation {
	return call.Correlation{
		InboundCallID: "in-1@carrier.example", OutboundCallID: "out-1@gw.example", SecondaryCallID: "sc-1",
		CallerNumber: "+441234567890", CalledNumber: "+442071234567",
		AgentID: "agent-7", PrimaryCallID: "pc-1",
	}
}
func (c *formCall) Secure() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secure
}
func (c *formCall) SetSecureMode(bool) {}
func (c *formCall) setSecure(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secure = on
}

// formEnv is one test's gateway: the API server over payments (the
// api tests' testEnv), with one call whose secure status the test sets.
type formEnv struct {
	t    *testing.T
	env  *testEnv
	set  *payment.Set
	call *formCall
	url  string

	mu     sync.Mutex
	number uint64
}

func cardConfig(id, name string, timeout time.Duration) payment.Config {
	c := payment.DefaultConfigs()[0]
	c.ID, c.Name, c.Currency = id, name, "GBP"
	if timeout > 0 {
		c.SessionTimeout = timeout
	}
	return c
}

func newFormEnv(t *testing.T, configs ...payment.Config) *formEnv {
	t.Helper()
	if len(configs) == 0 {
		configs = []payment.Config{cardConfig("card", "Card payment", 0)}
	}
	env := newTestEnv(t, envOptions{configs: configs})
	c := &formCall{secure: true}
	set := env.ps.ForCall(c)
	t.Cleanup(func() { set.Close(payment.ReasonCallEnded) })
	return &formEnv{t: t, env: env, set: set, call: c, url: env.ts.URL}
}

// newPayment starts a payment on the call as POST /v1/payments does
// (config "" leaves the choice to the form's picker when there are
// several) and returns the form's URL on the test server.
func (e *formEnv) newPayment(config string, attrs payment.Attributes) string {
	e.t.Helper()
	s := e.env.srv
	f, err := s.payments.Create(e.call.ID(), config, store.NewID(), attrs, attrs.Given())
	if err != nil {
		e.t.Fatalf("new payment: %v", err)
	}
	id := s.view(context.Background(), f).ID
	token := mintFormToken(s.secret, id, time.Now().Add(time.Hour))
	return e.url + "/form/" + id + "#token=" + token
}

// resendSecure has the call's secure status told again, as a change. The
// test's call is not among the Manager's calls, so the snapshot cannot
// say it is secure (a real call's does); the form learns it from the
// event.
func (e *formEnv) resendSecure() {
	e.call.setSecure(false)
	e.set.UpdateSecure()
	e.call.setSecure(true)
	e.set.UpdateSecure()
}

// press is the caller pressing one key.
func (e *formEnv) press(k byte) {
	e.mu.Lock()
	e.number++
	n := e.number
	e.mu.Unlock()
	e.set.HandleDigit(dtmf.Press{Key: dtmf.Key(k), Source: dtmf.SourceRFC4733, FirstSeen: time.Now(), Number: n})
}

// browser is one headless Chromium for a test and its subtests. The
// browser tests are long (a minute in all, a form's real-time expiry among
// them): -short (make check) leaves them to make test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("drives the agent form in headless Chromium, about a minute in all: make test runs it")
	}
	return chromium.Start(t, formWidth, formHeight)
}

// artifactsDir is where screenshots go.
func artifactsDir(t *testing.T) string { return chromium.ArtifactsDir(t, "form") }

// tab is one browser tab showing the form.
type tab struct {
	t   *testing.T
	ctx context.Context
	// view is where screenshots are taken: the tab itself, or for a form
	// inside an agent desktop's iframe, the desktop's tab around it.
	view  context.Context
	dir   string
	shots int

	mu      sync.Mutex
	console []string      // exceptions and errors the page reported
	logged  chan struct{} // a nudge (buffer 1) for each message added
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_")
	tb := &tab{t: t, ctx: ctx, view: ctx, dir: filepath.Join(artifactsDir(t), name)}
	if err := os.RemoveAll(tb.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(tb.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tb.watchConsole()
	tb.do("viewport", chromedp.EmulateViewport(formWidth, formHeight))
	return tb
}

// watchConsole collects the exceptions and errors the page reports, and
// fails the test with them at its end.
func (tb *tab) watchConsole() {
	t := tb.t
	if tb.logged == nil {
		tb.logged = make(chan struct{}, 1)
	}
	messages := chromedp.Console(tb.ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" {
				tb.mu.Lock()
				tb.console = append(tb.console, fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m.Text))
				tb.mu.Unlock()
				select {
				case tb.logged <- struct{}{}:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, m := range tb.console {
			// The stream's end when a test closes the call is the
			// browser's to log; anything else is the form's fault.
			if strings.Contains(m, "/events") {
				continue
			}
			t.Errorf("the page reported: %s", m)
		}
	})
}

// do runs actions within stepTimeout; on failure it saves a screenshot.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	tb.doWithin(stepTimeout, what, actions...)
}

func (tb *tab) doWithin(d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.shot("FAILED-" + what)
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// until waits for a JavaScript condition to hold.
func (tb *tab) until(what, cond string) {
	tb.t.Helper()
	tb.untilWithin(stepTimeout, what, cond)
}

func (tb *tab) untilWithin(d time.Duration, what, cond string) {
	tb.t.Helper()
	tb.doWithin(d, what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(d))(ctx, t)
		return err
	}))
}

// eval evaluates a JavaScript expression.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// shot saves a screenshot of the form as it stands.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.view, stepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	tb.shots++
	p := filepath.Join(tb.dir, fmt.Sprintf("%02d-%s.png", tb.shots, name))
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
	}
}

// field is the CSS selector of a field's row.
func field(id string) string { return `li.field[data-field="` + id + `"]` }

// open loads the form and waits for its first snapshot.
func (tb *tab) open(url string) {
	tb.t.Helper()
	tb.do("open the form", chromedp.Navigate(url))
	tb.until("the snapshot", `document.getElementById('app').getAttribute('aria-busy') === 'false'`)
}

// key has the caller key digits one by one, and checks after each that
// exactly one more dot is drawn (and stamped) in the field.
func (tb *tab) key(env *formEnv, fieldID, digits string) {
	tb.t.Helper()
	start := eval[int](tb, `document.querySelectorAll('`+field(fieldID)+` .dot').length`)
	for i := range len(digits) {
		env.press(digits[i])
		n := start + i + 1
		if n > 19 { // a complete field takes no more: the caller's extra keys are ignored
			continue
		}
		tb.until(fmt.Sprintf("dot %d in %s", n, fieldID),
			fmt.Sprintf(`document.querySelectorAll('%s .dot').length === %d && document.querySelectorAll('%s .dot[data-drawn-at]').length === %d`,
				field(fieldID), n, field(fieldID), n))
	}
}

// tabTo presses Tab (or Shift-Tab) until the element has the focus.
func (tb *tab) tabTo(sel string, back bool) {
	tb.t.Helper()
	var opts []chromedp.KeyOption
	if back {
		opts = append(opts, chromedp.KeyModifiers(chromedp.ModifierShift))
	}
	for range 30 {
		if eval[bool](tb, `document.activeElement === document.querySelector('`+sel+`')`) {
			return
		}
		tb.do("tab", chromedp.KeyEvent(kb.Tab, opts...))
	}
	tb.t.Fatalf("30 presses of Tab never reached %s", sel)
}

// afterNavigation waits for a condition on the page a click navigated to:
// until the new page is there, the old one's evaluations fail.
func (tb *tab) afterNavigation(what, cond string) {
	tb.t.Helper()
	if err := chromium.PollAcrossNavigation(tb.ctx, cond, time.Now().Add(stepTimeout)); err != nil {
		tb.shot("FAILED-" + what)
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// armed waits for the field to be the armed one.
func (tb *tab) armed(fieldID string) {
	tb.t.Helper()
	tb.until(fieldID+" armed", `document.querySelector('`+field(fieldID)+` .arm').getAttribute('aria-pressed') === 'true'`)
}

func (tb *tab) complete(fieldID string, valid bool) {
	tb.t.Helper()
	mark := "✓"
	if !valid {
		mark = "✗"
	}
	tb.until(fmt.Sprintf("%s complete, valid %v", fieldID, valid),
		fmt.Sprintf(`(() => { const f = document.querySelector('%s'); return f.dataset.complete === 'true' && f.dataset.valid === '%v' && f.querySelector('.mark').textContent === '%s'; })()`,
			field(fieldID), valid, mark))
}

func (tb *tab) result(state string) {
	tb.t.Helper()
	tb.until("result "+state, `(() => { const r = document.getElementById('result'); return !r.hidden && r.dataset.state === '`+state+`'; })()`)
}

func (tb *tab) badge(secure bool) {
	tb.t.Helper()
	tb.until(fmt.Sprintf("badge secure=%v", secure), fmt.Sprintf(`document.getElementById('badge').dataset.secure === '%v'`, secure))
}

// fillCard keys a whole card: number, expiry, security code, with the
// form's auto-advance arming each next field.
func (tb *tab) fillCard(env *formEnv, pan, expiry, cvc string) {
	tb.t.Helper()
	tb.do("arm the card number", chromedp.Click(chromedp.CSS(field("card_number")+" .arm")))
	tb.armed("card_number")
	tb.key(env, "card_number", pan)
	tb.complete("card_number", true)
	tb.armed("expiry")
	tb.key(env, "expiry", expiry)
	tb.complete("expiry", true)
	tb.armed("security_code")
	tb.key(env, "security_code", cvc)
	tb.complete("security_code", true)
}

func TestFormBrowser(t *testing.T) {
	browser := newBrowser(t)
	t.Logf("screenshots in %s", artifactsDir(t))

	t.Run("approved", func(t *testing.T) {
		t.Parallel()
		env := newFormEnv(t)
		tb := newTab(t, browser)
		tb.open(env.newPayment("card", payment.Attributes{Amount: 1250, Currency: "GBP", Reference: "INV-1"}))
		env.resendSecure()
		tb.badge(true)
		tb.until("three fields", `document.querySelectorAll('li.field').length === 3`)
		// Every card field is required: a red asterisk each.
		if n := eval[int](tb, `[...document.querySelectorAll('li.field .req')].filter(e => getComputedStyle(e).color === 'rgb(198, 40, 40)').length`); n != 3 {
			t.Errorf("%d red asterisks, want 3", n)
		}
		// What the back end set is read-only, as the gateway enforces; the
		// name it left empty is the agent's.
		for _, id := range []string{"amount", "currency", "reference"} {
			if !eval[bool](tb, `document.getElementById('`+id+`').readOnly`) {
				t.Errorf("the prefilled %s is editable", id)
			}
		}
		if eval[bool](tb, `document.getElementById('cardholder').readOnly`) {
			t.Error("the empty cardholder name is read-only")
		}
		tb.do("enter the name", chromedp.SendKeys(chromedp.ID("cardholder"), "A Person"), chromedp.KeyEvent(kb.Tab))
		tb.until("name saved", `document.getElementById('cardholder').value === 'A Person'`)
		tb.shot("opened")

		tb.do("arm the card number", chromedp.Click(chromedp.CSS(field("card_number")+" .arm")))
		tb.armed("card_number")
		tb.key(env, "card_number", "4")
		tb.until("brand", `document.querySelector('`+field("card_number")+`').dataset.brand === 'visa' && document.querySelector('`+field("card_number")+` .brand').textContent === 'Visa'`)
		tb.key(env, "card_number", "242")
		tb.shot("four-digits-visa")
		tb.key(env, "card_number", "424242424242")
		tb.complete("card_number", true)
		tb.shot("card-number-ticked")
		tb.armed("expiry")
		tb.key(env, "expiry", "1230")
		tb.complete("expiry", true)
		tb.key(env, "security_code", "123")
		tb.complete("security_code", true)
		tb.until("process enabled", `!document.getElementById('process').disabled`)
		tb.badge(true)
		if w := eval[int](tb, `document.documentElement.scrollWidth`); w > formWidth {
			t.Errorf("the form is %d px wide at a %d px viewport", w, formWidth)
		}
		if eval[bool](tb, `document.body.innerText.includes('4242 4242') || document.body.innerHTML.includes('42424242')`) {
			t.Error("the page holds the card number")
		}
		tb.shot("ready")

		tb.do("process", chromedp.Click(chromedp.ID("process")))
		tb.result("approved")
		tb.until("the result says approved", `document.getElementById('result').textContent.includes('Approved') && document.getElementById('result').textContent.includes('•••• 4242')`)
		tb.until("another offered", `!document.getElementById('another').hidden`)
		tb.shot("approved")

		first := eval[string](tb, `location.pathname`)
		tb.do("take another payment", chromedp.Click(chromedp.ID("another")))
		tb.afterNavigation("a new payment", `location.pathname !== '`+first+`' && `+`document.getElementById('app').getAttribute('aria-busy') === 'false' && document.getElementById('result').hidden && document.querySelectorAll('.dot').length === 0`)
		if !eval[bool](tb, `!document.getElementById('amount').readOnly && document.getElementById('amount').value === ''`) {
			t.Error("the next payment's amount is not empty and editable")
		}
		if !eval[bool](tb, `document.getElementById('reference').readOnly && document.getElementById('reference').value === 'INV-1'`) {
			t.Error("the back end's reference is not kept read-only in the next payment")
		}
		tb.shot("another-payment")
	})

	t.Run("agent_editable", func(t *testing.T) {
		t.Parallel()
		cfg := cardConfig("card", "Card payment", 0)
		cfg.AgentEditable = []payment.Attribute{payment.AttrAmount}
		env := newFormEnv(t, cfg)
		tb := newTab(t, browser)
		tb.open(env.newPayment("card", payment.Attributes{Amount: 1250, Currency: "GBP", Reference: "INV-2"}))
		tb.until("amount editable, reference not", `!document.getElementById('amount').readOnly && document.getElementById('reference').readOnly`)
		// Select the shown amount, so the keys replace it.
		if !eval[bool](tb, `(() => { const e = document.getElementById('amount'); e.focus(); e.select(); return e.selectionEnd > 0; })()`) {
			t.Fatal("the amount shows nothing to replace")
		}
		tb.do("change the amount", chromedp.SendKeys(chromedp.ID("amount"), "20.00"), chromedp.KeyEvent(kb.Tab))
		tb.until("amount typed", `document.getElementById('amount').value === '20.00'`)
		// The form saves the change with a PATCH of its own: wait for the
		// payment to have it, not for the field to show it.
		p := env.env.ps.Payment(eval[string](tb, `location.pathname.split('/').pop()`))
		testkit.WaitFor(t, "the amount saved", func() bool { return p.Attributes().Amount == 2000 })
		if a := p.Attributes(); a.Reference != "INV-2" {
			t.Errorf("attributes %+v, want the reference INV-2 kept", a)
		}
	})

	t.Run("replaced stream", func(t *testing.T) {
		t.Parallel()
		env := newFormEnv(t)
		tb := newTab(t, browser)
		u := env.newPayment("card", payment.Attributes{Amount: 500, Currency: "GBP"})
		tb.open(u)
		tb.until("stream open", `document.getElementById('app').getAttribute('aria-busy') === 'false'`)
		// The same token opens MaxStreamsPerCredential more streams (the
		// form in other tabs): the form's own, the oldest, is replaced,
		// and the form says so and stops following.
		id, tok, _ := strings.Cut(strings.TrimPrefix(u, env.url+"/form/"), "#token=")
		env.env.openAll(MaxStreamsPerCredential, eventsPath(id, tok), "")
		tb.until("told it was replaced", `document.getElementById('notice').textContent.includes('open in another window')`)
		tb.shot("replaced")
	})

	t.Run("clear and re-enter", func(t *testing.T) {
		t.Parallel()
		env := newFormEnv(t)
		tb := newTab(t, browser)
		tb.open(env.newPayment("card", payment.Attributes{Amount: 500, Currency: "GBP"}))
		tb.do("arm the card number", chromedp.Click(chromedp.CSS(field("card_number")+" .arm")))
		tb.armed("card_number")
		tb.key(env, "card_number", "5555555555554443") // a Mastercard number failing the Luhn check
		tb.complete("card_number", false)
		tb.shot("invalid-card-cross")
		if !eval[bool](tb, `document.getElementById('process').disabled`) {
			t.Error("Process enabled with an invalid card number")
		}
		tb.do("clear the card number", chromedp.Click(chromedp.CSS(field("card_number")+" .clear")))
		tb.until("dots gone", `document.querySelectorAll('`+field("card_number")+` .dot').length === 0 && document.querySelector('`+field("card_number")+` .mark').textContent === ''`)
		tb.armed("card_number")
		tb.shot("cleared")
		tb.key(env, "card_number", "5555555555554444")
		tb.complete("card_number", true)
		tb.shot("re-entered-tick")
	})

	t.Run("keyed twice", func(t *testing.T) {
		t.Parallel()
		cfg := cardConfig("card", "Card payment", 0)
		cfg.Fields[0].Confirm = true
		env := newFormEnv(t, cfg)
		tb := newTab(t, browser)
		tb.open(env.newPayment("card", payment.Attributes{Amount: 500, Currency: "GBP"}))
		tb.do("arm the card number", chromedp.Click(chromedp.CSS(field("card_number")+" .arm")))
		tb.armed("card_number")
		tb.until("asks for it twice", `document.querySelector('`+field("card_number")+`').textContent.includes('then again')`)
		press := func(digits string) {
			for i := range len(digits) {
				env.press(digits[i])
			}
		}
		cn := `document.querySelector('` + field("card_number") + `')`
		dots := `document.querySelectorAll('` + field("card_number") + ` .dot').length`
		press("4242424242424242")
		tb.until("keyed once", cn+`.dataset.confirming === 'true' && `+dots+` === 0 && `+cn+`.textContent.includes('key it again')`)
		tb.shot("keyed-once")
		press("424242")
		tb.until("six dots of the second entry", cn+`.dataset.confirming === 'true' && `+dots+` === 6`)
		press("9242424242")
		tb.until("told they differed", `document.getElementById('notice').textContent.includes('differed') && `+cn+`.dataset.confirming === 'false' && `+dots+` === 0`)
		tb.shot("mismatch")
		press("4242424242424242" + "4242424242424242")
		tb.complete("card_number", true)
		tb.until("the mismatch notice gone", `document.getElementById('notice').hidden`)
		tb.shot("confirmed")
	})

	t.Run("declined", func(t *testing.T) {
		t.Parallel()
		env := newFormEnv(t)
		tb := newTab(t, browser)
		tb.open(env.newPayment("card", payment.Attributes{})) // the agent enters the amount
		tb.until("amount editable", `!document.getElementById('amount').readOnly`)
		tb.do("enter the amount", chromedp.SendKeys(chromedp.ID("amount"), "9.99"), chromedp.KeyEvent(kb.Tab))
		tb.until("amount saved", `document.getElementById('amount').value === '9.99'`)
		tb.fillCard(env, "4000000000000002", "1230", "123")
		tb.until("process enabled", `!document.getElementById('process').disabled`)
		if a := env.env.ps.Payment(eval[string](tb, `location.pathname.split('/').pop()`)).Attributes(); a.Amount != 999 || a.Currency != "GBP" {
			t.Errorf("attributes %+v, want 999 GBP", a)
		}
		tb.do("process", chromedp.Click(chromedp.ID("process")))
		tb.result("declined")
		tb.until("the processor's message", `/Declined/.test(document.getElementById('result').textContent) && document.querySelector('#result .detail').textContent.length > 0`)
		tb.shot("declined")
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		env := newFormEnv(t, cardConfig("card", "Card payment", payment.MinSessionTimeout))
		tb := newTab(t, browser)
		tb.open(env.newPayment("card", payment.Attributes{Amount: 100, Currency: "GBP"}))
		tb.until("countdown", `(() => { const c = document.getElementById('countdown'); return !c.hidden && /^0:[0-3]\d$/.test(c.textContent) && Number(c.dataset.remaining) <= 30; })()`)
		tb.shot("countdown")
		tb.untilWithin(payment.MinSessionTimeout+15*time.Second, "timed out", `document.getElementById('result').dataset.state === 'timed_out'`)
		tb.until("countdown gone, fields off", `document.getElementById('countdown').hidden && document.querySelector('`+field("card_number")+` .arm').disabled && document.getElementById('process').disabled`)
		tb.shot("timed-out")
	})

	t.Run("badge", func(t *testing.T) {
		t.Parallel()
		env := newFormEnv(t)
		tb := newTab(t, browser)
		tb.open(env.newPayment("card", payment.Attributes{Amount: 100, Currency: "GBP"}))
		env.resendSecure()
		tb.badge(true)
		tb.do("open the session info", chromedp.Click(chromedp.ID("badge")))
		// The test's call is not among the Manager's, so the API tells of
		// it from the payment's record: its primary id, not its numbers,
		// and no SIP Call-ID in place of the secondary id.
		tb.until("session info", `!document.getElementById('info').hidden && document.getElementById('info-primary').textContent === 'pc-1' && document.getElementById('info-secondary').textContent === '–' && document.getElementById('info-session').textContent === location.pathname.split('/').pop() && document.getElementById('badge').getAttribute('aria-expanded') === 'true'`)
		tb.shot("session-info")

		env.call.setSecure(false)
		env.set.UpdateSecure()
		tb.badge(false)
		tb.shot("not-secure")
		env.call.setSecure(true)
		env.set.UpdateSecure()
		tb.badge(true)

		env.set.Close(payment.ReasonCallEnded) // the caller hangs up
		tb.badge(false)
		tb.until("call ended", `document.getElementById('badge-text').textContent === 'Call ended' && document.getElementById('result').dataset.state === 'cancelled' && document.getElementById('another').hidden`)
		tb.shot("call-ended")
	})

	t.Run("picker", func(t *testing.T) {
		t.Parallel()
		postcode := cardConfig("card_postcode", "Card payment with postcode", 0)
		postcode.Fields = append(postcode.Fields, payment.FieldConfig{ID: "postcode", Label: "Postcode digits", Kind: payment.FieldDigits, MinLen: 3, MaxLen: 6})
		env := newFormEnv(t, cardConfig("card", "Card payment", 0), postcode)
		tb := newTab(t, browser)
		tb.open(env.newPayment("", payment.Attributes{Amount: 100, Currency: "GBP"}))
		tb.until("the picker", `!document.getElementById('picker').hidden && document.querySelectorAll('#picker-list button').length === 2 && document.getElementById('card').hidden`)
		tb.shot("picker")
		tb.do("choose the postcode configuration", chromedp.Click(chromedp.CSS(`#picker-list button[data-config="card_postcode"]`)))
		tb.until("its four fields", `document.getElementById('picker').hidden && document.querySelectorAll('li.field').length === 4`)
		// The optional postcode has no asterisk.
		if n := eval[int](tb, `document.querySelectorAll('`+field("postcode")+` .req').length`); n != 0 {
			t.Errorf("the optional field has %d asterisks", n)
		}
		tb.shot("chosen")
	})

	t.Run("keyboard only", func(t *testing.T) {
		t.Parallel()
		env := newFormEnv(t)
		tb := newTab(t, browser)
		tb.open(env.newPayment("card", payment.Attributes{Amount: 100, Currency: "GBP"}))
		tb.until("fields", `document.querySelectorAll('li.field').length === 3`)
		// Tab to the expiry's field, as an agent without a mouse would.
		tb.tabTo(field("expiry")+" .arm", false)
		if outline := eval[string](tb, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" {
			t.Error("the focused field shows no focus outline")
		}
		tb.do("Enter arms it", chromedp.KeyEvent(kb.Enter))
		tb.armed("expiry")
		tb.shot("armed-by-enter")
		tb.tabTo(field("card_number")+" .arm", true)
		tb.do("Space arms it", chromedp.KeyEvent(" "))
		tb.armed("card_number")
		tb.key(env, "card_number", "42")
		tb.shot("armed-by-space")
	})
}
