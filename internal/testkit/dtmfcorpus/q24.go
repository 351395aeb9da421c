package dtmfcorpus

import (
	"fmt"
	"math"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

// Keys lists the sixteen DTMF keys in keypad order.
var Keys = []dtmf.Key{'1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D'}

// Codec names, as used in Case.Codec.
const (
	CodecLinear = "linear"
	CodecUlaw   = "µ-law"
	CodecAlaw   = "A-law"
)

// Q.24 categories (ITU-T Q.24 Table A-1: the DTMF receiver's limits).
const (
	CatFreqAccept     = "Q.24 frequency ±1.5% (detect)"
	CatFreqReject     = "Q.24 frequency ±3.5% and beyond (reject)"
	CatLevelAccept    = "Q.24 level 0 to −25 dBm0 (detect)"
	CatLevelReject    = "Q.24 level −55 dBm0 and below (reject)"
	CatTwistAccept    = "Q.24 twist −8 to +4 dB (detect)"
	CatTwistReject    = "Q.24 twist ≤ −12 or ≥ +12 dB (reject)"
	CatDurationAccept = "Q.24 duration ≥ 40 ms (detect)"
	CatDurationReject = "Q.24 duration ≤ 23 ms (reject)"
	CatPause          = "Q.24 pause 40 ms (two digits)"
	CatInterruption   = "Q.24 interruption ≤ 10 ms (one digit)"
	CatNoise          = "Q.24 noise SNR 15–20 dB (detect)"
	CatCornerAccept   = "Q.24 limits combined (detect)"
	CatCornerReject   = "Q.24 limits combined (reject)"
	CatOverdriven     = "beyond Q.24: over-driven, clipped pairs (detect)"
)

// Default parameters of a conformance tone where the row under test does
// not set them: a mid-range level, no twist, and a length comfortably above
// the 40 ms minimum so that only the row's own parameter is at its limit.
const (
	defaultLevel    = -10.0
	defaultDuration = 60 * time.Millisecond
	tailSamples     = 1600 // 200 ms of silence after the last tone, so the detector can end the digit
)

// tone is one burst within a conformance case.
type tone struct {
	spec dtmf.ToneSpec
	gap  time.Duration // silence before this burst (after the previous one)
}

// q24Spec is a conformance case before rendering.
type q24Spec struct {
	category string
	name     string
	kind     CaseKind
	tones    []tone
	// want lists, for each burst index, whether a new digit starts there.
	want []bool
	// snrDB > 0 adds white Gaussian noise at that SNR to the whole case.
	snrDB     float64
	noiseSeed uint64
}

// Q24Cases returns the conformance half of the corpus: every row of the
// Q.24 table for all sixteen keys, each rendered as linear PCM and passed
// through G.711 µ-law and A-law.
func Q24Cases() []Case {
	specs := q24Specs()
	out := make([]Case, 0, 3*len(specs))
	for _, codec := range []string{CodecLinear, CodecUlaw, CodecAlaw} {
		for i, s := range specs {
			// The lead-in varies per case so that tone onsets fall at every
			// phase of the detector's analysis blocks.
			r := newRNG(uint64(i)*7919 + 1)
			lead := 200 + r.intn(480)
			c := s.render(lead, r.intn(64))
			c.Codec = codec
			c.PCM = Compand(codec, c.PCM)
			out = append(out, c)
		}
	}
	return out
}

// Companded returns copies of cases passed through the named G.711 law,
// with Codec set; the originals are left as they are.
func Companded(cases []Case, codec string) []Case {
	out := make([]Case, len(cases))
	for i, c := range cases {
		c.PCM = Compand(codec, append([]int16(nil), c.PCM...))
		c.Codec = codec
		out[i] = c
	}
	return out
}

// Compand passes pcm through the named G.711 law and back, in place, and
// returns it. The linear codec returns pcm unchanged.
func Compand(codec string, pcm []int16) []int16 {
	var law g711.Law
	switch codec {
	case CodecUlaw:
		law = g711.Ulaw
	case CodecAlaw:
		law = g711.Alaw
	default:
		return pcm
	}
	buf := make([]byte, len(pcm))
	law.Encode(buf, pcm)
	law.Decode(pcm, buf)
	return pcm
}

// render builds the case after lead samples of silence. The first burst
// starts phase samples into its tones, so the two sines start at unrelated
// phases as on a real line; a burst that starts a new digit moves on by
// another 17 samples, and a burst that continues a digit after an
// interruption keeps the phase the tones would have had without the gap.
func (s q24Spec) render(lead, phase int) Case {
	var pcm []int16
	pcm = appendSilence(pcm, lead)
	var want []Digit
	for i, t := range s.tones {
		gap := int(t.gap * SampleRate / time.Second)
		pcm = appendSilence(pcm, gap)
		if s.want[i] {
			want = append(want, Digit{Key: t.spec.Key, Onset: int64(len(pcm))})
			if i > 0 {
				phase += 17
			}
		} else if i > 0 {
			phase += s.tones[i-1].spec.Samples() + gap
		}
		pcm = appendBurst(pcm, t.spec, phase)
		if len(want) > 0 {
			// A burst that starts no digit continues the previous one.
			want[len(want)-1].End = int64(len(pcm))
		}
	}
	pcm = appendSilence(pcm, tailSamples)
	if s.snrDB > 0 {
		// Signal power of one burst: the two sines' powers A²/2 added.
		sp := s.tones[0].spec
		lo := dtmf.Amplitude(sp.LevelDBm0)
		hi := dtmf.Amplitude(sp.LevelDBm0 + sp.TwistDB)
		power := (lo*lo + hi*hi) / 2
		sigma := math.Sqrt(power / math.Pow(10, s.snrDB/10))
		addNoise(pcm, sigma, s.noiseSeed)
	}
	return Case{Category: s.category, Name: s.name, PCM: pcm, Want: want, Kind: s.kind}
}

// appendBurst appends the burst spec describes, starting skip samples into
// it: dtmf.AppendDTMF starts both sines at phase zero.
func appendBurst(dst []int16, spec dtmf.ToneSpec, skip int) []int16 {
	spec.Duration += time.Duration(skip) * time.Second / SampleRate
	start := len(dst)
	dst = dtmf.AppendDTMF(dst, spec)
	return append(dst[:start], dst[start+skip:]...)
}

func appendSilence(dst []int16, n int) []int16 {
	for range n {
		dst = append(dst, 0)
	}
	return dst
}

// addNoise adds white Gaussian noise of standard deviation sigma to pcm,
// clipping to 16 bits.
func addNoise(pcm []int16, sigma float64, seed uint64) {
	r := newRNG(seed)
	for i, v := range pcm {
		pcm[i] = dtmf.Clip16(float64(v) + sigma*r.gauss())
	}
}

func single(category string, kind CaseKind, spec dtmf.ToneSpec) q24Spec {
	return q24Spec{
		category: category,
		name:     describe(spec),
		kind:     kind,
		tones:    []tone{{spec: spec}},
		want:     []bool{kind == MustDetect},
	}
}

// describe names a burst by every parameter, so a failing case can be
// rebuilt from its name alone.
func describe(s dtmf.ToneSpec) string {
	return fmt.Sprintf("key=%c low=%+.1f%% high=%+.1f%% level=%gdBm0 twist=%+gdB dur=%gms",
		s.Key, 100*s.LowOffset, 100*s.HighOffset, s.LevelDBm0, s.TwistDB, float64(s.Duration)/float64(time.Millisecond))
}

func spec(k dtmf.Key) dtmf.ToneSpec {
	return dtmf.ToneSpec{Key: k, LevelDBm0: defaultLevel, Duration: defaultDuration}
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// q24Specs lists the conformance cases for one codec, in a fixed order.
func q24Specs() []q24Spec {
	var out []q24Spec
	for _, k := range Keys {
		// Frequency deviation (Q.24: detect within ±1.5%, reject beyond ±3.5%),
		// on each tone alone and on both together with every sign pair.
		for _, d := range []float64{-0.015, 0.015} {
			s := spec(k)
			s.LowOffset = d
			out = append(out, single(CatFreqAccept, MustDetect, s))
			s = spec(k)
			s.HighOffset = d
			out = append(out, single(CatFreqAccept, MustDetect, s))
			for _, e := range []float64{-0.015, 0.015} {
				s = spec(k)
				s.LowOffset, s.HighOffset = d, e
				out = append(out, single(CatFreqAccept, MustDetect, s))
			}
		}
		// 3.5% and 5% stay well clear of the neighbouring key, which is ≥ 10%
		// away in both groups.
		for _, d := range []float64{-0.05, -0.035, 0.035, 0.05} {
			s := spec(k)
			s.LowOffset = d
			out = append(out, single(CatFreqReject, MustReject, s))
			s = spec(k)
			s.HighOffset = d
			out = append(out, single(CatFreqReject, MustReject, s))
		}
		for _, d := range []float64{-0.035, 0.035} {
			for _, e := range []float64{-0.035, 0.035} {
				s := spec(k)
				s.LowOffset, s.HighOffset = d, e
				out = append(out, single(CatFreqReject, MustReject, s))
			}
		}

		// Level per tone. At 0 dBm0 per tone the pair peaks at 2 × 22826,
		// beyond 16 bits: the synthesiser clips it as a real line would.
		for _, l := range []float64{0, -10, -20, -25} {
			s := spec(k)
			s.LevelDBm0 = l
			out = append(out, single(CatLevelAccept, MustDetect, s))
		}
		for _, l := range []float64{-55, -60} {
			s := spec(k)
			s.LevelDBm0 = l
			out = append(out, single(CatLevelReject, MustReject, s))
		}

		// Twist: levels centred on −12 dBm0 so that both tones stay inside
		// the level range and only the twist is at its limit; then the four
		// corners where twist and level limits meet.
		for t := -8.0; t <= 4; t += 2 {
			s := spec(k)
			s.LevelDBm0, s.TwistDB = -12-t/2, t
			out = append(out, single(CatTwistAccept, MustDetect, s))
		}
		for _, c := range [][2]float64{{-17, -8}, {-25, 4}, {0, -8}, {-4, 4}} {
			s := spec(k)
			s.LevelDBm0, s.TwistDB = c[0], c[1]
			out = append(out, single(CatTwistAccept, MustDetect, s))
		}
		for _, t := range []float64{-20, -16, -12, 12, 16, 20} {
			s := spec(k)
			s.LevelDBm0, s.TwistDB = -12-t/2, t
			out = append(out, single(CatTwistReject, MustReject, s))
		}

		// Duration.
		for _, d := range []float64{40, 45, 50, 100} {
			s := spec(k)
			s.Duration = ms(d)
			out = append(out, single(CatDurationAccept, MustDetect, s))
		}
		for _, d := range []float64{10, 20, 23} {
			s := spec(k)
			s.Duration = ms(d)
			out = append(out, single(CatDurationReject, MustReject, s))
		}

		// Pause: two 40 ms bursts 40 ms apart are two digits, whether the
		// key repeats or not.
		for _, next := range []dtmf.Key{k, nextKey(k)} {
			a, b := spec(k), spec(next)
			a.Duration, b.Duration = 40*time.Millisecond, 40*time.Millisecond
			out = append(out, q24Spec{
				category: CatPause,
				name:     describe(a) + " | pause=40ms | " + describe(b),
				kind:     MustDetect,
				tones:    []tone{{spec: a}, {spec: b, gap: 40 * time.Millisecond}},
				want:     []bool{true, true},
			})
		}

		// Interruption: a gap of up to 10 ms inside one press is bridged.
		for _, g := range []float64{2, 5, 10} {
			a := spec(k)
			a.Duration = 50 * time.Millisecond
			out = append(out, q24Spec{
				category: CatInterruption,
				name:     fmt.Sprintf("%s | gap=%gms | same", describe(a), g),
				kind:     MustDetect,
				tones:    []tone{{spec: a}, {spec: a, gap: ms(g)}},
				want:     []bool{true, false},
			})
		}

		// The rows' limits at once, since a receiver must meet them together:
		// both tones 1.5% off, 40 ms, at the extreme twists with the weaker
		// tone at −25 dBm0, or the stronger at 0 dBm0 (−8 dB twist only: at
		// +4 dB the pair clips, which CatOverdriven covers).
		for _, d := range []float64{-0.015, 0.015} {
			for _, e := range []float64{-0.015, 0.015} {
				for _, c := range [][2]float64{{-17, -8}, {-25, 4}, {0, -8}} {
					s := spec(k)
					s.LowOffset, s.HighOffset = d, e
					s.LevelDBm0, s.TwistDB = c[0], c[1]
					s.Duration = 40 * time.Millisecond
					out = append(out, single(CatCornerAccept, MustDetect, s))
				}
			}
		}
		// Strong signals just outside one limit: loud tones leak into
		// neighbouring filters, which is where a receiver's rejection is
		// weakest.
		for _, d := range []float64{-0.035, 0.035} {
			s := spec(k)
			s.LevelDBm0, s.LowOffset = -3, d
			out = append(out, single(CatCornerReject, MustReject, s))
			s = spec(k)
			s.LevelDBm0, s.HighOffset = -3, d
			out = append(out, single(CatCornerReject, MustReject, s))
		}
		for _, c := range [][2]float64{{-15, 12}, {-3, -12}} {
			s := spec(k)
			s.LevelDBm0, s.TwistDB = c[0], c[1]
			out = append(out, single(CatCornerReject, MustReject, s))
		}
		s := spec(k)
		s.LevelDBm0, s.Duration = -3, 23*time.Millisecond
		out = append(out, single(CatCornerReject, MustReject, s))
		s.LevelDBm0, s.Duration, s.LowOffset, s.HighOffset = -25, 23*time.Millisecond, 0.015, -0.015
		out = append(out, single(CatCornerReject, MustReject, s))

		// Beyond Q.24: an over-driven handset. 0 dBm0 with +4 dB twist puts
		// the high tone at +4 dBm0, and two tones at +3 dBm0 peak at twice
		// full scale: the pair clips hard at 16 bits, yet it is a key press.
		for _, c := range [][2]float64{{0, 4}, {3, 0}} {
			for _, d := range []float64{-0.015, 0, 0.015} {
				s := spec(k)
				s.LevelDBm0, s.TwistDB, s.LowOffset, s.HighOffset = c[0], c[1], d, -d
				out = append(out, single(CatOverdriven, MustDetect, s))
			}
		}

		// Noise: white Gaussian noise over the whole case at SNR 15, 18 and
		// 20 dB (tone power over full-band noise power), with four seeds that
		// also vary level and length.
		for si, p := range []struct{ level, dur float64 }{{-10, 50}, {-15, 60}, {-20, 80}, {-25, 100}} {
			for _, snr := range []float64{15, 18, 20} {
				s := spec(k)
				s.LevelDBm0, s.Duration = p.level, ms(p.dur)
				seed := uint64(si+1)*1_000_003 + uint64(snr)*101 + uint64(k)
				out = append(out, q24Spec{
					category:  CatNoise,
					name:      fmt.Sprintf("%s snr=%gdB seed=%d", describe(s), snr, seed),
					kind:      MustDetect,
					tones:     []tone{{spec: s}},
					want:      []bool{true},
					snrDB:     snr,
					noiseSeed: seed,
				})
			}
		}
	}
	return out
}

// nextKey returns the key after k in keypad order, wrapping around.
func nextKey(k dtmf.Key) dtmf.Key {
	for i, x := range Keys {
		if x == k {
			return Keys[(i+1)%len(Keys)]
		}
	}
	return k
}
