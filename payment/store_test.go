package payment

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// TestPaymentsOnTheStore takes payments through the sandbox processor into
// a real SQLite store: each outcome is committed with the brand and last
// four only, survives a reopen (a restart), and the database files never
// hold the card number or any six of its digits in a row.
func TestPaymentsOnTheStore(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "dtmfgw.db")
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sandbox, err := processor.New("sandbox", processor.Config{Type: processor.TypeSandbox, MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfigs()[0]
	cfg.Currency = "GBP"
	ps, err := NewPayments(Settings{Configurations: []Config{cfg}},
		WithProcessors(sandbox), WithStore(StorePayments(st)), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	set := ps.ForCall(&fakeCall{id: "call-store", secure: true})
	defer set.Close("")
	var number uint64
	keys := func(s string) {
		for i := range len(s) {
			number++
			set.HandleDigit(dtmf.Press{Key: dtmf.Key(s[i]), Source: dtmf.SourceRFC4733, FirstSeen: time.Now(), Number: number})
		}
	}
	cases := []struct {
		card  string
		want  store.State
		brand string
	}{
		{"4242424242424242", store.StateApproved, "visa"},
		{"4000000000000002", store.StateDeclined, "visa"},
		{"5555555555554444", store.StateApproved, "mastercard"},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		p, err := set.New(cfg.ID, Attributes{Amount: 1999, Reference: "order-7"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Arm("card_number"); err != nil {
			t.Fatal(err)
		}
		keys(c.card + "1230" + "123")
		if _, err := p.Process(ctx); err != nil {
			t.Fatalf("card %d: Process: %v", i, err)
		}
		ids[i] = p.View().ID
		p.End()
	}
	// An ended payment that never reached the processor.
	p, err := set.New(cfg.ID, Attributes{Amount: 500})
	if err != nil {
		t.Fatal(err)
	}
	p.End()
	cancelled := p.View().ID
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart: everything committed is there.
	st, err = store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, c := range cases {
		rec, err := st.GetPayment(ctx, ids[i])
		if err != nil {
			t.Fatalf("payment %d after reopening: %v", i, err)
		}
		if rec.State != c.want || rec.Brand != c.brand || rec.Last4 != c.card[12:] || rec.Amount != 1999 || rec.Currency != "GBP" || rec.IdempotencyKey == "" {
			t.Errorf("payment %d stored as %+v; want %s %s %s", i, rec, c.want, c.brand, c.card[12:])
		}
		audit, err := st.Audit(ctx, ids[i])
		if err != nil || len(audit) < 3 {
			t.Errorf("payment %d audit: %d entries, %v", i, len(audit), err)
		}
	}
	if rec, err := st.GetPayment(ctx, cancelled); err != nil || rec.State != store.StateCancelled {
		t.Errorf("ended payment stored as %+v, %v; want cancelled", rec, err)
	}
	// The canary search: the database files and the log lines.
	files, _ := filepath.Glob(filepath.Join(dir, "dtmfgw.db*"))
	if len(files) == 0 {
		t.Fatal("no database file")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if l := leaks(string(b), c.card); len(l) > 0 {
				t.Errorf("%s holds %v of a card number", filepath.Base(f), l)
			}
		}
	}
	for _, c := range cases {
		if l := leaks(logs.String(), c.card); len(l) > 0 {
			t.Errorf("the log holds %v of a card number", l)
		}
	}
}
