// Package g711 converts between 16-bit linear PCM and ITU-T G.711 µ-law
// (PCMU) and A-law (PCMA) samples with lookup tables, so that the relay's hot
// path and the command line share one exact, allocation-free codec.
//
// Encoding truncates the 16-bit sample to the 14-bit (µ-law) or 13-bit
// (A-law) range that G.711 defines, as the reference implementations do.
package g711

// Decode tables: one entry per code. Encode tables: one entry per 14-bit
// (µ-law) or 13-bit (A-law) linear value, indexed by the sample shifted right.
var (
	ulawToLinear [256]int16
	alawToLinear [256]int16
	linearToUlaw [1 << 14]byte
	linearToAlaw [1 << 13]byte
)

func init() {
	for i := range 256 {
		ulawToLinear[i] = decodeUlaw(byte(i))
		alawToLinear[i] = decodeAlaw(byte(i))
	}
	for i := range len(linearToUlaw) {
		// i is the 14-bit two's-complement value of a sample shifted right by 2.
		linearToUlaw[i] = encodeUlaw(int16(uint16(i<<2)) >> 2)
	}
	for i := range len(linearToAlaw) {
		linearToAlaw[i] = encodeAlaw(int16(uint16(i<<3)) >> 3)
	}
}

// Ulaw2Linear returns the 16-bit linear value of a µ-law code.
func Ulaw2Linear(u byte) int16 { return ulawToLinear[u] }

// Alaw2Linear returns the 16-bit linear value of an A-law code.
func Alaw2Linear(a byte) int16 { return alawToLinear[a] }

// Linear2Ulaw returns the µ-law code of a 16-bit linear sample.
func Linear2Ulaw(s int16) byte { return linearToUlaw[uint16(s)>>2] }

// Linear2Alaw returns the A-law code of a 16-bit linear sample.
func Linear2Alaw(s int16) byte { return linearToAlaw[uint16(s)>>3] }

// DecodeUlaw decodes µ-law codes from src into dst and returns the number of
// samples written, min(len(dst), len(src)).
func DecodeUlaw(dst []int16, src []byte) int { return decode(dst, src, &ulawToLinear) }

// DecodeAlaw decodes A-law codes from src into dst and returns the number of
// samples written, min(len(dst), len(src)).
func DecodeAlaw(dst []int16, src []byte) int { return decode(dst, src, &alawToLinear) }

// decode looks every code of src up in table.
func decode(dst []int16, src []byte, table *[256]int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, c := range src {
		dst[i] = table[c]
	}
	return n
}

// EncodeUlaw encodes linear samples from src into µ-law codes in dst and
// returns the number of codes written, min(len(dst), len(src)). (The
// look-ahead encodes every packet it sends: the table is indexed directly,
// with no bounds check, in each law's own loop.)
func EncodeUlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = linearToUlaw[uint16(s)>>2]
	}
	return n
}

// EncodeAlaw encodes linear samples from src into A-law codes in dst and
// returns the number of codes written, min(len(dst), len(src)).
func EncodeAlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = linearToAlaw[uint16(s)>>3]
	}
	return n
}

// The reference algorithms below fill the tables once. G.711 §2 (µ-law) and
// §3 (A-law): eight segments of sixteen quantisation steps each.

const (
	ulawBias = 0x84 >> 2 // µ-law bias, in the 14-bit domain
	ulawClip = 8159      // largest 14-bit magnitude before the bias
)

// encodeUlaw encodes a 14-bit linear value.
func encodeUlaw(x int16) byte {
	v := int32(x)
	mask := byte(0xFF)
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	v = min(v, ulawClip) + ulawBias
	seg := segment(v, 0x3F)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	return (byte(seg<<4) | byte(v>>(seg+1))&0x0F) ^ mask
}

// decodeUlaw decodes a µ-law code to 16-bit linear.
func decodeUlaw(u byte) int16 {
	u = ^u
	t := (int32(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// encodeAlaw encodes a 13-bit linear value.
func encodeAlaw(x int16) byte {
	v := int32(x)
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := segment(v, 0x1F)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(v>>1) & 0x0F
	} else {
		a |= byte(v>>seg) & 0x0F
	}
	return a ^ mask
}

// decodeAlaw decodes an A-law code to 16-bit linear.
func decodeAlaw(a byte) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// segment returns the index of the first of eight doubling segments, the
// first ending at end, that holds v (8 if none does).
func segment(v, end int32) int32 {
	for seg := int32(0); seg < 8; seg++ {
		if v <= end {
			return seg
		}
		end = end<<1 | 1
	}
	return 8
}
