package dtmfcorpus

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"dtmfgw/dtmf"
)

// Margin is how far past a Q.24 must-detect limit a detector still detects,
// measured by stepping one parameter outward for every key until the first
// case that is not detected exactly once.
type Margin struct {
	// Parameter names what was stepped, Detect and Reject the Q.24 limits.
	Parameter, Detect, Reject string
	// Worst and Best are the boundaries over the sixteen keys: the last
	// value detected before the first miss, formatted with its unit.
	// "none" means the first value already failed, "beyond X" that every
	// value up to X passed.
	Worst, Best string
}

// marginSweep steps one parameter from a must-detect value outward.
type marginSweep struct {
	parameter, detect, reject, unit string
	values                          []float64
	build                           func(k dtmf.Key, v float64) q24Spec
}

func steps(from, to, step float64) []float64 {
	var out []float64
	n := int((to-from)/step + 0.5)
	for i := 0; i <= n; i++ {
		out = append(out, from+float64(i)*step)
	}
	return out
}

func marginSweeps() []marginSweep {
	one := func(mod func(*dtmf.ToneSpec, float64)) func(dtmf.Key, float64) q24Spec {
		return func(k dtmf.Key, v float64) q24Spec {
			s := spec(k)
			mod(&s, v)
			return single("margin", MustDetect, s)
		}
	}
	return []marginSweep{
		{"low tone above nominal", "+1.5%", "+3.5%", "%", steps(1.5, 4, 0.1), one(func(s *dtmf.ToneSpec, v float64) { s.LowOffset = v / 100 })},
		{"low tone below nominal", "−1.5%", "−3.5%", "%", steps(-1.5, -4, -0.1), one(func(s *dtmf.ToneSpec, v float64) { s.LowOffset = v / 100 })},
		{"high tone above nominal", "+1.5%", "+3.5%", "%", steps(1.5, 4, 0.1), one(func(s *dtmf.ToneSpec, v float64) { s.HighOffset = v / 100 })},
		{"high tone below nominal", "−1.5%", "−3.5%", "%", steps(-1.5, -4, -0.1), one(func(s *dtmf.ToneSpec, v float64) { s.HighOffset = v / 100 })},
		{"level per tone", "−25 dBm0", "−55 dBm0", " dBm0", steps(-25, -55, -1), one(func(s *dtmf.ToneSpec, v float64) { s.LevelDBm0 = v })},
		{"twist, high group weaker", "−8 dB", "−12 dB", " dB", steps(-8, -14, -0.5), one(func(s *dtmf.ToneSpec, v float64) { s.LevelDBm0, s.TwistDB = -12-v/2, v })},
		{"twist, high group stronger", "+4 dB", "+12 dB", " dB", steps(4, 14, 0.5), one(func(s *dtmf.ToneSpec, v float64) { s.LevelDBm0, s.TwistDB = -12-v/2, v })},
		{"tone duration", "40 ms", "23 ms", " ms", steps(40, 20, -1), one(func(s *dtmf.ToneSpec, v float64) { s.Duration = ms(v) })},
		{"gap bridged inside one tone", "10 ms", "—", " ms", steps(10, 40, 1), func(k dtmf.Key, v float64) q24Spec {
			a := spec(k)
			a.Duration = 50 * time.Millisecond
			return q24Spec{category: "margin", kind: MustDetect, tones: []tone{{spec: a}, {spec: a, gap: ms(v)}}, want: []bool{true, false}}
		}},
		{"pause between two 40 ms tones", "40 ms", "—", " ms", steps(40, 4, -2), func(k dtmf.Key, v float64) q24Spec {
			a := spec(k)
			a.Duration = 40 * time.Millisecond
			return q24Spec{category: "margin", kind: MustDetect, tones: []tone{{spec: a}, {spec: a, gap: ms(v)}}, want: []bool{true, true}}
		}},
		{"white noise SNR (−20 dBm0, 50 ms)", "15 dB", "—", " dB SNR", steps(15, 0, -1), func(k dtmf.Key, v float64) q24Spec {
			s := spec(k)
			s.LevelDBm0, s.Duration = -20, 50*time.Millisecond
			return q24Spec{category: "margin", kind: MustDetect, tones: []tone{{spec: s}}, want: []bool{true}, snrDB: v, noiseSeed: uint64(k) * 31}
		}},
	}
}

// Margins measures, for each Q.24 must-detect limit, how far beyond it
// the detectors made by newDetector keep detecting, on linear PCM. It is
// informational: Q.24 leaves the region between its detect and reject
// limits to the designer.
func Margins(newDetector func() Detector) []Margin {
	var out []Margin
	var events []dtmf.KeyEvent
	for _, sw := range marginSweeps() {
		var bounds []int // per key: index of the last value passed, -1 for none
		for ki, k := range Keys {
			b := -1
			for i, v := range sw.values {
				c := sw.build(k, v).render(400, 5*ki)
				events = Run(newDetector(), &c, events[:0])
				if o := Score(&c, events); !o.Pass() {
					break
				}
				b = i
			}
			bounds = append(bounds, b)
		}
		worst, best := slices.Min(bounds), slices.Max(bounds)
		out = append(out, Margin{
			Parameter: sw.parameter, Detect: sw.detect, Reject: sw.reject,
			Worst: sw.format(worst), Best: sw.format(best),
		})
	}
	return out
}

func (sw marginSweep) format(i int) string {
	switch {
	case i < 0:
		return "none"
	case i == len(sw.values)-1:
		return "beyond " + sw.value(i)
	}
	return sw.value(i)
}

func (sw marginSweep) value(i int) string {
	v := sw.values[i]
	var s string
	switch sw.unit {
	case "%":
		s = fmt.Sprintf("%+.1f%%", v)
	case " dB":
		s = fmt.Sprintf("%+.1f dB", v)
	default:
		s = fmt.Sprintf("%g%s", v, sw.unit)
	}
	// The typographic minus, as in the rest of the report.
	return strings.ReplaceAll(s, "-", "−")
}
