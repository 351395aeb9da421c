package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"dtmfgw/processor"
	"dtmfgw/store"
)

// ReconcileStored settles the payments a previous run of the process left
// in processing or unknown in st (it stopped, or was killed, while a
// processor had the card, or before its answer was known): each is asked
// of its processor by its idempotency key, never charged again. A final
// answer is committed with an audit entry; "no such charge" settles the
// payment as failed once NotFoundGrace has passed since its last update;
// anything else leaves it for the next run. It returns how many payments
// it settled. now is the clock NotFoundGrace is judged by.
func ReconcileStored(ctx context.Context, st *store.Store, procs map[string]processor.Processor, now func() time.Time, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.Default()
	}
	pending, err := st.Unresolved(ctx)
	if err != nil {
		return 0, err
	}
	settled := 0
	var errs []error
	for _, rec := range pending {
		p := procs[rec.Processor]
		if p == nil || rec.IdempotencyKey == "" {
			log.Warn("payment left unresolved: no processor to ask", "payment", rec.ID, "processor", rec.Processor)
			continue
		}
		res, err := p.Reconcile(ctx, rec.IdempotencyKey)
		var to store.State
		switch {
		case errors.Is(err, processor.ErrNotFound) && now().Sub(rec.UpdatedAt) >= NotFoundGrace:
			to = store.StateFailed
		case err != nil:
			log.Info("payment still unresolved", "payment", rec.ID, "err", err)
			continue
		case res.Status == processor.Approved:
			to = store.StateApproved
		case res.Status == processor.Declined:
			to = store.StateDeclined
		case res.Status == processor.Failed:
			to = store.StateFailed
		default:
			continue
		}
		_, err = st.CommitResult(ctx, rec.ID, store.Result{
			From: rec.State, State: to, ProcessorReference: res.Reference, DeclineCode: res.DeclineCode,
			Entry: store.Entry{Actor: store.ActorSystem, Action: "payment.reconciled", Detail: "settled after a restart"},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("payment %s: %w", rec.ID, err))
			continue
		}
		settled++
		log.Info("payment reconciled", "payment", rec.ID, "state", string(to))
	}
	return settled, errors.Join(errs...)
}
