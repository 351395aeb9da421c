package api

import (
	"context"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"dtmfgw/payment"
)

// The agent form where agents use it: inside an agent desktop's iframe,
// and over an event stream that breaks. Same rules as form_browser_test.go:
// every wait is a DOM condition (or an HTTP request reaching the test's
// gateway) bounded by a timeout; screenshots go to the artifacts.

// Agent desktop geometry: a side bar beside the form's frame.
const (
	deskWidth, deskHeight   = 640, 900
	frameWidth, frameHeight = 400, 860
)

// desktop is an agent desktop: a page of another site than the gateway's
// (127.0.0.2 against the gateway's 127.0.0.1: Chromium puts a cross-site
// frame in a process of its own, as a real desktop's would be) that
// frames the form.
type desktop struct {
	ts     *httptest.Server
	origin string

	mu  sync.Mutex
	src string // the URL the page frames
}

var desktopPage = template.Must(template.New("desktop").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Agent desktop</title><link rel="icon" href="data:,">
<style>
body { margin: 0; display: flex; font: 14px sans-serif; }
nav { width: 200px; padding: 12px; background: #1d3557; color: #fff; }
iframe { border: 0; width: {{.W}}px; height: {{.H}}px; }
</style></head>
<body>
<nav><h1>Agent desktop</h1><p>Caller +44 1234 567890</p><button type="button" id="notes">Notes</button></nav>
<iframe id="pay" title="Card payment" src="{{.Src}}" onload="this.dataset.loads = String(Number(this.dataset.loads || 0) + 1)"></iframe>
</body></html>`))

func newDesktop(t *testing.T) *desktop {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("the agent desktop listens on 127.0.0.2, another site than the gateway's 127.0.0.1: %v", err)
	}
	d := &desktop{}
	d.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		d.mu.Lock()
		src := d.src
		d.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = desktopPage.Execute(w, struct {
			W, H int
			Src  template.URL
		}{frameWidth, frameHeight, template.URL(src)})
	}))
	d.ts.Listener.Close()
	d.ts.Listener = l
	d.ts.Start()
	t.Cleanup(d.ts.Close)
	d.origin = d.ts.URL
	return d
}

// open shows the desktop framing src in the tab, and waits for the frame
// to load (whatever it then shows).
func (d *desktop) open(tb *tab, src string) {
	tb.t.Helper()
	d.mu.Lock()
	d.src = src
	d.mu.Unlock()
	tb.do("desktop viewport", chromedp.EmulateViewport(deskWidth, deskHeight))
	tb.do("open the desktop", chromedp.Navigate(d.ts.URL+"/"))
	tb.until("the frame loaded", `Number(document.getElementById('pay').dataset.loads || 0) >= 1`)
}

// frame attaches to the desktop's frame showing a page under prefix: a
// cross-site frame is a target of its own. The frame's tab runs the form
// helpers inside the frame; its screenshots show the whole desktop.
func (tb *tab) frame(prefix string) *tab {
	tb.t.Helper()
	// The frame has loaded (open waited for its load event, which comes
	// after its document's), so its target is there to find.
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		tb.t.Fatalf("targets: %v", err)
	}
	for _, info := range infos {
		if info.Type != "iframe" || !strings.HasPrefix(info.URL, prefix) {
			continue
		}
		fctx, cancel := chromedp.NewContext(tb.ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
		tb.t.Cleanup(cancel)
		ft := &tab{t: tb.t, ctx: fctx, view: tb.ctx, dir: tb.dir, shots: tb.shots}
		ft.watchConsole()
		return ft
	}
	tb.shot("FAILED-frame")
	tb.t.Fatalf("no iframe target showing %s among %d targets", prefix, len(infos))
	return nil
}

// gateway is the API server as the browser reaches it: in front of the
// test's Server, it notes every request, and lets the test end the event
// streams, hold the browser's reconnection, and hold the answers of the
// payment's reads (GET /v1/payments/{id}) to deliver them late.
type gateway struct {
	t    *testing.T
	next http.Handler
	ts   *httptest.Server

	mu        sync.Mutex
	requests  []string // "GET /form/…" of each request
	streams   map[int]context.CancelFunc
	n         int
	gate      chan struct{} // not nil: new streams wait until it is closed
	viewGate  chan struct{} // not nil: reads' answers wait until it is closed
	lastIDs   chan string   // the Last-Event-ID of each stream request, as it comes
	viewsHeld chan string   // the path of each read whose answer is held
	resets    int           // streams that began with "event: reset"
}

func newGateway(t *testing.T, e *formEnv) *gateway {
	t.Helper()
	g := &gateway{
		t: t, next: e.env.srv.Handler(), streams: make(map[int]context.CancelFunc),
		lastIDs: make(chan string, 64), viewsHeld: make(chan string, 64),
	}
	g.ts = httptest.NewServer(g)
	t.Cleanup(g.ts.Close)
	t.Cleanup(g.release) // a held request must not hold up Close
	e.url = g.ts.URL
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.requests = append(g.requests, r.Method+" "+r.URL.Path)
	g.mu.Unlock()
	isStream := strings.HasPrefix(r.URL.Path, "/v1/payments/") && strings.HasSuffix(r.URL.Path, "/events")
	isView := r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/payments/") && strings.Count(r.URL.Path, "/") == 3
	switch {
	case isStream:
		g.serveStream(w, r)
	case isView:
		g.mu.Lock()
		gate := g.viewGate
		g.mu.Unlock()
		if gate == nil {
			g.next.ServeHTTP(w, r)
			return
		}
		// Answer now, deliver later: the answer is the payment as it is
		// at this moment, as a slow network would bring it.
		rec := httptest.NewRecorder()
		g.next.ServeHTTP(rec, r)
		g.viewsHeld <- r.URL.Path
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	default:
		g.next.ServeHTTP(w, r)
	}
}

func (g *gateway) serveStream(w http.ResponseWriter, r *http.Request) {
	select {
	case g.lastIDs <- r.Header.Get("Last-Event-ID"):
	default:
	}
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	g.mu.Lock()
	g.n++
	id := g.n
	g.streams[id] = cancel
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.streams, id)
		g.mu.Unlock()
	}()
	g.next.ServeHTTP(&streamWriter{ResponseWriter: w, g: g}, r.WithContext(ctx))
}

// streamWriter notes a stream that begins with a reset. It offers
// Unwrap and no Flush, as many middlewares do: the API's flushes must
// reach the connection through it.
type streamWriter struct {
	http.ResponseWriter
	g       *gateway
	started bool
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	if !sw.started {
		sw.started = true
		if strings.HasPrefix(string(p), "event: reset\n") {
			sw.g.mu.Lock()
			sw.g.resets++
			sw.g.mu.Unlock()
		}
	}
	return sw.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController flush the stream.
func (sw *streamWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// endStreams holds new streams and ends the open ones, as a gateway that
// drops its streams would (the responses end; the connection stays).
func (g *gateway) endStreams() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate == nil {
		g.gate = make(chan struct{})
	}
	for _, cancel := range g.streams {
		cancel()
	}
}

// cutConnections holds new streams and closes every client connection,
// as a network that fails would.
func (g *gateway) cutConnections() {
	g.mu.Lock()
	if g.gate == nil {
		g.gate = make(chan struct{})
	}
	g.mu.Unlock()
	g.ts.CloseClientConnections()
}

// holdViews holds the answers of the payment's reads until release.
func (g *gateway) holdViews() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.viewGate == nil {
		g.viewGate = make(chan struct{})
	}
}

// releaseStreams lets held streams through.
func (g *gateway) releaseStreams() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

// releaseViews lets held answers through.
func (g *gateway) releaseViews() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.viewGate != nil {
		close(g.viewGate)
		g.viewGate = nil
	}
}

// release lets everything held through.
func (g *gateway) release() {
	g.releaseStreams()
	g.releaseViews()
}

// nextStream waits for the browser's next stream request and returns its
// Last-Event-ID.
func (g *gateway) nextStream(what string) string {
	g.t.Helper()
	select {
	case id := <-g.lastIDs:
		return id
	case <-time.After(stepTimeout):
		g.t.Fatalf("%s: no stream request within %v", what, stepTimeout)
		return ""
	}
}

// requested reports how many requests were for a path with prefix.
func (g *gateway) requested(prefix string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// heldViews returns how many reads' answers have been held so far.
func (g *gateway) heldViews() int {
	n := 0
	for {
		select {
		case <-g.viewsHeld:
			n++
		default:
			return n
		}
	}
}

func (g *gateway) resetCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.resets
}

// untilLogged waits for a console message with substr, and takes it off
// the messages the test fails on.
func (tb *tab) untilLogged(what, substr string) string {
	tb.t.Helper()
	deadline := time.After(stepTimeout)
	for {
		tb.mu.Lock()
		for i, m := range tb.console {
			if strings.Contains(m, substr) {
				tb.console = append(tb.console[:i], tb.console[i+1:]...)
				tb.mu.Unlock()
				return m
			}
		}
		tb.mu.Unlock()
		select {
		case <-tb.logged:
		case <-deadline:
			tb.shot("FAILED-" + what)
			tb.t.Fatalf("%s: no console message with %q within %v", what, substr, stepTimeout)
		}
	}
}

func newFormEnvWith(t *testing.T, o envOptions) *formEnv {
	t.Helper()
	if len(o.configs) == 0 {
		o.configs = []payment.Config{cardConfig("card", "Card payment", 0)}
	}
	env := newTestEnv(t, o)
	call := &formCall{secure: true}
	set := env.ps.ForCall(call)
	t.Cleanup(func() { set.Close(payment.ReasonCallEnded) })
	return &formEnv{t: t, env: env, set: set, call: call, url: env.ts.URL}
}

func TestFormIframe(t *testing.T) {
	browser := newBrowser(t)
	t.Logf("screenshots in %s", artifactsDir(t))

	t.Run("approved", func(t *testing.T) {
		t.Parallel()
		desk := newDesktop(t)
		env := newFormEnvWith(t, envOptions{edit: func(c *Config) { c.FrameAncestors = []string{desk.origin} }})
		newGateway(t, env)
		top := newTab(t, browser)
		desk.open(top, env.newPayment("card", payment.Attributes{Amount: 1250, Currency: "GBP", Reference: "INV-1"}))
		tb := top.frame(env.url + "/form/")
		tb.until("the snapshot", `document.getElementById('app').getAttribute('aria-busy') === 'false'`)
		env.resendSecure()
		tb.badge(true)
		tb.until("three fields", `document.querySelectorAll('li.field').length === 3`)
		if w := eval[int](tb, `document.documentElement.scrollWidth`); w > frameWidth {
			t.Errorf("the form is %d px wide in a %d px frame", w, frameWidth)
		}
		tb.shot("in-the-desktop")

		tb.fillCard(env, "4242424242424242", "1230", "123")
		tb.until("process enabled", `!document.getElementById('process').disabled`)
		tb.shot("ready")
		tb.do("process", chromedp.Click(chromedp.ID("process")))
		tb.result("approved")
		tb.until("the result says approved", `document.getElementById('result').textContent.includes('Approved') && document.getElementById('result').textContent.includes('•••• 4242')`)
		tb.shot("approved")
	})

	t.Run("keyboard", func(t *testing.T) {
		t.Parallel()
		desk := newDesktop(t)
		env := newFormEnvWith(t, envOptions{})
		newGateway(t, env)
		top := newTab(t, browser)
		desk.open(top, env.newPayment("card", payment.Attributes{Amount: 100, Currency: "GBP"}))
		tb := top.frame(env.url + "/form/")
		tb.until("fields", `document.querySelectorAll('li.field').length === 3`)
		// The agent's keys go to the desktop; Tab carries the focus from
		// the desktop's last control into the frame and through the form.
		top.do("focus the desktop", chromedp.Focus(chromedp.ID("notes")))
		target := field("card_number") + " .arm"
		for i := 0; ; i++ {
			if eval[bool](tb, `document.hasFocus() && document.activeElement === document.querySelector('`+target+`')`) {
				break
			}
			if i == 30 {
				tb.shot("FAILED-tab-into-frame")
				t.Fatalf("30 presses of Tab in the desktop never reached %s in the frame", target)
			}
			top.do("tab", chromedp.KeyEvent(kb.Tab))
		}
		if outline := eval[string](tb, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" {
			t.Error("the focused field shows no focus outline")
		}
		top.do("Enter arms it", chromedp.KeyEvent(kb.Enter))
		tb.armed("card_number")
		tb.key(env, "card_number", "42")
		tb.shot("armed-by-keyboard")
	})

	// frame-ancestors (CSP Level 3 §7.7.3) decides who may frame the form.
	for _, tc := range []struct {
		name      string
		ancestors func(desk *desktop) []string
		framed    bool
	}{
		{"default, anyone", func(*desktop) []string { return nil }, true},
		{"another origin", func(*desktop) []string { return []string{"https://desk.example.com"} }, false},
		{"the desktop's host on another port", func(d *desktop) []string { return []string{"http://127.0.0.2:1"} }, false},
		{"self", func(*desktop) []string { return []string{"'self'"} }, false},
	} {
		t.Run("frame-ancestors "+tc.name, func(t *testing.T) {
			t.Parallel()
			desk := newDesktop(t)
			env := newFormEnvWith(t, envOptions{edit: func(c *Config) { c.FrameAncestors = tc.ancestors(desk) }})
			gw := newGateway(t, env)
			top := newTab(t, browser)
			url := env.newPayment("card", payment.Attributes{Amount: 100, Currency: "GBP"})
			desk.open(top, url)
			if tc.framed {
				tb := top.frame(env.url + "/form/")
				tb.until("the snapshot", `document.getElementById('app').getAttribute('aria-busy') === 'false' && document.querySelectorAll('li.field').length === 3`)
				tb.shot("framed")
				return
			}
			msg := top.untilLogged("the frame refused", "frame-ancestors")
			top.shot("refused")
			t.Logf("the browser says: %s", msg)
			// The page was fetched and refused before it ran: none of its
			// files, no call of the API.
			if n := gw.requested("GET /form/assets/"); n != 0 {
				t.Errorf("the refused frame fetched %d form files", n)
			}
			if n := gw.requested("GET /v1/"); n != 0 {
				t.Errorf("the refused frame called the API %d times", n)
			}
		})
	}
}

// watchDots counts, in the page, the dots ever taken off the fields: a
// key press's dot is drawn once and stays unless the agent clears the
// field, so any removal means the form drew a stale picture.
func (tb *tab) watchDots() {
	tb.t.Helper()
	eval[bool](tb, `(() => {
		window.dotsRemoved = 0;
		new MutationObserver((records) => {
			for (const r of records) for (const n of r.removedNodes) if (n.classList && n.classList.contains('dot')) window.dotsRemoved++;
		}).observe(document.getElementById('fields'), { childList: true, subtree: true });
		return true;
	})()`)
}

func TestFormStreamResume(t *testing.T) {
	browser := newBrowser(t)
	// flood is more events than a call's bus keeps for a stream that
	// resumes (package payment's replayLen, 256).
	const flood = 300

	for _, tc := range []struct {
		name  string
		drop  func(*gateway)
		flood bool // more events while the stream is down than the bus keeps
	}{
		{"stream ends", (*gateway).endStreams, false},
		{"connection cut", (*gateway).cutConnections, false},
		{"too many missed", (*gateway).endStreams, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newFormEnv(t)
			gw := newGateway(t, env)
			tb := newTab(t, browser)
			tb.open(env.newPayment("card", payment.Attributes{Amount: 100, Currency: "GBP"}))
			if id := gw.nextStream("the first stream"); id != "" {
				t.Errorf("the first stream asked to resume after %s", id)
			}
			env.resendSecure()
			tb.badge(true)
			tb.do("arm the card number", chromedp.Click(chromedp.CSS(field("card_number")+" .arm")))
			tb.armed("card_number")
			tb.watchDots()
			tb.key(env, "card_number", "4242")
			before := env.set.Events().LastSeq()

			tc.drop(gw)
			resumeID := gw.nextStream("the reconnection")
			// The browser is reconnecting and the gateway holds it: the
			// badge says the form may miss news.
			tb.badge(false)
			tb.shot("stream-down")
			for i := range 4 {
				env.press("4242"[i])
			}
			if tc.flood {
				for range flood / 2 {
					env.resendSecure()
				}
				// The form's read of the payment after the reset is
				// answered now and delivered after the next key's event.
				gw.holdViews()
			}
			gw.releaseStreams()
			n, err := strconv.ParseUint(resumeID, 10, 64)
			if err != nil || n == 0 || n > before {
				t.Errorf("the browser resumed after %q, want an event id in 1..%d", resumeID, before)
			}
			tb.until("8 dots", fmt.Sprintf(`document.querySelectorAll('%s .dot').length === 8 && document.querySelectorAll('%[1]s .dot[data-drawn-at]').length === 8`, field("card_number")))
			tb.shot("resumed")
			if tc.flood {
				if gw.resetCount() != 1 {
					t.Errorf("%d streams began with a reset, want 1", gw.resetCount())
				}
				tb.key(env, "card_number", "4")
				// Let the reads the form made go (they tell of 8 dots),
				// and wait for the browser to have them before the next
				// key.
				held := gw.heldViews()
				t.Logf("%d reads held", held)
				gw.releaseViews()
				tb.until("reads done", fmt.Sprintf(`performance.getEntriesByType('resource').filter((e) => /^\/v1\/payments\/[^/]+$/.test(new URL(e.name).pathname)).length >= %d`, held))
				tb.key(env, "card_number", "242424")
			} else {
				if gw.resetCount() != 0 {
					t.Errorf("%d streams began with a reset, want none", gw.resetCount())
				}
				tb.key(env, "card_number", "4242424")
			}
			tb.key(env, "card_number", "2")
			tb.complete("card_number", true)
			if n := eval[int](tb, `window.dotsRemoved`); n != 0 {
				t.Errorf("%d dots were taken off and drawn again", n)
			}
			tb.shot("complete")
		})
	}
}
