package dtmfcorpus

import (
	"fmt"
	"math"
	"time"

	"dtmfgw/dtmf"
)

// Talk-off categories other than speech.
const (
	CatChords       = "talk-off music: chords"
	CatMelody       = "talk-off music: melody, harmonics, vibrato"
	CatSweeps       = "talk-off sweeps and chirps"
	CatBells        = "talk-off bells"
	CatCallProgress = "talk-off call-progress and signalling tones"
	CatNearPairs    = "talk-off tone pairs outside DTMF tolerance"
	CatMaskTone     = "talk-off gateway mask tone"
	CatNoiseOnly    = "talk-off white noise"
)

// DTMF row and column frequencies (ITU-T Q.23 §2), for the guards below.
var (
	dtmfLow  = [4]float64{697, 770, 852, 941}
	dtmfHigh = [4]float64{1209, 1336, 1477, 1633}
)

// nearDTMFPair reports whether some frequency in fs is within tol (relative)
// of a low-group frequency and some frequency in fs within tol of a
// high-group one. Two sustained sines like that are a digit by the Q.23/Q.24
// frequency rules, not talk-off, so the music generators never sound them
// together: any digit found in the music is then the detector's error.
func nearDTMFPair(fs []float64, tol float64) bool {
	near := func(group [4]float64) bool {
		for _, f := range fs {
			for _, g := range group {
				if math.Abs(f/g-1) <= tol {
					return true
				}
			}
		}
		return false
	}
	return near(dtmfLow) && near(dtmfHigh)
}

// MusicCases returns the synthetic talk-off material: music-like signals,
// sweeps, bells, call-progress tones, near-miss tone pairs, the mask tone and
// noise, all generated here from fixed seeds.
func MusicCases() []Case {
	var out []Case
	add := func(cat, name string, pcm []int16) {
		out = append(out, Case{Category: cat, Name: name, PCM: pcm, Kind: TalkOff, Codec: CodecLinear})
	}
	for i := range 4 {
		seed := uint64(100 + i)
		add(CatChords, fmt.Sprintf("chords seed=%d 30s", seed), chords(seed, 30*SampleRate))
		add(CatMelody, fmt.Sprintf("melody seed=%d 30s", seed), melody(seed, 30*SampleRate))
	}
	for i := range 4 {
		seed := uint64(200 + i)
		add(CatSweeps, fmt.Sprintf("sweeps seed=%d 30s", seed), sweeps(seed, 30*SampleRate))
	}
	for i := range 2 {
		seed := uint64(300 + i)
		add(CatBells, fmt.Sprintf("bells seed=%d 30s", seed), bells(seed, 30*SampleRate))
	}
	for _, cp := range callProgressTones() {
		add(CatCallProgress, cp.name, cp.render())
	}
	for _, level := range []float64{-5, -15, -25} {
		add(CatNearPairs, fmt.Sprintf("near-miss pairs level=%gdBm0", level), nearMissPairs(level))
	}
	out = append(out, SingingCases()...)
	add(CatMaskTone, "dtmf.DefaultMaskTone ×100, 100 ms gaps", maskTones(dtmf.DefaultMaskTone(), 100))
	for i, level := range []float64{-10, -20, -30} {
		pcm := make([]int16, 20*SampleRate)
		addNoise(pcm, zeroDBm0RMS*math.Pow(10, level/20), uint64(400+i))
		add(CatNoiseOnly, fmt.Sprintf("white noise %gdBm0 20s seed=%d", level, 400+i), pcm)
	}
	return out
}

// midiHz is the equal-tempered frequency of a MIDI note (A4 = 69 = 440 Hz).
func midiHz(n int) float64 { return 440 * math.Pow(2, float64(n-69)/12) }

// timbre is a harmonic spectrum: amplitude of harmonic h+1, relative.
type timbre []float64

// newTimbre draws a harmonic spectrum that rolls off like real instruments
// (1/h^p), odd-heavy for some (clarinet-like), with at least a −10 dB second
// or third harmonic: no musical note is a pure sine.
func newTimbre(r *rng) timbre {
	p := r.between(0.6, 1.6)
	oddOnly := r.intn(4) == 0
	t := make(timbre, 8)
	for h := range t {
		a := 1 / math.Pow(float64(h+1), p)
		if oddOnly && h%2 == 1 {
			a *= 0.15
		}
		t[h] = a
	}
	return t
}

// note adds one note to buf from sample start for n samples: harmonic
// partials below 3800 Hz, an attack/decay/release envelope and optional
// vibrato (depth relative, rate in Hz). Partials are rotating phasors, the
// h-th advanced by the fundamental's rotation raised to the h-th power, so a
// sample costs a few multiplications rather than a sine per partial.
func note(buf []float64, start, n int, f0, amp float64, t timbre, vibDepth, vibRate float64, r *rng) {
	attack := max(1, min(n/4, samplesOf(r.between(5, 40))))
	release := max(1, min(n/3, samplesOf(r.between(30, 120))))
	vibPhase := r.between(0, 2*math.Pi)
	re := make([]float64, len(t))
	im := make([]float64, len(t))
	for h := range t {
		ph := r.between(0, 2*math.Pi)
		re[h], im[h] = math.Cos(ph), math.Sin(ph)
	}
	// Slow decay after the attack, like a struck or plucked string.
	decay := math.Exp(-1 / (1.5 * SampleRate))
	gain := amp
	var f, cr, ci float64
	for i := 0; i < n && start+i < len(buf); i++ {
		env := 1.0
		switch {
		case i < attack:
			env = float64(i) / float64(attack)
		case i >= n-release:
			env = float64(n-i) / float64(release)
		}
		if vibDepth != 0 || i == 0 {
			f = f0 * (1 + vibDepth*math.Sin(vibPhase+2*math.Pi*vibRate*float64(i)/SampleRate))
			w := 2 * math.Pi * f / SampleRate
			cr, ci = math.Cos(w), math.Sin(w)
		}
		hr, hi := cr, ci // rotation of harmonic h+1
		var s float64
		for h, a := range t {
			if f*float64(h+1) >= 3800 {
				break
			}
			s += a * im[h]
			re[h], im[h] = re[h]*hr-im[h]*hi, re[h]*hi+im[h]*hr
			hr, hi = hr*cr-hi*ci, hr*ci+hi*cr
		}
		buf[start+i] += gain * env * s
		gain *= decay
	}
}

// normalise scales buf to an RMS level in dBm0 and converts it to PCM.
func normalise(buf []float64, dBm0 float64) []int16 {
	var e float64
	for _, v := range buf {
		e += v * v
	}
	out := make([]int16, len(buf))
	if e == 0 {
		return out
	}
	g := zeroDBm0RMS * math.Pow(10, dBm0/20) / math.Sqrt(e/float64(len(buf)))
	for i, v := range buf {
		out[i] = dtmf.Clip16(g * v)
	}
	return out
}

// chords renders a progression of 3–4-note chords with harmonic timbres.
func chords(seed uint64, n int) []int16 {
	r := newRNG(seed)
	buf := make([]float64, n)
	// Major, minor, dominant seventh, minor seventh, suspended, diminished.
	shapes := [][]int{{0, 4, 7}, {0, 3, 7}, {0, 4, 7, 10}, {0, 3, 7, 10}, {0, 5, 7}, {0, 3, 6, 9}, {0, 4, 7, 12}, {0, 7, 16}}
	for pos := 0; pos < n; {
		dur := samplesOf(r.between(250, 1500))
		var fs []float64
		// Redraw until the chord holds no DTMF-like pair (bounded tries).
		for range 50 {
			root := 45 + r.intn(30) // A2–D5
			shape := shapes[r.intn(len(shapes))]
			fs = fs[:0]
			for _, iv := range shape {
				fs = append(fs, midiHz(root+iv))
			}
			if !nearDTMFPair(withOctaves(fs), 0.04) {
				break
			}
			fs = fs[:0]
		}
		for _, f := range fs {
			note(buf, pos, dur+samplesOf(80), f, r.between(0.5, 1), newTimbre(r), 0, 0, r)
		}
		pos += dur
	}
	return normalise(buf, -18+6*newRNG(seed+1).float())
}

// withOctaves returns fs with each frequency's second harmonic added, the
// strongest partial after the fundamental.
func withOctaves(fs []float64) []float64 {
	out := make([]float64, 0, 2*len(fs))
	for _, f := range fs {
		out = append(out, f, 2*f)
	}
	return out
}

// melody renders a melody over a bass line, both with harmonics, the melody
// with vibrato, changing together on a beat grid.
func melody(seed uint64, n int) []int16 {
	r := newRNG(seed)
	buf := make([]float64, n)
	lead, bass := newTimbre(r), newTimbre(r)
	scale := []int{0, 2, 4, 5, 7, 9, 11} // major
	tonic := 60 + r.intn(12)
	deg := 7
	beat := samplesOf(r.between(120, 250))
	var prev []float64
	for pos := 0; pos < n; {
		steps := 1 + r.intn(4)
		dur := steps * beat
		vib := r.between(0.003, 0.015)
		var m, b float64
		for range 50 {
			deg = max(0, min(20, deg+r.intn(7)-3))
			m = midiHz(tonic + 12*(deg/7) + scale[deg%7])
			b = midiHz(tonic - 24 + scale[r.intn(len(scale))])
			// Guard the vibrato's reach too, and the previous notes' tails.
			fs := append(withOctaves([]float64{m, b}), prev...)
			if !nearDTMFPair(fs, 0.04+vib) {
				break
			}
			m = 0
		}
		if m > 0 {
			note(buf, pos, dur, m, 1, lead, vib, r.between(4.5, 7), r)
			note(buf, pos, dur, b, 0.7, bass, 0, 0, r)
			prev = withOctaves([]float64{m, b})
		}
		pos += dur
	}
	return normalise(buf, -20+8*newRNG(seed+1).float())
}

// sweeps renders chirps: single sines and harmonic tones swept linearly and
// exponentially across the band, and pairs of sines swept at a fixed ratio
// that no DTMF pair has (1.10 or 2.7–3.0; DTMF ratios run 1.28–2.34).
func sweeps(seed uint64, n int) []int16 {
	r := newRNG(seed)
	buf := make([]float64, n)
	for pos := 0; pos < n; {
		dur := samplesOf(r.between(200, 3000))
		f1, f2 := r.between(200, 3400), r.between(200, 3400)
		exp := r.intn(2) == 0
		var ratios []float64
		var amps []float64
		switch r.intn(3) {
		case 0: // single sine
			ratios, amps = []float64{1}, []float64{1}
		case 1: // harmonic tone
			ratios, amps = []float64{1, 2, 3, 4, 5}, []float64{1, 0.6, 0.4, 0.3, 0.2}
			f1, f2 = f1/3, f2/3
		default: // two sines at a non-DTMF ratio
			ratios, amps = []float64{1, []float64{1.10, 2.7, 3.0}[r.intn(3)]}, []float64{1, r.between(0.3, 1)}
			f1, f2 = f1/3, f2/3
		}
		phases := make([]float64, len(ratios))
		for i := 0; i < dur && pos+i < n; i++ {
			x := float64(i) / float64(dur)
			f := f1 + (f2-f1)*x
			if exp {
				f = f1 * math.Pow(f2/f1, x)
			}
			env := math.Min(1, math.Min(float64(i), float64(dur-i))/float64(samplesOf(5)))
			var s float64
			for k, q := range ratios {
				if f*q >= 3800 {
					continue
				}
				phases[k] += 2 * math.Pi * f * q / SampleRate
				s += amps[k] * math.Sin(phases[k])
			}
			buf[pos+i] += env * s
		}
		pos += dur + samplesOf(r.between(0, 300))
	}
	return normalise(buf, -16)
}

// bells renders struck bells: inharmonic partials (hum, prime, tierce, quint,
// nominal and upper partials of a church bell), the hum and prime ringing
// longest, so what remains late in the decay is an octave, not a DTMF pair.
func bells(seed uint64, n int) []int16 {
	r := newRNG(seed)
	buf := make([]float64, n)
	ratios := []float64{0.5, 1, 1.2, 1.5, 2, 2.5, 2.67, 3, 4.2}
	decay := []float64{3, 2.5, 0.8, 0.6, 0.7, 0.4, 0.35, 0.3, 0.2} // seconds
	for pos := 0; pos < n; {
		f0 := r.between(300, 1200)
		amp := r.between(0.4, 1)
		for k, q := range ratios {
			f := f0 * q
			if f >= 3800 {
				continue
			}
			a := amp * r.between(0.3, 1)
			ph := r.between(0, 2*math.Pi)
			// A decaying phasor: rotation and decay in one complex factor.
			g := math.Exp(-1 / (decay[k] * SampleRate))
			w := 2 * math.Pi * f / SampleRate
			cr, ci := g*math.Cos(w), g*math.Sin(w)
			pr, pi := a*math.Cos(ph), a*math.Sin(ph)
			for i := 0; pos+i < n && i < 4*SampleRate; i++ {
				buf[pos+i] += pi
				pr, pi = pr*cr-pi*ci, pr*ci+pi*cr
			}
		}
		pos += samplesOf(r.between(300, 1500))
	}
	return normalise(buf, -18)
}

// cadence is a call-progress tone: frequencies sounded together, an on/off
// pattern repeated for a total length.
type cadence struct {
	name    string
	freqs   []float64
	level   float64 // dBm0 per frequency
	pattern []float64
	total   time.Duration
	// modulate, when non-zero, amplitude-modulates by that frequency (Japanese
	// ringback: 400 Hz modulated by 16 Hz).
	modulate float64
}

// callProgressTones lists North American (ANSI T1.401), UK (SIN 350), CEPT
// (ETSI TR 101 041) and Japanese call-progress tones, special information
// tones and fax/modem answer tones. Patterns are on/off times in ms.
func callProgressTones() []cadence {
	s := func(d int) time.Duration { return time.Duration(d) * time.Second }
	return []cadence{
		{"NA dial 350+440 Hz continuous", []float64{350, 440}, -13, nil, s(10), 0},
		{"NA ringback 440+480 Hz 2s/4s", []float64{440, 480}, -19, []float64{2000, 4000}, s(18), 0},
		{"NA busy 480+620 Hz 0.5s/0.5s", []float64{480, 620}, -24, []float64{500, 500}, s(10), 0},
		{"NA reorder 480+620 Hz 0.25s/0.25s", []float64{480, 620}, -24, []float64{250, 250}, s(10), 0},
		{"NA call waiting 440 Hz 0.3s", []float64{440}, -13, []float64{300, 9700}, s(10), 0},
		{"UK dial 350+450 Hz continuous", []float64{350, 450}, -10, nil, s(10), 0},
		{"UK ringing 400+450 Hz 0.4/0.2/0.4/2.0s", []float64{400, 450}, -10, []float64{400, 200, 400, 2000}, s(12), 0},
		{"UK busy 400 Hz 0.375s/0.375s", []float64{400}, -10, []float64{375, 375}, s(10), 0},
		{"UK number unobtainable 400 Hz continuous", []float64{400}, -10, nil, s(6), 0},
		{"CEPT dial 425 Hz continuous", []float64{425}, -10, nil, s(10), 0},
		{"CEPT ringing 425 Hz 1s/4s", []float64{425}, -10, []float64{1000, 4000}, s(10), 0},
		{"CEPT busy 425 Hz 0.5s/0.5s", []float64{425}, -10, []float64{500, 500}, s(10), 0},
		{"CEPT congestion 425 Hz 0.2s/0.2s", []float64{425}, -10, []float64{200, 200}, s(6), 0},
		{"Japan ringback 400 Hz ×16 Hz 1s/2s", []float64{400}, -10, []float64{1000, 2000}, s(9), 16},
		{"SIT 913.8/1370.6/1776.7 Hz", nil, -13, nil, s(10), 0},
		{"fax CNG 1100 Hz 0.5s/3s", []float64{1100}, -10, []float64{500, 3000}, s(10), 0},
		{"fax/modem answer 2100 Hz", []float64{2100}, -12, []float64{3000, 500}, s(7), 0},
		{"test tone 1004 Hz", []float64{1004}, -10, nil, s(5), 0},
	}
}

func (c cadence) render() []int16 {
	n := int(c.total * SampleRate / time.Second)
	buf := make([]float64, n)
	if c.freqs == nil {
		// SIT: three single tones of 330 ms in sequence, 1 s silence, repeated.
		seq := []float64{913.8, 1370.6, 1776.7}
		per := samplesOf(330)
		for pos := 0; pos < n; pos += 3*per + SampleRate {
			for k, f := range seq {
				for i := 0; i < per && pos+k*per+i < n; i++ {
					buf[pos+k*per+i] = dtmf.Amplitude(c.level) * math.Sin(2*math.Pi*f*float64(i)/SampleRate)
				}
			}
		}
		return toPCM(buf)
	}
	on := func(i int) bool {
		if c.pattern == nil {
			return true
		}
		var period float64
		for _, p := range c.pattern {
			period += p
		}
		t := math.Mod(float64(i)*1000/SampleRate, period)
		for k, p := range c.pattern {
			if t < p {
				return k%2 == 0
			}
			t -= p
		}
		return false
	}
	a := dtmf.Amplitude(c.level)
	for i := range buf {
		if !on(i) {
			continue
		}
		var s float64
		for _, f := range c.freqs {
			s += a * math.Sin(2*math.Pi*f*float64(i)/SampleRate)
		}
		if c.modulate > 0 {
			s *= 0.5 + 0.5*math.Sin(2*math.Pi*c.modulate*float64(i)/SampleRate)
		}
		buf[i] = s
	}
	return toPCM(buf)
}

func toPCM(buf []float64) []int16 {
	out := make([]int16, len(buf))
	for i, v := range buf {
		out[i] = dtmf.Clip16(v)
	}
	return out
}

// nearMissPairs renders 200 ms bursts, 100 ms apart, of tone pairs that are
// not DTMF: both tones midway between DTMF frequencies (about 5% from each),
// one DTMF tone with the other tone midway, one DTMF tone alone, and two
// tones from the same group.
func nearMissPairs(level float64) []int16 {
	lowMiss := []float64{650, 733, 811, 896, 1000}
	highMiss := []float64{1130, 1272, 1406, 1553, 1720}
	var pairs [][]float64
	for _, l := range lowMiss {
		for _, h := range highMiss {
			pairs = append(pairs, []float64{l, h})
		}
	}
	for _, l := range dtmfLow {
		for _, h := range highMiss {
			pairs = append(pairs, []float64{l, h})
		}
		pairs = append(pairs, []float64{l})
	}
	for _, h := range dtmfHigh {
		for _, l := range lowMiss {
			pairs = append(pairs, []float64{l, h})
		}
		pairs = append(pairs, []float64{h})
	}
	for i := range 3 {
		pairs = append(pairs, []float64{dtmfLow[i], dtmfLow[i+1]}, []float64{dtmfHigh[i], dtmfHigh[i+1]})
	}
	a := dtmf.Amplitude(level)
	on, off := samplesOf(200), samplesOf(100)
	buf := make([]float64, len(pairs)*(on+off))
	for k, p := range pairs {
		base := k * (on + off)
		for i := range on {
			for _, f := range p {
				buf[base+i] += a * math.Sin(2*math.Pi*f*float64(i)/SampleRate)
			}
		}
	}
	return toPCM(buf)
}

// maskTones renders the mask tone count times with 100 ms gaps: the agent's
// side hears it for every key press, and it must never read as a digit.
func maskTones(m dtmf.MaskTone, count int) []int16 {
	var pcm []int16
	for range count {
		pcm = m.AppendPCM(pcm)
		pcm = appendSilence(pcm, samplesOf(100))
	}
	return pcm
}
