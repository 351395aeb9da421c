package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dtmfgw/gateway"
	"dtmfgw/internal/cli"
	"dtmfgw/internal/simcall"
)

// The scripted payment: the sandbox's approved Visa test card
// (docs/processor.md), an expiry two years ahead and a three-digit code,
// keyed at a pace a person can follow on the form.
const (
	demoPAN          = "4242424242424242"
	demoSecurityCode = "737"
	demoPress        = 120 * time.Millisecond
	demoGap          = 200 * time.Millisecond
	demoAmount       = 1250 // minor units: £12.50
	demoCurrency     = "GBP"
	// demoStepTimeout bounds each step the demo waits for: the keying, the
	// processor's answer, the call's end.
	demoStepTimeout = 60 * time.Second
)

// Run implements `dtmfgw demo`: it runs the gateway in-process with a
// simulated caller and agent, and plays one card payment through it,
// printing each step on stdout; the gateway logs on stderr. version is
// the build's, for the gateway's log and metrics.
func Run(ctx context.Context, version string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpListen := fs.String("http-listen", "127.0.0.1:8080", "the API and agent form's address (http.listen); port 0 picks a free one")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for the agent form to be opened before the caller keys")
	linger := fs.Duration("linger", 60*time.Second, "how long to keep the call and the form up after the result")
	storage := fs.String("storage", "", "payment records: sqlite:PATH or a postgres:// URL (default: SQLite in a temporary directory)")
	logLevel := fs.String("log-level", "warn", "the gateway's log level on standard error: debug, info, warn, error")
	typ := fs.String("type", "agent_assist", "the payment type: agent_assist (the caller keys the card) or digital (a link by SMS to the hosted payment page)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dtmfgw demo [--type agent_assist|digital] [--http-listen ADDR:PORT] [--wait 10s] [--linger 60s] [--storage DSN] [--log-level warn]")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *wait < 0 || *linger < 0 || (*typ != "agent_assist" && *typ != "digital") {
		fs.Usage()
		return cli.ErrUsage
	}
	cfg := gateway.DefaultConfig()
	cfg.SIP.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = *httpListen
	cfg.Admin.Listen = "127.0.0.1:0" // the demo's admin listener is logged, not fixed
	cfg.Log.Level = *logLevel
	if *storage != "" {
		cfg.Storage.DSN = *storage
	} else {
		dir, err := os.MkdirTemp("", "dtmfgw-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Storage.DSN = "sqlite:" + filepath.Join(dir, "demo.db")
	}
	cfg.HTTP.APIKeys = []string{gateway.NewAPIKey()}
	// Checked before the agent exists: its URI is the only default target.
	cfg.SIP.DefaultTarget = "sip:agent@127.0.0.1:5070"
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration refused:\n%w", err)
	}
	d := &demo{out: stdout, wait: *wait, linger: *linger, version: version, digital: *typ == "digital"}
	log, _ := gateway.NewLogger(stderr, cfg.Log)
	err := d.run(ctx, cfg, log)
	if err != nil && ctx.Err() != nil {
		// Ctrl-C: the parts have been stopped; that is the end asked for.
		d.say("  interrupted: stopped")
		return nil
	}
	return err
}

// demo is one run of the scripted payment.
type demo struct {
	out          io.Writer
	wait, linger time.Duration
	version      string
	api          *apiClient
	g            *gateway.Gateway
	// digital: the caller pays on the hosted page through a link by SMS.
	digital bool
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

// run plays the demo: everything it starts is stopped before it returns.
func (d *demo) run(ctx context.Context, cfg gateway.Config, log *slog.Logger) error {
	// ctx ends on Ctrl-C; the parts run until run returns.
	partsCtx, stopParts := context.WithCancel(context.Background())
	defer stopParts()
	agent, err := simcall.NewAgent(partsCtx, log)
	if err != nil {
		return err
	}
	defer agent.Close()
	cfg.SIP.DefaultTarget = agent.URI()
	g, err := gateway.Start(ctx, cfg, log, gateway.Options{Version: d.version})
	if err != nil {
		return err
	}
	d.g = g
	gwDone := make(chan error, 1)
	gwCtx, stopGateway := context.WithCancel(context.Background())
	go func() { gwDone <- g.Run(gwCtx, nil, nil) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopGateway()
		return <-gwDone
	}
	defer stop()
	base := "http://" + g.HTTPAddr().String()
	d.api = &apiClient{base: base, key: cfg.HTTP.APIKeys[0], client: &http.Client{Timeout: demoStepTimeout}}
	d.say("dtmfgw demo: the gateway, a simulated caller and a simulated agent, in this process")
	d.say("  gateway   SIP %s (UDP, TCP), API %s/v1/, payment records %s", g.SIPAddr(), base, strings.TrimPrefix(cfg.Storage.DSN, "sqlite:"))
	d.say("  agent     %s answers and hears only what the gateway relays", agent.URI())

	caller, err := simcall.NewCaller(partsCtx, log)
	if err != nil {
		return err
	}
	defer caller.Close()
	primary := "demo-" + randomHex(6)
	// One bound for the whole script: the wait for the form, then the
	// keying, the processor and the result.
	step, cancel := context.WithTimeout(ctx, demoStepTimeout+d.wait)
	defer cancel()
	if err := caller.Call(step, g.SIPAddr(), "1000",
		simcall.Header{Name: cfg.SIP.Headers.PrimaryCallID, Value: primary},
		simcall.Header{Name: cfg.SIP.Headers.AgentID, Value: "demo-agent"}); err != nil {
		return fmt.Errorf("the simulated caller's call: %w", err)
	}
	d.say("  caller    called sip:1000@%s; the gateway bridged it to the agent (primary call id %s)", g.SIPAddr(), primary)

	if d.digital {
		return d.finish(caller, stop, d.runDigital(ctx, step, partsCtx, primary))
	}
	created, err := d.createPayment(step, primary)
	if err != nil {
		return err
	}
	p := created.Payment
	d.say("  payment   %s created over the API: %s %d.%02d, reference %s", p.ID, demoCurrency, demoAmount/100, demoAmount%100, p.Attributes.Reference)
	d.say("")
	d.say("Agent form: %s", created.FormURL)
	d.say("")
	if d.wait > 0 {
		d.say("Open this URL in a browser; the caller starts keying in %s or as soon as the form is open.", d.wait)
	} else {
		d.say("Open this URL in a browser to watch; the caller starts keying now (--wait 0).")
	}

	events, err := d.api.events(partsCtx, p.ID)
	if err != nil {
		return err
	}
	if _, err := events.next(step); err != nil { // the snapshot: subscribed
		return err
	}
	d.waitForForm(ctx, p.CallID)
	if ctx.Err() != nil {
		return d.finish(caller, stop, ctx.Err())
	}

	var view paymentJSON
	if err := d.api.do(step, "POST", "/v1/payments/"+p.ID+"/fields/card_number/arm", nil, &view); err != nil {
		return d.finish(caller, stop, err)
	}
	d.say("  agent     armed the card number (the fields that follow arm themselves)")
	keys := scriptKeys(time.Now())
	defer clear(keys)
	d.say("  caller    keys the sandbox's approved Visa test card, an expiry and a security code: %d keys as RFC 4733 events", len(keys))
	keyed := make(chan error, 1)
	go func() { keyed <- caller.KeyDigits(step, keys, demoPress, demoGap) }()
	presses, err := d.follow(step, events, keyed)
	if err != nil {
		return d.finish(caller, stop, err)
	}
	d.say("  agent     processes the payment")
	if err := d.api.do(step, "POST", "/v1/payments/"+p.ID+"/process", nil, &view); err != nil {
		return d.finish(caller, stop, err)
	}
	if err := d.awaitResult(step, events); err != nil {
		return d.finish(caller, stop, err)
	}
	st := agent.Stats()
	d.say("  %d key presses reached the payment as dots; the agent received %d RTP packets, %d of them telephone-events", presses, st.Packets, st.EventShaped)
	var result error
	if view.Result == nil || view.Result.State != "approved" {
		state := view.State
		if view.Result != nil {
			state = view.Result.State
		}
		result = fmt.Errorf("the demo payment was %s, not approved", state)
	}
	if result == nil && d.linger > 0 {
		d.say("")
		d.say("The call and the form stay up for %s (--linger); Ctrl-C ends the demo now.", d.linger)
		select {
		case <-time.After(d.linger):
		case <-ctx.Done():
		case <-caller.Ended():
		}
	}
	return d.finish(caller, stop, result)
}

// finish hangs the caller up, stops the gateway and reports err (or how
// the stop went).
func (d *demo) finish(caller *simcall.Caller, stop func() error, err error) error {
	hctx, cancel := context.WithTimeout(context.Background(), demoStepTimeout)
	defer cancel()
	if herr := caller.Hangup(hctx); herr != nil && !errors.Is(herr, simcall.ErrNoCall) {
		err = errors.Join(err, herr)
	}
	if ended := caller.Ended(); ended != nil {
		select {
		case <-ended:
		case <-hctx.Done():
		}
	}
	if serr := stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err == nil {
		d.say("  caller    hung up; the gateway drained and stopped. Done.")
	}
	return err
}

// createPayment asks for a card payment on the caller's call, as a CRM
// would: by the contact centre's primary call id.
func (d *demo) createPayment(ctx context.Context, primary string) (createdJSON, error) {
	body := map[string]any{
		"primary_call_id": primary,
		"type":            "agent_assist",
		"configuration":   "card",
		"prefill":         map[string]any{"amount": demoAmount, "currency": demoCurrency, "reference": "DEMO-" + strings.ToUpper(randomHex(3))},
		"idempotency_key": "demo-" + randomHex(8),
	}
	var c createdJSON
	if err := d.api.do(ctx, "POST", "/v1/payments", body, &c); err != nil {
		return c, fmt.Errorf("creating the payment: %w", err)
	}
	return c, nil
}

// waitForForm returns when the agent form has subscribed to the call's
// events (a subscriber besides the demo's own), after d.wait, or when ctx
// ends. Subscribers have no event of their own: their count is polled.
func (d *demo) waitForForm(ctx context.Context, callID string) {
	if d.wait <= 0 {
		return
	}
	deadline := time.NewTimer(d.wait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if set := d.g.Payments().Set(callID); set != nil && set.Events().Stats().Subscribers > 1 {
			d.say("  form      open: here come the dots")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			d.say("  form      not open after %s: keying anyway", d.wait)
			return
		case <-tick.C:
		}
	}
}

// follow prints the payment's progress until every field is complete
// and the payment is ready, and returns how many progress lines (one per
// key) it printed.
func (d *demo) follow(ctx context.Context, events *sseStream, keyed <-chan error) (int, error) {
	presses := 0
	for {
		ev, err := events.nextOrKeyed(ctx, keyed)
		if err != nil {
			return presses, err
		}
		if ev.Type == "field_length" && ev.Length > 0 {
			presses++
		}
		d.print(ev)
		if ev.Type == "state" && ev.State == "ready" {
			return presses, nil
		}
		if ev.Type == "state" && finalState(ev.State) {
			return presses, fmt.Errorf("the payment ended %s before it was ready", ev.State)
		}
	}
}

// awaitResult prints events until the processor's result.
func (d *demo) awaitResult(ctx context.Context, events *sseStream) error {
	for {
		ev, err := events.next(ctx)
		if err != nil {
			return err
		}
		d.print(ev)
		if ev.Type == "result" {
			return nil
		}
	}
}

// print writes one event as the form shows it: dots, brand, last four.
func (d *demo) print(ev eventJSON) {
	switch ev.Type {
	case "field_armed":
		if ev.Field != "" {
			d.say("  form      %s armed", ev.Field)
		}
	case "field_length":
		line := fmt.Sprintf("  form      %-14s %s", ev.Field, strings.Repeat("•", ev.Length))
		if ev.Brand != "" && ev.Brand != "unknown" {
			line += "  " + ev.Brand
		}
		d.say("%s", line)
	case "field_complete":
		verdict := "complete, not valid"
		if ev.Valid {
			verdict = "complete, valid"
		}
		if ev.MaskedPAN != "" {
			verdict += ", " + ev.Brand + " " + ev.MaskedPAN
		}
		d.say("  form      %-14s %s", ev.Field, verdict)
	case "state":
		d.say("  payment   %s", ev.State)
	case "secure":
		if ev.Secure {
			d.say("  form      secure: key presses are masked toward the agent")
		} else {
			d.say("  form      not secure")
		}
	case "result":
		if r := ev.Result; r != nil {
			d.say("  result    %s: %s •••• %s, %s %d.%02d, processor reference %s", r.State, r.Brand, r.Last4, r.Currency, r.Amount/100, r.Amount%100, r.ProcessorReference)
		}
	}
}

// scriptKeys are the keys the caller presses: card number, expiry (MMYY,
// December two years after now) and security code. Card data: the
// caller zeroes them after use.
func scriptKeys(now time.Time) []byte {
	keys := make([]byte, 0, len(demoPAN)+4+len(demoSecurityCode))
	keys = append(keys, demoPAN...)
	keys = fmt.Appendf(keys, "12%02d", (now.Year()+2)%100)
	return append(keys, demoSecurityCode...)
}

// randomHex is n random bytes in hex, for ids.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
