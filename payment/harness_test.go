package payment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/processor"
)

// The payment tests run inside testing/synctest bubbles: the session
// timeout, the ticks and a processor's delay run on the bubble's fake
// clock, which starts at 2000-01-01 UTC. The payments' own clock (event
// stamps, expiry dates) is that clock 26 years on, so that cards expiring
// in 2030 are valid.
func paymentClock() time.Time { return time.Now().AddDate(26, 0, 0) }

// fakeCall is a Call.
type fakeCall struct {
	id  string
	dir call.Direction

	mu     sync.Mutex
	secure bool
	modes  []bool // every SetSecureMode
}

func (c *fakeCall) ID() string { return c.id }

func (c *fakeCall) Correlation() call.Correlation {
	return call.Correlation{InboundCallID: "in-1@example.net", Direction: c.dir, AgentID: "agent-7", PrimaryCallID: "pc-1"}
}

func (c *fakeCall) Secure() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secure
}

func (c *fakeCall) setSecure(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secure = on
}

func (c *fakeCall) SetSecureMode(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.modes = append(c.modes, on)
}

func (c *fakeCall) secureModes() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bool(nil), c.modes...)
}

// fakeProc is a Processor that answers as told and remembers what it was
// handed (test-only copies of card data).
type fakeProc struct {
	mu           sync.Mutex
	result       processor.Result
	err          error
	delay        time.Duration // on the bubble's clock
	hang         bool          // wait for the context to end
	release      chan struct{} // if set, Charge waits for it
	charges      int
	pan, cvc     string
	postcode     string
	expM, expY   int
	key          string
	aliases      [][]byte // the request's slices, to prove they are zeroed
	reconcileRes processor.Result
	reconcileErr error
	reconciles   int
}

func (f *fakeProc) Name() string { return "sandbox" }

func (f *fakeProc) Charge(ctx context.Context, req *processor.Request) (processor.Result, error) {
	f.mu.Lock()
	f.charges++
	f.pan, f.cvc, f.postcode = string(req.PAN), string(req.CVC), string(req.Postcode)
	f.expM, f.expY, f.key = req.ExpMonth, req.ExpYear, req.IdempotencyKey
	f.aliases = append(f.aliases, req.PAN, req.CVC, req.Postcode)
	res, err, delay, hang, release := f.result, f.err, f.delay, f.hang, f.release
	f.mu.Unlock()
	if release != nil {
		<-release
	}
	if delay > 0 {
		time.Sleep(delay) // a processor's own latency, on the fake clock
	}
	if hang {
		<-ctx.Done()
		return processor.Result{}, ctx.Err()
	}
	return res, err
}

func (f *fakeProc) Reconcile(_ context.Context, key string) (processor.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciles++
	if key != f.key {
		return processor.Result{}, fmt.Errorf("no charge with key %q", key)
	}
	return f.reconcileRes, f.reconcileErr
}

// fakeStore is a Store in memory.
type fakeStore struct {
	mu   sync.Mutex
	recs []Record
	fail func(Record) error
}

func (s *fakeStore) RecordPayment(_ context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(r); err != nil {
			return err
		}
	}
	s.recs = append(s.recs, r)
	return nil
}

func (s *fakeStore) records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.recs...)
}

func (s *fakeStore) setFail(f func(Record) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// env is one call with payments, a subscriber that sees every event, and
// a log buffer.
type env struct {
	t      *testing.T
	ps     *Payments
	call   *fakeCall
	set    *Set
	proc   *fakeProc
	store  *fakeStore
	sub    *Subscription
	logs   *bytes.Buffer
	number uint64
	all    []Event
	errs   []error
	ids    int
}

// newEnv must run inside a synctest bubble.
func newEnv(t *testing.T, edit func(*Config), opts ...Option) *env {
	t.Helper()
	e := &env{t: t, call: &fakeCall{id: "call-1", secure: true}, proc: &fakeProc{result: processor.Result{Status: processor.Approved, Reference: "ch_test"}},
		store: &fakeStore{}, logs: &bytes.Buffer{}}
	cfg := DefaultConfigs()[0]
	cfg.Currency = "GBP"
	if edit != nil {
		edit(&cfg)
	}
	var err error
	opts = append([]Option{
		WithClock(paymentClock),
		WithProcessors(e.proc),
		WithStore(e.store),
		WithLogger(slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	e.ps, err = NewPayments(Settings{Configurations: []Config{cfg}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.ps.newID = func() string { e.ids++; return fmt.Sprintf("pay-%d", e.ids) }
	e.set = e.ps.ForCall(e.call)
	if e.sub, err = e.set.Events().Subscribe(MaxSubscriberBuffer); err != nil {
		t.Fatal(err)
	}
	return e
}

// newPayment starts a payment of the configuration with £19.99.
func (e *env) newPayment() *Payment {
	e.t.Helper()
	p, err := e.set.New(e.ps.Configs()[0].ID, Attributes{Amount: 1999, Reference: "order-7"})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// keys presses keys as the call's digit path delivers them.
// unknownPayment makes a payment whose Process the processor leaves
// without an answer (ErrStillUnknown), and which reconciling will settle
// with later: the payment is left reconciling.
func (e *env) unknownPayment(later processor.Result) *Payment {
	e.t.Helper()
	e.proc.result = processor.Result{Status: processor.Unknown}
	e.proc.reconcileRes = later
	p := e.newPayment()
	if err := p.Arm("card_number"); err != nil {
		e.t.Fatal(err)
	}
	e.keys(cardKeys)
	if _, err := p.Process(context.Background()); !isErr(err, ErrStillUnknown) {
		e.t.Fatalf("Process: %v, want ErrStillUnknown", err)
	}
	return p
}

func (e *env) keys(s string) {
	for i := range len(s) {
		e.number++
		e.set.HandleDigit(dtmf.Press{Key: dtmf.Key(s[i]), Source: dtmf.SourceRFC4733, FirstSeen: time.Now(), Number: e.number})
	}
}

// events settles the bubble and returns the events since the last call.
func (e *env) events() []Event {
	synctest.Wait()
	got, _ := drain(e.sub)
	e.all = append(e.all, got...)
	return got
}

// states returns the states payment id went through, from its events.
func (e *env) states(id string) []State {
	e.events()
	var out []State
	for _, ev := range e.all {
		if ev.Type == EventState && ev.PaymentID == id {
			out = append(out, ev.State)
		}
	}
	return out
}

// last returns the latest event of type typ (and field, if not empty).
func (e *env) last(typ EventType, field string) (Event, bool) {
	e.events()
	for i := len(e.all) - 1; i >= 0; i-- {
		if ev := e.all[i]; ev.Type == typ && (field == "" || ev.Field == field) {
			return ev, true
		}
	}
	return Event{}, false
}

// note keeps an error for the canary search.
func (e *env) note(err error) error {
	if err != nil {
		e.errs = append(e.errs, err)
	}
	return err
}

// backing returns the whole array under a payment's capture buffers.
func backing(p *Payment) []byte {
	total := 0
	for _, f := range p.cfg.Fields {
		total += f.capacity()
	}
	return unsafe.Slice(unsafe.SliceData(p.caps[0].b), total)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// sixDigitRuns returns every run of six digits of s.
func sixDigitRuns(s string) []string {
	var out []string
	for i := 0; i+6 <= len(s); i++ {
		out = append(out, s[i:i+6])
	}
	return out
}

// leaks returns what of secret (and its six-digit runs) text holds.
func leaks(text, secret string) []string {
	var out []string
	if strings.Contains(text, secret) {
		out = append(out, "the whole number")
	}
	for _, r := range sixDigitRuns(secret) {
		if strings.Contains(text, r) {
			out = append(out, "run "+r)
		}
	}
	return out
}

func isErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// quietLog discards everything but keeps the handler's formatting on, so
// that a log call with a bad argument still runs.
func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
