package rtcp

import (
	"encoding/binary"
	"time"
)

// RTCP packet types (RFC 3550 §12.1).
const (
	rtcpTypeSR   = 200
	rtcpTypeRR   = 201
	rtcpTypeSDES = 202
	rtcpTypeBYE  = 203
)

// Sizes of the RTCP pieces this gateway writes (RFC 3550 §6.4.1, §6.4.2,
// §6.5, §6.6), in octets.
const (
	rtcpHeaderLen    = 4
	rtcpSRInfoLen    = 20 // NTP (8), RTP timestamp, packet count, octet count
	rtcpBlockLen     = 24
	sdesCNAME        = 1
	maxCNAMELen      = 255 // the SDES item length is one octet (§6.5)
	ntpUnixOffsetSec = 2208988800
)

// maxCompoundLen bounds what writeCompound produces: SR with one block,
// SDES with a maximal CNAME, BYE with two sources.
const maxCompoundLen = rtcpHeaderLen + 4 + rtcpSRInfoLen + rtcpBlockLen +
	rtcpHeaderLen + 4 + 2 + maxCNAMELen + 4 +
	rtcpHeaderLen + 2*4

// ntpTime is the 64-bit NTP timestamp of t (RFC 3550 §4): seconds since
// 1 January 1900 in the high 32 bits, the binary fraction of a second in
// the low 32. The seconds wrap in 2036, as the format does.
func ntpTime(t time.Time) uint64 {
	sec := uint64(t.Unix() + ntpUnixOffsetSec)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

// ntpMiddle is the middle 32 bits of an NTP timestamp: the compact form
// RFC 3550 §6.4.1 uses for LSR and round-trip arithmetic, in 1/65536 s.
func ntpMiddle(ntp uint64) uint32 { return uint32(ntp >> 16) }

// compactDuration expresses d in the units of DLSR (1/65536 s, RFC 3550
// §6.4.1), clamped to the 32-bit field (about 18 hours) and to zero.
func compactDuration(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	// Split to keep d·65536 from overflowing int64 for long delays.
	sec := uint64(d / time.Second)
	rem := uint64(d % time.Second)
	v := sec<<16 + rem<<16/uint64(time.Second)
	if v > 0xFFFFFFFF {
		return 0xFFFFFFFF
	}
	return uint32(v)
}

// compactToDuration is the inverse of compactDuration.
func compactToDuration(v uint32) time.Duration {
	return time.Duration(uint64(v) * uint64(time.Second) >> 16)
}

// reportBlock is one reception report block (RFC 3550 §6.4.1).
type reportBlock struct {
	ssrc         uint32
	fractionLost uint8
	cumLost      int32 // signed 24-bit on the wire; clamped by the builder
	extHighest   uint32
	jitter       uint32
	lsr, dlsr    uint32
}

// compound describes one compound packet to write: an SR (with the
// sender information of RFC 3550 §6.4.1) or an RR, at most one reception
// report block, the SDES CNAME, and optionally a BYE.
type compound struct {
	sender          bool // SR with the fields below; false: RR
	ntp             uint64
	rtpTS           uint32
	packets, octets uint32
	reporterSSRC    uint32
	block           reportBlock
	haveBlock       bool
	cname           string
	bye             bool
	byeSSRCs        [2]uint32
	byeCount        int
}

// putHeader writes an RTCP common header (RFC 3550 §6.4.1): version 2, no
// padding, count, packet type and the length in 32-bit words minus one.
func putHeader(b []byte, count int, pt uint8, length int) {
	b[0] = 2<<6 | uint8(count&0x1F)
	b[1] = pt
	binary.BigEndian.PutUint16(b[2:], uint16(length/4-1))
}

// clampCumLost fits the cumulative number of packets lost into the signed
// 24-bit field (RFC 3550 §6.4.1: saturate rather than wrap).
func clampCumLost(v int64) int32 {
	const maxPos, minNeg = 0x7FFFFF, -0x800000
	switch {
	case v > maxPos:
		return maxPos
	case v < minNeg:
		return minNeg
	}
	return int32(v)
}

// writeCompound writes the compound packet r describes into b (at least
// maxCompoundLen long) and returns its length: SR or RR first, then SDES
// with the CNAME, then BYE if asked (RFC 3550 §6.1: every compound packet
// starts with a report and carries a CNAME; BYE comes last, §6.6). It does
// not allocate.
func writeCompound(b []byte, r *compound) int {
	n := 0
	// Report.
	blocks := 0
	if r.haveBlock {
		blocks = 1
	}
	start := n
	n += rtcpHeaderLen
	binary.BigEndian.PutUint32(b[n:], r.reporterSSRC)
	n += 4
	pt := uint8(rtcpTypeRR)
	if r.sender {
		pt = rtcpTypeSR
		binary.BigEndian.PutUint64(b[n:], r.ntp)
		binary.BigEndian.PutUint32(b[n+8:], r.rtpTS)
		binary.BigEndian.PutUint32(b[n+12:], r.packets)
		binary.BigEndian.PutUint32(b[n+16:], r.octets)
		n += rtcpSRInfoLen
	}
	if r.haveBlock {
		blk := &r.block
		binary.BigEndian.PutUint32(b[n:], blk.ssrc)
		binary.BigEndian.PutUint32(b[n+4:], uint32(blk.fractionLost)<<24|uint32(blk.cumLost)&0xFFFFFF)
		binary.BigEndian.PutUint32(b[n+8:], blk.extHighest)
		binary.BigEndian.PutUint32(b[n+12:], blk.jitter)
		binary.BigEndian.PutUint32(b[n+16:], blk.lsr)
		binary.BigEndian.PutUint32(b[n+20:], blk.dlsr)
		n += rtcpBlockLen
	}
	putHeader(b[start:], blocks, pt, n-start)

	// SDES with one chunk holding the CNAME item, ended by a null octet
	// and padded with nulls to a 32-bit boundary (§6.5).
	start = n
	n += rtcpHeaderLen
	binary.BigEndian.PutUint32(b[n:], r.reporterSSRC)
	n += 4
	b[n] = sdesCNAME
	b[n+1] = uint8(len(r.cname))
	n += 2
	n += copy(b[n:], r.cname)
	b[n] = 0
	n++
	for n%4 != 0 {
		b[n] = 0
		n++
	}
	putHeader(b[start:], 1, rtcpTypeSDES, n-start)

	if r.bye {
		start = n
		n += rtcpHeaderLen
		for i := range r.byeCount {
			binary.BigEndian.PutUint32(b[n:], r.byeSSRCs[i])
			n += 4
		}
		putHeader(b[start:], r.byeCount, rtcpTypeBYE, n-start)
	}
	return n
}
