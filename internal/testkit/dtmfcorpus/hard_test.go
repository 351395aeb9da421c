package dtmfcorpus

import (
	"math"
	"strings"
	"testing"

	"dtmfgw/dtmf"
)

func meanPower(pcm []int16) float64 {
	var p float64
	for _, v := range pcm {
		p += float64(v) * float64(v)
	}
	return p / float64(len(pcm))
}

// The dial tone must sit the stated distance below the digits: measured
// as the tone alone in the lead-in against the pair's power in the first
// digit (the two add as uncorrelated signals).
func TestDialToneSitsBelowTheDigits(t *testing.T) {
	cases := dialToneCases()
	if len(cases) != 4*3*2*2 {
		t.Fatalf("%d dial-tone cases", len(cases))
	}
	for _, c := range cases {
		var below float64
		switch c.Category {
		case CatHardDialTone10:
			below = 10
		case CatHardDialTone15:
			below = 15
		case CatHardDialTone18:
			below = 18
		case CatHardDialTone20:
			below = 20
		default:
			t.Fatalf("category %q", c.Category)
		}
		if len(c.Want) != 16 {
			t.Errorf("%s: %d digits", c.Name, len(c.Want))
		}
		for i, d := range c.Want {
			if d.End-d.Onset != int64(samplesOf(80)) || i > 0 && d.Onset-c.Want[i-1].End != int64(samplesOf(80)) {
				t.Errorf("%s: digit %d at %d–%d, want 80 ms tones 80 ms apart", c.Name, i, d.Onset, d.End)
			}
		}
		dial := meanPower(c.PCM[:c.Want[0].Onset])
		both := meanPower(c.PCM[c.Want[0].Onset:c.Want[0].End])
		got := 10 * math.Log10((both-dial)/dial)
		if math.Abs(got-below) > 0.5 {
			t.Errorf("%s: dial tone %.1f dB below the pair, want %g", c.Name, got, below)
		}
		tail := c.PCM[len(c.PCM)-samplesOf(50):]
		if math.Abs(10*math.Log10(meanPower(tail)/dial)) > 0.5 {
			t.Errorf("%s: dial tone does not run to the end", c.Name)
		}
	}
}

// The lost packet must be one whole packet of the 160-sample grid inside
// the tone, with parts of 29–57 ms either side, one of them ≥ 40 ms.
func TestLostPacketGeometry(t *testing.T) {
	cases := lostPacketCases()
	if len(cases) != 16*6 {
		t.Fatalf("%d lost-packet cases", len(cases))
	}
	firstLonger := 0
	for _, c := range cases {
		d := c.Want[0]
		n := d.End - d.Onset
		if n < int64(samplesOf(80)) || n > int64(samplesOf(140)) {
			t.Errorf("%s: tone of %d samples", c.Name, n)
		}
		g := (d.Onset/ChunkSamples + 1) * ChunkSamples
		for ; g+ChunkSamples <= d.End; g += ChunkSamples {
			if meanPower(c.PCM[g:g+ChunkSamples]) == 0 {
				break
			}
		}
		if g+ChunkSamples > d.End {
			t.Errorf("%s: no silent packet inside the tone", c.Name)
			continue
		}
		first, second := g-d.Onset, d.End-g-ChunkSamples
		for _, part := range []int64{first, second} {
			if part < lostPartMin || part > lostPartMax {
				t.Errorf("%s: part of %d samples", c.Name, part)
			}
		}
		if max(first, second) < lostPartLong {
			t.Errorf("%s: neither part is 40 ms", c.Name)
		}
		if first > second {
			firstLonger++
		}
		// The tone is there on both sides of the gap.
		for _, part := range [][2]int64{{d.Onset, g}, {g + ChunkSamples, d.End}} {
			if l := dBm0RMS(meanPower(c.PCM[part[0]:part[1]])); l < -20 {
				t.Errorf("%s: part %v at %.1f dBm0", c.Name, part, l)
			}
		}
	}
	if firstLonger == 0 || firstLonger == len(cases) {
		t.Errorf("the longer part is first in %d of %d cases, want both orders", firstLonger, len(cases))
	}
}

// Speech under the digits: the same digits at every level, speech
// throughout, and the categories' cases scored as linear and µ-law.
func TestSpeechUnderDigits(t *testing.T) {
	speech := [][]int16{make([]int16, 8000), make([]int16, 12000)}
	for i := range speech {
		for j := range speech[i] {
			speech[i][j] = int16(3000 * math.Sin(float64(j)*0.3*float64(i+1)))
		}
	}
	cases := speechUnderDigitCases(speech)
	if len(cases) != 3*hardSpeechTalkers {
		t.Fatalf("%d speech cases", len(cases))
	}
	for i, c := range cases[:hardSpeechTalkers] {
		other := cases[i+2*hardSpeechTalkers]
		if len(c.Want) != 16 || len(other.Want) != len(c.Want) || other.Want[5] != c.Want[5] {
			t.Errorf("%s: digits differ between levels", c.Name)
		}
		if meanPower(c.PCM[c.Want[15].End:]) == 0 {
			t.Errorf("%s: no speech after the last digit", c.Name)
		}
	}
	all := HardConditionCases(speech)
	var lin, mu int
	for _, c := range all {
		if !strings.HasPrefix(c.Category, CatHardPrefix) || UnderBar(c.Category) || c.Kind != MustDetect {
			t.Errorf("%s: category %q kind %v", c.Name, c.Category, c.Kind)
		}
		switch c.Codec {
		case CodecLinear:
			lin++
		case CodecUlaw:
			mu++
		}
	}
	if lin == 0 || lin != mu || lin+mu != len(all) {
		t.Errorf("%d linear and %d µ-law of %d cases", lin, mu, len(all))
	}
}

func TestDoubledCountsASplitTone(t *testing.T) {
	c := &Case{Want: []Digit{{'1', 400, 1200}, {'2', 2000, 2600}}, Kind: MustDetect}
	o := Score(c, []dtmf.KeyEvent{
		begin('1', 400, 256), end('1', 700), begin('1', 900, 256), end('1', 1200),
		begin('2', 2000, 256), end('2', 2600), begin('2', 3000, 256), end('2', 3100),
	})
	if o.Doubled() != 1 || o.FalseDigits() != 2 || len(o.Missed) != 0 {
		t.Errorf("doubled %d, false %d, missed %v", o.Doubled(), o.FalseDigits(), o.Missed)
	}
}
