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
		if n, err := s.PruneIdempotencyKeys(ctx); err != nil || n != 1 {
			t.Fatalf("PruneIdempotencyKeys = %d, %v; want 1 (order-8)", n, err)
		}
	})
}
