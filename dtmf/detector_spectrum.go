package dtmf

import (
	"math"
	"math/bits"
)

// spectrumLen is the FFT length of the third-tone scan: the 224-sample
// purity stretch (at most onsetLookback samples), zero-padded. Bin k is then
// k·31.25 Hz, and its value is exactly the single-bin DFT of the stretch
// at that frequency, so the scan sees what a Goertzel per frequency would,
// at a fraction of the cost.
const (
	spectrumLen  = 512
	spectrumBits = 9
)

// fftTables are the twiddles and the bit-reversed order, computed once.
type fftTables struct {
	twiddle [spectrumLen / 2]complex128 // exp(−2πik/N)
	rev     [spectrumLen]uint16
}

var fftTab = func() *fftTables {
	t := new(fftTables)
	for k := range t.twiddle {
		a := 2 * math.Pi * float64(k) / spectrumLen
		t.twiddle[k] = complex(math.Cos(a), -math.Sin(a))
	}
	for i := range t.rev {
		t.rev[i] = uint16(bits.Reverse16(uint16(i)) >> (16 - spectrumBits))
	}
	return t
}()

// fft transforms buf in place (radix-2, decimation in time).
func fft(buf *[spectrumLen]complex128) {
	for i, j := range fftTab.rev {
		if int(j) > i {
			buf[i], buf[j] = buf[j], buf[i]
		}
	}
	for size := 2; size <= spectrumLen; size <<= 1 {
		half, step := size/2, spectrumLen/size
		for start := 0; start < spectrumLen; start += size {
			for k := range half {
				w := fftTab.twiddle[k*step]
				a, b := buf[start+k], buf[start+k+half]*w
				buf[start+k], buf[start+k+half] = a+b, a-b
			}
		}
	}
}
