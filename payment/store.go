package payment

import (
	"context"
	"fmt"

	"dtmfgw/store"
)

// StorePayments returns a Store that keeps payment records in s
// (SQLite or PostgreSQL through package store). It maps each record onto
// the store's transitions: the first record creates the payment, a
// processor's answer after processing commits the result together with
// its audit entry (CommitResult), anything else is a compare-and-set state
// change from the state the store last took (UpdateState). Only the brand
// and the last four digits of the card leave the payment.
func StorePayments(s *store.Store) Store { return storeAdapter{s} }

type storeAdapter struct{ s *store.Store }

// storeState names a payment state as the store does; the store calls a
// charge whose outcome is not known yet "unknown".
func storeState(s State) store.State {
	if s == StateReconciling {
		return store.StateUnknown
	}
	return store.State(s.String())
}

// RecordPayment maps r onto the store's transition (see StorePayments).
func (a storeAdapter) RecordPayment(ctx context.Context, r Record) error {
	entry := store.Entry{Actor: store.Actor(r.Actor), Action: r.Action, Detail: r.Reason}
	brand := ""
	if r.Brand != 0 {
		brand = r.Brand.String()
	}
	if r.Previous == 0 {
		_, err := a.s.CreatePayment(ctx, store.Payment{
			ID:              r.PaymentID,
			CallID:          r.CallID,
			InboundCallID:   r.Correlation.InboundCallID,
			OutboundCallID:  r.Correlation.OutboundCallID,
			PrimaryCallID:   r.Correlation.PrimaryCallID,
			AgentID:         r.Correlation.AgentID,
			ConfigurationID: r.ConfigID,
			State:           storeState(r.State),
			Brand:           brand,
			Last4:           r.Last4,
			Amount:          r.Amount,
			Currency:        r.Currency,
			Reference:       r.Reference,
			Processor:       r.Processor,
			IdempotencyKey:  r.IdempotencyKey,
			Intent:          store.Intent(r.Intent.orCharge()),
		}, entry)
		return err
	}
	from, to := storeState(r.Previous), storeState(r.State)
	if from == store.StateProcessing || from == store.StateUnknown {
		switch to {
		case store.StateApproved, store.StateDeclined, store.StateFailed, store.StateUnknown:
			_, err := a.s.CommitResult(ctx, r.PaymentID, store.Result{
				From: from, State: to, ProcessorReference: r.ProcessorReference,
				DeclineCode: r.DeclineCode, Token: r.Token, Entry: entry,
			})
			return err
		}
		return fmt.Errorf("payment: no store transition from %s to %s", from, to)
	}
	_, err := a.s.UpdateState(ctx, r.PaymentID, store.Change{
		From: from, To: to, Entry: entry,
		AgentID: r.Correlation.AgentID, Brand: brand, Last4: r.Last4,
		Currency: r.Currency, Reference: r.Reference, Processor: r.Processor,
		IdempotencyKey: r.IdempotencyKey, Amount: r.Amount, ConfigurationID: r.ConfigID,
		Intent: store.Intent(r.Intent.orCharge()),
	})
	return err
}

// GetPayment reads a payment's record (Reader): how Payments.Find
// finds a payment whose call has ended.
func (a storeAdapter) GetPayment(ctx context.Context, id string) (store.Payment, error) {
	return a.s.GetPayment(ctx, id)
}
