package dtmf

import (
	"errors"
	"math"
	"testing"
	"time"

	"dtmfgw/dtmf/g711"
)

// toneAmplitude measures the amplitude of the component at freq in pcm with
// a plain DFT over a Hann-less whole-signal window (test-only, slow and exact
// enough for signals holding whole periods).
func toneAmplitude(pcm []int16, freq float64) float64 {
	var re, im float64
	w := 2 * math.Pi * freq / SampleRate
	for i, s := range pcm {
		re += float64(s) * math.Cos(w*float64(i))
		im += float64(s) * math.Sin(w*float64(i))
	}
	return 2 * math.Hypot(re, im) / float64(len(pcm))
}

// peakFrequency returns the frequency in [lo, hi] with the most energy, in
// 0.5 Hz steps.
func peakFrequency(pcm []int16, lo, hi float64) float64 {
	best, bestA := lo, -1.0
	for f := lo; f <= hi; f += 0.5 {
		if a := toneAmplitude(pcm, f); a > bestA {
			best, bestA = f, a
		}
	}
	return best
}

func TestKeyFrequenciesCoverKeypad(t *testing.T) {
	seen := map[[2]float64]Key{}
	for _, c := range []byte("0123456789*#ABCD") {
		k := Key(c)
		low, high, ok := KeyFrequencies(k)
		if !ok {
			t.Fatalf("%v has no frequencies", k)
		}
		if prev, dup := seen[[2]float64{low, high}]; dup {
			t.Fatalf("%v and %v share the pair %v/%v", prev, k, low, high)
		}
		seen[[2]float64{low, high}] = k
		row, col, _ := keyPosition(k)
		if keyAt(row, col) != k {
			t.Errorf("keyAt(keyPosition(%v)) = %v", k, keyAt(row, col))
		}
	}
	if low, high, _ := KeyFrequencies('5'); low != 770 || high != 1336 {
		t.Errorf("'5' = %v/%v, want 770/1336 (Q.23 Table 1)", low, high)
	}
	if _, _, ok := KeyFrequencies('x'); ok {
		t.Error("'x' must have no frequencies")
	}
}

func TestAppendDTMF(t *testing.T) {
	tests := []struct {
		name string
		spec ToneSpec
	}{
		{"nominal 1", ToneSpec{Key: '1', LevelDBm0: -10, Duration: 500 * time.Millisecond}},
		{"D with twist +4", ToneSpec{Key: 'D', LevelDBm0: -12, TwistDB: 4, Duration: 500 * time.Millisecond}},
		{"0 with twist -8", ToneSpec{Key: '0', LevelDBm0: -6, TwistDB: -8, Duration: 500 * time.Millisecond}},
		{"# with +1.5% / -3.5%", ToneSpec{Key: '#', LevelDBm0: -10, LowOffset: 0.015, HighOffset: -0.035, Duration: 500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := AppendDTMF(nil, tt.spec)
			if len(pcm) != tt.spec.Samples() || len(pcm) != 4000 {
				t.Fatalf("%d samples, want 4000", len(pcm))
			}
			low, high, _ := KeyFrequencies(tt.spec.Key)
			wantLow, wantHigh := low*(1+tt.spec.LowOffset), high*(1+tt.spec.HighOffset)
			if f := peakFrequency(pcm, wantLow-20, wantLow+20); math.Abs(f-wantLow) > 1 {
				t.Errorf("low tone at %.1f Hz, want %.1f", f, wantLow)
			}
			if f := peakFrequency(pcm, wantHigh-20, wantHigh+20); math.Abs(f-wantHigh) > 1 {
				t.Errorf("high tone at %.1f Hz, want %.1f", f, wantHigh)
			}
			lowDB := 20 * math.Log10(toneAmplitude(pcm, wantLow)/ZeroDBm0Peak)
			highDB := 20 * math.Log10(toneAmplitude(pcm, wantHigh)/ZeroDBm0Peak)
			if math.Abs(lowDB-tt.spec.LevelDBm0) > 0.2 {
				t.Errorf("low tone %.2f dBm0, want %.2f", lowDB, tt.spec.LevelDBm0)
			}
			if math.Abs(highDB-(tt.spec.LevelDBm0+tt.spec.TwistDB)) > 0.2 {
				t.Errorf("high tone %.2f dBm0, want %.2f", highDB, tt.spec.LevelDBm0+tt.spec.TwistDB)
			}
		})
	}
}

func TestAppendDTMFAppendsAndIgnoresNonKeys(t *testing.T) {
	dst := []int16{7}
	dst = AppendDTMF(dst, ToneSpec{Key: '5', LevelDBm0: -10, Duration: 40 * time.Millisecond})
	if len(dst) != 321 || dst[0] != 7 {
		t.Fatalf("len %d, first %d: want the prefix kept and 320 samples appended", len(dst), dst[0])
	}
	if got := AppendDTMF(dst, ToneSpec{Key: 'x', Duration: time.Second}); len(got) != 321 {
		t.Fatalf("a non-key appended %d samples", len(got)-321)
	}
}

// The phasor must not drift in amplitude over a long tone (renormalisation).
func TestOscillatorStableOverLongTone(t *testing.T) {
	var o Oscillator
	o.Set(1633, 1000)
	peak := 0.0
	for i := range 10 * 60 * SampleRate {
		v := math.Abs(o.Next())
		if i > 60*9*SampleRate {
			peak = math.Max(peak, v)
		}
	}
	if math.Abs(peak-1000) > 1 {
		t.Fatalf("peak after ten minutes %.3f, want 1000", peak)
	}
}

func TestAmplitude(t *testing.T) {
	if a := Amplitude(0); a != ZeroDBm0Peak {
		t.Errorf("Amplitude(0) = %v", a)
	}
	if a := Amplitude(3.14); math.Abs(a-32767) > 2 {
		t.Errorf("Amplitude(+3.14 dBm0) = %.1f, want full scale", a)
	}
	if a := Amplitude(-20); math.Abs(a-ZeroDBm0Peak/10) > 1e-9 {
		t.Errorf("Amplitude(-20) = %v", a)
	}
}

func TestMaskToneValidate(t *testing.T) {
	ok := DefaultMaskTone()
	if err := ok.Validate(); err != nil {
		t.Fatalf("default mask tone: %v", err)
	}
	mod := func(f func(*MaskTone)) MaskTone { m := ok; f(&m); return m }
	bad := map[string]MaskTone{
		"a DTMF frequency":       mod(func(m *MaskTone) { m.Frequency = 941 }),
		"within 5% of 1209 Hz":   mod(func(m *MaskTone) { m.Frequency = 1170 }),
		"below the band":         mod(func(m *MaskTone) { m.Frequency = 100 }),
		"NaN frequency":          mod(func(m *MaskTone) { m.Frequency = math.NaN() }),
		"too loud":               mod(func(m *MaskTone) { m.LevelDBm0 = 0 }),
		"too quiet":              mod(func(m *MaskTone) { m.LevelDBm0 = -50 }),
		"too short":              mod(func(m *MaskTone) { m.Duration = 10 * time.Millisecond }),
		"too long":               mod(func(m *MaskTone) { m.Duration = 2 * time.Second }),
		"ramps longer than tone": mod(func(m *MaskTone) { m.Ramp = 60 * time.Millisecond }),
		"negative ramp":          mod(func(m *MaskTone) { m.Ramp = -time.Millisecond }),
	}
	for name, m := range bad {
		if err := m.Validate(); !errors.Is(err, ErrInvalidMaskTone) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidMaskTone", name, err)
		}
	}
}

func TestMaskTonePCM(t *testing.T) {
	m := DefaultMaskTone()
	pcm := m.AppendPCM(nil)
	if len(pcm) != 800 {
		t.Fatalf("%d samples, want 800 (100 ms)", len(pcm))
	}
	if pcm[0] != 0 || math.Abs(float64(pcm[len(pcm)-1])) > 1 {
		t.Errorf("ramps must start and end at zero: first %d, last %d", pcm[0], pcm[len(pcm)-1])
	}
	if f := peakFrequency(pcm, 900, 1100); math.Abs(f-1000) > 1 {
		t.Errorf("mask tone at %.1f Hz, want 1000", f)
	}
	// No energy worth the name at any DTMF frequency.
	for _, f := range append(lowGroup[:], highGroup[:]...) {
		if db := 20 * math.Log10(toneAmplitude(pcm, f)/toneAmplitude(pcm, 1000)); db > -25 {
			t.Errorf("%.0f Hz only %.1f dB below the mask tone", f, db)
		}
	}
}

func TestMaskToneFrames(t *testing.T) {
	m := DefaultMaskTone()
	m.Duration = 90 * time.Millisecond // 720 samples: four full frames and a padded one
	for _, law := range []g711.Law{g711.Ulaw, g711.Alaw} {
		frames := m.Frames(law, 160)
		if len(frames) != 5 {
			t.Fatalf("%v: %d frames, want 5", law, len(frames))
		}
		pcm := m.AppendPCM(nil)
		got := make([]int16, 160)
		for i, fr := range frames {
			if len(fr) != 160 || cap(fr) != 160 {
				t.Fatalf("%v frame %d: len %d cap %d, want 160/160 (an append must not clobber the next frame)", law, i, len(fr), cap(fr))
			}
			law.Decode(got, fr)
			for j := range fr {
				idx := i*160 + j
				var want int16
				if idx < len(pcm) {
					want = pcm[idx]
				}
				codes := []byte{0}
				law.Encode(codes, []int16{want})
				if fr[j] != codes[0] {
					t.Fatalf("%v frame %d sample %d: code %#x, want %#x", law, i, j, fr[j], codes[0])
				}
			}
		}
		if fr := frames[4]; fr[159] != law.Silence() {
			t.Errorf("%v: last frame not padded with silence", law)
		}
	}
	if m.Frames(g711.Ulaw, 0) != nil || m.Frames(0, 160) != nil {
		t.Error("Frames must refuse a zero frame size and an invalid law")
	}
}

func BenchmarkAppendDTMF(b *testing.B) {
	b.ReportAllocs()
	buf := make([]int16, 0, 800)
	spec := ToneSpec{Key: '7', LevelDBm0: -10, Duration: 100 * time.Millisecond}
	for b.Loop() {
		buf = AppendDTMF(buf[:0], spec)
	}
}

// DTMF.md: the mask tone itself must never be detected as a digit by a DTMF
// receiver on the agent's side — neither alone, back to back, nor through
// either G.711 law, at the loudest level Validate allows.
func TestMaskToneIsNeverADigit(t *testing.T) {
	for _, level := range []float64{-15, -3} {
		m := DefaultMaskTone()
		m.LevelDBm0 = level
		var pcm []int16
		for range 20 {
			pcm = m.AppendPCM(pcm)                             // back to back
			pcm = append(pcm, make([]int16, SampleRate/10)...) // and with gaps
		}
		for _, law := range []g711.Law{0, g711.Ulaw, g711.Alaw} {
			in := pcm
			if law.Valid() {
				codes := make([]byte, len(pcm))
				law.Encode(codes, pcm)
				in = make([]int16, len(pcm))
				law.Decode(in, codes)
			}
			d := NewDetector(DetectorConfig{})
			events := d.Process(in, nil)
			events = d.Flush(events)
			if len(events) != 0 {
				t.Errorf("level %v dBm0, law %v: the mask tone was detected as %v", level, law, events)
			}
		}
	}
}
