package dtmf

import "testing"

// goertzelBenchFrame is one 20 ms frame (160 samples) holding a key's two
// tones under noise, the detector's busiest input.
func goertzelBenchFrame() []int16 {
	pcm, _ := toneSignal(0, toneBurst{spec: testTone('5')})
	pcm = pcm[:160]
	addNoiseAtSNR(pcm, 0, len(pcm), 20, 1)
	return pcm
}

// BenchmarkGoertzelFeed measures the recurrences over one 20 ms frame fed
// as the Detector feeds it: five blocks of 32 samples, each from a zero
// state as finish leaves it.
func BenchmarkGoertzelFeed(b *testing.B) {
	pcm := goertzelBenchFrame()
	var g goertzelBank
	b.ReportAllocs()
	b.SetBytes(160 * 2)
	for b.Loop() {
		for i := 0; i < len(pcm); i += blockLen {
			g = goertzelBank{}
			g.feed(pcm[i : i+blockLen])
		}
	}
}
