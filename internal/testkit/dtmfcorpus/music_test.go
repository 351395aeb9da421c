package dtmfcorpus

import (
	"slices"
	"sync"
	"testing"
	"time"

	"dtmfgw/dtmf"
)

func TestNearDTMFPair(t *testing.T) {
	tests := []struct {
		name string
		fs   []float64
		tol  float64
		want bool
	}{
		{"key 1 exactly", []float64{697, 1209}, 0.04, true},
		{"F5 and F#6 are key 3 within 0.2%", []float64{midiHz(77), midiHz(90)}, 0.04, true},
		{"row tone alone", []float64{697, 440}, 0.04, false},
		{"two row tones", []float64{697, 770}, 0.04, false},
		{"5% off both", []float64{733, 1272}, 0.04, false},
		{"3.9% off both, inside 4%", []float64{697 * 1.039, 1209 * 0.961}, 0.04, true},
		{"NA dial tone", []float64{350, 440}, 0.04, false},
		{"empty", nil, 0.04, false},
	}
	for _, tt := range tests {
		if got := nearDTMFPair(tt.fs, tt.tol); got != tt.want {
			t.Errorf("%s: nearDTMFPair(%v) = %v, want %v", tt.name, tt.fs, got, tt.want)
		}
	}
}

// builtMusic is MusicCases built once for all the tests that only read it.
var builtMusic = sync.OnceValue(MusicCases)

func TestMusicGeneratorsAreDeterministic(t *testing.T) {
	const n = 2 * SampleRate
	gens := []struct {
		name string
		gen  func(uint64, int) []int16
	}{{"chords", chords}, {"melody", melody}, {"sweeps", sweeps}, {"bells", bells}}
	for _, g := range gens {
		a, b, c := g.gen(1, n), g.gen(1, n), g.gen(2, n)
		if !slices.Equal(a, b) {
			t.Errorf("%s: same seed, different audio", g.name)
		}
		if slices.Equal(a, c) {
			t.Errorf("%s: different seeds, same audio", g.name)
		}
		if len(a) != n {
			t.Errorf("%s: %d samples, want %d", g.name, len(a), n)
		}
	}
}

func TestMusicCasesAreTalkOff(t *testing.T) {
	var seconds float64
	cats := map[string]bool{}
	for _, c := range builtMusic() {
		if c.Kind != TalkOff || len(c.Want) != 0 || c.Codec != CodecLinear {
			t.Errorf("%s: kind %v, %d wanted digits, codec %s", c.Name, c.Kind, len(c.Want), c.Codec)
		}
		if len(c.PCM) < SampleRate {
			t.Errorf("%s: only %d samples", c.Name, len(c.PCM))
		}
		seconds += c.Seconds()
		cats[c.Category] = true
	}
	for _, cat := range []string{CatChords, CatMelody, CatSweeps, CatBells, CatCallProgress, CatNearPairs, CatMaskTone, CatNoiseOnly, CatSinging} {
		if !cats[cat] {
			t.Errorf("no %q material", cat)
		}
	}
	if seconds < 10*60 {
		t.Errorf("%.1f min of synthetic talk-off, want at least 10", seconds/60)
	}
}

func TestMusicLevelsAreSane(t *testing.T) {
	// Loud enough to matter, not so loud that clipping makes it noise.
	for _, c := range builtMusic() {
		var e float64
		clipped := 0
		for _, v := range c.PCM {
			e += float64(v) * float64(v)
			if v == 32767 || v == -32768 {
				clipped++
			}
		}
		rms := dBm0RMS(e / float64(len(c.PCM)))
		if rms < -40 || rms > -2 {
			t.Errorf("%s: RMS %.1f dBm0", c.Name, rms)
		}
		if clipped > len(c.PCM)/1000 {
			t.Errorf("%s: %d clipped samples", c.Name, clipped)
		}
	}
}

func TestCallProgressCadence(t *testing.T) {
	// UK ringing: 400 ms on, 200 off, 400 on, 2000 off.
	c := cadence{freqs: []float64{400, 450}, level: -10, pattern: []float64{400, 200, 400, 2000}, total: 3 * time.Second}
	pcm := c.render()
	active := func(ms int) bool {
		i := samplesOf(float64(ms))
		for _, v := range pcm[i : i+40] {
			if v != 0 {
				return true
			}
		}
		return false
	}
	for _, tt := range []struct {
		ms int
		on bool
	}{{10, true}, {390, true}, {450, false}, {650, true}, {1100, false}, {2900, false}} {
		if active(tt.ms) != tt.on {
			t.Errorf("at %d ms on=%v, want %v", tt.ms, !tt.on, tt.on)
		}
	}
}

func TestMaskTonesRepeat(t *testing.T) {
	m := dtmf.DefaultMaskTone()
	pcm := maskTones(m, 3)
	if want := 3 * (m.Samples() + samplesOf(100)); len(pcm) != want {
		t.Errorf("%d samples, want %d", len(pcm), want)
	}
}
