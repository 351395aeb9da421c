// Package audiofile reads telephony recordings into 16-bit linear PCM at
// 8000 Hz, the input of the in-band DTMF detector: WAV files (RIFF, PCM,
// IEEE float, µ-law and A-law), headerless G.711 (µ-law, A-law) and raw
// 16-bit little-endian PCM. Recordings at other rates are resampled with a
// windowed-sinc low-pass so that nothing above 4 kHz folds into the DTMF
// band.
//
// Every size is bounded: files larger than MaxFileSize are refused before
// they are read, and no header field, however large it claims to be,
// causes an allocation larger than the bytes actually present.
package audiofile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"dtmfgw/dtmf/g711"
)

// SampleRate is the rate of every slice this package returns, in Hz: the
// G.711 rate (ITU-T G.711 §2) that the DTMF detector works at.
const SampleRate = 8000

// MaxFileSize is the largest input accepted, in bytes: about 4.6 hours of
// 16-bit mono PCM at 8 kHz, or 23 minutes of 48 kHz stereo.
const MaxFileSize = 256 << 20

// Format names an input format.
type Format string

// The formats this package reads.
const (
	// FormatAuto chooses by content (a RIFF header) and else by file
	// name extension.
	FormatAuto Format = "auto"
	// FormatWAV is a RIFF WAVE file.
	FormatWAV Format = "wav"
	// FormatUlaw is headerless G.711 µ-law at 8 kHz, one byte per sample.
	FormatUlaw Format = "ulaw"
	// FormatAlaw is headerless G.711 A-law at 8 kHz, one byte per sample.
	FormatAlaw Format = "alaw"
	// FormatPCM16 is headerless signed 16-bit little-endian mono PCM at
	// 8 kHz (Asterisk's .sln).
	FormatPCM16 Format = "pcm16"
)

var (
	// ErrUnknownFormat is returned when a format name is not one of ours,
	// or when FormatAuto cannot tell what a file is.
	ErrUnknownFormat = errors.New("audiofile: unknown format")
	// ErrUnsupported is returned for a well-formed file in a variant this
	// package does not read (for example 12-bit samples or ADPCM).
	ErrUnsupported = errors.New("audiofile: unsupported audio")
	// ErrMalformed is returned for a file that breaks its own format.
	ErrMalformed = errors.New("audiofile: malformed file")
	// ErrTooLarge is returned for input larger than MaxFileSize.
	ErrTooLarge = errors.New("audiofile: file too large")
)

// Info describes what was read.
type Info struct {
	// Format is the container format that was read (never FormatAuto).
	Format Format
	// Encoding is the sample encoding found: "pcm8", "pcm16", "pcm24",
	// "pcm32", "float32", "float64", "ulaw" or "alaw".
	Encoding string
	// SourceRate is the sample rate of the file in Hz.
	SourceRate int
	// Channels is the number of channels in the file; more than one are
	// mixed down to mono by averaging.
	Channels int
}

// ParseFormat returns the Format named by s (case-insensitive). "mulaw",
// "pcmu", "pcma" and "sln" are accepted as aliases.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return FormatAuto, nil
	case "wav", "wave":
		return FormatWAV, nil
	case "ulaw", "mulaw", "pcmu":
		return FormatUlaw, nil
	case "alaw", "pcma":
		return FormatAlaw, nil
	case "pcm16", "sln", "s16le":
		return FormatPCM16, nil
	}
	return "", fmt.Errorf("%w %q (want auto, wav, ulaw, alaw or pcm16)", ErrUnknownFormat, s)
}

// IsRIFF reports whether head starts like a RIFF WAVE (or RF64) file.
func IsRIFF(head []byte) bool {
	return len(head) >= 4 && (bytes.Equal(head[:4], []byte("RIFF")) || bytes.Equal(head[:4], []byte("RF64")))
}

// Sniff resolves FormatAuto for a file named name whose first bytes are
// head: a RIFF header means WAV; else the extension decides (.wav, .ul,
// .ulaw, .mulaw, .al, .alaw, .raw, .pcm, .sln). Headerless audio cannot be
// told apart by content, so any other name is an error asking for --format.
func Sniff(head []byte, name string) (Format, error) {
	if IsRIFF(head) {
		return FormatWAV, nil
	}
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".wav", ".wave":
		return FormatWAV, nil // Decode explains what the header lacks.
	case ".ul", ".ulaw", ".mulaw", ".mu", ".pcmu":
		return FormatUlaw, nil
	case ".al", ".alaw", ".pcma":
		return FormatAlaw, nil
	case ".raw", ".pcm", ".sln", ".s16", ".s16le":
		return FormatPCM16, nil
	case "":
		return "", fmt.Errorf("%w: no RIFF header and no file extension; say which with --format wav|ulaw|alaw|pcm16", ErrUnknownFormat)
	default:
		return "", fmt.Errorf("%w: no RIFF header and extension %q is not known; say which with --format wav|ulaw|alaw|pcm16", ErrUnknownFormat, ext)
	}
}

// ReadFile reads the audio file at path in format f (FormatAuto to choose
// by content and name) and returns its samples at SampleRate.
func ReadFile(path string, f Format) ([]int16, Info, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, Info{}, err
	}
	defer fh.Close()
	data, err := ReadAllBounded(fh, MaxFileSize)
	if err != nil {
		return nil, Info{}, err
	}
	return Decode(data, f, filepath.Base(path))
}

// ReadAllBounded reads r to its end, refusing more than limit bytes with
// ErrTooLarge. Memory grows with the bytes that arrive, not with any size a
// file claims.
func ReadAllBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return data, nil
}

// Decode converts the contents of an audio file in format f to samples at
// SampleRate. name is used only by FormatAuto, for its extension.
func Decode(data []byte, f Format, name string) ([]int16, Info, error) {
	if len(data) > MaxFileSize {
		return nil, Info{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(data), MaxFileSize)
	}
	if f == FormatAuto {
		var err error
		if f, err = Sniff(data, name); err != nil {
			return nil, Info{}, err
		}
	}
	switch f {
	case FormatWAV:
		return DecodeWAV(data)
	case FormatUlaw:
		pcm := make([]int16, len(data))
		g711.DecodeUlaw(pcm, data)
		return pcm, Info{Format: f, Encoding: "ulaw", SourceRate: SampleRate, Channels: 1}, nil
	case FormatAlaw:
		pcm := make([]int16, len(data))
		g711.DecodeAlaw(pcm, data)
		return pcm, Info{Format: f, Encoding: "alaw", SourceRate: SampleRate, Channels: 1}, nil
	case FormatPCM16:
		if len(data)%2 != 0 {
			return nil, Info{}, fmt.Errorf("%w: raw 16-bit PCM has an odd number of bytes (%d)", ErrMalformed, len(data))
		}
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
		}
		return pcm, Info{Format: f, Encoding: "pcm16", SourceRate: SampleRate, Channels: 1}, nil
	}
	return nil, Info{}, fmt.Errorf("%w %q", ErrUnknownFormat, string(f))
}
