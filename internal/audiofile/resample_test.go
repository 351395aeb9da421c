package audiofile

import (
	"math"
	"testing"
)

// toneLevel returns the amplitude of the freq Hz component of x (at
// SampleRate) by correlation with a quadrature pair: exact for a whole
// number of periods, close enough over many.
func toneLevel(x []int16, freq float64) float64 {
	var re, im float64
	for i, v := range x {
		ph := 2 * math.Pi * freq * float64(i) / SampleRate
		re += float64(v) * math.Cos(ph)
		im += float64(v) * math.Sin(ph)
	}
	return 2 * math.Hypot(re, im) / float64(len(x))
}

func rms(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

// The DTMF frequencies (ITU-T Q.23) must come through at their level: the
// detector's level and twist checks depend on it.
func TestResampleKeepsDTMFBandTonesAtTheirLevel(t *testing.T) {
	for _, rate := range []int{4000, 6000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000} {
		for _, freq := range []float64{697, 941, 1209, 1633} {
			if freq >= float64(rate)*cutoffRatio {
				continue // above what a 4 kHz file can hold
			}
			src := toPCM16(sine(rate, rate, freq, 10000)) // one second
			out := Resample(src, rate)
			if len(out) != SampleRate {
				t.Fatalf("%d Hz: %d samples out, want %d", rate, len(out), SampleRate)
			}
			// Skip the edges, where the filter sees the zeros outside.
			mid := out[800 : SampleRate-800]
			level := toneLevel(mid, freq)
			if db := 20 * math.Log10(level/10000); math.Abs(db) > 0.05 {
				t.Errorf("%d Hz source, %v Hz tone: level %.1f (%+.3f dB), want 10000 within 0.05 dB", rate, freq, level, db)
			}
			// What is not the tone is filter error: keep it 50 dB down.
			resid := residual(mid, freq, level)
			if db := 20 * math.Log10(resid/10000); db > -50 {
				t.Errorf("%d Hz source, %v Hz tone: residual %.1f dB, want below -50 dB", rate, freq, db)
			}
		}
	}
}

// residual is the RMS of x minus its best-fitting sine at freq.
func residual(x []int16, freq, _ float64) float64 {
	var re, im float64
	for i, v := range x {
		ph := 2 * math.Pi * freq * float64(i) / SampleRate
		re += float64(v) * math.Cos(ph)
		im += float64(v) * math.Sin(ph)
	}
	a, b := 2*re/float64(len(x)), 2*im/float64(len(x))
	var s float64
	for i, v := range x {
		ph := 2 * math.Pi * freq * float64(i) / SampleRate
		d := float64(v) - a*math.Cos(ph) - b*math.Sin(ph)
		s += d * d
	}
	return math.Sqrt(s / float64(len(x)))
}

// A tone above the 4 kHz Nyquist limit of the output must not fold back
// into the band the detector listens to.
func TestResampleRejectsWhatWouldAlias(t *testing.T) {
	tests := []struct {
		rate int
		freq float64
	}{
		{16000, 6791},  // would alias to 1209 Hz
		{16000, 7303},  // would alias to 697 Hz
		{44100, 6367},  // would alias to 1633 Hz
		{44100, 15000}, // far above
		{48000, 9209},  // would alias to 1209 Hz
		{11025, 5000},
	}
	for _, tc := range tests {
		src := toPCM16(sine(tc.rate, tc.rate, tc.freq, 20000))
		out := Resample(src, tc.rate)
		mid := out[800 : len(out)-800]
		if db := 20 * math.Log10(rms(mid)/(20000/math.Sqrt2)); db > -60 {
			t.Errorf("%d Hz source, %v Hz tone: %.1f dB left after resampling, want below -60 dB", tc.rate, tc.freq, db)
		}
	}
}

func TestResamplePassesDCExactly(t *testing.T) {
	for _, rate := range []int{6000, 11025, 44100, 48000, 7999} {
		src := make([]int16, rate)
		for i := range src {
			src[i] = 1234
		}
		out := Resample(src, rate)
		for i := 400; i < len(out)-400; i++ {
			if out[i] != 1234 {
				t.Fatalf("%d Hz: sample %d is %d, want 1234", rate, i, out[i])
			}
		}
	}
}

func TestResampleOutputLength(t *testing.T) {
	tests := []struct{ n, rate, want int }{
		{0, 44100, 0},
		{1, 44100, 0},
		{441, 44100, 80},
		{442, 44100, 80},
		{3, 6000, 4},
		{100, 8000, 100},
		{7999, 7999, 8000},
	}
	for _, tc := range tests {
		if got := len(Resample(make([]int16, tc.n), tc.rate)); got != tc.want {
			t.Errorf("%d samples at %d Hz: %d out, want %d", tc.n, tc.rate, got, tc.want)
		}
	}
}

func TestResampleClipsInsteadOfWrapping(t *testing.T) {
	// A full-scale square wave overshoots after low-pass filtering (Gibbs);
	// the overshoot must clip, not wrap to the other sign.
	src := make([]int16, 48000)
	for i := range src {
		if (i/24)%2 == 0 {
			src[i] = 32767
		} else {
			src[i] = -32768
		}
	}
	out := Resample(src, 48000)
	for i := 1; i < len(out); i++ {
		if d := int(out[i]) - int(out[i-1]); d > 40000 || d < -40000 {
			t.Fatalf("jump of %d between samples %d and %d: wrapped", d, i-1, i)
		}
	}
}

func BenchmarkResample44100(b *testing.B) {
	src := toPCM16(sine(44100, 44100, 1000, 10000))
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		Resample(src, 44100)
	}
}
