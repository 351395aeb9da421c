package dtmf

// Verifying a candidate pair: the Detector fits a two-tone model to the
// window and judges it by Q.24's limits — frequency, purity, a third
// tone, harmonics — and finds where the pair starts and ends.

import (
	"math"
)

// measure is step 3: each tone's frequency, amplitude and phase over the
// window ending at t, and the frequency, level and twist limits.
// now and prev are the tones' bins over the window and the window one hop
// earlier.
func (d *Detector) measure(t int64, row, col int, now, prev [2]complex128) (toneModel, bool) {
	m := toneModel{ref: t - winLen}
	nominal := [2]int{toneHz[row], toneHz[4+col]}
	for i := range 2 {
		if absSq(prev[i]) == 0 || absSq(now[i]) == 0 {
			return m, false
		}
		w0 := 2 * math.Pi * float64(nominal[i]) / SampleRate
		// Coarse: the bin's phase turns by δ·blockLen per hop.
		coarse := w0 + cphase(now[i]*cconj(prev[i]))/blockLen
		// Fine: two Hann windows fineLag apart, measured at the coarse
		// frequency, turn by the remaining offset times fineLag.
		y1 := toneDFT(&d.hist, t-winLen-fineLag, winLen, coarse, true)
		y2 := toneDFT(&d.hist, t-winLen, winLen, coarse, true)
		turn := y2 * cconj(y1) * complex(math.Cos(coarse*fineLag), -math.Sin(coarse*fineLag))
		if absSq(turn) == 0 {
			return m, false
		}
		w := coarse + cphase(turn)/fineLag
		dev := w/w0 - 1
		if math.Abs(dev) > d.cfg.maxDev {
			return m, false
		}
		m.omega[i] = w
		// Hann sums to winLen/2, and a real sine of peak a puts a/2 at +ω.
		m.amp[i] = toneDFT(&d.hist, t-winLen, winLen, w, true) * complex(4.0/winLen, 0)
	}
	al, ah := math.Sqrt(absSq(m.amp[0])), math.Sqrt(absSq(m.amp[1]))
	if al < d.cfg.minAmp || ah < d.cfg.minAmp {
		return m, false
	}
	twist := 20 * math.Log10(ah/al)
	if twist > d.cfg.maxHighOver || -twist > d.cfg.maxLowOver {
		return m, false
	}
	if harmonic(m.omega[1] / m.omega[0]) {
		return m, false
	}
	return m, true
}

// harmonicRatios are the frequency ratios of neighbouring low harmonics of
// one fundamental (2:1, 3:2, 4:3, 5:3), with how close a pair's ratio must
// come to one to be taken for a harmonic sound rather than a DTMF pair.
// Every Q.24 must-detect pair (each tone within ±1.5%) stays at least 0.7%
// away from all of them (4:3 against 941+1209 Hz is the closest; 2:1 is
// 1.2% away), so the check costs no conforming digit, while a voice or
// instrument whose first two harmonics fall within 2.5% of a DTMF pair
// (e.g. 752+1504 Hz, read as 770+1477 Hz) is refused even when those two
// harmonics carry almost all of its energy.
var harmonicRatios = [...]struct{ ratio, tol float64 }{
	{2, 0.005}, {1.5, 0.005}, {4.0 / 3, 0.003}, {5.0 / 3, 0.003},
}

// harmonic reports whether a high/low frequency ratio is that of two
// harmonics of one fundamental.
func harmonic(ratio float64) bool {
	for _, h := range harmonicRatios {
		if math.Abs(ratio/h.ratio-1) <= h.tol {
			return true
		}
	}
	return false
}

func cconj(c complex128) complex128 { return complex(real(c), -imag(c)) }

func cphase(c complex128) float64 { return math.Atan2(imag(c), real(c)) }

// modelWalker steps the model through consecutive samples with two rotating
// phasors.
type modelWalker struct {
	p, rot [2]complex128
	amp    [2]complex128
}

func (m *toneModel) walker(from int64) modelWalker {
	var w modelWalker
	for i := range 2 {
		a := m.omega[i] * float64(from-m.ref)
		w.p[i] = complex(math.Cos(a), math.Sin(a))
		w.rot[i] = complex(math.Cos(m.omega[i]), math.Sin(m.omega[i]))
		w.amp[i] = m.amp[i]
	}
	return w
}

// next returns the model's value at the current sample and advances.
func (w *modelWalker) next() float64 {
	v := real(w.amp[0]*w.p[0]) + real(w.amp[1]*w.p[1])
	w.p[0] *= w.rot[0]
	w.p[1] *= w.rot[1]
	return v
}

// purity is the share of the energy of samples [lo, hi) that the model
// explains: 1 − Σ(x−m)²/Σx², both sums taken about their means so that a
// DC offset counts for nothing.
func (d *Detector) purity(m *toneModel, lo, hi int64) float64 {
	w := m.walker(lo)
	var sx, sxx, sr, srr float64
	for n := lo; n < hi; n++ {
		x := float64(d.hist[n&histMask])
		r := residual(x, w.next())
		sx += x
		sxx += x * x
		sr += r
		srr += r * r
	}
	k := float64(hi - lo)
	energy := sxx - sx*sx/k
	if energy <= 0 {
		return 0
	}
	return 1 - (srr-sr*sr/k)/energy
}

// clipLevel is the magnitude from which a sample is taken to be clipped: a
// pair louder than Q.24's 0 dBm0 per tone overdrives 16 bits (two tones at
// 0 dBm0 already peak at 45652), and G.711 decodes its largest codes to
// 32124 (µ-law) and 32256 (A-law).
const clipLevel = 32000

// residual is what the model leaves of sample x. Clipping changes only the
// clipped samples, so a clipped sample that the model predicts at least as
// loud, with the same sign, is explained: without this, an over-driven pair's
// clipping distortion would count against its purity.
func residual(x, model float64) float64 {
	if x >= clipLevel && model >= x || x <= -clipLevel && model <= x {
		return 0
	}
	return x - model
}

// thirdTone returns the power of the strongest sinusoid left in samples
// [lo, hi) once the model is taken out, relative to the power of the
// samples, in dB; frequencies within thirdToneGuard of the pair's own are
// skipped. The residual's spectrum comes from one zero-padded FFT.
func (d *Detector) thirdTone(m *toneModel, lo, hi int64) float64 {
	n := int(hi - lo)
	w := m.walker(lo)
	var sx, sxx, sr float64
	for i := range n {
		x := float64(d.hist[(lo+int64(i))&histMask])
		r := residual(x, w.next())
		d.spec[i] = complex(r, 0)
		sx += x
		sxx += x * x
		sr += r
	}
	energy := sxx - sx*sx/float64(n)
	if energy <= 0 {
		return 0
	}
	// Without its mean, so that a DC offset leaks into no scanned bin.
	mean := complex(sr/float64(n), 0)
	for i := range n {
		d.spec[i] -= mean
	}
	clear(d.spec[n:])
	fft(&d.spec)
	best := 0.0
	for k := thirdToneFirstBin; k <= thirdToneLastBin; k++ {
		f := float64(k) * SampleRate / spectrumLen
		if math.Abs(f-m.hz(0)) < thirdToneGuard || math.Abs(f-m.hz(1)) < thirdToneGuard {
			continue
		}
		best = max(best, absSq(d.spec[k]))
	}
	// A sine of peak a over n samples gives |X|² = (a·n/2)², power a²/2.
	return 10 * math.Log10(2*best/(float64(n)*energy)+1e-30)
}

// hz returns tone i's frequency in hertz.
func (m *toneModel) hz(i int) float64 { return m.omega[i] * SampleRate / (2 * math.Pi) }

// bestRun is the maximum-subarray search of step 5: the run [a, b) within
// [lo, hi) with the largest total score 2xm − m².
func (d *Detector) bestRun(m *toneModel, lo, hi int64) (a, b int64) {
	w := m.walker(lo)
	var best, run float64
	start := lo
	a, b = lo, lo
	for n := lo; n < hi; n++ {
		x := float64(d.hist[n&histMask])
		v := w.next()
		run += 2*x*v - v*v
		if run <= 0 {
			run = 0
			start = n + 1
			continue
		}
		if run > best {
			best, a, b = run, start, n+1
		}
	}
	return a, b
}

// earlierPart looks for a part of the same tone before an interruption of
// up to bridgeGap samples just before onset a, as a key press whose tone
// was broken early (Q.24: interruptions ≤ 10 ms are bridged) and restarted
// with another phase. It returns the onset of that earlier part, or a.
func (d *Detector) earlierPart(m *toneModel, a, lo int64) int64 {
	start, gap := a, int64(0)
	for c := a - blockLen; c >= lo; c -= blockLen {
		if d.blockHasPair(m, c) {
			start, gap = c, 0
			continue
		}
		gap += blockLen
		if start < a || gap > bridgeGap {
			break
		}
	}
	if start == a {
		return a
	}
	// Refine the earlier part's start against a model of its own phase.
	var part toneModel
	part.omega, part.ref = m.omega, start
	for i := range 2 {
		y := toneDFT(&d.hist, start, blockLen, m.omega[i], false)
		part.amp[i] = y * complex(2.0/blockLen, 0)
	}
	p0, _ := d.bestRun(&part, max(lo, start-blockLen), start+blockLen)
	return min(p0, start+blockLen/2)
}

// blockHasPair reports whether the blockLen samples from c hold the
// model's two tones at their frequencies, in any phase.
func (d *Detector) blockHasPair(m *toneModel, c int64) bool {
	var sx, sxx float64
	for n := c; n < c+blockLen; n++ {
		x := float64(d.hist[n&histMask])
		sx += x
		sxx += x * x
	}
	energy := sxx - sx*sx/blockLen
	var p float64
	for i := range 2 {
		y := absSq(toneDFT(&d.hist, c, blockLen, m.omega[i], false))
		want := partLevel * blockLen / 2 * math.Sqrt(absSq(m.amp[i]))
		if y < want*want {
			return false
		}
		p += y
	}
	return 2*p >= partShare*blockLen*energy
}

// endOf returns the sample after the tone, searching [from, hi): the end of
// the prefix of [from, hi) with the largest total score.
func (d *Detector) endOf(m *toneModel, from, hi int64) int64 {
	w := m.walker(from)
	var sum, best float64
	end := from
	for n := from; n < hi; n++ {
		x := float64(d.hist[n&histMask])
		v := w.next()
		sum += 2*x*v - v*v
		if sum > best {
			best, end = sum, n+1
		}
	}
	return end
}
