package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// resultOutbox is an OutboxFunc as package webhook makes one: a
// payment.result delivery for every final payment.
func resultOutbox(p Payment, _ Entry) ([]Delivery, error) {
	return []Delivery{{ConfigurationID: p.ConfigurationID, Event: "payment.result",
		Body: fmt.Appendf(nil, `{"payment":{"id":%q,"state":%q}}`, p.ID, p.State)}}, nil
}

// TestOutboxWithTheResult: a result and its delivery are committed in
// one transaction; an outbox that fails leaves the payment as it was.
func TestOutboxWithTheResult(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		var fail error
		s := openStoreWith(t, dsn, newTestClock(), WithOutbox(func(p Payment, e Entry) ([]Delivery, error) {
			if fail != nil {
				return nil, fail
			}
			return resultOutbox(p, e)
		}))
		p := processing(t, s, "call-1", "key-1")
		if ds, err := s.Deliveries(ctx, p.ID); err != nil || len(ds) != 0 {
			t.Fatalf("before the result: %d deliveries, %v", len(ds), err)
		}
		fail = errors.New("outbox broken")
		if _, err := s.CommitResult(ctx, p.ID, Result{From: StateProcessing, State: StateApproved, Entry: bySystem}); err == nil {
			t.Fatal("CommitResult succeeded with a failing outbox")
		}
		if got, _ := s.GetPayment(ctx, p.ID); got.State != StateProcessing {
			t.Fatalf("after a failed outbox the payment is %s", got.State)
		}
		fail = nil
		// Unknown is not final: no delivery yet.
		if _, err := s.CommitResult(ctx, p.ID, Result{From: StateProcessing, State: StateUnknown, Entry: bySystem}); err != nil {
			t.Fatal(err)
		}
		if ds, _ := s.Deliveries(ctx, p.ID); len(ds) != 0 {
			t.Fatalf("an unknown result has %d deliveries", len(ds))
		}
		done, err := s.CommitResult(ctx, p.ID, Result{From: StateUnknown, State: StateApproved, ProcessorReference: "ch_1", Entry: bySystem})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := s.Deliveries(ctx, p.ID)
		if err != nil || len(ds) != 1 {
			t.Fatalf("after the result: %d deliveries, %v", len(ds), err)
		}
		d := ds[0]
		if d.Event != "payment.result" || d.ConfigurationID != "default" || !d.Pending() || d.Attempts != 0 ||
			!d.CreatedAt.Equal(done.UpdatedAt) || !d.NextAttemptAt.Equal(d.CreatedAt) || len(d.ID) != 28 ||
			string(d.Body) != fmt.Sprintf(`{"payment":{"id":%q,"state":"approved"}}`, p.ID) {
			t.Errorf("delivery %+v", d)
		}

		// A cancel (UpdateState to a final state) enqueues too.
		q, err := s.CreatePayment(ctx, samplePayment("call-2"), byAgent)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateState(ctx, q.ID, Change{From: StateCreated, To: StateCancelled, Entry: Entry{Actor: ActorAgent, Action: "payment.cancelled"}}); err != nil {
			t.Fatal(err)
		}
		if ds, _ := s.Deliveries(ctx, q.ID); len(ds) != 1 || string(ds[0].Body) != fmt.Sprintf(`{"payment":{"id":%q,"state":"cancelled"}}`, q.ID) {
			t.Errorf("cancelled payment's deliveries %+v", ds)
		}
	})
}

func TestOutboxLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		p, err := s.CreatePayment(ctx, samplePayment("call-1"), byAgent)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnqueueDelivery(ctx, Delivery{PaymentID: "pay_nobody", ConfigurationID: "c", Event: "payment.progress", Body: []byte("{}")}); !errors.Is(err, ErrNotFound) {
			t.Errorf("a delivery for an unknown payment: %v", err)
		}
		for _, bad := range []Delivery{
			{PaymentID: p.ID, Event: "payment.progress", Body: []byte("{}")},
			{PaymentID: p.ID, ConfigurationID: "c", Event: "Payment Progress", Body: []byte("{}")},
			{PaymentID: p.ID, ConfigurationID: "c", Event: "payment.progress"},
			{PaymentID: p.ID, ConfigurationID: "c", Event: "payment.progress", Body: []byte{0xff}},
			{PaymentID: p.ID, ConfigurationID: "c", Event: "payment.progress", Body: make([]byte, MaxDeliveryBody+1)},
		} {
			if _, err := s.EnqueueDelivery(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("EnqueueDelivery(%+v) = %v, want ErrInvalid", bad.Event, err)
			}
		}
		if _, ok, err := s.NextDeliveryDue(ctx); ok || err != nil {
			t.Fatalf("NextDeliveryDue on an empty outbox: %v, %v", ok, err)
		}
		var ids []string
		for i := range 3 {
			d, err := s.EnqueueDelivery(ctx, Delivery{PaymentID: p.ID, ConfigurationID: "default", Event: "payment.progress", Body: fmt.Appendf(nil, `{"n":%d}`, i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, d.ID)
		}
		if _, err := s.EnqueueDelivery(ctx, Delivery{ID: ids[0], PaymentID: p.ID, ConfigurationID: "c", Event: "e", Body: []byte("{}")}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("a repeated delivery id: %v", err)
		}
		now := clock.Now()
		due, ok, err := s.NextDeliveryDue(ctx)
		if err != nil || !ok || due.After(now) {
			t.Fatalf("NextDeliveryDue = %v, %v, %v", due, ok, err)
		}
		if n, _ := s.PendingDeliveries(ctx); n != 3 {
			t.Fatalf("%d pending", n)
		}
		// Claim two, then the third.
		got, err := s.ClaimDeliveries(ctx, now, time.Minute, 2)
		if err != nil || len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] || got[0].Attempts != 1 {
			t.Fatalf("claim: %+v, %v", got, err)
		}
		rest, err := s.ClaimDeliveries(ctx, now, time.Minute, 10)
		if err != nil || len(rest) != 1 || rest[0].ID != ids[2] {
			t.Fatalf("second claim: %+v, %v", rest, err)
		}
		if again, _ := s.ClaimDeliveries(ctx, now.Add(59*time.Second), time.Minute, 10); len(again) != 0 {
			t.Fatalf("leased deliveries claimed again: %d", len(again))
		}
		// One delivered, one to retry, the third's lease runs out.
		if err := s.FinishDelivery(ctx, ids[0], 1, Outcome{Status: "204", Delivered: true, At: now}); err != nil {
			t.Fatal(err)
		}
		retry := now.Add(5 * time.Second)
		if err := s.FinishDelivery(ctx, ids[1], 1, Outcome{Status: "503", NextAttemptAt: retry, At: now}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishDelivery(ctx, ids[0], 1, Outcome{Status: "200", Delivered: true}); !errors.Is(err, ErrNotClaimed) {
			t.Errorf("finishing twice: %v", err)
		}
		if err := s.FinishDelivery(ctx, "whd_nothing", 1, Outcome{Status: "200"}); !errors.Is(err, ErrDeliveryNotFound) {
			t.Errorf("finishing an unknown delivery: %v", err)
		}
		if err := s.FinishDelivery(ctx, ids[1], 1, Outcome{Delivered: true, GaveUp: true}); !errors.Is(err, ErrInvalid) {
			t.Errorf("delivered and given up: %v", err)
		}
		if due, _, _ := s.NextDeliveryDue(ctx); !due.Equal(retry) {
			t.Errorf("next due %v, want %v", due, retry)
		}
		got, err = s.ClaimDeliveries(ctx, now.Add(time.Minute), time.Minute, 10)
		if err != nil || len(got) != 2 || got[0].ID != ids[1] || got[0].Attempts != 2 || got[0].LastStatus != "503" || got[1].ID != ids[2] || got[1].Attempts != 2 {
			t.Fatalf("claim after the retry time and the lease: %+v, %v", got, err)
		}
		// The first holder of ids[2], whose lease ran out, may not finish it.
		if err := s.FinishDelivery(ctx, ids[2], 1, Outcome{Status: "200", Delivered: true}); !errors.Is(err, ErrNotClaimed) {
			t.Errorf("a stale attempt finished: %v", err)
		}
		if err := s.FinishDelivery(ctx, ids[2], 2, Outcome{Status: "timeout", GaveUp: true, At: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishDelivery(ctx, ids[1], 2, Outcome{Status: "200", Delivered: true, At: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.PendingDeliveries(ctx); n != 0 {
			t.Errorf("%d pending at the end", n)
		}
		d, err := s.Delivery(ctx, ids[2])
		if err != nil || d.Pending() || d.GaveUpAt.IsZero() || !d.DeliveredAt.IsZero() || d.LastStatus != "timeout" {
			t.Errorf("given up: %+v, %v", d, err)
		}
		if n, err := s.PruneDeliveries(ctx, now.Add(30*time.Second)); err != nil || n != 1 {
			t.Errorf("prune: %d, %v", n, err)
		}
		if ds, _ := s.Deliveries(ctx, p.ID); len(ds) != 2 {
			t.Errorf("%d deliveries after pruning", len(ds))
		}
	})
}

// TestClaimConcurrently: claims racing on one database never hand a
// delivery to two claimers.
func TestClaimConcurrently(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		p, err := s.CreatePayment(ctx, samplePayment("call-1"), byAgent)
		if err != nil {
			t.Fatal(err)
		}
		const n = 40
		for range n {
			if _, err := s.EnqueueDelivery(ctx, Delivery{PaymentID: p.ID, ConfigurationID: "c", Event: "payment.progress", Body: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
		}
		now := clock.Now()
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range n {
					ds, err := s.ClaimDeliveries(ctx, now, time.Hour, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						seen[d.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("%d of %d claimed", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("%s claimed %d times", id, c)
			}
		}
	})
}
