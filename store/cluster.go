package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"

	"fmt"
	"time"
)

// Node is one dtmfgw sharing the store: where other nodes and operators
// reach it, and its last sign of life.
type Node struct {
	// ID names the node, stable across its restarts (its host name, by
	// default).
	ID string
	// APIURL is the base URL of its HTTP API, as other nodes reach it.
	APIURL string
	// SIPAddress is where it takes SIP.
	SIPAddress string
	// Started is when it last started; Heartbeat its last heartbeat, by
	// its own clock.
	Started, Heartbeat time.Time
	// Draining says it takes no new calls or payments.
	Draining bool
}

const nodeColumns = `id, api_url, sip_address, started_at, heartbeat_at, draining`

func scanNode(r rowScanner) (Node, error) {
	var n Node
	err := r.Scan(&n.ID, &n.APIURL, &n.SIPAddress, timeValue{&n.Started}, timeValue{&n.Heartbeat}, &n.Draining)
	return n, err
}

// Heartbeat records the node as alive now, with its addresses and
// whether it drains (inserted the first time, updated after).
func (s *Store) Heartbeat(ctx context.Context, n Node) error {
	if err := checkText("node id", n.ID, maxName); err != nil || n.ID == "" {
		return fmt.Errorf("%w: node id must be 1 to %d bytes of text", ErrInvalid, maxName)
	}
	for _, f := range []struct{ name, v string }{{"api url", n.APIURL}, {"sip address", n.SIPAddress}} {
		if err := checkText(f.name, f.v, maxText); err != nil {
			return err
		}
	}
	now := s.clock()
	if n.Started.IsZero() {
		n.Started = now
	}
	_, err := s.db.ExecContext(ctx, s.d.bind(`INSERT INTO nodes (`+nodeColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET api_url = excluded.api_url, sip_address = excluded.sip_address,
		started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, draining = excluded.draining`),
		n.ID, n.APIURL, n.SIPAddress, s.d.timeArg(n.Started), s.d.timeArg(now), n.Draining)
	if err != nil {
		return fmt.Errorf("store: heartbeat: %w", err)
	}
	return nil
}

// Nodes lists every node that ever heartbeat, by id.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	return queryAll(ctx, s.db, "list nodes", scanNode, `SELECT `+nodeColumns+` FROM nodes ORDER BY id`)
}

// IdempotencyTTL is how long an idempotency key is kept: a repeat of the
// request within it answers the payment the first made.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyKey is a client's key for a payment's creation: the request
// it came with (as a SHA-256 of its meaning) and the payment it makes.
type IdempotencyKey struct {
	Key         string
	RequestHash [sha256.Size]byte
	PaymentID   string
	Created     time.Time
}

// ClaimIdempotencyKey records that k.Key makes the payment k.PaymentID,
// before the payment is created: a claim, so that two nodes given the same
// key at once make one payment. When the key is claimed already (within
// IdempotencyTTL), the earlier claim is returned with taken true and
// nothing is recorded; the caller answers that payment (or a conflict, if
// the request differs). A claim whose payment could not be made is let go
// with ReleaseIdempotencyKey.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, k IdempotencyKey) (earlier IdempotencyKey, taken bool, err error) {
	if k.Key == "" || len(k.Key) > maxText {
		return IdempotencyKey{}, false, fmt.Errorf("%w: idempotency key must be 1 to %d bytes", ErrInvalid, maxText)
	}
	if err := checkID(k.PaymentID); err != nil {
		return IdempotencyKey{}, false, err
	}
	type claim struct {
		k     IdempotencyKey
		taken bool
	}
	c, err := inTx(ctx, s, "claim idempotency key", func(tx *sql.Tx) (claim, error) {
		now := s.clock()
		// A key older than the TTL is forgotten, so it may be used again.
		if _, err := tx.ExecContext(ctx, s.d.bind(`DELETE FROM idempotency_keys WHERE key = ? AND created_at < ?`),
			k.Key, s.d.timeArg(now.Add(-IdempotencyTTL))); err != nil {
			return claim{}, fmt.Errorf("store: claim idempotency key: %w", err)
		}
		res, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO idempotency_keys (key, request_hash, payment_id, created_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`),
			k.Key, hex.EncodeToString(k.RequestHash[:]), k.PaymentID, s.d.timeArg(now))
		if err != nil {
			return claim{}, fmt.Errorf("store: claim idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			k.Created = now
			return claim{k: k}, nil
		}
		var e IdempotencyKey
		var hash string
		err = tx.QueryRowContext(ctx, s.d.bind(`SELECT key, request_hash, payment_id, created_at FROM idempotency_keys WHERE key = ?`), k.Key).
			Scan(&e.Key, &hash, &e.PaymentID, timeValue{&e.Created})
		if err != nil {
			return claim{}, fmt.Errorf("store: read idempotency key: %w", err)
		}
		if b, err := hex.DecodeString(hash); err == nil && len(b) == sha256.Size {
			copy(e.RequestHash[:], b)
		}
		return claim{k: e, taken: true}, nil
	})
	return c.k, c.taken, err
}

// ReleaseIdempotencyKey lets go of key's claim for paymentID (its payment
// was not made), so the client's retry can make it.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, key, paymentID string) error {
	_, err := s.db.ExecContext(ctx, s.d.bind(`DELETE FROM idempotency_keys WHERE key = ? AND payment_id = ?`), key, paymentID)
	if err != nil {
		return fmt.Errorf("store: release idempotency key: %w", err)
	}
	return nil
}

// PruneIdempotencyKeys deletes the keys older than IdempotencyTTL and
// returns how many.
func (s *Store) PruneIdempotencyKeys(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.bind(`DELETE FROM idempotency_keys WHERE created_at < ?`), s.d.timeArg(s.clock().Add(-IdempotencyTTL)))
	if err != nil {
		return 0, fmt.Errorf("store: prune idempotency keys: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// ClaimLease gives holder the lease name until ttl from now, when no one
// holds it or its holder's time has run out (or holder holds it already:
// renewed). It reports whether holder holds it now.
func (s *Store) ClaimLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || len(name) > maxText || len(holder) > maxText {
		return false, fmt.Errorf("%w: a lease needs its name and holder", ErrInvalid)
	}
	now := s.clock()
	res, err := s.db.ExecContext(ctx, s.d.bind(`INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
		WHERE leases.until < ? OR leases.holder = excluded.holder`),
		name, holder, s.d.timeArg(now.Add(ttl)), s.d.timeArg(now))
	if err != nil {
		return false, fmt.Errorf("store: claim lease: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// EndNodePayments ends, as cancelled with detail, the open agent-assist
// payments taken on calls node held: the node is dead, and their calls
// with it. (A digital payment's link outlives its call: it is left as it
// is.) It returns the payments it ended; one another node ended first is
// skipped.
func (s *Store) EndNodePayments(ctx context.Context, node, detail string) ([]Payment, error) {
	type open struct {
		id    string
		state State
	}
	rows, err := queryAll(ctx, s.db, "list a node's open payments", func(r rowScanner) (open, error) {
		var o open
		err := r.Scan(&o.id, &o.state)
		return o, err
	}, s.d.bind(`SELECT p.id, p.state FROM payments p JOIN payment_routes r ON r.payment_id = p.id
		WHERE r.node_id = ? AND p.payment_type = 'agent_assist' AND p.state IN ('created', 'collecting', 'ready')
		ORDER BY p.created_at, p.id LIMIT 1000`), node)
	if err != nil {
		return nil, err
	}
	var ended []Payment
	for _, o := range rows {
		p, err := s.UpdateState(ctx, o.id, Change{From: o.state, To: StateCancelled,
			Entry: Entry{Actor: ActorSystem, Action: "payment.call_lost", Detail: detail}})
		switch {
		case errors.Is(err, ErrConflict), errors.Is(err, ErrFinal):
			continue // moved on meanwhile, by another node
		case err != nil:
			return ended, err
		}
		ended = append(ended, p)
	}
	return ended, nil
}

// IdempotencyKeyOf returns the claim of key, if one is held within
// IdempotencyTTL (found false otherwise).
func (s *Store) IdempotencyKeyOf(ctx context.Context, key string) (k IdempotencyKey, found bool, err error) {
	var hash string
	err = s.db.QueryRowContext(ctx, s.d.bind(`SELECT key, request_hash, payment_id, created_at FROM idempotency_keys
		WHERE key = ? AND created_at >= ?`), key, s.d.timeArg(s.clock().Add(-IdempotencyTTL))).
		Scan(&k.Key, &hash, &k.PaymentID, timeValue{&k.Created})
	if errors.Is(err, sql.ErrNoRows) {
		return IdempotencyKey{}, false, nil
	}
	if err != nil {
		return IdempotencyKey{}, false, fmt.Errorf("store: read idempotency key: %w", err)
	}
	if b, err := hex.DecodeString(hash); err == nil && len(b) == sha256.Size {
		copy(k.RequestHash[:], b)
	}
	return k, true, nil
}
