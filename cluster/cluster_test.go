package cluster

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/store"
)

// memStore keeps heartbeats in memory, stamping them with the clock, as
// the store does; fail makes the next writes fail.
type memStore struct {
	mu    sync.Mutex
	now   func() time.Time
	nodes map[string]store.Node
	fail  error
}

func (m *memStore) Heartbeat(_ context.Context, n store.Node) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	n.Heartbeat = m.now()
	m.nodes[n.ID] = n
	return nil
}

func (m *memStore) Nodes(context.Context) ([]store.Node, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Node
	for _, id := range []string{"a", "b", "c"} {
		if n, ok := m.nodes[id]; ok {
			out = append(out, n)
		}
	}
	return out, nil
}

func TestRegistryAliveAndDead(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	st := &memStore{now: clock.Now, nodes: map[string]store.Node{}}
	cfg := Config{Enabled: true, NodeID: "a", Heartbeat: time.Second, DeadAfter: 5 * time.Second}
	a, err := New(cfg, st, "http://127.0.0.2:8080", "127.0.0.2:5060", WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	cfg.NodeID = "b"
	b, _ := New(cfg, st, "http://127.0.0.3:8080", "127.0.0.3:5060", WithClock(clock.Now))
	ctx := t.Context()
	if err := a.Ready(ctx); err == nil {
		t.Fatal("ready before any heartbeat")
	}
	for _, r := range []*Registry{a, b} {
		if err := r.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := a.Nodes(ctx)
	if err != nil || len(ns) != 2 || !ns[0].Alive || !ns[0].Self || !ns[1].Alive || ns[1].Self || ns[1].APIURL != "http://127.0.0.3:8080" {
		t.Fatalf("nodes: %+v, %v", ns, err)
	}
	// b stops beating: dead once its last heartbeat is older than
	// dead_after, not before.
	clock.Advance(5 * time.Second)
	if err := a.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if ns, _ = a.Nodes(ctx); !ns[1].Alive {
		t.Fatal("b dead at exactly dead_after")
	}
	clock.Advance(time.Millisecond)
	if ns, _ = a.Nodes(ctx); !ns[0].Alive || ns[1].Alive {
		t.Fatalf("after dead_after: %+v", ns)
	}
	// a's own writes fail: it stops being ready once its last written
	// heartbeat is older than dead_after.
	st.mu.Lock()
	st.fail = errors.New("connection refused")
	st.mu.Unlock()
	clock.Advance(4 * time.Second)
	if err := a.Beat(ctx); err == nil {
		t.Fatal("a failing store took a heartbeat")
	}
	if err := a.Ready(ctx); err != nil {
		t.Fatalf("not ready within dead_after of the last heartbeat: %v", err)
	}
	clock.Advance(2 * time.Second)
	if err := a.Ready(ctx); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("ready past dead_after with no heartbeat written: %v", err)
	}
	// Draining shows in the next heartbeat.
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	a.SetDraining(true)
	if err := a.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if ns, _ = b.Nodes(ctx); !ns[0].Draining || ns[0].Self {
		t.Fatalf("a draining, seen by b: %+v", ns[0])
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{
		{Heartbeat: time.Millisecond, DeadAfter: time.Second},
		{Heartbeat: time.Second, DeadAfter: time.Second},
		{Heartbeat: time.Second, DeadAfter: time.Hour},
		{Heartbeat: time.Second, DeadAfter: 5 * time.Second, NodeID: strings.Repeat("n", 65)},
	} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
}

// A node found dead is mourned once: onDead runs for it once, and again
// only after it comes back and dies again.
func TestOnDeadOncePerDeath(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	st := &memStore{now: clock.Now, nodes: map[string]store.Node{}}
	var dead []string
	cfg := Config{Enabled: true, NodeID: "a", Heartbeat: time.Second, DeadAfter: 3 * time.Second}
	a, _ := New(cfg, st, "http://a", "", WithClock(clock.Now), WithOnDead(func(_ context.Context, n string) { dead = append(dead, n) }))
	cfg.NodeID = "c"
	c, _ := New(cfg, st, "http://c", "", WithClock(clock.Now))
	ctx := t.Context()
	_ = a.Beat(ctx)
	_ = c.Beat(ctx)
	a.sweep(ctx)
	clock.Advance(4 * time.Second)
	_ = a.Beat(ctx)
	a.sweep(ctx)
	a.sweep(ctx)
	if strings.Join(dead, ",") != "c" {
		t.Fatalf("onDead for %v, want c once", dead)
	}
	_ = c.Beat(ctx) // back
	a.sweep(ctx)
	clock.Advance(4 * time.Second)
	_ = a.Beat(ctx)
	a.sweep(ctx)
	if strings.Join(dead, ",") != "c,c" {
		t.Fatalf("onDead for %v, want c twice (two deaths)", dead)
	}
}
