package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// paymentColumns is the column list every query of a whole payment reads,
// in the order scanPayment expects.
const paymentColumns = `id, call_id, inbound_call_id, outbound_call_id, primary_call_id, agent_id,
	configuration_id, state, brand, last4, amount, currency, reference, processor,
	processor_reference, idempotency_key, decline_code, created_at, updated_at, completed_at, payment_type,
	intent, token`

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs query on q and reads every row with scan. op names the
// operation in errors ("list payments"). The rows are closed when it
// returns, so a transaction may go on with other statements.
func queryAll[T any](ctx context.Context, q querier, op string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return out, nil
}

// inTx runs f in a transaction of s and commits it when f succeeds, so a
// failure anywhere leaves the database as it was. op names the operation
// in the errors of the transaction itself ("create payment"); f's own
// errors are returned as they are.
func inTx[T any](ctx context.Context, s *Store, op string, f func(*sql.Tx) (T, error)) (T, error) {
	var zero T
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return zero, fmt.Errorf("store: %s: begin: %w", op, err)
	}
	defer tx.Rollback()
	v, err := f(tx)
	if err != nil {
		return zero, err
	}
	if err := tx.Commit(); err != nil {
		return zero, fmt.Errorf("store: %s: commit: %w", op, err)
	}
	return v, nil
}

func scanPayment(r rowScanner) (Payment, error) {
	var p Payment
	var key sql.NullString
	err := r.Scan(&p.ID, &p.CallID, &p.InboundCallID, &p.OutboundCallID, &p.PrimaryCallID, &p.AgentID,
		&p.ConfigurationID, &p.State, &p.Brand, &p.Last4, &p.Amount, &p.Currency, &p.Reference, &p.Processor,
		&p.ProcessorReference, &key, &p.DeclineCode,
		timeValue{&p.CreatedAt}, timeValue{&p.UpdatedAt}, timeValue{&p.CompletedAt}, &p.Type, &p.Intent, &p.Token)
	p.IdempotencyKey = key.String
	return p, err
}

// nullString stores "" as NULL: an idempotency key is unique only once it
// exists.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// idAlphabet makes payment ids of lower-case letters only: no digit in an
// id, so an id can never be mistaken for, or hide, card digits.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz"

// NewID returns a new random payment id: "pay_" and 24 lower-case letters
// (112 bits).
func NewID() string { return randomID("pay_") }

// randomID returns prefix and 24 random lower-case letters (112 bits).
func randomID(prefix string) string {
	var b [24]byte
	// crypto/rand.Read never fails (Go 1.24+); the bias of taking bytes
	// mod 26 costs under a bit of the 112.
	rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return prefix + string(b[:])
}

// CreatePayment stores a new payment and its first audit entry in one
// transaction, and returns it as stored. An empty ID gets a NewID; an empty
// State is StateCreated. A new payment may start in created, collecting or
// ready: it cannot begin with a charge under way or a result. Timestamps
// are the store's.
func (s *Store) CreatePayment(ctx context.Context, p Payment, e Entry) (Payment, error) {
	return s.createPayment(ctx, p, e, nil)
}

// createPayment is CreatePayment, with also (when not nil) run in the
// same transaction, after the payment's row is written, with the
// transaction's time: the link of a digital payment.
func (s *Store) createPayment(ctx context.Context, p Payment, e Entry, also func(*sql.Tx, time.Time) error) (Payment, error) {
	if p.ID == "" {
		p.ID = NewID()
	}
	if p.State == "" {
		p.State = StateCreated
	}
	if p.Type == "" {
		p.Type = TypeAgentAssist
	}
	if p.Intent == "" {
		p.Intent = IntentCharge
	}
	if err := checkID(p.ID); err != nil {
		return Payment{}, err
	}
	switch p.State {
	case StateCreated, StateCollecting, StateReady:
	default:
		return Payment{}, fmt.Errorf("%w: a new payment must be created, collecting or ready", ErrInvalid)
	}
	if p.ProcessorReference != "" || p.DeclineCode != "" || p.Token != "" {
		return Payment{}, fmt.Errorf("%w: a new payment has no result", ErrInvalid)
	}
	if err := p.checkFacts(); err != nil {
		return Payment{}, err
	}
	if err := e.check(); err != nil {
		return Payment{}, err
	}
	now := s.clock()
	p.CreatedAt, p.UpdatedAt, p.CompletedAt = now, now, time.Time{}

	return inTx(ctx, s, "create payment", func(tx *sql.Tx) (Payment, error) {
		_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO payments (`+paymentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			p.ID, p.CallID, p.InboundCallID, p.OutboundCallID, p.PrimaryCallID, p.AgentID,
			p.ConfigurationID, string(p.State), p.Brand, p.Last4, p.Amount, p.Currency, p.Reference, p.Processor,
			p.ProcessorReference, nullString(p.IdempotencyKey), p.DeclineCode,
			s.d.timeArg(p.CreatedAt), s.d.timeArg(p.UpdatedAt), nil, string(p.Type), string(p.Intent), p.Token)
		if err != nil {
			if s.d.isUnique(err) {
				return Payment{}, ErrDuplicate
			}
			return Payment{}, fmt.Errorf("store: create payment: %w", err)
		}
		if _, err := s.appendAudit(ctx, tx, p.ID, now, e); err != nil {
			return Payment{}, err
		}
		if also != nil {
			if err := also(tx, now); err != nil {
				return Payment{}, err
			}
		}
		return p, nil
	})
}

// UpdateState applies c to the payment id (compare-and-set on c.From) and
// writes c's audit entry, in one transaction, and returns the payment as
// stored. It refuses (ErrFinal) to change a final payment, and
// (ErrConflict) to move a payment whose charge may be under way
// (processing, unknown): only CommitResult does that. Moving to processing
// needs the processor, idempotency key, amount, currency and last 4 to be
// known, so that reconciliation after a crash can find the charge.
func (s *Store) UpdateState(ctx context.Context, id string, c Change) (Payment, error) {
	switch c.To {
	case StateApproved, StateDeclined, StateUnknown:
		return Payment{}, fmt.Errorf("%w: a processor's answer is committed with CommitResult", ErrInvalid)
	}
	if !c.To.Valid() || !c.From.Valid() {
		return Payment{}, fmt.Errorf("%w: unknown state", ErrInvalid)
	}
	if err := c.Entry.check(); err != nil {
		return Payment{}, err
	}
	return s.apply(ctx, id, c.From, c.Entry, func(p *Payment) error {
		if p.State.Unresolved() {
			return fmt.Errorf("%w: payment is %s: only a result moves it on", ErrConflict, p.State)
		}
		if p.IdempotencyKey != "" && c.IdempotencyKey != "" && c.IdempotencyKey != p.IdempotencyKey {
			return fmt.Errorf("%w: a payment's idempotency key never changes", ErrConflict)
		}
		if c.ConfigurationID != "" && c.ConfigurationID != p.ConfigurationID {
			// A payment made before its configuration was chosen gets it
			// once, while it is created; it never changes after.
			if p.ConfigurationID != "" || p.State != StateCreated {
				return fmt.Errorf("%w: a payment's configuration is chosen once, while it is created", ErrConflict)
			}
			p.ConfigurationID = c.ConfigurationID
		}
		if c.Intent != "" && c.Intent != p.Intent {
			if p.State != StateCreated {
				return fmt.Errorf("%w: a payment's intent is chosen while it is created", ErrConflict)
			}
			p.Intent = c.Intent
		}
		p.State = c.To
		for _, f := range []struct {
			dst *string
			v   string
		}{
			{&p.AgentID, c.AgentID}, {&p.Brand, c.Brand}, {&p.Last4, c.Last4}, {&p.Currency, c.Currency},
			{&p.Reference, c.Reference}, {&p.Processor, c.Processor}, {&p.IdempotencyKey, c.IdempotencyKey},
		} {
			if f.v != "" {
				*f.dst = f.v
			}
		}
		if c.Amount != 0 {
			p.Amount = c.Amount
		}
		return nil
	})
}

// CommitResult records a processor's answer for a payment that is
// processing (or unknown) together with its audit entry, in one
// transaction, and returns the payment as stored. It returns only once
// the transaction is committed: a result is committed before it is
// reported, so a crash after CommitResult returns loses nothing.
func (s *Store) CommitResult(ctx context.Context, id string, r Result) (Payment, error) {
	if !r.From.Unresolved() {
		return Payment{}, fmt.Errorf("%w: a result is for a payment that is processing or unknown", ErrInvalid)
	}
	switch r.State {
	case StateApproved, StateDeclined, StateFailed, StateUnknown:
	default:
		return Payment{}, fmt.Errorf("%w: a result is approved, declined, failed or unknown", ErrInvalid)
	}
	if err := r.Entry.check(); err != nil {
		return Payment{}, err
	}
	return s.apply(ctx, id, r.From, r.Entry, func(p *Payment) error {
		p.State = r.State
		if r.ProcessorReference != "" {
			p.ProcessorReference = r.ProcessorReference
		}
		if r.Token != "" {
			p.Token = r.Token
		}
		p.DeclineCode = r.DeclineCode
		return nil
	})
}

// apply is one change of a payment: in a transaction, read the payment
// (locking its row), check it is in state from and not final, let change
// alter it, check the result, write it and the audit entry, commit.
func (s *Store) apply(ctx context.Context, id string, from State, e Entry, change func(*Payment) error) (Payment, error) {
	if err := checkID(id); err != nil {
		return Payment{}, err
	}
	return inTx(ctx, s, "update payment", func(tx *sql.Tx) (Payment, error) {
		return s.applyTx(ctx, tx, id, from, e, change)
	})
}

// applyTx is apply inside the transaction tx, for the changes that move a
// payment and another row together (a digital payment's link).
func (s *Store) applyTx(ctx context.Context, tx *sql.Tx, id string, from State, e Entry, change func(*Payment) error) (Payment, error) {
	p, err := scanPayment(tx.QueryRowContext(ctx, s.d.bind(`SELECT `+paymentColumns+` FROM payments WHERE id = ?`+s.d.forUpdate), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, ErrNotFound
	}
	if err != nil {
		return Payment{}, fmt.Errorf("store: read payment: %w", err)
	}
	if p.State.Final() {
		return Payment{}, fmt.Errorf("%w: payment is %s", ErrFinal, p.State)
	}
	if p.State != from {
		return Payment{}, fmt.Errorf("%w: payment is %s, not %s", ErrConflict, p.State, from)
	}
	if err := change(&p); err != nil {
		return Payment{}, err
	}
	if err := p.checkFacts(); err != nil {
		return Payment{}, err
	}
	now := s.clock()
	p.UpdatedAt = now
	if p.State.Final() {
		p.CompletedAt = now
	}
	_, err = tx.ExecContext(ctx, s.d.bind(`UPDATE payments SET agent_id = ?, state = ?, brand = ?, last4 = ?,
		amount = ?, currency = ?, reference = ?, processor = ?, processor_reference = ?, idempotency_key = ?,
		decline_code = ?, updated_at = ?, completed_at = ?, configuration_id = ?, payment_type = ?,
		inbound_call_id = ?, outbound_call_id = ?, primary_call_id = ?, intent = ?, token = ? WHERE id = ?`),
		p.AgentID, string(p.State), p.Brand, p.Last4, p.Amount, p.Currency, p.Reference, p.Processor,
		p.ProcessorReference, nullString(p.IdempotencyKey), p.DeclineCode,
		s.d.timeArg(p.UpdatedAt), s.d.nullTimeArg(p.CompletedAt), p.ConfigurationID, string(p.Type),
		p.InboundCallID, p.OutboundCallID, p.PrimaryCallID, string(p.Intent), p.Token, p.ID)
	if err != nil {
		if s.d.isUnique(err) {
			return Payment{}, fmt.Errorf("%w: idempotency key", ErrDuplicate)
		}
		return Payment{}, fmt.Errorf("store: update payment: %w", err)
	}
	if _, err := s.appendAudit(ctx, tx, p.ID, now, e); err != nil {
		return Payment{}, err
	}
	if p.State.Final() {
		if err := s.enqueueFinal(ctx, tx, p, e, now); err != nil {
			return Payment{}, err
		}
	}
	return p, nil
}

// AppendAudit adds an entry to a payment's audit trail without changing
// the payment (a field armed or cleared, a result read). It works on a
// final payment too.
func (s *Store) AppendAudit(ctx context.Context, paymentID string, e Entry) (AuditEntry, error) {
	if err := checkID(paymentID); err != nil {
		return AuditEntry{}, err
	}
	if err := e.check(); err != nil {
		return AuditEntry{}, err
	}
	return inTx(ctx, s, "append audit", func(tx *sql.Tx) (AuditEntry, error) {
		var one int
		err := tx.QueryRowContext(ctx, s.d.bind(`SELECT 1 FROM payments WHERE id = ?`), paymentID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return AuditEntry{}, ErrNotFound
		}
		if err != nil {
			return AuditEntry{}, fmt.Errorf("store: append audit: %w", err)
		}
		return s.appendAudit(ctx, tx, paymentID, s.clock(), e)
	})
}

// appendAudit writes one audit entry in tx. e is checked already.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, paymentID string, at time.Time, e Entry) (AuditEntry, error) {
	a := AuditEntry{PaymentID: paymentID, At: at, Actor: e.Actor, Action: e.Action, Detail: e.Detail}
	err := tx.QueryRowContext(ctx, s.d.bind(`INSERT INTO payment_audit (payment_id, at, actor, action, detail)
		VALUES (?, ?, ?, ?, ?) RETURNING seq`),
		paymentID, s.d.timeArg(at), string(e.Actor), e.Action, e.Detail).Scan(&a.Seq)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("store: append audit: %w", err)
	}
	return a, nil
}

// GetPayment returns the payment id, or ErrNotFound.
func (s *Store) GetPayment(ctx context.Context, id string) (Payment, error) {
	return s.getBy(ctx, "id", id)
}

// PaymentByIdempotencyKey returns the payment whose processor calls carry
// key, or ErrNotFound.
func (s *Store) PaymentByIdempotencyKey(ctx context.Context, key string) (Payment, error) {
	return s.getBy(ctx, "idempotency_key", key)
}

func (s *Store) getBy(ctx context.Context, column, value string) (Payment, error) {
	if value == "" {
		return Payment{}, ErrNotFound
	}
	p, err := scanPayment(s.db.QueryRowContext(ctx, s.d.bind(`SELECT `+paymentColumns+` FROM payments WHERE `+column+` = ?`), value))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, ErrNotFound
	}
	if err != nil {
		return Payment{}, fmt.Errorf("store: read payment: %w", err)
	}
	return p, nil
}

// Filter selects payments for ListPayments. Zero fields select everything.
type Filter struct {
	// CallID, PrimaryCallID, AgentID and ConfigurationID select payments
	// with exactly that value.
	CallID, PrimaryCallID, AgentID, ConfigurationID string
	// States selects payments in any of these states.
	States []State
	// CreatedFrom and CreatedBefore select payments created at or after
	// CreatedFrom and before CreatedBefore.
	CreatedFrom, CreatedBefore time.Time
	// Limit is the most payments returned: DefaultListLimit when zero, at
	// most MaxListLimit.
	Limit int
}

// Limits of ListPayments.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListPayments returns the payments f selects, newest first.
func (s *Store) ListPayments(ctx context.Context, f Filter) ([]Payment, error) {
	var where []string
	var args []any
	for _, eq := range []struct{ column, value string }{
		{"call_id", f.CallID}, {"primary_call_id", f.PrimaryCallID},
		{"agent_id", f.AgentID}, {"configuration_id", f.ConfigurationID},
	} {
		if eq.value != "" {
			where = append(where, eq.column+" = ?")
			args = append(args, eq.value)
		}
	}
	if len(f.States) > 0 {
		marks := make([]string, len(f.States))
		for i, st := range f.States {
			if !st.Valid() {
				return nil, fmt.Errorf("%w: unknown state in filter", ErrInvalid)
			}
			marks[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(marks, ", ")+")")
	}
	if !f.CreatedFrom.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, s.d.timeArg(f.CreatedFrom))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, s.d.timeArg(f.CreatedBefore))
	}
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, fmt.Errorf("%w: negative limit", ErrInvalid)
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	q := `SELECT ` + paymentColumns + ` FROM payments`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	return s.queryPayments(ctx, q, args...)
}

// Unresolved returns every payment whose charge may be under way
// (processing or unknown), oldest first: after a restart, each must be
// reconciled with its processor by its idempotency key, never charged
// again.
func (s *Store) Unresolved(ctx context.Context) ([]Payment, error) {
	return s.queryPayments(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE state IN ('processing', 'unknown') ORDER BY created_at, id`)
}

func (s *Store) queryPayments(ctx context.Context, q string, args ...any) ([]Payment, error) {
	return queryAll(ctx, s.db, "list payments", scanPayment, s.d.bind(q), args...)
}

// Audit returns the audit trail of the payment id, oldest first, or
// ErrNotFound for a payment the store does not hold.
func (s *Store) Audit(ctx context.Context, paymentID string) ([]AuditEntry, error) {
	as, err := queryAll(ctx, s.db, "read audit", scanAudit, s.d.bind(`SELECT seq, payment_id, at, actor, action, detail
		FROM payment_audit WHERE payment_id = ? ORDER BY seq`), paymentID)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		// Every payment has at least its creation entry.
		if _, err := s.GetPayment(ctx, paymentID); err != nil {
			return nil, err
		}
	}
	return as, nil
}

func scanAudit(r rowScanner) (AuditEntry, error) {
	var a AuditEntry
	err := r.Scan(&a.Seq, &a.PaymentID, timeValue{&a.At}, &a.Actor, &a.Action, &a.Detail)
	return a, err
}
