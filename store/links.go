package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A digital payment (TypeDigital) is paid by the caller on the hosted
// payment page through a single-use link. Its link is a row of its own,
// moved together with the payment in one transaction: the payment's state
// says what became of the money, the link's what the page may still do.
// The link's token is never stored, only its SHA-256 (TokenHash), so a
// copy of the database opens no payment page.

// LinkState is where a link is: created → sent → opened → paid, or
// expired, cancelled or locked. The last four are ends.
type LinkState string

// The link states.
const (
	LinkCreated   LinkState = "created"
	LinkSent      LinkState = "sent"
	LinkOpened    LinkState = "opened"
	LinkPaid      LinkState = "paid"
	LinkExpired   LinkState = "expired"
	LinkCancelled LinkState = "cancelled"
	LinkLocked    LinkState = "locked"
)

// Open reports whether the link still takes a payment (if not expired).
func (s LinkState) Open() bool { return s == LinkCreated || s == LinkSent || s == LinkOpened }

// Valid reports whether s is one of the states above.
func (s LinkState) Valid() bool {
	return s.Open() || s == LinkPaid || s == LinkExpired || s == LinkCancelled || s == LinkLocked
}

// ErrLinkClosed is returned for a change a link's state no longer allows
// (it is paid, expired, cancelled or locked, or its time has run out).
var ErrLinkClosed = errors.New("store: payment link closed")

// Link is the durable record of a digital payment's link.
type Link struct {
	PaymentID string
	// TokenHash is the hex SHA-256 of the link's token.
	TokenHash string
	State     LinkState
	// Phone is the E.164 number the link was last sent to, if any.
	Phone     string
	ExpiresAt time.Time
	// Attempts counts the charges tried with the link; FailedAttempts
	// the tries that did not pay (a decline, a failure, a card the checks
	// refused). The link locks when FailedAttempts reaches MaxAttempts.
	Attempts, FailedAttempts, MaxAttempts int
	CreatedAt, UpdatedAt, OpenedAt        time.Time
}

const linkColumns = `payment_id, token_hash, state, phone, expires_at, attempts, failed_attempts, max_attempts,
	created_at, updated_at, opened_at`

func scanLink(r rowScanner) (Link, error) {
	var l Link
	err := r.Scan(&l.PaymentID, &l.TokenHash, &l.State, &l.Phone, timeValue{&l.ExpiresAt}, &l.Attempts,
		&l.FailedAttempts, &l.MaxAttempts, timeValue{&l.CreatedAt}, timeValue{&l.UpdatedAt}, timeValue{&l.OpenedAt})
	return l, err
}

func (l Link) check() error {
	switch {
	case len(l.TokenHash) != 64:
		return fmt.Errorf("%w: token hash is 64 hex digits", ErrInvalid)
	case !l.State.Valid():
		return fmt.Errorf("%w: unknown link state", ErrInvalid)
	case l.MaxAttempts <= 0:
		return fmt.Errorf("%w: max attempts must be positive", ErrInvalid)
	case l.ExpiresAt.IsZero():
		return fmt.Errorf("%w: a link needs its expiry", ErrInvalid)
	}
	for i := 0; i < len(l.TokenHash); i++ {
		if c := l.TokenHash[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: token hash is 64 hex digits", ErrInvalid)
		}
	}
	return checkText("phone", l.Phone, 32)
}

// CreateDigitalPayment stores a new digital payment and its link in one
// transaction (see CreatePayment; p.Type is set to TypeDigital).
func (s *Store) CreateDigitalPayment(ctx context.Context, p Payment, l Link, e Entry) (Payment, Link, error) {
	p.Type = TypeDigital
	l.PaymentID, l.State = p.ID, LinkCreated
	if err := l.check(); err != nil {
		return Payment{}, Link{}, err
	}
	p, err := s.createPayment(ctx, p, e, func(tx *sql.Tx, now time.Time) error {
		return s.insertLinkTx(ctx, tx, &l, now)
	})
	if err != nil {
		return Payment{}, Link{}, err
	}
	return p, l, nil
}

// MakeDigital turns the stored payment p.ID, still created and of agent
// assist (one that waited for the agent to choose its type), into a
// digital one with p's configuration, amounts, processor and correlation,
// and stores its link, in one transaction. ErrConflict: the payment has
// moved on meanwhile (ended, or chosen otherwise).
func (s *Store) MakeDigital(ctx context.Context, p Payment, l Link, e Entry) (Payment, Link, error) {
	l.PaymentID, l.State = p.ID, LinkCreated
	if err := l.check(); err != nil {
		return Payment{}, Link{}, err
	}
	if err := e.check(); err != nil {
		return Payment{}, Link{}, err
	}
	var link Link
	sp, err := inTx(ctx, s, "make a payment digital", func(tx *sql.Tx) (Payment, error) {
		sp, err := s.applyTx(ctx, tx, p.ID, StateCreated, e, func(q *Payment) error {
			if q.Type != TypeAgentAssist {
				return fmt.Errorf("%w: payment is digital already", ErrConflict)
			}
			q.Type, q.ConfigurationID, q.Processor = TypeDigital, p.ConfigurationID, p.Processor
			q.Amount, q.Currency, q.Reference = p.Amount, p.Currency, p.Reference
			q.InboundCallID, q.OutboundCallID, q.PrimaryCallID, q.AgentID = p.InboundCallID, p.OutboundCallID, p.PrimaryCallID, p.AgentID
			return nil
		})
		if err != nil {
			return Payment{}, err
		}
		link = l
		return sp, s.insertLinkTx(ctx, tx, &link, sp.UpdatedAt)
	})
	if err != nil {
		return Payment{}, Link{}, err
	}
	return sp, link, nil
}

// insertLinkTx writes the new link l, created at now, in tx.
func (s *Store) insertLinkTx(ctx context.Context, tx *sql.Tx, l *Link, now time.Time) error {
	l.CreatedAt, l.UpdatedAt = now, now
	_, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO payment_links (`+linkColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		l.PaymentID, l.TokenHash, string(l.State), l.Phone, s.d.timeArg(l.ExpiresAt), 0, 0, l.MaxAttempts,
		s.d.timeArg(now), s.d.timeArg(now), nil)
	if err != nil && s.d.isUnique(err) {
		return ErrDuplicate
	}
	return err
}

// Link reads the link of the digital payment paymentID.
func (s *Store) Link(ctx context.Context, paymentID string) (Link, error) {
	return s.linkBy(ctx, s.db, "payment_id", paymentID, "")
}

// LinkByTokenHash reads the link whose token hashes to hash.
func (s *Store) LinkByTokenHash(ctx context.Context, hash string) (Link, error) {
	return s.linkBy(ctx, s.db, "token_hash", hash, "")
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) linkBy(ctx context.Context, q rowQuerier, column, value, lock string) (Link, error) {
	l, err := scanLink(q.QueryRowContext(ctx, s.d.bind(`SELECT `+linkColumns+` FROM payment_links WHERE `+column+` = ?`+lock), value))
	if errors.Is(err, sql.ErrNoRows) {
		return Link{}, fmt.Errorf("%w: link", ErrNotFound)
	}
	if err != nil {
		return Link{}, fmt.Errorf("store: read link: %w", err)
	}
	return l, nil
}

// OpenLinksExpiring returns the open links whose time runs out before t,
// for the sweep that expires them.
func (s *Store) OpenLinksExpiring(ctx context.Context, t time.Time, limit int) ([]Link, error) {
	return queryAll(ctx, s.db, "list expiring links", scanLink, s.d.bind(`SELECT `+linkColumns+` FROM payment_links
		WHERE state IN ('created', 'sent', 'opened') AND expires_at <= ? ORDER BY expires_at LIMIT ?`), s.d.timeArg(t), limit)
}

// LinkChange is a change of an open link that leaves its payment where it
// is: sent (with the number), opened, a new token.
type LinkChange struct {
	// To is the new state: sent or opened (a link opened stays opened
	// when sent again).
	To LinkState
	// Phone, when given, is the number the link was sent to.
	Phone string
	// TokenHash, when given, replaces the token: the old link stops
	// working.
	TokenHash string
	Entry
}

// UpdateLink applies c to the open link of paymentID, with its audit
// entry, in one transaction. A link that is closed, or whose time has run
// out, is refused with ErrLinkClosed.
func (s *Store) UpdateLink(ctx context.Context, paymentID string, c LinkChange) (Link, error) {
	if c.To != LinkSent && c.To != LinkOpened {
		return Link{}, fmt.Errorf("%w: an update moves a link to sent or opened", ErrInvalid)
	}
	if err := c.Entry.check(); err != nil {
		return Link{}, err
	}
	return inTx(ctx, s, "update link", func(tx *sql.Tx) (Link, error) {
		l, now, err := s.openLinkTx(ctx, tx, paymentID)
		if err != nil {
			return Link{}, err
		}
		switch {
		case c.To == LinkOpened && l.OpenedAt.IsZero():
			l.OpenedAt = now
			l.State = LinkOpened
		case c.To == LinkSent && l.State == LinkCreated:
			l.State = LinkSent
		}
		if c.Phone != "" {
			l.Phone = c.Phone
		}
		if c.TokenHash != "" {
			l.TokenHash = c.TokenHash
		}
		l.UpdatedAt = now
		if err := l.check(); err != nil {
			return Link{}, err
		}
		if err := s.writeLinkTx(ctx, tx, l); err != nil {
			return Link{}, err
		}
		if _, err := s.appendAudit(ctx, tx, paymentID, now, c.Entry); err != nil {
			return Link{}, err
		}
		return l, nil
	})
}

// openLinkTx reads and locks the link of paymentID and refuses it when it
// no longer takes a payment.
func (s *Store) openLinkTx(ctx context.Context, tx *sql.Tx, paymentID string) (Link, time.Time, error) {
	if err := checkID(paymentID); err != nil {
		return Link{}, time.Time{}, err
	}
	l, err := s.linkBy(ctx, tx, "payment_id", paymentID, s.d.forUpdate)
	if err != nil {
		return Link{}, time.Time{}, err
	}
	now := s.clock()
	switch {
	case !l.State.Open():
		return l, now, fmt.Errorf("%w: link is %s", ErrLinkClosed, l.State)
	case !now.Before(l.ExpiresAt):
		return l, now, fmt.Errorf("%w: link's time has run out", ErrLinkClosed)
	}
	return l, now, nil
}

func (s *Store) writeLinkTx(ctx context.Context, tx *sql.Tx, l Link) error {
	_, err := tx.ExecContext(ctx, s.d.bind(`UPDATE payment_links SET token_hash = ?, state = ?, phone = ?, attempts = ?,
		failed_attempts = ?, updated_at = ?, opened_at = ? WHERE payment_id = ?`),
		l.TokenHash, string(l.State), l.Phone, l.Attempts, l.FailedAttempts, s.d.timeArg(l.UpdatedAt),
		s.d.nullTimeArg(l.OpenedAt), l.PaymentID)
	if err != nil {
		if s.d.isUnique(err) {
			return fmt.Errorf("%w: token hash", ErrDuplicate)
		}
		return fmt.Errorf("store: update link: %w", err)
	}
	return nil
}

// CloseLink ends an open link that is not being paid, and its payment,
// in one transaction: expired (the payment timed out; its time may have
// run out already), cancelled (the payment cancelled). A payment with a
// charge under way is refused (ErrConflict): its result decides.
func (s *Store) CloseLink(ctx context.Context, paymentID string, to LinkState, e Entry) (Payment, Link, error) {
	var pay State
	switch to {
	case LinkExpired:
		pay = StateTimedOut
	case LinkCancelled:
		pay = StateCancelled
	default:
		return Payment{}, Link{}, fmt.Errorf("%w: a link is closed as expired or cancelled", ErrInvalid)
	}
	if err := e.check(); err != nil {
		return Payment{}, Link{}, err
	}
	type both struct {
		p Payment
		l Link
	}
	b, err := inTx(ctx, s, "close link", func(tx *sql.Tx) (both, error) {
		l, now, err := s.openLinkTx(ctx, tx, paymentID)
		if err != nil && !(to == LinkExpired && l.State.Open()) {
			return both{}, err
		}
		p, err := s.applyTx(ctx, tx, paymentID, StateCreated, e, func(p *Payment) error {
			p.State = pay
			return nil
		})
		if err != nil {
			return both{}, err
		}
		l.State, l.UpdatedAt = to, now
		return both{p, l}, s.writeLinkTx(ctx, tx, l)
	})
	return b.p, b.l, err
}

// Attempt is a charge about to be tried with a digital payment's link:
// what the payment's record needs before the processor is called (see
// UpdateState's move to processing). Each attempt has its own idempotency
// key, so a second card after a decline is a charge of its own.
type Attempt struct {
	IdempotencyKey, Brand, Last4, Currency, Reference, Processor string
	Amount                                                       int64
	Entry
}

// BeginAttempt moves the payment of an open, unexpired link from created
// to processing with a's facts, and counts the attempt, in one
// transaction.
func (s *Store) BeginAttempt(ctx context.Context, paymentID string, a Attempt) (Payment, Link, error) {
	if err := a.Entry.check(); err != nil {
		return Payment{}, Link{}, err
	}
	return s.onLink(ctx, "begin attempt", paymentID, func(tx *sql.Tx, l *Link, now time.Time) (Payment, error) {
		l.Attempts++
		return s.applyTx(ctx, tx, paymentID, StateCreated, a.Entry, func(p *Payment) error {
			p.State, p.IdempotencyKey, p.Brand, p.Last4 = StateProcessing, a.IdempotencyKey, a.Brand, a.Last4
			p.Currency, p.Reference, p.Processor, p.Amount = a.Currency, a.Reference, a.Processor, a.Amount
			p.ProcessorReference, p.DeclineCode = "", ""
			return nil
		})
	})
}

// FinishAttempt commits the processor's answer to an attempt, with the
// link, in one transaction. Approved (or unknown: the card may have been
// charged) pays the link. Declined or failed counts a failed attempt:
// while attempts are left the payment goes back to created, its attempt's
// key kept in the audit trail, and the link takes another card; the last
// one commits the result as final and locks the link.
func (s *Store) FinishAttempt(ctx context.Context, paymentID string, r Result) (Payment, Link, error) {
	switch r.State {
	case StateApproved, StateDeclined, StateFailed, StateUnknown:
	default:
		return Payment{}, Link{}, fmt.Errorf("%w: a result is approved, declined, failed or unknown", ErrInvalid)
	}
	if err := r.Entry.check(); err != nil {
		return Payment{}, Link{}, err
	}
	type both struct {
		p Payment
		l Link
	}
	b, err := inTx(ctx, s, "finish attempt", func(tx *sql.Tx) (both, error) {
		l, err := s.linkBy(ctx, tx, "payment_id", paymentID, s.d.forUpdate)
		if err != nil {
			return both{}, err
		}
		now := s.clock()
		if r.State == StateApproved || r.State == StateUnknown {
			l.State = LinkPaid
		} else {
			l.FailedAttempts++
			if l.FailedAttempts >= l.MaxAttempts {
				l.State = LinkLocked
			}
		}
		p, err := s.applyTx(ctx, tx, paymentID, StateProcessing, r.Entry, func(p *Payment) error {
			if r.ProcessorReference != "" {
				p.ProcessorReference = r.ProcessorReference
			}
			p.State, p.DeclineCode = r.State, r.DeclineCode
			if l.State.Open() {
				// Another card may follow, under a key of its own.
				p.State, p.IdempotencyKey, p.ProcessorReference, p.DeclineCode = StateCreated, "", "", ""
			}
			return nil
		})
		if err != nil {
			return both{}, err
		}
		l.UpdatedAt = now
		return both{p, l}, s.writeLinkTx(ctx, tx, l)
	})
	return b.p, b.l, err
}

// RefuseAttempt counts a card the checks refused before any charge (a bad
// card number, a past expiry) as a failed attempt of the open link; the
// last one locks the link and fails the payment, in one transaction.
func (s *Store) RefuseAttempt(ctx context.Context, paymentID string, e Entry) (Payment, Link, error) {
	if err := e.check(); err != nil {
		return Payment{}, Link{}, err
	}
	return s.onLink(ctx, "refuse attempt", paymentID, func(tx *sql.Tx, l *Link, now time.Time) (Payment, error) {
		l.FailedAttempts++
		if l.FailedAttempts < l.MaxAttempts {
			if _, err := s.appendAudit(ctx, tx, paymentID, now, e); err != nil {
				return Payment{}, err
			}
			return scanPayment(tx.QueryRowContext(ctx, s.d.bind(`SELECT `+paymentColumns+` FROM payments WHERE id = ?`), paymentID))
		}
		l.State = LinkLocked
		return s.applyTx(ctx, tx, paymentID, StateCreated, e, func(p *Payment) error {
			p.State = StateFailed
			return nil
		})
	})
}

// onLink runs change on the open link of paymentID and writes the link
// back, in one transaction.
func (s *Store) onLink(ctx context.Context, op, paymentID string, change func(*sql.Tx, *Link, time.Time) (Payment, error)) (Payment, Link, error) {
	type both struct {
		p Payment
		l Link
	}
	b, err := inTx(ctx, s, op, func(tx *sql.Tx) (both, error) {
		l, now, err := s.openLinkTx(ctx, tx, paymentID)
		if err != nil {
			return both{}, err
		}
		p, err := change(tx, &l, now)
		if err != nil {
			return both{}, err
		}
		l.UpdatedAt = now
		return both{p, l}, s.writeLinkTx(ctx, tx, l)
	})
	return b.p, b.l, err
}
