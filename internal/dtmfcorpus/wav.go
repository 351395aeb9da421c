package dtmfcorpus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrWAV is wrapped by every ParseWAV error.
var ErrWAV = errors.New("dtmfcorpus: bad WAV")

// maxWAVChunks bounds the chunk walk, so a file of many tiny chunks cannot
// keep the parser busy.
const maxWAVChunks = 64

// ParseWAV reads mono 16-bit PCM from a RIFF/WAVE file and returns the
// samples and their rate. A data chunk whose size runs past the end of the
// input is read to the end: espeak-ng writes to a pipe, cannot seek back,
// and leaves the sizes at a placeholder (0x7ffff000-ish).
func ParseWAV(b []byte) (samples []int16, rate int, err error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%w: no RIFF/WAVE header", ErrWAV)
	}
	var haveFmt bool
	p := 12
	for range maxWAVChunks {
		if len(b)-p < 8 {
			break
		}
		id := string(b[p : p+4])
		size := int64(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		body := b[p+8:]
		switch id {
		case "fmt ":
			if size < 16 || int64(len(body)) < 16 {
				return nil, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrWAV, size)
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			channels := binary.LittleEndian.Uint16(body[2:4])
			r := binary.LittleEndian.Uint32(body[4:8])
			bits := binary.LittleEndian.Uint16(body[14:16])
			if format != 1 || channels != 1 || bits != 16 {
				return nil, 0, fmt.Errorf("%w: format %d, %d channels, %d bits; want PCM mono 16-bit", ErrWAV, format, channels, bits)
			}
			if r < 1000 || r > 192000 {
				return nil, 0, fmt.Errorf("%w: sample rate %d", ErrWAV, r)
			}
			rate, haveFmt = int(r), true
		case "data":
			if !haveFmt {
				return nil, 0, fmt.Errorf("%w: data before fmt", ErrWAV)
			}
			n := int64(len(body))
			if size < n {
				n = size
			}
			n &^= 1
			samples = make([]int16, n/2)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return samples, rate, nil
		}
		// Chunks are padded to an even length (RIFF). A size beyond the end
		// ends the walk.
		next := int64(p) + 8 + size + size&1
		if next > int64(len(b)) {
			break
		}
		p = int(next)
	}
	return nil, 0, fmt.Errorf("%w: no data chunk", ErrWAV)
}

// AppendWAV appends pcm as a mono 16-bit PCM RIFF/WAVE file at rate to dst,
// so a failing case can be listened to or run through another detector.
func AppendWAV(dst []byte, pcm []int16, rate int) []byte {
	le32 := func(v uint32) { dst = binary.LittleEndian.AppendUint32(dst, v) }
	le16 := func(v uint16) { dst = binary.LittleEndian.AppendUint16(dst, v) }
	data := uint32(2 * len(pcm))
	dst = append(dst, "RIFF"...)
	le32(36 + data)
	dst = append(dst, "WAVEfmt "...)
	le32(16)
	le16(1) // PCM
	le16(1) // mono
	le32(uint32(rate))
	le32(uint32(2 * rate))
	le16(2)
	le16(16)
	dst = append(dst, "data"...)
	le32(data)
	for _, v := range pcm {
		le16(uint16(v))
	}
	return dst
}
