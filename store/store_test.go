package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// samplePayment is a payment as package payment creates one.
func samplePayment(callID string) Payment {
	return Payment{
		CallID:          callID,
		InboundCallID:   "a84b4c76e66710@pc33.example.com",
		OutboundCallID:  "dtmfgw-out-" + callID,
		PrimaryCallID:   "cc-" + callID,
		AgentID:         "agent-7",
		ConfigurationID: "default",
		Reference:       "INV-2024-001",
	}
}

var (
	byAgent  = Entry{Actor: ActorAgent, Action: "payment.created", Detail: "from the agent form"}
	bySystem = Entry{Actor: ActorSystem, Action: "payment.result", Detail: "processor answered"}
)

// charge is the change that starts a charge: everything reconciliation
// needs is recorded before the processor is called.
func charge(key string) Change {
	return Change{From: StateReady, To: StateProcessing, Entry: Entry{Actor: ActorAgent, Action: "payment.process"},
		Brand: "visa", Last4: "1111", Amount: 1250, Currency: "GBP", Processor: "sandbox", IdempotencyKey: key}
}

// processing creates a payment and takes it to processing.
func processing(t *testing.T, s *Store, callID, key string) Payment {
	t.Helper()
	ctx := ctxT(t)
	p := samplePayment(callID)
	p.State = StateReady
	p, err := s.CreatePayment(ctx, p, byAgent)
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	p, err = s.UpdateState(ctx, p.ID, charge(key))
	if err != nil {
		t.Fatalf("UpdateState to processing: %v", err)
	}
	return p
}

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn, dialect, source string
		ok                   bool
	}{
		{"", "sqlite", DefaultSQLitePath, true},
		{"sqlite:", "sqlite", DefaultSQLitePath, true},
		{"sqlite:/var/lib/dtmfgw/pay.db", "sqlite", "/var/lib/dtmfgw/pay.db", true},
		{"sqlite:rel dir/pay%20.db", "sqlite", "rel dir/pay%20.db", true},
		{"postgres://u:p@db:5432/dtmfgw?sslmode=require", "postgres", "postgres://u:p@db:5432/dtmfgw?sslmode=require", true},
		{"postgresql://db/dtmfgw", "postgres", "postgresql://db/dtmfgw", true},
		{"sqlite:pay.db?_pragma=synchronous(OFF)", "", "", false},
		{"sqlite:pay.db#x", "", "", false},
		{"sqlite::memory:", "", "", false},
		{"sqlite:file:pay.db", "", "", false},
		{"mysql://db/dtmfgw", "", "", false},
		{"pay.db", "", "", false},
		{"postgres://db:bad port/x", "", "", false},
	} {
		d, source, err := parseDSN(tc.dsn)
		if (err == nil) != tc.ok {
			t.Errorf("parseDSN(%q) error %v, want ok=%v", tc.dsn, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrDSN) {
				t.Errorf("parseDSN(%q) error %v is not ErrDSN", tc.dsn, err)
			}
			if tc.dsn != "" && strings.Contains(err.Error(), tc.dsn) {
				t.Errorf("parseDSN(%q) error repeats the DSN: %v", tc.dsn, err)
			}
			continue
		}
		if d.name != tc.dialect || source != tc.source {
			t.Errorf("parseDSN(%q) = %s %q, want %s %q", tc.dsn, d.name, source, tc.dialect, tc.source)
		}
	}
}

// TestOpenSQLiteFile: the directory and file are made (owner only), and
// every connection runs with WAL, synchronous=FULL, foreign keys and a
// busy timeout.
func TestOpenSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "dtmfgw.db")
	s := openStore(t, "sqlite:"+path, newTestClock())
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("database file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode %v, want 0600", perm)
	}
	ctx := ctxT(t)
	// Several connections at once, so the settings are seen on more
	// than the first.
	const conns = 3
	db := s.db
	db.SetMaxIdleConns(conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Errorf("Conn: %v", err)
				return
			}
			defer c.Close()
			for _, pr := range []struct{ pragma, want string }{
				{"journal_mode", "wal"},
				{"synchronous", "2"}, // FULL
				{"foreign_keys", "1"},
				{"busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds())},
			} {
				var got string
				if err := c.QueryRowContext(ctx, "PRAGMA "+pr.pragma).Scan(&got); err != nil {
					t.Errorf("PRAGMA %s: %v", pr.pragma, err)
				} else if got != pr.want {
					t.Errorf("PRAGMA %s = %s, want %s", pr.pragma, got, pr.want)
				}
			}
		})
	}
	wg.Wait()
}

// TestOpenDefault: "sqlite:" is data/dtmfgw.db under the working
// directory, made with its directory.
func TestOpenDefault(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, dsn := range []string{"", "sqlite:"} {
		s := openStore(t, dsn, newTestClock())
		if s.Dialect() != "sqlite" {
			t.Errorf("Open(%q) dialect %s", dsn, s.Dialect())
		}
		if err := s.Ping(ctxT(t)); err != nil {
			t.Errorf("Ping: %v", err)
		}
		s.Close()
		fi, err := os.Stat(filepath.Dir(DefaultSQLitePath))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("default directory: %v, %v", fi, err)
		}
		if _, err := os.Stat(DefaultSQLitePath); err != nil {
			t.Fatalf("default database: %v", err)
		}
	}
	if _, err := Open(ctxT(t), "mysql://db/x"); !errors.Is(err, ErrDSN) {
		t.Errorf("Open of a MySQL DSN: %v, want ErrDSN", err)
	}
}

func TestMigrations(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		want, err := s.d.migrations()
		if err != nil {
			t.Fatal(err)
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v != len(want) {
			t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(want))
		}
		s.Close()

		// Opening again applies nothing twice.
		s = openStore(t, dsn, clock)
		var rows int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil || rows != len(want) {
			t.Fatalf("schema_migrations has %d rows (%v), want %d", rows, err, len(want))
		}

		// A schema from a newer build is refused, not used.
		if _, err := s.db.ExecContext(ctx, s.d.bind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			len(want)+1, "future", s.d.timeArg(clock.Now())); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s2, err := Open(ctx, dsn)
		if err == nil {
			s2.Close()
			t.Fatal("Open accepted a database migrated by a newer build")
		}
		if !strings.Contains(err.Error(), "newer than this build") {
			t.Errorf("Open error %q does not say the schema is newer", err)
		}
	})
}

func TestMigrationFiles(t *testing.T) {
	for _, d := range []dialect{sqliteDialect, postgresDialect} {
		ms, err := d.migrations()
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if len(ms) == 0 {
			t.Fatalf("%s: no migrations", d.name)
		}
	}
	// Both dialects have the same steps.
	a, _ := sqliteDialect.migrations()
	b, _ := postgresDialect.migrations()
	if len(a) != len(b) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(a), len(b))
	}
	for i := range a {
		if a[i].name != b[i].name {
			t.Errorf("migration %d: sqlite %q, postgres %q", i+1, a[i].name, b[i].name)
		}
	}
}

func TestCreatePayment(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn, newTestClock())
		ctx := ctxT(t)
		with := func(f func(*Payment)) Payment {
			p := samplePayment("call-1")
			f(&p)
			return p
		}
		for _, tc := range []struct {
			name  string
			p     Payment
			e     Entry
			want  error
			state State
		}{
			{"plain", samplePayment("call-1"), byAgent, nil, StateCreated},
			{"given id", with(func(p *Payment) { p.ID = "pay-given-1" }), byAgent, nil, StateCreated},
			{"ready with facts", with(func(p *Payment) {
				p.State, p.Brand, p.Last4, p.Amount, p.Currency = StateReady, "american express", "0005", 9999, "EUR"
			}), byAgent, nil, StateReady},
			{"collecting by api", with(func(p *Payment) { p.State = StateCollecting }), Entry{Actor: ActorAPI, Action: "payment.created"}, nil, StateCollecting},
			{"processing at once", with(func(p *Payment) { p.State = StateProcessing }), byAgent, ErrInvalid, ""},
			{"approved at once", with(func(p *Payment) { p.State = StateApproved }), byAgent, ErrInvalid, ""},
			{"unknown state", with(func(p *Payment) { p.State = "weird" }), byAgent, ErrInvalid, ""},
			{"last4 five digits", with(func(p *Payment) { p.Last4 = "41111" }), byAgent, ErrInvalid, ""},
			{"last4 letters", with(func(p *Payment) { p.Last4 = "11a1" }), byAgent, ErrInvalid, ""},
			{"brand with digits", with(func(p *Payment) { p.Brand = "visa 411111" }), byAgent, ErrInvalid, ""},
			{"brand upper case", with(func(p *Payment) { p.Brand = "Visa" }), byAgent, ErrInvalid, ""},
			{"currency lower", with(func(p *Payment) { p.Currency = "gbp" }), byAgent, ErrInvalid, ""},
			{"negative amount", with(func(p *Payment) { p.Amount = -1 }), byAgent, ErrInvalid, ""},
			{"id with space", with(func(p *Payment) { p.ID = "pay 1" }), byAgent, ErrInvalid, ""},
			{"id too long", with(func(p *Payment) { p.ID = strings.Repeat("p", maxID+1) }), byAgent, ErrInvalid, ""},
			{"reference with newline", with(func(p *Payment) { p.Reference = "a\nb" }), byAgent, ErrInvalid, ""},
			{"call id not UTF-8", with(func(p *Payment) { p.CallID = "\xff" }), byAgent, ErrInvalid, ""},
			{"processor upper case", with(func(p *Payment) { p.Processor = "Stripe" }), byAgent, ErrInvalid, ""},
			{"result at once", with(func(p *Payment) { p.ProcessorReference = "ch_1" }), byAgent, ErrInvalid, ""},
			{"no actor", samplePayment("call-1"), Entry{Action: "payment.created"}, ErrInvalid, ""},
			{"bad actor", samplePayment("call-1"), Entry{Actor: "caller", Action: "payment.created"}, ErrInvalid, ""},
			{"no action", samplePayment("call-1"), Entry{Actor: ActorAgent}, ErrInvalid, ""},
			{"action with space", samplePayment("call-1"), Entry{Actor: ActorAgent, Action: "payment created"}, ErrInvalid, ""},
			{"detail with a card number", samplePayment("call-1"), Entry{Actor: ActorAgent, Action: "payment.created", Detail: "card 4111 1111 1111 1111"}, ErrCardData, ""},
			{"detail with a control char", samplePayment("call-1"), Entry{Actor: ActorAgent, Action: "payment.created", Detail: "a\x1bb"}, ErrInvalid, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.CreatePayment(ctx, tc.p, tc.e)
				if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
					t.Fatalf("CreatePayment error %v, want %v", err, tc.want)
				}
				if err != nil {
					return
				}
				if got.State != tc.state {
					t.Errorf("state %s, want %s", got.State, tc.state)
				}
				if tc.p.ID != "" && got.ID != tc.p.ID {
					t.Errorf("id %q, want %q", got.ID, tc.p.ID)
				}
				if got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) || !got.CompletedAt.IsZero() {
					t.Errorf("timestamps created %v updated %v completed %v", got.CreatedAt, got.UpdatedAt, got.CompletedAt)
				}
				stored, err := s.GetPayment(ctx, got.ID)
				if err != nil {
					t.Fatalf("GetPayment: %v", err)
				}
				if !reflect.DeepEqual(stored, got) {
					t.Errorf("stored\n%+v\nreturned\n%+v", stored, got)
				}
				audit, err := s.Audit(ctx, got.ID)
				if err != nil || len(audit) != 1 {
					t.Fatalf("Audit = %v, %v; want the creation entry", audit, err)
				}
				if a := audit[0]; a.Actor != tc.e.Actor || a.Action != tc.e.Action || a.Detail != tc.e.Detail || !a.At.Equal(got.CreatedAt) || a.PaymentID != got.ID {
					t.Errorf("audit entry %+v", a)
				}
			})
		}

		t.Run("duplicate id", func(t *testing.T) {
			p := samplePayment("call-2")
			p.ID = "pay-dup"
			if _, err := s.CreatePayment(ctx, p, byAgent); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreatePayment(ctx, p, byAgent); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("second CreatePayment error %v, want ErrDuplicate", err)
			}
		})
		t.Run("new ids", func(t *testing.T) {
			seen := map[string]bool{}
			for range 50 {
				id := NewID()
				if seen[id] || checkID(id) != nil || strings.ContainsAny(id, "0123456789") {
					t.Fatalf("NewID %q repeated, invalid or has a digit", id)
				}
				seen[id] = true
			}
		})
	})
}

// op is one step of a payment's life in TestLifecycle.
type op struct {
	update *Change
	result *Result
	audit  *Entry
	want   error
	state  State // the state after the step (unchanged after an error)
}

func upd(c Change, want error, state State) op { return op{update: &c, want: want, state: state} }
func res(r Result, want error, state State) op { return op{result: &r, want: want, state: state} }
func note(e Entry, want error, state State) op { return op{audit: &e, want: want, state: state} }
func ch(from, to State, action string) Change {
	return Change{From: from, To: to, Entry: Entry{Actor: ActorAgent, Action: action}}
}

func result(from, state State) Result {
	return Result{From: from, State: state, ProcessorReference: "ch_sandbox_abc", Entry: bySystem}
}

func TestLifecycle(t *testing.T) {
	ready := ch(StateCollecting, StateReady, "payment.ready")
	ready.Brand, ready.Last4, ready.Amount, ready.Currency = "visa", "1111", 1250, "GBP"
	process := Change{From: StateReady, To: StateProcessing, Entry: Entry{Actor: ActorAgent, Action: "payment.process"},
		Processor: "sandbox", IdempotencyKey: "idem-KEY"}
	declined := result(StateProcessing, StateDeclined)
	declined.DeclineCode = "insufficient_funds"
	badDecline := result(StateProcessing, StateApproved)
	badDecline.DeclineCode = "do_not_honor"
	noKey := process
	noKey.IdempotencyKey = ""
	noProcessor := process
	noProcessor.Processor = ""
	otherKey := process
	otherKey.From, otherKey.To, otherKey.IdempotencyKey = StateReady, StateReady, "idem-OTHER"
	keyFirst := ch(StateReady, StateReady, "payment.key")
	keyFirst.IdempotencyKey = "idem-KEY"
	timeout := ch(StateReady, StateTimedOut, "payment.timeout")
	timeout.Actor = ActorSystem
	cardInDetail := ch(StateCollecting, StateCollecting, "field.cleared")
	cardInDetail.Detail = "caller said 4111-1111-1111"

	start := []op{
		upd(ch(StateCreated, StateCollecting, "field.armed"), nil, StateCollecting),
		upd(ready, nil, StateReady),
		upd(process, nil, StateProcessing),
	}
	steps := func(ops ...op) []op { return append(append([]op{}, start...), ops...) }

	cases := []struct {
		name string
		ops  []op
	}{
		{"approved", steps(res(result(StateProcessing, StateApproved), nil, StateApproved))},
		{"declined", steps(res(declined, nil, StateDeclined))},
		{"failed", steps(res(result(StateProcessing, StateFailed), nil, StateFailed))},
		{"unknown, reconciled approved", steps(
			res(Result{From: StateProcessing, State: StateUnknown, Entry: bySystem}, nil, StateUnknown),
			res(Result{From: StateUnknown, State: StateUnknown, Entry: Entry{Actor: ActorSystem, Action: "payment.reconcile"}}, nil, StateUnknown),
			res(result(StateUnknown, StateApproved), nil, StateApproved))},
		{"cancelled while collecting", []op{
			upd(ch(StateCreated, StateCollecting, "field.armed"), nil, StateCollecting),
			upd(ch(StateCollecting, StateCancelled, "payment.end"), nil, StateCancelled),
			upd(ch(StateCancelled, StateCollecting, "field.armed"), ErrFinal, StateCancelled)}},
		{"timed out when ready", []op{start[0], start[1], upd(timeout, nil, StateTimedOut)}},
		{"notes need no state", []op{
			note(Entry{Actor: ActorAgent, Action: "field.armed", Detail: "card number"}, nil, StateCreated),
			note(Entry{Actor: ActorAgent, Action: "field.armed", Detail: "4111111111111111"}, ErrCardData, StateCreated)}},
		{"wrong from", []op{upd(ch(StateCollecting, StateReady, "payment.ready"), ErrConflict, StateCreated)}},
		{"final stays final", steps(
			res(result(StateProcessing, StateApproved), nil, StateApproved),
			res(result(StateProcessing, StateDeclined), ErrFinal, StateApproved),
			res(result(StateUnknown, StateDeclined), ErrFinal, StateApproved),
			upd(ch(StateApproved, StateCancelled, "payment.end"), ErrFinal, StateApproved),
			note(Entry{Actor: ActorAPI, Action: "result.read"}, nil, StateApproved))},
		{"processing cannot be cancelled", steps(
			upd(ch(StateProcessing, StateCancelled, "payment.end"), ErrConflict, StateProcessing),
			upd(ch(StateProcessing, StateTimedOut, "payment.timeout"), ErrConflict, StateProcessing))},
		{"processing needs a key", []op{start[0], start[1], upd(noKey, ErrInvalid, StateReady)}},
		{"processing needs a processor", []op{start[0], start[1], upd(noProcessor, ErrInvalid, StateReady)}},
		{"processing needs the charge", []op{start[0], upd(ch(StateCollecting, StateReady, "payment.ready"), nil, StateReady),
			upd(process, ErrInvalid, StateReady)}},
		{"results only by CommitResult", []op{start[0], start[1],
			upd(ch(StateReady, StateApproved, "payment.result"), ErrInvalid, StateReady),
			upd(ch(StateReady, StateUnknown, "payment.result"), ErrInvalid, StateReady)}},
		{"no result before processing", []op{start[0], start[1],
			res(result(StateReady, StateApproved), ErrInvalid, StateReady),
			res(result(StateProcessing, StateApproved), ErrConflict, StateReady)}},
		{"result is not a lifecycle state", steps(res(result(StateProcessing, StateCancelled), ErrInvalid, StateProcessing))},
		{"decline code only on a decline", steps(res(badDecline, ErrInvalid, StateProcessing))},
		{"key never changes", []op{start[0], start[1], upd(keyFirst, nil, StateReady), upd(otherKey, ErrConflict, StateReady),
			upd(process, nil, StateProcessing)}},
		{"card data in a detail", []op{start[0], upd(cardInDetail, ErrCardData, StateCollecting)}},
	}

	eachBackend(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn, newTestClock())
		ctx := ctxT(t)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p, err := s.CreatePayment(ctx, samplePayment("call-"+tc.name), byAgent)
				if err != nil {
					t.Fatal(err)
				}
				entries := 1
				for i, o := range tc.ops {
					var err error
					switch {
					case o.update != nil:
						c := *o.update
						if c.IdempotencyKey != "" {
							// Keys are unique across the store.
							c.IdempotencyKey += "-" + p.ID
						}
						_, err = s.UpdateState(ctx, p.ID, c)
					case o.result != nil:
						_, err = s.CommitResult(ctx, p.ID, *o.result)
					default:
						_, err = s.AppendAudit(ctx, p.ID, *o.audit)
					}
					if !errors.Is(err, o.want) || (err == nil) != (o.want == nil) {
						t.Fatalf("step %d: error %v, want %v", i, err, o.want)
					}
					if err == nil {
						entries++
					}
					got, gerr := s.GetPayment(ctx, p.ID)
					if gerr != nil {
						t.Fatal(gerr)
					}
					if got.State != o.state {
						t.Fatalf("step %d: state %s, want %s", i, got.State, o.state)
					}
					if got.State.Final() != !got.CompletedAt.IsZero() {
						t.Fatalf("step %d: state %s with completed_at %v", i, got.State, got.CompletedAt)
					}
					// A refused step leaves no trace: the change and its
					// audit entry are one transaction.
					audit, aerr := s.Audit(ctx, p.ID)
					if aerr != nil || len(audit) != entries {
						t.Fatalf("step %d: %d audit entries (%v), want %d", i, len(audit), aerr, entries)
					}
				}
			})
		}

		t.Run("facts", func(t *testing.T) {
			p := processing(t, s, "call-facts", "idem-facts")
			r := result(StateProcessing, StateDeclined)
			r.DeclineCode = "do_not_honor"
			got, err := s.CommitResult(ctx, p.ID, r)
			if err != nil {
				t.Fatal(err)
			}
			want := p
			want.State, want.ProcessorReference, want.DeclineCode = StateDeclined, "ch_sandbox_abc", "do_not_honor"
			want.UpdatedAt, want.CompletedAt = got.UpdatedAt, got.UpdatedAt
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after the result\n%+v\nwant\n%+v", got, want)
			}
			if !got.UpdatedAt.After(p.UpdatedAt) {
				t.Errorf("updated_at %v not after %v", got.UpdatedAt, p.UpdatedAt)
			}
			if byKey, err := s.PaymentByIdempotencyKey(ctx, "idem-facts"); err != nil || !reflect.DeepEqual(byKey, got) {
				t.Errorf("PaymentByIdempotencyKey = %+v, %v", byKey, err)
			}
		})
		t.Run("idempotency key taken", func(t *testing.T) {
			processing(t, s, "call-key-1", "idem-shared")
			p, err := s.CreatePayment(ctx, Payment{State: StateReady}, byAgent)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.UpdateState(ctx, p.ID, charge("idem-shared")); !errors.Is(err, ErrDuplicate) {
				t.Errorf("second payment with the same key: error %v, want ErrDuplicate", err)
			}
		})
		t.Run("not found", func(t *testing.T) {
			if _, err := s.GetPayment(ctx, "pay_none"); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetPayment: %v", err)
			}
			if _, err := s.PaymentByIdempotencyKey(ctx, "none"); !errors.Is(err, ErrNotFound) {
				t.Errorf("PaymentByIdempotencyKey: %v", err)
			}
			if _, err := s.UpdateState(ctx, "pay_none", ch(StateCreated, StateCollecting, "field.armed")); !errors.Is(err, ErrNotFound) {
				t.Errorf("UpdateState: %v", err)
			}
			if _, err := s.CommitResult(ctx, "pay_none", result(StateProcessing, StateApproved)); !errors.Is(err, ErrNotFound) {
				t.Errorf("CommitResult: %v", err)
			}
			if _, err := s.AppendAudit(ctx, "pay_none", byAgent); !errors.Is(err, ErrNotFound) {
				t.Errorf("AppendAudit: %v", err)
			}
			if _, err := s.Audit(ctx, "pay_none"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Audit: %v", err)
			}
		})
	})
}

func TestListPayments(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn, newTestClock())
		ctx := ctxT(t)
		// Six payments over two calls and two agents, in order of creation.
		var ids []string
		var times []time.Time
		for i := range 6 {
			p := samplePayment(fmt.Sprintf("call-%d", i%2))
			p.AgentID = []string{"agent-a", "agent-b"}[i/3]
			p, err := s.CreatePayment(ctx, p, byAgent)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, p.ID)
			times = append(times, p.CreatedAt)
		}
		if _, err := s.UpdateState(ctx, ids[4], ch(StateCreated, StateCancelled, "payment.end")); err != nil {
			t.Fatal(err)
		}
		rev := func(is ...int) []string {
			var out []string
			for k := len(is) - 1; k >= 0; k-- {
				out = append(out, ids[is[k]])
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    Filter
			want []string
			err  error
		}{
			{"all, newest first", Filter{}, rev(0, 1, 2, 3, 4, 5), nil},
			{"call", Filter{CallID: "call-1"}, rev(1, 3, 5), nil},
			{"primary call", Filter{PrimaryCallID: "cc-call-0"}, rev(0, 2, 4), nil},
			{"agent", Filter{AgentID: "agent-b"}, rev(3, 4, 5), nil},
			{"call and agent", Filter{CallID: "call-0", AgentID: "agent-a"}, rev(0, 2), nil},
			{"configuration", Filter{ConfigurationID: "other"}, nil, nil},
			{"state", Filter{States: []State{StateCancelled}}, rev(4), nil},
			{"states", Filter{States: []State{StateCancelled, StateCreated}, Limit: 2}, rev(4, 5), nil},
			{"from", Filter{CreatedFrom: times[3]}, rev(3, 4, 5), nil},
			{"before", Filter{CreatedBefore: times[2]}, rev(0, 1), nil},
			{"window", Filter{CreatedFrom: times[1], CreatedBefore: times[3]}, rev(1, 2), nil},
			{"limit", Filter{Limit: 2}, rev(4, 5), nil},
			{"huge limit", Filter{Limit: 1 << 30}, rev(0, 1, 2, 3, 4, 5), nil},
			{"negative limit", Filter{Limit: -1}, nil, ErrInvalid},
			{"bad state", Filter{States: []State{"lost"}}, nil, ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ps, err := s.ListPayments(ctx, tc.f)
				if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				var got []string
				for _, p := range ps {
					got = append(got, p.ID)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
	})
}

func TestUnresolved(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn, newTestClock())
		ctx := ctxT(t)
		if ps, err := s.Unresolved(ctx); err != nil || len(ps) != 0 {
			t.Fatalf("Unresolved on an empty store = %v, %v", ps, err)
		}
		a := processing(t, s, "call-a", "idem-a") // stays processing
		b := processing(t, s, "call-b", "idem-b") // unknown
		c := processing(t, s, "call-c", "idem-c") // approved
		if _, err := s.CreatePayment(ctx, samplePayment("call-d"), byAgent); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitResult(ctx, b.ID, Result{From: StateProcessing, State: StateUnknown, Entry: bySystem}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitResult(ctx, c.ID, result(StateProcessing, StateApproved)); err != nil {
			t.Fatal(err)
		}
		ps, err := s.Unresolved(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.ID+"="+string(p.State)+"/"+p.IdempotencyKey)
		}
		want := []string{a.ID + "=processing/idem-a", b.ID + "=unknown/idem-b"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Unresolved = %v, want %v", got, want)
		}
	})
}

// TestAuditAppendOnly: the database itself refuses to change or delete an
// audit entry, whatever code asks.
func TestAuditAppendOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn, newTestClock())
		ctx := ctxT(t)
		p, err := s.CreatePayment(ctx, samplePayment("call-1"), byAgent)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			"UPDATE payment_audit SET detail = 'rewritten'",
			"DELETE FROM payment_audit",
		} {
			if _, err := s.db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: error %v, want the append-only refusal", q, err)
			}
		}
		if s.d.name == "postgres" {
			if _, err := s.db.ExecContext(ctx, "TRUNCATE payment_audit"); err == nil {
				t.Error("TRUNCATE payment_audit succeeded")
			}
		}
		if a, err := s.Audit(ctx, p.ID); err != nil || len(a) != 1 || a[0].Detail != byAgent.Detail {
			t.Errorf("audit after the attempts: %+v, %v", a, err)
		}
	})
}

// TestConcurrentResults: two answers for one charge race; exactly one is
// committed, the other finds the payment final.
func TestConcurrentResults(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn, newTestClock())
		ctx := ctxT(t)
		for round := range 5 {
			p := processing(t, s, fmt.Sprintf("call-%d", round), fmt.Sprintf("idem-%d", round))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, st := range []State{StateApproved, StateDeclined} {
				wg.Go(func() {
					_, errs[i] = s.CommitResult(ctx, p.ID, result(StateProcessing, st))
				})
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, ErrFinal):
					t.Errorf("round %d: losing result: %v, want ErrFinal", round, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d results committed, want 1 (%v)", round, ok, errs)
			}
			if a, err := s.Audit(ctx, p.ID); err != nil || len(a) != 3 {
				t.Errorf("round %d: %d audit entries (%v), want 3", round, len(a), err)
			}
		}

		// Many writers at once: none fails for want of the lock.
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for w := range 4 {
			wg.Go(func() {
				for i := range 10 {
					p, err := s.CreatePayment(ctx, samplePayment(fmt.Sprintf("w%d-%d", w, i)), byAgent)
					if err == nil {
						_, err = s.UpdateState(ctx, p.ID, ch(StateCreated, StateCollecting, "field.armed"))
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent writer: %v", err)
		}
	})
}

// TestPersistAcrossRestart: what was committed is there, unchanged, after
// the store is closed and opened again.
func TestPersistAcrossRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		ctx := ctxT(t)
		done := processing(t, s, "call-1", "idem-1")
		done, err := s.CommitResult(ctx, done.ID, result(StateProcessing, StateApproved))
		if err != nil {
			t.Fatal(err)
		}
		pending := processing(t, s, "call-2", "idem-2")
		wantAudit, err := s.Audit(ctx, done.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = openStore(t, dsn, clock)
		got, err := s.GetPayment(ctx, done.ID)
		if err != nil || !reflect.DeepEqual(got, done) {
			t.Errorf("after a restart\n%+v (%v)\nwant\n%+v", got, err, done)
		}
		if a, err := s.Audit(ctx, done.ID); err != nil || !reflect.DeepEqual(a, wantAudit) {
			t.Errorf("audit after a restart\n%+v (%v)\nwant\n%+v", a, err, wantAudit)
		}
		un, err := s.Unresolved(ctx)
		if err != nil || len(un) != 1 || !reflect.DeepEqual(un[0], pending) {
			t.Errorf("Unresolved after a restart = %+v, %v; want the pending payment", un, err)
		}
		// And the store goes on where it left off.
		if _, err := s.CommitResult(ctx, pending.ID, result(StateProcessing, StateDeclined)); err != nil {
			t.Errorf("CommitResult after a restart: %v", err)
		}
	})
}

// TestErrorsNameNoValue: refusals name the field, never the value.
func TestErrorsNameNoValue(t *testing.T) {
	const secret = "zq41secretvalue"
	p := samplePayment("call")
	for _, f := range []func(){
		func() { p.Brand = secret + "9" },
		func() { p.Last4 = secret },
		func() { p.Currency = secret },
		func() { p.ID = secret + " " },
		func() { p.Processor = secret + "!" },
		func() { p.Reference = secret + "\n" },
	} {
		p = samplePayment("call")
		f()
		err := p.checkFacts()
		if p.ID != "" && err == nil {
			err = checkID(p.ID)
		}
		if err == nil {
			t.Errorf("payment %+v accepted", p)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q repeats the value", err)
		}
	}
}

// A card saved: created with intent tokenize and no amount, processing
// without one, approved with the processor's token, which the stored
// payment keeps. An amount on a card saved, or a token on a charge, is
// refused.
func TestTokenizeLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		s := openStore(t, dsn, newTestClock())
		p := samplePayment("call-t")
		p.Intent = IntentTokenize
		p, err := s.CreatePayment(ctx, p, byAgent)
		if err != nil || p.Intent != IntentTokenize {
			t.Fatalf("CreatePayment: %+v, %v", p, err)
		}
		ready := ch(StateCreated, StateReady, "payment.ready")
		ready.Brand, ready.Last4, ready.Currency = "visa", "4242", "GBP"
		if _, err := s.UpdateState(ctx, p.ID, ready); err != nil {
			t.Fatal(err)
		}
		process := Change{From: StateReady, To: StateProcessing, Entry: Entry{Actor: ActorAgent, Action: "payment.process"},
			Processor: "sandbox", IdempotencyKey: "idem-save"}
		if _, err := s.UpdateState(ctx, p.ID, process); err != nil {
			t.Fatalf("processing a card saved, amount zero: %v", err)
		}
		saved := result(StateProcessing, StateApproved)
		saved.Token = "pm_saved"
		if _, err := s.CommitResult(ctx, p.ID, saved); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPayment(ctx, p.ID)
		if err != nil || got.Token != "pm_saved" || got.Intent != IntentTokenize || got.Amount != 0 || got.State != StateApproved {
			t.Fatalf("stored: %+v, %v", got, err)
		}

		withAmount := samplePayment("call-t2")
		withAmount.Intent, withAmount.Amount = IntentTokenize, 100
		if _, err := s.CreatePayment(ctx, withAmount, byAgent); !errors.Is(err, ErrInvalid) {
			t.Errorf("a card saved with an amount: %v, want ErrInvalid", err)
		}
		q, err := s.CreatePayment(ctx, samplePayment("call-t3"), byAgent)
		if err != nil || q.Intent != IntentCharge {
			t.Fatalf("a charge by default: %+v, %v", q, err)
		}
		ready.Amount = 500
		if _, err := s.UpdateState(ctx, q.ID, ready); err != nil {
			t.Fatal(err)
		}
		process.IdempotencyKey = "idem-charge"
		if _, err := s.UpdateState(ctx, q.ID, process); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitResult(ctx, q.ID, saved); !errors.Is(err, ErrInvalid) {
			t.Errorf("a token on a charge: %v, want ErrInvalid", err)
		}
	})
}
