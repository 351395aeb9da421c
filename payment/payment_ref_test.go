package payment

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// withTwoConfigs gives e's payments a second configuration, so that a
// payment made without naming one waits for the form to choose.
func withTwoConfigs(t *testing.T, e *env) {
	t.Helper()
	first := e.ps.Configs()[0]
	second := first
	second.ID, second.Name = "other", "Other"
	if err := e.ps.SetConfigs(Settings{Configurations: []Config{first, second}}); err != nil {
		t.Fatal(err)
	}
}

// A payment made without a configuration while several exist waits for
// one: it holds the call's one place for a payment in progress, takes
// attribute changes but no field or processing, and becomes a live
// payment under the same id once a configuration is chosen.
func TestWaitingPaymentBecomesLiveWhenAConfigurationIsChosen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		withTwoConfigs(t, e)
		ref, err := e.ps.Create("call-1", "", "pay-w", Attributes{Amount: 500}, AttributeSetOf(AttrAmount))
		if err != nil {
			t.Fatal(err)
		}
		v := ref.View()
		if !ref.Waiting() || v.State != StateCreated || v.ID != "pay-w" || ref.ID() != "pay-w" || v.Remaining != int64(DefaultSessionTimeout/time.Second) {
			t.Fatalf("waiting payment: waiting %v, view %+v", ref.Waiting(), v)
		}
		if v.AgentEditable.Has(AttrAmount) {
			t.Error("the agent may change the amount the back end set")
		}
		if got := e.ps.InProgress("call-1"); got != "pay-w" {
			t.Errorf("InProgress = %q, want the waiting payment", got)
		}
		if _, err := e.ps.Create("call-1", "", "pay-x", Attributes{}, 0); !errors.Is(err, ErrInProgress) {
			t.Errorf("a second payment on the call: %v, want ErrInProgress", err)
		}
		if err := ref.Arm("card_number"); !errors.Is(err, ErrNoConfigYet) {
			t.Errorf("Arm: %v, want ErrNoConfigYet", err)
		}
		if _, err := ref.Process(context.Background()); !errors.Is(err, ErrNotReady) {
			t.Errorf("Process: %v, want ErrNotReady", err)
		}
		gbp := "GBP"
		if err := ref.PatchAttributes(EditorAgent, AttributesPatch{Currency: &gbp}); err != nil {
			t.Fatalf("patch: %v", err)
		}
		amount := int64(1)
		var ne *NotEditableError
		if err := ref.PatchAttributes(EditorAgent, AttributesPatch{Amount: &amount}); !errors.As(err, &ne) {
			t.Errorf("the agent changing the amount: %v, want NotEditableError", err)
		}
		if _, err := ref.Choose("nope"); !errors.Is(err, ErrNoConfig) {
			t.Errorf("Choose an unknown configuration: %v", err)
		}
		live, err := ref.Choose("other")
		if err != nil {
			t.Fatal(err)
		}
		if live.Live() == nil || live.ID() != "pay-w" || live.Live().Config().ID != "other" {
			t.Fatalf("chosen: %+v", live.View())
		}
		if a := live.Live().Attributes(); a.Amount != 500 || a.Currency != "GBP" {
			t.Errorf("attributes carried over: %+v", a)
		}
		found, err := e.ps.Find(context.Background(), "pay-w")
		if err != nil || found.Live() != live.Live() {
			t.Fatalf("Find after Choose: %v %v", found.View(), err)
		}
		if _, err := found.Choose("other"); !errors.Is(err, ErrConfigChosen) {
			t.Errorf("choosing again: %v, want ErrConfigChosen", err)
		}
	})
}

// A waiting payment times out by the payments' clock, can be ended by the
// agent, and is answered a last time (cancelled) once its call has ended,
// then forgotten.
func TestWaitingPaymentEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		withTwoConfigs(t, e)
		if _, err := e.ps.Create("call-1", "", "pay-a", Attributes{}, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(DefaultSessionTimeout)
		ref, err := e.ps.Find(context.Background(), "pay-a")
		if err != nil {
			t.Fatal(err)
		}
		if v := ref.View(); v.State != StateTimedOut || v.Reason != ReasonSessionTimeout || ref.Waiting() {
			t.Fatalf("after the session timeout: %+v", v)
		}
		if err := ref.End(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("ending a timed-out payment: %v", err)
		}

		ref, err = e.ps.Create("call-1", "", "pay-b", Attributes{}, 0)
		if err != nil {
			t.Fatalf("a new payment after the timeout: %v", err)
		}
		if err := ref.End(); err != nil {
			t.Fatal(err)
		}
		if v := ref.View(); v.State != StateCancelled || v.Reason != ReasonAgentEnded {
			t.Errorf("ended by the agent: %+v", v)
		}

		ref, err = e.ps.Create("call-1", "", "pay-c", Attributes{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.set.Close(ReasonCallEnded)
		if ref, err = e.ps.Find(context.Background(), "pay-c"); err != nil {
			t.Fatal(err)
		}
		if v := ref.View(); v.State != StateCancelled || v.Reason != ReasonCallEnded {
			t.Errorf("after the call ended: %+v", v)
		}
		if _, err := e.ps.Find(context.Background(), "pay-c"); !errors.Is(err, ErrNotFound) {
			t.Errorf("asked again after the call ended: %v, want ErrNotFound", err)
		}
		if _, err := e.ps.Create("call-1", "", "pay-d", Attributes{}, 0); !errors.Is(err, ErrNoCall) {
			t.Errorf("a payment on an ended call: %v, want ErrNoCall", err)
		}
	})
}

// A waiting payment is stored from its creation, so that every node reads
// it and a survivor can end it: created with no configuration; its end
// recorded once, whoever ends it (the agent, its timeout with nobody
// asking, its call's end); and the payment it becomes carries on from its
// record, configuration chosen, rather than making a second one.
func TestWaitingPaymentIsRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		withTwoConfigs(t, e)
		type step struct {
			id            string
			state, prev   State
			config, actor string
			action        string
		}
		steps := func() []step {
			var out []step
			for _, r := range e.store.records() {
				out = append(out, step{r.PaymentID, r.State, r.Previous, r.ConfigID, r.Actor, r.Action})
			}
			return out
		}
		want := func(what string, w ...step) {
			t.Helper()
			got := steps()
			if len(got) != len(w) {
				t.Fatalf("%s: records %+v, want %+v", what, got, w)
			}
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("%s: record %d is %+v, want %+v", what, i, got[i], w[i])
				}
			}
		}

		ref, err := e.ps.Create("call-1", "", "pay-w", Attributes{Amount: 500}, AttributeSetOf(AttrAmount))
		if err != nil {
			t.Fatal(err)
		}
		created := step{"pay-w", StateCreated, 0, "", ActorAgent, "payment.created"}
		want("created", created)
		if r := e.store.records()[0]; r.Amount != 500 || r.Reason != "awaiting a configuration" || r.Correlation != e.call.Correlation() {
			t.Errorf("the waiting payment's record: %+v", r)
		}
		if _, err := ref.Choose("other"); err != nil {
			t.Fatal(err)
		}
		configured := step{"pay-w", StateCreated, StateCreated, "other", ActorAgent, "payment.configured"}
		want("configuration chosen", created, configured)
		if err := e.ps.Payment("pay-w").End(); err != nil {
			t.Fatal(err)
		}
		ended := step{"pay-w", StateCancelled, StateCreated, "other", ActorAgent, "payment.cancelled"}
		want("ended live", created, configured, ended)

		// Ended by the agent while it waits.
		ref, err = e.ps.Create("call-1", "", "pay-a", Attributes{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.End(); err != nil {
			t.Fatal(err)
		}
		if err := ref.End(); !errors.Is(err, ErrInvalidState) {
			t.Errorf("ending twice: %v", err)
		}
		want("ended by the agent", created, configured, ended,
			step{"pay-a", StateCreated, 0, "", ActorAgent, "payment.created"},
			step{"pay-a", StateCancelled, StateCreated, "", ActorAgent, "payment.cancelled"})
		if r := e.store.records()[4]; r.Reason != ReasonAgentEnded {
			t.Errorf("reason %q", r.Reason)
		}

		// Its session timeout, with nobody asking about it; then a lookup
		// records nothing more.
		if _, err := e.ps.Create("call-1", "", "pay-t", Attributes{}, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(DefaultSessionTimeout + time.Second)
		synctest.Wait()
		if _, err := e.ps.Find(context.Background(), "pay-t"); err != nil {
			t.Fatal(err)
		}
		got := steps()
		if len(got) != 7 || got[6] != (step{"pay-t", StateTimedOut, StateCreated, "", ActorSystem, "payment.timed_out"}) {
			t.Fatalf("after the timeout: %+v", got)
		}

		// Its call's end, with nobody asking about it.
		if _, err := e.ps.Create("call-1", "", "pay-c", Attributes{}, 0); err != nil {
			t.Fatal(err)
		}
		e.set.Close(ReasonCallEnded)
		got = steps()
		if len(got) != 9 || got[8] != (step{"pay-c", StateCancelled, StateCreated, "", ActorSystem, "payment.cancelled"}) {
			t.Fatalf("after the call ended: %+v", got)
		}
		if _, err := e.ps.Find(context.Background(), "pay-c"); err != nil {
			t.Fatal(err)
		}
		if n := len(e.store.records()); n != 9 {
			t.Errorf("the last answer recorded again: %d records", n)
		}
	})
}
