package dtmf

import "math"

// The Detector's first stage measures the eight DTMF frequencies (ITU-T
// Q.23 Table 1) on consecutive blocks of blockLen samples with the Goertzel
// recurrence, and turns each block's result into a complex single-bin DFT
// whose phase is referred to the stream's first sample. Because every block
// shares that one phase reference, the DFT of any run of consecutive blocks
// is just the sum of the blocks' values: the Detector builds its 128-sample
// analysis window from four blocks without touching the samples again, and
// reads a tone's frequency offset from how far the phase of one window has
// turned against the window one block earlier.

// blockLen is the Goertzel block length in samples (4 ms). Four blocks make
// the 16 ms analysis window; one block is the hop between windows.
const blockLen = 32

// toneHz lists the DTMF frequencies, low group then high group (Q.23 §2),
// as integers so that block phases can be computed exactly, without drift,
// however long the stream runs.
var toneHz = [8]int{697, 770, 852, 941, 1209, 1336, 1477, 1633}

// blockPhaseSteps is how many distinct phases a block start can have: a
// block starts at sample 32·j, and exp(−i·2π·f·32·j/8000) =
// exp(−i·2π·(f·j mod 250)/250) for integer f.
const blockPhaseSteps = SampleRate / blockLen

// goertzelConst holds what the recurrence and its closing step need per
// frequency; it is computed once for the package.
type goertzelConst struct {
	coef [8]float64    // 2·cos ω
	back [8]complex128 // exp(−iω): y = s1 − exp(−iω)·s2
	tail [8]complex128 // exp(−iω(blockLen−1)): rotates y back to the block start
	// blockPhase[m] = exp(−i·2π·m/250), the phase of a block start.
	blockPhase [blockPhaseSteps]complex128
}

var goertzelTab = newGoertzelConst()

func newGoertzelConst() *goertzelConst {
	c := new(goertzelConst)
	for k, f := range toneHz {
		w := 2 * math.Pi * float64(f) / SampleRate
		c.coef[k] = 2 * math.Cos(w)
		c.back[k] = complex(math.Cos(w), -math.Sin(w))
		c.tail[k] = complex(math.Cos(w*(blockLen-1)), -math.Sin(w*(blockLen-1)))
	}
	for m := range c.blockPhase {
		a := 2 * math.Pi * float64(m) / blockPhaseSteps
		c.blockPhase[m] = complex(math.Cos(a), -math.Sin(a))
	}
	return c
}

// blockSpectrum is one block's result: for each DTMF frequency f, the sum
// of x[n]·exp(−i·2π·f·n/8000) over the block, n counted from the stream's
// first sample, and the block's energy about its mean, Σx² − (Σx)²/n: a DC
// offset (no telephone band carries one, but a badly trimmed source can)
// then neither dilutes the pair's share nor hides a gap.
//
// The bins are kept in single precision: a block's DFT needs far less than
// float32's 24 bits, and the Detector's ring of blocks then fills half the
// cache lines it would, which a relay carrying a thousand calls, each
// visited every 20 ms, pays for on every packet.
type blockSpectrum struct {
	bin    [8]complex64
	energy float64
}

// goertzelBank runs the eight Goertzel recurrences over the current block.
type goertzelBank struct {
	s1, s2 [8]float64
	energy float64
	sum    float64
	n      int // samples in the current block
	// phase[k] is (toneHz[k]·j) mod 250 for the current block number j.
	phase [8]int
}

// feedGeneric is feed in portable Go, and the reference the amd64
// version must match bit for bit. The eight recurrences go in two passes
// of four over the samples, each pass keeping its state in locals: the
// compiler then holds four frequencies' state in registers (the
// coefficients are read from memory, off the critical path), where a loop
// over the arrays stores and reloads sixteen values a sample. Each step is
// written (x − s2) + c·s1, so that only the multiply and one add wait for
// the previous step: the recurrence's latency, not its arithmetic, bounds
// its speed. The block's energy and sum ride along in the first pass,
// which has the execution units to spare.
func (g *goertzelBank) feedGeneric(xs []int16) bool {
	c := &goertzelTab.coef
	a0, a1, a2, a3 := g.s1[0], g.s1[1], g.s1[2], g.s1[3]
	b0, b1, b2, b3 := g.s2[0], g.s2[1], g.s2[2], g.s2[3]
	energy, sum := g.energy, g.sum
	for _, x := range xs {
		v := float64(x)
		a0, b0 = (v-b0)+c[0]*a0, a0
		a1, b1 = (v-b1)+c[1]*a1, a1
		a2, b2 = (v-b2)+c[2]*a2, a2
		a3, b3 = (v-b3)+c[3]*a3, a3
		energy += v * v
		sum += v
	}
	g.s1[0], g.s1[1], g.s1[2], g.s1[3] = a0, a1, a2, a3
	g.s2[0], g.s2[1], g.s2[2], g.s2[3] = b0, b1, b2, b3
	g.energy, g.sum = energy, sum
	a0, a1, a2, a3 = g.s1[4], g.s1[5], g.s1[6], g.s1[7]
	b0, b1, b2, b3 = g.s2[4], g.s2[5], g.s2[6], g.s2[7]
	for _, x := range xs {
		v := float64(x)
		a0, b0 = (v-b0)+c[4]*a0, a0
		a1, b1 = (v-b1)+c[5]*a1, a1
		a2, b2 = (v-b2)+c[6]*a2, a2
		a3, b3 = (v-b3)+c[7]*a3, a3
	}
	g.s1[4], g.s1[5], g.s1[6], g.s1[7] = a0, a1, a2, a3
	g.s2[4], g.s2[5], g.s2[6], g.s2[7] = b0, b1, b2, b3
	g.n += len(xs)
	return g.n == blockLen
}

// finish closes the current block into dst and starts the next one.
//
// With s[m] = x[m] + 2cos ω·s[m−1] − s[m−2], y[m] = s[m] − exp(−iω)·s[m−1]
// obeys y[m] = x[m] + exp(iω)·y[m−1], so y[B−1] = exp(iω(B−1))·Σx[m]exp(−iωm):
// rotating it by exp(−iω(B−1)) gives the block's DFT from its own start,
// and the block-start phase refers it to the stream's first sample.
func (g *goertzelBank) finish(dst *blockSpectrum) {
	for k := range g.s1 {
		y := complex(g.s1[k], 0) - goertzelTab.back[k]*complex(g.s2[k], 0)
		dst.bin[k] = complex64(y * goertzelTab.tail[k] * goertzelTab.blockPhase[g.phase[k]])
		g.phase[k] += toneHz[k] % blockPhaseSteps
		if g.phase[k] >= blockPhaseSteps {
			g.phase[k] -= blockPhaseSteps
		}
		g.s1[k], g.s2[k] = 0, 0
	}
	dst.energy = max(g.energy-g.sum*g.sum/blockLen, 0)
	g.energy, g.sum = 0, 0
	g.n = 0
}

// toneDFT is a single-bin DFT at an arbitrary frequency over samples the
// Detector still holds, optionally Hann-weighted. The Detector uses it
// once a pair is suspected, to measure each tone at its own frequency
// rather than at the nearest nominal one.
//
// It returns Σ w[m]·x[start+m]·exp(−iωm) for m in [0, n), the phase
// measured from start. The oscillator is a rotating phasor (one complex
// multiply per sample), which over a few hundred samples stays accurate to
// far better than the measurement needs.
func toneDFT(hist *[histLen]int16, start int64, n int, omega float64, hann bool) complex128 {
	rot := complex(math.Cos(omega), -math.Sin(omega))
	p := complex(1, 0)
	var acc complex128
	for m := range n {
		v := float64(hist[(start+int64(m))&histMask])
		if hann {
			v *= hannWindow[m]
		}
		acc += complex(v, 0) * p
		p *= rot
	}
	return acc
}

// winLen is the analysis window: four Goertzel blocks, 16 ms.
const winLen = 4 * blockLen

// hannWindow is a periodic Hann window of winLen samples. Its sidelobes
// fall fast, so the other tone of the pair (at least 268 Hz away) does not
// pull the phase a tone's frequency is read from; its sum is winLen/2.
var hannWindow = func() (w [winLen]float64) {
	for m := range w {
		w[m] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(m)/winLen)
	}
	return w
}()
