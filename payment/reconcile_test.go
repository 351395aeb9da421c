package payment

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// TestReconcilerSettlesStoredPaymentsAfterARestart: payments a run left in
// processing, in a real store, are settled by asking the processor under
// their idempotency keys, never by charging again: one the processor
// charged becomes approved, one it never saw becomes failed only after
// NotFoundGrace.
func TestReconcilerSettlesStoredPaymentsAfterARestart(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "dtmfgw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sandbox, err := processor.New("sandbox", processor.Config{Type: processor.TypeSandbox, MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The charge the previous run made before it died.
	charged := &processor.Request{IdempotencyKey: "idem-charged", PAN: []byte("4242424242424242"), ExpMonth: 12, ExpYear: 2030,
		CVC: []byte("123"), Amount: 1999, Currency: "GBP"}
	if res, err := sandbox.Charge(ctx, charged); err != nil || res.Status != processor.Approved {
		t.Fatalf("setup charge: %+v, %v", res, err)
	}
	processing := func(id, key string) {
		t.Helper()
		if _, err := st.CreatePayment(ctx, store.Payment{ID: id, CallID: "call-1", ConfigurationID: "card", State: store.StateCreated},
			store.Entry{Actor: store.ActorAgent, Action: "payment.created"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateState(ctx, id, store.Change{From: store.StateCreated, To: store.StateProcessing,
			Entry: store.Entry{Actor: store.ActorAgent, Action: "payment.processing"}, Brand: "visa", Last4: "4242",
			Amount: 1999, Currency: "GBP", Processor: "sandbox", IdempotencyKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	processing("pay_charged", "idem-charged")
	processing("pay_lost", "idem-lost")
	procs := map[string]processor.Processor{"sandbox": sandbox}

	state := func(id string) store.State {
		rec, _ := st.GetPayment(ctx, id)
		return rec.State
	}
	// Both are asked at the Reconciler's first look: the charged one
	// settles; the unseen one, inside NotFoundGrace, is left for later.
	reconcileUntil(t, st, procs, time.Now, func(r *Reconciler) bool {
		n, _ := r.Unresolved()
		return state("pay_charged") == store.StateApproved && n == 1
	})
	if got := state("pay_lost"); got != store.StateProcessing {
		t.Errorf("the unseen payment is %s before the grace, want processing", got)
	}
	later := func() time.Time { return time.Now().Add(NotFoundGrace + time.Minute) }
	reconcileUntil(t, st, procs, later, func(*Reconciler) bool { return state("pay_lost") == store.StateFailed })
	if left, _ := st.Unresolved(ctx); len(left) != 0 {
		t.Errorf("%d payments still unresolved", len(left))
	}
}

// reconcileUntil runs a Reconciler of st, with now as its clock, until
// done holds (testkit.WaitFor), then stops it.
func reconcileUntil(t *testing.T, st *store.Store, procs map[string]processor.Processor, now func() time.Time, done func(*Reconciler) bool) {
	t.Helper()
	r, err := NewReconciler(st, procs, ReconcileConfig{}, WithReconcileClock(now), WithReconcileLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	testkit.WaitFor(t, "the Reconciler settles", func() bool { return done(r) })
}
