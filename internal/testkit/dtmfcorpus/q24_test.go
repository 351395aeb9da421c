package dtmfcorpus

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/dtmf"
)

func TestQ24CasesCoverEveryRowKeyAndCodec(t *testing.T) {
	type key struct {
		cat, codec string
		k          dtmf.Key
	}
	// Cases per key per codec for each category.
	perKey := map[string]int{
		CatFreqAccept: 8, CatFreqReject: 12, CatLevelAccept: 4, CatLevelReject: 2,
		CatTwistAccept: 11, CatTwistReject: 6, CatDurationAccept: 4, CatDurationReject: 3,
		CatPause: 2, CatInterruption: 3, CatNoise: 12, CatCornerAccept: 12, CatCornerReject: 8, CatOverdriven: 6,
	}
	count := map[key]int{}
	for _, c := range builtQ24() {
		var k dtmf.Key
		switch {
		case len(c.Want) > 0:
			k = c.Want[0].Key
		default:
			k = dtmf.Key(c.Name[len("key=")])
		}
		count[key{c.Category, c.Codec, k}]++
		wantKind := MustDetect
		if c.Category == CatFreqReject || c.Category == CatLevelReject || c.Category == CatTwistReject || c.Category == CatDurationReject || c.Category == CatCornerReject {
			wantKind = MustReject
		}
		if c.Kind != wantKind || (wantKind == MustReject) != (len(c.Want) == 0) {
			t.Errorf("%s %s: kind %v with %d wanted digits", c.Category, c.Name, c.Kind, len(c.Want))
		}
	}
	for cat, n := range perKey {
		for _, codec := range []string{CodecLinear, CodecUlaw, CodecAlaw} {
			for _, k := range Keys {
				if got := count[key{cat, codec, k}]; got != n {
					t.Errorf("%s · %s · key %s: %d cases, want %d", cat, codec, k, got, n)
				}
			}
		}
	}
}

// builtQ24 is Q24Cases built once for all the tests that only read it.
var builtQ24 = sync.OnceValue(Q24Cases)

func TestQ24CasesAreDeterministic(t *testing.T) {
	digest := func(cases []Case) [32]byte {
		h := sha256.New()
		for _, c := range cases {
			h.Write([]byte(c.Category + c.Codec + c.Name))
			binary.Write(h, binary.LittleEndian, c.PCM)
			binary.Write(h, binary.LittleEndian, c.Want)
		}
		return [32]byte(h.Sum(nil))
	}
	if digest(builtQ24()) != digest(Q24Cases()) {
		t.Error("two builds of the Q.24 corpus differ")
	}
}

// TestQ24CasesHoldWhatTheySay measures every rendered burst of the linear
// corpus: silence before the true onset, and each tone at its stated
// frequency and level. It guards the corpus against a synthesiser bug.
func TestQ24CasesHoldWhatTheySay(t *testing.T) {
	for i, s := range q24Specs() {
		lead := 300 + i%160
		c := s.render(lead, i%64)
		if len(c.Want) == 0 && s.kind == MustDetect {
			t.Fatalf("%s: no wanted digit", c.Name)
		}
		pos := lead
		for j, tn := range s.tones {
			pos += int(tn.gap * SampleRate / time.Second)
			n := tn.spec.Samples()
			if s.want[j] {
				w := c.Want[0]
				if j > 0 {
					w = c.Want[len(c.Want)-1]
				}
				if w.Onset != int64(pos) || w.Key != tn.spec.Key {
					t.Errorf("%s: wanted %s@%d, burst %d starts at %d", c.Name, w.Key, w.Onset, j, pos)
				}
			}
			if s.snrDB == 0 {
				for k := max(0, pos-40); k < pos; k++ {
					if j == 0 && c.PCM[k] != 0 {
						t.Fatalf("%s: sample %d before the onset %d is %d", c.Name, k, pos, c.PCM[k])
					}
				}
				if tn.spec.LevelDBm0 > -50 && c.PCM[pos] == 0 && c.PCM[pos+1] == 0 {
					t.Errorf("%s: burst %d silent at its onset %d", c.Name, j, pos)
				}
			}
			// Levels of unclipped tones at their stated frequencies.
			lo, hi, _ := dtmf.KeyFrequencies(tn.spec.Key)
			loA, hiA := dtmf.Amplitude(tn.spec.LevelDBm0), dtmf.Amplitude(tn.spec.LevelDBm0+tn.spec.TwistDB)
			if loA+hiA < 32000 && n >= 160 && tn.spec.LevelDBm0 > -50 {
				seg := c.PCM[pos : pos+n]
				tol := 0.5 // dB: the Hann window's leakage from the other tone
				if s.snrDB > 0 {
					tol = 1.5
				}
				if d := 20 * math.Log10(toneLevel(seg, lo*(1+tn.spec.LowOffset), SampleRate)/loA); math.Abs(d) > tol {
					t.Errorf("%s: low tone %.1f dB off its level", c.Name, d)
				}
				if d := 20 * math.Log10(toneLevel(seg, hi*(1+tn.spec.HighOffset), SampleRate)/hiA); math.Abs(d) > tol {
					t.Errorf("%s: high tone %.1f dB off its level", c.Name, d)
				}
			}
			pos += n
		}
		if len(c.Want) > 0 && c.Want[len(c.Want)-1].End != int64(pos) {
			t.Errorf("%s: last digit ends at %d, its last burst at %d", c.Name, c.Want[len(c.Want)-1].End, pos)
		}
		if tail := len(c.PCM) - pos; tail != tailSamples {
			t.Errorf("%s: %d samples after the last tone, want %d", c.Name, tail, tailSamples)
		}
	}
}

func TestNoiseCasesHaveTheirSNR(t *testing.T) {
	for _, s := range q24Specs() {
		if s.snrDB == 0 {
			continue
		}
		c := s.render(800, 0)
		// The lead-in is noise alone.
		var e float64
		for _, v := range c.PCM[:800] {
			e += float64(v) * float64(v)
		}
		noise := e / 800
		sp := s.tones[0].spec
		lo, hi := dtmf.Amplitude(sp.LevelDBm0), dtmf.Amplitude(sp.LevelDBm0+sp.TwistDB)
		snr := 10 * math.Log10((lo*lo+hi*hi)/2/noise)
		// 800 samples estimate the noise power to about ±0.5 dB.
		if math.Abs(snr-s.snrDB) > 0.75 {
			t.Errorf("%s: measured SNR %.2f dB", c.Name, snr)
		}
	}
}

func TestCompandStaysCloseToLinear(t *testing.T) {
	x := sine(1000, dtmf.Amplitude(-10), SampleRate, 800)
	for _, codec := range []string{CodecUlaw, CodecAlaw} {
		y := Compand(codec, append([]int16(nil), x...))
		var sig, errE float64
		diff := false
		for i := range x {
			d := float64(y[i]) - float64(x[i])
			sig += float64(x[i]) * float64(x[i])
			errE += d * d
			diff = diff || d != 0
		}
		// G.711 gives about 38 dB signal-to-quantisation ratio at −10 dBm0.
		if snr := 10 * math.Log10(sig/errE); !diff || snr < 33 {
			t.Errorf("%s: SNR %.1f dB, changed=%v", codec, snr, diff)
		}
	}
	x2 := append([]int16(nil), x...)
	if y := Compand(CodecLinear, x2); &y[0] != &x2[0] || y[5] != x[5] {
		t.Error("linear codec changed the audio")
	}
}

func TestRNGIsFixedAcrossReleases(t *testing.T) {
	// These values pin the generator: if a Go release changed PCG, every
	// noise and music case would silently change with it.
	r := newRNG(1)
	got := []uint64{r.src.Uint64(), r.src.Uint64()}
	r2 := newRNG(1)
	if a, b := r2.src.Uint64(), r2.src.Uint64(); a != got[0] || b != got[1] {
		t.Fatal("same seed, different sequence")
	}
	want := []uint64{0xee4200f3880a19eb, 0xbaadcc279ed76e43}
	if got[0] != want[0] || got[1] != want[1] {
		t.Errorf("PCG(1) starts %#x %#x, want %#x %#x", got[0], got[1], want[0], want[1])
	}
	// Box–Muller output has unit variance.
	r = newRNG(7)
	var sum, sq float64
	const n = 100000
	for range n {
		g := r.gauss()
		sum += g
		sq += g * g
	}
	if mean, v := sum/n, sq/n-(sum/n)*(sum/n); math.Abs(mean) > 0.02 || math.Abs(v-1) > 0.02 {
		t.Errorf("gauss mean %.3f variance %.3f", mean, v)
	}
}

func TestLongPressCases(t *testing.T) {
	cases := LongPressCases()
	if want := 3 * (16*3 + 4); len(cases) != want {
		t.Fatalf("%d cases, want %d", len(cases), want)
	}
	for _, c := range cases {
		if len(c.Want) != 1 || c.Kind != MustDetect || c.Want[0].End-c.Want[0].Onset < int64(samplesOf(500)) {
			t.Errorf("%s: wants %v", c.Name, c.Want)
		}
	}
}

func TestSequenceCasesKeyEveryDigitInOrder(t *testing.T) {
	cases := SequenceCases()
	if want := 3 * 3 * len(samplePANs); len(cases) != want {
		t.Fatalf("%d cases, want %d", len(cases), want)
	}
	for _, c := range cases[:3*len(samplePANs)] { // the linear ones
		keys := strings.TrimPrefix(strings.SplitN(c.Name, " ", 2)[0], "keys=")
		if len(c.Want) != len(keys) {
			t.Fatalf("%s: %d digits for %q", c.Name, len(c.Want), keys)
		}
		for i, d := range c.Want {
			if d.Key != dtmf.Key(keys[i]) {
				t.Errorf("%s: digit %d is %s, want %c", c.Name, i, d.Key, keys[i])
			}
			// Silence right before each onset, tone right after.
			if c.PCM[d.Onset-1] != 0 || c.PCM[d.Onset+1] == 0 || d.End-d.Onset < int64(samplesOf(45)) {
				t.Errorf("%s: digit %d at %d–%d is not where the audio says", c.Name, i, d.Onset, d.End)
			}
			if i > 0 && d.Onset-c.Want[i-1].End < int64(samplesOf(45)) {
				t.Errorf("%s: pause before digit %d shorter than 45 ms", c.Name, i)
			}
		}
	}
}

func TestInterruptionKeepsThePhase(t *testing.T) {
	// A 50 ms tone with a 5 ms gap must be the same samples as a 105 ms tone
	// with 5 ms cut out: the line dropped out, the phone kept generating.
	a := dtmf.ToneSpec{Key: '5', LevelDBm0: -10, Duration: 50 * time.Millisecond}
	s := q24Spec{kind: MustDetect, tones: []tone{{spec: a}, {spec: a, gap: 5 * time.Millisecond}}, want: []bool{true, false}}
	got := s.render(100, 7).PCM
	whole := a
	whole.Duration = 105 * time.Millisecond
	want := appendBurst(appendSilence(nil, 100), whole, 7)
	for i := 100 + 400; i < 100+440; i++ {
		want[i] = 0
	}
	want = appendSilence(want, tailSamples)
	if !slices.Equal(got, want) {
		t.Error("the burst after the gap does not continue the tone's phase")
	}
}

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
		out[i] = dtmf.Clip16(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return out
}
