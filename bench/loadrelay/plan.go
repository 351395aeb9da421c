package main

import (
	"fmt"
	"time"
)

// A run's plan: when the generator drives which relaying child, and which
// parts of those turns are measured.
//
// Interleaving: on this shared 2-core VM the machine itself drifts (host
// steal, a neighbour's cache traffic) over seconds, and a whole run of
// one mode after a whole run of another compares two stretches of that
// drift, not two relays. With every mode's child started at once and the
// load handed from one to the next every second, each mode is measured
// in many short windows spread over the same stretch of time, so a
// disturbance falls on all of them alike.
const (
	// settleTime opens each turn unmeasured: the child's state has gone
	// cold in the caches while the others ran.
	settleTime = 200 * time.Millisecond
	// tailTime closes each turn unmeasured: with a look-ahead, the last
	// packets of a turn are released only by the next turn's packets
	// (seconds later), so a packet released in the window must be sent
	// at least a look-ahead (≤ 40 ms) before the turn ends.
	tailTime = 100 * time.Millisecond
)

// span is a stretch of a run, as offsets from its start.
type span struct{ from, to time.Duration }

// turn is a stretch during which the generator drives one target.
type turn struct {
	target int
	span
}

// plan says when the generator drives which target (the run's children,
// by index) and when each target is measured.
type plan struct {
	turns    []turn   // in time order, back to back from 0
	measured [][]span // by target, in time order, each inside one of its turns
}

// end is when the last turn ends.
func (p *plan) end() time.Duration {
	if len(p.turns) == 0 {
		return 0
	}
	return p.turns[len(p.turns)-1].to
}

// active returns the target driven at t, or -1 outside every turn.
func (p *plan) active(t time.Duration) int {
	for _, tu := range p.turns {
		if t >= tu.from && t < tu.to {
			return tu.target
		}
	}
	return -1
}

// holds reports whether t falls in one of spans.
func holds(spans []span, t time.Duration) bool { return spanAt(spans, t) >= 0 }

// spanAt returns the index of the span t falls in, or -1.
func spanAt(spans []span, t time.Duration) int {
	for i, s := range spans {
		if t >= s.from && t < s.to {
			return i
		}
	}
	return -1
}

// singlePlan drives one target for warmup, then measures it for measure.
func singlePlan(warmup, measure time.Duration) plan {
	return plan{
		turns:    []turn{{0, span{0, warmup + measure}}},
		measured: [][]span{{{warmup, warmup + measure}}},
	}
}

// interleavedPlan drives each of targets for warmup in turn, then hands
// the load round the targets in turns of settleTime + window + tailTime,
// each turn measuring its window, until every target has had measure
// (rounded to whole windows, at least one). It returns the measured time
// per target.
func interleavedPlan(targets int, warmup, measure, window time.Duration) (plan, time.Duration, error) {
	if targets < 1 || window <= 0 {
		return plan{}, 0, fmt.Errorf("interleaving needs targets and a window")
	}
	windows := max(int((measure+window/2)/window), 1)
	p := plan{measured: make([][]span, targets)}
	at := time.Duration(0)
	for tg := range targets {
		p.turns = append(p.turns, turn{tg, span{at, at + warmup}})
		at += warmup
	}
	for range windows {
		for tg := range targets {
			p.turns = append(p.turns, turn{tg, span{at, at + settleTime + window + tailTime}})
			p.measured[tg] = append(p.measured[tg], span{at + settleTime, at + settleTime + window})
			at += settleTime + window + tailTime
		}
	}
	return p, time.Duration(windows) * window, nil
}
