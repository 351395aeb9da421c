package dtmfcorpus

import (
	"fmt"
	"math"
	"strings"
	"time"

	"dtmfgw/dtmf"
)

// CatHardPrefix starts the category of every hard-line-condition case, so
// that UnderBar can tell them from the categories the bar applies to.
const CatHardPrefix = "hard line: "

// Hard-line-condition categories: key presses a receiver must find on
// lines worse than Q.24 describes.
const (
	CatHardDialTone10 = CatHardPrefix + "card number over steady dial tone 10 dB below (detect)"
	CatHardDialTone15 = CatHardPrefix + "card number over steady dial tone 15 dB below (detect)"
	CatHardDialTone18 = CatHardPrefix + "card number over steady dial tone 18 dB below (detect)"
	CatHardDialTone20 = CatHardPrefix + "card number over steady dial tone 20 dB below (detect)"
	CatHardSpeech10   = CatHardPrefix + "card number over speech 10 dB below (detect)"
	CatHardSpeech15   = CatHardPrefix + "card number over speech 15 dB below (detect)"
	CatHardSpeech20   = CatHardPrefix + "card number over speech 20 dB below (detect)"
)

// UnderBar reports whether cases of the category are held to the bar
// (every digit exactly once, no false digit). Hard line conditions are
// scored and reported but not yet held to it: the detector does not meet
// it there. Once it does, this returns true for every category.
func UnderBar(category string) bool { return !strings.HasPrefix(category, CatHardPrefix) }

// hardCardNumbers are the 16-digit test card numbers among samplePANs: the
// length a caller keys most often.
var hardCardNumbers = []string{"4111111111111111", "5555555555554444", "6011111111111117", "4242424242424242"}

// hardDialTones names the continuous tones from callProgressTones that lie
// under the digits: the North American dial tone, the CEPT dial tone and
// the UK 400 Hz tone, which between them cover two-tone and single-tone
// dial tones low in the band, where the row filters sit closest.
var hardDialTones = []string{
	"NA dial 350+440 Hz continuous",
	"CEPT dial 425 Hz continuous",
	"UK number unobtainable 400 Hz continuous",
}

// pairLevel is the level, in dBm0, of a DTMF pair of two tones each at
// perTone dBm0 with no twist: their powers add.
func pairLevel(perTone float64) float64 { return perTone + 10*math.Log10(2) }

// HardConditionCases returns the hard-line-condition cases: card numbers
// keyed over a continuous dial tone, single tones split by one lost packet,
// and card numbers keyed over speech. speech is SpeechPlan rendered by
// Speech, in plan order. Every case is scored as linear PCM and through
// µ-law, the law the packets of a North American call carry.
func HardConditionCases(speech [][]int16) []Case {
	var linear []Case
	linear = append(linear, dialToneCases()...)
	linear = append(linear, speechUnderDigitCases(speech)...)
	for i := range linear {
		linear[i].Codec = CodecLinear
	}
	return append(linear, Companded(linear, CodecUlaw)...)
}

// keyCardNumber appends keys as tones of toneMs() at perTone dBm0 each,
// gapMs() of silence before every tone but the first, each tone starting
// at an unrelated phase, and returns the audio and the wanted digits.
func keyCardNumber(pcm []int16, keys string, perTone float64, toneMs, gapMs func() float64, r *rng) ([]int16, []Digit) {
	var want []Digit
	for i := range len(keys) {
		k, ok := dtmf.KeyFromChar(keys[i])
		if !ok {
			continue
		}
		if i > 0 {
			pcm = appendSilence(pcm, samplesOf(gapMs()))
		}
		s := dtmf.ToneSpec{Key: k, LevelDBm0: perTone, Duration: ms(toneMs())}
		onset := int64(len(pcm))
		pcm = appendBurst(pcm, s, r.intn(160))
		want = append(want, Digit{Key: k, Onset: onset, End: int64(len(pcm))})
	}
	return pcm, want
}

// mixInto adds under to pcm sample by sample from the start, clipping to
// 16 bits; under may be shorter than pcm.
func mixInto(pcm, under []int16) {
	for i := range min(len(pcm), len(under)) {
		pcm[i] = dtmf.Clip16(float64(pcm[i]) + float64(under[i]))
	}
}

// dialToneCases keys each 16-digit card number as 80 ms tones with 80 ms
// gaps, each tone at −8 or −20 dBm0, over a dial tone that runs through the
// whole case at 10, 15, 18 or 20 dB below the pair's level (the dial tone's
// power, all its frequencies together, against the power of both DTMF
// tones). A caller who starts keying before the dial tone stops, or on a
// line that never removes it, produces exactly this.
func dialToneCases() []Case {
	tones := map[string]cadence{}
	for _, c := range callProgressTones() {
		tones[c.name] = c
	}
	cats := map[float64]string{10: CatHardDialTone10, 15: CatHardDialTone15, 18: CatHardDialTone18, 20: CatHardDialTone20}
	var out []Case
	n := 0
	for _, below := range []float64{10, 15, 18, 20} {
		for _, name := range hardDialTones {
			for _, perTone := range []float64{-8, -20} {
				for rep := range 2 {
					n++
					keys := hardCardNumbers[(n+rep)%len(hardCardNumbers)]
					r := newRNG(uint64(n)*7907 + 11)
					lead := 1200 + r.intn(800) // the dial tone alone first, 150–250 ms
					fixed := func(v float64) func() float64 { return func() float64 { return v } }
					pcm, want := keyCardNumber(appendSilence(nil, lead), keys, perTone, fixed(80), fixed(80), r)
					pcm = appendSilence(pcm, tailSamples)

					dial := tones[name]
					// Split the wanted power evenly over the dial tone's
					// frequencies.
					dial.level = pairLevel(perTone) - below - 10*math.Log10(float64(len(dial.freqs)))
					dial.total = time.Duration(len(pcm)) * time.Second / SampleRate
					mixInto(pcm, dial.render())
					out = append(out, Case{
						Category: cats[below],
						Name: fmt.Sprintf("keys=%s 80ms/80ms level=%gdBm0 under %s at %.1fdBm0 per frequency (%g dB below the pair) seed=%d",
							keys, perTone, name, dial.level, below, n),
						PCM:  pcm,
						Want: want,
						Kind: MustDetect,
					})
				}
			}
		}
	}
	return out
}

// Lost-packet geometry, in samples: the parts either side of the lost
// packet are 29–57 ms, and at least one of them is 40 ms or more, long
// enough to be a digit on its own.
const (
	lostPartMin  = 29 * SampleRate / 1000
	lostPartLong = 40 * SampleRate / 1000
	lostPartMax  = 57 * SampleRate / 1000
)

// CatLostPacket is the category of LostPacketCases. It is held to the
// bar: the detector bridges one lost packet inside a tone.
const CatLostPacket = "tone split by one lost 20 ms packet (one digit)"

// LostPacketCases are lostPacketCases as linear PCM and through µ-law.
func LostPacketCases() []Case {
	linear := lostPacketCases()
	for i := range linear {
		linear[i].Codec = CodecLinear
	}
	return append(linear, Companded(linear, CodecUlaw)...)
}

// lostPacketCases renders, for every key, six single tones in which one
// 20 ms packet of the harness's 160-sample grid is silence, as a jitter
// buffer without concealment plays a lost G.711 packet: the tone goes on
// at the sender, so the part after the gap keeps the phase it would have
// had. Level (−8 to −20 dBm0), phase and where the packet falls vary; the
// longer part comes first in half the cases and last in the others. The
// tone is 89–134 ms and one key press.
func lostPacketCases() []Case {
	var out []Case
	for ki, k := range Keys {
		for v := range 6 {
			r := newRNG(uint64(ki)*131 + uint64(v) + 5003)
			long := lostPartLong + r.intn(lostPartMax-lostPartLong+1)
			short := lostPartMin + r.intn(lostPartMax-lostPartMin+1)
			first, second := long, short
			if v%2 == 1 {
				first, second = short, long
			}
			packet := 4 + r.intn(4) // ≥ 4: the onset stays after some silence
			gapStart := packet * ChunkSamples
			onset := gapStart - first
			s := dtmf.ToneSpec{
				Key:       k,
				LevelDBm0: math.Round(r.between(-20, -8)*10) / 10,
			}
			n := first + ChunkSamples + second
			s.Duration = time.Duration(n) * time.Second / SampleRate
			phase := r.intn(160)
			pcm := appendBurst(appendSilence(nil, onset), s, phase)
			clear(pcm[gapStart : gapStart+ChunkSamples])
			pcm = appendSilence(pcm, tailSamples)
			out = append(out, Case{
				Category: CatLostPacket,
				Name: fmt.Sprintf("key=%c level=%gdBm0 tone=%.1fms phase=%d packet %d lost: %.1fms + 20ms silence + %.1fms",
					k, s.LevelDBm0, float64(n)*1000/SampleRate, phase, packet, float64(first)*1000/SampleRate, float64(second)*1000/SampleRate),
				PCM:  pcm,
				Want: []Digit{{Key: k, Onset: int64(onset), End: int64(onset + n)}},
				Kind: MustDetect,
			})
		}
	}
	return out
}

// hardSpeechTalkers is how many speech cases each level has: utterances
// spread over the plan, so several languages and voices are under the
// digits, and the same ones at every level for a fair comparison.
const hardSpeechTalkers = 8

// speechUnderDigitCases keys a card number with a caller's rhythm (tones
// 60–120 ms, gaps 60–200 ms) at one level per case (−8 to −20 dBm0 per
// tone) while someone talks 10, 15 or 20 dB below the pair's level (speech
// active level against the power of both DTMF tones): a caller keying with
// a television or another person talking near the handset, or speech
// leaking from the far end. Utterances from the plan are scaled one by one
// and joined until they cover the case.
func speechUnderDigitCases(speech [][]int16) []Case {
	if len(speech) == 0 {
		return nil
	}
	cats := map[float64]string{10: CatHardSpeech10, 15: CatHardSpeech15, 20: CatHardSpeech20}
	var out []Case
	for _, below := range []float64{10, 15, 20} {
		for t := range hardSpeechTalkers {
			r := newRNG(uint64(t)*6151 + 29) // the same digits at every level
			keys := hardCardNumbers[t%len(hardCardNumbers)]
			perTone := math.Round(r.between(-20, -8)*10) / 10
			lead := 2400 + r.intn(1600) // speech alone first, 300–500 ms
			pcm, want := keyCardNumber(appendSilence(nil, lead), keys, perTone,
				func() float64 { return r.between(60, 120) }, func() float64 { return r.between(60, 200) }, r)
			pcm = appendSilence(pcm, tailSamples)

			level := pairLevel(perTone) - below
			first := t * len(speech) / hardSpeechTalkers
			var under []int16
			var used []string
			for u := first; len(under) < len(pcm); u = (u + 1) % len(speech) {
				under = append(under, scaleToLevel(speech[u], level)...)
				used = append(used, fmt.Sprint(u))
			}
			mixInto(pcm, under)
			out = append(out, Case{
				Category: cats[below],
				Name: fmt.Sprintf("keys=%s level=%gdBm0 under SpeechPlan[%s] at %.1fdBm0 active (%g dB below the pair) seed=%d",
					keys, perTone, strings.Join(used, ","), level, below, t),
				PCM:  pcm,
				Want: want,
				Kind: MustDetect,
			})
		}
	}
	return out
}
