package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/internal/wake"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// Defaults and limits of ReconcileConfig.
const (
	// DefaultReconcileConcurrency is how many processors' answers the
	// Reconciler awaits at once: a few, so that one slow processor does
	// not hold up the rest, and a restart after a crash does not flood it.
	DefaultReconcileConcurrency = 4
	// MaxReconcileConcurrency bounds payments.reconcile.concurrency.
	MaxReconcileConcurrency = 64
	// DefaultReconcileInterval is how often the store is looked at for
	// unresolved payments, and the wait before a payment's second ask.
	DefaultReconcileInterval = 10 * time.Second
	// DefaultReconcileMaxBackoff caps the wait between two asks about
	// the same payment (the wait doubles after each unanswered ask).
	DefaultReconcileMaxBackoff = 5 * time.Minute
)

// ReconcileConfig is the "payments.reconcile:" section: how the
// Reconciler settles payments whose outcome the processor has not told
// yet. A zero field means its default.
type ReconcileConfig struct {
	// Concurrency is how many payments are asked about at once.
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// Interval is how often the store is looked at for unresolved
	// payments, and the first wait before a payment is asked again.
	Interval time.Duration `yaml:"interval" json:"interval"`
	// MaxBackoff caps the wait before a payment is asked again.
	MaxBackoff time.Duration `yaml:"max_backoff" json:"max_backoff"`
}

// withDefaults fills the zero fields.
func (c ReconcileConfig) withDefaults() ReconcileConfig {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultReconcileConcurrency
	}
	if c.Interval == 0 {
		c.Interval = DefaultReconcileInterval
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultReconcileMaxBackoff, c.Interval)
	}
	return c
}

// validate names the first bad key of the section.
func (c ReconcileConfig) validate() error {
	d := c.withDefaults()
	switch {
	case d.Concurrency < 1 || d.Concurrency > MaxReconcileConcurrency:
		return fmt.Errorf("%w: payments.reconcile.concurrency: %d outside 1 … %d", ErrConfig, c.Concurrency, MaxReconcileConcurrency)
	case d.Interval < 10*time.Millisecond || d.Interval > time.Hour:
		return fmt.Errorf("%w: payments.reconcile.interval: %v outside 10ms … 1h", ErrConfig, c.Interval)
	case d.MaxBackoff < d.Interval || d.MaxBackoff > 24*time.Hour:
		return fmt.Errorf("%w: payments.reconcile.max_backoff: %v outside interval (%v) … 24h", ErrConfig, c.MaxBackoff, d.Interval)
	}
	return nil
}

// ReconcileStore is what the Reconciler needs of the durable store;
// *store.Store has it.
type ReconcileStore interface {
	// Unresolved lists the payments in processing or unknown.
	Unresolved(ctx context.Context) ([]store.Payment, error)
	// CommitResult records a processor's answer with its audit entry.
	CommitResult(ctx context.Context, id string, r store.Result) (store.Payment, error)
}

// The store is what the gateway reconciles.
var _ ReconcileStore = (*store.Store)(nil)

// ReconcilerOption changes how NewReconciler builds a Reconciler.
type ReconcilerOption func(*Reconciler)

// WithReconcilePayments lets the Reconciler settle this process's own
// payments that a processor left without an answer (through
// Payment.Reconcile, so that the form, the event hook and the metrics
// learn the result), and keeps it off the ones whose charge is under way
// here. Without it every unresolved record is treated as a previous
// run's.
func WithReconcilePayments(ps *Payments) ReconcilerOption {
	return func(r *Reconciler) { r.ps = ps }
}

// DefaultProcessingGrace is how long a charge under way can keep a
// payment in processing: the processing timeout and the result's write.
// WithReconcileProcessingGrace uses it for a store several nodes share.
const DefaultProcessingGrace = DefaultProcessTimeout + storeTimeout

// WithReconcileProcessingGrace leaves a record in processing that is not
// this process's alone until it has not changed for d: with a store that
// several nodes share, another node may still be charging it, and asking
// then would race that node's own result. A processing record of a
// previous run is only orphaned once the grace has passed; a record in
// unknown (the charge ended without an answer) is asked about at once.
// Zero (the default) suits a store this process has to itself (SQLite).
func WithReconcileProcessingGrace(d time.Duration) ReconcilerOption {
	return func(r *Reconciler) { r.grace = d }
}

// WithReconcileLease makes the Reconciler ask about a stored payment only
// while lease(ctx, id) says this node holds its lease: with several nodes
// on one store, one node asks a processor about a payment at a time (a
// dead node's charge, above all). A payment whose lease another holds is
// looked at again later.
func WithReconcileLease(lease func(ctx context.Context, paymentID string) bool) ReconcilerOption {
	return func(r *Reconciler) { r.lease = lease }
}

// WithReconcileOwnerGone lets the Reconciler ask at once, without the
// processing grace, about a payment in processing whose node gone(ctx, id)
// says is dead: no charge of it can be under way any more.
func WithReconcileOwnerGone(gone func(ctx context.Context, paymentID string) bool) ReconcilerOption {
	return func(r *Reconciler) { r.gone = gone }
}

// ownerGone reports whether the node that was charging the payment is
// known to be dead.
func (r *Reconciler) ownerGone(ctx context.Context, id string) bool {
	return r.gone != nil && r.gone(ctx, id)
}

// WithReconcileClock sets the clock ages, NotFoundGrace and the retry
// times are judged by (nil: the Payments' clock, else time.Now). The
// waits themselves run on the time package's timers, which
// testing/synctest fakes.
func WithReconcileClock(now func() time.Time) ReconcilerOption {
	return func(r *Reconciler) { r.now = now }
}

// WithReconcileLogger sets the logger (nil: slog.Default()). Nothing
// logged holds card data: a record has none.
func WithReconcileLogger(l *slog.Logger) ReconcilerOption {
	return func(r *Reconciler) { r.log = l }
}

// Reconciler settles, in the background, the payments whose outcome is
// unknown: those a previous run of the process left in processing or
// unknown (it was killed while a processor had the card), and those a
// processor left without an answer in this run. It never charges: each
// payment's processor is asked by the payment's idempotency key
// (processor.Processor.Reconcile), and only its final answer is recorded.
//
// At most Concurrency payments are asked about at once. A payment still
// unresolved after an ask is asked again after Interval, then after twice
// as long each time, up to MaxBackoff; the store is looked at every
// Interval for payments that became unresolved. So a restart never waits
// for a processor: the listeners open first and Run works behind them.
//
// Unresolved and Oldest describe the payments it is responsible for, for
// the metrics. Safe for concurrent use; Run runs once.
type Reconciler struct {
	st    ReconcileStore
	procs map[string]processor.Processor
	ps    *Payments
	cfg   ReconcileConfig
	now   func() time.Time
	log   *slog.Logger
	grace time.Duration                                    // see WithReconcileProcessingGrace
	lease func(ctx context.Context, paymentID string) bool // see WithReconcileLease
	gone  func(ctx context.Context, paymentID string) bool // see WithReconcileOwnerGone

	// wake is poked when an ask ends, so that a free slot is used at
	// once and a settled payment leaves the figures.
	wake chan struct{}
	// running is set by the first Run, so that a second one refuses.
	running atomic.Bool

	mu       sync.Mutex
	inFlight map[string]bool
	retries  map[string]reconcileRetry
	// unresolved holds, by payment id, since when each payment the last
	// look found unresolved has been so (its record's last change).
	unresolved map[string]time.Time
	// settled are the payments settled since the store was last read:
	// the listing may hold them still, and they must not be asked again.
	settled map[string]bool
}

// reconcileRetry is when a payment is asked again, and how many asks it
// has had.
type reconcileRetry struct {
	asks int
	next time.Time
}

// NewReconciler returns a Reconciler of the unresolved payments in st,
// asking the processors in procs (by configured name). cfg's zero fields
// take their defaults; it must pass validation (Settings.Validate).
func NewReconciler(st ReconcileStore, procs map[string]processor.Processor, cfg ReconcileConfig, opts ...ReconcilerOption) (*Reconciler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Reconciler{
		st:         st,
		procs:      procs,
		cfg:        cfg.withDefaults(),
		wake:       make(chan struct{}, 1),
		inFlight:   make(map[string]bool),
		retries:    make(map[string]reconcileRetry),
		unresolved: make(map[string]time.Time),
		settled:    make(map[string]bool),
	}
	for _, o := range opts {
		o(r)
	}
	if r.now == nil && r.ps != nil {
		r.now = r.ps.now
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r, nil
}

// Unresolved returns how many payments the last look found unresolved
// (less those settled since) and since when the oldest has been so (zero
// with none). A charge under way in this process is not among them.
func (r *Reconciler) Unresolved() (n int, oldest time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, since := range r.unresolved {
		if oldest.IsZero() || since.Before(oldest) {
			oldest = since
		}
	}
	return len(r.unresolved), oldest
}

// OldestAge is how long the oldest unresolved payment has been so, by
// the Reconciler's clock (zero with none).
func (r *Reconciler) OldestAge() time.Duration {
	_, oldest := r.Unresolved()
	if oldest.IsZero() {
		return 0
	}
	return max(r.now().Sub(oldest), 0)
}

// Run settles unresolved payments until ctx ends, then waits for the
// asks under way (their processor calls end with ctx) and returns nil.
func (r *Reconciler) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("payment: Reconciler.Run is already running")
	}

	slots := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	var listed map[string]reconcileJob
	var listedAt time.Time
	for relist := true; ; {
		if relist || r.now().Sub(listedAt) >= r.cfg.Interval {
			// The store is read when a wait ends, or an Interval after
			// the last read, not after every ask: a backlog of n
			// payments costs n/Concurrency reads, not n.
			r.mu.Lock()
			clear(r.settled)
			r.mu.Unlock()
			listed, listedAt = r.jobs(ctx), r.now()
		}
		wait := r.pass(ctx, listed, slots, &wg)
		if ctx.Err() != nil {
			return nil
		}
		switch wake.Wait(ctx, wait, r.wake) {
		case wake.Done:
			return nil
		case wake.Woken:
			relist = false
		case wake.Elapsed:
			relist = true
		}
	}
}

// reconcileJob is one unresolved payment: a record of a previous run, or
// a payment of this process (p).
type reconcileJob struct {
	rec   store.Payment
	p     *Payment
	since time.Time
}

// pass goes through the unresolved payments the last look listed (jobs),
// starts an ask for each that is due while a slot is free, and returns how
// long to wait before the next look (a finished ask wakes Run sooner).
func (r *Reconciler) pass(ctx context.Context, jobs map[string]reconcileJob, slots chan struct{}, wg *sync.WaitGroup) time.Duration {
	now := r.now()
	wait := r.cfg.Interval

	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.settled {
		delete(jobs, id) // settled since the store was read
	}
	clear(r.unresolved)
	for id, j := range jobs {
		r.unresolved[id] = j.since
	}
	for id := range r.retries {
		if _, ok := jobs[id]; !ok && !r.inFlight[id] {
			delete(r.retries, id) // settled, by us or by its own Process
		}
	}
	for _, id := range sortedJobIDs(jobs) {
		if r.inFlight[id] {
			continue
		}
		if rt, ok := r.retries[id]; ok && rt.next.After(now) {
			wait = min(wait, rt.next.Sub(now))
			continue
		}
		if j := jobs[id]; j.p == nil && j.rec.State == store.StateProcessing && r.grace > 0 && !r.ownerGone(ctx, id) {
			if due := j.rec.UpdatedAt.Add(r.grace); due.After(now) {
				wait = min(wait, due.Sub(now))
				continue // perhaps another node's charge, under way
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			// Every slot is taken: a finished ask wakes Run.
			return wait
		}
		r.inFlight[id] = true
		j := jobs[id]
		wg.Go(func() {
			r.ask(ctx, id, j)
			// The slot is free before Run is woken, so that the pass it
			// wakes for can use it: woken first, Run could find every
			// slot still taken and wait a whole Interval.
			<-slots
			select {
			case r.wake <- struct{}{}:
			default:
			}
		})
	}
	return wait
}

// jobs lists the payments to settle, by id: the store's unresolved
// records, less the ones whose charge is under way in this process, plus
// this process's payments awaiting reconciliation or a record (also when
// the store does not answer).
func (r *Reconciler) jobs(ctx context.Context) map[string]reconcileJob {
	jobs := make(map[string]reconcileJob)
	lctx, cancel := context.WithTimeout(ctx, storeTimeout)
	recs, err := r.st.Unresolved(lctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		r.log.Warn("reconciling: the store did not list unresolved payments", "err", err)
	}
	for _, rec := range recs {
		j := reconcileJob{rec: rec, since: rec.UpdatedAt}
		if r.ps != nil && r.ps.chargingDigital(rec.ID) {
			continue // PayLink is asking the processor now
		}
		if r.ps != nil {
			if p := r.ps.Payment(rec.ID); p != nil {
				if !p.unsettled() {
					continue // its Process is asking the processor now
				}
				j.p = p
			}
		}
		jobs[rec.ID] = j
	}
	if r.ps != nil {
		for _, p := range r.ps.Unsettled() {
			if _, ok := jobs[p.id]; !ok {
				jobs[p.id] = reconcileJob{p: p, since: p.created}
			}
		}
	}
	return jobs
}

// ask asks about one payment and notes the outcome: settled, or when to
// ask again.
func (r *Reconciler) ask(ctx context.Context, id string, j reconcileJob) {
	var state string
	var err error
	if j.p != nil {
		var res Result
		res, err = j.p.Reconcile(ctx)
		switch {
		case err == nil:
			state = res.State.String()
		case errors.Is(err, ErrNotReconciling):
			state, err = j.p.State().String(), nil // settled meanwhile
		}
	} else if r.lease != nil && !r.lease(ctx, id) {
		// Another node asks about it now: not ours to ask.
		err = errLeasedElsewhere
	} else {
		var to store.State
		to, err = settleStored(ctx, r.st, r.procs, r.now, j.rec)
		state = string(to)
	}

	r.mu.Lock()
	delete(r.inFlight, id)
	if err == nil {
		delete(r.retries, id)
		delete(r.unresolved, id)
		r.settled[id] = true
	} else {
		rt := r.retries[id]
		rt.asks++
		rt.next = r.now().Add(r.backoff(rt.asks))
		r.retries[id] = rt
	}
	r.mu.Unlock()

	switch {
	case err == nil:
		r.log.Info("payment reconciled", "payment", id, "state", state)
	case ctx.Err() != nil:
	default:
		r.log.Info("payment still unresolved", "payment", id, "err", err)
	}
}

// backoff is the wait after the asks-th unanswered ask: Interval, doubled
// after each, at most MaxBackoff.
func (r *Reconciler) backoff(asks int) time.Duration {
	d := r.cfg.Interval
	for i := 1; i < asks && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.cfg.MaxBackoff)
}

// sortedJobIDs returns the ids, oldest unresolved first (then by id), so
// that the longest-waiting payment is asked first.
func sortedJobIDs(jobs map[string]reconcileJob) []string {
	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := jobs[a].since.Compare(jobs[b].since); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return ids
}

// Errors of settleStored.
var (
	// errStillUnresolved: the processor gave no final answer; ask again.
	errStillUnresolved = errors.New("payment: the processor has no final answer yet")
	// errLeasedElsewhere: another node holds the payment's lease.
	errLeasedElsewhere = errors.New("payment: another node is settling it")
	// errNotCommitted: the processor answered, the store refused the
	// result; ask again.
	errNotCommitted = errors.New("payment: the processor's answer was not recorded")
)

// settleStored asks rec's processor, by rec's idempotency key, what became
// of the charge, and commits a final answer with an audit entry. It
// returns the state committed; an error means the payment is still
// unresolved. "No such charge" settles it as failed once NotFoundGrace
// has passed since its last update, judged by now.
func settleStored(ctx context.Context, st ReconcileStore, procs map[string]processor.Processor, now func() time.Time, rec store.Payment) (store.State, error) {
	p := procs[rec.Processor]
	if p == nil || rec.IdempotencyKey == "" {
		return "", fmt.Errorf("%w: no processor %q configured to ask, or no idempotency key", errStillUnresolved, rec.Processor)
	}
	actx, cancel := context.WithTimeout(ctx, DefaultProcessTimeout)
	res, err := p.Reconcile(actx, rec.IdempotencyKey)
	cancel()
	var to store.State
	switch {
	case errors.Is(err, processor.ErrNotFound) && now().Sub(rec.UpdatedAt) >= NotFoundGrace:
		to = store.StateFailed
	case err != nil:
		return "", err
	case res.Status == processor.Approved:
		to = store.StateApproved
	case res.Status == processor.Declined:
		to = store.StateDeclined
	case res.Status == processor.Failed:
		to = store.StateFailed
	default:
		return "", errStillUnresolved
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	_, err = st.CommitResult(cctx, rec.ID, store.Result{
		From: rec.State, State: to, ProcessorReference: res.Reference, DeclineCode: res.DeclineCode, Token: savedToken(to, res.Token),
		Entry: store.Entry{Actor: store.ActorSystem, Action: "payment.reconciled", Detail: "settled by asking the processor"},
	})
	if errors.Is(err, store.ErrFinal) {
		return to, nil // settled by someone else meanwhile
	}
	if err != nil {
		return "", fmt.Errorf("%w: payment %s: %w", errNotCommitted, rec.ID, err)
	}
	return to, nil
}
