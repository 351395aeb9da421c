package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Delivery is one row of the webhook outbox: one event about one payment,
// to be POSTed to one payment configuration's webhook (package webhook).
// Its body is built by whoever enqueues it and holds no card data.
type Delivery struct {
	// ID identifies the delivery (the receiver's de-duplication key); an
	// empty ID gets a NewDeliveryID.
	ID string
	// PaymentID is the payment the event is about; it must be stored.
	PaymentID string
	// ConfigurationID names the payment configuration whose webhook
	// receives it.
	ConfigurationID string
	// Event is the event type ("payment.result", "payment.progress").
	Event string
	// Body is the JSON document POSTed.
	Body []byte
	// Attempts counts the attempts claimed so far.
	Attempts int
	// NextAttemptAt is when the delivery is next due (while pending).
	NextAttemptAt time.Time
	// LastStatus is the outcome of the last attempt ("200", "503",
	// "timeout", …), empty before the first.
	LastStatus string
	// CreatedAt is when the delivery was enqueued; DeliveredAt when a
	// receiver took it; GaveUpAt when it was abandoned. At most one of
	// the last two is set; neither while it is pending.
	CreatedAt, DeliveredAt, GaveUpAt time.Time
}

// Pending reports whether the delivery is neither delivered nor given up.
func (d Delivery) Pending() bool { return d.DeliveredAt.IsZero() && d.GaveUpAt.IsZero() }

// OutboxFunc returns the deliveries that announce a payment's final state
// (WithOutbox). It is called inside the transaction that makes p final,
// with p as it will be committed and the audit entry of the change (whose
// Detail says why, when no processor did), and must not touch the store.
type OutboxFunc func(p Payment, e Entry) ([]Delivery, error)

// WithOutbox makes every change that takes a payment to a final state
// (CommitResult, UpdateState) also enqueue the deliveries f returns, in
// the same transaction: a result is never committed without them, nor
// they without the result. An error from f fails the change.
func WithOutbox(f OutboxFunc) Option {
	return func(s *Store) { s.outbox = f }
}

// deliveryPrefix starts every delivery id.
const deliveryPrefix = "whd_"

// NewDeliveryID returns a new random delivery id: "whd_" and 24
// lower-case letters (112 bits), no digit, as payment ids.
func NewDeliveryID() string { return randomID(deliveryPrefix) }

// Limits of the outbox.
const (
	// MaxDeliveryBody bounds a delivery's body.
	MaxDeliveryBody = 64 << 10
	// MaxClaim bounds the deliveries one ClaimDeliveries returns.
	MaxClaim = 100
)

// ErrDeliveryNotFound is returned for a delivery id the store does not
// hold.
var ErrDeliveryNotFound = errors.New("store: webhook delivery not found")

const deliveryColumns = `id, payment_id, configuration_id, event_type, body, attempts, next_attempt_at,
	last_status, created_at, delivered_at, gave_up_at`

func scanDelivery(r rowScanner) (Delivery, error) {
	var d Delivery
	var body string
	err := r.Scan(&d.ID, &d.PaymentID, &d.ConfigurationID, &d.Event, &body, &d.Attempts,
		timeValue{&d.NextAttemptAt}, &d.LastStatus, timeValue{&d.CreatedAt}, timeValue{&d.DeliveredAt}, timeValue{&d.GaveUpAt})
	d.Body = []byte(body)
	return d, err
}

// check validates a delivery to enqueue.
func (d *Delivery) check() error {
	if d.ID == "" {
		d.ID = NewDeliveryID()
	}
	if err := checkID(d.ID); err != nil {
		return fmt.Errorf("%w (delivery id)", err)
	}
	if err := checkID(d.PaymentID); err != nil {
		return err
	}
	if err := checkText("configuration id", d.ConfigurationID, maxText); err != nil {
		return err
	}
	if d.ConfigurationID == "" {
		return fmt.Errorf("%w: a delivery needs its configuration id", ErrInvalid)
	}
	if err := checkName("event", d.Event); err != nil {
		return err
	}
	// The body is the enqueuer's JSON: only its size and encoding are
	// the store's business.
	if len(d.Body) == 0 || len(d.Body) > MaxDeliveryBody {
		return fmt.Errorf("%w: a delivery's body must be 1 to %d bytes", ErrInvalid, MaxDeliveryBody)
	}
	if !utf8.Valid(d.Body) {
		return fmt.Errorf("%w: a delivery's body is not UTF-8", ErrInvalid)
	}
	return nil
}

// insertDelivery writes d, checked, in tx: due at once.
func (s *Store) insertDelivery(ctx context.Context, tx *sql.Tx, d Delivery, now time.Time) (Delivery, error) {
	d.Attempts, d.LastStatus = 0, ""
	d.CreatedAt, d.NextAttemptAt, d.DeliveredAt, d.GaveUpAt = now, now, time.Time{}, time.Time{}
	_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO webhook_deliveries (`+deliveryColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.ID, d.PaymentID, d.ConfigurationID, d.Event, string(d.Body), 0,
		s.d.timeArg(d.NextAttemptAt), "", s.d.timeArg(d.CreatedAt), nil, nil)
	if err != nil {
		if s.d.isUnique(err) {
			return Delivery{}, fmt.Errorf("%w: delivery id", ErrDuplicate)
		}
		if isForeignKey(err) {
			return Delivery{}, ErrNotFound
		}
		return Delivery{}, fmt.Errorf("store: enqueue delivery: %w", err)
	}
	return d, nil
}

// isForeignKey reports whether err is a foreign key violation: a
// delivery for a payment the store does not hold.
func isForeignKey(err error) bool {
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code == "23503" // foreign_key_violation
	}
	return false
}

// enqueueFinal runs the outbox function for p, which tx is making final,
// and writes what it returns in tx.
func (s *Store) enqueueFinal(ctx context.Context, tx *sql.Tx, p Payment, e Entry, now time.Time) error {
	if s.outbox == nil {
		return nil
	}
	ds, err := s.outbox(p, e)
	if err != nil {
		return fmt.Errorf("store: webhook outbox: %w", err)
	}
	for _, d := range ds {
		if d.PaymentID == "" {
			d.PaymentID = p.ID
		}
		if d.PaymentID != p.ID {
			return fmt.Errorf("%w: an outbox delivery for another payment", ErrInvalid)
		}
		if err := d.check(); err != nil {
			return err
		}
		if _, err := s.insertDelivery(ctx, tx, d, now); err != nil {
			return err
		}
	}
	return nil
}

// EnqueueDelivery adds d to the outbox, due at once, and returns it as
// stored. Its payment must be stored (ErrNotFound). For deliveries that
// need not share a payment's transaction: progress events.
func (s *Store) EnqueueDelivery(ctx context.Context, d Delivery) (Delivery, error) {
	if err := d.check(); err != nil {
		return Delivery{}, err
	}
	return inTx(ctx, s, "enqueue delivery", func(tx *sql.Tx) (Delivery, error) {
		return s.insertDelivery(ctx, tx, d, s.clock())
	})
}

// ClaimDeliveries returns up to limit pending deliveries due at now (at
// most MaxClaim), oldest due first, each with Attempts counting this one
// and leased: due again only at now+lease, so that a process that dies
// during the attempt leaves the delivery to be tried again, and another
// process (PostgreSQL, several nodes) does not take it meanwhile. The
// attempt ends with FinishDelivery.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("%w: claim needs a positive limit and lease", ErrInvalid)
	}
	limit = min(limit, MaxClaim)
	return inTx(ctx, s, "claim deliveries", func(tx *sql.Tx) ([]Delivery, error) {
		skip := ""
		if s.d.forUpdate != "" {
			// Nodes sharing the database each take other rows.
			skip = s.d.forUpdate + " SKIP LOCKED"
		}
		ds, err := queryAll(ctx, tx, "claim deliveries", scanDelivery, s.d.bind(`SELECT `+deliveryColumns+` FROM webhook_deliveries
			WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ?
			ORDER BY next_attempt_at, id LIMIT ?`+skip), s.d.timeArg(now), limit)
		if err != nil {
			return nil, err
		}
		leased := now.Add(lease).UTC().Truncate(time.Microsecond)
		for i := range ds {
			ds[i].Attempts++
			ds[i].NextAttemptAt = leased
			if _, err := tx.ExecContext(ctx, s.d.bind(`UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ? WHERE id = ?`),
				ds[i].Attempts, s.d.timeArg(leased), ds[i].ID); err != nil {
				return nil, fmt.Errorf("store: claim deliveries: %w", err)
			}
		}
		return ds, nil
	})
}

// Outcome is how an attempt at a delivery ended.
type Outcome struct {
	// Status is the attempt's outcome as recorded: an HTTP status code,
	// "timeout", "connection_refused", … (at most 64 bytes).
	Status string
	// Delivered: the receiver took it (a 2xx). Final.
	Delivered bool
	// GaveUp: no more attempts. Final.
	GaveUp bool
	// NextAttemptAt is when to try again, unless Delivered or GaveUp.
	NextAttemptAt time.Time
	// At is when the attempt ended.
	At time.Time
}

// ErrNotClaimed is returned by FinishDelivery when the delivery is no
// longer the caller's: it is finished, or another claim took it after the
// caller's lease ran out.
var ErrNotClaimed = errors.New("store: webhook delivery is not held by this attempt")

// FinishDelivery records the outcome of attempt number attempt (the
// Attempts ClaimDeliveries returned) of delivery id.
func (s *Store) FinishDelivery(ctx context.Context, id string, attempt int, o Outcome) error {
	if err := checkText("status", o.Status, maxName); err != nil {
		return err
	}
	if o.Delivered && o.GaveUp {
		return fmt.Errorf("%w: a delivery is delivered or given up, not both", ErrInvalid)
	}
	if o.At.IsZero() {
		o.At = s.clock()
	}
	next := o.NextAttemptAt
	if o.Delivered || o.GaveUp || next.IsZero() {
		next = o.At
	}
	var delivered, gaveUp time.Time
	if o.Delivered {
		delivered = o.At
	}
	if o.GaveUp {
		gaveUp = o.At
	}
	res, err := s.db.ExecContext(ctx, s.d.bind(`UPDATE webhook_deliveries SET last_status = ?, next_attempt_at = ?,
		delivered_at = ?, gave_up_at = ?
		WHERE id = ? AND attempts = ? AND delivered_at IS NULL AND gave_up_at IS NULL`),
		o.Status, s.d.timeArg(next), s.d.nullTimeArg(delivered), s.d.nullTimeArg(gaveUp), id, attempt)
	if err != nil {
		return fmt.Errorf("store: finish delivery: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: finish delivery: %w", err)
	} else if n == 0 {
		if _, err := s.Delivery(ctx, id); err != nil {
			return err
		}
		return ErrNotClaimed
	}
	return nil
}

// Delivery returns the delivery id, or ErrDeliveryNotFound.
func (s *Store) Delivery(ctx context.Context, id string) (Delivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, s.d.bind(`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, ErrDeliveryNotFound
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("store: read delivery: %w", err)
	}
	return d, nil
}

// Deliveries returns the deliveries of the payment id, oldest first.
func (s *Store) Deliveries(ctx context.Context, paymentID string) ([]Delivery, error) {
	return queryAll(ctx, s.db, "list deliveries", scanDelivery, s.d.bind(`SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE payment_id = ? ORDER BY created_at, id`), paymentID)
}

// NextDeliveryDue returns when the earliest pending delivery is due, and
// false when none is pending: how long a dispatcher may sleep.
func (s *Store) NextDeliveryDue(ctx context.Context) (time.Time, bool, error) {
	var t time.Time
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(next_attempt_at) FROM webhook_deliveries
		WHERE delivered_at IS NULL AND gave_up_at IS NULL`).Scan(&n, timeValue{&t})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next delivery: %w", err)
	}
	return t, n > 0, nil
}

// PendingDeliveries counts the deliveries neither delivered nor given up.
func (s *Store) PendingDeliveries(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries
		WHERE delivered_at IS NULL AND gave_up_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count deliveries: %w", err)
	}
	return n, nil
}

// PruneDeliveries deletes the deliveries delivered or given up before
// before, and returns how many: the outbox is a queue, not an archive
// (the payment's audit trail is the record).
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.bind(`DELETE FROM webhook_deliveries
		WHERE (delivered_at IS NOT NULL AND delivered_at < ?) OR (gave_up_at IS NOT NULL AND gave_up_at < ?)`),
		s.d.timeArg(before), s.d.timeArg(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune deliveries: %w", err)
	}
	return n, nil
}
