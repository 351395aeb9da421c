package cluster

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"dtmfgw/payment"
	"dtmfgw/store"
)

// eventStore records each write; while hold is set, a write waits for it
// to be closed.
type eventStore struct {
	mu     sync.Mutex
	writes [][]store.EventRow
	hold   chan struct{}
}

func (s *eventStore) AppendEvents(_ context.Context, rows []store.EventRow) error {
	s.mu.Lock()
	hold := s.hold
	s.writes = append(s.writes, append([]store.EventRow(nil), rows...))
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return nil
}

func (s *eventStore) PruneEvents(context.Context, time.Time) (int64, error) { return 0, nil }

// seqs returns the Seq of every row of each write.
func (s *eventStore) seqs() [][]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]uint64
	for _, w := range s.writes {
		var seqs []uint64
		for _, r := range w {
			seqs = append(seqs, r.Seq)
		}
		out = append(out, seqs)
	}
	return out
}

func event(seq uint64) payment.Event {
	return payment.Event{Seq: seq, CallID: "call-1", PaymentID: "pay_1", Type: payment.EventState}
}

// An event is written as soon as it comes, with no time passing: a node
// that dies a moment later has it in the shared store already. Events
// that come during a write go together in the next one, and those still
// queued when the log stops are written before Run returns.
func TestEventLogWritesAtOnceAndGroupsWhatComesDuringAWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &eventStore{hold: make(chan struct{})}
		l := NewEventLog(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		start := time.Now()

		l.Hook("", event(1))
		synctest.Wait()
		if got := st.seqs(); len(got) != 1 || len(got[0]) != 1 || got[0][0] != 1 {
			t.Fatalf("writes %v, want [[1]] at once", got)
		}
		if !time.Now().Equal(start) {
			t.Fatalf("the first write waited %v", time.Since(start))
		}
		// Three events while the first write is still under way: one write.
		for seq := uint64(2); seq <= 4; seq++ {
			l.Hook("", event(seq))
		}
		l.Hook("", payment.Event{CallID: "call-1"}) // no Seq: not a bus event, not logged
		st.mu.Lock()
		close(st.hold)
		st.hold = nil
		st.mu.Unlock()
		synctest.Wait()
		if got := st.seqs(); len(got) != 2 || len(got[1]) != 3 || got[1][0] != 2 || got[1][2] != 4 {
			t.Fatalf("writes %v, want [[1] [2 3 4]]", got)
		}
		if !time.Now().Equal(start) {
			t.Fatalf("the writes waited %v", time.Since(start))
		}

		// Stopping writes what is queued: hold the writer, queue, stop.
		st.mu.Lock()
		st.hold = make(chan struct{})
		st.mu.Unlock()
		l.Hook("", event(5))
		synctest.Wait()
		l.Hook("", event(6))
		l.Hook("", event(7))
		cancel()
		close(st.hold)
		<-done
		got := st.seqs()
		var last []uint64
		for _, w := range got[2:] {
			last = append(last, w...)
		}
		if len(last) != 3 || last[0] != 5 || last[2] != 7 {
			t.Fatalf("writes %v: the events queued when the log stopped were not all written", got)
		}
		if l.Dropped() != 0 {
			t.Errorf("dropped %d", l.Dropped())
		}
	})
}

// A full queue drops an event, counted, rather than holding up the
// publisher.
func TestEventLogCountsWhatItCannotKeepUpWith(t *testing.T) {
	l := NewEventLog(&eventStore{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for seq := uint64(1); seq <= eventQueue+3; seq++ {
		l.Hook("", event(seq))
	}
	if l.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", l.Dropped())
	}
}
