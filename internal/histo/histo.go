// Package histo is a fixed-bucket latency histogram for the hot path:
// one atomic counter per bucket, no lock, no allocation per observation.
// A producer owns its histograms (one per reactor, or one per process for
// rare events), so that threads do not share a histogram's cache lines;
// the metrics package reads them at scrape time (Snapshot) and merges the
// shards.
//
// It holds durations only: every histogram dtmfgw exports is in seconds
// (a latency, a jitter, a setup time), and an integer nanosecond sum
// needs no compare-and-swap loop, as a float64 sum would.
package histo

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// MaxBuckets bounds a histogram's bucket bounds: a scan over a few more
// than a dozen bounds costs less than a branchy binary search, and
// Prometheus dashboards rarely want more.
const MaxBuckets = 24

// ErrBounds is returned by New for unusable bucket bounds.
var ErrBounds = errors.New("histo: bucket bounds must be 1 to 24 increasing positive durations")

// cacheLine pads a histogram so that two histograms allocated side by
// side (two reactors') never share a cache line.
type cacheLine [64]byte

// Histogram counts durations into fixed buckets: counts[i] holds the
// observations d ≤ bounds[i] and > bounds[i-1]; the last counter holds
// those above every bound (Prometheus's +Inf bucket). Observe is safe from
// any number of goroutines, but it is meant for one writer per histogram
// (atomic adds on a line no other thread writes cost a few nanoseconds);
// Snapshot is safe from any goroutine at any time.
type Histogram struct {
	_      cacheLine
	bounds []time.Duration // read-only after New
	counts [MaxBuckets + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
	_      cacheLine
}

// New returns a histogram with the given bucket upper bounds, which must
// be positive and strictly increasing, at most MaxBuckets of them.
// The slice is copied.
func New(bounds ...time.Duration) (*Histogram, error) {
	if len(bounds) == 0 || len(bounds) > MaxBuckets {
		return nil, fmt.Errorf("%w: %d bounds", ErrBounds, len(bounds))
	}
	for i, b := range bounds {
		if b <= 0 || (i > 0 && b <= bounds[i-1]) {
			return nil, fmt.Errorf("%w: bound %d is %v", ErrBounds, i, b)
		}
	}
	return &Histogram{bounds: slices.Clone(bounds)}, nil
}

// Must is New for bounds fixed in the program: it panics on bad ones
// (a programming error, caught by any test that makes the histogram).
func Must(bounds ...time.Duration) *Histogram {
	h, err := New(bounds...)
	if err != nil {
		panic(err)
	}
	return h
}

// Observe counts one observation of d. A negative d (a clock stepped
// back) counts as zero.
func (h *Histogram) Observe(d time.Duration) { h.ObserveN(d, 1) }

// ObserveN counts n observations of d at once: a reactor that relayed n
// packets in one wake-up, all read at the same moment and sent by the
// same moment, records them with one clock read.
func (h *Histogram) ObserveN(d time.Duration, n uint64) {
	if n == 0 {
		return
	}
	d = max(d, 0)
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	h.counts[i].Add(n)
	h.sum.Add(int64(d) * int64(n))
}

// Bounds returns the bucket upper bounds (do not modify).
func (h *Histogram) Bounds() []time.Duration { return h.bounds }

// Snapshot is a plain copy of a histogram's counters.
type Snapshot struct {
	// Bounds are the buckets' upper bounds; Counts has one more element,
	// the observations above the last bound. Counts are per bucket, not
	// cumulative.
	Bounds []time.Duration
	Counts []uint64
	// Count is the sum of Counts, Sum the sum of the observations.
	Count uint64
	Sum   time.Duration
}

// Snapshot returns the histogram's counters. Each counter is exact when
// read; an observation made meanwhile may be in Sum and not yet in Count,
// or the reverse, which no dashboard can tell.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.bounds)+1)}
	h.AddTo(&s)
	return s
}

// AddTo adds the histogram's counters to s, which must be empty (zero) or
// hold a snapshot of a histogram with the same bounds: how a scrape merges
// the shards of one series without a snapshot of each.
func (h *Histogram) AddTo(s *Snapshot) {
	if s.Bounds == nil {
		s.Bounds = h.bounds
		s.Counts = make([]uint64, len(h.bounds)+1)
	}
	if len(s.Counts) != len(h.bounds)+1 {
		return // another layout: nothing sensible to add
	}
	for i := range s.Counts {
		n := h.counts[i].Load()
		s.Counts[i] += n
		s.Count += n
	}
	s.Sum += time.Duration(h.sum.Load())
}

// Merge adds o to s. Snapshots of different bounds are not merged: s is
// left as it was and Merge reports false.
func (s *Snapshot) Merge(o Snapshot) bool {
	if s.Bounds == nil {
		s.Bounds = o.Bounds
		s.Counts = make([]uint64, len(o.Counts))
	}
	if !slices.Equal(s.Bounds, o.Bounds) || len(s.Counts) != len(o.Counts) {
		return false
	}
	for i, n := range o.Counts {
		s.Counts[i] += n
	}
	s.Count += o.Count
	s.Sum += o.Sum
	return true
}

// Cumulative returns the cumulative count at each bound, in seconds, as a
// Prometheus histogram's buckets are (the +Inf bucket is Count).
func (s Snapshot) Cumulative() map[float64]uint64 {
	m := make(map[float64]uint64, len(s.Bounds))
	var acc uint64
	for i, b := range s.Bounds {
		if i < len(s.Counts) {
			acc += s.Counts[i]
		}
		m[b.Seconds()] = acc
	}
	return m
}
