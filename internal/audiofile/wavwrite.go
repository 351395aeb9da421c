package audiofile

import "encoding/binary"

// AppendWAV appends pcm to dst as a RIFF WAVE file at SampleRate, mono,
// 16-bit PCM (format tag 1): the form every tool reads, and the one
// DecodeWAV returns unchanged.
func AppendWAV(dst []byte, pcm []int16) []byte {
	le := binary.LittleEndian
	data := uint32(2 * len(pcm))
	dst = append(dst, "RIFF"...)
	dst = le.AppendUint32(dst, 36+data)
	dst = append(dst, "WAVEfmt "...)
	dst = le.AppendUint32(dst, 16)           // fmt chunk size
	dst = le.AppendUint16(dst, 1)            // PCM
	dst = le.AppendUint16(dst, 1)            // channels
	dst = le.AppendUint32(dst, SampleRate)   // sample rate
	dst = le.AppendUint32(dst, 2*SampleRate) // byte rate
	dst = le.AppendUint16(dst, 2)            // block align
	dst = le.AppendUint16(dst, 16)           // bits per sample
	dst = append(dst, "data"...)
	dst = le.AppendUint32(dst, data)
	for _, s := range pcm {
		dst = le.AppendUint16(dst, uint16(s))
	}
	return dst
}
