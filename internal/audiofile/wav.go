package audiofile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"dtmfgw/dtmf/g711"
)

// WAVE format tags (RFC 2361 appendix A; mmreg.h). Only the first five are
// read; the others are named so that an error can say what was found.
const (
	wavePCM        = 0x0001
	waveFloat      = 0x0003
	waveAlaw       = 0x0006
	waveUlaw       = 0x0007
	waveExtensible = 0xFFFE
)

var waveTagNames = map[uint16]string{
	0x0002: "Microsoft ADPCM",
	0x0011: "IMA ADPCM",
	0x0022: "TrueSpeech",
	0x0031: "GSM 6.10",
	0x0040: "G.721 ADPCM",
	0x0045: "G.726 ADPCM",
	0x0050: "MPEG",
	0x0055: "MPEG layer 3",
	0x0064: "G.726 ADPCM",
	0x0065: "G.722 ADPCM",
	0x0067: "G.722",
	0x0083: "G.729",
	0x00A1: "G.729A",
	0x0161: "Windows Media Audio",
	0x1000: "Ogg Vorbis",
	0xF1AC: "FLAC",
}

// Limits on what a WAV header may declare; beyond them the file is refused
// as absurd rather than processed slowly.
const (
	maxChannels   = 8
	minSourceRate = 4000
	maxSourceRate = 384000
)

// ksdataformatTail is bytes 2–15 of every KSDATAFORMAT_SUBTYPE GUID
// (…-0000-0010-8000-00aa00389b71), whose first two bytes are a format tag.
var ksdataformatTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// wavFormat is the content of a "fmt " chunk.
type wavFormat struct {
	tag        uint16
	channels   int
	rate       int
	blockAlign int
	bits       int
}

// streamedDataSize is the data chunk size that writers on a pipe put where
// the real size belongs (espeak-ng --stdout does).
const streamedDataSize = 0x7FFFF000

// DecodeWAV reads a RIFF WAVE file (also RF64 whose data chunk runs to the
// end of the file) holding PCM (8, 16, 24 or 32 bits), IEEE float (32 or 64
// bits), µ-law or A-law samples, directly or in WAVE_FORMAT_EXTENSIBLE, in
// 1 to 8 channels at 4 to 384 kHz, and returns mono samples at SampleRate.
func DecodeWAV(data []byte) ([]int16, Info, error) {
	if len(data) > MaxFileSize {
		return nil, Info{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(data), MaxFileSize)
	}
	if len(data) < 12 {
		return nil, Info{}, fmt.Errorf("%w: %d bytes is too short for a RIFF WAVE header", ErrMalformed, len(data))
	}
	if !IsRIFF(data) {
		return nil, Info{}, fmt.Errorf("%w: no RIFF header (file starts with %q)", ErrMalformed, data[:4])
	}
	if !bytes.Equal(data[8:12], []byte("WAVE")) {
		return nil, Info{}, fmt.Errorf("%w: RIFF form type %q is not WAVE", ErrUnsupported, data[8:12])
	}
	var (
		fmtChunk, dataChunk []byte
		haveFmt, haveData   bool
	)
	// Each pass consumes at least the 8-byte chunk header, so the loop is
	// bounded by len(data)/8.
	for pos := 12; pos+8 <= len(data) && !haveData; {
		id := data[pos : pos+4]
		size := binary.LittleEndian.Uint32(data[pos+4 : pos+8])
		pos += 8
		rest := len(data) - pos
		isData := bytes.Equal(id, []byte("data"))
		if uint64(size) > uint64(rest) {
			switch {
			case isData && (size == 0xFFFFFFFF || size == streamedDataSize):
				// Streaming writers and RF64 (EBU Tech 3306 §3) leave the
				// size unknown here: the samples run to the end. Writers
				// that cannot seek back (espeak-ng --stdout, libsndfile on a
				// pipe) write 0x7FFFF000 instead.
				size = uint32(rest)
			case isData:
				return nil, Info{}, fmt.Errorf("%w: truncated: data chunk claims %d bytes but only %d follow", ErrMalformed, size, rest)
			default:
				return nil, Info{}, fmt.Errorf("%w: truncated: %q chunk claims %d bytes but only %d follow", ErrMalformed, id, size, rest)
			}
		}
		body := data[pos : pos+int(size)]
		switch {
		case bytes.Equal(id, []byte("fmt ")):
			if haveFmt {
				return nil, Info{}, fmt.Errorf("%w: more than one fmt chunk", ErrMalformed)
			}
			fmtChunk, haveFmt = body, true
		case isData:
			dataChunk, haveData = body, true
		}
		// RIFF chunks are padded to an even length (RIFF spec, "Chunks").
		pos += int(size) + int(size&1)
	}
	if !haveFmt {
		return nil, Info{}, fmt.Errorf("%w: no fmt chunk before the samples", ErrMalformed)
	}
	if !haveData {
		return nil, Info{}, fmt.Errorf("%w: no data chunk", ErrMalformed)
	}
	wf, err := parseWAVFormat(fmtChunk)
	if err != nil {
		return nil, Info{}, err
	}
	pcm, enc := decodeFrames(dataChunk, wf)
	info := Info{Format: FormatWAV, Encoding: enc, SourceRate: wf.rate, Channels: wf.channels}
	if wf.rate != SampleRate {
		pcm = Resample(pcm, wf.rate)
	}
	return pcm, info, nil
}

// parseWAVFormat checks a "fmt " chunk (WAVEFORMATEX, and the
// WAVEFORMATEXTENSIBLE extension whose SubFormat GUID carries the real tag).
func parseWAVFormat(b []byte) (wavFormat, error) {
	if len(b) < 16 {
		return wavFormat{}, fmt.Errorf("%w: fmt chunk of %d bytes, want at least 16", ErrMalformed, len(b))
	}
	le := binary.LittleEndian
	wf := wavFormat{
		tag:        le.Uint16(b[0:2]),
		channels:   int(le.Uint16(b[2:4])),
		rate:       int(le.Uint32(b[4:8])),
		blockAlign: int(le.Uint16(b[12:14])),
		bits:       int(le.Uint16(b[14:16])),
	}
	if wf.tag == waveExtensible {
		if len(b) < 40 {
			return wavFormat{}, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, want 40", ErrMalformed, len(b))
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], ksdataformatTail) {
			return wavFormat{}, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE with an unknown SubFormat GUID % x", ErrUnsupported, guid)
		}
		wf.tag = le.Uint16(guid[0:2])
	}
	switch wf.tag {
	case wavePCM, waveFloat, waveAlaw, waveUlaw:
	default:
		name := waveTagNames[wf.tag]
		if name == "" {
			name = "unknown"
		}
		return wavFormat{}, fmt.Errorf("%w: WAV format tag 0x%04X (%s); want PCM, IEEE float, µ-law or A-law", ErrUnsupported, wf.tag, name)
	}
	if wf.channels < 1 || wf.channels > maxChannels {
		return wavFormat{}, fmt.Errorf("%w: %d channels (want 1 to %d)", ErrUnsupported, wf.channels, maxChannels)
	}
	if wf.rate < minSourceRate || wf.rate > maxSourceRate {
		return wavFormat{}, fmt.Errorf("%w: sample rate %d Hz (want %d to %d)", ErrUnsupported, wf.rate, minSourceRate, maxSourceRate)
	}
	okBits := false
	switch wf.tag {
	case wavePCM:
		okBits = wf.bits == 8 || wf.bits == 16 || wf.bits == 24 || wf.bits == 32
	case waveFloat:
		okBits = wf.bits == 32 || wf.bits == 64
	case waveAlaw, waveUlaw:
		okBits = wf.bits == 8
	}
	if !okBits {
		return wavFormat{}, fmt.Errorf("%w: %d bits per sample for %s", ErrUnsupported, wf.bits, encodingName(wf))
	}
	if want := wf.channels * wf.bits / 8; wf.blockAlign != want {
		return wavFormat{}, fmt.Errorf("%w: block align %d, want %d for %d channels of %d bits", ErrMalformed, wf.blockAlign, want, wf.channels, wf.bits)
	}
	return wf, nil
}

func encodingName(wf wavFormat) string {
	switch wf.tag {
	case wavePCM:
		return fmt.Sprintf("pcm%d", wf.bits)
	case waveFloat:
		return fmt.Sprintf("float%d", wf.bits)
	case waveAlaw:
		return "alaw"
	case waveUlaw:
		return "ulaw"
	}
	return "unknown"
}

// decodeFrames converts whole frames to mono 16-bit samples by averaging
// the channels; a trailing partial frame is dropped. wf has been checked by
// parseWAVFormat.
func decodeFrames(d []byte, wf wavFormat) ([]int16, string) {
	frames := len(d) / wf.blockAlign
	out := make([]int16, frames)
	width := wf.bits / 8
	for i := range out {
		frame := d[i*wf.blockAlign : (i+1)*wf.blockAlign]
		var sum int64
		for c := 0; c < wf.channels; c++ {
			sum += int64(sample16(frame[c*width:(c+1)*width], wf.tag))
		}
		out[i] = int16(sum / int64(wf.channels))
	}
	return out, encodingName(wf)
}

// sample16 converts one little-endian sample of len(s) bytes to 16 bits.
func sample16(s []byte, tag uint16) int16 {
	le := binary.LittleEndian
	switch tag {
	case waveAlaw:
		return g711.Alaw2Linear(s[0])
	case waveUlaw:
		return g711.Ulaw2Linear(s[0])
	case waveFloat:
		var v float64
		if len(s) == 4 {
			v = float64(math.Float32frombits(le.Uint32(s)))
		} else {
			v = math.Float64frombits(le.Uint64(s))
		}
		return floatTo16(v)
	}
	switch len(s) {
	case 1:
		// 8-bit WAV samples are unsigned, centred on 128.
		return int16(int(s[0])-128) << 8
	case 2:
		return int16(le.Uint16(s))
	case 3:
		return int16(uint16(s[1]) | uint16(s[2])<<8)
	default:
		return int16(le.Uint32(s) >> 16)
	}
}

// floatTo16 scales a float sample (full scale ±1.0) to 16 bits, clipping
// out-of-range values and mapping NaN to 0.
func floatTo16(v float64) int16 {
	switch {
	case v != v:
		return 0
	case v >= 1:
		return math.MaxInt16
	case v <= -1:
		return math.MinInt16
	}
	return int16(math.Round(v * 32767))
}
