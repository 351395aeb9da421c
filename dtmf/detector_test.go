package dtmf

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"dtmfgw/dtmf/g711"
)

// detectorKeys is the keypad in Q.23 order.
var detectorKeys = []Key{'1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D'}

// toneBurst is one tone in a test signal, after a gap of silence.
type toneBurst struct {
	spec ToneSpec
	gap  time.Duration
}

// signal renders lead samples of silence, the bursts, and 200 ms of
// silence, and returns the PCM and each toneBurst's first sample.
func toneSignal(lead int, bursts ...toneBurst) (pcm []int16, onsets []int64) {
	pcm = make([]int16, lead, lead+8000)
	for _, b := range bursts {
		pcm = append(pcm, make([]int16, int(b.gap*SampleRate/time.Second))...)
		onsets = append(onsets, int64(len(pcm)))
		pcm = AppendDTMF(pcm, b.spec)
	}
	return append(pcm, make([]int16, 1600)...), onsets
}

// tone is a toneBurst spec with the test defaults: −10 dBm0, 60 ms.
func testTone(k Key) ToneSpec {
	return ToneSpec{Key: k, LevelDBm0: -10, Duration: 60 * time.Millisecond}
}

// addNoiseAtSNR adds white Gaussian noise at snrDB below the power of the
// samples in [from, to) (the tones), deterministically from seed.
func addNoiseAtSNR(pcm []int16, from, to int, snrDB float64, seed uint64) {
	var p float64
	for _, x := range pcm[from:to] {
		p += float64(x) * float64(x)
	}
	addNoiseOfSigma(pcm, math.Sqrt(p/float64(to-from)/math.Pow(10, snrDB/10)), seed)
}

// addNoiseOfSigma adds white Gaussian noise of standard deviation sigma.
func addNoiseOfSigma(pcm []int16, sigma float64, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for i, x := range pcm {
		pcm[i] = Clip16(float64(x) + sigma*r.NormFloat64())
	}
}

// g711Paths are the paths the audio may take before the Detector.
var g711Paths = []struct {
	name string
	law  g711.Law // 0: linear
}{{"linear", 0}, {"PCMU", g711.Ulaw}, {"PCMA", g711.Alaw}}

// compand passes pcm through G.711 and back.
func companded(law g711.Law, pcm []int16) []int16 {
	if law == 0 {
		return pcm
	}
	codes := make([]byte, len(pcm))
	law.Encode(codes, pcm)
	out := make([]int16, len(pcm))
	law.Decode(out, codes)
	return out
}

// detect runs a fresh Detector over pcm in 160-sample frames and flushes.
func detectAll(pcm []int16) []KeyEvent {
	d := NewDetector(DetectorConfig{})
	var ev []KeyEvent
	for i := 0; i < len(pcm); i += 160 {
		ev = d.Process(pcm[i:min(i+160, len(pcm))], ev)
	}
	return d.Flush(ev)
}

// begins returns the Begin events.
func beginsOf(ev []KeyEvent) []KeyEvent {
	var b []KeyEvent
	for _, e := range ev {
		if e.Kind == Begin {
			b = append(b, e)
		}
	}
	return b
}

// checkInbandDigits asserts that ev holds exactly one Begin/End pair per wanted
// digit, in order, of the right key, with the onset within 10 ms (Q.24
// does not set this; the masking stage needs it) and the decision within
// the 40 ms look-ahead.
func checkInbandDigits(t *testing.T, ev []KeyEvent, keys []Key, onsets []int64, maxLatency int) {
	t.Helper()
	if len(ev) != 2*len(keys) {
		t.Fatalf("got %d events %v, want %d digits %q", len(ev), ev, len(keys), keys)
	}
	for i, k := range keys {
		b, e := ev[2*i], ev[2*i+1]
		if b.Kind != Begin || e.Kind != End || b.Key != k || e.Key != k || b.Source != SourceInband || e.Source != SourceInband {
			t.Fatalf("digit %d: events %+v, %+v; want Begin and End of %q from in-band", i, b, e, k)
		}
		if d := b.Onset - onsets[i]; d < -80 || d > 80 {
			t.Errorf("digit %d (%q): onset %d, true onset %d: off by %d samples", i, k, b.Onset, onsets[i], d)
		}
		if b.DecisionLatency <= 0 || b.DecisionLatency > maxLatency {
			t.Errorf("digit %d (%q): decision latency %d samples, want within %d", i, k, b.DecisionLatency, maxLatency)
		}
		if e.Onset != b.Onset || e.EndSample <= b.Onset || int64(e.Duration) != e.EndSample-e.Onset {
			t.Errorf("digit %d (%q): End %+v does not match Begin %+v", i, k, e, b)
		}
	}
}

// q24Row is one row of the Q.24 table (as tabulated in DTMF.md) applied to
// a key.
type q24Row struct {
	name   string
	detect bool // must detect (else must reject)
	// make returns the bursts for key k.
	make func(k Key) []toneBurst
	// digits is how many digits the bursts make when detected.
	digits int
	snrDB  float64
	// mute silences samples [mute[0], mute[0]+mute[1]) after the first
	// onset: an interruption of a phase-continuous tone.
	mute [2]int
	// maxLatency overrides the 40 ms decision bound (samples).
	maxLatency int
}

func q24Rows() []q24Row {
	with := func(f func(*ToneSpec)) func(Key) []toneBurst {
		return func(k Key) []toneBurst {
			s := testTone(k)
			f(&s)
			return []toneBurst{{spec: s}}
		}
	}
	var rows []q24Row
	// Frequency deviation: each tone alone, both signs, and both together.
	for _, dev := range []float64{0.015, -0.015, 0.035, -0.035, 0.05, -0.05} {
		detect := math.Abs(dev) <= 0.015
		rows = append(rows,
			q24Row{name: fmt.Sprintf("low%+.1f%%", dev*100), detect: detect, digits: 1,
				make: with(func(s *ToneSpec) { s.LowOffset = dev })},
			q24Row{name: fmt.Sprintf("high%+.1f%%", dev*100), detect: detect, digits: 1,
				make: with(func(s *ToneSpec) { s.HighOffset = dev })},
			q24Row{name: fmt.Sprintf("both%+.1f%%", dev*100), detect: detect, digits: 1,
				make: with(func(s *ToneSpec) { s.LowOffset, s.HighOffset = dev, -dev })},
		)
	}
	// Level per tone.
	for _, lvl := range []float64{0, -3, -25, -55, -65} {
		rows = append(rows, q24Row{name: fmt.Sprintf("level%+.0fdBm0", lvl), detect: lvl >= -25, digits: 1,
			make: with(func(s *ToneSpec) { s.LevelDBm0 = lvl })})
	}
	// Twist, at the default level and at the level limits.
	for _, tw := range []float64{-8, 4, -12, 12, -16, 16} {
		for _, lvl := range []float64{-10, -25, 0} {
			if lvl+tw > 3 || lvl+tw < -33 && tw > -12 {
				continue // a tone louder than full scale, or below −25 dBm0 − 8 dB
			}
			rows = append(rows, q24Row{name: fmt.Sprintf("twist%+.0fdB@%+.0fdBm0", tw, lvl), detect: tw >= -8 && tw <= 4, digits: 1,
				make: with(func(s *ToneSpec) { s.TwistDB, s.LevelDBm0 = tw, lvl })})
		}
	}
	// Duration.
	for _, ms := range []int{40, 45, 23, 20, 10} {
		rows = append(rows, q24Row{name: fmt.Sprintf("%dms", ms), detect: ms >= 40, digits: 1,
			make: with(func(s *ToneSpec) { s.Duration = time.Duration(ms) * time.Millisecond })})
	}
	// Pause: 40 ms tones 40 ms apart are two digits, same key or another.
	rows = append(rows,
		q24Row{name: "pause40ms-same", detect: true, digits: 2, make: func(k Key) []toneBurst {
			s := testTone(k)
			s.Duration = 40 * time.Millisecond
			return []toneBurst{{spec: s}, {spec: s, gap: 40 * time.Millisecond}}
		}},
		q24Row{name: "pause40ms-next", detect: true, digits: 2, make: func(k Key) []toneBurst {
			s, n := testTone(k), testTone(followingKey(k))
			s.Duration, n.Duration = 40*time.Millisecond, 40*time.Millisecond
			return []toneBurst{{spec: s}, {spec: n, gap: 40 * time.Millisecond}}
		}},
	)
	// Interruption: a gap of up to 10 ms inside one tone is bridged, whether
	// the tone comes back in phase (a muted oscillator) or restarts.
	for _, gap := range []int{1, 5, 10} {
		for _, before := range []int{15, 25, 50} {
			rows = append(rows, q24Row{name: fmt.Sprintf("restart-after-%dms-gap%dms", before, gap), detect: true, digits: 1,
				make: func(k Key) []toneBurst {
					a, b := testTone(k), testTone(k)
					a.Duration, b.Duration = time.Duration(before)*time.Millisecond, 50*time.Millisecond
					return []toneBurst{{spec: a}, {spec: b, gap: time.Duration(gap) * time.Millisecond}}
				},
				// With a new phase after the gap, the second part alone must
				// carry the measurement when the first is short.
				maxLatency: (before+gap)*8*ifThen1(before < 28) + 320,
			}, q24Row{name: fmt.Sprintf("mute-after-%dms-gap%dms", before, gap), detect: true, digits: 1,
				make: with(func(s *ToneSpec) { s.Duration = time.Duration(before+gap+50) * time.Millisecond }),
				mute: [2]int{before * 8, gap * 8},
				// The measurement windows straddle the gap for a while.
				maxLatency: (before+gap)*8*ifThen1(before < 28) + 320,
			})
		}
	}
	// Pause and interruption at the lowest level in 15 dB of noise.
	for _, lvl := range []float64{-25} {
		rows = append(rows,
			q24Row{name: fmt.Sprintf("pause40ms-snr15dB@%+.0fdBm0", lvl), detect: true, digits: 2, snrDB: 15, make: func(k Key) []toneBurst {
				s := testTone(k)
				s.Duration, s.LevelDBm0, s.TwistDB = 40*time.Millisecond, lvl, -4
				return []toneBurst{{spec: s}, {spec: s, gap: 40 * time.Millisecond}}
			}},
			q24Row{name: fmt.Sprintf("mute-after-40ms-gap10ms-snr15dB@%+.0fdBm0", lvl), detect: true, digits: 1, snrDB: 15,
				make: with(func(s *ToneSpec) { s.Duration, s.LevelDBm0 = 100*time.Millisecond, lvl }),
				mute: [2]int{320, 80},
			})
	}
	// Noise: white noise 15 dB below the pair, at the lowest level.
	for _, lvl := range []float64{-10, -25} {
		rows = append(rows, q24Row{name: fmt.Sprintf("snr15dB@%+.0fdBm0", lvl), detect: true, digits: 1, snrDB: 15,
			make: with(func(s *ToneSpec) { s.LevelDBm0 = lvl; s.Duration = 45 * time.Millisecond })})
	}
	return rows
}

func ifThen1(b bool) int {
	if b {
		return 1
	}
	return 0
}

func followingKey(k Key) Key {
	i := slices.Index(detectorKeys, k)
	return detectorKeys[(i+1)%len(detectorKeys)]
}

// TestDetectorQ24 runs every Q.24 row for all sixteen keys through linear,
// µ-law and A-law paths, at a lead-in that walks the tone onset through
// every phase of the 32-sample hop.
func TestDetectorQ24(t *testing.T) {
	for ri, row := range q24Rows() {
		for _, c := range g711Paths {
			t.Run(row.name+"/"+c.name, func(t *testing.T) {
				for ki, k := range detectorKeys {
					lead := 400 + (ri*7+ki*5)%blockLen
					bursts := row.make(k)
					pcm, onsets := toneSignal(lead, bursts...)
					clear(pcm[onsets[0]+int64(row.mute[0]):][:row.mute[1]])
					if row.snrDB > 0 {
						end := int(onsets[len(onsets)-1]) + bursts[len(bursts)-1].spec.Samples()
						addNoiseAtSNR(pcm, int(onsets[0]), end, row.snrDB, uint64(ri*100+ki))
					}
					ev := detectAll(companded(c.law, pcm))
					if !row.detect {
						if len(ev) != 0 {
							t.Errorf("key %q: must reject, got %v", k, ev)
						}
						continue
					}
					keys := []Key{k}
					switch {
					case row.digits == 2 && bursts[1].spec.Key != k:
						keys = append(keys, bursts[1].spec.Key)
					case row.digits == 2:
						keys = append(keys, k)
					default:
						onsets = onsets[:1]
					}
					t.Run(string(k), func(t *testing.T) { checkInbandDigits(t, ev, keys, onsets, cmp.Or(row.maxLatency, 320)) })
				}
			})
		}
	}
}

// TestDetectorDurationBoundaryEveryPhase checks the duration row at every
// alignment of the onset with the hop: 40 ms always one digit, 23 ms never.
func TestDetectorDurationBoundaryEveryPhase(t *testing.T) {
	for phase := range blockLen {
		for _, tc := range []struct {
			ms   int
			want int
		}{{40, 1}, {23, 0}} {
			s := testTone('5')
			s.Duration = time.Duration(tc.ms) * time.Millisecond
			pcm, _ := toneSignal(300+phase, toneBurst{spec: s})
			if got := len(beginsOf(detectAll(pcm))); got != tc.want {
				t.Errorf("%d ms tone at phase %d: %d digits, want %d", tc.ms, phase, got, tc.want)
			}
		}
	}
}

// TestDetectorOnsetAndLatency pins what the masking stage relies on: the
// onset to within a few samples (the contract is 10 ms), the decision
// within 32 ms of the onset, and Suspected raised before the decision.
func TestDetectorOnsetAndLatency(t *testing.T) {
	for phase := range blockLen {
		for _, k := range []Key{'1', '0', 'D'} {
			pcm, onsets := toneSignal(500+phase*3, toneBurst{spec: testTone(k)})
			d := NewDetector(DetectorConfig{})
			var ev []KeyEvent
			suspectedAt := int64(-1)
			for i := range pcm {
				ev = d.Process(pcm[i:i+1], ev)
				if _, ok := d.Suspected(); ok && suspectedAt < 0 {
					suspectedAt = d.Position()
				}
			}
			b := beginsOf(ev)
			if len(b) != 1 {
				t.Fatalf("key %q phase %d: %d digits", k, phase, len(b))
			}
			if err := b[0].Onset - onsets[0]; err < -8 || err > 8 {
				t.Errorf("key %q phase %d: onset off by %d samples", k, phase, err)
			}
			if b[0].DecisionLatency > 256 {
				t.Errorf("key %q phase %d: decided %d samples after onset, want ≤ 256 (32 ms)", k, phase, b[0].DecisionLatency)
			}
			decided := b[0].Onset + int64(b[0].DecisionLatency)
			if suspectedAt < 0 || suspectedAt > decided || suspectedAt-onsets[0] > 128 {
				t.Errorf("key %q phase %d: Suspected rose at %d, onset %d, decision %d; want within 16 ms of onset", k, phase, suspectedAt, onsets[0], decided)
			}
		}
	}
}

// TestDetectorSuspected checks Suspected's life: off in silence, on while a
// pair is undecided, off once decided and after the tone.
func TestDetectorSuspected(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	pcm, onsets := toneSignal(800, toneBurst{spec: testTone('7')})
	ev := d.Process(pcm[:800], nil)
	if _, ok := d.Suspected(); ok || len(ev) != 0 {
		t.Fatalf("silence: Suspected true or events %v", ev)
	}
	// 20 ms into the tone: suspected, not decided.
	ev = d.Process(pcm[800:960], ev)
	onset, ok := d.Suspected()
	if !ok || len(ev) != 0 {
		t.Fatalf("20 ms into the tone: Suspected %v, events %v", ok, ev)
	}
	if e := onset - onsets[0]; e < -64 || e > 64 {
		t.Errorf("suspected onset %d, true %d", onset, onsets[0])
	}
	ev = d.Process(pcm[960:1200], ev)
	if _, ok := d.Suspected(); ok || len(beginsOf(ev)) != 1 {
		t.Fatalf("after 50 ms: Suspected %v, events %v", ok, ev)
	}
	ev = d.Process(pcm[1200:], ev)
	if _, ok := d.Suspected(); ok || len(ev) != 2 {
		t.Fatalf("after the tone: Suspected %v, events %v", ok, ev)
	}
}

// TestDetectorChunkingIndependent feeds the same audio in chunks of many
// sizes, including random ones, and wants identical events.
func TestDetectorChunkingIndependent(t *testing.T) {
	var bursts []toneBurst
	for i, k := range detectorKeys {
		s := testTone(k)
		s.Duration = time.Duration(40+i*7) * time.Millisecond
		s.TwistDB = float64(i%5) - 3
		bursts = append(bursts, toneBurst{spec: s, gap: time.Duration(40+i*3) * time.Millisecond})
	}
	pcm, _ := toneSignal(123, bursts...)
	addNoiseAtSNR(pcm, 0, len(pcm), 25, 7)
	want := detectAll(pcm)
	if len(beginsOf(want)) != len(detectorKeys) {
		t.Fatalf("reference run found %d digits, want %d", len(beginsOf(want)), len(detectorKeys))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 2, 31, 32, 33, 80, 159, 160, 1000, len(pcm), -1} {
		d := NewDetector(DetectorConfig{})
		var got []KeyEvent
		for i := 0; i < len(pcm); {
			n := size
			if n < 0 {
				n = r.IntN(400)
			}
			got = d.Process(pcm[i:min(i+n, len(pcm))], got)
			i += n
		}
		got = d.Flush(got)
		if !slices.Equal(got, want) {
			t.Errorf("chunk size %d: events differ\n got %v\nwant %v", size, got, want)
		}
	}
}

// TestDetectorFlushEndsOpenTone: a tone still sounding at the end of the
// stream ends at the last sample.
func TestDetectorFlushEndsOpenTone(t *testing.T) {
	pcm := AppendDTMF(make([]int16, 300), testTone('#'))
	d := NewDetector(DetectorConfig{})
	ev := d.Process(pcm, nil)
	if len(ev) != 1 || ev[0].Kind != Begin {
		t.Fatalf("before Flush: %v", ev)
	}
	ev = d.Flush(ev)
	if len(ev) != 2 || ev[1].Kind != End || ev[1].EndSample != int64(len(pcm)) {
		t.Fatalf("after Flush: %v, want End at %d", ev, len(pcm))
	}
	if ev = d.Flush(ev[:0]); len(ev) != 0 {
		t.Fatalf("second Flush: %v", ev)
	}
}

// TestDetectorReset: after Reset the Detector behaves as new.
func TestDetectorReset(t *testing.T) {
	pcm, _ := toneSignal(333, toneBurst{spec: testTone('3')})
	d := NewDetector(DetectorConfig{})
	d.Process(pcm[:600], nil) // mid-tone
	d.Reset()
	if d.Position() != 0 {
		t.Fatalf("Position after Reset = %d", d.Position())
	}
	got := d.Flush(d.Process(pcm, nil))
	if want := detectAll(pcm); !slices.Equal(got, want) {
		t.Fatalf("after Reset: %v, want %v", got, want)
	}
}

// TestDetectorEndSample: the End marks the tone's last sample closely,
// also after a long press in noise.
func TestDetectorEndSample(t *testing.T) {
	for _, ms := range []int{40, 60, 250, 2000} {
		for _, snr := range []float64{0, 15, 12} {
			s := testTone('9')
			s.Duration = time.Duration(ms) * time.Millisecond
			pcm, onsets := toneSignal(211, toneBurst{spec: s})
			tol := int64(8)
			if snr > 0 {
				addNoiseAtSNR(pcm, int(onsets[0]), int(onsets[0])+s.Samples(), snr, uint64(ms))
				tol = 24
			}
			ev := detectAll(pcm)
			if len(ev) != 2 {
				t.Fatalf("%d ms, SNR %v dB: events %v", ms, snr, ev)
			}
			want := onsets[0] + int64(s.Samples())
			if e := ev[1].EndSample - want; e < -tol || e > tol {
				t.Errorf("%d ms, SNR %v dB: EndSample %d, tone ends at %d", ms, snr, ev[1].EndSample, want)
			}
		}
	}
}

// TestDetectorTalkOffSignals: sounds a DTMF receiver must ignore (Q.24
// talk-off row, and the gateway's own mask tone, DTMF.md).
func TestDetectorTalkOffSignals(t *testing.T) {
	sines := func(ms int, amp float64, freqs ...float64) []int16 {
		n := ms * SampleRate / 1000
		pcm := make([]int16, n)
		for i := range pcm {
			var v float64
			for _, f := range freqs {
				v += amp * math.Sin(2*math.Pi*f*float64(i)/SampleRate)
			}
			pcm[i] = Clip16(v)
		}
		return pcm
	}
	a := Amplitude(-12)
	cases := []struct {
		name string
		pcm  []int16
	}{
		{"dial tone 350+440", sines(2000, a, 350, 440)},
		{"busy 480+620", sines(2000, a, 480, 620)},
		{"ringback 440+480", sines(2000, a, 440, 480)},
		{"CEPT 425", sines(2000, a, 425)},
		{"400 Hz", sines(2000, a, 400)},
		{"single 697", sines(500, a, 697)},
		{"single 1336", sines(500, a, 1336)},
		// A harmonic sound whose first two harmonics sit within 2.5% of a
		// DTMF pair (752/1504 Hz ≈ 770/1477 Hz, −2.3%/+1.8%).
		{"harmonics 752+1504", sines(500, a, 752, 1504)},
		{"harmonics 3:2 832+1248", sines(500, a, 832, 1248)},
		{"three tones 697+1209+1336", sines(500, a, 697, 1209, 1336)},
		{"white noise −20 dBm0", func() []int16 { p := make([]int16, 16000); addNoiseOfSigma(p, Amplitude(-20)/math.Sqrt2, 3); return p }()},
		{"mask tone", DefaultMaskTone().AppendPCM(make([]int16, 100))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if ev := detectAll(c.pcm); len(ev) != 0 {
				t.Errorf("false digits: %v", ev)
			}
		})
	}
}

// TestDetectorConfig: explicit limits are honoured.
func TestDetectorConfig(t *testing.T) {
	s := testTone('2')
	s.LevelDBm0 = -35
	pcm, _ := toneSignal(100, toneBurst{spec: s})
	if n := len(beginsOf(detectAll(pcm))); n != 1 {
		t.Fatalf("−35 dBm0 with defaults: %d digits, want 1", n)
	}
	d := NewDetector(DetectorConfig{MinLevelDBm0: -30})
	if ev := d.Flush(d.Process(pcm, nil)); len(ev) != 0 {
		t.Fatalf("−35 dBm0 with a −30 dBm0 floor: %v", ev)
	}
	s = testTone('2')
	s.Duration = 35 * time.Millisecond
	pcm, _ = toneSignal(100, toneBurst{spec: s})
	d = NewDetector(DetectorConfig{MinDuration: 300})
	if ev := d.Flush(d.Process(pcm, nil)); len(ev) != 0 {
		t.Fatalf("35 ms tone with a 300-sample minimum: %v", ev)
	}
}

// TestDetectorProcessAllocs: the hot path allocates nothing (docs/code.md),
// whatever the audio.
func TestDetectorProcessAllocs(t *testing.T) {
	pcm, _ := toneSignal(100, toneBurst{spec: testTone('1')}, toneBurst{spec: testTone('2'), gap: 50 * time.Millisecond})
	addNoiseAtSNR(pcm, 0, len(pcm), 20, 1)
	d := NewDetector(DetectorConfig{})
	out := make([]KeyEvent, 0, 8)
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		if i+160 > len(pcm) {
			i = 0
		}
		out = d.Process(pcm[i:i+160], out[:0])
		i += 160
	})
	if allocs != 0 {
		t.Fatalf("Process allocates %.1f times per call", allocs)
	}
}

// BenchmarkDetectorProcess measures one 20 ms frame (160 samples) of audio
// that mixes tones, silence and noise, so every stage runs.
func BenchmarkDetectorProcess(b *testing.B) {
	var bursts []toneBurst
	for _, k := range detectorKeys {
		bursts = append(bursts, toneBurst{spec: testTone(k), gap: 60 * time.Millisecond})
	}
	pcm, _ := toneSignal(100, bursts...)
	addNoiseAtSNR(pcm, 0, len(pcm), 20, 1)
	pcm = pcm[:len(pcm)/160*160]
	d := NewDetector(DetectorConfig{})
	out := make([]KeyEvent, 0, 8)
	b.ReportAllocs()
	b.SetBytes(160 * 2)
	i := 0
	for b.Loop() {
		if i == len(pcm) {
			i = 0
		}
		out = d.Process(pcm[i:i+160], out[:0])
		i += 160
	}
}

// BenchmarkDetectorProcessSilence is the common case: no candidate pair.
func BenchmarkDetectorProcessSilence(b *testing.B) {
	pcm := make([]int16, 160)
	addNoiseOfSigma(pcm, Amplitude(-50), 1)
	d := NewDetector(DetectorConfig{})
	out := make([]KeyEvent, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		out = d.Process(pcm, out[:0])
	}
}

// FuzzDetector feeds arbitrary audio in arbitrary chunks: the Detector
// must not panic, and its events must make sense — Begin and End
// alternating, matching keys and onsets, onsets increasing, ends after
// onsets and never beyond what was consumed.
func FuzzDetector(f *testing.F) {
	pcm, _ := toneSignal(50, toneBurst{spec: testTone('5')}, toneBurst{spec: testTone('#'), gap: 40 * time.Millisecond})
	raw := make([]byte, 2*len(pcm))
	for i, x := range pcm {
		raw[2*i], raw[2*i+1] = byte(x), byte(uint16(x)>>8)
	}
	f.Add(raw, []byte{160})
	f.Add(raw, []byte{1, 7, 255, 3})
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80}, []byte{0})
	f.Fuzz(func(t *testing.T, data, chunks []byte) {
		if len(data) > 1<<16 { // 4 s of audio reaches every state; longer only slows the fuzzer
			return
		}
		samples := make([]int16, len(data)/2)
		for i := range samples {
			samples[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
		}
		d := NewDetector(DetectorConfig{})
		var ev []KeyEvent
		for i, c := 0, 0; i < len(samples); c++ {
			n := len(samples)
			if len(chunks) > 0 {
				n = int(chunks[c%len(chunks)]) + 1
			}
			ev = d.Process(samples[i:min(i+n, len(samples))], ev)
			i += n
			if d.Position() != int64(min(i, len(samples))) {
				t.Fatalf("Position %d after %d samples", d.Position(), min(i, len(samples)))
			}
		}
		ev = d.Flush(ev)
		lastOnset := int64(-1)
		for i, e := range ev {
			if e.Source != SourceInband || !e.Key.Valid() {
				t.Fatalf("event %d: %+v", i, e)
			}
			switch {
			case i%2 == 0 && e.Kind == Begin:
				if e.Onset <= lastOnset || e.Onset < 0 || e.Onset+int64(e.DecisionLatency) > d.Position() {
					t.Fatalf("Begin %d onset %d after onset %d, position %d", i, e.Onset, lastOnset, d.Position())
				}
				lastOnset = e.Onset
			case i%2 == 1 && e.Kind == End:
				b := ev[i-1]
				if e.Key != b.Key || e.Onset != b.Onset || e.EndSample <= e.Onset || e.EndSample > d.Position() {
					t.Fatalf("End %+v after Begin %+v, position %d", e, b, d.Position())
				}
				if i+1 < len(ev) && ev[i+1].Onset < e.EndSample {
					t.Fatalf("next Begin at %d before End %d", ev[i+1].Onset, e.EndSample)
				}
			default:
				t.Fatalf("event %d is %v: Begin and End must alternate: %v", i, e.Kind, ev)
			}
		}
		if len(ev)%2 != 0 {
			t.Fatalf("Flush left a digit open: %v", ev)
		}
	})
}

// TestDetectorRandomisedQ24Region draws tones from anywhere inside the
// Q.24 must-detect region (every limit at once: level, twist, both
// deviations, duration, 15 dB noise, codec, onset phase) and from just
// beyond each must-reject limit, with a fixed seed, so corners the table
// does not list are covered too.
func TestDetectorRandomisedQ24Region(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 24))
	uni := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	trials := 1500
	if testing.Short() {
		trials = 200
	}
	for i := range trials {
		k := detectorKeys[r.IntN(len(detectorKeys))]
		s := ToneSpec{
			Key:        k,
			LevelDBm0:  uni(-25, 0),
			TwistDB:    uni(-8, 4),
			LowOffset:  uni(-0.015, 0.015),
			HighOffset: uni(-0.015, 0.015),
			Duration:   time.Duration(uni(40, 120) * float64(time.Millisecond)),
		}
		// A tone louder than full scale cannot be sent through G.711.
		s.LevelDBm0 = min(s.LevelDBm0, -s.TwistDB)
		detectIt := true
		switch i % 6 {
		case 1: // a deviation beyond 3.5%
			off := uni(0.036, 0.06) * float64(1-2*r.IntN(2))
			if r.IntN(2) == 0 {
				s.LowOffset = off
			} else {
				s.HighOffset = off
			}
			detectIt = false
		case 2: // twist beyond ±12 dB
			s.TwistDB = uni(12.5, 20) * float64(1-2*r.IntN(2))
			s.LevelDBm0 = min(s.LevelDBm0, -s.TwistDB)
			detectIt = false
		case 3: // shorter than 23 ms
			s.Duration = time.Duration(uni(5, 23) * float64(time.Millisecond))
			detectIt = false
		case 4: // −55 dBm0 and below
			s.LevelDBm0, s.TwistDB = uni(-70, -55), 0
			detectIt = false
		}
		pcm, onsets := toneSignal(100+r.IntN(300), toneBurst{spec: s})
		snr := 0.0
		if r.IntN(2) == 0 && detectIt {
			snr = uni(15, 30)
			addNoiseAtSNR(pcm, int(onsets[0]), int(onsets[0])+s.Samples(), snr, uint64(i))
		}
		c := g711Paths[r.IntN(len(g711Paths))]
		ev := detectAll(companded(c.law, pcm))
		name := fmt.Sprintf("trial %d: %+v snr=%.1f %s", i, s, snr, c.name)
		if !detectIt {
			if len(ev) != 0 {
				t.Errorf("%s: must reject, got %v", name, ev)
			}
			continue
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Log(name)
			checkInbandDigits(t, ev, []Key{k}, onsets, 320)
		})
	}
}

// TestDetectorKeyChangeWithoutPause: a tone followed at once by another
// key's tone, sharing its row or its column or neither, is two digits; the
// first ends where the second begins.
func TestDetectorKeyChangeWithoutPause(t *testing.T) {
	for _, pair := range [][2]Key{{'1', '2'}, {'1', '4'}, {'5', '9'}, {'#', '#'}} {
		t.Run(string(pair[:]), func(t *testing.T) {
			a, b := testTone(pair[0]), testTone(pair[1])
			if pair[0] == pair[1] {
				// The same key twice with no pause is one press.
				pcm, onsets := toneSignal(200, toneBurst{spec: a}, toneBurst{spec: b})
				checkInbandDigits(t, detectAll(pcm), []Key{pair[0]}, onsets[:1], 320)
				return
			}
			pcm, onsets := toneSignal(200, toneBurst{spec: a}, toneBurst{spec: b})
			ev := detectAll(pcm)
			checkInbandDigits(t, ev, pair[:], onsets, 320)
			if e := ev[1].EndSample - onsets[1]; e < -40 || e > 40 {
				t.Errorf("first digit ends at %d, second starts at %d", ev[1].EndSample, onsets[1])
			}
		})
	}
}

// TestDetectorDCOffset: a DC offset (which G.711 audio from a telephone
// never has, but a badly trimmed source may) changes nothing.
func TestDetectorDCOffset(t *testing.T) {
	for _, dc := range []int{-3000, -300, 300, 3000} {
		for _, lvl := range []float64{-25, -10} {
			s := testTone('6')
			s.LevelDBm0 = lvl
			pcm, onsets := toneSignal(333, toneBurst{spec: s}, toneBurst{spec: s, gap: 40 * time.Millisecond})
			for i := range pcm {
				pcm[i] = Clip16(float64(pcm[i]) + float64(dc))
			}
			t.Run(fmt.Sprintf("dc%+d@%+.0fdBm0", dc, lvl), func(t *testing.T) {
				checkInbandDigits(t, detectAll(pcm), []Key{'6', '6'}, onsets, 320)
			})
		}
	}
}

// TestDetectorLongStream: block phases are exact integers, so a tone after
// an hour of audio is measured as well as one at the start.
func TestDetectorLongStream(t *testing.T) {
	if testing.Short() {
		t.Skip("an hour of audio")
	}
	d := NewDetector(DetectorConfig{})
	silence := make([]int16, 8000)
	addNoiseOfSigma(silence, 30, 9)
	var ev []KeyEvent
	for range 3600 {
		ev = d.Process(silence, ev)
	}
	if len(ev) != 0 {
		t.Fatalf("events in an hour of low noise: %v", ev)
	}
	start := d.Position()
	s := testTone('C')
	s.LowOffset, s.HighOffset = 0.015, -0.015
	pcm, onsets := toneSignal(17, toneBurst{spec: s})
	ev = d.Flush(d.Process(pcm, ev))
	for i := range onsets {
		onsets[i] += start
	}
	checkInbandDigits(t, ev, []Key{'C'}, onsets, 320)
}

// TestFFTMatchesDFT: the third-tone scan's FFT agrees with the DFT sum it
// stands for.
func TestFFTMatchesDFT(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	var buf, in [spectrumLen]complex128
	for i := range 300 { // zero-padded, as thirdTone uses it
		in[i] = complex(r.NormFloat64(), 0)
	}
	buf = in
	fft(&buf)
	for _, k := range []int{0, 1, 13, 100, 255, 256, 300, 511} {
		var want complex128
		for n, x := range in {
			a := -2 * math.Pi * float64(k*n%spectrumLen) / spectrumLen
			want += x * complex(math.Cos(a), math.Sin(a))
		}
		if d := buf[k] - want; absSq(d) > 1e-18*float64(spectrumLen) {
			t.Errorf("bin %d: FFT %v, DFT %v", k, buf[k], want)
		}
	}
}
