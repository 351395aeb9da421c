package payment

import (
	"sync/atomic"
	"time"

	"dtmfgw/internal/histo"
	"dtmfgw/processor"
)

// ProcessorBuckets are the bucket bounds of the processor request
// duration: a PSP answers in a few hundred milliseconds; past
// DefaultProcessTimeout (30 s) the outcome is unknown.
var ProcessorBuckets = []time.Duration{
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second,
}

// PressEventBuckets are the bucket bounds of the press-to-event latency:
// from a press being told to its progress event being published to the
// payment's subscribers (the agent form's dot).
var PressEventBuckets = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
}

// PaymentOutcomes are the processor request outcomes
// processor_request_duration_seconds is labelled with, indexed by
// processor.Status: unknown, approved, declined, and error (a Failed
// status: nothing charged, for a reason other than the card).
var PaymentOutcomes = [...]string{processor.Unknown: "unknown", processor.Approved: "approved",
	processor.Declined: "declined", processor.Failed: "error"}

// Metrics is what the metrics package reads from Payments.
type Metrics struct {
	// Results counts payments entering each state that ends a payment or
	// awaits reconciliation. A payment that was reconciling is counted
	// there and again under the state reconciling settled it to.
	Results map[State]uint64
	// Processor holds each configured processor's request durations
	// (charges and reconciliations) by outcome (PaymentOutcomes' index).
	Processor map[string][len(PaymentOutcomes)]histo.Snapshot
	// PressEvent is the latency from a press being told (dtmf.Press.Decided)
	// to its progress event being published.
	PressEvent histo.Snapshot
	// Links counts digital payments' links entering each state.
	Links map[LinkState]uint64
	// SMS counts the link messages by delivery state (queued, sent,
	// failed) as the SMS sender reports them.
	SMS map[string]uint64
}

// SMSStates are the delivery states Metrics.SMS counts.
var SMSStates = []string{"queued", "sent", "failed"}

// paymentsMetrics is the part of Payments that metrics read.
type paymentsMetrics struct {
	results    [StateReconciling + 1]atomic.Uint64
	processor  map[string]*[len(PaymentOutcomes)]*histo.Histogram // read-only after NewPayments
	pressEvent *histo.Histogram
	links      [numLinkStates]atomic.Uint64
	sms        [3]atomic.Uint64 // by SMSStates' index
}

// init makes the histograms, one set per processor.
func (pm *paymentsMetrics) init(procs map[string]processor.Processor) {
	pm.processor = make(map[string]*[len(PaymentOutcomes)]*histo.Histogram, len(procs))
	pm.pressEvent = histo.Must(PressEventBuckets...)
	for name := range procs {
		var hs [len(PaymentOutcomes)]*histo.Histogram
		for i := range hs {
			hs[i] = histo.Must(ProcessorBuckets...)
		}
		pm.processor[name] = &hs
	}
}

// noteState counts a payment entering s, if s is a result.
func (ps *Payments) noteState(s State) {
	if (s.Final() || s == StateReconciling) && int(s) < len(ps.metrics.results) {
		ps.metrics.results[s].Add(1)
	}
}

// noteLink counts a link entering s.
func (ps *Payments) noteLink(s LinkState) {
	if s > 0 && s < numLinkStates {
		ps.metrics.links[s].Add(1)
	}
}

// noteSMS counts a message reaching a delivery state.
func (ps *Payments) noteSMS(state string) {
	for i, s := range SMSStates {
		if s == state {
			ps.metrics.sms[i].Add(1)
		}
	}
}

// noteProcessor records one processor request of d with the status it
// gave.
func (ps *Payments) noteProcessor(name string, st processor.Status, d time.Duration) {
	if hs := ps.metrics.processor[name]; hs != nil && int(st) < len(hs) {
		hs[st].Observe(d)
	}
}

// Metrics returns the counters and histograms the metrics package
// exports.
func (ps *Payments) Metrics() Metrics {
	pm := Metrics{Results: make(map[State]uint64),
		Processor:  make(map[string][len(PaymentOutcomes)]histo.Snapshot, len(ps.metrics.processor)),
		PressEvent: ps.metrics.pressEvent.Snapshot()}
	for s := range ps.metrics.results {
		if st := State(s); st.Final() || st == StateReconciling {
			pm.Results[st] = ps.metrics.results[s].Load()
		}
	}
	pm.Links, pm.SMS = make(map[LinkState]uint64), make(map[string]uint64)
	for s := LinkCreated; s < numLinkStates; s++ {
		pm.Links[s] = ps.metrics.links[s].Load()
	}
	for i, s := range SMSStates {
		pm.SMS[s] = ps.metrics.sms[i].Load()
	}
	for name, hs := range ps.metrics.processor {
		var snaps [len(PaymentOutcomes)]histo.Snapshot
		for i, h := range hs {
			snaps[i] = h.Snapshot()
		}
		pm.Processor[name] = snaps
	}
	return pm
}
