package sms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The Sender's tests run in testing/synctest bubbles: backoffs pass on
// the bubble's clock, at once and exactly.

// reports collects what a Sender reports.
type reports struct {
	mu     sync.Mutex
	all    []Status
	notify chan struct{}
}

func newReports() *reports { return &reports{notify: make(chan struct{}, 1)} }

// add is the Sender's report function.
func (r *reports) add(s Status) {
	r.mu.Lock()
	r.all = append(r.all, s)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// of returns the statuses reported for a message, in order.
func (r *reports) of(id string) []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Status
	for _, s := range r.all {
		if s.MessageID == id {
			out = append(out, s)
		}
	}
	return out
}

// finalWait bounds final's wait, on the bubble's clock: beyond any
// backoff of the tests.
const finalWait = 24 * time.Hour

// final waits for the message's sent or failed status and returns it.
func (r *reports) final(t *testing.T, id string) Status {
	t.Helper()
	timer := time.NewTimer(finalWait)
	defer timer.Stop()
	for {
		for _, s := range r.of(id) {
			if s.State != StateQueued {
				return s
			}
		}
		select {
		case <-r.notify:
		case <-timer.C:
			t.Fatalf("message %s: no final status within %v; got %+v", id, finalWait, r.of(id))
		}
	}
}

// newTestSender returns a running Sender for p; Run ends with the test.
func newTestSender(t *testing.T, p Provider, opts ...Option) *Sender {
	t.Helper()
	s, err := NewSender(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// scriptProvider is a Provider that answers from a script of steps, then
// succeeds, and records when it was asked for what.
type scriptProvider struct {
	mu    sync.Mutex
	steps []step
	calls []call
}

// step is one scripted answer: err, or a hang until the context ends.
type step struct {
	err  error
	hang bool
}

type call struct {
	id string
	at time.Time
}

func (p *scriptProvider) Name() string { return "script" }

func (p *scriptProvider) Send(ctx context.Context, m Message) (Receipt, error) {
	p.mu.Lock()
	p.calls = append(p.calls, call{m.ID, time.Now()})
	var st step
	if len(p.steps) > 0 {
		st, p.steps = p.steps[0], p.steps[1:]
	}
	p.mu.Unlock()
	if st.hang {
		<-ctx.Done()
		return Receipt{}, &Error{Provider: "script", Code: CodeNetwork, Message: "cancelled", Transient: true, cause: ctx.Err()}
	}
	if st.err != nil {
		return Receipt{}, st.err
	}
	return Receipt{ProviderID: "p-" + m.ID, Status: "accepted"}, nil
}

func (p *scriptProvider) push(steps ...step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, steps...)
}

// callTimes returns when the provider was asked for message id, as
// offsets from start.
func (p *scriptProvider) callTimes(id string, start time.Time) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for _, c := range p.calls {
		if c.id == id {
			out = append(out, c.at.Sub(start))
		}
	}
	return out
}

var (
	errUnavailable = &Error{Provider: "script", Status: 503, Message: "unavailable", Transient: true}
	errOptedOut    = &Error{Provider: "script", Status: 400, Code: "21610", Message: "unsubscribed recipient"}
)

func repeatStep(s step, n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func testMessage(t *testing.T, n int) Message {
	t.Helper()
	return linkMessage(t, fmt.Sprintf("pay_%d", n), fmt.Sprintf("tok_sender_%04d_abcdefgh", n))
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSenderBackoffThenFailed: a message that always fails transiently is
// tried DefaultMaxAttempts times, DefaultBackoff apart and doubling, then
// reported failed with the last error's code.
func TestSenderBackoffThenFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptProvider{}
		p.push(repeatStep(step{err: errUnavailable}, 100)...)
		rep := newReports()
		s := newTestSender(t, p, WithReport(rep.add))
		m := testMessage(t, 1)
		start := time.Now()
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		final := rep.final(t, m.ID)
		if final.State != StateFailed || final.Attempts != DefaultMaxAttempts || final.ErrorCode != "http_503" ||
			final.PaymentID != m.PaymentID || final.ProviderID != "" {
			t.Errorf("final status %+v", final)
		}
		want := []time.Duration{0, 2 * time.Second, 6 * time.Second, 14 * time.Second}
		if got := p.callTimes(m.ID, start); !equalDurations(got, want) {
			t.Errorf("attempts at %v, want %v", got, want)
		}
		if !final.At.Equal(start.Add(14 * time.Second)) {
			t.Errorf("failed at %v, want 14s after %v", final.At, start)
		}
		if s.Held() != 0 {
			t.Errorf("Held = %d after the message failed", s.Held())
		}
	})
}

// TestSenderBackoffCapped: the wait doubles up to its cap and stays
// there.
func TestSenderBackoffCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptProvider{}
		p.push(repeatStep(step{err: errUnavailable}, 100)...)
		rep := newReports()
		s := newTestSender(t, p, WithReport(rep.add), WithMaxAttempts(8), WithBackoff(time.Second, 5*time.Second))
		m := testMessage(t, 1)
		start := time.Now()
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		if final := rep.final(t, m.ID); final.Attempts != 8 || final.State != StateFailed {
			t.Errorf("final %+v", final)
		}
		s1, s5 := time.Second, 5*time.Second
		want := []time.Duration{0, s1, 3 * s1, 7 * s1, 7*s1 + s5, 7*s1 + 2*s5, 7*s1 + 3*s5, 7*s1 + 4*s5}
		if got := p.callTimes(m.ID, start); !equalDurations(got, want) {
			t.Errorf("attempts at %v, want %v", got, want)
		}
		for attempt, want := range map[int]time.Duration{1: s1, 2: 2 * s1, 3: 4 * s1, 4: s5, 50: s5} {
			if got := s.Backoff(attempt); got != want {
				t.Errorf("Backoff(%d) = %v, want %v", attempt, got, want)
			}
		}
	})
}

// TestSenderTransientThenSent: two transient failures, then the
// provider takes it: sent at the third attempt, 2 s + 4 s later.
func TestSenderTransientThenSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptProvider{}
		p.push(step{err: errUnavailable}, step{err: errors.New("a provider's own error")})
		rep := newReports()
		s := newTestSender(t, p, WithReport(rep.add))
		m := testMessage(t, 1)
		start := time.Now()
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		final := rep.final(t, m.ID)
		if final.State != StateSent || final.Attempts != 3 || final.ProviderID != "p-"+m.ID || final.ErrorCode != "" ||
			!final.At.Equal(start.Add(6*time.Second)) {
			t.Errorf("final status %+v", final)
		}
		if got := rep.of(m.ID); len(got) != 2 || got[0].State != StateQueued || !got[0].At.Equal(start) {
			t.Errorf("statuses %+v, want queued then sent", got)
		}
	})
}

// TestSenderPermanentFailsAtOnce: a permanent error is not retried.
func TestSenderPermanentFailsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptProvider{}
		p.push(step{err: errOptedOut})
		rep := newReports()
		s := newTestSender(t, p, WithReport(rep.add))
		m := testMessage(t, 1)
		start := time.Now()
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		final := rep.final(t, m.ID)
		if final.State != StateFailed || final.Attempts != 1 || final.ErrorCode != "21610" || !final.At.Equal(start) {
			t.Errorf("final status %+v", final)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := p.callTimes(m.ID, start); len(got) != 1 {
			t.Errorf("attempts at %v, want one", got)
		}
	})
}

// TestSenderRetryDoesNotHoldUpOthers: a message waiting for its retry
// does not delay the next one.
func TestSenderRetryDoesNotHoldUpOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptProvider{}
		p.push(step{err: errUnavailable})
		rep := newReports()
		s := newTestSender(t, p, WithReport(rep.add))
		a, b := testMessage(t, 1), testMessage(t, 2)
		start := time.Now()
		if err := s.Send(a); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // a has failed once and waits
		if err := s.Send(b); err != nil {
			t.Fatal(err)
		}
		if fb := rep.final(t, b.ID); fb.State != StateSent || !fb.At.Equal(start) {
			t.Errorf("b: %+v, want sent at once", fb)
		}
		if fa := rep.final(t, a.ID); fa.State != StateSent || fa.Attempts != 2 || !fa.At.Equal(start.Add(DefaultBackoff)) {
			t.Errorf("a: %+v, want sent at the retry", fa)
		}
	})
}

// TestSenderQueueFull: beyond the queue size Send refuses at once; a
// message sent frees its place.
func TestSenderQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptProvider{}
		rep := newReports()
		s, err := NewSender(p, WithReport(rep.add), WithQueueSize(2))
		if err != nil {
			t.Fatal(err)
		}
		m1, m2, m3 := testMessage(t, 1), testMessage(t, 2), testMessage(t, 3)
		start := time.Now()
		if err := s.Send(m1); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(m2); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(m3); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("a third Send = %v, want ErrQueueFull", err)
		}
		if time.Since(start) != 0 || s.Held() != 2 || len(rep.of(m3.ID)) != 0 {
			t.Errorf("took %v, held %d, statuses of the refused %+v", time.Since(start), s.Held(), rep.of(m3.ID))
		}

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		for _, m := range []Message{m1, m2} {
			if f := rep.final(t, m.ID); f.State != StateSent {
				t.Errorf("%s: %+v", m.ID, f)
			}
		}
		if err := s.Send(m3); err != nil {
			t.Fatalf("Send after the queue drained = %v", err)
		}
		if f := rep.final(t, m3.ID); f.State != StateSent {
			t.Errorf("m3: %+v", f)
		}
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestSenderRunEndsWithContext: Run returns as soon as its context ends,
// abandoning the attempt under way; every message it held is reported
// failed (stopped), and Send and Run refuse from then on.
func TestSenderRunEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptProvider{}
		p.push(step{err: errUnavailable}, step{hang: true})
		rep := newReports()
		s, err := NewSender(p, WithReport(rep.add))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		waiting, inFlight, queued := testMessage(t, 1), testMessage(t, 2), testMessage(t, 3)
		for _, m := range []Message{waiting, inFlight, queued} {
			if err := s.Send(m); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		if s.Held() != 3 {
			t.Fatalf("Held = %d, want 3", s.Held())
		}
		stop := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		if took := time.Since(stop); took != 0 {
			t.Errorf("Run took %v to return", took)
		}
		for m, attempts := range map[Message]int{waiting: 1, inFlight: 1, queued: 0} {
			got := rep.of(m.ID)
			if len(got) != 2 || got[1].State != StateFailed || got[1].ErrorCode != CodeStopped || got[1].Attempts != attempts {
				t.Errorf("%s: statuses %+v, want queued then failed (stopped) after %d attempts", m.ID, got, attempts)
			}
		}
		if s.Held() != 0 {
			t.Errorf("Held = %d after Run ended", s.Held())
		}
		if err := s.Send(testMessage(t, 4)); !errors.Is(err, ErrStopped) {
			t.Errorf("Send after Run = %v, want ErrStopped", err)
		}
		if err := s.Run(t.Context()); err == nil {
			t.Error("a second Run did not refuse")
		}
	})
}

// TestSenderSendValidates: an invalid message is refused before it is
// queued or reported.
func TestSenderSendValidates(t *testing.T) {
	rep := newReports()
	s, err := NewSender(&scriptProvider{}, WithReport(rep.add))
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage(t, 1)
	m.Body = ""
	if err := s.Send(m); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send = %v, want ErrInvalidMessage", err)
	}
	if s.Held() != 0 || len(rep.of(m.ID)) != 0 {
		t.Error("an invalid message was queued or reported")
	}
}

// TestSenderConcurrentSends: many senders at once: each message is
// reported queued, then sent, and nothing is left held.
func TestSenderConcurrentSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scriptProvider{}
		rep := newReports()
		s := newTestSender(t, p, WithReport(rep.add), WithQueueSize(64))
		const n = 64
		msgs := make([]Message, n)
		for i := range msgs {
			msgs[i] = testMessage(t, i)
		}
		var wg sync.WaitGroup
		for _, m := range msgs {
			wg.Go(func() {
				if err := s.Send(m); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, m := range msgs {
			rep.final(t, m.ID)
			got := rep.of(m.ID)
			if len(got) != 2 || got[0].State != StateQueued || got[1].State != StateSent || got[1].Attempts != 1 {
				t.Errorf("%s: %+v", m.ID, got)
			}
		}
		if s.Held() != 0 {
			t.Errorf("Held = %d", s.Held())
		}
	})
}

func TestNewSenderOptions(t *testing.T) {
	if _, err := NewSender(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("NewSender(nil) = %v", err)
	}
	for _, opts := range [][]Option{
		{WithMaxAttempts(0)}, {WithMaxAttempts(101)},
		{WithBackoff(0, time.Second)}, {WithBackoff(2*time.Second, time.Second)}, {WithBackoff(time.Second, 2*time.Hour)},
		{WithQueueSize(0)}, {WithQueueSize(2_000_000)},
	} {
		if _, err := NewSender(&scriptProvider{}, opts...); !errors.Is(err, ErrConfig) {
			t.Errorf("NewSender took a bad option: %v", err)
		}
	}
	s, err := NewSender(&scriptProvider{})
	if err != nil || s.maxAttempts != DefaultMaxAttempts || s.backoff != DefaultBackoff || s.maxBackoff != DefaultMaxBackoff || cap(s.queue) != DefaultQueueSize {
		t.Errorf("defaults: %v", err)
	}
}
