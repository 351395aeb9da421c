//go:build linux

package main

import (
	"testing"
	"time"
)

// The interleaved plan warms every target in turn, then hands the load
// round them in back-to-back turns; each target is measured for the
// requested time in whole windows, each window inside one of its own
// turns, clear of the turn's unmeasured head and tail.
func TestInterleavedPlan(t *testing.T) {
	p, measured, err := interleavedPlan(3, time.Second, 2500*time.Millisecond, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// 2.5 s in 1 s windows rounds to 3 windows (half a window up).
	if measured != 3*time.Second {
		t.Fatalf("measured %v, want 3s", measured)
	}
	turn := settleTime + time.Second + tailTime
	if want := 3*time.Second + 9*turn; p.end() != want {
		t.Fatalf("plan ends at %v, want %v", p.end(), want)
	}
	at := time.Duration(0)
	for i, tu := range p.turns {
		if tu.from != at || tu.to <= tu.from {
			t.Fatalf("turn %d %+v does not follow on at %v", i, tu, at)
		}
		at = tu.to
	}
	for tg, spans := range p.measured {
		if len(spans) != 3 {
			t.Fatalf("target %d measured in %d windows, want 3", tg, len(spans))
		}
		var sum time.Duration
		for _, s := range spans {
			sum += s.to - s.from
			if p.active(s.from) != tg || p.active(s.to-1) != tg {
				t.Fatalf("target %d's window %+v is not inside its own turn", tg, s)
			}
			if p.active(s.from-settleTime) != tg || p.active(s.to+tailTime-1) != tg {
				t.Fatalf("target %d's window %+v lacks its unmeasured head or tail", tg, s)
			}
		}
		if sum != measured {
			t.Fatalf("target %d measured %v in all, want %v", tg, sum, measured)
		}
	}
	// Warm-up first, one target after another, unmeasured.
	for tg := range 3 {
		mid := time.Duration(tg)*time.Second + time.Second/2
		if p.active(mid) != tg || holds(p.measured[tg], mid) {
			t.Fatalf("at %v: target %d should be warming up, unmeasured", mid, tg)
		}
	}
	// Consecutive windows of one target are a whole round of turns apart.
	if gap := p.measured[0][1].from - p.measured[0][0].from; gap != 3*turn {
		t.Fatalf("target 0's windows %v apart, want %v", gap, 3*turn)
	}
	if p.active(p.end()) != -1 || p.active(-1) != -1 {
		t.Fatal("a target is active outside the plan")
	}
	if _, _, err := interleavedPlan(0, 0, time.Second, time.Second); err == nil {
		t.Fatal("a plan with no targets was made")
	}
}

func TestSinglePlan(t *testing.T) {
	p := singlePlan(time.Second, 5*time.Second)
	if p.end() != 6*time.Second || p.active(0) != 0 || p.active(6*time.Second) != -1 {
		t.Fatalf("single plan %+v", p)
	}
	if !holds(p.measured[0], time.Second) || holds(p.measured[0], time.Second-1) || holds(p.measured[0], 6*time.Second) {
		t.Fatalf("single plan measures %+v, want [1s, 6s)", p.measured[0])
	}
}

func TestSplitPorts(t *testing.T) {
	got, err := splitPorts("20000-39999", 4, 4000)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"20000-24999", "25000-29999", "30000-34999", "35000-39999"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// Each part whole RTP/RTCP pairs: an even count.
	if got, err := splitPorts("20000-20010", 2, 4); err != nil || got[0] != "20000-20003" || got[1] != "20004-20007" {
		t.Fatalf("odd share: %v, %v", got, err)
	}
	for _, bad := range []struct {
		ports       string
		parts, need int
	}{
		{"20000-29999", 4, 4000}, // 2500 each: too few for 1000 calls
		{"29999-20000", 1, 4},
		{"20000", 1, 4},
		{"20000-70000", 1, 4},
	} {
		if _, err := splitPorts(bad.ports, bad.parts, bad.need); err == nil {
			t.Errorf("splitPorts(%q, %d, %d) gave no error", bad.ports, bad.parts, bad.need)
		}
	}
	if got, err := splitPorts("20000-29999", 0, 4000); err != nil || len(got) != 0 {
		t.Fatalf("no relaying modes: %v, %v", got, err)
	}
}
