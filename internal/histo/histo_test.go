package histo

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestNewRejectsBadBounds(t *testing.T) {
	tooMany := make([]time.Duration, MaxBuckets+1)
	for i := range tooMany {
		tooMany[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		name   string
		bounds []time.Duration
	}{
		{"none", nil},
		{"too many", tooMany},
		{"zero", []time.Duration{0, time.Second}},
		{"negative", []time.Duration{-time.Second}},
		{"equal", []time.Duration{time.Second, time.Second}},
		{"decreasing", []time.Duration{2 * time.Second, time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.bounds...); !errors.Is(err, ErrBounds) {
				t.Fatalf("New(%v) = %v, want ErrBounds", tc.bounds, err)
			}
		})
	}
}

func TestObserveBuckets(t *testing.T) {
	h := Must(time.Millisecond, 10*time.Millisecond, 100*time.Millisecond)
	for _, tc := range []struct {
		d      time.Duration
		n      uint64
		bucket int
	}{
		{0, 1, 0},
		{-time.Second, 1, 0}, // a clock stepped back counts as zero
		{time.Millisecond, 1, 0},
		{time.Millisecond + 1, 2, 1},
		{10 * time.Millisecond, 1, 1},
		{50 * time.Millisecond, 3, 2},
		{time.Second, 1, 3},
		{time.Second, 0, 3}, // ObserveN of nothing
	} {
		before := h.Snapshot()
		h.ObserveN(tc.d, tc.n)
		after := h.Snapshot()
		if got := after.Counts[tc.bucket] - before.Counts[tc.bucket]; got != tc.n {
			t.Errorf("ObserveN(%v, %d): bucket %d grew by %d", tc.d, tc.n, tc.bucket, got)
		}
		if got := after.Count - before.Count; got != tc.n {
			t.Errorf("ObserveN(%v, %d): count grew by %d", tc.d, tc.n, got)
		}
		if got, want := after.Sum-before.Sum, max(tc.d, 0)*time.Duration(tc.n); got != want {
			t.Errorf("ObserveN(%v, %d): sum grew by %v, want %v", tc.d, tc.n, got, want)
		}
	}
	cum := h.Snapshot().Cumulative()
	want := map[float64]uint64{0.001: 3, 0.01: 6, 0.1: 9}
	for b, n := range want {
		if cum[b] != n {
			t.Errorf("cumulative at %v = %d, want %d", b, cum[b], n)
		}
	}
	if s := h.Snapshot(); s.Count != 10 {
		t.Errorf("count %d, want 10 (+Inf included)", s.Count)
	}
}

func TestMergeAndAddTo(t *testing.T) {
	a, b := Must(time.Millisecond, time.Second), Must(time.Millisecond, time.Second)
	other := Must(time.Second)
	a.Observe(time.Microsecond)
	b.Observe(2 * time.Second)
	b.Observe(time.Microsecond)
	var s Snapshot
	a.AddTo(&s)
	b.AddTo(&s)
	if s.Count != 3 || s.Counts[0] != 2 || s.Counts[2] != 1 || s.Sum != 2*time.Second+2*time.Microsecond {
		t.Fatalf("AddTo merged %+v", s)
	}
	m := a.Snapshot()
	if !m.Merge(b.Snapshot()) || m.Count != 3 {
		t.Fatalf("Merge: %+v", m)
	}
	if m.Merge(other.Snapshot()) {
		t.Fatal("Merge of other bounds accepted")
	}
	before := s
	other.AddTo(&s)
	if s.Count != before.Count {
		t.Fatal("AddTo of other bounds changed the snapshot")
	}
}

func TestConcurrentObserve(t *testing.T) {
	h := Must(time.Millisecond)
	const writers, each = 4, 1000
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				h.Observe(time.Microsecond)
			}
		})
	}
	for range 10 {
		_ = h.Snapshot() // readers race with writers, never block them
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != writers*each {
		t.Fatalf("count %d, want %d", s.Count, writers*each)
	}
}

func TestObserveAllocatesNothing(t *testing.T) {
	h := Must(time.Millisecond, time.Second)
	if n := testing.AllocsPerRun(100, func() { h.ObserveN(time.Microsecond, 3) }); n != 0 {
		t.Fatalf("%v allocations per observation", n)
	}
}

// BenchmarkObserve is the hot path's cost of one observation into a
// 12-bucket histogram (the relay latency's layout), in the last bucket
// but one: the longest scan a usual observation takes.
func BenchmarkObserve(b *testing.B) {
	h := Must(25*time.Microsecond, 50*time.Microsecond, 100*time.Microsecond, 250*time.Microsecond,
		500*time.Microsecond, time.Millisecond, 2500*time.Microsecond, 5*time.Millisecond,
		10*time.Millisecond, 25*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		h.ObserveN(60*time.Millisecond, 2)
	}
}
