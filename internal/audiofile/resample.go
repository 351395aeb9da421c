package audiofile

import (
	"dtmfgw/dtmf"
	"math"
)

// The resampler is a windowed-sinc interpolator evaluated at the exact
// rational position of every output sample (polyphase form: with
// fromRate/SampleRate = M/L in lowest terms there are L distinct
// fractional positions). Its low-pass cuts at cutoffRatio of the lower of
// the two Nyquist frequencies, so a 44.1 kHz recording loses nothing below
// 3.5 kHz and nothing above 4 kHz folds back into the DTMF band
// (697–1633 Hz, ITU-T Q.23 §2).
const (
	// cutoffRatio places the pass-band edge at 3.5 kHz for output at 8 kHz.
	cutoffRatio = 0.4375
	// zeroCrossings is the number of sinc lobes kept on each side. With a
	// Blackman window (about 74 dB stop-band rejection) the transition band
	// is about 5.5·cutoff/zeroCrossings wide: 1.2 kHz centred on 3.5 kHz.
	zeroCrossings = 16
	// Upsampling (sources below 8 kHz) has no aliasing to fear, only images
	// of the source band; a higher, sharper cut-off keeps 1633 Hz flat in a
	// 4 kHz source.
	upCutoffRatio   = 0.47
	upZeroCrossings = 32
	// maxTableSize bounds the precomputed coefficients (float64s); odd
	// rates whose table would be larger, and short inputs, compute the
	// coefficients per output sample instead.
	maxTableSize = 1 << 20
)

// Resample converts mono samples at fromRate Hz to SampleRate. It returns
// src itself when fromRate is already SampleRate. fromRate must be
// positive; callers check it against the range they accept.
func Resample(src []int16, fromRate int) []int16 {
	if fromRate == SampleRate || len(src) == 0 || fromRate <= 0 {
		return src
	}
	g := gcd(fromRate, SampleRate)
	l, m := int64(SampleRate/g), int64(fromRate/g)
	nOut := int(int64(len(src)) * l / m)

	// fc is the cut-off in cycles per input sample.
	ratio, zc := cutoffRatio, float64(zeroCrossings)
	if fromRate < SampleRate {
		ratio, zc = upCutoffRatio, upZeroCrossings
	}
	fc := ratio * float64(min(fromRate, SampleRate)) / float64(fromRate)
	half := int(math.Ceil(zc / (2 * fc)))
	width := 2 * half

	var table []float64
	// A table pays off only when every phase is used more than once.
	if l*int64(width) <= maxTableSize && l < int64(nOut) {
		table = make([]float64, int(l)*width)
		for p := range int(l) {
			fillTaps(table[p*width:(p+1)*width], float64(p)/float64(l), fc, half)
		}
	}
	row := make([]float64, width)
	out := make([]int16, nOut)
	for n := range out {
		pos := int64(n) * m
		i, p := int(pos/l), int(pos%l)
		taps := row
		if table != nil {
			taps = table[p*width : (p+1)*width]
		} else {
			fillTaps(row, float64(p)/float64(l), fc, half)
		}
		first := i - half + 1
		var acc float64
		for j, c := range taps {
			if k := first + j; k >= 0 && k < len(src) {
				acc += c * float64(src[k])
			}
		}
		out[n] = dtmf.Clip16(acc)
	}
	return out
}

// fillTaps writes the kernel for an output sample frac input samples after
// input sample i: taps[j] weighs input sample i-half+1+j. The taps are
// normalised to sum to one so that DC passes exactly.
func fillTaps(taps []float64, frac, fc float64, half int) {
	var sum float64
	for j := range taps {
		x := float64(j-half+1) - frac
		taps[j] = kernel(x, fc, float64(half))
		sum += taps[j]
	}
	for j := range taps {
		taps[j] /= sum
	}
}

// kernel is the Blackman-windowed ideal low-pass 2fc·sinc(2fc·x), x in
// input samples, zero outside |x| < half.
func kernel(x, fc, half float64) float64 {
	if math.Abs(x) >= half {
		return 0
	}
	u := x / half
	w := 0.42 + 0.5*math.Cos(math.Pi*u) + 0.08*math.Cos(2*math.Pi*u)
	a := 2 * fc * x
	s := 1.0
	if a != 0 {
		s = math.Sin(math.Pi*a) / (math.Pi * a)
	}
	return 2 * fc * s * w
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
