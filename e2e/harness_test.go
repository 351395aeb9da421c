package e2e

// The end-to-end harness: dtmfgw serving in-process (gateway_test.go), its
// JSON API seen through a recording client, the agent form in headless
// Chromium (chromedp), screenshots as artifacts, and the search for card
// digits in everything the run left behind.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/chromium"

	"github.com/chromedp/chromedp"
)

// e2eWait bounds each wait of the end-to-end tests for something the
// gateway, the caller or the browser does.
const e2eWait = 20 * time.Second

// e2eOptions are what a test changes in the gateway's configuration.
type e2eOptions struct {
	// SessionTimeout of the card configuration (0: the default 5 min).
	SessionTimeout time.Duration
	// Tokenize makes the run's payment save the card instead of charging
	// it (intent tokenize, no amount).
	Tokenize bool
	// Processor, when set, is the card configuration's processor instead
	// of the sandbox: its name and its entry under processors (YAML, at
	// the processors' indentation, "  name:\n    type: …\n").
	Processor, ProcessorYAML string
}

// startE2EGateway starts the gateway bridging calls to agent, with a card
// configuration on the sandbox processor (or o.Processor), and stops it
// when the test ends.
func startE2EGateway(t *testing.T, agent netip.AddrPort, o e2eOptions) *testGateway {
	t.Helper()
	timeout := ""
	if o.SessionTimeout > 0 {
		timeout = "\n      session_timeout: " + o.SessionTimeout.String()
	}
	proc := cmp.Or(o.Processor, "sandbox")
	return startGateway(t, fmt.Sprintf(`sip:
  default_target: sip:agent@%s
media:
  media_timeout: 0s
payments:
  configurations:
    - id: card
      name: Card payment
      processor: %s
      currency: GBP%s
      accepted_brands: [visa, mastercard, amex]
      fields:
        - {id: card_number, label: Card number, kind: card_number, required: true}
        - {id: expiry, label: Expiry date (MMYY), kind: expiry, required: true}
        - {id: security_code, label: Security code, kind: security_code, required: true}
processors:
  sandbox:
    type: sandbox
    min_delay: 1ms
    max_delay: 20ms
%slog:
  level: debug
`, agent, proc, timeout, o.ProcessorYAML))
}

// e2eAPI is a client of the gateway's JSON API that keeps every request
// and response body it sent or read, for the search for card digits.
type e2eAPI struct {
	t          *testing.T
	base       string
	key        string
	transcript testkit.Buffer
}

func (g *testGateway) api(t *testing.T) *e2eAPI {
	return &e2eAPI{t: t, base: g.base(), key: g.Key}
}

// do sends a request with the API key and returns the status and body.
func (a *e2eAPI) do(ctx context.Context, method, path string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	var sent []byte
	if body != nil {
		var err error
		if sent, err = json.Marshal(body); err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(sent)
	}
	ctx, cancel := context.WithTimeout(ctx, e2eWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	fmt.Fprintf(&a.transcript, "%s %s\n%s\n%d\n%s\n\n", method, path, sent, res.StatusCode, got)
	return res.StatusCode, got
}

// must is do that requires the status and decodes the body into out.
func (a *e2eAPI) must(ctx context.Context, want int, method, path string, body, out any) {
	a.t.Helper()
	code, got := a.do(ctx, method, path, body)
	if code != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, got)
		}
	}
}

// Transcript returns every body sent and read so far.
func (a *e2eAPI) Transcript() string {
	return a.transcript.String()
}

// e2eCall is the part of GET /v1/calls' Call the tests read.
type e2eCall struct {
	ID        string `json:"id"`
	AgentID   string `json:"agent_id"`
	Secure    bool   `json:"secure"`
	PaymentID string `json:"payment_id"`
}

// e2ePayment is the part of POST /v1/payments' answer the tests read.
type e2ePayment struct {
	Payment struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"payment"`
	FormURL   string `json:"form_url"`
	FormToken string `json:"form_token"`
}

// findCall returns the live call of the agent, asking GET /v1/calls until
// the gateway lists it as secure: it lists it from the INVITE, secure once
// the media has started, which has no event of its own to wait for.
func (a *e2eAPI) findCall(ctx context.Context, agentID string) e2eCall {
	a.t.Helper()
	var found e2eCall
	testkit.WaitFor(a.t, "GET /v1/calls lists the call of agent "+agentID+" as secure", func() bool {
		var list struct {
			Calls []e2eCall `json:"calls"`
		}
		a.must(ctx, 200, "GET", "/v1/calls?agent_id="+agentID, nil, &list)
		if len(list.Calls) > 1 {
			a.t.Fatalf("%d calls for agent %s", len(list.Calls), agentID)
		}
		if len(list.Calls) == 1 && list.Calls[0].Secure {
			found = list.Calls[0]
			return true
		}
		return false
	})
	return found
}

// newPayment creates a card payment of £19.99 on the call.
func (a *e2eAPI) newPayment(ctx context.Context, callID, reference string) e2ePayment {
	return a.newPaymentWith(ctx, callID, reference, false)
}

// newPaymentWith is newPayment, or, with tokenize, a payment that saves
// the card (no amount).
func (a *e2eAPI) newPaymentWith(ctx context.Context, callID, reference string, tokenize bool) e2ePayment {
	a.t.Helper()
	var p e2ePayment
	body := map[string]any{
		"call_id":       callID,
		"type":          "agent_assist",
		"configuration": "card",
		"prefill":       map[string]any{"amount": 1999, "currency": "GBP", "reference": reference},
	}
	if tokenize {
		body["intent"] = "tokenize"
		body["prefill"] = map[string]any{"currency": "GBP", "reference": reference}
	}
	a.must(ctx, 201, "POST", "/v1/payments", body, &p)
	if p.Payment.ID == "" || p.FormURL == "" {
		a.t.Fatalf("payment without id or form_url: %+v", p)
	}
	return p
}

// e2eStream reads a payment's Server-Sent Events into a buffer until the
// stream ends or the test does: what an agent form receives, searched
// for card digits afterwards. The events' types and states are kept too,
// for a test to wait for one.
type e2eStream struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	events  []e2eEvent
	changed chan struct{} // closed, and replaced, at each event
	done    chan struct{}
}

// e2eEvent is the part of a payment's event the tests wait for.
type e2eEvent struct {
	Type  string `json:"type"`
	State string `json:"state"`
}

func (a *e2eAPI) stream(ctx context.Context, paymentID string) *e2eStream {
	a.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+"/v1/payments/"+paymentID+"/events", nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	if res.StatusCode != 200 {
		res.Body.Close()
		a.t.Fatalf("GET events: %d", res.StatusCode)
	}
	s := &e2eStream{changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.buf.Write(sc.Bytes())
			s.buf.WriteByte('\n')
			if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
				var ev e2eEvent
				if json.Unmarshal([]byte(data), &ev) == nil && ev.Type != "" {
					s.events = append(s.events, ev)
					close(s.changed)
					s.changed = make(chan struct{})
				}
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *e2eStream) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitEvent waits for an event of type typ (and state, for a state event)
// and returns nil; or the error of keyed (the caller's keying) if it
// fails first, or why the wait ended.
func (s *e2eStream) waitEvent(ctx context.Context, typ, state string, keyed <-chan error) error {
	for {
		s.mu.Lock()
		found := slices.Contains(s.events, e2eEvent{Type: typ, State: state})
		changed := s.changed
		s.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case err := <-keyed:
			if err != nil {
				return fmt.Errorf("the caller's keys: %w", err)
			}
			keyed = nil
		case <-s.done:
			return fmt.Errorf("the event stream ended before a %s %s event", typ, state)
		case <-ctx.Done():
			return fmt.Errorf("waiting for a %s %s event: %w", typ, state, ctx.Err())
		}
	}
}

// artifactDir returns where this test's screenshots go, emptied:
// $DTMFGW_ARTIFACTS, or test-artifacts/e2e in the repository, then the
// test's name, then sub (when not empty: one of several browsers).
func artifactDir(t *testing.T, sub ...string) string {
	t.Helper()
	root := os.Getenv("DTMFGW_ARTIFACTS")
	if root == "" {
		root = filepath.Join("..", "test-artifacts", "e2e")
	}
	dir, err := filepath.Abs(filepath.Join(append([]string{root, strings.ReplaceAll(t.Name(), "/", "_")}, sub...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

// e2eBrowser is one headless Chromium tab.
type e2eBrowser struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	shots []string
}

// newBrowser starts headless Chromium (--no-sandbox only as root, where
// its sandbox cannot start) for the test. A missing browser fails the
// test, naming the package to install.
func newBrowser(t *testing.T) *e2eBrowser {
	t.Helper()
	return newSizedBrowser(t, "", 480, 900)
}

// newSizedBrowser is newBrowser with a window of w×h CSS pixels; a
// non-empty name keeps its screenshots in a folder of that name, beside
// another browser's of the same test.
func newSizedBrowser(t *testing.T, name string, w, h int) *e2eBrowser {
	t.Helper()
	// The defaults' own, and no throttling of a page in the background:
	// two browsers run at once here.
	ctx := chromium.Start(t, w, h,
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()))
	var dir string
	if name != "" {
		dir = artifactDir(t, name)
	} else {
		dir = artifactDir(t)
	}
	return &e2eBrowser{t: t, ctx: ctx, dir: dir}
}

// run runs actions with a bounded wait.
func (b *e2eBrowser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, e2eWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// until waits, bounded, for a JavaScript condition on the page to hold.
func (b *e2eBrowser) until(what, cond string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(timeout))); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("browser: waiting for %s (%s): %v", what, cond, err)
	}
}

// afterNavigation is until across a navigation the page makes itself: a
// poll cut short by the page going away is started again on the new one,
// within one bound.
func (b *e2eBrowser) afterNavigation(what, cond string, timeout time.Duration) {
	b.t.Helper()
	if err := chromium.PollAcrossNavigation(b.ctx, cond, time.Now().Add(timeout)); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("browser: waiting for %s (%s): %v", what, cond, err)
	}
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](b *e2eBrowser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, e2eWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// shot saves a screenshot of the whole page as NN-name.png.
func (b *e2eBrowser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, e2eWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", len(b.shots)+1, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.shots = append(b.shots, file)
}

// field is a CSS selector of a field's row on the form.
func field(id string) string { return fmt.Sprintf(`li.field[data-field=%q]`, id) }

// fieldDone is a condition: the field is complete and valid (or invalid)
// with n dots.
func fieldDone(id string, n int, valid bool) string {
	return fmt.Sprintf(`(() => { const f = document.querySelector(%q); return !!f && f.dataset.complete === "true" && f.dataset.valid === "%v" && f.querySelectorAll(".dot").length === %d; })()`, field(id), valid, n)
}

// fieldArmed is a condition: the field is the armed one, with n dots.
func fieldArmed(id string, n int) string {
	return fmt.Sprintf(`(() => { const f = document.querySelector(%q); return !!f && f.classList.contains("armed") && f.querySelectorAll(".dot").length === %d; })()`, field(id), n)
}

// leakWindows returns the runs of digits whose presence in an artifact
// would mean a card number leaked: every ten-digit window of each number.
// (The last four of a valid card are shown as "•••• 4242" by design; a
// window of ten never fits inside them.)
func leakWindows(cards ...string) []string {
	var out []string
	for _, c := range cards {
		for i := 0; i+10 <= len(c); i++ {
			out = append(out, c[i:i+10])
		}
	}
	return out
}

// checkNoCardDigits fails the test when any artifact holds a run of a card
// number. It names the artifact, never the digits.
func checkNoCardDigits(t *testing.T, artifacts map[string]string, cards ...string) {
	t.Helper()
	for name, text := range artifacts {
		if text == "" {
			t.Errorf("artifact %s is empty: nothing was searched", name)
		}
	}
	for _, name := range leaksIn(artifacts, cards...) {
		t.Errorf("artifact %s holds ten digits of a card number keyed in the test", name)
	}
}

// leaksIn returns the names of the artifacts that hold ten digits of a
// card number in a row, or in groups ("4242 4242 …", "4242-4242").
func leaksIn(artifacts map[string]string, cards ...string) []string {
	windows := leakWindows(cards...)
	var out []string
	for name, text := range artifacts {
		for _, hay := range []string{text, joinDigitGroups(text)} {
			if slices.ContainsFunc(windows, func(w string) bool { return strings.Contains(hay, w) }) {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestLeaksIn(t *testing.T) {
	const card = "4929387015624084"
	for _, c := range []struct {
		text string
		leak bool
	}{
		{`{"masked_pan":"•••• 4084","length":16}`, false},
		{"card " + card, true},
		{"4929 3870 1562 4084", true},
		{"4929-3870-1562-4084", true},
		{"…" + card[2:12] + "…", true},
		{"492938701", false}, // nine digits: below the window
		{`"at":"2026-11-25T23:31:08.888049086Z"`, false},
	} {
		got := leaksIn(map[string]string{"a": c.text}, card)
		if (len(got) == 1) != c.leak {
			t.Errorf("%q: leaks %v, want %v", c.text, got, c.leak)
		}
	}
}

// joinDigitGroups drops each space or dash that stands between two digits.
func joinDigitGroups(s string) string {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if (s[i] == ' ' || s[i] == '-') && i > 0 && i+1 < len(s) && isDigit(s[i-1]) && isDigit(s[i+1]) {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
