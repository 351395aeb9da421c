package dtmf

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"dtmfgw/dtmf/g711"
)

// SampleRate is the audio rate the Detector and the synthesisers work at:
// narrowband telephony, 8000 samples per second.
const SampleRate = 8000

// ZeroDBm0Peak is the peak of a sine at 0 dBm0 in 16-bit linear PCM. A
// full-scale sine is +3.14 dBm0 (ITU-T G.711 §Table 5 / G.168 convention),
// so 0 dBm0 is 32767 × 10^(−3.14/20).
const ZeroDBm0Peak = 22826.0

// Amplitude returns the peak, in 16-bit linear units, of a sine at the given
// level in dBm0.
func Amplitude(dBm0 float64) float64 {
	return ZeroDBm0Peak * math.Pow(10, dBm0/20)
}

// ITU-T Q.23 §2: the low (row) and high (column) group frequencies.
var (
	lowGroup  = [4]float64{697, 770, 852, 941}
	highGroup = [4]float64{1209, 1336, 1477, 1633}
)

// KeyFrequencies returns the nominal low- and high-group frequencies of a key
// (ITU-T Q.23 Table 1).
func KeyFrequencies(k Key) (low, high float64, ok bool) {
	row, col, ok := keyPosition(k)
	if !ok {
		return 0, 0, false
	}
	return lowGroup[row], highGroup[col], true
}

// keypad is the 4×4 keypad row by row: a key's index is 4·row + column.
const keypad = "123A456B789C*0#D"

// keyPosition returns the row and column of a key on the 4×4 keypad.
func keyPosition(k Key) (row, col int, ok bool) {
	i := strings.IndexByte(keypad, byte(k))
	if i < 0 {
		return 0, 0, false
	}
	return i / 4, i % 4, true
}

// keyAt returns the key at a keypad row and column.
func keyAt(row, col int) Key {
	return Key(keypad[row*4+col])
}

// ToneSpec describes one DTMF tone burst for AppendDTMF: the test suites, the
// demo caller and the load generator make their key presses with it.
type ToneSpec struct {
	Key Key
	// LevelDBm0 is the level of the low-group tone in dBm0.
	LevelDBm0 float64
	// TwistDB is the high-group level minus the low-group level, in dB.
	TwistDB float64
	// LowOffset and HighOffset are relative frequency deviations of each
	// tone, e.g. +0.015 for 1.5% above nominal.
	LowOffset, HighOffset float64
	// Duration is the burst length; it is rounded down to whole samples.
	Duration time.Duration
}

// Samples returns the burst length in samples at SampleRate.
func (s ToneSpec) Samples() int {
	return int(s.Duration * SampleRate / time.Second)
}

// AppendDTMF appends the tone burst described by spec to dst, at SampleRate,
// and returns the extended slice. Both sines start at phase zero; samples
// are rounded and clipped to 16 bits. A spec whose Key is not a key appends
// nothing.
func AppendDTMF(dst []int16, spec ToneSpec) []int16 {
	low, high, ok := KeyFrequencies(spec.Key)
	if !ok {
		return dst
	}
	var lo, hi Oscillator
	lo.Set(low*(1+spec.LowOffset), Amplitude(spec.LevelDBm0))
	hi.Set(high*(1+spec.HighOffset), Amplitude(spec.LevelDBm0+spec.TwistDB))
	for range spec.Samples() {
		dst = append(dst, Clip16(lo.Next()+hi.Next()))
	}
	return dst
}

// Oscillator is a phase-continuous sine generator at SampleRate, made of a
// rotating phasor so that each sample costs a complex multiply, not a sin().
// The zero Oscillator is silent.
type Oscillator struct {
	re, im   float64 // current phasor
	cr, ci   float64 // per-sample rotation
	amp      float64
	produced int
}

// Set sets the frequency in Hz and the peak amplitude; the phase restarts at zero.
func (o *Oscillator) Set(freq, amplitude float64) {
	w := 2 * math.Pi * freq / SampleRate
	*o = Oscillator{re: 1, cr: math.Cos(w), ci: math.Sin(w), amp: amplitude}
}

// Next returns the next sample, amp·sin(phase), and advances the phase.
func (o *Oscillator) Next() float64 {
	v := o.amp * o.im
	o.re, o.im = o.re*o.cr-o.im*o.ci, o.re*o.ci+o.im*o.cr
	o.produced++
	if o.produced&1023 == 0 {
		// Renormalise so rounding never grows or shrinks the phasor.
		m := 1 / math.Hypot(o.re, o.im)
		o.re, o.im = o.re*m, o.im*m
	}
	return v
}

// Clip16 rounds v to the nearest integer and saturates it to the 16-bit
// sample range, as every synthesiser and resampler writing PCM must.
func Clip16(v float64) int16 {
	v = math.Round(v)
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

// MaskTone is the uniform tone the agent hears for every key press instead of
// the caller's digit: one frequency that belongs to no DTMF pair, at one level,
// for one length whatever the key, so the agent can follow progress but can
// tell no digit from another.
type MaskTone struct {
	// Frequency in Hz.
	Frequency float64
	// LevelDBm0 is the tone's level.
	LevelDBm0 float64
	// Duration is the tone's length, ramps included.
	Duration time.Duration
	// Ramp is the raised-cosine fade at each end, so the tone starts and stops
	// without a click (a click is broadband energy, some of it at DTMF
	// frequencies).
	Ramp time.Duration
}

// DefaultMaskTone returns the mask tone used when none is configured:
// 1000 Hz (6% above the highest low-group and 17% below the lowest high-group
// frequency, and none of the fax, test or call-progress tones), −15 dBm0,
// 100 ms with 5 ms ramps.
func DefaultMaskTone() MaskTone {
	return MaskTone{Frequency: 1000, LevelDBm0: -15, Duration: 100 * time.Millisecond, Ramp: 5 * time.Millisecond}
}

// ErrInvalidMaskTone is wrapped by MaskTone.Validate's errors.
var ErrInvalidMaskTone = errors.New("dtmf: invalid mask tone")

// maskToneGuard is how far, relative, the mask tone must stay from every
// DTMF frequency: beyond the 3.5% that Q.24 requires receivers to reject, with
// margin.
const maskToneGuard = 0.05

// Validate reports why m cannot be used as a mask tone, or nil.
func (m MaskTone) Validate() error {
	switch {
	case math.IsNaN(m.Frequency) || m.Frequency < 300 || m.Frequency > 3400:
		return fmt.Errorf("%w: frequency %.1f Hz is outside the 300–3400 Hz telephone band", ErrInvalidMaskTone, m.Frequency)
	case math.IsNaN(m.LevelDBm0) || m.LevelDBm0 > -3 || m.LevelDBm0 < -40:
		return fmt.Errorf("%w: level %.1f dBm0 is outside −40 to −3 dBm0", ErrInvalidMaskTone, m.LevelDBm0)
	case m.Duration < 20*time.Millisecond || m.Duration > time.Second:
		return fmt.Errorf("%w: duration %v is outside 20 ms to 1 s", ErrInvalidMaskTone, m.Duration)
	case m.Ramp < 0 || 2*m.Ramp > m.Duration:
		return fmt.Errorf("%w: ramp %v must be between 0 and half the duration", ErrInvalidMaskTone, m.Ramp)
	}
	for _, f := range append(lowGroup[:], highGroup[:]...) {
		if math.Abs(m.Frequency-f) < f*maskToneGuard {
			return fmt.Errorf("%w: frequency %.1f Hz is within %.0f%% of the DTMF frequency %.0f Hz", ErrInvalidMaskTone, m.Frequency, maskToneGuard*100, f)
		}
	}
	return nil
}

// Samples returns the tone's length in samples at SampleRate.
func (m MaskTone) Samples() int { return int(m.Duration * SampleRate / time.Second) }

// AppendPCM appends the mask tone, ramps included, to dst as 16-bit linear
// PCM at SampleRate.
func (m MaskTone) AppendPCM(dst []int16) []int16 {
	var o Oscillator
	o.Set(m.Frequency, Amplitude(m.LevelDBm0))
	n := m.Samples()
	ramp := int(m.Ramp * SampleRate / time.Second)
	for i := range n {
		g := 1.0
		if d := min(i, n-1-i); d < ramp {
			g = 0.5 - 0.5*math.Cos(math.Pi*float64(d)/float64(ramp))
		}
		dst = append(dst, Clip16(g*o.Next()))
	}
	return dst
}

// Frames renders the mask tone once as G.711 payloads of frameSamples
// samples each (160 for 20 ms packets), the last padded with silence. The
// relay precomputes these at call set-up and copies them into packets, so
// the hot path synthesises nothing.
func (m MaskTone) Frames(law g711.Law, frameSamples int) [][]byte {
	if frameSamples <= 0 || !law.Valid() {
		return nil
	}
	pcm := m.AppendPCM(nil)
	count := (len(pcm) + frameSamples - 1) / frameSamples
	buf := make([]byte, count*frameSamples)
	for i := range buf {
		buf[i] = law.Silence()
	}
	law.Encode(buf, pcm)
	frames := make([][]byte, count)
	for i := range frames {
		frames[i] = buf[i*frameSamples : (i+1)*frameSamples : (i+1)*frameSamples]
	}
	return frames
}
