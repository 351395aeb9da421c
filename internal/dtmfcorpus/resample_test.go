package dtmfcorpus

import (
	"math"
	"testing"
)

// toneLevel returns the amplitude of the component at f in x (a Goertzel
// correlation against a Hann-windowed sine and cosine).
func toneLevel(x []int16, f float64, rate int) float64 {
	var re, im, wsum float64
	for i, v := range x {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(len(x)))
		ph := 2 * math.Pi * f * float64(i) / float64(rate)
		re += w * float64(v) * math.Cos(ph)
		im += w * float64(v) * math.Sin(ph)
		wsum += w
	}
	return 2 * math.Hypot(re, im) / wsum
}

func sine(f, amp float64, rate, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = clip16(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return out
}

func TestResamplerEspeakRateToTelephoneBand(t *testing.T) {
	r, err := NewResampler(22050, 8000)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		freq   float64
		minDB  float64 // output level relative to input
		maxDB  float64
		alias  float64 // where a stop-band tone would fold to at 8 kHz
		stopDB float64
	}{
		{name: "pass band 300 Hz", freq: 300, minDB: -0.05, maxDB: 0.05},
		{name: "pass band DTMF 697 Hz", freq: 697, minDB: -0.05, maxDB: 0.05},
		{name: "pass band DTMF 1633 Hz", freq: 1633, minDB: -0.05, maxDB: 0.05},
		{name: "pass band edge 3400 Hz", freq: 3400, minDB: -0.1, maxDB: 0.1},
		{name: "stop band 4500 Hz folds to 3500 Hz", freq: 4500, alias: 3500, stopDB: -70},
		{name: "stop band 6700 Hz folds to 1300 Hz", freq: 6700, alias: 1300, stopDB: -70},
		{name: "stop band 7300 Hz folds to 700 Hz", freq: 7300, alias: 700, stopDB: -70},
	}
	const amp = 10000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sine(tt.freq, amp, 22050, 22050)
			out := r.Resample(in)
			if want := 8000; len(out) != want {
				t.Fatalf("len = %d, want %d", len(out), want)
			}
			// Skip the filter's edges, where the input was padded with silence.
			mid := out[1000:7000]
			if tt.alias == 0 {
				db := 20 * math.Log10(toneLevel(mid, tt.freq, 8000)/amp)
				if db < tt.minDB || db > tt.maxDB {
					t.Errorf("gain at %g Hz = %.3f dB, want %g..%g", tt.freq, db, tt.minDB, tt.maxDB)
				}
				return
			}
			db := 20 * math.Log10(toneLevel(mid, tt.alias, 8000)/amp+1e-12)
			if db > tt.stopDB {
				t.Errorf("%g Hz folded to %g Hz at %.1f dB, want ≤ %g dB", tt.freq, tt.alias, db, tt.stopDB)
			}
		})
	}
}

func TestResamplerKeepsTimingExact(t *testing.T) {
	// An impulse at input sample k must come out at k·8000/22050 (no delay):
	// the onsets of the corpus depend on it.
	r, err := NewResampler(22050, 8000)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]int16, 22050)
	in[11025] = 30000 // 0.5 s
	out := r.Resample(in)
	peak := 0
	for i := range out {
		if abs(int(out[i])) > abs(int(out[peak])) {
			peak = i
		}
	}
	if peak != 4000 {
		t.Errorf("impulse at 0.5 s came out at sample %d, want 4000", peak)
	}
}

func TestResamplerRates(t *testing.T) {
	tests := []struct {
		in, out int
		ok      bool
		n       int // output length for 1 s of input
	}{
		{22050, 8000, true, 8000},
		{16000, 8000, true, 8000},
		{8000, 8000, true, 8000},
		{44100, 8000, true, 8000},
		{48000, 8000, true, 8000},
		{0, 8000, false, 0},
		{8000, -1, false, 0},
		{22051, 8000, false, 0}, // 8000 phases: beyond maxPhases
	}
	for _, tt := range tests {
		r, err := NewResampler(tt.in, tt.out)
		if (err == nil) != tt.ok {
			t.Errorf("NewResampler(%d, %d) error = %v, want ok=%v", tt.in, tt.out, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		if got := len(r.Resample(make([]int16, tt.in))); got != tt.n {
			t.Errorf("%d → %d: %d samples from 1 s, want %d", tt.in, tt.out, got, tt.n)
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func BenchmarkResample22050To8000(b *testing.B) {
	r, err := NewResampler(22050, 8000)
	if err != nil {
		b.Fatal(err)
	}
	in := sine(1000, 10000, 22050, 22050)
	b.ReportAllocs()
	b.SetBytes(2 * int64(len(in)))
	for b.Loop() {
		r.Resample(in)
	}
}
