package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Status is a message's progress, as a Sender reports it (WithReport):
// queued when Send takes it, then sent or failed. Every field is safe to
// log and to store.
type Status struct {
	MessageID string
	PaymentID string
	// State is StateQueued, StateSent or StateFailed.
	State string
	// Attempts is how many times the provider was asked (0 while
	// queued).
	Attempts int
	// ProviderID is the provider's id of a sent message.
	ProviderID string
	// ErrorCode says why a message failed: the provider's code
	// ("21211"), one of ours (CodeTimeout, CodeNetwork,
	// CodeBadResponse, "http_503", "invalid_message"), or "stopped" when
	// the Sender stopped before the message was sent.
	ErrorCode string
	// At is when the state was reached (WithClock).
	At time.Time
}

// States of Status.
const (
	StateQueued = "queued"
	StateSent   = "sent"
	StateFailed = "failed"
)

// CodeStopped is Status.ErrorCode of a message the Sender gave up because
// Run ended before it was sent.
const CodeStopped = "stopped"

// Errors of Sender.Send.
var (
	// ErrQueueFull: the Sender holds as many messages as its queue size;
	// nothing was queued.
	ErrQueueFull = errors.New("sms: the send queue is full")
	// ErrStopped: the Sender's Run has ended; it sends nothing more.
	ErrStopped = errors.New("sms: the sender has stopped")
)

// Sender queues messages and delivers them through a Provider, one at a
// time, from its Run goroutine. A message that fails transiently is tried
// again after a backoff (DefaultBackoff, doubling, capped at
// DefaultMaxBackoff) up to the maximum attempts; one that fails
// permanently is failed at once. A message waiting for its retry does not
// hold up the others. Each message's progress goes to the report function
// (WithReport): queued, then sent or failed.
//
// Delivery is at least once: a transient failure after the request left
// (a timeout) may have been delivered, and is tried again.
//
// Send is safe for concurrent use; Run is called once.
type Sender struct {
	p           Provider
	log         *slog.Logger
	now         func() time.Time
	report      func(Status)
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration

	queue chan *job

	mu      sync.Mutex
	held    int // messages accepted and not yet sent or failed: at most cap(queue)
	running bool
	stopped bool
}

// job is a message in the Sender's hands.
type job struct {
	m        Message
	attempts int
	due      time.Time // of the next attempt, while waiting
	lastCode string    // ErrorCode of the last failure
}

// NewSender returns a Sender for p. It takes WithLogger, WithClock,
// WithMaxAttempts, WithBackoff, WithQueueSize and WithReport. Nothing is
// sent until Run runs.
func NewSender(p Provider, opts ...Option) (*Sender, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: NewSender needs a provider", ErrConfig)
	}
	o := buildOptions(opts)
	var errs []error
	if o.maxAttempts < 1 || o.maxAttempts > maxMaxAttempts {
		errs = append(errs, fmt.Errorf("%w: sms sender max attempts %d is outside 1..%d", ErrConfig, o.maxAttempts, maxMaxAttempts))
	}
	if o.backoff <= 0 || o.maxBackoff < o.backoff || o.maxBackoff > maxBackoffCap {
		errs = append(errs, fmt.Errorf("%w: sms sender backoff %v, cap %v: want 0 < backoff <= cap <= %v", ErrConfig, o.backoff, o.maxBackoff, maxBackoffCap))
	}
	if o.queueSize < 1 || o.queueSize > maxQueueSize {
		errs = append(errs, fmt.Errorf("%w: sms sender queue size %d is outside 1..%d", ErrConfig, o.queueSize, maxQueueSize))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Sender{
		p:           p,
		log:         o.Log,
		now:         o.Now,
		report:      o.report,
		maxAttempts: o.maxAttempts,
		backoff:     o.backoff,
		maxBackoff:  o.maxBackoff,
		queue:       make(chan *job, o.queueSize),
	}, nil
}

// Backoff returns the wait after the attempt-th failed attempt (1 for the
// first): the initial backoff doubled attempt-1 times, capped.
func (s *Sender) Backoff(attempt int) time.Duration {
	b := s.backoff
	for i := 1; i < attempt && b < s.maxBackoff; i++ {
		b *= 2
	}
	return min(b, s.maxBackoff)
}

// Send queues m and reports it queued; it does not wait for the
// provider. It refuses at once an invalid message (ErrInvalidMessage), a
// message beyond the queue size (ErrQueueFull), and any message once Run
// has ended (ErrStopped; a message that Send had already reported queued
// when Run ended is then reported failed with CodeStopped).
func (s *Sender) Send(m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	switch {
	case s.stopped:
		s.mu.Unlock()
		return ErrStopped
	case s.held >= cap(s.queue):
		s.mu.Unlock()
		return ErrQueueFull
	}
	s.held++
	s.mu.Unlock()

	// Reported before the job is in the queue, so that Run cannot report
	// it sent first.
	j := &job{m: m}
	s.status(j, StateQueued, "")

	s.mu.Lock()
	if s.stopped {
		s.held--
		s.mu.Unlock()
		j.lastCode = CodeStopped
		s.status(j, StateFailed, "")
		return ErrStopped
	}
	// Never blocks: the queue holds at most held-1 jobs besides this one,
	// and held <= cap(queue).
	s.queue <- j
	s.mu.Unlock()
	return nil
}

// Held returns how many messages the Sender holds: queued, being sent or
// waiting for a retry.
func (s *Sender) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// Run sends the queued messages until ctx ends, then returns nil. An
// attempt under way when ctx ends is abandoned (its request cancelled),
// and every message not yet sent is reported failed with CodeStopped;
// Send refuses from then on. Run returns an error at once if it was
// called before.
func (s *Sender) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("sms: Sender.Run was called before")
	}
	s.running = true
	s.mu.Unlock()

	// waiting holds the jobs waiting for a retry, soonest first: at most
	// cap(queue) of them, since each is held.
	var waiting []*job
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for ctx.Err() == nil {
		if len(waiting) > 0 && !time.Now().Before(waiting[0].due) {
			j := waiting[0]
			waiting = slices.Delete(waiting, 0, 1)
			if s.attempt(ctx, j) {
				waiting = schedule(waiting, j)
			}
			continue
		}
		var retry <-chan time.Time
		if len(waiting) > 0 {
			timer.Reset(time.Until(waiting[0].due))
			retry = timer.C
		}
		select {
		case <-ctx.Done():
		case j := <-s.queue:
			if s.attempt(ctx, j) {
				waiting = schedule(waiting, j)
			}
		case <-retry:
		}
		// Since Go 1.23 a stopped timer delivers nothing stale.
		timer.Stop()
	}
	s.stop(waiting)
	return nil
}

// schedule inserts j into waiting by its due time (after the jobs due at
// the same time: first failed, first retried).
func schedule(waiting []*job, j *job) []*job {
	i, _ := slices.BinarySearchFunc(waiting, j.due, func(w *job, due time.Time) int {
		if w.due.After(due) {
			return 1
		}
		return -1
	})
	return slices.Insert(waiting, i, j)
}

// attempt asks the provider to send j once, and reports the outcome if it
// is final. It returns true when j is to be tried again (j.due says
// when), or is left for stop because ctx ended.
func (s *Sender) attempt(ctx context.Context, j *job) (again bool) {
	if ctx.Err() != nil {
		// Taken from the queue as ctx ended: not attempted at all.
		return true
	}
	j.attempts++
	rc, err := s.p.Send(ctx, j.m)
	if err == nil {
		s.log.Info("sms sent", "message_id", j.m.ID, "payment_id", j.m.PaymentID, "provider", s.p.Name(),
			"provider_id", rc.ProviderID, "provider_status", rc.Status, "attempts", j.attempts)
		s.release()
		s.status(j, StateSent, rc.ProviderID)
		return false
	}
	j.lastCode = errorCode(err)
	text := errorText(err, j.m)
	if ctx.Err() != nil {
		// Stopping: the attempt was cut short, which says nothing of
		// the message; stop reports it failed as stopped.
		return true
	}
	if !transient(err) || j.attempts >= s.maxAttempts {
		s.log.Warn("sms failed", "message_id", j.m.ID, "payment_id", j.m.PaymentID, "provider", s.p.Name(),
			"attempts", j.attempts, "error_code", j.lastCode, "error", text)
		s.release()
		s.status(j, StateFailed, "")
		return false
	}
	wait := s.Backoff(j.attempts)
	j.due = time.Now().Add(wait)
	s.log.Info("sms attempt failed; will retry", "message_id", j.m.ID, "payment_id", j.m.PaymentID,
		"provider", s.p.Name(), "attempts", j.attempts, "error_code", j.lastCode, "error", text, "retry_in", wait)
	return true
}

// stop ends the Sender: Send refuses from now on, and the messages it
// holds (waiting, and still in the queue) are reported failed.
func (s *Sender) stop(waiting []*job) {
	s.mu.Lock()
	s.stopped = true
	// Bounded: Send pushes nothing once stopped is set, so at most
	// cap(queue) jobs are there.
drain:
	for range cap(s.queue) {
		select {
		case j := <-s.queue:
			waiting = append(waiting, j)
		default:
			break drain
		}
	}
	s.held -= len(waiting)
	s.mu.Unlock()
	for _, j := range waiting {
		j.lastCode = CodeStopped
		s.log.Warn("sms not sent: the sender stopped", "message_id", j.m.ID, "payment_id", j.m.PaymentID,
			"attempts", j.attempts)
		s.status(j, StateFailed, "")
	}
}

// release frees a job's place in the queue.
func (s *Sender) release() {
	s.mu.Lock()
	s.held--
	s.mu.Unlock()
}

func (s *Sender) status(j *job, state, providerID string) {
	st := Status{MessageID: j.m.ID, PaymentID: j.m.PaymentID, State: state, Attempts: j.attempts,
		ProviderID: providerID, At: s.now()}
	if state == StateFailed {
		st.ErrorCode = j.lastCode
	}
	s.report(st)
}

// errorText is err's text for a log line, cleaned as a provider's text
// is (a Provider other than ours may put anything in its errors), and
// withheld if it quotes the message's secret.
func errorText(err error, m Message) string {
	return providerMessage(err.Error(), m, "error without text")
}
