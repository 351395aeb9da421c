package audiofile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dtmfgw/dtmf/g711"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		err  bool
	}{
		{"auto", FormatAuto, false},
		{"", FormatAuto, false},
		{"WAV", FormatWAV, false},
		{"ulaw", FormatUlaw, false},
		{"mulaw", FormatUlaw, false},
		{"PCMU", FormatUlaw, false},
		{"alaw", FormatAlaw, false},
		{"pcma", FormatAlaw, false},
		{"pcm16", FormatPCM16, false},
		{"sln", FormatPCM16, false},
		{"mp3", "", true},
		{"pcap", "", true},
	}
	for _, tc := range tests {
		got, err := ParseFormat(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("ParseFormat(%q) error %v does not wrap ErrUnknownFormat", tc.in, err)
		}
	}
}

func TestSniffByHeaderThenExtension(t *testing.T) {
	riff := []byte("RIFF\x24\x00\x00\x00WAVE")
	tests := []struct {
		name string
		head []byte
		file string
		want Format
		msg  string
	}{
		{"riff header wins over extension", riff, "call.ulaw", FormatWAV, ""},
		{"rf64 header", []byte("RF64\xff\xff\xff\xffWAVE"), "x.bin", FormatWAV, ""},
		{"wav extension without header", []byte{1, 2, 3}, "x.WAV", FormatWAV, ""},
		{"ul", nil, "a.ul", FormatUlaw, ""},
		{"ulaw", nil, "a.ulaw", FormatUlaw, ""},
		{"mulaw", nil, "a.mulaw", FormatUlaw, ""},
		{"al", nil, "a.al", FormatAlaw, ""},
		{"alaw", nil, "a.alaw", FormatAlaw, ""},
		{"raw", nil, "a.raw", FormatPCM16, ""},
		{"pcm", nil, "a.pcm", FormatPCM16, ""},
		{"sln", nil, "dir.d/a.sln", FormatPCM16, ""},
		{"unknown extension", nil, "a.mp3", "", `extension ".mp3" is not known; say which with --format`},
		{"no extension", nil, "recording", "", "no file extension; say which with --format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Sniff(tc.head, tc.file)
			if tc.msg != "" {
				if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tc.msg)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDecodeHeaderlessFormats(t *testing.T) {
	want := []int16{0, 1000, -1000, 32000, -32000, 8}
	ulaw := make([]byte, len(want))
	alaw := make([]byte, len(want))
	g711.EncodeUlaw(ulaw, want)
	g711.EncodeAlaw(alaw, want)
	var pcm16 []byte
	for _, s := range want {
		pcm16 = append(pcm16, byte(s), byte(uint16(s)>>8))
	}
	tests := []struct {
		name   string
		data   []byte
		format Format
		file   string
		want   []int16
	}{
		{"ulaw", ulaw, FormatUlaw, "x", decodeWith(g711.DecodeUlaw, ulaw)},
		{"alaw", alaw, FormatAlaw, "x", decodeWith(g711.DecodeAlaw, alaw)},
		{"pcm16", pcm16, FormatPCM16, "x", want},
		{"auto by .ul", ulaw, FormatAuto, "call.ul", decodeWith(g711.DecodeUlaw, ulaw)},
		{"auto by .alaw", alaw, FormatAuto, "call.alaw", decodeWith(g711.DecodeAlaw, alaw)},
		{"auto by .sln", pcm16, FormatAuto, "call.sln", want},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, info, err := Decode(tc.data, tc.format, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if info.SourceRate != SampleRate || info.Channels != 1 || info.Format == FormatAuto {
				t.Errorf("info %+v", info)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v want %v", got, tc.want)
				}
			}
		})
	}
}

func decodeWith(dec func([]int16, []byte) int, src []byte) []int16 {
	out := make([]int16, len(src))
	dec(out, src)
	return out
}

func TestDecodeRefusesOddPCM16AndUnknownFormats(t *testing.T) {
	if _, _, err := Decode([]byte{1, 2, 3}, FormatPCM16, "x"); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "odd number of bytes (3)") {
		t.Errorf("odd pcm16: %v", err)
	}
	if _, _, err := Decode([]byte{1, 2}, Format("mp3"), "x"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
	if _, _, err := Decode([]byte{1, 2}, FormatAuto, "x.ogg"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("auto with unknown extension: %v", err)
	}
	if _, _, err := Decode([]byte("not a wav file at all"), FormatAuto, "x.wav"); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "no RIFF header") {
		t.Errorf(".wav without header: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tone.wav")
	file := buildWAV(wavSpec{tag: wavePCM, channels: 1, rate: 8000, bits: 16}, []byte{1, 0, 2, 0})
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	pcm, info, err := ReadFile(path, FormatAuto)
	if err != nil || len(pcm) != 2 || info.Format != FormatWAV {
		t.Errorf("ReadFile: %v %+v %v", pcm, info, err)
	}
	if _, _, err := ReadFile(filepath.Join(dir, "missing.wav"), FormatAuto); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestReadAllBoundedStopsAtTheLimit(t *testing.T) {
	if _, err := ReadAllBounded(bytes.NewReader(make([]byte, 101)), 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("101 bytes with limit 100: %v", err)
	}
	if b, err := ReadAllBounded(bytes.NewReader(make([]byte, 100)), 100); err != nil || len(b) != 100 {
		t.Errorf("100 bytes with limit 100: %d, %v", len(b), err)
	}
}

// FuzzReadWAV checks that no input crashes the WAV reader or makes it
// produce more samples than the bytes can hold: at most two output samples
// per input byte (8-bit mono at 4 kHz doubled to 8 kHz).
func FuzzReadWAV(f *testing.F) {
	f.Add(buildWAV(wavSpec{tag: wavePCM, channels: 1, rate: 8000, bits: 16}, []byte{1, 0, 2, 0}))
	f.Add(buildWAV(wavSpec{tag: waveUlaw, channels: 2, rate: 8000, bits: 8, extraChunk: true}, []byte{1, 2, 3, 4}))
	f.Add(buildWAV(wavSpec{tag: waveExtensible, subTag: waveFloat, channels: 1, rate: 11025, bits: 32}, make([]byte, 64)))
	f.Add(buildWAVRaw("fmt ", extensibleFmt(wavePCM, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, info, err := DecodeWAV(data)
		if err != nil {
			if pcm != nil {
				t.Fatalf("error %v with %d samples", err, len(pcm))
			}
			return
		}
		if len(pcm) > 2*len(data) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(data))
		}
		if info.SourceRate < minSourceRate || info.SourceRate > maxSourceRate || info.Channels < 1 || info.Channels > maxChannels {
			t.Fatalf("accepted out-of-range info %+v", info)
		}
	})
}
