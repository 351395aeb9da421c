package dtmfcorpus

import (
	"fmt"
	"strings"
	"time"

	"dtmfgw/dtmf"
)

// CatSequences is whole card numbers keyed in as a caller would.
const CatSequences = "card-number entry: 9–20 digit sequences (detect)"

// samplePANs are the payment industry's published test card numbers and
// the expiry and security-code strings that follow them in a call, plus
// sequences that stress repeats (the same key many times running).
var samplePANs = []string{
	"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117",
	"1111111111111111#", "0000000000000000*", "4242424242424242", "12345678901234567890",
	"0327#123#", "ABCD*#0123456789",
}

// SequenceCases returns card numbers keyed in with a caller's irregular
// rhythm: each press 45–200 ms, each pause 45–400 ms (both above Q.24's
// 40 ms), each press at its own level (−5 to −22 dBm0), twist (−4 to +2 dB)
// and frequency error (±1%), as different phones and lines produce. A long
// stream of many digits checks what single-digit cases cannot: that the
// detector's state carries correctly from one press to the next. Each
// sequence is rendered linear and through µ-law and A-law, with several
// seeds.
func SequenceCases() []Case {
	var out []Case
	for _, codec := range []string{CodecLinear, CodecUlaw, CodecAlaw} {
		for i, pan := range samplePANs {
			for seed := range uint64(3) {
				c := sequence(pan, uint64(i)*100+seed+1)
				c.Codec = codec
				c.PCM = Compand(codec, c.PCM)
				out = append(out, c)
			}
		}
	}
	return out
}

func sequence(keys string, seed uint64) Case {
	r := newRNG(seed)
	pcm := appendSilence(nil, samplesOf(r.between(20, 300)))
	var want []Digit
	var desc strings.Builder
	for i := range len(keys) {
		k, ok := dtmf.KeyFromChar(keys[i])
		if !ok {
			continue
		}
		if i > 0 {
			gap := r.between(45, 400)
			pcm = appendSilence(pcm, samplesOf(gap))
			fmt.Fprintf(&desc, " %.0f ", gap)
		}
		s := dtmf.ToneSpec{
			Key:        k,
			LevelDBm0:  r.between(-22, -5),
			TwistDB:    r.between(-4, 2),
			LowOffset:  r.between(-0.01, 0.01),
			HighOffset: r.between(-0.01, 0.01),
			Duration:   time.Duration(r.between(45, 200) * float64(time.Millisecond)),
		}
		onset := int64(len(pcm))
		pcm = appendBurst(pcm, s, r.intn(64))
		want = append(want, Digit{Key: k, Onset: onset, End: int64(len(pcm))})
		fmt.Fprintf(&desc, "%s%.0fms", k, float64(s.Duration)/float64(time.Millisecond))
	}
	pcm = appendSilence(pcm, tailSamples)
	return Case{
		Category: CatSequences,
		Name:     fmt.Sprintf("keys=%s seed=%d: %s", keys, seed, desc.String()),
		PCM:      pcm,
		Want:     want,
		Kind:     MustDetect,
	}
}

// CatLongPress is keys held down for a long time.
const CatLongPress = "long press 0.5–10 s (one digit)"

// LongPressCases returns keys held for 0.5, 1 and 3 s (every key) and 10 s
// (four keys), each 1% off nominal in both tones at −20 dBm0, linear and
// through µ-law and A-law. A caller who holds a key presses it once: the
// detector must neither repeat the digit nor lose it as the tones' phases
// drift against its analysis blocks.
func LongPressCases() []Case {
	var specs []q24Spec
	for i, k := range Keys {
		durs := []float64{500, 1000, 3000}
		if i%4 == 0 {
			durs = append(durs, 10000)
		}
		for _, d := range durs {
			s := spec(k)
			s.LevelDBm0, s.LowOffset, s.HighOffset, s.Duration = -20, 0.01, -0.01, ms(d)
			specs = append(specs, single(CatLongPress, MustDetect, s))
		}
	}
	var out []Case
	for _, codec := range []string{CodecLinear, CodecUlaw, CodecAlaw} {
		for i, s := range specs {
			c := s.render(320+7*i, 11*i%64)
			c.Codec = codec
			c.PCM = Compand(codec, c.PCM)
			out = append(out, c)
		}
	}
	return out
}
