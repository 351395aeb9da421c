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
// them). They are written off the publisher's path, each as soon as the
// writer is free: the events that arrive during one write go together in
// the next (a group commit), so a node that dies loses at most the events
// of its last write, not of a batching interval. An event the log could
// not keep up with is counted, never waited for.

// Defaults of the event log.
const (
	// EventRetention is how long an event is kept: as long as a stream can
	// resume.
	EventRetention = time.Hour
	// eventQueue bounds the events waiting to be written.
	eventQueue = 4096
	// eventBatch bounds one write.
	eventBatch = 256
	// eventWriteTimeout bounds one write.
	eventWriteTimeout = 5 * time.Second
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

// Run writes each event as it comes, with those queued behind it (up to
// eventBatch in one write), until ctx ends, when it writes what is still
// queued; and prunes events past EventRetention every few minutes.
func (l *EventLog) Run(ctx context.Context) {
	prune := time.NewTicker(5 * time.Minute)
	defer prune.Stop()
	batch := make([]store.EventRow, 0, eventBatch)
	for {
		select {
		case <-ctx.Done():
			// The queue is bounded (eventQueue), so is this.
			for len(l.ch) > 0 {
				batch = l.take(batch, <-l.ch)
				l.write(ctx, batch)
				batch = batch[:0]
			}
			return
		case e := <-l.ch:
			batch = l.take(batch, e)
			l.write(ctx, batch)
			batch = batch[:0]
		case <-prune.C:
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if _, err := l.st.PruneEvents(pctx, time.Now().Add(-EventRetention)); err != nil && ctx.Err() == nil {
				l.log.Warn("cluster: old payment events not pruned", "err", err)
			}
			cancel()
		}
	}
}

// take appends e and the events already queued behind it, up to
// eventBatch, to batch.
func (l *EventLog) take(batch []store.EventRow, e payment.Event) []store.EventRow {
	batch = append(batch, row(e))
	for len(batch) < eventBatch {
		select {
		case e := <-l.ch:
			batch = append(batch, row(e))
		default:
			return batch
		}
	}
	return batch
}

// write appends batch to the store, also while ctx ends (the last events
// are the ones a resumed stream needs most).
func (l *EventLog) write(ctx context.Context, batch []store.EventRow) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventWriteTimeout)
	defer cancel()
	if err := l.st.AppendEvents(wctx, batch); err != nil {
		l.log.Warn("cluster: payment events not written", "events", len(batch), "err", err)
	}
}

// row is e as the store keeps it: its JSON, as the stream sends it.
func row(e payment.Event) store.EventRow {
	e.At = e.At.UTC()
	e.Deadline = e.Deadline.UTC()
	data, _ := json.Marshal(e)
	return store.EventRow{CallID: e.CallID, Seq: e.Seq, PaymentID: e.PaymentID, At: e.At, Type: e.Type.String(), Data: data}
}
