package dtmfcorpus

import (
	"fmt"
	"math"
)

// CatSinging is sung vowels from the formant synthesiser below.
const CatSinging = "talk-off singing: formant-synthesised vowels"

// vowelFormants are the first three formant frequencies (Hz) of English
// vowels for an adult male (the averages of Peterson & Barney's 1952
// measurements, as textbooks quote them): i ɪ ɛ æ ɑ ɔ ʊ u ʌ ɝ.
var vowelFormants = [][3]float64{
	{270, 2290, 3010}, {390, 1990, 2550}, {530, 1840, 2480}, {660, 1720, 2410}, {730, 1090, 2440},
	{570, 840, 2410}, {440, 1020, 2240}, {300, 870, 2240}, {640, 1190, 2390}, {490, 1350, 1690},
}

// singer is a voice type: its pitch range and how far its vocal tract
// scales the formants up from an adult male's.
type singer struct {
	name           string
	lowHz, highHz  float64
	formantScale   float64
	vibrato        float64 // relative depth
	sungSeconds    int
	seed           uint64
	levelDBm0      float64
	formantBWScale float64 // narrower formants make the sound more tonal
}

var singers = []singer{
	{"bass", 82, 330, 1.0, 0.015, 40, 501, -14, 0.8},
	{"tenor", 130, 520, 1.05, 0.02, 40, 502, -12, 0.7},
	{"alto", 175, 700, 1.15, 0.025, 40, 503, -14, 0.7},
	{"soprano", 260, 1050, 1.2, 0.03, 40, 504, -12, 0.6},
	{"child", 250, 800, 1.3, 0.01, 40, 505, -16, 1.0},
}

// SingingCases returns sung vowels: a harmonic glottal source with vibrato
// shaped by three formant resonators, the way a singer's voice is made. When
// two formants each catch one harmonic, what remains looks much like a tone
// pair, which is why singing is the classic source of DTMF talk-off. Notes
// are not steered away from DTMF pairs, so some put two harmonics on a DTMF
// row and column: a receiver must still see the rest of the voice.
func SingingCases() []Case {
	var out []Case
	for _, s := range singers {
		pcm, _ := sing(s)
		out = append(out, Case{
			Category: CatSinging,
			Name:     fmt.Sprintf("%s %g–%g Hz vibrato ±%.1f%% formants ×%g seed=%d %ds", s.name, s.lowHz, s.highHz, 100*s.vibrato, s.formantScale, s.seed, s.sungSeconds),
			PCM:      pcm,
			Kind:     TalkOff,
			Codec:    CodecLinear,
		})
	}
	return out
}

// harmonicPairNearDTMF reports whether some f0 in [lo, hi] puts harmonics m
// and n within tol of a DTMF row and column frequency at the same time.
func harmonicPairNearDTMF(lo, hi, tol float64) bool {
	for _, l := range dtmfLow {
		for _, h := range dtmfHigh {
			for m := 1; float64(m)*lo <= l*(1+tol); m++ {
				a, b := l*(1-tol)/float64(m), l*(1+tol)/float64(m)
				for n := m + 1; float64(n)*lo <= h*(1+tol); n++ {
					c, d := h*(1-tol)/float64(n), h*(1+tol)/float64(n)
					if max(a, c, lo) <= min(b, d, hi) {
						return true
					}
				}
			}
		}
	}
	return false
}

// resonator is a two-pole formant filter with unity gain at DC (Klatt 1980).
type resonator struct{ a, b, c, y1, y2 float64 }

func newResonator(f, bw float64) resonator {
	c := -math.Exp(-2 * math.Pi * bw / SampleRate)
	b := 2 * math.Exp(-math.Pi*bw/SampleRate) * math.Cos(2*math.Pi*f/SampleRate)
	return resonator{a: 1 - b - c, b: b, c: c}
}

func (r *resonator) next(x float64) float64 {
	y := r.a*x + r.b*r.y1 + r.c*r.y2
	r.y2, r.y1 = r.y1, y
	return y
}

// sing renders the singer's song, and counts the notes whose vibrato brings
// two harmonics within 1.5% of a DTMF row and column (the hard cases).
func sing(s singer) (pcm []int16, notesOnDTMFPair int) {
	r := newRNG(s.seed)
	n := s.sungSeconds * SampleRate
	buf := make([]float64, n)
	const maxHarmonics = 48
	var re, im [maxHarmonics]float64
	for pos := 0; pos < n; {
		dur := samplesOf(r.between(250, 1400))
		// Notes on an equal-tempered scale within the voice's range. They are
		// not steered away from DTMF pairs: a note whose vibrato sweeps two
		// harmonics across a DTMF row and column is exactly the talk-off a
		// receiver must refuse, since the voice's other harmonics are there too.
		lo := 12 * math.Log2(s.lowHz/440)
		hi := 12 * math.Log2(s.highHz/440)
		f0 := 440 * math.Pow(2, math.Round(r.between(lo, hi))/12)
		if harmonicPairNearDTMF(f0*(1-s.vibrato), f0*(1+s.vibrato), 0.015) {
			notesOnDTMFPair++
		}
		v := vowelFormants[r.intn(len(vowelFormants))]
		var res [3]resonator
		for k, bw := range []float64{70, 100, 140} {
			res[k] = newResonator(math.Min(v[k]*s.formantScale, 3600), bw*s.formantBWScale)
		}
		for h := range re {
			ph := r.between(0, 2*math.Pi)
			re[h], im[h] = math.Cos(ph), math.Sin(ph)
		}
		vibRate, vibPhase := r.between(4.8, 6.5), r.between(0, 2*math.Pi)
		attack, release := samplesOf(40), samplesOf(60)
		for i := 0; i < dur && pos+i < n; i++ {
			f := f0 * (1 + s.vibrato*math.Sin(vibPhase+2*math.Pi*vibRate*float64(i)/SampleRate))
			w := 2 * math.Pi * f / SampleRate
			cr, ci := math.Cos(w), math.Sin(w)
			hr, hi := cr, ci
			// Glottal source: harmonics falling 12 dB per octave, lifted
			// 6 dB per octave by radiation at the lips: 1/h overall.
			var src float64
			for h := 0; h < maxHarmonics && f*float64(h+1) < 3800; h++ {
				src += im[h] / float64(h+1)
				re[h], im[h] = re[h]*hr-im[h]*hi, re[h]*hi+im[h]*hr
				hr, hi = hr*cr-hi*ci, hr*ci+hi*cr
			}
			y := src
			for k := range res {
				y = res[k].next(y)
			}
			env := math.Min(1, math.Min(float64(i)/float64(attack), float64(dur-i)/float64(release)))
			buf[pos+i] += env * y
		}
		pos += dur + samplesOf(r.between(0, 150))
	}
	return normalise(buf, s.levelDBm0), notesOnDTMFPair
}
