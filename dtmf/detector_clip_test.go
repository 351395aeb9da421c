package dtmf

import (
	"testing"
	"time"

	"dtmfgw/dtmf/g711"
)

// Tones louder than Q.24's 0 dBm0 per tone clip at 16 bits (a pair at
// 0 dBm0 already peaks at 45652). Clipping distorts only the clipped
// samples, so the detector must still find every key exactly once: an
// over-driven caller's handset is real.
func TestDetectorClippedTones(t *testing.T) {
	cases := []struct {
		name         string
		level, twist float64
	}{
		{"0 dBm0 with +4 dB twist", 0, 4},
		{"0 dBm0 with -8 dB twist", 0, -8},
		{"both tones at +3 dBm0", 3, 0},
	}
	for _, c := range cases {
		for _, law := range []g711.Law{0, g711.Ulaw, g711.Alaw} {
			for _, ch := range []byte("0123456789*#ABCD") {
				pcm := make([]int16, 200)
				pcm = AppendDTMF(pcm, ToneSpec{Key: Key(ch), LevelDBm0: c.level, TwistDB: c.twist, Duration: 60 * time.Millisecond})
				pcm = append(pcm, make([]int16, 800)...)
				if law.Valid() {
					codes := make([]byte, len(pcm))
					law.Encode(codes, pcm)
					law.Decode(pcm, codes)
				}
				d := NewDetector(DetectorConfig{})
				ev := d.Flush(d.Process(pcm, nil))
				if len(ev) != 2 || ev[0].Kind != Begin || ev[0].Key != Key(ch) {
					t.Errorf("%s, %v, key %c: events %+v, want one press", c.name, law, ch, ev)
				}
			}
		}
	}
}
