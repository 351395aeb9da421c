package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"dtmfgw/payment"
	"dtmfgw/store"
)

// The calls' payment events are kept in the shared store as well as on
// their node's bus, so that a stream resuming on another node after the
// call's node died gets the events it missed (api's event stream reads
// them). They are written in batches, off the publisher's path: an event
// the log could not keep up with is counted, never waited for.

// Defaults of the event log.
const (
	// EventRetention is how long an event is kept: as long as a stream can
	// resume.
	EventRetention = time.Hour
	// eventQueue bounds the events waiting to be written.
	eventQueue = 4096
	// eventBatch bounds one write.
	eventBatch = 256
	// eventFlush is how long an event may wait for its batch.
	eventFlush = 100 * time.Millisecond
)

// EventStore is what the event log needs of the store; *store.Store has
// it.
type EventStore interface {
	AppendEvents(ctx context.Context, rows []store.EventRow) error
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}

// EventLog writes the calls' payment events to the shared store. Its Hook
// is a payment.EventHook.
type EventLog struct {
	st      EventStore
	log     *slog.Logger
	ch      chan payment.Event
	dropped atomic.Uint64
}

// NewEventLog returns the log of st; Run writes it.
func NewEventLog(st EventStore, log *slog.Logger) *EventLog {
	return &EventLog{st: st, log: log, ch: make(chan payment.Event, eventQueue)}
}

// Hook takes an event of a call's bus (Seq > 0) for writing, at once: a
// full queue drops it (counted, Dropped).
func (l *EventLog) Hook(_ string, e payment.Event) {
	if e.Seq == 0 || e.CallID == "" {
		return
	}
	select {
	case l.ch <- e:
	default:
		l.dropped.Add(1)
	}
}

// Dropped counts the events the log could not keep up with.
func (l *EventLog) Dropped() uint64 { return l.dropped.Load() }

// Run writes the events in batches until ctx ends, and prunes those past
// EventRetention every few minutes.
func (l *EventLog) Run(ctx context.Context) {
	flush := time.NewTicker(eventFlush)
	defer flush.Stop()
	prune := time.NewTicker(5 * time.Minute)
	defer prune.Stop()
	batch := make([]store.EventRow, 0, eventBatch)
	write := func() {
		if len(batch) == 0 {
			return
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := l.st.AppendEvents(wctx, batch); err != nil {
			l.log.Warn("cluster: payment events not written", "events", len(batch), "err", err)
		}
		cancel()
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			for len(l.ch) > 0 && len(batch) < eventBatch {
				batch = append(batch, row(<-l.ch))
			}
			write()
			return
		case e := <-l.ch:
			batch = append(batch, row(e))
			if len(batch) == eventBatch {
				write()
			}
		case <-flush.C:
			write()
		case <-prune.C:
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if _, err := l.st.PruneEvents(pctx, time.Now().Add(-EventRetention)); err != nil && ctx.Err() == nil {
				l.log.Warn("cluster: old payment events not pruned", "err", err)
			}
			cancel()
		}
	}
}

// row is e as the store keeps it: its JSON, as the stream sends it.
func row(e payment.Event) store.EventRow {
	e.At = e.At.UTC()
	e.Deadline = e.Deadline.UTC()
	data, _ := json.Marshal(e)
	return store.EventRow{CallID: e.CallID, Seq: e.Seq, PaymentID: e.PaymentID, At: e.At, Type: e.Type.String(), Data: data}
}
