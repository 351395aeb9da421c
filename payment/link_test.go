package payment

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/internal/testkit"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// Digital payments run on the real store (SQLite in the test's folder)
// and the sandbox processor; the payments and the store share one manual
// clock, so the 72-hour expiry is a clock.Advance.

const canaryPAN = "4242424242424242"

// fakeTexter is a Texter that keeps what it was handed.
type fakeTexter struct {
	mu   sync.Mutex
	sent []TextMessage
	fail error
}

func (f *fakeTexter) Text(m TextMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeTexter) Provider() string { return "outbox" }

func (f *fakeTexter) messages() []TextMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TextMessage(nil), f.sent...)
}

// numberCall is a fakeCall with the caller's number.
type numberCall struct{ fakeCall }

func (c *numberCall) Correlation() call.Correlation {
	corr := c.fakeCall.Correlation()
	corr.CallerNumber = "+44 7700 900123"
	return corr
}

type digitalEnv struct {
	t      *testing.T
	proc   processor.Processor // nil: the sandbox
	dir    string
	clock  *testkit.Clock
	st     *store.Store
	ps     *Payments
	texter *fakeTexter
	log    *bytes.Buffer
}

func digitalConfig() Config {
	c := DefaultConfigs()[0]
	c.Types = []PaymentType{TypeAgentAssist, TypeDigital}
	c.Currency = "GBP"
	return c
}

func newDigitalEnv(t *testing.T, proc ...processor.Processor) *digitalEnv {
	t.Helper()
	e := &digitalEnv{t: t, dir: t.TempDir(), clock: testkit.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)),
		texter: &fakeTexter{}, log: &bytes.Buffer{}}
	if len(proc) > 0 {
		e.proc = proc[0]
	}
	e.open()
	return e
}

// open opens the store and makes the payments (again, after close: a
// restart).
func (e *digitalEnv) open() {
	t := e.t
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(e.dir, "dtmfgw.db"), store.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sandbox := e.proc
	if sandbox == nil {
		var err error
		sandbox, err = processor.New("sandbox", processor.Config{Type: processor.TypeSandbox, MinDelay: time.Microsecond, MaxDelay: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: e.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ps, err := NewPayments(Settings{Configurations: []Config{digitalConfig()}}, WithProcessors(sandbox), WithStore(StorePayments(st)),
		WithClock(e.clock.Now), WithLogger(log), WithDigital(st, "https://pay.example.com/pay/", e.texter))
	if err != nil {
		t.Fatal(err)
	}
	e.st, e.ps = st, ps
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (e *digitalEnv) create(callID string) (Ref, string) {
	e.t.Helper()
	r, link, err := e.ps.CreateDigital(e.t.Context(), DigitalRequest{ID: store.NewID(), CallID: callID,
		Attributes: Attributes{Amount: 1250, Reference: "INV-7"}, Actor: store.ActorAPI})
	if err != nil {
		e.t.Fatalf("CreateDigital: %v", err)
	}
	_, token, ok := strings.Cut(link.URL, "#")
	if !ok || !strings.HasPrefix(link.URL, "https://pay.example.com/pay/#") || len(token) < 40 {
		e.t.Fatalf("link %q", link.URL)
	}
	return r, token
}

func card(pan, expiry, cvc string) (PageCard, [][]byte) {
	c := PageCard{Fields: map[string][]byte{"card_number": []byte(pan), "expiry": []byte(expiry), "security_code": []byte(cvc)}}
	var held [][]byte
	for _, b := range c.Fields {
		held = append(held, b)
	}
	return c, held
}

func zeroed(t *testing.T, held [][]byte) {
	t.Helper()
	for _, b := range held {
		if bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
			t.Fatalf("a card field's bytes were not zeroed")
		}
	}
}

func TestDigitalPaymentPaysByLink(t *testing.T) {
	e := newDigitalEnv(t)
	ctx := t.Context()
	r, token := e.create("")
	if v := r.View(); v.Type != TypeDigital || v.State != StateCreated || v.Link == nil || v.Link.State != LinkCreated || v.Link.MaxAttempts != 3 {
		t.Fatalf("view %+v / %+v", v, v.Link)
	}
	if !r.View().Link.Expires.Equal(e.clock.Now().Add(72 * time.Hour)) {
		t.Fatalf("expires %v, want 72 h from now", r.View().Link.Expires)
	}
	if _, err := e.ps.OpenLink(ctx, token+"x"); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("a forged token: %v, want ErrLinkNotFound", err)
	}
	// A forged token pays nothing, counts no attempt, reports nothing.
	forged, held := card("4000000000000002", "1230", "123")
	if _, err := e.ps.PayLink(ctx, strings.ToUpper(token), forged); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("paying with a forged token: %v, want ErrLinkNotFound", err)
	}
	zeroed(t, held)
	if err := e.ps.LinkProgress(ctx, "forged", "card_number", 3); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("progress with a forged token: %v", err)
	}
	if l, err := e.st.Link(ctx, r.ID()); err != nil || l.State != "created" || l.Attempts != 0 || l.FailedAttempts != 0 {
		t.Fatalf("the link after forged tokens: %+v, %v", l, err)
	}
	v, err := e.ps.OpenLink(ctx, token)
	if err != nil || v.State != LinkOpened || v.Amount != 1250 || v.Currency != "GBP" || v.Merchant != "Card payment" || len(v.Fields) != 3 || v.AttemptsLeft != 3 {
		t.Fatalf("OpenLink = %+v, %v", v, err)
	}

	c, held := card("4000000000000002", "1230", "123")
	v, err = e.ps.PayLink(ctx, token, c)
	zeroed(t, held)
	if err != nil || v.State != LinkOpened || v.LastAttempt == nil || v.LastAttempt.Outcome != "declined" || v.AttemptsLeft != 2 || v.Result != nil {
		t.Fatalf("declined card: %+v, %v", v, err)
	}
	c, held = card(canaryPAN, "1230", "123")
	v, err = e.ps.PayLink(ctx, token, c)
	zeroed(t, held)
	if err != nil || v.State != LinkPaid || v.Result == nil || v.Result.State != StateApproved || v.Result.Last4 != "4242" || v.Result.Brand != BrandVisa {
		t.Fatalf("good card: %+v, %v", v, err)
	}
	c, _ = card(canaryPAN, "1230", "123")
	if v, err = e.ps.PayLink(ctx, token, c); !errors.Is(err, ErrLinkClosed) || v.State != LinkPaid {
		t.Fatalf("paying a paid link: %v (%v)", err, v.State)
	}
	sp, err := e.st.GetPayment(ctx, r.ID())
	if err != nil || sp.State != store.StateApproved || sp.IdempotencyKey != "dtmfgw-"+r.ID()+"-2" {
		t.Fatalf("record %+v, %v", sp, err)
	}
	for _, secret := range []string{canaryPAN, token} {
		if strings.Contains(e.log.String(), secret) {
			t.Fatalf("the log holds a card number or the link's token:\n%s", e.log.String())
		}
	}
}

func TestDigitalLinkLocksAfterFailedAttempts(t *testing.T) {
	e := newDigitalEnv(t)
	ctx := t.Context()
	r, token := e.create("")
	for i := range 3 {
		c, held := card("4242424242424241", "1230", "123") // fails Luhn
		v, err := e.ps.PayLink(ctx, token, c)
		zeroed(t, held)
		if err != nil || v.LastAttempt == nil || v.LastAttempt.Outcome != "invalid" || v.AttemptsLeft != 2-i {
			t.Fatalf("attempt %d: %+v, %v", i+1, v, err)
		}
		if i < 2 && v.State != LinkCreated {
			t.Fatalf("attempt %d: state %v", i+1, v.State)
		}
	}
	v, err := e.ps.OpenLink(ctx, token)
	if !errors.Is(err, ErrLinkClosed) || v.State != LinkLocked {
		t.Fatalf("a locked link: %v, %v", v.State, err)
	}
	f, err := e.ps.Find(ctx, r.ID())
	if err != nil || f.View().State != StateFailed || f.View().Link.State != LinkLocked {
		t.Fatalf("locked payment: %+v, %v", f.View(), err)
	}
}

func TestDigitalLinkExpires(t *testing.T) {
	e := newDigitalEnv(t)
	ctx := t.Context()
	r, token := e.create("")
	e.clock.Advance(72*time.Hour - time.Second)
	if _, err := e.ps.OpenLink(ctx, token); err != nil {
		t.Fatalf("a second before 72 h: %v", err)
	}
	e.clock.Advance(time.Second)
	v, err := e.ps.OpenLink(ctx, token)
	if !errors.Is(err, ErrLinkClosed) || v.State != LinkExpired {
		t.Fatalf("at 72 h: %v, %v", v.State, err)
	}
	f, err := e.ps.Find(ctx, r.ID())
	if err != nil || f.View().State != StateTimedOut {
		t.Fatalf("expired payment: %v, %v", f.View().State, err)
	}

	// The sweep ends a link nobody looks at, so its webhook goes on time.
	r2, _ := e.create("")
	e.clock.Advance(72 * time.Hour)
	if n, err := e.ps.ExpireLinks(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireLinks = %d, %v", n, err)
	}
	sp, err := e.st.GetPayment(ctx, r2.ID())
	if err != nil || sp.State != store.StateTimedOut {
		t.Fatalf("swept payment %v, %v", sp.State, err)
	}
}

func TestDigitalLinkSurvivesRestart(t *testing.T) {
	e := newDigitalEnv(t)
	ctx := t.Context()
	r, token := e.create("")
	if _, err := e.ps.SendLink(ctx, r.ID(), "+447700900123", store.ActorAgent); err != nil {
		t.Fatal(err)
	}
	sent := e.texter.messages()
	if len(sent) != 1 || !strings.Contains(sent[0].Body, "#"+token) || strings.Contains(sent[0].Redacted, token) || sent[0].To != "+447700900123" {
		t.Fatalf("sent %+v", sent)
	}
	e.st.Close()
	e.open() // a restart: the token is no longer in memory

	if v, err := e.ps.OpenLink(ctx, token); err != nil || v.State != LinkOpened {
		t.Fatalf("the link after a restart: %v, %v", v.State, err)
	}
	// Sent again after the restart: a new token, the old link stops.
	e.clock.Advance(time.Minute)
	if _, err := e.ps.SendLink(ctx, r.ID(), "", store.ActorAgent); err != nil {
		t.Fatal(err)
	}
	sent = e.texter.messages()
	_, newToken, _ := strings.Cut(strings.Fields(sent[1].Body[strings.Index(sent[1].Body, "#"):])[0], "#")
	if len(sent) != 2 || newToken == token || sent[1].To != "+447700900123" {
		t.Fatalf("sent again %+v", sent)
	}
	if _, err := e.ps.OpenLink(ctx, token); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("the old token: %v, want ErrLinkNotFound", err)
	}
	if _, err := e.ps.OpenLink(ctx, newToken); err != nil {
		t.Fatalf("the new token: %v", err)
	}
	f, err := e.ps.Find(ctx, r.ID())
	if err != nil || len(f.View().Link.Messages) != 2 || f.View().Link.Messages[0].State != "queued" {
		t.Fatalf("messages %+v, %v", f.View().Link, err)
	}
	e.ps.NoteMessage(ctx, MessageStatus{ID: sent[0].ID, PaymentID: r.ID(), State: "sent", Attempts: 1, ProviderID: "SM1"})
	if f, _ = e.ps.Find(ctx, r.ID()); f.View().Link.Messages[0].State != "sent" {
		t.Fatalf("delivery not recorded: %+v", f.View().Link.Messages)
	}
}

func TestDigitalPaymentOnCall(t *testing.T) {
	e := newDigitalEnv(t)
	ctx := t.Context()
	c := &numberCall{fakeCall{id: "call-d"}}
	set := e.ps.ForCall(c)
	sub, err := set.Events().Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	r, token := e.create("call-d")
	if got := e.ps.InProgress("call-d"); got != r.ID() {
		t.Fatalf("InProgress = %q, want the digital payment", got)
	}
	if r.View().Link.Phone != "+447700900123" {
		t.Fatalf("phone not prefilled from the call: %q", r.View().Link.Phone)
	}
	if _, err := set.New("card", Attributes{}); !errors.Is(err, ErrInProgress) {
		t.Fatalf("a keypad payment beside an open link: %v", err)
	}
	if _, err := e.ps.OpenLink(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := e.ps.LinkProgress(ctx, token, "card_number", 7); err != nil {
		t.Fatal(err)
	}
	if err := e.ps.LinkProgress(ctx, token, "pin", 1); !errors.Is(err, ErrNoField) {
		t.Fatalf("progress of no field: %v", err)
	}
	pc, _ := card(canaryPAN, "1230", "123")
	if _, err := e.ps.PayLink(ctx, token, pc); err != nil {
		t.Fatal(err)
	}
	var got []string
	present := false
	for len(sub.C()) > 0 {
		ev := <-sub.C()
		got = append(got, ev.Type.String())
		if ev.Type == EventFieldLength && (ev.Field != "card_number" || ev.Length != 7) {
			t.Fatalf("progress event %+v", ev)
		}
		if ev.Type == EventLink && ev.Link.Present {
			present = true
		}
		if ev.Type == EventResult && (ev.Result == nil || ev.Result.State != StateApproved) {
			t.Fatalf("result event %+v", ev)
		}
	}
	want := "state link link field_length state link state result"
	if strings.Join(got, " ") != want || !present {
		t.Fatalf("events %q (present %v), want %q", strings.Join(got, " "), present, want)
	}
	if got := e.ps.InProgress("call-d"); got != "" {
		t.Fatalf("InProgress after paying = %q", got)
	}
	if _, err := set.New("card", Attributes{}); err != nil {
		t.Fatalf("the next payment after a paid link: %v", err)
	}
}

func TestDigitalCancel(t *testing.T) {
	e := newDigitalEnv(t)
	ctx := t.Context()
	r, token := e.create("")
	f, err := e.ps.Find(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.End(); err != nil {
		t.Fatal(err)
	}
	if v, err := e.ps.OpenLink(ctx, token); !errors.Is(err, ErrLinkClosed) || v.State != LinkCancelled {
		t.Fatalf("a cancelled link: %v, %v", v.State, err)
	}
	if _, err := e.ps.SendLink(ctx, r.ID(), "+447700900123", store.ActorAgent); !errors.Is(err, ErrLinkClosed) {
		t.Fatalf("sending a cancelled link: %v", err)
	}
}

func TestDigitalRefusals(t *testing.T) {
	e := newDigitalEnv(t)
	ctx := t.Context()
	_, _, err := e.ps.CreateDigital(ctx, DigitalRequest{ID: store.NewID(), Attributes: Attributes{}, Actor: store.ActorAPI})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("no amount: %v", err)
	}
	_, _, err = e.ps.CreateDigital(ctx, DigitalRequest{ID: store.NewID(), Attributes: Attributes{Amount: 5}, Phone: "07700 900123", Actor: store.ActorAPI})
	if !errors.Is(err, ErrBadPhone) {
		t.Fatalf("a national number: %v", err)
	}
	_, _, err = e.ps.CreateDigital(ctx, DigitalRequest{ID: store.NewID(), CallID: "no-call", Attributes: Attributes{Amount: 5}, Actor: store.ActorAPI})
	if !errors.Is(err, ErrNoCall) {
		t.Fatalf("no such call: %v", err)
	}
	ps2, err := NewPayments(Settings{Configurations: DefaultConfigs()}, WithProcessors(e.ps.procs["sandbox"]), WithDigital(e.st, "https://x/pay/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ps2.CreateDigital(ctx, DigitalRequest{ID: store.NewID(), Attributes: Attributes{Amount: 5, Currency: "GBP"}}); !errors.Is(err, ErrTypeNotAllowed) {
		t.Fatalf("a configuration without digital: %v", err)
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+44 7700 900123": "+447700900123", "0044 (7700) 900-123": "+447700900123", "+1.415.555.0100": "+14155550100",
		"07700900123": "", "+0123456789": "", "+44": "", "+4477009001234567": "", "+44 77a": "", "": "", "++447700900123": "",
	} {
		got, err := NormalizePhone(in)
		if want == "" {
			if !errors.Is(err, ErrBadPhone) {
				t.Errorf("NormalizePhone(%q) = %q, %v; want ErrBadPhone", in, got, err)
			}
			continue
		}
		if got != want || err != nil {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// gateProc is a processor whose Charge says it has the card (entered),
// then waits for release and approves.
type gateProc struct{ entered, release chan struct{} }

func (g *gateProc) Name() string { return "sandbox" }

func (g *gateProc) Charge(context.Context, *processor.Request) (processor.Result, error) {
	g.entered <- struct{}{}
	<-g.release
	return processor.Result{Status: processor.Approved, Reference: "ch_gate"}, nil
}

func (g *gateProc) Reconcile(context.Context, string) (processor.Result, error) {
	return processor.Result{Status: processor.Declined, DeclineCode: "asked_too_soon"}, nil
}

// A digital payment whose card is with the processor is the page's to
// settle: the Reconciler, which would ask the processor about any record
// in processing, leaves it alone while the charge is under way here.
func TestReconcilerLeavesADigitalChargeUnderWay(t *testing.T) {
	gp := &gateProc{entered: make(chan struct{}), release: make(chan struct{})}
	e := newDigitalEnv(t, gp)
	ctx := t.Context()
	r, token := e.create("")
	paid := make(chan PageView, 1)
	go func() {
		c, _ := card(canaryPAN, "1230", "123")
		v, err := e.ps.PayLink(ctx, token, c)
		if err != nil {
			t.Error(err)
		}
		paid <- v
	}()
	<-gp.entered
	if recs, err := e.st.Unresolved(ctx); err != nil || len(recs) != 1 || recs[0].ID != r.ID() {
		t.Fatalf("the store's unresolved: %+v, %v", recs, err)
	}
	rc, err := NewReconciler(e.st, map[string]processor.Processor{"sandbox": gp}, ReconcileConfig{},
		WithReconcilePayments(e.ps), WithReconcileClock(e.clock.Now), WithReconcileLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.jobs(ctx)[r.ID()]; ok {
		t.Fatal("the Reconciler would ask about a charge the page has under way")
	}
	close(gp.release)
	if v := <-paid; v.State != LinkPaid || v.Result == nil || v.Result.State != StateApproved {
		t.Fatalf("paid: %+v", v)
	}
	if _, ok := rc.jobs(ctx)[r.ID()]; ok {
		t.Fatal("a settled digital payment is still to reconcile")
	}
}

// The caller counts as gone once the page has been silent for a while:
// the form's badge goes grey.
func TestDigitalPresenceEnds(t *testing.T) {
	e := newDigitalEnv(t)
	ctx := t.Context()
	c := &numberCall{fakeCall{id: "call-p"}}
	set := e.ps.ForCall(c)
	r, token := e.create("call-p")
	sub, err := set.Events().Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ps.OpenLink(ctx, token); err != nil {
		t.Fatal(err)
	}
	if ev := <-sub.C(); ev.Type != EventLink || !ev.Link.Present {
		t.Fatalf("opened: %+v", ev)
	}
	// The presence timer's own function, as it fires.
	e.ps.gone(*r.stored)
	if ev := <-sub.C(); ev.Type != EventLink || ev.Link.Present {
		t.Fatalf("gone: %+v", ev)
	}
	if err := e.ps.LinkPresence(ctx, token, true); err != nil {
		t.Fatal(err)
	}
	if ev := <-sub.C(); ev.Type != EventLink || !ev.Link.Present {
		t.Fatalf("back: %+v", ev)
	}
	if err := e.ps.LinkPresence(ctx, token, false); err != nil {
		t.Fatal(err)
	}
	if ev := <-sub.C(); ev.Type != EventLink || ev.Link.Present {
		t.Fatalf("left: %+v", ev)
	}
	if len(sub.C()) != 0 {
		t.Fatalf("%d more events", len(sub.C()))
	}
}

func TestLinkTextAmounts(t *testing.T) {
	for _, c := range []struct {
		minor int64
		code  string
		want  string
	}{{1250, "GBP", "GBP 12.50"}, {1250, "JPY", "JPY 1250"}, {1250, "BHD", "BHD 1.250"}, {5, "EUR", "EUR 0.05"}} {
		if got := formatAmount(c.minor, c.code); got != c.want {
			t.Errorf("formatAmount(%d, %s) = %q, want %q", c.minor, c.code, got, c.want)
		}
	}
}
