package g711

import (
	"testing"
)

func TestKnownValues(t *testing.T) {
	tests := []struct {
		name string
		got  int16
		want int16
	}{
		{"ulaw 0xFF is +0", Ulaw2Linear(0xFF), 0},
		{"ulaw 0x7F is -0", Ulaw2Linear(0x7F), 0},
		{"ulaw 0x80 is the positive peak", Ulaw2Linear(0x80), 32124},
		{"ulaw 0x00 is the negative peak", Ulaw2Linear(0x00), -32124},
		{"alaw 0xD5 is the smallest positive step", Alaw2Linear(0xD5), 8},
		{"alaw 0x55 is the smallest negative step", Alaw2Linear(0x55), -8},
		{"alaw 0xAA is the positive peak", Alaw2Linear(0xAA), 32256},
		{"alaw 0x2A is the negative peak", Alaw2Linear(0x2A), -32256},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	if got := Linear2Ulaw(0); got != 0xFF {
		t.Errorf("Linear2Ulaw(0) = %#x, want 0xFF", got)
	}
	if got := Linear2Alaw(0); got != 0xD5 {
		t.Errorf("Linear2Alaw(0) = %#x, want 0xD5", got)
	}
	if got := Linear2Ulaw(32767); got != 0x80 {
		t.Errorf("Linear2Ulaw(32767) = %#x, want 0x80 (clipped peak)", got)
	}
	if got := Linear2Ulaw(-32768); got != 0x00 {
		t.Errorf("Linear2Ulaw(-32768) = %#x, want 0x00 (clipped peak)", got)
	}
}

// Every code must survive decode → encode; the only exception is µ-law's
// negative zero (0x7F), which encodes back as positive zero.
func TestRoundTripEveryCode(t *testing.T) {
	for c := range 256 {
		u := byte(c)
		if got := Linear2Ulaw(Ulaw2Linear(u)); got != u && u != 0x7F {
			t.Errorf("ulaw %#02x → %d → %#02x", u, Ulaw2Linear(u), got)
		}
		a := byte(c)
		if got := Linear2Alaw(Alaw2Linear(a)); got != a {
			t.Errorf("alaw %#02x → %d → %#02x", a, Alaw2Linear(a), got)
		}
	}
}

// Encoding must be monotonic in the input and lose at most half a step of
// the segment the value falls in (G.711's quantisation error bound).
func TestEncodeErrorBounded(t *testing.T) {
	for s := -32768; s <= 32767; s++ {
		x := int16(s)
		for _, c := range []struct {
			name string
			back int16
		}{
			{"ulaw", Ulaw2Linear(Linear2Ulaw(x))},
			{"alaw", Alaw2Linear(Linear2Alaw(x))},
		} {
			err := int(c.back) - s
			if err < 0 {
				err = -err
			}
			mag := s
			if mag < 0 {
				mag = -mag
			}
			// Steps double with each segment: at most 1/16 of the magnitude,
			// plus the smallest step near zero and the clipped range at the peaks.
			limit := mag/16 + 16
			if mag > 32124 {
				limit += mag - 32124
			}
			if err > limit {
				t.Fatalf("%s: %d decodes back as %d (error %d > %d)", c.name, s, c.back, err, limit)
			}
		}
	}
}

func TestMonotonic(t *testing.T) {
	prevU, prevA := Ulaw2Linear(Linear2Ulaw(-32768)), Alaw2Linear(Linear2Alaw(-32768))
	for s := -32767; s <= 32767; s++ {
		u, a := Ulaw2Linear(Linear2Ulaw(int16(s))), Alaw2Linear(Linear2Alaw(int16(s)))
		if u < prevU || a < prevA {
			t.Fatalf("not monotonic at %d", s)
		}
		prevU, prevA = u, a
	}
}

func TestSliceFunctionsMatchPerSample(t *testing.T) {
	src := make([]int16, 320)
	for i := range src {
		src[i] = int16(i*211 - 30000)
	}
	ul := make([]byte, 160)
	if n := EncodeUlaw(ul, src); n != 160 {
		t.Fatalf("EncodeUlaw wrote %d, want min(len) = 160", n)
	}
	al := make([]byte, 400)
	if n := EncodeAlaw(al, src); n != 320 {
		t.Fatalf("EncodeAlaw wrote %d, want 320", n)
	}
	back := make([]int16, 160)
	DecodeUlaw(back, ul)
	for i := range back {
		if ul[i] != Linear2Ulaw(src[i]) || back[i] != Ulaw2Linear(ul[i]) {
			t.Fatalf("ulaw sample %d differs", i)
		}
	}
	DecodeAlaw(back, al)
	for i := range back {
		if al[i] != Linear2Alaw(src[i]) || back[i] != Alaw2Linear(al[i]) {
			t.Fatalf("alaw sample %d differs", i)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	pcm := make([]int16, 160)
	code := make([]byte, 160)
	if n := testing.AllocsPerRun(100, func() {
		DecodeUlaw(pcm, code)
		DecodeAlaw(pcm, code)
		EncodeUlaw(code, pcm)
		EncodeAlaw(code, pcm)
	}); n != 0 {
		t.Fatalf("%v allocs per frame, want 0", n)
	}
}

// 20 ms at 8 kHz: one RTP frame.
func BenchmarkDecodeUlawFrame(b *testing.B) {
	b.ReportAllocs()
	src := make([]byte, 160)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, 160)
	b.SetBytes(160)
	for b.Loop() {
		DecodeUlaw(dst, src)
	}
}

func BenchmarkDecodeAlawFrame(b *testing.B) {
	b.ReportAllocs()
	src := make([]byte, 160)
	dst := make([]int16, 160)
	b.SetBytes(160)
	for b.Loop() {
		DecodeAlaw(dst, src)
	}
}

func BenchmarkEncodeUlawFrame(b *testing.B) {
	b.ReportAllocs()
	src := make([]int16, 160)
	dst := make([]byte, 160)
	b.SetBytes(160)
	for b.Loop() {
		EncodeUlaw(dst, src)
	}
}

func TestLaw(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 32000}
	for _, law := range []Law{Ulaw, Alaw} {
		codes := make([]byte, len(pcm))
		if n := law.Encode(codes, pcm); n != len(pcm) {
			t.Fatalf("%v: Encode wrote %d", law, n)
		}
		back := make([]int16, len(pcm))
		law.Decode(back, codes)
		for i := range pcm {
			want := Alaw2Linear(Linear2Alaw(pcm[i]))
			if law == Ulaw {
				want = Ulaw2Linear(Linear2Ulaw(pcm[i]))
			}
			if back[i] != want {
				t.Errorf("%v sample %d: %d, want %d", law, i, back[i], want)
			}
		}
		if s := law.Silence(); law.Decode(back[:1], []byte{s}) != 1 || back[0] != 0 && back[0] != 8 {
			t.Errorf("%v: silence code %#x decodes to %d", law, s, back[0])
		}
	}
	if Law(0).Valid() || Law(0).Encode(make([]byte, 4), pcm) != 0 {
		t.Error("the zero Law must be invalid and encode nothing")
	}
	if Ulaw.String() != "PCMU" || Alaw.String() != "PCMA" {
		t.Error("String must give the RTP encoding names")
	}
}
