package dtmfcorpus

import (
	"errors"
	"fmt"
	"math"
)

// Resampler converts PCM between two rates by a rational factor L/M with a
// polyphase windowed-sinc low-pass: output sample n sits at input position
// n·M/L, and is the sum of the input around it weighted by a Kaiser-windowed
// sinc, one precomputed tap set per fractional position (phase).
type Resampler struct {
	l, m   int       // output step L, input step M, after dividing by the gcd
	half   int       // taps on each side of the output position
	phases []float64 // L rows of 2·half taps
}

// maxPhases bounds the tap table (L rows): 22050→8000 needs 160.
const maxPhases = 1024

// ErrRates is returned for a rate pair the Resampler cannot handle.
var ErrRates = errors.New("dtmfcorpus: unsupported resampling rates")

// NewResampler returns a Resampler from rate in to rate out. The pass band
// reaches 85% of the lower Nyquist frequency (3400 Hz for 8 kHz output, the
// telephone band) and the stop band starts at it (4000 Hz), with about 80 dB
// attenuation, so nothing above the output's Nyquist frequency folds back.
func NewResampler(in, out int) (*Resampler, error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("%w: %d → %d Hz", ErrRates, in, out)
	}
	g := gcd(in, out)
	l, m := out/g, in/g
	if l > maxPhases {
		return nil, fmt.Errorf("%w: %d → %d Hz needs %d phases", ErrRates, in, out, l)
	}
	nyq := float64(min(in, out)) / 2
	pass, stop := 0.85*nyq, nyq
	// Normalised to the input rate: cutoff in the middle of the transition band.
	fc := (pass + stop) / 2 / float64(in)
	dw := (stop - pass) / float64(in)
	const attenuation = 80.0 // dB
	beta := 0.1102 * (attenuation - 8.7)
	// Kaiser's estimate of the filter length for that transition width.
	taps := int(math.Ceil((attenuation-7.95)/(14.36*dw))) + 1
	half := (taps + 1) / 2
	r := &Resampler{l: l, m: m, half: half, phases: make([]float64, l*2*half)}
	i0b := besselI0(beta)
	for p := range l {
		row := r.phases[p*2*half : (p+1)*2*half]
		frac := float64(p) / float64(l) // output position minus floor, in input samples
		var sum float64
		for j := range row {
			// Tap j weights input sample floor+j−half+1, at distance x.
			x := float64(j-half+1) - frac
			w := x / float64(half)
			if math.Abs(w) >= 1 {
				row[j] = 0
				continue
			}
			h := 2 * fc * sinc(2*fc*x) * besselI0(beta*math.Sqrt(1-w*w)) / i0b
			row[j] = h
			sum += h
		}
		// Unity gain at DC for every phase, so the filter adds no ripple at
		// the phase rate.
		for j := range row {
			row[j] /= sum
		}
	}
	return r, nil
}

// Resample returns src converted to the output rate. Input beyond either end
// counts as silence.
func (r *Resampler) Resample(src []int16) []int16 {
	n := int((int64(len(src))*int64(r.l) + int64(r.m) - 1) / int64(r.m))
	dst := make([]int16, n)
	for i := range dst {
		pos := int64(i) * int64(r.m)
		base := int(pos / int64(r.l))
		p := int(pos % int64(r.l))
		row := r.phases[p*2*r.half : (p+1)*2*r.half]
		start := base - r.half + 1
		var acc float64
		for j, h := range row {
			k := start + j
			if k >= 0 && k < len(src) {
				acc += h * float64(src[k])
			}
		}
		dst[i] = clip16(acc)
	}
	return dst
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series (converges fast for the β used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
