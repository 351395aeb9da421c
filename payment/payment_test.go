package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/processor"
)

// step is one thing that happens to a call's payments in a state-machine
// test.
type step struct {
	do  string // new, arm, clear, keys, process, end, wait, reconcile, close, attrs
	arg string
	err error // expected (errors.Is); nil: none
}

func run(e *env, steps []step) {
	t := e.t
	t.Helper()
	var p *Payment
	for i, s := range steps {
		var err error
		switch s.do {
		case "new":
			var q *Payment
			q, err = e.set.New(e.ps.Configs()[0].ID, Attributes{Amount: 1999, Reference: "order-7"})
			if q != nil {
				p = q
			}
		case "new-no-amount":
			p, err = e.set.New(e.ps.Configs()[0].ID, Attributes{})
		case "arm":
			err = p.Arm(s.arg)
		case "clear":
			err = p.Clear(s.arg)
		case "keys":
			e.keys(s.arg)
		case "process":
			_, err = p.Process(context.Background())
		case "end":
			err = p.End()
		case "reconcile":
			_, err = p.Reconcile(context.Background())
		case "close":
			e.set.Close(ReasonCallEnded)
		case "attrs":
			amount, _ := strconv.ParseInt(s.arg, 10, 64)
			err = p.SetAttributes(Attributes{Amount: amount, Currency: "GBP"})
		case "wait":
			d, perr := time.ParseDuration(s.arg)
			if perr != nil {
				t.Fatal(perr)
			}
			time.Sleep(d) // the bubble's clock: the timers are what is tested
		default:
			t.Fatalf("step %d: unknown %q", i, s.do)
		}
		e.note(err)
		if !isErr(err, s.err) {
			t.Fatalf("step %d (%s %s): error %v, want %v", i, s.do, s.arg, err, s.err)
		}
		synctest.Wait()
	}
}

const (
	visa     = "4242424242424242"
	amex     = "378282246310005"
	expiry   = "1230"
	cvc      = "123"
	cardKeys = visa + expiry + cvc
)

func TestPaymentStateMachine(t *testing.T) {
	postcode := func(required bool) func(*Config) {
		return func(c *Config) {
			c.Fields = append(c.Fields, FieldConfig{ID: PostcodeFieldID, Kind: FieldDigits, MinLen: 4, MaxLen: 8, Required: required})
		}
	}
	created, collecting, ready, processing := StateCreated, StateCollecting, StateReady, StateProcessing
	cases := []struct {
		name   string
		edit   func(*Config)
		proc   func(*fakeProc)
		store  func(*fakeStore)
		steps  []step
		states []State // of the last payment
		check  func(*testing.T, *env, *Payment)
	}{
		{
			name:   "approved",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys}, {do: "process"}},
			states: []State{created, collecting, ready, processing, StateApproved},
			check: func(t *testing.T, e *env, p *Payment) {
				if e.proc.pan != visa || e.proc.cvc != cvc || e.proc.expM != 12 || e.proc.expY != 2030 || e.proc.key != p.IdempotencyKey() {
					t.Errorf("processor was handed %d PAN digits, exp %d/%d", len(e.proc.pan), e.proc.expM, e.proc.expY)
				}
			},
		},
		{
			name: "declined",
			proc: func(f *fakeProc) {
				f.result = processor.Result{Status: processor.Declined, DeclineCode: "insufficient_funds"}
			},
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys}, {do: "process"}},
			states: []State{created, collecting, ready, processing, StateDeclined},
		},
		{
			name: "failed",
			proc: func(f *fakeProc) {
				f.result = processor.Result{Status: processor.Failed, Message: "currency not supported"}
			},
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys}, {do: "process"}},
			states: []State{created, collecting, ready, processing, StateFailed},
		},
		{
			name: "unknown-then-reconciled-approved",
			proc: func(f *fakeProc) {
				f.result = processor.Result{Status: processor.Unknown}
				f.reconcileRes = processor.Result{Status: processor.Approved, Reference: "ch_late"}
			},
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "process", err: ErrStillUnknown}, {do: "reconcile"}, {do: "reconcile", err: ErrNotReconciling},
			},
			states: []State{created, collecting, ready, processing, StateReconciling, StateApproved},
			check: func(t *testing.T, e *env, p *Payment) {
				if e.proc.charges != 1 || e.proc.reconciles != 1 {
					t.Errorf("%d charges, %d reconciliations: want 1 and 1", e.proc.charges, e.proc.reconciles)
				}
				if v := p.View(); v.Result == nil || v.Result.ProcessorReference != "ch_late" {
					t.Errorf("result %+v", v.Result)
				}
			},
		},
		{
			name: "processor-error-is-unknown-and-stays-so",
			proc: func(f *fakeProc) {
				f.result, f.err = processor.Result{}, errors.New("connection reset")
				f.reconcileErr = errors.New("still down")
			},
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "process", err: ErrStillUnknown}, {do: "reconcile", err: ErrStillUnknown},
				{do: "end", err: ErrEnded}, {do: "new"}, // another payment may start meanwhile
			},
			states: []State{created},
			check: func(t *testing.T, e *env, _ *Payment) {
				first := e.set.Payments()[0]
				if first.State() != StateReconciling || e.proc.charges != 1 {
					t.Errorf("first payment %v after %d charges", first.State(), e.proc.charges)
				}
				if u := e.ps.Unsettled(); len(u) != 1 || u[0] != first {
					t.Errorf("unsettled %v", u)
				}
			},
		},
		{
			// An error with a final status: the status decides.
			name: "processor-error-that-charged-nothing",
			proc: func(f *fakeProc) {
				f.result, f.err = processor.Result{Status: processor.Failed, Message: "bad credentials"}, processor.ErrProcessor
			},
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys}, {do: "process"}, {do: "reconcile", err: ErrNotReconciling}},
			states: []State{created, collecting, ready, processing, StateFailed},
		},
		{
			name: "not-found-is-not-charged-only-after-the-grace",
			proc: func(f *fakeProc) {
				f.result, f.err = processor.Result{}, processor.ErrTimeout
				f.reconcileErr = processor.ErrNotFound
			},
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "process", err: ErrStillUnknown}, {do: "reconcile", err: ErrStillUnknown},
				{do: "wait", arg: "4m"}, {do: "reconcile", err: ErrStillUnknown}, {do: "wait", arg: "1m"}, {do: "reconcile"},
			},
			states: []State{created, collecting, ready, processing, StateReconciling, StateFailed},
			check: func(t *testing.T, e *env, p *Payment) {
				if v := p.View(); v.Result == nil || v.Result.Reason != ReasonNotCharged {
					t.Errorf("result %+v", v.Result)
				}
			},
		},
		{
			name: "processor-timeout-is-unknown",
			proc: func(f *fakeProc) { f.hang = true },
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "process", err: ErrStillUnknown},
			},
			states: []State{created, collecting, ready, processing, StateReconciling},
		},
		{
			name:   "timeout-while-created",
			steps:  []step{{do: "new"}, {do: "wait", arg: "4m59s"}, {do: "wait", arg: "1s"}, {do: "arm", arg: "expiry", err: ErrEnded}},
			states: []State{created, StateTimedOut},
		},
		{
			name: "timeout-while-collecting",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa[:6]},
				{do: "wait", arg: "4m59s"}, {do: "keys", arg: visa[6:]}, {do: "wait", arg: "1s"},
			},
			states: []State{created, collecting, StateTimedOut},
		},
		{
			name: "timeout-while-ready",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "wait", arg: "5m"}, {do: "process", err: ErrEnded},
			},
			states: []State{created, collecting, ready, StateTimedOut},
		},
		{
			name:   "configured-session-timeout",
			edit:   func(c *Config) { c.SessionTimeout = time.Minute },
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "wait", arg: "59s"}, {do: "keys", arg: "4"}, {do: "wait", arg: "1s"}},
			states: []State{created, collecting, StateTimedOut},
		},
		{
			// The processor takes 20 s, past the session timeout: the
			// payment is not timed out under it.
			name: "no-timeout-while-processing",
			proc: func(f *fakeProc) { f.delay = 20 * time.Second },
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "wait", arg: "4m50s"}, {do: "process"}, {do: "wait", arg: "10m"},
			},
			states: []State{created, collecting, ready, processing, StateApproved},
		},
		{
			name:   "agent-ends",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa}, {do: "end"}, {do: "end", err: ErrEnded}, {do: "wait", arg: "10m"}},
			states: []State{created, collecting, StateCancelled},
		},
		{
			name: "call-ends",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa}, {do: "close"}, {do: "close"},
				{do: "new", err: ErrSetClosed},
			},
			states: []State{created, collecting, StateCancelled},
			check: func(t *testing.T, e *env, p *Payment) {
				if v := p.View(); v.Reason != ReasonCallEnded {
					t.Errorf("reason %q", v.Reason)
				}
				if e.ps.Set("call-1") != nil || e.ps.Payment(p.ID()) != nil {
					t.Error("an ended call's settled payment is still indexed")
				}
			},
		},
		{
			name:   "process-before-ready",
			steps:  []step{{do: "new"}, {do: "process", err: ErrNotReady}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa + expiry}, {do: "process", err: ErrNotReady}},
			states: []State{created, collecting},
		},
		{
			name: "process-needs-an-amount",
			steps: []step{
				{do: "new-no-amount"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "process", err: ErrNotReady}, {do: "attrs", arg: "-5", err: ErrBadAttributes}, {do: "attrs", arg: "500"}, {do: "process"},
			},
			states: []State{created, collecting, ready, processing, StateApproved},
		},
		{
			name:   "bad-check-digit",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: breakCheck("5555555555554444") + expiry + cvc}, {do: "process", err: ErrNotReady}},
			states: []State{created, collecting},
			check: func(t *testing.T, e *env, _ *Payment) {
				if ev, _ := e.last(EventFieldComplete, "card_number"); ev.Valid || ev.MaskedPAN != "" || ev.Brand != BrandMastercard {
					t.Errorf("card number %+v", ev)
				}
			},
		},
		{
			name: "star-clears-the-armed-field",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: "4242*" + cardKeys}, {do: "process"},
			},
			states: []State{created, collecting, ready, processing, StateApproved},
		},
		{
			name:   "star-switched-off",
			edit:   func(c *Config) { c.StarClearsField = false },
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: "4242*424242424242" + expiry + cvc}},
			states: []State{created, collecting, ready},
			check: func(t *testing.T, e *env, _ *Payment) {
				if st := e.set.Stats(); st.Ignored != 1 || st.Captured != 23 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name:   "hash-ends-a-13-digit-visa",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: "4222222222222#" + expiry + cvc}, {do: "process"}},
			states: []State{created, collecting, ready, processing, StateApproved},
		},
		{
			name:   "hash-means-nothing-in-a-fixed-length-field",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa + "12#30" + cvc}},
			states: []State{created, collecting, ready},
		},
		{
			name:   "hash-on-an-empty-required-field-is-ignored",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: "#" + cardKeys}},
			states: []State{created, collecting, ready},
		},
		{
			name:   "hash-switched-off",
			edit:   func(c *Config) { c.HashEndsField = false },
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: "4222222222222#"}},
			states: []State{created, collecting},
			check: func(t *testing.T, e *env, p *Payment) {
				if f := p.View().Fields[0]; f.Complete || f.Length != 13 || e.set.Stats().Ignored != 1 {
					t.Errorf("card number %+v", f)
				}
			},
		},
		{
			name: "no-auto-advance",
			edit: func(c *Config) { c.AutoAdvance = false },
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa + expiry},
				{do: "arm", arg: "expiry"}, {do: "keys", arg: expiry}, {do: "arm", arg: "security_code"}, {do: "keys", arg: cvc},
			},
			states: []State{created, collecting, ready},
			check: func(t *testing.T, e *env, _ *Payment) {
				if st := e.set.Stats(); st.Ignored != 4 {
					t.Errorf("digits into a complete field: %+v", st)
				}
			},
		},
		{
			name:   "amex-four-digit-code",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: amex + expiry + "1234"}, {do: "process"}},
			states: []State{created, collecting, ready, processing, StateApproved},
		},
		{
			name:   "amex-three-digit-code-ended-by-hash",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: amex + expiry + "123#"}},
			states: []State{created, collecting},
			check: func(t *testing.T, e *env, _ *Payment) {
				if ev, _ := e.last(EventFieldComplete, "security_code"); ev.Valid || ev.Length != 3 {
					t.Errorf("code %+v", ev)
				}
			},
		},
		{
			// The code typed first, as 4 digits; then a Visa: the code
			// turns invalid, and is reported so.
			name: "code-follows-the-brand",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "security_code"}, {do: "keys", arg: "1234"},
				{do: "arm", arg: "card_number"}, {do: "keys", arg: visa + expiry},
				{do: "clear", arg: "security_code"}, {do: "keys", arg: cvc},
			},
			states: []State{created, collecting, ready},
			check: func(t *testing.T, e *env, _ *Payment) {
				var valid []bool
				for _, ev := range e.all {
					if ev.Type == EventFieldComplete && ev.Field == "security_code" {
						valid = append(valid, ev.Valid)
					}
				}
				if !slices.Equal(valid, []bool{true, false, true}) {
					t.Errorf("security code validity reported %v", valid)
				}
			},
		},
		{
			// Three digits typed first wait for a fourth (it could be
			// Amex); a Visa makes them whole.
			name: "short-code-completed-by-the-brand",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "security_code"}, {do: "keys", arg: cvc},
				{do: "arm", arg: "card_number"}, {do: "keys", arg: visa + expiry},
			},
			states: []State{created, collecting, ready},
		},
		{
			name:   "brand-not-accepted",
			edit:   func(c *Config) { c.AcceptedBrands = []Brand{BrandVisa} },
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: "5555555555554444" + expiry + cvc}},
			states: []State{created, collecting},
		},
		{
			name:   "expired-card",
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa + "1225" + cvc}},
			states: []State{created, collecting},
		},
		{
			name: "clear-and-retype",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa + "1225" + cvc},
				{do: "clear", arg: "expiry"}, {do: "keys", arg: expiry},
			},
			states: []State{created, collecting, ready},
		},
		{
			name: "arm-a-complete-field-clears-it",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "arm", arg: "card_number"}, {do: "keys", arg: amex}, {do: "arm", arg: "nope", err: ErrNoField},
			},
			// Amex wants a 4-digit code: the 3-digit one no longer does.
			states: []State{created, collecting, ready, collecting},
		},
		{
			name:   "optional-postcode-skipped-with-hash",
			edit:   postcode(false),
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys + "#"}, {do: "process"}},
			states: []State{created, collecting, ready, processing, StateApproved},
			check: func(t *testing.T, e *env, _ *Payment) {
				if e.proc.postcode != "" {
					t.Error("an empty postcode was handed on")
				}
			},
		},
		{
			name:   "optional-postcode-partly-typed-is-not-ready",
			edit:   postcode(false),
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys + "12"}},
			states: []State{created, collecting, ready, collecting},
		},
		{
			name:   "required-postcode",
			edit:   postcode(true),
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys + "#12345#"}, {do: "process"}},
			states: []State{created, collecting, ready, processing, StateApproved},
			check: func(t *testing.T, e *env, _ *Payment) {
				if e.proc.postcode != "12345" {
					t.Errorf("postcode of %d digits handed on", len(e.proc.postcode))
				}
			},
		},
		{
			name: "postal-code-field",
			edit: func(c *Config) {
				c.Fields = append(c.Fields, FieldConfig{ID: "zip", Kind: FieldPostalCode, MinLen: 5, MaxLen: 5, Required: true})
			},
			steps:  []step{{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys + "90210"}, {do: "process"}},
			states: []State{created, collecting, ready, processing, StateApproved},
			check: func(t *testing.T, e *env, _ *Payment) {
				if e.proc.postcode != "90210" {
					t.Errorf("a postal code of %d digits handed on, want the 5 keyed", len(e.proc.postcode))
				}
			},
		},
		{
			name:   "digits-before-arming-go-nowhere",
			steps:  []step{{do: "keys", arg: "99"}, {do: "new"}, {do: "keys", arg: visa}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys}},
			states: []State{created, collecting, ready},
			check: func(t *testing.T, e *env, _ *Payment) {
				if st := e.set.Stats(); st.Dropped != 18 || st.Captured != 23 || st.Digits != 41 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "a-lost-press-invalidates-the-field",
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: visa[:8]}, {do: "lose"},
			},
		},
		{
			name: "several-payments-one-at-a-time",
			steps: []step{
				{do: "new"}, {do: "new", err: ErrInProgress}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "process"}, {do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: amex}, {do: "end"}, {do: "new"},
			},
			states: []State{created},
			check: func(t *testing.T, e *env, _ *Payment) {
				var got []State
				for _, p := range e.set.Payments() {
					got = append(got, p.State())
				}
				if !slices.Equal(got, []State{StateApproved, StateCancelled, StateCreated}) {
					t.Errorf("payments %v", got)
				}
			},
		},
		{
			name:  "nothing-charged-when-the-record-fails",
			store: func(s *fakeStore) { s.fail = failState(StateProcessing, 1) },
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "process", err: ErrNotRecorded}, {do: "process"},
			},
			states: []State{created, collecting, ready, processing, StateApproved},
			check: func(t *testing.T, e *env, _ *Payment) {
				if e.proc.charges != 1 {
					t.Errorf("%d charges", e.proc.charges)
				}
			},
		},
		{
			name:  "result-not-recorded-is-kept-until-it-is",
			store: func(s *fakeStore) { s.fail = failState(StateApproved, 1) },
			steps: []step{
				{do: "new"}, {do: "arm", arg: "card_number"}, {do: "keys", arg: cardKeys},
				{do: "process", err: ErrNotRecorded}, {do: "end", err: ErrProcessing}, {do: "reconcile"},
			},
			states: []State{created, collecting, ready, processing, StateApproved},
			check: func(t *testing.T, e *env, p *Payment) {
				if e.proc.charges != 1 || e.proc.reconciles != 0 {
					t.Errorf("%d charges, %d reconciliations", e.proc.charges, e.proc.reconciles)
				}
				n := 0
				for _, ev := range e.all {
					if ev.Type == EventResult {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d result events", n)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tc.edit)
				if tc.proc != nil {
					tc.proc(e.proc)
				}
				if tc.store != nil {
					tc.store(e.store)
				}
				steps := tc.steps
				lose := len(steps) > 0 && steps[len(steps)-1].do == "lose"
				if lose {
					// Skip a press number, then type the whole card: the
					// digits pass every check, but one press is missing.
					steps = steps[:len(steps)-1]
				}
				run(e, steps)
				ps := e.set.Payments()
				var p *Payment
				if len(ps) > 0 {
					p = ps[len(ps)-1]
				}
				if lose {
					e.number++
					e.keys(visa[8:] + expiry + cvc)
					if ev, _ := e.last(EventFieldComplete, "card_number"); ev.Valid || e.set.Stats().Lost != 1 || p.State() != StateCollecting {
						t.Errorf("after a lost press: %+v, %+v, %v", ev, e.set.Stats(), p.State())
					}
					p.End()
					return
				}
				if got := e.states(p.ID()); !slices.Equal(got, tc.states) {
					t.Errorf("states %v, want %v", got, tc.states)
				}
				if tc.check != nil {
					tc.check(t, e, p)
				}
				// Whatever happened, a payment no longer open holds no digit.
				for _, q := range ps {
					if !q.State().open() && !allZero(backing(q)) {
						t.Errorf("%v is %v with digits in its buffers", q, q.State())
					}
					q.End()
				}
			})
		})
	}
}

// failState fails the first n records of state st.
func failState(st State, n int) func(Record) error {
	return func(r Record) error {
		if r.State == st && n > 0 {
			n--
			return errors.New("disk full")
		}
		return nil
	}
}

// TestPaymentEvents follows one payment's events from creation to result:
// what the agent form sees.
func TestPaymentEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.call.dir = call.Outbound
		p := e.newPayment()
		want := func(what string, got []Event, wantLine string) {
			t.Helper()
			var parts []string
			for _, ev := range got {
				s := ev.Type.String()
				switch ev.Type {
				case EventFieldArmed:
					s += ":" + ev.Field
				case EventFieldLength:
					s += fmt.Sprintf(":%s=%d", ev.Field, ev.Length)
					if ev.Brand != BrandUnknown {
						s += "/" + ev.Brand.String()
					}
				case EventFieldComplete:
					s += fmt.Sprintf(":%s=%d/%v", ev.Field, ev.Length, ev.Valid)
					if ev.MaskedPAN != "" {
						s += "/" + ev.MaskedPAN
					}
				case EventState, EventResult:
					s += ":" + ev.State.String()
				case EventRemaining:
					s += ":" + strconv.FormatInt(ev.Remaining, 10)
				case EventSecure:
					s += ":" + strconv.FormatBool(ev.Secure)
				case EventAgentState:
					s += ":" + string(ev.AgentState)
				}
				if ev.PaymentID != p.ID() || ev.CallID != "call-1" {
					s += "(wrong ids)"
				}
				parts = append(parts, s)
			}
			if got := strings.Join(parts, " "); got != wantLine {
				t.Errorf("%s:\n got  %s\n want %s", what, got, wantLine)
			}
		}
		want("creation", e.events(), "state:created agent_state:Busy Payment IVR secure:true remaining:300")

		p.Arm("card_number")
		e.keys("4")
		want("first digit", e.events(), "state:collecting field_armed:card_number field_length:card_number=1/visa")
		e.keys(visa[1:15])
		e.events()
		e.keys(visa[15:])
		want("last digit", e.events(), "field_length:card_number=16/visa field_complete:card_number=16/true/•••• 4242 field_armed:expiry")
		e.keys("12")
		time.Sleep(10 * time.Second)
		want("ten seconds on", e.events(), "field_length:expiry=1 field_length:expiry=2 remaining:290")

		e.call.setSecure(false)
		time.Sleep(time.Second)
		want("media no longer secure", e.events(), "secure:false")
		e.call.setSecure(true)
		e.set.UpdateSecure()
		want("secure again", e.events(), "secure:true")

		e.keys("30" + cvc)
		want("rest", e.events(), "field_length:expiry=3 field_length:expiry=4 field_complete:expiry=4/true field_armed:security_code "+
			"field_length:security_code=1 field_length:security_code=2 field_length:security_code=3 field_complete:security_code=3/true field_armed: state:ready")
		if _, err := p.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
		want("process", e.events(), "state:processing state:approved result:approved agent_state:Busy Out Return")
		time.Sleep(time.Hour)
		want("after", e.events(), "")

		if m := e.call.secureModes(); !slices.Equal(m, []bool{true, false}) {
			t.Errorf("secure mode %v", m)
		}
		res, _ := e.last(EventResult, "")
		if r := res.Result; r == nil || r.Brand != BrandVisa || r.Last4 != "4242" || r.Amount != 1999 || r.Currency != "GBP" || r.ProcessorReference != "ch_test" {
			t.Errorf("result %+v", r)
		}
		for i, ev := range e.all {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("event %d has seq %d", i, ev.Seq)
			}
		}
	})
}

// TestHandOffZeroes: the processor's request aliases the capture buffers;
// when Charge returns, they, and so the request, are zeroed, whatever the
// outcome.
func TestHandOffZeroes(t *testing.T) {
	for _, res := range []processor.Result{{Status: processor.Approved}, {Status: processor.Declined}, {Status: processor.Unknown}} {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, nil)
			e.proc.result = res
			p := e.newPayment()
			p.Arm("card_number")
			e.keys(cardKeys)
			buf := backing(p)
			if allZero(buf) {
				t.Fatal("nothing captured")
			}
			p.Process(context.Background())
			if !allZero(buf) {
				t.Errorf("%v: buffers hold %d non-zero bytes after the hand-off", res.Status, len(buf)-strings.Count(string(buf), "\x00"))
			}
			for _, a := range e.proc.aliases {
				if !allZero(a) {
					t.Error("the request's card data survived Charge")
				}
			}
			if len(e.proc.aliases[0]) != 16 || &e.proc.aliases[0][0] != &buf[0] {
				t.Error("the request's card number is not the capture buffer itself")
			}
		})
	}
}

// TestConcurrentActionsWhileProcessing: while the processor has the card,
// nothing changes it; the timeout does not fire; digits go nowhere.
func TestConcurrentActionsWhileProcessing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.proc.release = make(chan struct{})
		p := e.newPayment()
		p.Arm("card_number")
		e.keys(cardKeys)
		done := make(chan error, 1)
		go func() {
			_, err := p.Process(context.Background())
			done <- err
		}()
		synctest.Wait()
		if p.State() != StateProcessing {
			t.Fatalf("state %v", p.State())
		}
		for name, err := range map[string]error{
			"arm": p.Arm("expiry"), "clear": p.Clear("expiry"), "end": p.End(), "attrs": p.SetAttributes(Attributes{Amount: 1}),
		} {
			if !errors.Is(err, ErrProcessing) {
				t.Errorf("%s while processing: %v", name, err)
			}
		}
		if _, err := e.set.New("card", Attributes{}); !errors.Is(err, ErrInProgress) {
			t.Errorf("New while processing: %v", err)
		}
		e.keys("1234")
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if p.State() != StateProcessing || e.set.Stats().Dropped != 4 {
			t.Errorf("state %v, stats %+v", p.State(), e.set.Stats())
		}
		// The call ends meanwhile: the charge still finishes and is
		// recorded.
		e.set.Close(ReasonCallEnded)
		close(e.proc.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if p.State() != StateApproved {
			t.Errorf("state %v", p.State())
		}
		recs := e.store.records()
		if last := recs[len(recs)-1]; last.State != StateApproved || last.Last4 != "4242" || last.Brand != BrandVisa {
			t.Errorf("last record %+v", last)
		}
		if e.ps.Payment(p.ID()) != nil {
			t.Error("a settled payment of an ended call is still indexed")
		}
	})
}

// TestRecordsAndAgentState: every step of a payment's life is recorded,
// with the call's correlation, before it is reported.
func TestRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		p := e.newPayment()
		p.Arm("card_number")
		e.keys(amex + expiry + "1234")
		p.Process(context.Background())
		var states []State
		for _, r := range e.store.records() {
			states = append(states, r.State)
			if r.PaymentID != p.ID() || r.CallID != "call-1" || r.Correlation.AgentID != "agent-7" || r.IdempotencyKey != p.IdempotencyKey() ||
				r.ConfigID != "card" || r.Processor != "sandbox" || r.Amount != 1999 || r.Currency != "GBP" {
				t.Errorf("record %+v", r)
			}
		}
		if !slices.Equal(states, []State{StateCreated, StateProcessing, StateApproved}) {
			t.Errorf("recorded %v", states)
		}
		var steps []string
		for _, r := range e.store.records() {
			steps = append(steps, fmt.Sprintf("%v>%v %s %s", r.Previous, r.State, r.Actor, r.Action))
		}

		// A payment that times out, and one the call's end cancels.
		e.newPayment()
		time.Sleep(DefaultSessionTimeout)
		synctest.Wait()
		q := e.newPayment()
		q.Arm("card_number")
		e.set.Close("")
		for _, r := range e.store.records()[3:] {
			steps = append(steps, fmt.Sprintf("%v>%v %s %s", r.Previous, r.State, r.Actor, r.Action))
		}
		want := []string{
			"invalid>created agent payment.created", "created>processing agent payment.processing", "processing>approved system payment.result",
			"invalid>created agent payment.created", "created>timed_out system payment.timed_out",
			"invalid>created agent payment.created", "created>cancelled system payment.cancelled",
		}
		if !slices.Equal(steps, want) {
			t.Errorf("records:\n got  %q\n want %q", steps, want)
		}
		last := e.store.records()[2]
		if last.Brand != BrandAmex || last.Last4 != "0005" || last.ProcessorReference != "ch_test" {
			t.Errorf("result record %+v", last)
		}
	})
}

// TestCanary makes payments with a canary card number, through every path
// (approved, declined with a processor message that echoes the number,
// unknown and reconciled, cancelled, timed out, a store that fails), then
// searches every event, view, record, log line and error for it and for
// each run of six of its digits.
func TestCanary(t *testing.T) {
	canary := withCheckDigit("491761384927503") // a Visa no test card uses
	exp := "0929"
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.Fields = append(c.Fields, FieldConfig{ID: PostcodeFieldID, Kind: FieldDigits, MinLen: 4, MaxLen: 8})
		})
		var texts []string
		pay := func(keys string, prepare func()) *Payment {
			p := e.newPayment()
			texts = append(texts, fmt.Sprintf("%v %+v %#v %s", p, p, p, p))
			e.note(p.Arm("card_number"))
			e.keys(keys)
			if prepare != nil {
				prepare()
			}
			v, _ := json.Marshal(p.View())
			texts = append(texts, string(v))
			return p
		}
		full := canary + exp + "321" + "#"

		p := pay(full, nil)
		_, err := p.Process(context.Background())
		e.note(err)

		p = pay(full, func() {
			e.proc.result = processor.Result{Status: processor.Declined, DeclineCode: "do_not_honor", Message: "card " + canary + " declined"}
		})
		_, err = p.Process(context.Background())
		e.note(err)

		p = pay(full, func() {
			e.proc.result, e.proc.err = processor.Result{}, fmt.Errorf("timeout")
			e.proc.reconcileRes = processor.Result{Status: processor.Approved}
		})
		_, err = p.Process(context.Background())
		e.note(err)
		_, err = p.Reconcile(context.Background())
		e.note(err)

		p = pay(canary[:12], nil)
		e.note(p.End())
		p = pay(canary, nil)
		time.Sleep(DefaultSessionTimeout)
		synctest.Wait()
		e.note(p.End()) // timed out: ErrEnded

		e.store.setFail(func(Record) error { return errors.New("store down") })
		e.proc.err = nil
		e.proc.result = processor.Result{Status: processor.Approved}
		p = pay(full, nil)
		_, err = p.Process(context.Background())
		e.note(err)
		e.note(p.Arm("expiry"))
		e.note(p.Clear("nope"))
		e.set.Close("")

		for _, ev := range e.events() {
			_ = ev
		}
		for _, ev := range e.all {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, string(b), fmt.Sprintf("%+v", ev))
		}
		for _, q := range e.set.Payments() {
			b, _ := json.Marshal(q.View())
			texts = append(texts, string(b), fmt.Sprintf("%#v", q))
		}
		for _, r := range e.store.records() {
			b, _ := json.Marshal(r)
			texts = append(texts, string(b), fmt.Sprintf("%+v", r))
		}
		for _, err := range e.errs {
			texts = append(texts, err.Error())
		}
		texts = append(texts, e.logs.String(), fmt.Sprintf("%+v %#v", processor.Request{PAN: []byte(canary)}, &processor.Request{PAN: []byte(canary)}))
		all := strings.Join(texts, "\n")
		if len(e.all) < 50 || len(e.store.records()) < 8 || e.logs.Len() == 0 || len(e.errs) < 3 {
			t.Fatalf("too little to search: %d events, %d records, %d bytes of logs, %d errors", len(e.all), len(e.store.records()), e.logs.Len(), len(e.errs))
		}
		if l := leaks(all, canary); len(l) > 0 {
			t.Errorf("the canary leaked: %v", l)
		}
		if strings.Contains(all, "\"0929\"") || strings.Contains(all, "=0929") {
			t.Error("the expiry date leaked")
		}
		if !strings.Contains(all, "•••• "+canary[12:]) {
			t.Error("the masked number is missing: is the search looking at the events?")
		}
	})
}

func TestMaskDigitRuns(t *testing.T) {
	cases := map[string]string{
		"":                         "",
		"declined":                 "declined",
		"card 4242424242424242 no": "card • no",
		"code 12345 ok":            "code 12345 ok",
		"123456":                   "•",
		"a1234567b12c":             "a•b12c",
	}
	for in, want := range cases {
		if got := maskDigitRuns(in); got != want {
			t.Errorf("maskDigitRuns(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewPaymentsChecksProcessors(t *testing.T) {
	if _, err := NewPayments(DefaultSettings()); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "configurations[0].processor") {
		t.Errorf("no processor: %v", err)
	}
	if _, err := NewPayments(Settings{}, WithProcessors(&fakeProc{})); !errors.Is(err, ErrConfig) {
		t.Errorf("no configuration: %v", err)
	}
	ps, err := NewPayments(DefaultSettings(), WithProcessors(&fakeProc{}))
	if err != nil {
		t.Fatal(err)
	}
	set := ps.ForCall(&fakeCall{id: "c"})
	if ps.ForCall(&fakeCall{id: "c"}) != set || ps.Set("c") != set {
		t.Error("a second Set for one call")
	}
	if _, err := set.New("nope", Attributes{}); !errors.Is(err, ErrNoConfig) {
		t.Errorf("unknown configuration: %v", err)
	}
	if _, err := set.New("card", Attributes{Currency: "pounds"}); !errors.Is(err, ErrBadAttributes) {
		t.Errorf("bad currency: %v", err)
	}
	if _, err := set.New("card", Attributes{Reference: "a\r\nb"}); !errors.Is(err, ErrBadAttributes) {
		t.Errorf("bad reference: %v", err)
	}
	set.Close("")
}

// TestConsume feeds a call's digit channel: the set closes when it does.
func TestConsume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		p := e.newPayment()
		p.Arm("card_number")
		digits := make(chan dtmf.Press, 4)
		go e.set.Consume(digits)
		for i, k := range "4242" {
			digits <- dtmf.Press{Key: dtmf.Key(k), Number: uint64(i + 1)}
		}
		synctest.Wait()
		if v := p.View(); v.Fields[0].Length != 4 {
			t.Errorf("length %d", v.Fields[0].Length)
		}
		close(digits)
		synctest.Wait()
		if p.State() != StateCancelled || e.ps.Set("call-1") != nil {
			t.Errorf("after the call: %v", p.State())
		}
		if _, open := drain(e.sub); open {
			t.Error("the event bus outlived the call")
		}
	})
}

// TestReconcileLaterLeavesTheCallAlone: a payment reconciled while the
// call's next payment is open must not take the agent back to the call
// or switch secure mode off under it.
func TestReconcileLaterLeavesTheCallAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		first := e.unknownPayment(processor.Result{Status: processor.Declined})
		second := e.newPayment()
		e.events()
		before := len(e.all)
		if _, err := first.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.events()
		for _, ev := range e.all[before:] {
			if ev.Type == EventAgentState {
				t.Errorf("agent state %q while %v is open", ev.AgentState, second)
			}
		}
		if m := e.call.secureModes(); m[len(m)-1] != true {
			t.Errorf("secure mode %v", m)
		}
		if first.State() != StateDeclined || second.State() != StateCreated {
			t.Errorf("%v, %v", first.State(), second.State())
		}
		second.End()
	})
}

// allowedMoves are the state machine's edges.
var allowedMoves = map[[2]State]bool{
	{StateCreated, StateCollecting}: true, {StateCreated, StateCancelled}: true, {StateCreated, StateTimedOut}: true,
	{StateCollecting, StateReady}: true, {StateCollecting, StateCancelled}: true, {StateCollecting, StateTimedOut}: true,
	{StateReady, StateCollecting}: true, {StateReady, StateProcessing}: true, {StateReady, StateCancelled}: true, {StateReady, StateTimedOut}: true,
	{StateProcessing, StateApproved}: true, {StateProcessing, StateDeclined}: true, {StateProcessing, StateFailed}: true, {StateProcessing, StateReconciling}: true,
	{StateReconciling, StateApproved}: true, {StateReconciling, StateDeclined}: true, {StateReconciling, StateFailed}: true,
}

// digitRun5 finds a run of five or more digits: no event or view may hold
// one (timestamps, amounts, counters and a last four have at most four).
var digitRun5 = func(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if run++; run >= 5 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// FuzzPaymentKeys drives a payment (with an optional postcode field) with
// any sequence of key presses, agent actions, lost presses and waits, and
// checks that it never panics, only moves along the state machine's
// edges, never shows a run of digits in an event or view, hands the
// processor only a valid card, and zeroes its buffers once it is over.
//
// Each byte is one action: 0–15 a key (0–9 * # A–D), 16–19 arm field n,
// 20–23 clear field n, 24–27 process, 28 end, 29 wait a minute, 30 lose a
// press, 31 the processor answers "unknown" from now on (then reconcile).
func FuzzPaymentKeys(f *testing.F) {
	const keys = "0123456789*#ABCD"
	seed := func(actions ...any) []byte {
		var b []byte
		for _, a := range actions {
			switch a := a.(type) {
			case string:
				for i := range len(a) {
					b = append(b, byte(strings.IndexByte(keys, a[i])))
				}
			case int:
				b = append(b, byte(a))
			}
		}
		return b
	}
	f.Add(seed(16, cardKeys, "#", 24))
	f.Add(seed(16, amex, expiry, "1234", "12345#", 24))
	f.Add(seed(16, "4242*", visa, 17, expiry, 22, "999", 24, 28))
	f.Add(seed(16, visa[:5], 30, visa[5:], expiry, cvc, 24))
	f.Add(seed(19, "#", 16, cardKeys, 31, 24, 24, 29, 29, 29, 29, 29, 29))
	f.Add(seed(16, "4222222222222#", expiry, cvc, "1234AB#", 24))
	f.Fuzz(func(t *testing.T, actions []byte) {
		if len(actions) > 1000 {
			return
		}
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				c.Fields = append(c.Fields, FieldConfig{ID: PostcodeFieldID, Kind: FieldDigits, MinLen: 4, MaxLen: 8})
			})
			e.proc.reconcileRes = processor.Result{Status: processor.Approved}
			p := e.newPayment()
			ids := []string{"card_number", "expiry", "security_code", PostcodeFieldID}
			for _, a := range actions {
				a %= 32
				switch {
				case a < 16:
					e.keys(keys[a : a+1])
				case a < 20:
					_ = p.Arm(ids[a-16])
				case a < 24:
					_ = p.Clear(ids[a-20])
				case a < 28:
					if _, err := p.Process(context.Background()); err == nil || errors.Is(err, ErrStillUnknown) {
						if _, ok := ValidPAN([]byte(e.proc.pan), nil); !ok {
							t.Fatal("the processor was handed an invalid card number")
						}
						_, _ = p.Reconcile(context.Background())
					}
				case a == 28:
					_ = p.End()
				case a == 29:
					time.Sleep(time.Minute)
				case a == 30:
					e.number++
				case a == 31:
					e.proc.result = processor.Result{Status: processor.Unknown}
				}
				v := p.View()
				for _, fv := range v.Fields {
					if fv.Valid && !fv.Complete {
						t.Fatalf("field %s valid but not complete", fv.ID)
					}
				}
				if b, _ := json.Marshal(v); digitRun5(string(b)) {
					t.Fatalf("a run of digits in the view: %s", b)
				}
				if !p.State().open() && !allZero(backing(p)) {
					t.Fatalf("%v with digits in its buffers", p.State())
				}
				e.events()
			}
			_ = p.End()
			e.set.Close("")
			e.events()
			if e.sub.Dropped() {
				t.Fatal("the test's subscriber fell behind")
			}
			prev := State(0)
			for _, ev := range e.all {
				if b, err := json.Marshal(ev); err != nil || digitRun5(string(b)) {
					t.Fatalf("event %s (%v)", b, err)
				}
				if ev.Type != EventState {
					continue
				}
				if prev != 0 && !allowedMoves[[2]State{prev, ev.State}] {
					t.Fatalf("moved from %v to %v", prev, ev.State)
				}
				prev = ev.State
			}
			if !allZero(backing(p)) {
				t.Fatal("digits left after the call")
			}
		})
	})
}

// BenchmarkHandleDigit is a key press from the call's digit path to the
// event the agent form shows as a dot.
func BenchmarkHandleDigit(b *testing.B) {
	ps, err := NewPayments(DefaultSettings(), WithProcessors(&fakeProc{}), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	set := ps.ForCall(&fakeCall{id: "bench", secure: true})
	sub, _ := set.Events().Subscribe(MaxSubscriberBuffer)
	p, err := set.New("card", Attributes{Amount: 1, Currency: "GBP"})
	if err != nil {
		b.Fatal(err)
	}
	p.Arm("card_number")
	keys := "424242424242424*" // never complete: * clears after 15 digits
	b.ReportAllocs()
	n := uint64(0)
	for b.Loop() {
		n++
		set.HandleDigit(dtmf.Press{Key: dtmf.Key(keys[n%uint64(len(keys))]), Number: n})
		if n%1024 == 0 {
			drain(sub)
		}
	}
	p.End()
	set.Close("")
}

// TestWithTheSandbox takes payments through the built-in sandbox processor
// with its documented test cards, on the bubble's clock: its answer
// delay, its timeout cards and their reconciliation.
func TestWithTheSandbox(t *testing.T) {
	cases := []struct {
		card      string
		process   error
		reconcile []error // in turn, a minute apart after the first
		want      State
		decline   string
	}{
		{card: "4242424242424242", want: StateApproved},
		{card: "5555555555554444", want: StateApproved},
		{card: "4000000000000002", want: StateDeclined, decline: "do_not_honor"},
		{card: "4000000000009995", want: StateDeclined, decline: "insufficient_funds"},
		{card: "4000000000005001", want: StateFailed, decline: "processing_error"},
		{card: "4000000000004087", process: ErrStillUnknown, reconcile: []error{nil}, want: StateApproved},
		{card: "4000000000005043", process: ErrStillUnknown, reconcile: []error{ErrStillUnknown, ErrStillUnknown, ErrStillUnknown, ErrStillUnknown, ErrStillUnknown, nil}, want: StateFailed},
	}
	for _, tc := range cases {
		t.Run(tc.card[12:], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var e *env
				logs := &strings.Builder{}
				sandbox, err := processor.New("sandbox", processor.Config{Type: processor.TypeSandbox},
					processor.WithClock(paymentClock), processor.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
				if err != nil {
					t.Fatal(err)
				}
				e = newEnv(t, nil, WithProcessors(sandbox))
				p := e.newPayment()
				p.Arm("card_number")
				e.keys(tc.card + expiry + cvc)
				start := time.Now()
				res, err := p.Process(context.Background())
				if !isErr(err, tc.process) {
					t.Fatalf("Process: %v, want %v", err, tc.process)
				}
				if took := time.Since(start); took < processor.DefaultMinDelay {
					t.Errorf("answered in %v", took)
				}
				for i, want := range tc.reconcile {
					if i > 0 {
						time.Sleep(time.Minute)
					}
					if res, err = p.Reconcile(context.Background()); !isErr(err, want) {
						t.Fatalf("Reconcile %d: %v, want %v", i, err, want)
					}
				}
				if p.State() != tc.want || res.State != tc.want || res.DeclineCode != tc.decline {
					t.Errorf("%v, result %+v; want %v %s", p.State(), res, tc.want, tc.decline)
				}
				if tc.want == StateApproved && !strings.HasPrefix(res.ProcessorReference, "sbx_") {
					t.Errorf("reference %q", res.ProcessorReference)
				}
				if l := leaks(logs.String()+e.logs.String(), tc.card); len(l) > 0 {
					t.Errorf("logs leak %v", l)
				}
			})
		})
	}
}

// TestFieldLengthCarriesPressAt: each field_length event a key press
// causes carries when the press arrived (the form's key→dot latency is
// measured from it); a clear's carries none, and the JSON leaves it out.
func TestFieldLengthCarriesPressAt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		p := e.newPayment()
		p.Arm("card_number")
		e.events()
		pressed := time.Now().Add(-3 * time.Millisecond)
		e.number++
		e.set.HandleDigit(dtmf.Press{Key: '4', Source: dtmf.SourceRFC4733, FirstSeen: pressed, Number: e.number})
		ev, ok := e.last(EventFieldLength, "card_number")
		if !ok || !ev.PressAt.Equal(pressed) {
			t.Fatalf("field_length press_at %v, want %v", ev.PressAt, pressed)
		}
		if err := p.Clear("card_number"); err != nil {
			t.Fatal(err)
		}
		ev, _ = e.last(EventFieldLength, "card_number")
		if ev.Length != 0 || !ev.PressAt.IsZero() {
			t.Fatalf("clear: length %d press_at %v, want 0 and none", ev.Length, ev.PressAt)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "press_at") {
			t.Errorf("a clear's JSON has press_at: %s", b)
		}
	})
}

func TestNewWithID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		for _, bad := range []string{"a/b", "pay 1", strings.Repeat("x", 65)} {
			if _, err := e.set.NewWithID(bad, e.ps.Configs()[0].ID, Attributes{}); err == nil {
				t.Errorf("id %q accepted", bad)
			}
		}
		p, err := e.set.NewWithID("pay_chosen", e.ps.Configs()[0].ID, Attributes{Amount: 100})
		if err != nil {
			t.Fatal(err)
		}
		if p.ID() != "pay_chosen" || e.ps.Payment("pay_chosen") != p {
			t.Errorf("id %q, found %v", p.ID(), e.ps.Payment("pay_chosen"))
		}
		if err := p.End(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.set.NewWithID("pay_chosen", e.ps.Configs()[0].ID, Attributes{}); !errors.Is(err, ErrInProgress) {
			t.Errorf("taken id: %v", err)
		}
		e.set.Close("")
	})
}

// A field keyed twice (confirm): complete only once the second entry
// matches the first; a mismatch clears it, and says so, for the caller to
// start over; `*` while confirming clears both entries. The view shows the
// second entry's progress; no event or view ever holds a digit.
func TestFieldKeyedTwiceToConfirm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.Fields[0].Confirm = true
			c.StarClearsField = true
		})
		p, err := e.set.New(e.ps.Configs()[0].ID, Attributes{Amount: 100, Currency: "GBP"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Arm("card_number"); err != nil {
			t.Fatal(err)
		}
		e.keys(visa)
		synctest.Wait()
		v := p.View().Fields[0]
		if v.Complete || !v.Confirming || !v.Confirm || v.Length != 16 || v.ConfirmLength != 0 {
			t.Fatalf("after the first entry: %+v", v)
		}
		e.keys(visa[:6])
		synctest.Wait()
		if v := p.View().Fields[0]; !v.Confirming || v.ConfirmLength != 6 || v.Length != 16 {
			t.Fatalf("during the second entry: %+v", v)
		}
		if ev, _ := e.last(EventFieldLength, "card_number"); !ev.Confirming || ev.Length != 6 {
			t.Fatalf("the second entry's event: %+v", ev)
		}
		// A slip in the second entry: the field is cleared, and says so.
		e.keys("9" + visa[7:])
		synctest.Wait()
		v = p.View().Fields[0]
		if v.Complete || v.Confirming || v.Length != 0 {
			t.Fatalf("after a mismatch: %+v", v)
		}
		if ev, _ := e.last(EventFieldLength, "card_number"); !ev.Mismatch || ev.Length != 0 {
			t.Fatalf("the mismatch event: %+v", ev)
		}
		// `*` while confirming clears both entries.
		e.keys(visa + "4242*")
		synctest.Wait()
		if v := p.View().Fields[0]; v.Length != 0 || v.Confirming {
			t.Fatalf("after * while confirming: %+v", v)
		}
		// Twice the same: complete and valid, and the payment goes on.
		e.keys(visa + visa + expiry + cvc)
		synctest.Wait()
		if v := p.View().Fields[0]; !v.Complete || !v.Valid || v.Confirming || v.MaskedPAN != "•••• 4242" {
			t.Fatalf("after two matching entries: %+v", v)
		}
		if st := p.State(); st != StateReady {
			t.Fatalf("state %s, want ready", st)
		}
		for _, ev := range e.all {
			if ev.Confirming && (ev.Brand != 0 || ev.MaskedPAN != "") {
				t.Errorf("a second entry's event tells more than its length: %+v", ev)
			}
		}
		if _, err := p.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.proc.pan != visa {
			t.Errorf("the processor got a card of %d digits, want the 16 keyed", len(e.proc.pan))
		}
	})
}
