package store

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func TestNodesHeartbeat(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		if ns, err := s.Nodes(ctx); err != nil || len(ns) != 0 {
			t.Fatalf("Nodes of an empty store: %+v, %v", ns, err)
		}
		start := clock.Now()
		a := Node{ID: "node-a", APIURL: "http://127.0.0.2:8080", SIPAddress: "127.0.0.2:5060", Started: start}
		if err := s.Heartbeat(ctx, a); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Second)
		a.Draining = true
		if err := s.Heartbeat(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Heartbeat(ctx, Node{ID: "node-b", APIURL: "http://127.0.0.3:8080"}); err != nil {
			t.Fatal(err)
		}
		ns, err := s.Nodes(ctx)
		if err != nil || len(ns) != 2 {
			t.Fatalf("Nodes = %+v, %v", ns, err)
		}
		if ns[0].ID != "node-a" || !ns[0].Draining || !ns[0].Heartbeat.After(start.Add(time.Second)) || ns[0].APIURL != a.APIURL || ns[0].SIPAddress != a.SIPAddress {
			t.Fatalf("node-a after two heartbeats: %+v", ns[0])
		}
		if err := s.Heartbeat(ctx, Node{APIURL: "x"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a node without an id: %v", err)
		}
	})
}

func TestIdempotencyKeyClaims(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		h1, h2 := sha256.Sum256([]byte("request 1")), sha256.Sum256([]byte("request 2"))
		k, taken, err := s.ClaimIdempotencyKey(ctx, IdempotencyKey{Key: "order-7", RequestHash: h1, PaymentID: "pay_a"})
		if err != nil || taken || k.PaymentID != "pay_a" {
			t.Fatalf("first claim: %+v, %v, %v", k, taken, err)
		}
		if k, found, err := s.IdempotencyKeyOf(ctx, "order-7"); err != nil || !found || k.PaymentID != "pay_a" || k.RequestHash != h1 {
			t.Fatalf("IdempotencyKeyOf = %+v, %v, %v", k, found, err)
		}
		if _, found, err := s.IdempotencyKeyOf(ctx, "order-none"); err != nil || found {
			t.Fatalf("an unclaimed key: %v, %v", found, err)
		}
		// Another node, the same key: the first claim, with its request.
		k, taken, err = s.ClaimIdempotencyKey(ctx, IdempotencyKey{Key: "order-7", RequestHash: h2, PaymentID: "pay_b"})
		if err != nil || !taken || k.PaymentID != "pay_a" || k.RequestHash != h1 {
			t.Fatalf("second claim: %+v, %v, %v", k, taken, err)
		}
		// A failed creation lets the key go; another's release does not.
		if err := s.ReleaseIdempotencyKey(ctx, "order-7", "pay_b"); err != nil {
			t.Fatal(err)
		}
		if _, taken, _ := s.ClaimIdempotencyKey(ctx, IdempotencyKey{Key: "order-7", RequestHash: h2, PaymentID: "pay_c"}); !taken {
			t.Fatal("a release by another payment let the key go")
		}
		if err := s.ReleaseIdempotencyKey(ctx, "order-7", "pay_a"); err != nil {
			t.Fatal(err)
		}
		if k, taken, err = s.ClaimIdempotencyKey(ctx, IdempotencyKey{Key: "order-7", RequestHash: h2, PaymentID: "pay_c"}); err != nil || taken || k.PaymentID != "pay_c" {
			t.Fatalf("claim after release: %+v, %v, %v", k, taken, err)
		}
		// After the TTL the key is free again, and pruned.
		if _, _, err := s.ClaimIdempotencyKey(ctx, IdempotencyKey{Key: "order-8", RequestHash: h1, PaymentID: "pay_d"}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(IdempotencyTTL + time.Minute)
		if k, taken, err = s.ClaimIdempotencyKey(ctx, IdempotencyKey{Key: "order-7", RequestHash: h1, PaymentID: "pay_e"}); err != nil || taken || k.PaymentID != "pay_e" {
			t.Fatalf("claim after the TTL: %+v, %v, %v", k, taken, err)
		}
		if _, found, _ := s.IdempotencyKeyOf(ctx, "order-8"); found {
			t.Fatal("a key past the TTL is still found")
		}
		if n, err := s.PruneIdempotencyKeys(ctx); err != nil || n != 1 {
			t.Fatalf("PruneIdempotencyKeys = %d, %v; want 1 (order-8)", n, err)
		}
	})
}

func TestLeases(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		if ok, err := s.ClaimLease(ctx, "reconcile:pay_a", "node-a", 30*time.Second); err != nil || !ok {
			t.Fatalf("first claim: %v, %v", ok, err)
		}
		if ok, _ := s.ClaimLease(ctx, "reconcile:pay_a", "node-b", 30*time.Second); ok {
			t.Fatal("node-b took a lease node-a holds")
		}
		if ok, _ := s.ClaimLease(ctx, "reconcile:pay_a", "node-a", 30*time.Second); !ok {
			t.Fatal("node-a could not renew its lease")
		}
		clock.Advance(31 * time.Second)
		if ok, _ := s.ClaimLease(ctx, "reconcile:pay_a", "node-b", 30*time.Second); !ok {
			t.Fatal("node-b could not take a lease whose time ran out")
		}
		if ok, _ := s.ClaimLease(ctx, "reconcile:pay_a", "node-a", 30*time.Second); ok {
			t.Fatal("node-a took back a lease node-b holds")
		}
	})
}

func TestEndNodePayments(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		s := openStore(t, dsn, newTestClock())
		mk := func(node string, st State) string {
			p := samplePayment("c-" + node)
			p.State = st
			p, err := s.CreatePayment(ctx, p, byAgent)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AddPaymentRoute(ctx, PaymentRoute{PaymentID: p.ID, NodeID: node, CallID: p.CallID}); err != nil {
				t.Fatal(err)
			}
			return p.ID
		}
		open1, open2 := mk("node-c", StateCreated), mk("node-c", StateReady)
		other := mk("node-a", StateCollecting)
		charging := processing(t, s, "c-x", "k-dead")
		if err := s.AddPaymentRoute(ctx, PaymentRoute{PaymentID: charging.ID, NodeID: "node-c"}); err != nil {
			t.Fatal(err)
		}
		ended, err := s.EndNodePayments(ctx, "node-c", "call lost: node node-c died")
		if err != nil || len(ended) != 2 {
			t.Fatalf("EndNodePayments = %d, %v; want the two open ones", len(ended), err)
		}
		for _, id := range []string{open1, open2} {
			if p, _ := s.GetPayment(ctx, id); p.State != StateCancelled {
				t.Errorf("%s is %s, want cancelled", id, p.State)
			}
		}
		if p, _ := s.GetPayment(ctx, other); p.State != StateCollecting {
			t.Errorf("another node's payment is %s", p.State)
		}
		if p, _ := s.GetPayment(ctx, charging.ID); p.State != StateProcessing {
			t.Errorf("a charge under way was ended: %s (the reconciler settles it)", p.State)
		}
		// A second survivor doing the same ends nothing more.
		if again, err := s.EndNodePayments(ctx, "node-c", "call lost"); err != nil || len(again) != 0 {
			t.Fatalf("again: %d, %v", len(again), err)
		}
		audit, _ := s.Audit(ctx, open1)
		if last := audit[len(audit)-1]; last.Action != "payment.call_lost" || last.Actor != ActorSystem {
			t.Fatalf("audit %+v", last)
		}
	})
}
