package dtmfcorpus

import (
	"strings"
	"testing"

	"dtmfgw/dtmf"
)

func begin(k dtmf.Key, onset int64, latency int) dtmf.KeyEvent {
	return dtmf.KeyEvent{Kind: dtmf.Begin, Key: k, Source: dtmf.SourceInband, Onset: onset, DecisionLatency: latency}
}

func end(k dtmf.Key, onset int64) dtmf.KeyEvent {
	return dtmf.KeyEvent{Kind: dtmf.End, Key: k, Source: dtmf.SourceInband, Onset: onset, EndSample: onset + 480}
}

func TestScore(t *testing.T) {
	two := []Digit{{Key: '5', Onset: 1000}, {Key: '5', Onset: 2000}}
	tests := []struct {
		name      string
		kind      CaseKind
		want      []Digit
		events    []dtmf.KeyEvent
		pass      bool
		once      int
		false_    int
		missed    int
		unended   int
		onsetErrs []int64
	}{
		{name: "exact match", kind: MustDetect, want: two[:1],
			events: []dtmf.KeyEvent{begin('5', 1000, 256), end('5', 1000)}, pass: true, once: 1, onsetErrs: []int64{0}},
		{name: "onset 10 ms early still matches", kind: MustDetect, want: two[:1],
			events: []dtmf.KeyEvent{begin('5', 920, 256), end('5', 920)}, pass: true, once: 1, onsetErrs: []int64{80}},
		{name: "onset 10.1 ms late is a miss and a false digit", kind: MustDetect, want: two[:1],
			events: []dtmf.KeyEvent{begin('5', 1081, 256), end('5', 1081)}, missed: 1, false_: 1},
		{name: "wrong key is a miss and a false digit", kind: MustDetect, want: two[:1],
			events: []dtmf.KeyEvent{begin('8', 1000, 256), end('8', 1000)}, missed: 1, false_: 1},
		{name: "split into two Begins near the onset is repeated", kind: MustDetect, want: two[:1],
			events: []dtmf.KeyEvent{begin('5', 1000, 256), end('5', 1000), begin('5', 1040, 256), end('5', 1040)}, false_: 1, onsetErrs: []int64{0}},
		{name: "second digit of a pause bridged", kind: MustDetect, want: two,
			events: []dtmf.KeyEvent{begin('5', 1000, 256), end('5', 1000)}, once: 1, missed: 1, onsetErrs: []int64{0}},
		{name: "both digits of a pause", kind: MustDetect, want: two,
			events: []dtmf.KeyEvent{begin('5', 1000, 256), end('5', 1000), begin('5', 2004, 260), end('5', 2004)}, pass: true, once: 2, onsetErrs: []int64{0, 4}},
		{name: "extra digit after the tone", kind: MustDetect, want: two[:1],
			events: []dtmf.KeyEvent{begin('5', 1000, 256), end('5', 1000), begin('5', 1500, 256), end('5', 1500)}, once: 1, false_: 1, onsetErrs: []int64{0}},
		{name: "Begin without End fails", kind: MustDetect, want: two[:1],
			events: []dtmf.KeyEvent{begin('5', 1000, 256)}, once: 1, unended: 1, onsetErrs: []int64{0}},
		{name: "reject case with nothing passes", kind: MustReject, pass: true},
		{name: "reject case with a digit", kind: MustReject,
			events: []dtmf.KeyEvent{begin('1', 10, 256), end('1', 10)}, false_: 1},
		{name: "talk-off with two digits", kind: TalkOff,
			events: []dtmf.KeyEvent{begin('1', 10, 256), end('1', 10), begin('C', 9000, 256), end('C', 9000)}, false_: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Case{Category: "c", Name: "n", Want: tt.want, Kind: tt.kind, PCM: make([]int16, 8000)}
			o := Score(c, tt.events)
			if o.Pass() != tt.pass || o.Once != tt.once || o.FalseDigits() != tt.false_ || len(o.Missed) != tt.missed || o.Unended != tt.unended {
				t.Errorf("pass=%v once=%d false=%d missed=%d unended=%d, want %v %d %d %d %d (%s)",
					o.Pass(), o.Once, o.FalseDigits(), len(o.Missed), o.Unended, tt.pass, tt.once, tt.false_, tt.missed, tt.unended, o.Describe())
			}
			if len(o.OnsetErrors) != len(tt.onsetErrs) {
				t.Fatalf("onset errors %v, want %v", o.OnsetErrors, tt.onsetErrs)
			}
			for i := range o.OnsetErrors {
				if o.OnsetErrors[i] != tt.onsetErrs[i] {
					t.Errorf("onset errors %v, want %v", o.OnsetErrors, tt.onsetErrs)
				}
			}
		})
	}
}

func TestScoreEndErrors(t *testing.T) {
	c := &Case{Kind: MustDetect, Want: []Digit{{'5', 1000, 1480}, {'7', 3000, 3400}}, PCM: make([]int16, 4000)}
	o := Score(c, []dtmf.KeyEvent{
		begin('5', 1002, 256), begin('7', 3000, 256), // overlapping presses are paired per key
		{Kind: dtmf.End, Key: '5', EndSample: 1470},
		{Kind: dtmf.End, Key: '7', EndSample: 3440},
	})
	if !o.Pass() || len(o.EndErrors) != 2 || o.EndErrors[0] != 10 || o.EndErrors[1] != 40 {
		t.Errorf("pass=%v end errors %v, want [10 40] (%s)", o.Pass(), o.EndErrors, o.Describe())
	}
	if s := Summarise([]Outcome{o})[0]; s.MaxEndError != 40 || s.MaxOnsetError != 2 {
		t.Errorf("max end error %d, onset %d; want 40, 2", s.MaxEndError, s.MaxOnsetError)
	}
}

func TestSummarise(t *testing.T) {
	mk := func(cat string, kind CaseKind, want []Digit, events ...dtmf.KeyEvent) Outcome {
		c := &Case{Category: cat, Codec: CodecLinear, Kind: kind, Want: want, PCM: make([]int16, 4*SampleRate)}
		return Score(c, events)
	}
	var outcomes []Outcome
	for i := range 100 {
		outcomes = append(outcomes, mk("detect", MustDetect, []Digit{{Key: '1', Onset: 800}}, begin('1', 800+int64(i%3), 200+i), end('1', 800)))
	}
	outcomes = append(outcomes, mk("detect", MustDetect, []Digit{{Key: '1', Onset: 800}}))
	outcomes = append(outcomes, mk("talk", TalkOff, nil), mk("talk", TalkOff, nil, begin('9', 5, 1), end('9', 5)))
	stats := Summarise(outcomes)
	if len(stats) != 2 {
		t.Fatalf("%d groups, want 2", len(stats))
	}
	d, k := stats[0], stats[1]
	if d.Category != "detect" || d.Cases != 101 || d.Passed != 100 || d.Digits != 101 || d.Once != 100 || len(d.Failures) != 1 {
		t.Errorf("detect stats %+v", d)
	}
	if d.MaxOnsetError != 2 || d.LatencyMax != 299 || d.LatencyP99 != 298 {
		t.Errorf("detect onset/latency = %d, p99 %d, max %d; want 2, 298, 299", d.MaxOnsetError, d.LatencyP99, d.LatencyMax)
	}
	if k.Cases != 2 || k.Passed != 1 || k.FalseDigits != 1 || k.LatencyMax != -1 {
		t.Errorf("talk-off stats %+v", k)
	}
	// 1 false digit in 8 s of audio is 450 per hour.
	if got := k.FalsePerHour(); got != 450 {
		t.Errorf("false per hour = %g, want 450", got)
	}
}

// scripted is a Detector that replays fixed events, to test Run.
type scripted struct {
	fed    int
	chunks []int
}

func (s *scripted) Process(pcm []int16, out []dtmf.KeyEvent) []dtmf.KeyEvent {
	s.chunks = append(s.chunks, len(pcm))
	s.fed += len(pcm)
	return out
}

func (s *scripted) Flush(out []dtmf.KeyEvent) []dtmf.KeyEvent {
	return append(out, begin('1', 0, 0), end('1', 0))
}

func TestRunFeedsPacketSizedChunksThenFlushes(t *testing.T) {
	d := &scripted{}
	c := &Case{PCM: make([]int16, 3*ChunkSamples+17)}
	events := Run(d, c, nil)
	if d.fed != len(c.PCM) || len(d.chunks) != 4 || d.chunks[0] != ChunkSamples || d.chunks[3] != 17 {
		t.Errorf("fed %d samples in chunks %v", d.fed, d.chunks)
	}
	if len(events) != 2 {
		t.Errorf("events %v, want the flushed pair", events)
	}
}

func TestWriteReport(t *testing.T) {
	outcomes := []Outcome{
		Score(&Case{Category: CatFreqAccept, Codec: CodecUlaw, Kind: MustDetect, Name: "key=5 x", Want: []Digit{{'5', 400, 720}}, PCM: make([]int16, 4000)},
			[]dtmf.KeyEvent{begin('5', 400, 256), end('5', 400)}),
		Score(&Case{Category: CatSweeps, Codec: CodecLinear, Kind: TalkOff, Name: "sweeps seed=1 | pipe", PCM: make([]int16, 60*SampleRate)},
			[]dtmf.KeyEvent{begin('6', 100, 256), end('6', 100)}),
	}
	var b strings.Builder
	if err := WriteReport(&b, Summarise(outcomes), ReportInfo{Detector: "test", Speech: "none", MaxFailures: 10}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"make detector-report",
		"| " + CatFreqAccept + " | µ-law | 1 | 100.0% | — | 0 | 0.0 | 0.0 ms | 20.0 ms | 32.0 ms / 32.0 ms |",
		"| " + CatSweeps + " | linear | 1 | 1.0 | 0.0% | 1 | 60.0 |",
		"spandsp",
		`sweeps seed=1 \| pipe: false 6@12.5ms;`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestPctNeverRoundsAMissUpToAHundred(t *testing.T) {
	tests := []struct {
		n, of int
		want  string
	}{
		{1, 1, "100.0%"}, {9999, 10000, "99.99%"}, {1, 3, "33.3%"}, {0, 0, "—"},
	}
	for _, tt := range tests {
		if got := pct(tt.n, tt.of); got != tt.want {
			t.Errorf("pct(%d, %d) = %q, want %q", tt.n, tt.of, got, tt.want)
		}
	}
}
