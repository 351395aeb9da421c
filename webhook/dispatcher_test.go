package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/payment"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// TestRetryThenDelivered: a receiver that fails three times, then takes
// the delivery: four attempts, one delivery, the same id and body each
// time, each signed for its own time, and waits that grow within their
// jitter bounds.
func TestRetryThenDelivered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails int
		code  int
	}{
		{"503 then 200", 3, http.StatusServiceUnavailable},
		{"500 then 204", 2, http.StatusInternalServerError},
		{"redirect is a failure", 1, http.StatusFound},
		{"400 is retried too", 1, http.StatusBadRequest},
		{"first time", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t, func(n int) int {
				if n <= tc.fails {
					if tc.code == http.StatusFound {
						return http.StatusFound // no Location: nothing to follow anyway
					}
					return tc.code
				}
				return http.StatusNoContent
			})
			e := newEnv(t, testConfig(), paymentConfig(rcv.srv.URL+"/hook", false))
			p := e.approve("card")
			attemptTimes := []time.Time{}
			for i := 0; i < 20; i++ {
				d := e.only(p.ID)
				if !d.Pending() {
					break
				}
				e.clock.Set(d.NextAttemptAt)
				attemptTimes = append(attemptTimes, d.NextAttemptAt)
				if n := e.round(); n != 1 {
					t.Fatalf("round %d attempted %d", i, n)
				}
				after := e.only(p.ID)
				if after.Attempts != i+1 {
					t.Fatalf("attempts %d after round %d", after.Attempts, i)
				}
				if after.Pending() {
					wait := after.NextAttemptAt.Sub(d.NextAttemptAt)
					b := e.cfg.Backoff(i + 1)
					if wait < b/2 || wait > b {
						t.Errorf("wait %d = %v, outside [%v, %v]", i+1, wait, b/2, b)
					}
				}
			}
			d := e.only(p.ID)
			if d.Pending() || d.DeliveredAt.IsZero() || d.Attempts != tc.fails+1 || d.LastStatus != "204" {
				t.Fatalf("delivery %+v; want delivered at attempt %d", d, tc.fails+1)
			}
			got := rcv.requests()
			if len(got) != tc.fails+1 {
				t.Fatalf("the receiver got %d requests, want %d", len(got), tc.fails+1)
			}
			for i, r := range got {
				if err := Verify(testSecret, r.header.Get(SignatureHeader), r.body, attemptTimes[i], time.Second); err != nil {
					t.Errorf("request %d: %v", i, err)
				}
				if r.header.Get(DeliveryHeader) != d.ID || r.header.Get(EventHeader) != EventResult ||
					r.header.Get("Content-Type") != "application/json" || string(r.body) != string(d.Body) {
					t.Errorf("request %d: headers %v body %s", i, r.header, r.body)
				}
			}
			// Delivered once: nothing is due ever after.
			e.clock.Set(testNow.Add(48 * time.Hour))
			if n := e.round(); n != 0 {
				t.Errorf("%d attempts after delivery", n)
			}
			st := e.d.Stats()
			if st.Delivered != 1 || st.Attempts != uint64(tc.fails+1) || st.Failed != uint64(tc.fails) || st.GaveUp != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestBackoffGrowsCappedThenGivesUp: a receiver that always fails: the
// waits double from initial_backoff, stop at max_backoff, the last
// attempt is at max_age exactly, and its failure gives the delivery up.
func TestBackoffGrowsCappedThenGivesUp(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusBadGateway })
	cfg := testConfig()
	cfg.MaxAge = 12 * time.Hour
	e := newEnv(t, cfg, paymentConfig(rcv.srv.URL, false))
	// Jitter at its top, so the schedule is exact.
	e.d.jitter = func(max time.Duration) time.Duration { return max }
	p := e.approve("card")
	created := e.only(p.ID).CreatedAt
	var waits []time.Duration
	for i := 0; i < 100; i++ {
		d := e.only(p.ID)
		if !d.Pending() {
			break
		}
		e.clock.Set(d.NextAttemptAt)
		e.round()
		if after := e.only(p.ID); after.Pending() {
			waits = append(waits, after.NextAttemptAt.Sub(d.NextAttemptAt))
		}
	}
	d := e.only(p.ID)
	if d.GaveUpAt.IsZero() || !d.DeliveredAt.IsZero() || d.LastStatus != "502" {
		t.Fatalf("delivery %+v; want given up", d)
	}
	if !d.GaveUpAt.Equal(created.Add(12 * time.Hour)) {
		t.Errorf("given up at %v, want max_age after %v", d.GaveUpAt, created)
	}
	// 5s 10s 20s … 40m58s, then 1h until the last, shortened to end at
	// max_age.
	want := []time.Duration{}
	total := time.Duration(0)
	for b := cfg.InitialBackoff; total+b < cfg.MaxAge; {
		want = append(want, b)
		total += b
		b = min(2*b, cfg.MaxBackoff)
	}
	want = append(want, cfg.MaxAge-total)
	if len(waits) != len(want) {
		t.Fatalf("waits %v\nwant  %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("wait %d = %v, want %v\nall %v", i, waits[i], want[i], waits)
		}
	}
	if d.Attempts != len(want)+1 {
		t.Errorf("%d attempts, want %d", d.Attempts, len(want)+1)
	}
	if st := e.d.Stats(); st.GaveUp != 1 || st.Delivered != 0 || st.Attempts != uint64(d.Attempts) {
		t.Errorf("stats %+v", st)
	}
	if n, err := e.d.Pending(context.Background()); err != nil || n != 0 {
		t.Errorf("Pending = %d, %v after giving up", n, err)
	}
}

func TestBackoff(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second}, {10, 2560 * time.Second}, {11, time.Hour}, {1000, time.Hour}} {
		if got := c.Backoff(tc.attempt); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
	for range 1000 {
		if j := equalJitter(time.Minute); j < 30*time.Second || j > time.Minute {
			t.Fatalf("jitter %v outside [30s, 1m]", j)
		}
	}
}

// TestHangingReceiverTimesOut: an attempt is cut at the timeout and
// retried later.
func TestHangingReceiverTimesOut(t *testing.T) {
	rcv := newReceiver(t, func(n int) int {
		if n == 1 {
			return 0 // hang
		}
		return http.StatusOK
	})
	cfg := testConfig()
	cfg.Timeout = 200 * time.Millisecond
	e := newEnv(t, cfg, paymentConfig(rcv.srv.URL, false))
	p := e.approve("card")
	start := time.Now()
	e.round()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the attempt took %v with a 200ms timeout", took)
	}
	d := e.only(p.ID)
	if !d.Pending() || d.LastStatus != "timeout" || d.Attempts != 1 {
		t.Fatalf("after a hang: %+v", d)
	}
	e.clock.Set(d.NextAttemptAt)
	e.round()
	if d := e.only(p.ID); d.DeliveredAt.IsZero() || d.Attempts != 2 {
		t.Fatalf("after the retry: %+v", d)
	}
}

// TestUnreachableAndRemovedWebhooks: a refused connection is retried; a
// delivery whose configuration lost its webhook is given up.
func TestUnreachableAndRemovedWebhooks(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	url := rcv.srv.URL
	rcv.srv.Close() // nobody listens there now
	e := newEnv(t, testConfig(), paymentConfig(url, false))
	p := e.approve("card")
	e.round()
	if d := e.only(p.ID); !d.Pending() || d.LastStatus != "connect_error" {
		t.Fatalf("unreachable: %+v", d)
	}
	// A restart with the webhook taken out of the configuration.
	e.crash()
	e.configs = []payment.Config{paymentConfig("", false)}
	e.open()
	e.clock.Set(testNow.Add(time.Hour))
	e.round()
	if d := e.only(p.ID); d.GaveUpAt.IsZero() || d.LastStatus != "no_webhook" {
		t.Fatalf("no webhook: %+v", d)
	}
	// And its payments get none.
	q := e.approve("card")
	if ds, _ := e.st.Deliveries(context.Background(), q.ID); len(ds) != 0 {
		t.Errorf("a configuration without a webhook got %d deliveries", len(ds))
	}
}

// TestRestartDelivers: a result committed before a crash, never
// attempted, and one whose attempt was under way at the crash, are both
// delivered by the next process.
func TestRestartDelivers(t *testing.T) { eachDatabase(t, testRestartDelivers) }

func testRestartDelivers(t *testing.T, dsn string) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	e := newEnvOn(t, dsn, testConfig(), paymentConfig(rcv.srv.URL, false))
	never := e.approve("card")
	midway := e.approve("card")
	// The second is claimed (an attempt starts), then the process dies.
	claimed, err := e.st.ClaimDeliveries(context.Background(), e.clock.Now(), e.cfg.Timeout+leaseMargin, 100)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	if err := e.st.FinishDelivery(context.Background(), claimed[0].ID, 1, store.Outcome{Status: "503", NextAttemptAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.crash()

	e.open()
	if n, _ := e.st.PendingDeliveries(context.Background()); n != 2 {
		t.Fatalf("%d pending after the restart", n)
	}
	e.round()
	ids := map[string]bool{}
	for _, r := range rcv.requests() {
		ids[r.header.Get(DeliveryHeader)] = true
	}
	if len(ids) != 1 {
		t.Fatalf("first round after the restart delivered %d", len(ids))
	}
	// The lease of the claim the crash interrupted runs out.
	e.clock.Set(testNow.Add(e.cfg.Timeout + leaseMargin))
	e.round()
	for _, p := range []store.Payment{never, midway} {
		if d := e.only(p.ID); d.DeliveredAt.IsZero() {
			t.Errorf("payment %s: %+v", p.ID, d)
		}
	}
	if got := rcv.requests(); len(got) != 2 {
		t.Errorf("the receiver got %d requests", len(got))
	}
}

// TestResultBody: what a payment.result delivery says.
func TestResultBody(t *testing.T) {
	e := newEnv(t, testConfig(), paymentConfig("https://crm.example.com/hook", false))
	p := e.approve("card")
	d := e.only(p.ID)
	var b Body
	dec := json.NewDecoder(strings.NewReader(string(d.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatal(err)
	}
	r := b.Data.Payment.Result
	if b.ID != d.ID || b.Type != EventResult || !b.Created.Equal(p.UpdatedAt) || b.Data.Event != nil ||
		b.Data.Payment.ID != p.ID || b.Data.Payment.State != "approved" || b.Data.Payment.ConfigID != "card" ||
		b.Data.Payment.PrimaryCallID != "cc-1" || b.Data.Payment.AgentID != "agent-7" || b.Data.Payment.Attributes.Amount != 1999 ||
		r == nil || r.State != "approved" || r.Brand != "visa" || r.Last4 != "4242" || r.ProcessorReference != "ch_1" || r.Currency != "GBP" {
		t.Errorf("body %s", d.Body)
	}
}

// TestNewRefuses: a bad configuration is refused with its key.
func TestNewRefuses(t *testing.T) {
	e := newEnv(t, testConfig(), paymentConfig("", false))
	bad := testConfig()
	bad.MaxAge = time.Hour
	bad.Concurrency = 0
	_, err := New(bad, e.dir, e.st)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "webhooks.max_age") || !strings.Contains(err.Error(), "webhooks.concurrency") {
		t.Errorf("New = %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	if DefaultConfig().MaxAge < 12*time.Hour {
		t.Error("retries must last at least 12 hours")
	}
}

// TestReconciledAfterRestartIsDelivered: a payment a crash left with the
// processor is settled by the next start's reconciliation, and its result
// is delivered: the outbox row comes with the commit, whoever commits.
func TestReconciledAfterRestartIsDelivered(t *testing.T) {
	eachDatabase(t, testReconciledAfterRestartIsDelivered)
}

func testReconciledAfterRestartIsDelivered(t *testing.T, dsn string) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	e := newEnvOn(t, dsn, testConfig(), paymentConfig(rcv.srv.URL, false))
	ctx := context.Background()
	p, err := e.st.CreatePayment(ctx, store.Payment{CallID: "call-1", ConfigurationID: "card", State: store.StateReady},
		store.Entry{Actor: store.ActorAPI, Action: "payment.created"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpdateState(ctx, p.ID, store.Change{From: store.StateReady, To: store.StateProcessing,
		Entry: store.Entry{Actor: store.ActorAgent, Action: "payment.processing"}, Brand: "visa", Last4: "4242",
		Amount: 500, Currency: "GBP", Processor: "sandbox", IdempotencyKey: "key-1"}); err != nil {
		t.Fatal(err)
	}
	e.crash() // with the card at the processor

	e.open()
	sandbox, err := processor.New("sandbox", processor.Config{Type: processor.TypeSandbox, MinDelay: time.Millisecond, MaxDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's Reconciler, at a time past the not-found grace: the
	// sandbox never saw the charge, so the payment is settled as failed.
	later := func() time.Time { return e.clock.Now().Add(time.Hour) }
	r, err := payment.NewReconciler(e.st, map[string]processor.Processor{"sandbox": sandbox}, payment.ReconcileConfig{},
		payment.WithReconcileClock(later), payment.WithReconcileLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- r.Run(rctx) }()
	testkit.WaitFor(t, "the Reconciler settles the payment", func() bool {
		rec, err := e.st.GetPayment(ctx, p.ID)
		return err == nil && rec.State == store.StateFailed
	})
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	d := e.only(p.ID)
	var b Body
	if err := json.Unmarshal(d.Body, &b); err != nil || b.Data.Payment.Result == nil || b.Data.Payment.Result.State != "failed" ||
		b.Data.Payment.Result.Reason != "settled by asking the processor" {
		t.Fatalf("body %s, %v", d.Body, err)
	}
	e.round()
	if d := e.only(p.ID); d.DeliveredAt.IsZero() || len(rcv.requests()) != 1 {
		t.Errorf("after the round: %+v, %d requests", d, len(rcv.requests()))
	}
}

// TestRunStopsMidAttempt: Run's end cuts an attempt short; the delivery
// is due again at once, for the next start, and old finished deliveries
// are pruned when Run starts.
func TestRunStopsMidAttempt(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return 0 }) // hangs
	cfg := testConfig()
	cfg.Timeout = time.Minute
	e := newEnv(t, cfg, paymentConfig(rcv.srv.URL, false))
	ctx := context.Background()
	old := e.approve("card")
	claimed, err := e.st.ClaimDeliveries(ctx, e.clock.Now(), time.Minute, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v", err)
	}
	if err := e.st.FinishDelivery(ctx, claimed[0].ID, 1, store.Outcome{Status: "200", Delivered: true, At: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(testNow.Add(25 * time.Hour))
	p := e.approve("card")

	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- e.d.Run(runCtx) }()
	select {
	case <-rcv.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt in 10 s")
	}
	start := time.Now()
	stop()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v to stop with an attempt hanging", took)
	}
	d := e.only(p.ID)
	if !d.Pending() || d.LastStatus != statusShutdown || d.Attempts != 1 || !d.NextAttemptAt.Equal(e.clock.Now()) {
		t.Errorf("after the stop: %+v", d)
	}
	if ds, _ := e.st.Deliveries(ctx, old.ID); len(ds) != 0 {
		t.Errorf("a delivery finished 25 h ago was not pruned: %+v", ds)
	}
}

// TestDirectoryReload: a reload that changes a configuration's webhook
// sends its pending deliveries to the new URL, signed with the new
// secret; one that removes it gives them up; a payment of a
// configuration that gains a webhook gets a delivery.
func TestDirectoryReload(t *testing.T) {
	oldRcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	newRcv := newReceiver(t, func(int) int { return http.StatusOK })
	e := newEnv(t, testConfig(), paymentConfig(oldRcv.srv.URL, false))
	p := e.approve("card")
	e.round()
	if d := e.only(p.ID); !d.Pending() || len(oldRcv.requests()) != 1 {
		t.Fatalf("before the reload: %+v", d)
	}
	moved := paymentConfig(newRcv.srv.URL, false)
	moved.Webhook.Secret = "a-rotated-secret-0123456789"
	e.dir.SetConfigs([]payment.Config{moved})
	e.clock.Set(e.only(p.ID).NextAttemptAt)
	e.round()
	got := newRcv.requests()
	if d := e.only(p.ID); d.DeliveredAt.IsZero() || len(got) != 1 {
		t.Fatalf("after the reload: %+v, %d requests at the new URL", d, len(got))
	}
	if err := Verify([]byte("a-rotated-secret-0123456789"), got[0].header.Get(SignatureHeader), got[0].body, e.clock.Now(), 0); err != nil {
		t.Errorf("not signed with the new secret: %v", err)
	}

	e.dir.SetConfigs([]payment.Config{paymentConfig("", false)})
	if q := e.approve("card"); len(mustDeliveries(t, e, q.ID)) != 0 {
		t.Error("a configuration without a webhook any more got a delivery")
	}
	e.dir.SetConfigs([]payment.Config{moved})
	if q := e.approve("card"); len(mustDeliveries(t, e, q.ID)) != 1 {
		t.Error("a configuration that gained a webhook got no delivery")
	}
}

func mustDeliveries(t *testing.T, e *env, paymentID string) []store.Delivery {
	t.Helper()
	ds, err := e.st.Deliveries(context.Background(), paymentID)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}
