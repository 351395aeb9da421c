package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/internal/outbound"
	"dtmfgw/internal/wake"
	"dtmfgw/payment"
	"dtmfgw/store"
)

// Internal timings of the dispatcher.
const (
	// pollEvery is the longest the dispatcher sleeps without looking at
	// the outbox: a safety net for deliveries another node enqueued, or
	// whose kick was missed.
	pollEvery = 30 * time.Second
	// leaseMargin is added to the attempt timeout for a claim's lease:
	// a claimed delivery is due again only if its process died.
	leaseMargin = time.Minute
	// pruneEvery is how often Run deletes old finished deliveries.
	pruneEvery = time.Hour
	// finishTimeout bounds recording an attempt's outcome.
	finishTimeout = 5 * time.Second
	// maxResponseRead is how much of a receiver's response body is read
	// (and discarded) so that the connection can be reused.
	maxResponseRead = 64 << 10
	// userAgent identifies the sender.
	userAgent = "dtmfgw-webhook/1"
)

// Stats are the dispatcher's counters since New. They never hold a
// payment's data. As Prometheus series (deploy/grafana):
// dtmfgw_webhook_deliveries_total{outcome="delivered"|"retry" (a failed attempt, retried)|"gave_up"}
// from Delivered, Failed and GaveUp.
type Stats struct {
	// Attempts counts POSTs made; Delivered those answered with a 2xx;
	// Failed those that were not (a retry follows); GaveUp deliveries
	// abandoned at max_age, or because their configuration has no
	// webhook any more.
	Attempts, Delivered, Failed, GaveUp uint64
	// ProgressEnqueued counts progress deliveries written to the outbox;
	// ProgressDropped progress events lost because the queue was full or
	// the outbox refused them (progress is best-effort).
	ProgressEnqueued, ProgressDropped uint64
}

// Option changes how New builds a Dispatcher.
type Option func(*Dispatcher)

// WithClock makes the dispatcher read the time (signatures, due times,
// backoff, max age) from now instead of time.Now. The per-attempt timeout
// runs on the real clock.
func WithClock(now func() time.Time) Option { return func(d *Dispatcher) { d.now = now } }

// WithLogger sets the logger (nil: slog.Default()). No body, URL or
// secret is ever logged.
func WithLogger(l *slog.Logger) Option { return func(d *Dispatcher) { d.log = l } }

// WithHTTPClient sets the client the POSTs go through (tests). Its
// redirect policy is replaced: a redirect is a failed attempt, never
// followed with a signed body to another place.
func WithHTTPClient(c *http.Client) Option { return func(d *Dispatcher) { d.client = c } }

// WithJitter replaces the random draw of a wait: j(max) must return a
// duration in [max/2, max] (tests make it predictable).
func WithJitter(j func(max time.Duration) time.Duration) Option {
	return func(d *Dispatcher) { d.jitter = j }
}

// Dispatcher delivers the webhook outbox: it claims due deliveries from
// the store, POSTs each, signed, to its configuration's webhook, and
// records the outcome: delivered on a 2xx, else retried with exponential
// backoff and jitter until the delivery is max_age old, then given up.
// It also turns payment events into progress deliveries (HandleEvent).
// Safe for concurrent use.
type Dispatcher struct {
	cfg    Config
	dir    *Directory
	st     *store.Store
	client *http.Client
	now    func() time.Time
	jitter func(time.Duration) time.Duration
	log    *slog.Logger

	progress chan progressEvent
	kick     chan struct{}
	running  atomic.Bool
	required requiredSent // the compatible format's Required, per payment

	attempts, delivered, failed, gaveUp atomic.Uint64
	progressEnqueued, progressDropped   atomic.Uint64
}

// progressEvent is a payment event waiting to become a delivery: its
// JSON Body, or, when form is not nil, that compatible callback.
type progressEvent struct {
	configID string
	e        payment.Event
	form     url.Values
}

// New returns a dispatcher for the outbox of st, delivering to the
// webhooks of dir. Give the store dir.Outbox (store.WithOutbox) so that
// results are enqueued, the payments payment.WithEventHook(d.HandleEvent)
// for progress and prompt delivery, and run Run.
func New(cfg Config, dir *Directory, st *store.Store, opts ...Option) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil || dir == nil {
		return nil, errors.New("webhook: New needs the store and the directory")
	}
	d := &Dispatcher{
		cfg: cfg, dir: dir, st: st,
		progress: make(chan progressEvent, cfg.ProgressQueue),
		kick:     make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(d)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.jitter == nil {
		d.jitter = equalJitter
	}
	d.client = outbound.Client(d.client)
	return d, nil
}

// equalJitter draws uniformly from [max/2, max]: waits still grow with
// every failure (the next one's lower bound is this one's upper bound),
// but senders that failed together do not retry together.
func equalJitter(max time.Duration) time.Duration {
	half := max / 2
	return half + rand.N(max-half+1)
}

// Backoff returns the wait after the attempt-th failed attempt (1 for the
// first) before its jitter: InitialBackoff doubled attempt-1 times,
// capped at MaxBackoff.
func (c Config) Backoff(attempt int) time.Duration {
	b := c.InitialBackoff
	for i := 1; i < attempt && b < c.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, c.MaxBackoff)
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{
		Attempts: d.attempts.Load(), Delivered: d.delivered.Load(), Failed: d.failed.Load(), GaveUp: d.gaveUp.Load(),
		ProgressEnqueued: d.progressEnqueued.Load(), ProgressDropped: d.progressDropped.Load(),
	}
}

// Pending counts the deliveries in the outbox neither delivered nor given
// up (a gauge: dtmfgw_webhook_pending). It asks the store; with several
// nodes on one database, it is the shared outbox's count.
func (d *Dispatcher) Pending(ctx context.Context) (int, error) { return d.st.PendingDeliveries(ctx) }

// HandleEvent is the payment.EventHook of the payments: a result wakes
// the dispatcher (its delivery is already in the outbox, committed with
// the result), and an event a configuration wants as progress is queued
// for the outbox (in the compatible format, as the callbacks it makes),
// or dropped and counted when the queue is full. It never blocks.
func (d *Dispatcher) HandleEvent(configID string, e payment.Event) {
	if e.Type == payment.EventResult && e.State.Final() {
		// payment.result reports it: no progress copy.
		d.required.forget(e.PaymentID)
		d.Kick()
		return
	}
	hook, ok := d.dir.Webhook(configID)
	if !ok {
		return
	}
	if hook.Compatible() {
		for _, form := range d.compatibleProgress(configID, hook, e) {
			d.queueProgress(progressEvent{configID, e, form})
		}
		return
	}
	if hook.SendsProgress(e.Type) {
		d.queueProgress(progressEvent{configID, e, nil})
	}
}

// queueProgress queues pe for the outbox, or drops and counts it when
// the queue is full.
func (d *Dispatcher) queueProgress(pe progressEvent) {
	select {
	case d.progress <- pe:
	default:
		d.progressDropped.Add(1)
	}
}

// Kick wakes Run to look at the outbox now.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: deliveries due now, then a sleep until the
// next is due (at most 30 s) or a kick. Deliveries left pending by an
// earlier run (a restart) are due at once. Attempts in flight when ctx
// ends are cancelled and recorded as due again, so that the next run
// sends them. It returns nil when ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.running.Swap(true) {
		return errors.New("webhook: Run is already running")
	}
	defer d.running.Store(false)
	var wg sync.WaitGroup
	wg.Go(func() { d.writeProgress(ctx) })
	defer wg.Wait()
	var pruned time.Time
	for {
		if now := d.now(); now.Sub(pruned) >= pruneEvery {
			d.prune(ctx, now)
			pruned = now
		}
		n, err := d.DeliverDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.log.Warn("webhook outbox", "err", err)
		}
		if err == nil && n >= d.cfg.Concurrency {
			continue // perhaps more are due
		}
		wait := pollEvery
		if err == nil {
			if next, ok, err := d.st.NextDeliveryDue(ctx); err == nil && ok {
				wait = min(wait, max(next.Sub(d.now()), 10*time.Millisecond))
			}
		}
		if wake.Wait(ctx, wait, d.kick) == wake.Done {
			return nil
		}
	}
}

// prune deletes the deliveries finished more than max_age ago: the
// outbox is a queue; the payment's record and audit trail are the
// history.
func (d *Dispatcher) prune(ctx context.Context, now time.Time) {
	n, err := d.st.PruneDeliveries(ctx, now.Add(-d.cfg.MaxAge))
	switch {
	case err != nil && ctx.Err() == nil:
		d.log.Warn("webhook outbox not pruned", "err", err)
	case n > 0:
		d.log.Debug("webhook outbox pruned", "deliveries", n)
	}
}

// writeProgress turns queued progress events into outbox deliveries
// until ctx ends.
func (d *Dispatcher) writeProgress(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case pe := <-d.progress:
			if err := d.enqueueProgress(ctx, pe); err != nil {
				d.progressDropped.Add(1)
				if ctx.Err() == nil {
					d.log.Warn("webhook progress not enqueued", "payment", pe.e.PaymentID, "config", pe.configID,
						"event", pe.e.Type.String(), "err", err)
				}
				continue
			}
			d.progressEnqueued.Add(1)
			d.Kick()
		}
	}
}

// enqueueProgress writes one progress delivery.
func (d *Dispatcher) enqueueProgress(ctx context.Context, pe progressEvent) error {
	e := pe.e
	id := store.NewDeliveryID()
	var b []byte
	if pe.form != nil {
		b = []byte(pe.form.Encode())
	} else {
		var err error
		b, err = json.Marshal(Body{ID: id, Type: EventProgress, Created: d.now().UTC(),
			Data: Data{Payment: Payment{ID: e.PaymentID, CallID: e.CallID, ConfigID: pe.configID}, Event: &e}})
		if err != nil {
			return err
		}
	}
	_, err := d.st.EnqueueDelivery(ctx, store.Delivery{ID: id, PaymentID: e.PaymentID, ConfigurationID: pe.configID,
		Event: EventProgress, Body: b})
	return err
}

// DeliverDue makes one round: it claims up to Concurrency deliveries due
// now, attempts them at once, records each outcome, and returns how many
// it attempted. Run calls it; tests call it with an injected clock.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	now := d.now()
	ds, err := d.st.ClaimDeliveries(ctx, now, d.cfg.Timeout+leaseMargin, d.cfg.Concurrency)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, del := range ds {
		wg.Go(func() { d.deliver(ctx, del) })
	}
	wg.Wait()
	return len(ds), nil
}

// deliver makes one attempt at del and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, del store.Delivery) {
	log := d.log.With("delivery", del.ID, "payment", del.PaymentID, "config", del.ConfigurationID,
		"event", del.Event, "attempt", del.Attempts)
	hook, ok := d.dir.Webhook(del.ConfigurationID)
	var status string
	var delivered bool
	if !ok {
		status = "no_webhook"
	} else {
		d.attempts.Add(1)
		status, delivered = d.post(ctx, hook, del)
	}
	at := d.now().UTC()
	o := store.Outcome{Status: status, Delivered: delivered, At: at}
	deadline := del.CreatedAt.Add(d.cfg.MaxAge)
	switch {
	case delivered:
		d.delivered.Add(1)
		log.Info("webhook delivered", "status", status)
	case !ok:
		o.GaveUp = true
		d.gaveUp.Add(1)
		log.Warn("webhook given up: the configuration has no webhook")
	case status == statusShutdown:
		// Not the receiver's fault: due again at once, on the next run.
		d.failed.Add(1)
		o.NextAttemptAt = at
	case !at.Before(deadline):
		o.GaveUp = true
		d.failed.Add(1)
		d.gaveUp.Add(1)
		log.Error("webhook given up", "status", status, "max_age", d.cfg.MaxAge.String())
	default:
		d.failed.Add(1)
		wait := d.jitter(d.cfg.Backoff(del.Attempts))
		o.NextAttemptAt = at.Add(wait)
		if o.NextAttemptAt.After(deadline) {
			o.NextAttemptAt = deadline // one last try at max_age
		}
		log.Warn("webhook attempt failed", "status", status, "retry_in", o.NextAttemptAt.Sub(at).String())
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := d.st.FinishDelivery(fctx, del.ID, del.Attempts, o); err != nil {
		// The lease runs out and the delivery is tried again: at least
		// once, never lost.
		log.Error("webhook outcome not recorded", "err", err)
	}
}

// statusShutdown is the status of an attempt cut short by Run's end.
const statusShutdown = "shutdown"

// post sends del to hook and returns the attempt's status and whether the
// receiver took it.
func (d *Dispatcher) post(ctx context.Context, hook payment.WebhookConfig, del store.Delivery) (string, bool) {
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, hook.URL, bytes.NewReader(del.Body))
	if err != nil {
		return "bad_request", false
	}
	req.Header.Set("Content-Type", contentType(del.Body))
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(SignatureHeader, Sign(hook.Secret.Reveal(), d.now(), del.Body))
	req.Header.Set(DeliveryHeader, del.ID)
	req.Header.Set(EventHeader, del.Event)
	resp, err := d.client.Do(req)
	if err != nil {
		return errorStatus(ctx, actx, err), false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode), resp.StatusCode >= 200 && resp.StatusCode <= 299
}

// errorStatus names a failed request's cause without its text, which
// holds the URL (and so any token in its query).
func errorStatus(ctx, actx context.Context, err error) string {
	var ne net.Error
	var oe *net.OpError
	switch {
	case ctx.Err() != nil:
		return statusShutdown
	case errors.Is(actx.Err(), context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &oe) && oe.Op == "dial":
		return "connect_error"
	}
	return "transport_error"
}
