package rtcp

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

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

// maxSentLoadRetries bounds SentCounter.Load's wait for a write in
// progress; it yields between tries, so a writer that was preempted
// mid-Note gets to finish.
const maxSentLoadRetries = 100

// SentCounter keeps what a leg has sent of one RTP stream, for the Sender
// Report (RFC 3550 §6.4.1): the relay (agent→caller, packets forwarded
// unchanged) or the masking pipeline (caller→agent, its own stream) notes
// each packet it writes; Config.Sent is its Load.
//
// Note must not be called concurrently with itself (the relay's reader and
// its ticks never overlap); it takes no lock and allocates nothing. Load is
// safe from any goroutine and returns the fields of one Note, not a mix.
type SentCounter struct {
	// gen is odd while Note writes (a sequence lock).
	gen       atomic.Uint64
	ssrc      atomic.Uint32
	packets   atomic.Uint64
	octets    atomic.Uint64
	lastTS    atomic.Uint32
	lastSent  atomic.Int64 // Unix nanoseconds; 0: never
	clockRate atomic.Uint32

	// readMu guards lastGood, the last consistent value Load read.
	readMu   sync.Mutex
	lastGood SentStream
}

// SetClockRate sets the stream's RTP clock rate (0: defaultClockRate).
func (c *SentCounter) SetClockRate(hz uint32) { c.clockRate.Store(hz) }

// Note records one RTP packet sent: its SSRC and timestamp, its payload
// length (without header and padding) and when it was sent.
func (c *SentCounter) Note(ssrc, timestamp uint32, payloadLen int, at time.Time) {
	c.gen.Add(1)
	c.ssrc.Store(ssrc)
	c.packets.Add(1)
	c.octets.Add(uint64(payloadLen))
	c.lastTS.Store(timestamp)
	c.lastSent.Store(at.UnixNano())
	c.gen.Add(1)
}

// Load returns the stream as sent so far. If Notes keep overlapping its
// reads (a writer in a tight loop on another core; a 20 ms stream never
// does that), it returns the last consistent value it read instead, which
// is older but never a mix of two packets.
func (c *SentCounter) Load() SentStream {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for range maxSentLoadRetries {
		g := c.gen.Load()
		if g%2 == 0 {
			s := c.load()
			if c.gen.Load() == g {
				c.lastGood = s
				return s
			}
		}
		runtime.Gosched()
	}
	return c.lastGood
}

func (c *SentCounter) load() SentStream {
	s := SentStream{
		SSRC:          c.ssrc.Load(),
		Packets:       c.packets.Load(),
		PayloadOctets: c.octets.Load(),
		LastTimestamp: c.lastTS.Load(),
		ClockRate:     c.clockRate.Load(),
	}
	if ns := c.lastSent.Load(); ns != 0 {
		s.LastSent = time.Unix(0, ns)
	}
	return s
}
