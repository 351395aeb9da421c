package store

import (
	"context"
	"fmt"
	"time"
)

// Message is the durable record of one SMS that carried a digital
// payment's link: to whom, through which provider, and what became of
// it. Never its text: that holds the link's token.
type Message struct {
	ID        string
	PaymentID string
	To        string
	Provider  string
	// State is "queued", "sent" or "failed".
	State      string
	Attempts   int
	ProviderID string
	ErrorCode  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const messageColumns = `id, payment_id, to_number, provider, state, attempts, provider_id, error_code, created_at, updated_at`

func scanMessage(r rowScanner) (Message, error) {
	var m Message
	err := r.Scan(&m.ID, &m.PaymentID, &m.To, &m.Provider, &m.State, &m.Attempts, &m.ProviderID, &m.ErrorCode,
		timeValue{&m.CreatedAt}, timeValue{&m.UpdatedAt})
	return m, err
}

// check validates a new message.
func (m Message) check() error {
	if err := m.checkStatus(); err != nil {
		return err
	}
	if err := checkText("to", m.To, maxName); err != nil {
		return err
	}
	return checkName("provider", m.Provider)
}

// checkStatus validates what UpdateMessage changes.
func (m Message) checkStatus() error {
	switch m.State {
	case "queued", "sent", "failed":
	default:
		return fmt.Errorf("%w: a message is queued, sent or failed", ErrInvalid)
	}
	if err := checkID(m.ID); err != nil {
		return err
	}
	// The provider's id is its own (Twilio's: "SM" and 32 hex digits,
	// which may hold runs of digits), never the caller's: like a
	// processor's reference, it is not held to the card-data rule.
	for _, f := range []struct{ name, v string }{{"provider id", m.ProviderID}, {"error code", m.ErrorCode}} {
		if err := checkText(f.name, f.v, maxName); err != nil {
			return err
		}
	}
	return nil
}

// RecordMessage stores a new message (its state queued, usually).
func (s *Store) RecordMessage(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	now := s.clock()
	_, err := s.db.ExecContext(ctx, s.d.bind(`INSERT INTO sms_messages (`+messageColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID, m.PaymentID, m.To, m.Provider, m.State, m.Attempts, m.ProviderID, m.ErrorCode, s.d.timeArg(now), s.d.timeArg(now))
	switch {
	case err != nil && s.d.isUnique(err):
		return ErrDuplicate
	case err != nil && isForeignKey(err):
		return ErrNotFound
	case err != nil:
		return fmt.Errorf("store: record message: %w", err)
	}
	return nil
}

// UpdateMessage records what became of the message m.ID: its state,
// attempts, the provider's id and error code.
func (s *Store) UpdateMessage(ctx context.Context, m Message) error {
	if err := m.checkStatus(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.d.bind(`UPDATE sms_messages SET state = ?, attempts = ?, provider_id = ?,
		error_code = ?, updated_at = ? WHERE id = ?`),
		m.State, m.Attempts, m.ProviderID, m.ErrorCode, s.d.timeArg(s.clock()), m.ID)
	if err != nil {
		return fmt.Errorf("store: update message: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: message", ErrNotFound)
	}
	return nil
}

// Messages returns the messages of a payment, oldest first.
func (s *Store) Messages(ctx context.Context, paymentID string) ([]Message, error) {
	return queryAll(ctx, s.db, "list messages", scanMessage, s.d.bind(`SELECT `+messageColumns+` FROM sms_messages
		WHERE payment_id = ? ORDER BY created_at, id`), paymentID)
}

// NewMessageID returns a new random message id: "sms_" and 24 lower-case
// letters.
func NewMessageID() string { return randomID("sms_") }
