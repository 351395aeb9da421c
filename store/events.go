package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// EventRow is one payment event of a call as its stream sent it: Data is
// the event's JSON document.
type EventRow struct {
	CallID    string
	Seq       uint64
	PaymentID string
	At        time.Time
	Type      string
	Data      []byte
}

// AppendEvents stores rows in one transaction; a row already stored (the
// same call and seq) is kept as it was. (The card-data rule of free text is
// not applied: an event's times have long runs of digits, and an event is
// built by package payment, which never puts a digit in one.)
func (s *Store) AppendEvents(ctx context.Context, rows []EventRow) error {
	if len(rows) == 0 {
		return nil
	}
	for _, r := range rows {
		if r.CallID == "" || r.Seq == 0 || len(r.Data) > 64<<10 {
			return fmt.Errorf("%w: an event needs its call, a sequence number and at most 64 KiB", ErrInvalid)
		}
	}
	_, err := inTx(ctx, s, "append events", func(tx *sql.Tx) (struct{}, error) {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO payment_events (call_id, seq, payment_id, at, type, data)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (call_id, seq) DO NOTHING`),
				r.CallID, int64(r.Seq), r.PaymentID, s.d.timeArg(r.At), r.Type, string(r.Data)); err != nil {
				return struct{}{}, fmt.Errorf("store: append event: %w", err)
			}
		}
		return struct{}{}, nil
	})
	return err
}

// EventsAfter returns the call's events after seq, in order, at most
// limit.
func (s *Store) EventsAfter(ctx context.Context, callID string, seq uint64, limit int) ([]EventRow, error) {
	return queryAll(ctx, s.db, "read events", func(r rowScanner) (EventRow, error) {
		var e EventRow
		var n int64
		var data string
		err := r.Scan(&e.CallID, &n, &e.PaymentID, timeValue{&e.At}, &e.Type, &data)
		e.Seq, e.Data = uint64(n), []byte(data)
		return e, err
	}, s.d.bind(`SELECT call_id, seq, payment_id, at, type, data FROM payment_events
		WHERE call_id = ? AND seq > ? ORDER BY seq LIMIT ?`), callID, int64(seq), limit)
}

// PruneEvents deletes the events older than before and returns how many.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.bind(`DELETE FROM payment_events WHERE at < ?`), s.d.timeArg(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune events: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
