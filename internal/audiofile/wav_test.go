package audiofile

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"dtmfgw/dtmf/g711"
)

// wavSpec describes a WAV file for buildWAV.
type wavSpec struct {
	tag        uint16 // format tag written in the fmt chunk
	subTag     uint16 // when tag is WAVE_FORMAT_EXTENSIBLE: the SubFormat tag
	channels   int
	rate       int
	bits       int
	blockAlign int // 0: channels*bits/8
	extraChunk bool
}

// buildWAV writes a WAV file around already-encoded sample bytes.
func buildWAV(s wavSpec, samples []byte) []byte {
	le := binary.LittleEndian
	ba := s.blockAlign
	if ba == 0 {
		ba = s.channels * s.bits / 8
	}
	f := make([]byte, 16)
	le.PutUint16(f[0:], s.tag)
	le.PutUint16(f[2:], uint16(s.channels))
	le.PutUint32(f[4:], uint32(s.rate))
	le.PutUint32(f[8:], uint32(s.rate*ba))
	le.PutUint16(f[12:], uint16(ba))
	le.PutUint16(f[14:], uint16(s.bits))
	if s.tag == waveExtensible {
		ext := make([]byte, 24)
		le.PutUint16(ext[0:], 22)
		le.PutUint16(ext[2:], uint16(s.bits))
		le.PutUint16(ext[8:], s.subTag)
		copy(ext[10:], ksdataformatTail)
		f = append(f, ext...)
	}
	var out []byte
	out = append(out, "RIFF\x00\x00\x00\x00WAVE"...)
	if s.extraChunk {
		// An odd-sized LIST chunk before fmt exercises chunk skipping and padding.
		out = append(out, "LIST\x03\x00\x00\x00abc\x00"...)
	}
	out = appendChunk(out, "fmt ", f)
	out = appendChunk(out, "data", samples)
	le.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

func appendChunk(out []byte, id string, body []byte) []byte {
	out = append(out, id...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// sine returns n samples of a sine of freq Hz at rate with the given peak.
func sine(n, rate int, freq, peak float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = peak * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
	}
	return s
}

func toPCM16(x []float64) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(math.Round(v))
	}
	return out
}

// encode writes samples (16-bit scale) in the given encoding, repeating
// each one in every channel.
func encode(x []float64, tag uint16, bits, channels int) []byte {
	le := binary.LittleEndian
	var out []byte
	for _, v := range x {
		s16 := int16(math.Round(v))
		for range channels {
			switch {
			case tag == waveUlaw:
				out = append(out, g711.Linear2Ulaw(s16))
			case tag == waveAlaw:
				out = append(out, g711.Linear2Alaw(s16))
			case tag == waveFloat && bits == 32:
				out = le.AppendUint32(out, math.Float32bits(float32(v/32768)))
			case tag == waveFloat:
				out = le.AppendUint64(out, math.Float64bits(v/32768))
			case bits == 8:
				out = append(out, byte(int(s16>>8)+128))
			case bits == 16:
				out = le.AppendUint16(out, uint16(s16))
			case bits == 24:
				v24 := int32(math.Round(v * 256))
				out = append(out, byte(v24), byte(v24>>8), byte(v24>>16))
			case bits == 32:
				out = le.AppendUint32(out, uint32(int32(math.Round(v*65536))))
			}
		}
	}
	return out
}

func TestDecodeWAVReadsEachEncodingAt8kHz(t *testing.T) {
	x := sine(800, 8000, 1000, 12000)
	want := toPCM16(x)
	tests := []struct {
		name     string
		spec     wavSpec
		encoding string
		maxErr   int // largest acceptable |got-want|, from the encoding's quantisation
	}{
		{"pcm16 mono", wavSpec{tag: wavePCM, channels: 1, bits: 16}, "pcm16", 0},
		{"pcm16 stereo", wavSpec{tag: wavePCM, channels: 2, bits: 16}, "pcm16", 0},
		{"pcm16 with odd LIST chunk", wavSpec{tag: wavePCM, channels: 1, bits: 16, extraChunk: true}, "pcm16", 0},
		{"pcm8", wavSpec{tag: wavePCM, channels: 1, bits: 8}, "pcm8", 256},
		{"pcm24", wavSpec{tag: wavePCM, channels: 1, bits: 24}, "pcm24", 1},
		{"pcm32", wavSpec{tag: wavePCM, channels: 1, bits: 32}, "pcm32", 1},
		{"float32", wavSpec{tag: waveFloat, channels: 1, bits: 32}, "float32", 1},
		{"float64 stereo", wavSpec{tag: waveFloat, channels: 2, bits: 64}, "float64", 1},
		{"ulaw tag 7", wavSpec{tag: waveUlaw, channels: 1, bits: 8}, "ulaw", 400},
		{"alaw tag 6", wavSpec{tag: waveAlaw, channels: 1, bits: 8}, "alaw", 400},
		{"extensible pcm16", wavSpec{tag: waveExtensible, subTag: wavePCM, channels: 1, bits: 16}, "pcm16", 0},
		{"extensible ulaw stereo", wavSpec{tag: waveExtensible, subTag: waveUlaw, channels: 2, bits: 8}, "ulaw", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.rate = 8000
			tag := tc.spec.tag
			if tag == waveExtensible {
				tag = tc.spec.subTag
			}
			file := buildWAV(tc.spec, encode(x, tag, tc.spec.bits, tc.spec.channels))
			pcm, info, err := DecodeWAV(file)
			if err != nil {
				t.Fatalf("DecodeWAV: %v", err)
			}
			if info.Encoding != tc.encoding || info.SourceRate != 8000 || info.Channels != tc.spec.channels || info.Format != FormatWAV {
				t.Errorf("info %+v", info)
			}
			if len(pcm) != len(want) {
				t.Fatalf("%d samples, want %d", len(pcm), len(want))
			}
			for i := range want {
				if d := int(pcm[i]) - int(want[i]); d > tc.maxErr || d < -tc.maxErr {
					t.Fatalf("sample %d: got %d want %d (allowed error %d)", i, pcm[i], want[i], tc.maxErr)
				}
			}
		})
	}
}

func TestDecodeWAVMixesStereoByAveraging(t *testing.T) {
	le := binary.LittleEndian
	var d []byte
	for _, lr := range [][2]int16{{1000, -3000}, {32767, 32767}, {-32768, -32768}, {7, 0}} {
		d = le.AppendUint16(d, uint16(lr[0]))
		d = le.AppendUint16(d, uint16(lr[1]))
	}
	pcm, _, err := DecodeWAV(buildWAV(wavSpec{tag: wavePCM, channels: 2, rate: 8000, bits: 16}, d))
	if err != nil {
		t.Fatal(err)
	}
	want := []int16{-1000, 32767, -32768, 3}
	for i := range want {
		if pcm[i] != want[i] {
			t.Errorf("frame %d: got %d want %d", i, pcm[i], want[i])
		}
	}
}

func TestDecodeWAVDropsTrailingPartialFrame(t *testing.T) {
	d := []byte{1, 0, 2, 0, 3} // two 16-bit samples and a stray byte
	pcm, _, err := DecodeWAV(buildWAV(wavSpec{tag: wavePCM, channels: 1, rate: 8000, bits: 16}, d))
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != 2 || pcm[0] != 1 || pcm[1] != 2 {
		t.Errorf("got %v, want [1 2]", pcm)
	}
}

func TestDecodeWAVStreamingDataSizeRunsToTheEnd(t *testing.T) {
	file := buildWAV(wavSpec{tag: wavePCM, channels: 1, rate: 8000, bits: 16}, []byte{1, 0, 2, 0, 3, 0})
	binary.LittleEndian.PutUint32(file[len(file)-10:], 0xFFFFFFFF) // data chunk size field
	pcm, _, err := DecodeWAV(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != 3 || pcm[2] != 3 {
		t.Errorf("got %v, want [1 2 3]", pcm)
	}
}

func TestDecodeWAVRefusesWithAClearMessage(t *testing.T) {
	good := buildWAV(wavSpec{tag: wavePCM, channels: 1, rate: 8000, bits: 16}, make([]byte, 100))
	le := binary.LittleEndian
	with := func(edit func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return edit(b)
	}
	const fmtAt = 20 // offset of the fmt chunk body in buildWAV's output
	tests := []struct {
		name    string
		file    []byte
		want    error
		message string
	}{
		{"empty", nil, ErrMalformed, "too short"},
		{"truncated header", good[:10], ErrMalformed, "too short"},
		{"not riff", []byte("OggS\x00\x00\x00\x00WAVEfmt "), ErrMalformed, "no RIFF header"},
		{"riff but not wave", with(func(b []byte) []byte { copy(b[8:], "AVI "); return b }), ErrUnsupported, "not WAVE"},
		{"truncated in the data chunk", good[:len(good)-10], ErrMalformed, "truncated: data chunk claims 100 bytes but only 90"},
		{"truncated in the fmt chunk", good[:30], ErrMalformed, "truncated"},
		{"chunk claiming 4 GB", with(func(b []byte) []byte { le.PutUint32(b[16:], 0xFFFFFFF0); return b }), ErrMalformed, "claims 4294967280 bytes"},
		{"no fmt chunk", with(func(b []byte) []byte { copy(b[12:], "junk"); return b }), ErrMalformed, "no fmt chunk"},
		{"no data chunk", good[:fmtAt+16], ErrMalformed, "no data chunk"},
		{"short fmt chunk", buildWAVRaw("fmt ", make([]byte, 10)), ErrMalformed, "fmt chunk of 10 bytes"},
		{"mp3", with(func(b []byte) []byte { le.PutUint16(b[fmtAt:], 0x55); return b }), ErrUnsupported, "0x0055 (MPEG layer 3)"},
		{"unknown tag", with(func(b []byte) []byte { le.PutUint16(b[fmtAt:], 0x7777); return b }), ErrUnsupported, "0x7777 (unknown)"},
		{"zero channels", with(func(b []byte) []byte { le.PutUint16(b[fmtAt+2:], 0); return b }), ErrUnsupported, "0 channels"},
		{"too many channels", with(func(b []byte) []byte { le.PutUint16(b[fmtAt+2:], 64); return b }), ErrUnsupported, "64 channels"},
		{"absurd rate", with(func(b []byte) []byte { le.PutUint32(b[fmtAt+4:], 4_000_000_000); return b }), ErrUnsupported, "sample rate 4000000000 Hz"},
		{"zero rate", with(func(b []byte) []byte { le.PutUint32(b[fmtAt+4:], 0); return b }), ErrUnsupported, "sample rate 0 Hz"},
		{"12-bit pcm", with(func(b []byte) []byte { le.PutUint16(b[fmtAt+14:], 12); return b }), ErrUnsupported, "12 bits per sample for pcm12"},
		{"16-bit ulaw", with(func(b []byte) []byte { le.PutUint16(b[fmtAt:], waveUlaw); return b }), ErrUnsupported, "16 bits per sample for ulaw"},
		{"block align mismatch", with(func(b []byte) []byte { le.PutUint16(b[fmtAt+12:], 4); return b }), ErrMalformed, "block align 4, want 2"},
		{"extensible unknown guid", buildWAVRaw("fmt ", extensibleFmt(0x0001, 0xEE)), ErrUnsupported, "unknown SubFormat GUID"},
		{"extensible short", buildWAVRaw("fmt ", extensibleFmt(0x0001, 0)[:30]), ErrMalformed, "want 40"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pcm, _, err := DecodeWAV(tc.file)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %d samples, err %v; want %v", len(pcm), err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not say %q", err, tc.message)
			}
		})
	}
}

// buildWAVRaw writes a RIFF WAVE with one chunk of the given id and body,
// followed by a small data chunk.
func buildWAVRaw(id string, body []byte) []byte {
	out := []byte("RIFF\x00\x00\x00\x00WAVE")
	out = appendChunk(out, id, body)
	return appendChunk(out, "data", make([]byte, 8))
}

// extensibleFmt is a WAVE_FORMAT_EXTENSIBLE fmt body for 8 kHz mono 16-bit
// with the given SubFormat tag; guidByte spoils the GUID's fixed tail.
func extensibleFmt(subTag uint16, guidByte byte) []byte {
	le := binary.LittleEndian
	f := make([]byte, 40)
	le.PutUint16(f[0:], waveExtensible)
	le.PutUint16(f[2:], 1)
	le.PutUint32(f[4:], 8000)
	le.PutUint32(f[8:], 16000)
	le.PutUint16(f[12:], 2)
	le.PutUint16(f[14:], 16)
	le.PutUint16(f[16:], 22)
	le.PutUint16(f[24:], subTag)
	copy(f[26:], ksdataformatTail)
	if guidByte != 0 {
		f[39] = guidByte
	}
	return f
}

func TestDecodeWAVResamplesOtherRates(t *testing.T) {
	for _, rate := range []int{6000, 11025, 16000, 22050, 44100, 48000, 96000} {
		x := sine(rate/2, rate, 1000, 10000) // half a second
		file := buildWAV(wavSpec{tag: wavePCM, channels: 1, rate: rate, bits: 16}, encode(x, wavePCM, 16, 1))
		pcm, info, err := DecodeWAV(file)
		if err != nil {
			t.Fatalf("%d Hz: %v", rate, err)
		}
		if info.SourceRate != rate {
			t.Errorf("%d Hz: info.SourceRate %d", rate, info.SourceRate)
		}
		if want := len(x) * SampleRate / rate; len(pcm) != want {
			t.Errorf("%d Hz: %d samples, want %d", rate, len(pcm), want)
		}
	}
}
