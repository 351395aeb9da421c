package dtmfcorpus

import (
	"dtmfgw/dtmf"
	"testing"
)

func TestHarmonicPairNearDTMF(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		tol    float64
		want   bool
	}{
		// 7 × 134.43 = 941, 9 × 134.43 = 1209.9: harmonics 7 and 9 are key *.
		{"134.43 Hz harmonics 7 and 9 are key *", 134.43, 134.43, 0.02, true},
		// 4 × 240 = 960 (+2.0% of 941), 5 × 240 = 1200 (−0.7% of 1209).
		{"240 Hz harmonics 4 and 5 just outside 2%", 240, 240, 0.02, false},
		{"240 Hz harmonics 4 and 5 inside 2.5%", 240, 240, 0.025, true},
		{"vibrato sweeping onto the pair", 236, 244, 0.02, true},
		// 697 and 1209 as fundamental and a harmonic need ratio 1.73: never.
		{"697 Hz alone has no partner harmonic", 697, 697, 0.02, false},
	}
	for _, tt := range tests {
		if got := harmonicPairNearDTMF(tt.lo, tt.hi, tt.tol); got != tt.want {
			t.Errorf("%s: harmonicPairNearDTMF(%g, %g, %g) = %v, want %v", tt.name, tt.lo, tt.hi, tt.tol, got, tt.want)
		}
	}
}

func TestResonatorPeaksAtItsFrequency(t *testing.T) {
	for _, f := range []float64{500, 1200, 2500} {
		gain := func(probe float64) float64 {
			r := newResonator(f, 80)
			x := sine(probe, 1000, SampleRate, SampleRate)
			y := make([]int16, len(x))
			for i, v := range x {
				y[i] = dtmf.Clip16(r.next(float64(v)) / 20)
			}
			return toneLevel(y[SampleRate/2:], probe, SampleRate)
		}
		at, below, above := gain(f), gain(f*0.7), gain(f*1.4)
		if at < 3*below || at < 3*above {
			t.Errorf("%g Hz resonator: gain %.1f at, %.1f below, %.1f above", f, at, below, above)
		}
	}
}

// The singing material must hold the hard cases, not merely allow them:
// notes whose vibrato puts two harmonics within the ±1.5% a receiver must
// accept of a DTMF row and column.
func TestSingingIncludesNotesOnDTMFPairs(t *testing.T) {
	total := 0
	for _, s := range singers {
		_, n := sing(s)
		total += n
	}
	if total < 5 {
		t.Fatalf("%d sung notes put two harmonics on a DTMF pair, want at least 5", total)
	}
	t.Logf("%d sung notes put two harmonics within 1.5%% of a DTMF pair", total)
}
