package webhook

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/internal/testkit"
	"dtmfgw/payment"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// fakeCall is a payment.Call.
type fakeCall struct{ id string }

func (c fakeCall) ID() string { return c.id }
func (c fakeCall) Correlation() call.Correlation {
	return call.Correlation{InboundCallID: "in-1@example.net", AgentID: "agent-7", PrimaryCallID: "cc-1"}
}
func (fakeCall) Secure() bool       { return true }
func (fakeCall) SetSecureMode(bool) {}

// withCheckDigit appends the Luhn check digit to the first 15 digits.
func withCheckDigit(s string) string {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return s + string(rune('0'+(10-sum%10)%10))
}

// leaks returns the runs of six of secret's digits found in text.
func leaks(text, secret string) []string {
	var out []string
	for i := 0; i+6 <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+6]) {
			out = append(out, "digits "+string(rune('0'+i/10))+string(rune('0'+i%10))+"…")
		}
	}
	return out
}

// TestPaymentThroughTheDispatcher: a payment taken through package payment with a
// canary card, on a real store, with Run delivering: the receiver gets
// progress and the result, every request verifies, and no body or header
// holds the card number or six of its digits in a row.
func TestPaymentThroughTheDispatcher(t *testing.T) {
	canary := withCheckDigit("491761384927503")
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	configs := []payment.Config{paymentConfig(rcv.srv.URL+"/hook?tenant=a", true)}
	ctx := context.Background()
	st, d, ps, logs := dispatchedPayments(t, configs)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx) }()
	stopRun := func() {
		stop()
		select {
		case err := <-ran:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	}
	defer stop()

	set := ps.ForCall(fakeCall{"call-1"})
	defer set.Close("")
	p, err := set.New("card", payment.Attributes{Amount: 1999, Reference: "order-7"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Arm("card_number"); err != nil {
		t.Fatal(err)
	}
	keys := canary + "1230" + "321"
	for i := range len(keys) {
		set.HandleDigit(dtmf.Press{Key: dtmf.Key(keys[i]), Source: dtmf.SourceRFC4733, FirstSeen: time.Now(), Number: uint64(i + 1)})
	}
	res, err := p.Process(ctx)
	if err != nil || res.State != payment.StateApproved {
		t.Fatalf("Process = %+v, %v", res, err)
	}

	// Wait for the result's delivery (the result kicks the dispatcher)
	// and for the outbox to empty: progress may come after the result.
	var result *received
	delivered := testkit.Poll(func() bool {
		for _, r := range rcv.requests() {
			if r.header.Get(EventHeader) == EventResult {
				result = &r
			}
		}
		n, err := st.PendingDeliveries(ctx)
		return result != nil && err == nil && n == 0 && len(d.progress) == 0
	})
	if !delivered {
		t.Fatalf("outbox not delivered in %v; %d requests, result %v", testkit.WaitLimit, len(rcv.requests()), result != nil)
	}
	var b Body
	if err := json.Unmarshal(result.body, &b); err != nil {
		t.Fatal(err)
	}
	if r := b.Data.Payment.Result; b.Data.Payment.ID != p.ID() || r == nil || r.State != "approved" || r.Last4 != canary[12:] || r.Brand != "visa" || r.Amount != 1999 {
		t.Errorf("result body %s", result.body)
	}

	progress := 0
	var all strings.Builder
	for _, r := range rcv.requests() {
		if err := Verify(testSecret, r.header.Get(SignatureHeader), r.body, time.Now(), 0); err != nil {
			t.Errorf("%s: %v", r.header.Get(EventHeader), err)
		}
		if r.header.Get(EventHeader) == EventProgress {
			progress++
			// payment.Event is written, not read, by Go: a receiver
			// reads it as plain JSON.
			var pb struct {
				Type string
				Data struct {
					Payment Payment
					Event   map[string]any
				}
			}
			if err := json.Unmarshal(r.body, &pb); err != nil || pb.Type != EventProgress || pb.Data.Event["payment_id"] != p.ID() ||
				pb.Data.Event["type"] == "" || pb.Data.Payment.ConfigID != "card" {
				t.Errorf("progress body %s: %v", r.body, err)
			}
		}
		all.Write(r.body)
		for k, v := range r.header {
			all.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
	}
	if progress == 0 {
		t.Error("no progress webhook")
	}
	stopRun()
	if l := leaks(logs.String(), canary); len(l) > 0 {
		t.Errorf("the canary leaked into the log: %v", l)
	}
	if !strings.Contains(logs.String(), "webhook delivered") {
		t.Error("the log search saw no delivery: it searched the wrong text")
	}
	if l := leaks(all.String(), canary); len(l) > 0 {
		t.Errorf("the canary leaked into a webhook: %v", l)
	}
	if !strings.Contains(all.String(), "•••• "+canary[12:]) {
		t.Error("the canary search saw no masked card number: it searched the wrong text")
	}
	if st := d.Stats(); st.Delivered == 0 || st.ProgressEnqueued == 0 || st.GaveUp != 0 {
		t.Errorf("stats %+v", st)
	}
}

// dispatchedPayments is the payment domain of configs on the sandbox,
// its records in a fresh SQLite store whose outbox the returned
// Dispatcher delivers, every payment event handed to the Dispatcher, and
// every log line (the dispatcher's and the payments') in logs.
func dispatchedPayments(t *testing.T, configs []payment.Config) (*store.Store, *Dispatcher, *payment.Payments, *testkit.Buffer) {
	t.Helper()
	dir := NewDirectory(configs)
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "dtmfgw.db"), store.WithOutbox(dir.Outbox))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &testkit.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(testConfig(), dir, st, WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	sandbox, err := processor.New("sandbox", processor.Config{Type: processor.TypeSandbox, MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := payment.NewPayments(payment.Settings{Configurations: configs}, payment.WithProcessors(sandbox),
		payment.WithStore(payment.StorePayments(st)), payment.WithEventHook(d.HandleEvent), payment.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	return st, d, ps, logs
}
