package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LiveCall is a call some node holds now: its ids, so that any node can
// find it, and the node that holds it.
type LiveCall struct {
	ID, NodeID, InboundCallID, PrimaryCallID, AgentID string
	// Outbound says the contact centre placed the call.
	Outbound bool
	Started  time.Time
}

const liveCallColumns = `id, node_id, inbound_call_id, primary_call_id, agent_id, outbound, started_at`

func scanLiveCall(r rowScanner) (LiveCall, error) {
	var c LiveCall
	err := r.Scan(&c.ID, &c.NodeID, &c.InboundCallID, &c.PrimaryCallID, &c.AgentID, &c.Outbound, timeValue{&c.Started})
	return c, err
}

// AddLiveCall records that c.NodeID holds the call c.ID.
func (s *Store) AddLiveCall(ctx context.Context, c LiveCall) error {
	for _, f := range []struct{ name, v string }{{"call id", c.ID}, {"node id", c.NodeID}, {"inbound call id", c.InboundCallID},
		{"primary call id", c.PrimaryCallID}, {"agent id", c.AgentID}} {
		if err := checkText(f.name, f.v, maxText); err != nil {
			return err
		}
	}
	if c.ID == "" || c.NodeID == "" {
		return fmt.Errorf("%w: a live call needs its id and its node", ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx, s.d.bind(`INSERT INTO live_calls (`+liveCallColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id`),
		c.ID, c.NodeID, c.InboundCallID, c.PrimaryCallID, c.AgentID, c.Outbound, s.d.timeArg(s.clock()))
	if err != nil {
		return fmt.Errorf("store: add live call: %w", err)
	}
	return nil
}

// RemoveLiveCall forgets the call id (it ended).
func (s *Store) RemoveLiveCall(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, s.d.bind(`DELETE FROM live_calls WHERE id = ?`), id); err != nil {
		return fmt.Errorf("store: remove live call: %w", err)
	}
	return nil
}

// RemoveNodeCalls forgets every call of a node (it started afresh, or
// died: its calls are gone with it) and returns how many.
func (s *Store) RemoveNodeCalls(ctx context.Context, nodeID string) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.bind(`DELETE FROM live_calls WHERE node_id = ?`), nodeID)
	if err != nil {
		return 0, fmt.Errorf("store: remove a node's calls: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// CallFilter selects live calls: every non-empty field must match (ID
// matches our id or the inbound SIP Call-ID).
type CallFilter struct {
	ID, PrimaryCallID, AgentID string
}

// LiveCalls returns the live calls f selects, at most limit.
func (s *Store) LiveCalls(ctx context.Context, f CallFilter, limit int) ([]LiveCall, error) {
	q := `SELECT ` + liveCallColumns + ` FROM live_calls WHERE 1 = 1`
	var args []any
	if f.ID != "" {
		q += ` AND (id = ? OR inbound_call_id = ?)`
		args = append(args, f.ID, f.ID)
	}
	if f.PrimaryCallID != "" {
		q += ` AND primary_call_id = ?`
		args = append(args, f.PrimaryCallID)
	}
	if f.AgentID != "" {
		q += ` AND agent_id = ?`
		args = append(args, f.AgentID)
	}
	q += ` ORDER BY started_at, id LIMIT ?`
	args = append(args, limit)
	return queryAll(ctx, s.db, "list live calls", scanLiveCall, s.d.bind(q), args...)
}

// PaymentRoute is the node that holds a payment's call.
type PaymentRoute struct {
	PaymentID, NodeID, CallID string
}

// AddPaymentRoute records the node that holds the payment's call.
func (s *Store) AddPaymentRoute(ctx context.Context, r PaymentRoute) error {
	if err := checkID(r.PaymentID); err != nil {
		return err
	}
	if r.NodeID == "" {
		return fmt.Errorf("%w: a route needs its node", ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx, s.d.bind(`INSERT INTO payment_routes (payment_id, node_id, call_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (payment_id) DO UPDATE SET node_id = excluded.node_id, call_id = excluded.call_id`),
		r.PaymentID, r.NodeID, r.CallID, s.d.timeArg(s.clock()))
	if err != nil {
		return fmt.Errorf("store: add payment route: %w", err)
	}
	return nil
}

// PaymentRouteOf returns the route of paymentID (ErrNotFound: none).
func (s *Store) PaymentRouteOf(ctx context.Context, paymentID string) (PaymentRoute, error) {
	var r PaymentRoute
	err := s.db.QueryRowContext(ctx, s.d.bind(`SELECT payment_id, node_id, call_id FROM payment_routes WHERE payment_id = ?`), paymentID).
		Scan(&r.PaymentID, &r.NodeID, &r.CallID)
	if errors.Is(err, sql.ErrNoRows) {
		return PaymentRoute{}, fmt.Errorf("%w: route", ErrNotFound)
	}
	if err != nil {
		return PaymentRoute{}, fmt.Errorf("store: read payment route: %w", err)
	}
	return r, nil
}
