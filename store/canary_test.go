package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCanary: payments are written while a canary card number is in
// scope, the way package payment holds one (a []byte capture buffer). The
// store has no field for it and refuses it in the one free-text field it
// checks; afterwards neither the SQLite file nor its WAL contains the
// canary, nor its middle digits, nor a grouped form of it.
func TestCanary(t *testing.T) {
	canary := []byte("4716302958163745")
	middle := canary[6:12]
	needles := [][]byte{
		canary,
		middle,
		canary[:12],
		canary[4:12],
		[]byte("4716 3029 5816 3745"),
		[]byte("4716-3029-5816-3745"),
		[]byte("3029 5816"),
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "dtmfgw.db")
	s := openStore(t, "sqlite:"+path, newTestClock())
	ctx := ctxT(t)

	last4 := string(canary[12:])
	var refusals []error
	for i := range 3 {
		p, err := s.CreatePayment(ctx, Payment{CallID: "canary-call", AgentID: "agent-canary", Reference: "CANARY-REF",
			State: StateReady}, byAgent)
		if err != nil {
			t.Fatal(err)
		}
		c := charge("idem-canary-" + p.ID)
		c.Brand, c.Last4 = "visa", last4
		if _, err := s.UpdateState(ctx, p.ID, c); err != nil {
			t.Fatal(err)
		}
		// A careless caller puts the card number into a detail: refused.
		for _, d := range [][]byte{canary, needles[4], needles[5], middle} {
			_, err := s.AppendAudit(ctx, p.ID, Entry{Actor: ActorAgent, Action: "field.complete", Detail: "pan " + string(d)})
			if !errors.Is(err, ErrCardData) {
				t.Fatalf("detail with card digits: error %v, want ErrCardData", err)
			}
			refusals = append(refusals, err)
			_, err = s.CommitResult(ctx, p.ID, Result{From: StateProcessing, State: StateApproved, Entry: Entry{
				Actor: ActorSystem, Action: "payment.result", Detail: string(d)}})
			if !errors.Is(err, ErrCardData) {
				t.Fatalf("result detail with card digits: error %v, want ErrCardData", err)
			}
			refusals = append(refusals, err)
		}
		st := []State{StateApproved, StateDeclined, StateUnknown}[i]
		if _, err := s.CommitResult(ctx, p.ID, Result{From: StateProcessing, State: st, ProcessorReference: "ch_canary",
			Entry: Entry{Actor: ActorSystem, Action: "payment.result", Detail: "brand visa, last 4 " + last4}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range refusals {
		for _, n := range needles {
			if bytes.Contains([]byte(err.Error()), n) {
				t.Fatalf("error %q holds card digits", err)
			}
		}
	}

	search := func(when string) {
		t.Helper()
		files, _ := filepath.Glob(path + "*")
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s contains %d card digits", when, filepath.Base(f), len(n))
				}
			}
		}
		// The search reads the data, not an empty file: what was stored
		// is found.
		if !bytes.Contains(all, []byte("CANARY-REF")) || !bytes.Contains(all, []byte("agent-canary")) {
			t.Errorf("%s: the stored records are not in %v: the search proves nothing", when, files)
		}
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("no WAL file while the store is open: %v", err)
	}
	search("open (database and WAL)")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	search("closed")
}
