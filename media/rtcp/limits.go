package rtcp

import (
	"errors"
	"time"
)

// ErrNoRemote is returned by a send when the session has no remote
// address to write to yet.
var ErrNoRemote = errors.New("rtcp: session has no remote address")

const (
	// maxDatagram is the largest datagram read or written: an Ethernet
	// MTU, as for RTP (media.MaxDatagram).
	maxDatagram = 1500
	// defaultClockRate is the RTP clock assumed when the stream names
	// none: 8 kHz, G.711's (RFC 3551 §4.5.14).
	defaultClockRate = 8000
	// maxConsecutiveReadErrors bounds Serve's retries of a failing socket.
	maxConsecutiveReadErrors = 1000
	// maxDropout and seqMod are RFC 3550 §A.1's sequence number
	// arithmetic.
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

// units converts a duration to RTP clock units at rate Hz, wrapping modulo
// 2^32 as RTP timestamps do; only differences are meaningful.
func units(d time.Duration, rate uint32) uint32 {
	ns := int64(d)
	return uint32(ns/int64(time.Second)*int64(rate) + ns%int64(time.Second)*int64(rate)/int64(time.Second))
}
