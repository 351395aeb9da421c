package dtmfcorpus

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"dtmfgw/dtmf"
)

// Detector is what the harness drives: dtmf.Detector's streaming methods.
type Detector interface {
	Process(pcm []int16, out []dtmf.KeyEvent) []dtmf.KeyEvent
	Flush(out []dtmf.KeyEvent) []dtmf.KeyEvent
}

// ChunkSamples is how much audio the harness hands the detector per call:
// one 20 ms RTP packet of G.711 (RFC 3551 §4.5.14 default packetisation).
const ChunkSamples = 160

// OnsetTolerance is how far, in samples, a reported onset may be from the
// true one for the report to count as that digit: 10 ms.
const OnsetTolerance = SampleRate / 100

// Run feeds c's audio to d in ChunkSamples pieces, then flushes it, and
// returns every event appended to events.
func Run(d Detector, c *Case, events []dtmf.KeyEvent) []dtmf.KeyEvent {
	return RunChunked(d, c, ChunkSamples, events)
}

// RunChunked is Run with chunk samples per Process call (chunk ≥ 1).
func RunChunked(d Detector, c *Case, chunk int, events []dtmf.KeyEvent) []dtmf.KeyEvent {
	chunk = max(chunk, 1)
	for i := 0; i < len(c.PCM); i += chunk {
		events = d.Process(c.PCM[i:min(i+chunk, len(c.PCM))], events)
	}
	return d.Flush(events)
}

// Outcome is how a detector did on one case.
type Outcome struct {
	Case   *Case
	Events []dtmf.KeyEvent
	// Once counts wanted digits reported exactly once (one Begin of the right
	// key within OnsetTolerance of the true onset).
	Once int
	// Missed lists wanted digits with no matching Begin; Repeated those with
	// more than one, and Repeats counts the Begins beyond the first.
	Missed, Repeated []Digit
	Repeats          int
	// Extra lists Begins that match no wanted digit: false digits.
	Extra []dtmf.KeyEvent
	// Unended counts Begins with no End of the same key after them; Unbegun
	// counts Ends with no Begin before them.
	Unended, Unbegun int
	// OnsetErrors and EndErrors (samples, absolute) and Latencies (samples)
	// of the matched Begins and their Ends.
	OnsetErrors, EndErrors []int64
	Latencies              []int
}

// Pass reports whether the case met the bar: every wanted digit exactly
// once, no other digit, and every Begin closed by an End.
func (o *Outcome) Pass() bool {
	return o.Once == len(o.Case.Want) && len(o.Extra) == 0 && o.Unended == 0 && o.Unbegun == 0
}

// FalseDigits counts reported digits that should not have been: digits in
// excess of the wanted ones, whether a wrong key, a repeat or a digit in
// must-reject or talk-off audio.
func (o *Outcome) FalseDigits() int {
	return len(o.Extra) + o.Repeats
}

// Doubled counts wanted digits that were reported and then reported again:
// a second Begin near the onset (a repeat), or one of the same key later in
// the tone, before its end (the tone taken for two presses).
func (o *Outcome) Doubled() int {
	n := len(o.Repeated)
	for _, w := range o.Case.Want {
		if slices.Contains(o.Missed, w) || slices.Contains(o.Repeated, w) {
			continue
		}
		for _, e := range o.Extra {
			if e.Key == w.Key && e.Onset > w.Onset && e.Onset <= w.End {
				n++
				break
			}
		}
	}
	return n
}

// Score matches the events of one run against c.Want.
func Score(c *Case, events []dtmf.KeyEvent) Outcome {
	o := Outcome{Case: c, Events: events}
	var begins []dtmf.KeyEvent
	var ends []int64 // EndSample of each Begin's End, or -1
	open := map[dtmf.Key][]int{}
	for _, e := range events {
		switch e.Kind {
		case dtmf.Begin:
			open[e.Key] = append(open[e.Key], len(begins))
			begins = append(begins, e)
			ends = append(ends, -1)
		case dtmf.End:
			q := open[e.Key]
			if len(q) == 0 {
				o.Unbegun++
				continue
			}
			ends[q[0]] = e.EndSample
			open[e.Key] = q[1:]
		}
	}
	for _, q := range open {
		o.Unended += len(q)
	}
	used := make([]bool, len(begins))
	for _, w := range c.Want {
		best, matches := -1, 0
		for i, b := range begins {
			if b.Key != w.Key || abs64(b.Onset-w.Onset) > OnsetTolerance {
				continue
			}
			matches++
			if best < 0 || abs64(b.Onset-w.Onset) < abs64(begins[best].Onset-w.Onset) {
				best = i
			}
		}
		switch {
		case matches == 0:
			o.Missed = append(o.Missed, w)
			continue
		case matches > 1:
			o.Repeated = append(o.Repeated, w)
			o.Repeats += matches - 1
		default:
			o.Once++
		}
		for i, b := range begins {
			if b.Key == w.Key && abs64(b.Onset-w.Onset) <= OnsetTolerance {
				used[i] = true
			}
		}
		o.OnsetErrors = append(o.OnsetErrors, abs64(begins[best].Onset-w.Onset))
		if ends[best] >= 0 && w.End > 0 {
			o.EndErrors = append(o.EndErrors, abs64(ends[best]-w.End))
		}
		o.Latencies = append(o.Latencies, begins[best].DecisionLatency)
	}
	for i, b := range begins {
		if !used[i] {
			o.Extra = append(o.Extra, b)
		}
	}
	return o
}

// Describe says what went wrong with a failed case, for the detector's
// author: the case, then each missed, repeated or extra digit.
func (o *Outcome) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s · %s] %s:", o.Case.Category, o.Case.Codec, o.Case.Name)
	for _, d := range o.Missed {
		fmt.Fprintf(&b, " missed %c@%s;", d.Key, msOf(d.Onset))
	}
	for _, d := range o.Repeated {
		fmt.Fprintf(&b, " repeated %c@%s;", d.Key, msOf(d.Onset))
	}
	for _, e := range o.Extra {
		fmt.Fprintf(&b, " false %c@%s;", e.Key, msOf(e.Onset))
	}
	if o.Unended > 0 {
		fmt.Fprintf(&b, " %d Begin without End;", o.Unended)
	}
	if o.Unbegun > 0 {
		fmt.Fprintf(&b, " %d End without Begin;", o.Unbegun)
	}
	if len(o.Case.Want) > 0 {
		b.WriteString(" got")
		for _, e := range o.Events {
			if e.Kind == dtmf.Begin {
				fmt.Fprintf(&b, " %c@%s", e.Key, msOf(e.Onset))
			}
		}
		if len(o.Events) == 0 {
			b.WriteString(" nothing")
		}
	}
	return b.String()
}

func msOf(samples int64) string {
	return fmt.Sprintf("%.1fms", float64(samples)*1000/SampleRate)
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Stats summarises the outcomes of one category through one codec.
type Stats struct {
	Category, Codec string
	Kind            CaseKind
	Cases, Passed   int
	// Digits wanted and digits reported exactly once; Missed and Doubled
	// count wanted digits reported not at all and more than once (see
	// Outcome.Doubled).
	Digits, Once    int
	Missed, Doubled int
	FalseDigits     int
	Seconds         float64
	// MaxOnsetError, MaxEndError, LatencyP99 and LatencyMax are in samples;
	// -1 when no digit was matched.
	MaxOnsetError, MaxEndError int64
	LatencyP99, LatencyMax     int
	Failures                   []*Outcome
}

// PassShare is the share of cases that met the bar: exactly once for
// must-detect cases, rejected for must-reject and talk-off cases.
func (s *Stats) PassShare() float64 {
	if s.Cases == 0 {
		return math.NaN()
	}
	return float64(s.Passed) / float64(s.Cases)
}

// FalsePerHour is the false-digit rate per hour of the category's audio.
func (s *Stats) FalsePerHour() float64 {
	if s.Seconds == 0 {
		return 0
	}
	return float64(s.FalseDigits) * 3600 / s.Seconds
}

// Summarise groups outcomes by category and codec, in first-seen order.
func Summarise(outcomes []Outcome) []*Stats {
	var out []*Stats
	index := map[[2]string]*Stats{}
	lat := map[*Stats][]int{}
	for i := range outcomes {
		o := &outcomes[i]
		key := [2]string{o.Case.Category, o.Case.Codec}
		s := index[key]
		if s == nil {
			s = &Stats{Category: o.Case.Category, Codec: o.Case.Codec, Kind: o.Case.Kind, MaxOnsetError: -1, MaxEndError: -1, LatencyP99: -1, LatencyMax: -1}
			index[key] = s
			out = append(out, s)
		}
		s.Cases++
		if o.Pass() {
			s.Passed++
		} else {
			s.Failures = append(s.Failures, o)
		}
		s.Digits += len(o.Case.Want)
		s.Once += o.Once
		s.Missed += len(o.Missed)
		s.Doubled += o.Doubled()
		s.FalseDigits += o.FalseDigits()
		s.Seconds += o.Case.Seconds()
		for _, e := range o.OnsetErrors {
			s.MaxOnsetError = max(s.MaxOnsetError, e)
		}
		for _, e := range o.EndErrors {
			s.MaxEndError = max(s.MaxEndError, e)
		}
		lat[s] = append(lat[s], o.Latencies...)
	}
	for s, l := range lat {
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		s.LatencyMax = l[len(l)-1]
		s.LatencyP99 = l[int(math.Ceil(0.99*float64(len(l))))-1]
	}
	return out
}
