// Package metrics exports dtmfgw's Prometheus metrics and serves the admin
// listener: /metrics, /healthz, /readyz and /debug/pprof/.
//
// Everything is on a private registry (Registry), never the global one,
// with the dtmfgw_ prefix and units in the names. The media hot path does
// no Prometheus work at all: the counters media and call already keep
// per leg and per call are read at scrape time by custom collectors (the
// live calls' counters plus the ended calls' running totals kept by
// call.Manager), and the latency histograms the hot path feeds are
// internal/histo histograms owned by their producers (one per reactor),
// exported as constant histograms. Every label is a bounded enum: no call
// id, number, address or digit ever becomes a label value.
//
// Only the gateway imports metrics; the packages it reads (call, payment,
// sip, store, processor) know nothing of it, and the api and webhook figures
// come in through registration functions that take plain funcs.
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"dtmfgw/internal/histo"
)

// Namespace prefixes every dtmfgw series.
const Namespace = "dtmfgw"

// Registry is dtmfgw's private Prometheus registry: the Go runtime and
// process collectors, dtmfgw_build_info, and whatever the Add* and
// registration methods put in. Safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry
}

// New returns a registry with the Go and process collectors and
// dtmfgw_build_info{version,goversion} = 1.
func New(version string) *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   Namespace,
		Name:        "build_info",
		Help:        "The dtmfgw build running: always 1, labelled with its version and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	info.Set(1)
	reg.MustRegister(info)
	return &Registry{reg: reg}
}

// Gatherer returns the registry for scraping (and tests).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the registry in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// register adds c, reporting a clash (a series registered twice) as an
// error rather than a panic.
func (r *Registry) register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return fmt.Errorf("metrics: already registered: %w", err)
		}
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// SSESubscribers registers dtmfgw_sse_subscribers, read from f at scrape
// time: the agent forms' event streams open now (the api package's
// figure, wired in main).
func (r *Registry) SSESubscribers(f func() float64) error {
	return r.gaugeFunc("sse_subscribers", "Server-sent event streams (agent forms and API clients) open now.", f)
}

// WebhookPending registers dtmfgw_webhook_pending, read from f at scrape
// time: webhook deliveries queued or waiting for a retry.
func (r *Registry) WebhookPending(f func() float64) error {
	return r.gaugeFunc("webhook_pending", "Webhook deliveries queued or waiting for a retry.", f)
}

// PaymentsUnresolved registers dtmfgw_payments_unresolved and
// dtmfgw_payments_unresolved_oldest_age_seconds, read from f at scrape
// time: how many payments await the processor's answer (a previous run
// left them, or the processor did not answer in time; a charge under way
// is not counted) and how long the oldest has waited since its record
// last changed (0 with none).
func (r *Registry) PaymentsUnresolved(f func() (n int, oldestAge time.Duration)) error {
	count := newDesc("payments_unresolved",
		"Payments whose outcome the processor has not told yet (charges a crash or a timeout left open), being reconciled in the background.")
	age := newDesc("payments_unresolved_oldest_age_seconds",
		"How long the oldest unresolved payment has been waiting for the processor's answer, since its record last changed (0 with none).")
	return r.register(collectorFunc{desc: []*prometheus.Desc{count, age}, collect: func(ch chan<- prometheus.Metric) {
		n, oldest := f()
		ch <- prometheus.MustNewConstMetric(count, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(age, prometheus.GaugeValue, oldest.Seconds())
	}})
}

// WebhookOutcomes are the outcome label values of
// dtmfgw_webhook_deliveries_total.
var WebhookOutcomes = []string{"delivered", "retry", "gave_up"}

// WebhookDeliveries registers dtmfgw_webhook_deliveries_total{outcome},
// read from f at scrape time: deliveries acknowledged by the receiver,
// attempts that failed and will be retried, and deliveries given up after
// the last retry. f's figures must only grow.
func (r *Registry) WebhookDeliveries(f func() (delivered, retry, gaveUp uint64)) error {
	desc := prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "webhook_deliveries_total"),
		"Webhook delivery attempts by outcome: delivered, retry (failed, will be retried), gave_up (failed for the last time).",
		[]string{"outcome"}, nil)
	return r.register(collectorFunc{desc: []*prometheus.Desc{desc}, collect: func(ch chan<- prometheus.Metric) {
		d, rt, g := f()
		for i, n := range []uint64{d, rt, g} {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n), WebhookOutcomes[i])
		}
	}})
}

// TLSListeners are the listener label values of
// dtmfgw_tls_certificate_expiry_timestamp_seconds: the public HTTPS
// listener and SIP over TLS.
var TLSListeners = []string{"http", "sip"}

// TLSCertificateExpiry registers
// dtmfgw_tls_certificate_expiry_timestamp_seconds{listener}, read from f
// at scrape time: when the certificate each TLS listener serves now
// expires (its NotAfter; f gives it by TLSListeners index, the zero time
// for a listener without TLS, which then has no series). A renewal that
// SIGHUP loaded shows at the next scrape, so an alert on
// "expiry − time() < 14 days" catches a renewal that never reached
// dtmfgw, not only one that never happened.
func (r *Registry) TLSCertificateExpiry(f func() [2]time.Time) error {
	desc := prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "tls_certificate_expiry_timestamp_seconds"),
		"When the certificate a TLS listener serves expires (its NotAfter), as a Unix time.",
		[]string{"listener"}, nil)
	return r.register(collectorFunc{desc: []*prometheus.Desc{desc}, collect: func(ch chan<- prometheus.Metric) {
		for i, at := range f() {
			if !at.IsZero() {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(at.Unix()), TLSListeners[i])
			}
		}
	}})
}

func (r *Registry) gaugeFunc(name, help string, f func() float64) error {
	return r.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, f))
}

// collectorFunc is a collector of fixed descriptions whose metrics are
// made at scrape time.
type collectorFunc struct {
	desc    []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { describe(ch, c.desc...) }

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// describe sends a collector's fixed descriptions, as its Describe must.
func describe(ch chan<- *prometheus.Desc, descs ...*prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

// newDesc builds a description of a dtmfgw series.
func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

// constHistogram turns a histo snapshot into a constant histogram in
// seconds.
func constHistogram(d *prometheus.Desc, s histo.Snapshot, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstHistogram(d, s.Count, s.Sum.Seconds(), s.Cumulative(), labels...)
}

// ClusterNodes registers dtmfgw_cluster_nodes, read from f at scrape time:
// the nodes sharing the store, alive and dead, as this node sees them
// (NaN when the store cannot be read).
func (r *Registry) ClusterNodes(f func() (alive, dead float64)) error {
	d := newDesc("cluster_nodes", "The nodes sharing the store by state (alive, dead), as this node sees their heartbeats.", "state")
	return r.register(collectorFunc{desc: []*prometheus.Desc{d}, collect: func(ch chan<- prometheus.Metric) {
		alive, dead := f()
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, alive, "alive")
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, dead, "dead")
	}})
}

// ClusterEventsDropped registers dtmfgw_cluster_events_dropped_total, read
// from f: payment events the shared event log could not keep up with
// (a stream resuming on another node would miss them).
func (r *Registry) ClusterEventsDropped(f func() uint64) error {
	d := newDesc("cluster_events_dropped_total", "Payment events the shared event log could not keep up with and dropped.")
	return r.register(collectorFunc{desc: []*prometheus.Desc{d}, collect: func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(f()))
	}})
}
