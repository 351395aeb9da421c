package dtmf

import (
	"encoding/binary"
	"math"
	"testing"
)

// goertzelBankFrom builds a bank from raw state: up to eighteen
// little-endian float64s (s1, s2, energy, sum), missing ones zero, so a
// test or the fuzzer can start from any state, NaNs and infinities
// included, and n samples into the block.
func goertzelBankFrom(state []byte, n int) goertzelBank {
	var f [18]float64
	for i := range f {
		if len(state) < 8*(i+1) {
			break
		}
		f[i] = math.Float64frombits(binary.LittleEndian.Uint64(state[8*i:]))
	}
	g := goertzelBank{energy: f[16], sum: f[17], n: n}
	copy(g.s1[:], f[:8])
	copy(g.s2[:], f[8:16])
	return g
}

// sameGoertzelState reports the first field where got and want differ in
// any bit: the two feeds must agree exactly, not within a tolerance, or
// the detector's decisions could differ between platforms.
func sameGoertzelState(got, want *goertzelBank) (field string, ok bool) {
	for k := range got.s1 {
		if math.Float64bits(got.s1[k]) != math.Float64bits(want.s1[k]) {
			return "s1", false
		}
		if math.Float64bits(got.s2[k]) != math.Float64bits(want.s2[k]) {
			return "s2", false
		}
	}
	switch {
	case math.Float64bits(got.energy) != math.Float64bits(want.energy):
		return "energy", false
	case math.Float64bits(got.sum) != math.Float64bits(want.sum):
		return "sum", false
	case got.n != want.n:
		return "n", false
	}
	return "", true
}

// state packs float64s as goertzelBankFrom reads them.
func state(fs ...float64) []byte {
	b := make([]byte, 0, 8*len(fs))
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

func TestGoertzelFeedMatchesGeneric(t *testing.T) {
	frame := goertzelBenchFrame()
	ramp := make([]int16, blockLen)
	for i := range ramp {
		ramp[i] = int16(i*2113 - 32768)
	}
	extremes := []int16{-32768, 32767, -32768, 32767, 0, -1, 1, -32768, -32768, 32767, 32767}
	nan1 := math.Float64frombits(0x7ff8000000000001)
	nan2 := math.Float64frombits(0xfff4000000000002) // signalling, negative
	tests := []struct {
		name  string
		state []byte
		n     int
		xs    []int16
	}{
		{"empty", nil, 0, nil},
		{"empty mid-block", state(1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8, 99, -9), 7, nil},
		{"one sample", nil, 0, frame[:1]},
		{"two samples", nil, 0, frame[:2]},
		{"three samples", nil, 0, frame[:3]},
		{"odd tail of a block", nil, 1, frame[:31]},
		{"whole block", nil, 0, frame[:blockLen]},
		{"whole block, tones and noise", nil, 0, frame[blockLen : 2*blockLen]},
		{"last sample", nil, blockLen - 1, frame[:1]},
		{"full-scale ramp", nil, 0, ramp},
		{"extremes", nil, 0, extremes},
		{"carried state", state(1e4, -2e4, 3.5, -0.25, 1e-300, -1e300, 0, math.Copysign(0, -1),
			7, 8, 9, -10, 11, -12, 13, -14, 1e12, -3e5), 5, frame[64:91]},
		{"infinities", state(math.Inf(1), 0, math.Inf(-1), 1, 2, math.Inf(1), 3, 4,
			math.Inf(1), math.Inf(-1), 0, 0, 5, 6, math.Inf(1), 7, math.Inf(1), math.Inf(-1)), 0, frame[:9]},
		{"NaN payloads", state(nan1, nan2, nan1, 0, nan2, 1, nan1, nan2,
			nan2, nan1, 0, nan1, nan2, nan2, nan1, 1, nan1, nan2), 0, extremes},
		{"overflow to infinity", state(1.7e308, -1.7e308, 1e308, -1e308, 1.7e308, 1.7e308, -1.7e308, 1e308,
			-1.7e308, 1.7e308, 1e308, 1e308, -1e308, 1.7e308, 1.7e308, -1.7e308, 1.79e308, -1.79e308), 0, extremes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := goertzelBankFrom(tc.state, tc.n)
			want := got
			gotDone := got.feed(tc.xs)
			wantDone := want.feedGeneric(tc.xs)
			if field, ok := sameGoertzelState(&got, &want); !ok {
				t.Fatalf("%s differs:\nfeed        %+v\nfeedGeneric %+v", field, got, want)
			}
			if gotDone != wantDone || gotDone != (tc.n+len(tc.xs) == blockLen) {
				t.Errorf("feed reports %v, feedGeneric %v, for %d+%d samples", gotDone, wantDone, tc.n, len(tc.xs))
			}
		})
	}
}

// FuzzGoertzelFeed feeds the same samples, chunked as the fuzzer likes but
// never past the end of a block (as the Detector does), to feed and to
// feedGeneric from an arbitrary starting state, and requires bit-equal
// state after every chunk and bit-equal blocks after every finish.
func FuzzGoertzelFeed(f *testing.F) {
	frame := goertzelBenchFrame()
	raw := make([]byte, 2*len(frame))
	for i, x := range frame {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(x))
	}
	f.Add([]byte{}, uint8(0), raw, []byte{32})
	f.Add(state(1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 15, -16, 17, -18), uint8(3), raw, []byte{1, 2, 5, 31})
	f.Add(state(math.NaN(), math.Inf(1), math.Inf(-1)), uint8(31), []byte{0x00, 0x80, 0xff, 0x7f}, []byte{0})
	f.Fuzz(func(t *testing.T, st []byte, n uint8, data, chunks []byte) {
		if len(data) > 1<<12 { // a few blocks reach every path; more only slows the fuzzer
			data = data[:1<<12]
		}
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		got := goertzelBankFrom(st, int(n)%blockLen)
		want := got
		for i := 0; len(pcm) > 0; i++ {
			size := len(pcm)
			if len(chunks) > 0 {
				size = max(int(chunks[i%len(chunks)]), 1)
			}
			xs := pcm[:min(size, len(pcm), blockLen-got.n)]
			pcm = pcm[len(xs):]
			gotDone, wantDone := got.feed(xs), want.feedGeneric(xs)
			if field, ok := sameGoertzelState(&got, &want); !ok {
				t.Fatalf("chunk %d (%d samples): %s differs:\nfeed        %+v\nfeedGeneric %+v", i, len(xs), field, got, want)
			}
			if gotDone != wantDone {
				t.Fatalf("chunk %d: feed reports %v, feedGeneric %v", i, gotDone, wantDone)
			}
			if gotDone {
				var gb, wb blockSpectrum
				got.finish(&gb)
				want.finish(&wb)
				for k := range gb.bin {
					if math.Float32bits(real(gb.bin[k])) != math.Float32bits(real(wb.bin[k])) ||
						math.Float32bits(imag(gb.bin[k])) != math.Float32bits(imag(wb.bin[k])) {
						t.Fatalf("chunk %d: bin %d is %v, want %v", i, k, gb.bin[k], wb.bin[k])
					}
				}
				if math.Float64bits(gb.energy) != math.Float64bits(wb.energy) {
					t.Fatalf("chunk %d: block energy %v, want %v", i, gb.energy, wb.energy)
				}
			}
		}
	})
}

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
	benchmarkGoertzel(b, (*goertzelBank).feed)
}

// BenchmarkGoertzelFeedGeneric is the same for the portable Go version,
// for comparison on the machine at hand.
func BenchmarkGoertzelFeedGeneric(b *testing.B) {
	benchmarkGoertzel(b, (*goertzelBank).feedGeneric)
}

func benchmarkGoertzel(b *testing.B, feed func(*goertzelBank, []int16) bool) {
	pcm := goertzelBenchFrame()
	var g goertzelBank
	b.ReportAllocs()
	b.SetBytes(160 * 2)
	for b.Loop() {
		for i := 0; i < len(pcm); i += blockLen {
			g = goertzelBank{}
			feed(&g, pcm[i:i+blockLen])
		}
	}
}
