package payment

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"dtmfgw/processor"
	"dtmfgw/store"
)

// memStore is a ReconcileStore in memory, with the store's rules: a
// result needs the state the caller names, and a final one stands.
type memStore struct {
	mu      sync.Mutex
	recs    map[string]store.Payment
	commits map[string]int
}

func newMemStore() *memStore {
	return &memStore{recs: make(map[string]store.Payment), commits: make(map[string]int)}
}

// add stores a payment a charge was under way for (state processing or
// unknown) with the processor "held" and the idempotency key "idem-"+id,
// last changed at since.
func (m *memStore) add(id string, state store.State, since time.Time) {
	m.addRecord(store.Payment{ID: id, State: state, Processor: "held", IdempotencyKey: "idem-" + id,
		CreatedAt: since, UpdatedAt: since})
}

func (m *memStore) addRecord(p store.Payment) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[p.ID] = p
}

func (m *memStore) Unresolved(context.Context) ([]store.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Payment
	for _, p := range m.recs {
		if p.State.Unresolved() {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b store.Payment) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *memStore) CommitResult(_ context.Context, id string, r store.Result) (store.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.recs[id]
	switch {
	case !ok:
		return store.Payment{}, store.ErrNotFound
	case p.State.Final():
		return store.Payment{}, store.ErrFinal
	case p.State != r.From:
		return store.Payment{}, store.ErrConflict
	}
	p.State, p.ProcessorReference, p.UpdatedAt = r.State, r.ProcessorReference, time.Now()
	m.recs[id] = p
	m.commits[id]++
	return p, nil
}

func (m *memStore) get(id string) store.Payment {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recs[id]
}

// heldProc is a processor whose status lookups wait for gate (when set)
// and answer Unknown for the first unknownAsks asks of a key, then the
// key's truth. It counts lookups in flight and charges (there must be
// none).
type heldProc struct {
	gate       chan struct{}
	unknownFor int
	truth      map[string]processor.Result

	mu                    sync.Mutex
	inFlight, maxInFlight int
	charges               int
	asks                  map[string][]time.Time // per key, when (bubble time)
}

func (h *heldProc) Name() string { return "held" }

func (h *heldProc) Charge(context.Context, *processor.Request) (processor.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.charges++
	return processor.Result{Status: processor.Failed}, fmt.Errorf("test: the reconciler must never charge")
}

func (h *heldProc) Reconcile(ctx context.Context, key string) (processor.Result, error) {
	h.mu.Lock()
	h.inFlight++
	h.maxInFlight = max(h.maxInFlight, h.inFlight)
	if h.asks == nil {
		h.asks = make(map[string][]time.Time)
	}
	h.asks[key] = append(h.asks[key], time.Now())
	n := len(h.asks[key])
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inFlight--
		h.mu.Unlock()
	}()
	if h.gate != nil {
		select {
		case <-h.gate:
		case <-ctx.Done():
			return processor.Result{}, ctx.Err()
		}
	}
	if n <= h.unknownFor {
		return processor.Result{Status: processor.Unknown, Message: "still processing"}, nil
	}
	res, ok := h.truth[key]
	if !ok {
		return processor.Result{}, processor.ErrNotFound
	}
	return res, nil
}

func (h *heldProc) counts() (inFlight, maxInFlight, charges int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inFlight, h.maxInFlight, h.charges
}

func (h *heldProc) askTimes(key string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.asks[key])
}

// runReconciler starts r.Run in the bubble and returns its stop, which
// cancels it and waits for it to return.
func runReconciler(t *testing.T, r *Reconciler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// TestReconcilerAsksAtMostConcurrencyAtOnce: ten unresolved payments, a
// processor that holds every status lookup: exactly Concurrency lookups
// are in flight, never more; once the processor answers, every payment
// is settled to what it said (approved, declined, failed), each asked
// once, and nothing is ever charged.
func TestReconcilerAsksAtMostConcurrencyAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, bound = 10, 3
		st := newMemStore()
		proc := &heldProc{gate: make(chan struct{}), truth: map[string]processor.Result{}}
		want := map[string]store.State{}
		outcomes := []struct {
			res   processor.Result
			state store.State
		}{
			{processor.Result{Status: processor.Approved, Reference: "pi_ok"}, store.StateApproved},
			{processor.Result{Status: processor.Declined, DeclineCode: "do_not_honor"}, store.StateDeclined},
			{processor.Result{Status: processor.Failed}, store.StateFailed},
		}
		for i := range n {
			id := fmt.Sprintf("pay-%02d", i)
			state := store.StateProcessing
			if i%2 == 1 {
				state = store.StateUnknown
			}
			st.add(id, state, time.Now().Add(-time.Duration(n-i)*time.Minute))
			o := outcomes[i%len(outcomes)]
			proc.truth["idem-"+id] = o.res
			want[id] = o.state
		}
		r, err := NewReconciler(st, map[string]processor.Processor{"held": proc},
			ReconcileConfig{Concurrency: bound, Interval: time.Second}, WithReconcileLogger(quietLog()))
		if err != nil {
			t.Fatal(err)
		}
		stop := runReconciler(t, r)
		defer stop()

		synctest.Wait()
		if in, most, _ := proc.counts(); in != bound || most != bound {
			t.Fatalf("while the processor holds: %d lookups in flight (at most %d), want exactly %d", in, most, bound)
		}
		if got, oldest := r.Unresolved(); got != n || !oldest.Equal(time.Now().Add(-n*time.Minute)) {
			t.Errorf("Unresolved() = %d since %v, want %d since %v", got, oldest, n, time.Now().Add(-n*time.Minute))
		}
		if age := r.OldestAge(); age != n*time.Minute {
			t.Errorf("OldestAge() = %v, want %v", age, n*time.Minute)
		}
		// Held for most of an ask's time limit, across many looks: still
		// the bound, no charge.
		time.Sleep(DefaultProcessTimeout - time.Second)
		synctest.Wait()
		if in, most, charges := proc.counts(); in != bound || most != bound || charges != 0 {
			t.Fatalf("%v on: %d in flight (at most %d), %d charges; want %d, %d, 0", DefaultProcessTimeout-time.Second, in, most, charges, bound, bound)
		}

		close(proc.gate)
		synctest.Wait()
		for id, w := range want {
			if got := st.get(id); got.State != w {
				t.Errorf("%s is %s, want %s (the processor's answer)", id, got.State, w)
			}
			if asks := len(proc.askTimes("idem-" + id)); asks != 1 {
				t.Errorf("%s was asked about %d times, want 1", id, asks)
			}
			st.mu.Lock()
			commits := st.commits[id]
			st.mu.Unlock()
			if commits != 1 {
				t.Errorf("%s: %d results committed, want 1", id, commits)
			}
		}
		if st.get("pay-00").ProcessorReference != "pi_ok" {
			t.Errorf("pay-00's processor reference %q, want pi_ok", st.get("pay-00").ProcessorReference)
		}
		if _, most, charges := proc.counts(); most != bound || charges != 0 {
			t.Errorf("at most %d lookups at once and %d charges; want %d and 0", most, charges, bound)
		}
		if got, _ := r.Unresolved(); got != 0 || r.OldestAge() != 0 {
			t.Errorf("after settling: Unresolved() = %d, OldestAge() = %v; want 0, 0", got, r.OldestAge())
		}
	})
}

// TestReconcilerKeepsAskingWithBackoff: a processor that says "still
// processing" four times is asked again after Interval, then twice as
// long each time up to MaxBackoff, on the clock, until it answers; a
// payment that becomes unresolved while the Reconciler runs is found at
// the next look, not only at start.
func TestReconcilerKeepsAskingWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		st := newMemStore()
		st.add("pay-slow", store.StateProcessing, start)
		proc := &heldProc{unknownFor: 4, truth: map[string]processor.Result{
			"idem-pay-slow": {Status: processor.Approved, Reference: "pi_slow"},
			"idem-pay-late": {Status: processor.Declined},
		}}
		r, err := NewReconciler(st, map[string]processor.Processor{"held": proc},
			ReconcileConfig{Interval: 10 * time.Second, MaxBackoff: 40 * time.Second}, WithReconcileLogger(quietLog()))
		if err != nil {
			t.Fatal(err)
		}
		stop := runReconciler(t, r)
		defer stop()

		// A payment left unresolved after the start: the look every
		// Interval finds it.
		time.Sleep(15 * time.Second)
		st.add("pay-late", store.StateUnknown, time.Now())
		synctest.Wait()
		if n, _ := r.Unresolved(); n != 1 {
			t.Errorf("before the next look: Unresolved() = %d, want 1 (pay-late is not seen yet)", n)
		}

		time.Sleep(3 * time.Minute)
		synctest.Wait()
		var got []time.Duration
		for _, at := range proc.askTimes("idem-pay-slow") {
			got = append(got, at.Sub(start))
		}
		// Asked at once, then after 10 s, 20 s, 40 s, 40 s (the cap).
		want := []time.Duration{0, 10 * time.Second, 30 * time.Second, 70 * time.Second, 110 * time.Second}
		if !slices.Equal(got, want) {
			t.Errorf("pay-slow asked at %v, want %v", got, want)
		}
		if rec := st.get("pay-slow"); rec.State != store.StateApproved || rec.ProcessorReference != "pi_slow" {
			t.Errorf("pay-slow is %s (%s), want approved (pi_slow)", rec.State, rec.ProcessorReference)
		}
		late := proc.askTimes("idem-pay-late")
		if len(late) == 0 || late[0].Sub(start) != 20*time.Second {
			t.Errorf("pay-late (unresolved at 15 s) asked at %v, want first at the look at 20 s", late)
		}
		if _, _, charges := proc.counts(); charges != 0 {
			t.Errorf("%d charges, want 0", charges)
		}
	})
}

// TestReconcilerSettlesThisRunsPaymentsAndLeavesALiveChargeAlone: a
// payment of this run the processor left without an answer is settled by
// the running Reconciler (the form sees the result) — not only after a
// restart — while a payment whose charge is under way is neither asked
// about nor counted unresolved.
func TestReconcilerSettlesThisRunsPaymentsAndLeavesALiveChargeAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		first := e.unknownPayment(processor.Result{Status: processor.Approved, Reference: "ch_late"})
		st := newMemStore()
		// The record the payment's own store made: the store lists it.
		st.addRecord(store.Payment{ID: first.ID(), State: store.StateUnknown, Processor: "sandbox",
			IdempotencyKey: first.key, UpdatedAt: time.Now()})

		r, err := NewReconciler(st, map[string]processor.Processor{"sandbox": e.proc},
			ReconcileConfig{Interval: time.Second}, WithReconcilePayments(e.ps), WithReconcileLogger(quietLog()))
		if err != nil {
			t.Fatal(err)
		}
		stop := runReconciler(t, r)
		defer stop()
		synctest.Wait()
		if first.State() != StateApproved {
			t.Fatalf("this run's reconciling payment is %s, want approved", first.State())
		}
		if ev, ok := e.last(EventResult, ""); !ok || ev.Result == nil || ev.Result.State != StateApproved || ev.Result.ProcessorReference != "ch_late" {
			t.Errorf("the form's last result event %+v, want approved ch_late", ev.Result)
		}
		e.proc.mu.Lock()
		charges, lookups := e.proc.charges, e.proc.reconciles
		e.proc.mu.Unlock()
		if charges != 1 || lookups != 1 {
			t.Errorf("%d charges, %d lookups; want 1 (the agent's) and 1", charges, lookups)
		}

		// A second payment whose charge is in flight, listed unresolved
		// by the store as it would be: not the Reconciler's to ask.
		e.proc.mu.Lock()
		e.proc.result, e.proc.release = processor.Result{Status: processor.Approved}, make(chan struct{})
		e.proc.mu.Unlock()
		second := e.newPayment()
		if err := second.Arm("card_number"); err != nil {
			t.Fatal(err)
		}
		e.keys(cardKeys)
		processed := make(chan error, 1)
		go func() { _, err := second.Process(context.Background()); processed <- err }()
		synctest.Wait()
		st.addRecord(store.Payment{ID: second.ID(), State: store.StateProcessing, Processor: "sandbox",
			IdempotencyKey: second.key, UpdatedAt: time.Now()})
		time.Sleep(5 * time.Second) // five looks
		synctest.Wait()
		e.proc.mu.Lock()
		lookups = e.proc.reconciles
		e.proc.mu.Unlock()
		if lookups != 1 {
			t.Errorf("%d lookups, want still 1: a charge under way was asked about", lookups)
		}
		if n, _ := r.Unresolved(); n != 0 {
			t.Errorf("Unresolved() = %d while a charge is under way here, want 0", n)
		}
		close(e.proc.release)
		if err := <-processed; err != nil {
			t.Errorf("second Process: %v", err)
		}
	})
}

// TestReconcilerStopsWhileTheProcessorHolds: ending Run's context ends
// the lookups under way (the processor is never answered) and Run
// returns with nothing left running; the payments stay unresolved for
// the next run.
func TestReconcilerStopsWhileTheProcessorHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		for i := range 6 {
			st.add(fmt.Sprintf("pay-%d", i), store.StateProcessing, time.Now())
		}
		proc := &heldProc{gate: make(chan struct{})} // never opened
		r, err := NewReconciler(st, map[string]processor.Processor{"held": proc},
			ReconcileConfig{Concurrency: 2}, WithReconcileLogger(quietLog()))
		if err != nil {
			t.Fatal(err)
		}
		stop := runReconciler(t, r)
		synctest.Wait()
		if in, _, _ := proc.counts(); in != 2 {
			t.Fatalf("%d lookups in flight, want 2", in)
		}
		stop() // returns only once Run has
		if in, _, charges := proc.counts(); in != 0 || charges != 0 {
			t.Errorf("after Run returned: %d lookups in flight, %d charges; want 0, 0", in, charges)
		}
		if recs, _ := st.Unresolved(context.Background()); len(recs) != 6 {
			t.Errorf("%d payments unresolved after the stop, want 6", len(recs))
		}
	})
}

// TestReconcilerProcessingGraceLeavesAnotherNodesChargeAlone: with a
// processing grace (a store shared by several nodes), a record in
// processing that changed less than the grace ago is not asked about —
// another node may be charging it — while one in unknown is at once; the
// processing one is asked when the grace has passed, and both are
// counted unresolved all along.
func TestReconcilerProcessingGraceLeavesAnotherNodesChargeAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		st := newMemStore()
		st.add("pay-charging", store.StateProcessing, start)
		st.add("pay-unknown", store.StateUnknown, start)
		proc := &heldProc{truth: map[string]processor.Result{
			"idem-pay-charging": {Status: processor.Approved},
			"idem-pay-unknown":  {Status: processor.Declined},
		}}
		const grace = 35 * time.Second
		r, err := NewReconciler(st, map[string]processor.Processor{"held": proc}, ReconcileConfig{Interval: time.Second},
			WithReconcileProcessingGrace(grace), WithReconcileLogger(quietLog()))
		if err != nil {
			t.Fatal(err)
		}
		stop := runReconciler(t, r)
		defer stop()
		synctest.Wait()
		if got := st.get("pay-unknown").State; got != store.StateDeclined {
			t.Errorf("the unknown payment is %s at once, want declined", got)
		}
		time.Sleep(grace - time.Millisecond)
		synctest.Wait()
		if asks := proc.askTimes("idem-pay-charging"); len(asks) != 0 {
			t.Fatalf("the processing payment was asked about at %v, inside the grace", asks[0].Sub(start))
		}
		if n, _ := r.Unresolved(); n != 1 {
			t.Errorf("Unresolved() = %d inside the grace, want 1", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		asks := proc.askTimes("idem-pay-charging")
		if len(asks) != 1 || asks[0].Sub(start) != grace {
			t.Errorf("the processing payment was asked at %v, want once at %v", asks, grace)
		}
		if got := st.get("pay-charging").State; got != store.StateApproved {
			t.Errorf("the processing payment is %s after the grace, want approved", got)
		}
	})
}

// TestReconcilerAcceptsAResultAnotherNodeRecorded: a payment of this run
// the processor left without an answer, whose record another node sharing
// the store has settled meanwhile (the store refuses the result as final):
// the Reconciler's ask reports the processor's answer to the form and the
// payment leaves the unresolved ones, instead of keeping a result no write
// can ever record and asking again for ever.
func TestReconcilerAcceptsAResultAnotherNodeRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		p := e.unknownPayment(processor.Result{Status: processor.Approved, Reference: "ch_late"})
		e.store.setFail(func(r Record) error {
			if r.State.Final() {
				return fmt.Errorf("store: %w: payment is approved", store.ErrFinal)
			}
			return nil
		})
		st := newMemStore()
		st.addRecord(store.Payment{ID: p.ID(), State: store.StateUnknown, Processor: "sandbox", IdempotencyKey: p.key, UpdatedAt: time.Now()})
		r, err := NewReconciler(st, map[string]processor.Processor{"sandbox": e.proc},
			ReconcileConfig{Interval: time.Second}, WithReconcilePayments(e.ps), WithReconcileLogger(quietLog()))
		if err != nil {
			t.Fatal(err)
		}
		stop := runReconciler(t, r)
		defer stop()
		synctest.Wait()
		time.Sleep(time.Minute) // many looks
		synctest.Wait()
		if p.State() != StateApproved || p.unsettled() {
			t.Errorf("the payment is %s (unsettled %v), want approved and settled", p.State(), p.unsettled())
		}
		if ev, ok := e.last(EventResult, ""); !ok || ev.Result == nil || ev.Result.State != StateApproved {
			t.Errorf("the form's last result event %+v, want approved", ev.Result)
		}
		e.proc.mu.Lock()
		lookups := e.proc.reconciles
		e.proc.mu.Unlock()
		if lookups != 1 {
			t.Errorf("%d lookups in a minute, want 1", lookups)
		}
		if n, _ := r.Unresolved(); n != 0 {
			t.Errorf("Unresolved() = %d, want 0", n)
		}
	})
}

// TestReconcileConfigRefusalsNameTheKey: zero fields take the defaults;
// a bad value is refused naming its key.
func TestReconcileConfigRefusalsNameTheKey(t *testing.T) {
	if err := (ReconcileConfig{}).validate(); err != nil {
		t.Fatalf("the zero section: %v", err)
	}
	if d := (ReconcileConfig{}).withDefaults(); d.Concurrency != DefaultReconcileConcurrency ||
		d.Interval != DefaultReconcileInterval || d.MaxBackoff != DefaultReconcileMaxBackoff {
		t.Errorf("defaults %+v", d)
	}
	for _, c := range []struct {
		cfg ReconcileConfig
		key string
	}{
		{ReconcileConfig{Concurrency: -1}, "payments.reconcile.concurrency"},
		{ReconcileConfig{Concurrency: MaxReconcileConcurrency + 1}, "payments.reconcile.concurrency"},
		{ReconcileConfig{Interval: time.Millisecond}, "payments.reconcile.interval"},
		{ReconcileConfig{Interval: 2 * time.Hour}, "payments.reconcile.interval"},
		{ReconcileConfig{Interval: time.Minute, MaxBackoff: 30 * time.Second}, "payments.reconcile.max_backoff"},
		{ReconcileConfig{MaxBackoff: 25 * time.Hour}, "payments.reconcile.max_backoff"},
	} {
		err := c.cfg.validate()
		if err == nil || !strings.Contains(err.Error(), c.key+":") {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.key)
		}
		if _, err := NewReconciler(newMemStore(), nil, c.cfg); err == nil {
			t.Errorf("NewReconciler accepted %+v", c.cfg)
		}
		pc := DefaultSettings()
		pc.Reconcile = c.cfg
		if err := pc.Validate(); err == nil {
			t.Errorf("Settings.Validate accepted reconcile %+v", c.cfg)
		}
	}
}

// Two nodes' reconcilers on one store, a lease per payment between them
// (as the store's ClaimLease gives): each payment is asked about by one
// node only, and settled once.
func TestReconcilersShareByLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		proc := &heldProc{gate: make(chan struct{}), truth: map[string]processor.Result{}}
		close(proc.gate)
		for i := range 6 {
			id := fmt.Sprintf("pay-%02d", i)
			st.add(id, store.StateProcessing, time.Now().Add(-time.Hour))
			proc.truth["idem-"+id] = processor.Result{Status: processor.Approved, Reference: "pi_" + id}
		}
		var mu sync.Mutex
		holder := map[string]string{}
		lease := func(node string) func(context.Context, string) bool {
			return func(_ context.Context, id string) bool {
				mu.Lock()
				defer mu.Unlock()
				if h, ok := holder[id]; ok && h != node {
					return false
				}
				holder[id] = node
				return true
			}
		}
		for _, node := range []string{"node-a", "node-b"} {
			r, err := NewReconciler(st, map[string]processor.Processor{"held": proc},
				ReconcileConfig{Concurrency: 2, Interval: time.Second}, WithReconcileLogger(quietLog()), WithReconcileLease(lease(node)))
			if err != nil {
				t.Fatal(err)
			}
			stop := runReconciler(t, r)
			defer stop()
		}
		synctest.Wait()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		for i := range 6 {
			id := fmt.Sprintf("pay-%02d", i)
			if got := st.get(id); got.State != store.StateApproved {
				t.Errorf("%s is %s, want approved", id, got.State)
			}
			if asks := len(proc.askTimes("idem-" + id)); asks != 1 {
				t.Errorf("%s was asked about %d times by the two nodes, want 1", id, asks)
			}
		}
	})
}
