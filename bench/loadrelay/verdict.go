package main

import (
	"slices"
	"time"
)

// What a mode must hold at a load for the load to count as sustained.
const (
	// maxLoss is the largest share of packets lost, each direction.
	maxLoss = 0.001
	// maxP99 is the largest p99 latency, each direction, caller→agent
	// beyond the look-ahead.
	maxP99 = 20 * time.Millisecond
)

// loadFigures are a mode's figures at one call count, every round pooled.
type loadFigures struct {
	calls            int
	lossUp, lossDown float64
	p99Up, p99Down   time.Duration // up: beyond the look-ahead
	// genBehind: the generator fell behind its schedule for more than
	// maxLate of the time it drove the mode, so the load was not offered
	// in full and its figures do not say what the relay sustains.
	genBehind bool
}

// maxLate is the largest share of pacing slots the generator may skip
// for a load to count: the same bound as the loss.
const maxLate = maxLoss

// sustained reports whether the load was offered in full and met both
// bounds in both directions.
func (f loadFigures) sustained() bool {
	return !f.genBehind && f.lossUp <= maxLoss && f.lossDown <= maxLoss && f.p99Up <= maxP99 && f.p99Down <= maxP99
}

// sustainable returns a mode's sustainable calls, the highest load tried
// that it sustained (0 if none), and the loads below that it did not
// sustain (a machine's disturbance, or a relay that recovers: the report
// says so rather than hide it).
func sustainable(points []loadFigures) (calls int, failedBelow []int) {
	for _, p := range points {
		if p.sustained() && p.calls > calls {
			calls = p.calls
		}
	}
	for _, p := range points {
		if !p.sustained() && p.calls < calls {
			failedBelow = append(failedBelow, p.calls)
		}
	}
	slices.Sort(failedBelow)
	return calls, slices.Compact(failedBelow)
}
