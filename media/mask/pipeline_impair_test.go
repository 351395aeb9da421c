package mask

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

// impair applies seeded network damage to a caller stream: 5% random loss,
// 3% duplicates, 3% of packets swapped with the next (reordering), and
// 0–15 ms of arrival jitter, then sorts by arrival.
func impair(pkts []hPkt, seed uint64, reorder bool) []hPkt {
	r := rand.New(rand.NewPCG(seed, 99))
	var out []hPkt
	for _, p := range pkts {
		if r.Float64() < 0.05 {
			continue
		}
		p.at = p.at.Add(time.Duration(r.IntN(15000)) * time.Microsecond)
		out = append(out, p)
		if r.Float64() < 0.03 {
			d := p
			d.at = d.at.Add(time.Millisecond)
			out = append(out, d)
		}
	}
	for i := 0; i+1 < len(out); i++ {
		if reorder && r.Float64() < 0.03 {
			out[i].at, out[i+1].at = out[i+1].at, out[i].at.Add(time.Microsecond)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

func TestPipelineUnderImpairments(t *testing.T) {
	ps, total := sixteenPresses(1600)
	for _, mode := range []struct {
		name string
		m    hMode
		mute bool
	}{{"events", modeEvents, false}, {"events muted", modeEvents, true}, {"inband", modeInband, false}, {"both", modeBoth, false}} {
		for seed := uint64(1); seed <= 6; seed++ {
			reorder := seed > 3
			sc := hScenario{Law: g711.Ulaw, Mode: mode.m, Presses: ps, Total: total, MuteEvents: mode.mute}
			q := NewJoiner(64)
			pkts := impair(sc.packets(), seed, reorder)
			_, sink := hRun(t, Config{Law: g711.Ulaw, AudioPT: hAudioPT, Presses: q}, pkts)
			for _, o := range sink.got {
				if isEventPacket(o) {
					t.Fatalf("%s seed %d: telephone-event packet out", mode.name, seed)
				}
			}
			agent := sink.agentPCM(g711.Ulaw)
			if keys := detectKeys(agent); len(keys) != 0 {
				t.Errorf("%s seed %d: our Detector finds %q in the agent's audio", mode.name, seed, string(keys))
			}
			if n, worst, at := dominantPairs(agent, maskRef(dtmf.DefaultMaskTone(), g711.Ulaw)); n != 0 {
				t.Errorf("%s seed %d: %d leaking windows (worst %.1f× at %d)", mode.name, seed, n, worst, at)
			}
			got := drain(q)
			var keys []dtmf.Key
			for _, g := range got {
				keys = append(keys, g.Key)
			}
			if !isSubsequence(keys, allKeys) {
				t.Errorf("%s seed %d: presses %q, want each of %q at most once, in order", mode.name, seed, string(keys), string(allKeys))
				continue
			}
			// A press may go missing only when it arrived as a tone alone
			// and the network took at least two of its packets, leaving
			// fragments shorter than Q.24's 40 ms in between.
			j := 0
			for i, k := range allKeys {
				if j < len(keys) && keys[j] == k {
					j++
					continue
				}
				if lost := tonePacketsLost(pkts, ps[i]); mode.m != modeInband || lost < 2 {
					t.Errorf("%s seed %d: press %d (%v) missed with %d of its packets lost", mode.name, seed, i, k, lost)
				} else {
					t.Logf("%s seed %d: press %d lost with %d of its tone packets", mode.name, seed, i, lost)
				}
			}
		}
	}
}

// tonePacketsLost counts the audio packets overlapping press p that never
// arrived.
func tonePacketsLost(pkts []hPkt, p hPress) int {
	first, last := p.Start/hFrame, (p.Start+p.Len-1)/hFrame
	seen := map[int]bool{}
	for _, x := range pkts {
		if x.header.PayloadType == hAudioPT {
			seen[int(x.header.Timestamp)/hFrame] = true
		}
	}
	lost := 0
	for f := first; f <= last; f++ {
		if !seen[f] {
			lost++
		}
	}
	return lost
}

// isSubsequence reports whether a appears in b in order, each key once.
func isSubsequence(a, b []dtmf.Key) bool {
	j := 0
	for _, k := range b {
		if j < len(a) && a[j] == k {
			j++
		}
	}
	return j == len(a)
}

// dominantPairs counts windows where some key's two frequencies stand out
// as a DTMF receiver needs them to: each above leakFloor and at least 6 dB
// above every other frequency of its group, and above what the mask tone
// alone puts there (+3 dB). Unlike leaks it ignores the broadband
// clicks that loss and reordering make when a mask tone is cut, which hold
// no digit.
func dominantPairs(pcm []int16, ref [8]float64) (n int, worst float64, at int) {
	for w, a := range pairAmps(pcm) {
		lo, hi := 0, 4
		for k := 0; k < 4; k++ {
			if a[k] > a[lo] {
				lo = k
			}
			if a[4+k] > a[hi] {
				hi = 4 + k
			}
		}
		dom := func(best, from int) bool {
			for k := from; k < from+4; k++ {
				if k != best && a[k]*2 > a[best] {
					return false
				}
			}
			return true
		}
		tl := max(leakFloor, ref[lo]*math.Sqrt2)
		th := max(leakFloor, ref[hi]*math.Sqrt2)
		if a[lo] > tl && a[hi] > th && dom(lo, 0) && dom(hi, 4) {
			n++
			if m := min(a[lo]/tl, a[hi]/th); m > worst {
				worst, at = m, w*hHop
			}
		}
	}
	return n, worst, at
}
