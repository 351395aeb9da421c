package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"dtmfgw/internal/testkit"
)

// testNow is the sandbox's clock in tests: expiry dates are checked
// against it (synctest's own clock starts in 2000).
var testNow = time.Date(2026, time.March, 15, 12, 0, 0, 0, time.UTC)

// canaryPAN is a card number that appears nowhere else: tests search
// logs, errors and results for it and for canaryMiddle.
const (
	canaryPAN    = "4539148803436467"
	canaryMiddle = "88034364" // canaryPAN[6:14]
)

func cardRequest(key, pan string) *Request {
	cvc := "739"
	if strings.HasPrefix(pan, "34") || strings.HasPrefix(pan, "37") {
		cvc = "7391"
	}
	return &Request{
		IdempotencyKey: key,
		PAN:            []byte(pan),
		ExpMonth:       12,
		ExpYear:        2031,
		CVC:            []byte(cvc),
		Postcode:       []byte("SW1A 1AA"),
		Amount:         1250,
		Currency:       "GBP",
		Reference:      "order-42",
		CardholderName: "Ada Lovelace",
	}
}

// debugLogger logs everything, as JSON, into logs.
func debugLogger(logs *testkit.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestSandbox(t *testing.T, cfg Config, opts ...Option) *Sandbox {
	t.Helper()
	cfg.Type = TypeSandbox
	p, err := New("sandbox", cfg, append([]Option{WithClock(func() time.Time { return testNow })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Sandbox)
}

func TestSandboxTestCards(t *testing.T) {
	cases := []struct {
		name        string
		pan         string
		edit        func(*Request)
		want        Status
		declineCode string
		wantErr     error // of Charge
		hangs       bool  // answers only at the deadline
		reconcile   Status
		reconErr    error
	}{
		{name: "visa-approved", pan: "4242424242424242", want: Approved, reconcile: Approved},
		{name: "mastercard-approved", pan: "5555555555554444", want: Approved, reconcile: Approved},
		{name: "amex-approved", pan: "378282246310005", want: Approved, reconcile: Approved},
		{name: "other-valid-card-approved", pan: canaryPAN, want: Approved, reconcile: Approved},
		{name: "do-not-honor", pan: "4000000000000002", want: Declined, declineCode: "do_not_honor", reconcile: Declined},
		{name: "insufficient-funds", pan: "4000000000009995", want: Declined, declineCode: "insufficient_funds", reconcile: Declined},
		{name: "processor-error", pan: "4000000000005001", want: Failed, declineCode: "processing_error", reconcile: Failed},
		{name: "timeout-charged", pan: "4000000000004087", want: Unknown, wantErr: ErrTimeout, hangs: true, reconcile: Approved},
		{name: "timeout-lost", pan: "4000000000005043", want: Unknown, wantErr: ErrTimeout, hangs: true, reconcile: Unknown, reconErr: ErrNotFound},
		{name: "luhn-fails", pan: "4242424242424241", want: Declined, declineCode: "incorrect_number", reconcile: Declined},
		{name: "expired", pan: "4242424242424242", edit: func(r *Request) { r.ExpYear, r.ExpMonth = 2026, 2 }, want: Declined, declineCode: "expired_card", reconcile: Declined},
		{name: "expires-this-month", pan: "4242424242424242", edit: func(r *Request) { r.ExpYear, r.ExpMonth = 2026, 3 }, want: Approved, reconcile: Approved},
		{name: "amex-three-digit-code", pan: "378282246310005", edit: func(r *Request) { r.CVC = []byte("123") }, want: Declined, declineCode: "incorrect_cvc", reconcile: Declined},
		{name: "visa-four-digit-code", pan: "4242424242424242", edit: func(r *Request) { r.CVC = []byte("1234") }, want: Declined, declineCode: "incorrect_cvc", reconcile: Declined},
		{name: "invalid-request", pan: "4242", want: Failed, wantErr: ErrInvalidRequest, reconcile: Unknown, reconErr: ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newTestSandbox(t, Config{})
				req := cardRequest("key-"+tc.name, tc.pan)
				if tc.edit != nil {
					tc.edit(req)
				}
				start := time.Now()
				res, err := s.Charge(t.Context(), req)
				took := time.Since(start)
				if res.Status != tc.want || res.DeclineCode != tc.declineCode {
					t.Errorf("Charge = %+v, want status %v decline code %q", res, tc.want, tc.declineCode)
				}
				if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("Charge error = %v, want %v", err, tc.wantErr)
				}
				switch {
				case tc.wantErr == ErrInvalidRequest:
					if took != 0 {
						t.Errorf("an invalid request took %v; it must be refused at once", took)
					}
				case tc.hangs:
					if took != DefaultTimeout {
						t.Errorf("Charge took %v, want the %v deadline", took, DefaultTimeout)
					}
				default:
					if took < DefaultMinDelay || took > DefaultMaxDelay {
						t.Errorf("Charge took %v, want %v..%v", took, DefaultMinDelay, DefaultMaxDelay)
					}
				}
				if (res.Status == Approved || res.Status == Declined) != strings.HasPrefix(res.Reference, "sbx_") {
					t.Errorf("Reference = %q for %v", res.Reference, res.Status)
				}
				if res.Message == "" {
					t.Error("Result.Message is empty")
				}

				rec, err := s.Reconcile(t.Context(), req.IdempotencyKey)
				if rec.Status != tc.reconcile {
					t.Errorf("Reconcile = %+v, want %v", rec, tc.reconcile)
				}
				if tc.reconErr == nil && err != nil || tc.reconErr != nil && !errors.Is(err, tc.reconErr) {
					t.Errorf("Reconcile error = %v, want %v", err, tc.reconErr)
				}
				if !tc.hangs && tc.reconErr == nil && rec != res {
					t.Errorf("Reconcile = %+v, Charge said %+v", rec, res)
				}
			})
		})
	}
}

func TestSandboxIdempotentReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSandbox(t, Config{})
		first, err := s.Charge(t.Context(), cardRequest("replay-1", "4242424242424242"))
		if err != nil || first.Status != Approved {
			t.Fatalf("first Charge = %+v, %v", first, err)
		}
		// The same key again, even with another card: the first outcome,
		// and no second charge.
		again, err := s.Charge(t.Context(), cardRequest("replay-1", "4000000000000002"))
		if err != nil || again != first {
			t.Fatalf("replay = %+v, %v; want %+v", again, err, first)
		}
		if n := len(s.ledger); n != 1 {
			t.Errorf("ledger has %d charges, want 1", n)
		}

		// Another amount under the same key is refused, and the first
		// charge stands.
		other := cardRequest("replay-1", "4242424242424242")
		other.Amount++
		res, err := s.Charge(t.Context(), other)
		if res.Status != Failed || !errors.Is(err, ErrIdempotencyMismatch) {
			t.Errorf("Charge with another amount = %+v, %v; want Failed, ErrIdempotencyMismatch", res, err)
		}
		if rec, err := s.Reconcile(t.Context(), "replay-1"); err != nil || rec != first {
			t.Errorf("Reconcile = %+v, %v; want %+v", rec, err, first)
		}
	})
}

func TestSandboxConcurrentSameKeyChargesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSandbox(t, Config{})
		const n = 8
		results := make([]Result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r, err := s.Charge(t.Context(), cardRequest("same-key", "5555555555554444"))
				if err != nil {
					t.Errorf("Charge %d: %v", i, err)
				}
				results[i] = r
			})
		}
		wg.Wait()
		for i, r := range results {
			if r != results[0] || r.Status != Approved {
				t.Errorf("Charge %d = %+v, Charge 0 = %+v", i, r, results[0])
			}
		}
		if n := len(s.ledger); n != 1 {
			t.Errorf("ledger has %d charges, want 1", n)
		}
	})
}

// A caller whose deadline ends before the answer gets Unknown; the charge
// was taken all the same, and Reconcile says so.
func TestSandboxCallerDeadlineThenReconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSandbox(t, Config{})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		res, err := s.Charge(ctx, cardRequest("short-deadline", "4242424242424242"))
		if res.Status != Unknown || !errors.Is(err, ErrTimeout) {
			t.Fatalf("Charge = %+v, %v; want Unknown, ErrTimeout", res, err)
		}
		rec, err := s.Reconcile(t.Context(), "short-deadline")
		if err != nil || rec.Status != Approved || !strings.HasPrefix(rec.Reference, "sbx_") {
			t.Errorf("Reconcile = %+v, %v; want Approved with a reference", rec, err)
		}

		// A cancelled (not timed out) caller is Unknown too, without
		// ErrTimeout.
		ctx, cancel = context.WithCancel(t.Context())
		go func() {
			time.Sleep(50 * time.Millisecond) // fake time: the caller hangs up mid-call
			cancel()
		}()
		res, err = s.Charge(ctx, cardRequest("cancelled", "4242424242424242"))
		if res.Status != Unknown || err == nil || errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Charge = %+v, %v; want Unknown, context.Canceled", res, err)
		}
	})
}

func TestSandboxConfiguredDelayAndTimeout(t *testing.T) {
	cases := []struct {
		name           string
		cfg            Config
		pan            string
		minT, maxT     time.Duration
		status         Status
		reconcileFirst bool
	}{
		{"fixed-delay", Config{MinDelay: 2 * time.Second, MaxDelay: 2 * time.Second}, "4242424242424242", 2 * time.Second, 2 * time.Second, Approved, false},
		{"instant", Config{MaxDelay: time.Millisecond}, "4242424242424242", 0, time.Millisecond, Approved, false},
		{"short-timeout", Config{Timeout: 3 * time.Second}, "4000000000004087", 3 * time.Second, 3 * time.Second, Unknown, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newTestSandbox(t, tc.cfg)
				for i := range 20 {
					start := time.Now()
					res, _ := s.Charge(t.Context(), cardRequest(fmt.Sprintf("%s-%d", tc.name, i), tc.pan))
					if took := time.Since(start); took < tc.minT || took > tc.maxT {
						t.Fatalf("Charge took %v, want %v..%v", took, tc.minT, tc.maxT)
					}
					if res.Status != tc.status {
						t.Fatalf("Charge = %+v, want %v", res, tc.status)
					}
				}
			})
		})
	}
}

func TestSandboxReconcileBadKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSandbox(t, Config{})
		for _, key := range []string{"", "has space", "quote'", strings.Repeat("k", MaxIdempotencyKeyLen+1)} {
			res, err := s.Reconcile(t.Context(), key)
			if res.Status != Unknown || !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("Reconcile(%q) = %+v, %v; want Unknown, ErrInvalidRequest", key, res, err)
			}
		}
	})
}

func TestSandboxLedgerIsBounded(t *testing.T) {
	s := newTestSandbox(t, Config{})
	for i := range MaxSandboxLedger + 10 {
		s.record(fmt.Sprintf("k%d", i), &sandboxCharge{})
	}
	if len(s.ledger) != MaxSandboxLedger || len(s.order) != MaxSandboxLedger {
		t.Errorf("ledger %d, order %d; want %d", len(s.ledger), len(s.order), MaxSandboxLedger)
	}
	if _, ok := s.ledger["k9"]; ok {
		t.Error("the oldest charges were kept")
	}
	if _, ok := s.ledger[fmt.Sprintf("k%d", MaxSandboxLedger+9)]; !ok {
		t.Error("the newest charge was dropped")
	}
}

// The sandbox logs one line per call; neither the lines nor the results
// nor the errors hold the card.
func TestSandboxCanary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs testkit.Buffer
		s := newTestSandbox(t, Config{}, WithLogger(debugLogger(&logs)))
		var seen []string
		check := func(res Result, err error) {
			seen = append(seen, res.Reference, res.DeclineCode, res.Message, fmt.Sprintf("%+v", res))
			if err != nil {
				seen = append(seen, err.Error(), fmt.Sprintf("%+v", err))
			}
		}
		req := cardRequest("canary-1", canaryPAN)
		check(s.Charge(t.Context(), req))
		check(s.Charge(t.Context(), req))
		bad := cardRequest("canary-2", canaryPAN)
		bad.CVC = []byte("12345")
		check(s.Charge(t.Context(), bad))
		expired := cardRequest("canary-3", canaryPAN)
		expired.ExpYear = 2020
		check(s.Charge(t.Context(), expired))
		check(s.Reconcile(t.Context(), "canary-1"))
		seen = append(seen, logs.String())
		if !strings.Contains(logs.String(), "canary-1") {
			t.Fatalf("no log line for the charge: %s", logs.String())
		}
		for _, text := range seen {
			if strings.Contains(text, canaryPAN) || strings.Contains(text, canaryMiddle) {
				t.Errorf("card data in %q", text)
			}
		}
	})
}

func TestLuhn(t *testing.T) {
	cases := []struct {
		pan  string
		want bool
	}{
		{"4242424242424242", true},
		{"378282246310005", true},
		{"4000000000004087", true},
		{"4000000000005043", true},
		{"4000000000005001", true},
		{canaryPAN, true},
		{"4242424242424241", false},
		{"", false},
		{"42424242424242x2", false},
		{"0", true},
	}
	for _, tc := range cases {
		if got := luhn([]byte(tc.pan)); got != tc.want {
			t.Errorf("luhn(%q) = %v, want %v", tc.pan, got, tc.want)
		}
	}
}

// A card saved: the approving test cards answer a token and no charge,
// the declining ones decline as for a charge, a replay answers the same
// token, and the same key asking for a charge instead is refused.
func TestSandboxTokenize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSandbox(t, Config{})
		save := func(key, pan string) *Request {
			r := cardRequest(key, pan)
			r.Tokenize, r.Amount = true, 0
			return r
		}
		res, err := s.Charge(t.Context(), save("save-1", "4242424242424242"))
		if err != nil || res.Status != Approved || !strings.HasPrefix(res.Token, "sbxtok_") || res.Message != msgSaved {
			t.Fatalf("save = %+v, %v; want Approved with a sbxtok_ token", res, err)
		}
		if again, err := s.Charge(t.Context(), save("save-1", "4242424242424242")); err != nil || again != res {
			t.Errorf("replay = %+v, %v; want %+v", again, err, res)
		}
		if rec, err := s.Reconcile(t.Context(), "save-1"); err != nil || rec != res {
			t.Errorf("Reconcile = %+v, %v; want %+v", rec, err, res)
		}
		charge := cardRequest("save-1", "4242424242424242")
		if r, err := s.Charge(t.Context(), charge); r.Status != Failed || !errors.Is(err, ErrIdempotencyMismatch) {
			t.Errorf("a charge under a saved card's key = %+v, %v", r, err)
		}
		if r, err := s.Charge(t.Context(), save("save-2", "4000000000009995")); err != nil || r.Status != Declined || r.Token != "" {
			t.Errorf("saving a declining card = %+v, %v", r, err)
		}
		withAmount := save("save-3", "4242424242424242")
		withAmount.Amount = 100
		if r, err := s.Charge(t.Context(), withAmount); r.Status != Failed || !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("saving with an amount = %+v, %v", r, err)
		}
	})
}
