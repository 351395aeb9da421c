package session

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"dtmfgw/processor"
	"dtmfgw/store"
)

// TestReconcileStoredAfterARestart: payments a run left in processing are
// settled by asking the processor under their idempotency keys, never by
// charging again: one the processor charged becomes approved, one it never
// saw becomes failed only after NotFoundGrace.
func TestReconcileStoredAfterARestart(t *testing.T) {
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

	n, err := ReconcileStored(ctx, st, procs, time.Now, nil)
	if err != nil || n != 1 {
		t.Fatalf("ReconcileStored = %d, %v; want 1 settled", n, err)
	}
	if rec, _ := st.GetPayment(ctx, "pay_charged"); rec.State != store.StateApproved {
		t.Errorf("the charged payment is %s, want approved", rec.State)
	}
	if rec, _ := st.GetPayment(ctx, "pay_lost"); rec.State != store.StateProcessing {
		t.Errorf("the unseen payment is %s before the grace, want processing", rec.State)
	}
	later := func() time.Time { return time.Now().Add(NotFoundGrace + time.Minute) }
	if n, err := ReconcileStored(ctx, st, procs, later, nil); err != nil || n != 1 {
		t.Fatalf("ReconcileStored after the grace = %d, %v; want 1", n, err)
	}
	if rec, _ := st.GetPayment(ctx, "pay_lost"); rec.State != store.StateFailed {
		t.Errorf("the unseen payment is %s after the grace, want failed", rec.State)
	}
	if left, _ := st.Unresolved(ctx); len(left) != 0 {
		t.Errorf("%d payments still unresolved", len(left))
	}
}
