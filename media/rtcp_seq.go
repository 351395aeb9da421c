package media

import "sync/atomic"

// HighestSeq keeps the extended highest sequence number of one received
// RTP stream (RFC 3550 §6.4.1: sequence-number cycles in the high 16 bits,
// the highest sequence number in the low 16), for the reception report
// block. ReceiveSnapshot does not carry it; the relay notes each accepted
// audio packet of a leg here, on the leg's reading goroutine.
//
// Note is the writer side (one goroutine, no lock, no allocation); Load is
// safe from any goroutine. The zero value is ready to use.
type HighestSeq struct {
	// pub is ssrc<<32 | extended highest sequence number, published
	// once valid is set.
	pub   atomic.Uint64
	valid atomic.Bool

	// Writer-only state.
	started bool
	ssrc    uint32
	ext     uint32
	// badSeq is the sequence number after a large jump: a packet
	// carrying it confirms that the sender restarted (§A.1).
	badSeq uint32
}

// Note records one packet of source ssrc with sequence number seq. A new
// SSRC starts over; a packet at most maxMisorder behind the highest or a
// duplicate leaves the highest alone, and so does a jump of maxDropout or
// more until the next packet in sequence confirms it (RFC 3550 §A.1).
func (h *HighestSeq) Note(ssrc uint32, seq uint16) {
	if !h.started || ssrc != h.ssrc {
		h.started, h.ssrc = true, ssrc
		h.set(uint32(seq))
		return
	}
	delta := seq - uint16(h.ext)
	switch {
	case delta == 0:
	case delta < maxDropout:
		ext := h.ext
		if seq < uint16(ext) {
			ext += seqMod // wrapped into a new cycle
		}
		h.set(ext&^0xFFFF | uint32(seq))
	case delta <= seqMod-maxMisorder:
		if uint32(seq) == h.badSeq {
			// Two packets in sequence after the jump: a restart, and a
			// new count of cycles.
			h.set(uint32(seq))
			return
		}
		h.badSeq = uint32(seq+1) & (seqMod - 1)
	}
}

func (h *HighestSeq) set(ext uint32) {
	h.ext = ext
	h.badSeq = seqMod + 1
	h.pub.Store(uint64(h.ssrc)<<32 | uint64(ext))
	if !h.valid.Load() {
		h.valid.Store(true)
	}
}

// Load returns the source and its extended highest sequence number; ok is
// false before the first Note.
func (h *HighestSeq) Load() (ssrc, ext uint32, ok bool) {
	if !h.valid.Load() {
		return 0, 0, false
	}
	v := h.pub.Load()
	return uint32(v >> 32), uint32(v), true
}
