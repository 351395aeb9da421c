package media

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Sequence-number tracking constants of RFC 3550 §A.1.
const (
	// maxDropout is the largest forward jump still taken as loss rather
	// than as a restarted sender.
	maxDropout = 3000
	// maxMisorder is how far behind the highest sequence number a packet
	// may be and still count as late rather than as a jump.
	maxMisorder = 100
	// minSequential is how many packets in sequence a new source must send
	// before it is counted (the probation of RFC 3550 §A.1).
	minSequential = 2
	// seqMod is the sequence-number space (16 bits).
	seqMod = 1 << 16
)

// seqWindowBits is how many of the most recent sequence numbers are
// remembered to tell a duplicate from a late packet. It covers maxMisorder,
// so every packet the §A.1 algorithm accepts as late is checked.
const seqWindowBits = 128

// DefaultClockRate is the RTP clock rate of the G.711 audio this gateway
// carries (RFC 3551 §4.5.14), used for jitter when none is configured.
const DefaultClockRate = 8000

// maxSources bounds how many SSRCs a ReceiveStats tracks at once. RFC 3550
// keeps a table entry per source; a leg carries one audio source, perhaps
// telephone-events on a second SSRC, and a new one after a transfer. The
// least recently heard source is dropped (its counts kept in the totals)
// when a new one arrives and the table is full.
const maxSources = 4

// source is the RFC 3550 §A.1 per-source state, plus §A.8 jitter.
type source struct {
	used        bool
	ssrc        uint32
	counting    bool // an epoch has begun (probation passed): base and received are live
	probation   int
	maxSeq      uint16
	cycles      uint32 // shifted count of sequence-number wraps
	baseSeq     uint32
	badSeq      uint32
	received    uint64                     // counted packets of the current epoch
	window      [seqWindowBits / 64]uint64 // bit per recent extended sequence number
	haveTransit bool
	transit     uint32
	lastTS      uint32
	jitter      float64 // RFC 3550 §A.8 J, in timestamp units
	lastUse     uint64  // ReceiveStats.tick of its last packet
}

// ReceiveStats holds the statistics of one received RTP stream (one leg,
// one direction): packet and byte counts, loss and interarrival jitter per
// RFC 3550 §A.1 and §A.8, duplicates, reordering, and the datagrams the leg
// dropped before they reached the stream. Loss is summed over every SSRC
// seen; jitter and SSRC are those of the current source, the one that sent
// the latest packet of a payload type other than the event types.
//
// Update and the Count* methods are the writer side and must be called
// from one goroutine only (the leg's reading goroutine); they take no lock
// and allocate nothing. Snapshot may be called from any goroutine at any
// time. The zero value is ready to use with DefaultClockRate.
type ReceiveStats struct {
	// Writer-only state.
	clockRate     uint32
	srcs          [maxSources]source
	tick          uint64
	priorExpected uint64 // folded from dropped sources and restarts
	priorReceived uint64
	epoch         time.Time // arrival time origin for jitter
	cur           *source   // the current source (see ReceiveStats), or nil

	// Published counters, readable from any goroutine.
	packets            atomic.Uint64
	bytes              atomic.Uint64
	payloadBytes       atomic.Uint64
	expected           atomic.Uint64
	receivedPub        atomic.Uint64
	lost               atomic.Int64
	duplicates         atomic.Uint64
	reordered          atomic.Uint64
	jitterBits         atomic.Uint64
	ssrcPub            atomic.Uint32
	sources            atomic.Uint64
	droppedWrongSource atomic.Uint64
	droppedMalformed   atomic.Uint64
	droppedOversize    atomic.Uint64
	events             atomic.Uint64

	// jitterSkip is a bitmap of the payload types (0–127) whose packets
	// do not update jitter; set from any goroutine.
	jitterSkip [2]atomic.Uint64
}

// ReceiveSnapshot is a plain copy of ReceiveStats. Each field is exact at
// the moment it was read; fields may come from consecutive packets.
type ReceiveSnapshot struct {
	// Packets and Bytes count every accepted datagram (RTP header and
	// payload); PayloadBytes counts the payload octets only (padding
	// excluded), as RTCP's sender octet count does (RFC 3550 §6.4.1).
	Packets, Bytes, PayloadBytes uint64
	// EventPackets counts those of Packets whose payload type is one of
	// the telephone-event types (SetEventPayloadTypes).
	EventPackets uint64
	// Expected is the number of packets the sequence numbers say were
	// sent, Received the number counted towards it (duplicates and
	// packets on probation are not counted), Lost their difference
	// (RFC 3550 §6.4.1 cumulative number of packets lost; negative when
	// more arrived than were expected).
	Expected, Received uint64
	Lost               int64
	// Duplicates are packets whose sequence number was already received;
	// Reordered are packets that arrived after a higher sequence number.
	Duplicates, Reordered uint64
	// JitterTS is the RFC 3550 §A.8 interarrival jitter of the current
	// source in timestamp units; JitterMs is the same in milliseconds at
	// the configured clock rate.
	JitterTS, JitterMs float64
	// SSRC is the current source: the sender of the latest packet of a
	// payload type other than the event types. Sources counts the sources
	// started: each new SSRC, and one heard again after it was dropped
	// from the table (of 4 sources).
	SSRC    uint32
	Sources uint64
	// Datagrams dropped by the leg before parsing or after: from an
	// address other than the signalled one, not valid RTP version 2, or
	// larger than MaxDatagram.
	DroppedWrongSource, DroppedMalformed, DroppedOversize uint64
}

// LossFraction returns Lost/Expected clamped to [0, 1], or 0 when nothing
// was expected.
func (s ReceiveSnapshot) LossFraction() float64 {
	if s.Expected == 0 || s.Lost <= 0 {
		return 0
	}
	return math.Min(1, float64(s.Lost)/float64(s.Expected))
}

// SetClockRate sets the RTP clock rate (Hz) used to express arrival times
// in timestamp units for jitter. Call it before the first Update; 0 means
// DefaultClockRate.
func (s *ReceiveStats) SetClockRate(hz uint32) { s.clockRate = hz }

// SetEventPayloadTypes names the payload types whose packets must not
// update jitter nor make their SSRC the current source, replacing the
// previous set: RFC 4733 telephone-event,
// whose packets all carry their event's start timestamp (§2.5.1.1) while
// audio packets of the same SSRC carry advancing ones, so mixing the two
// would read as delay. Safe from any goroutine (re-INVITE may change the
// payload type).
func (s *ReceiveStats) SetEventPayloadTypes(pts ...uint8) {
	var mask [2]uint64
	for _, pt := range pts {
		pt &= 0x7F
		mask[pt/64] |= 1 << (pt % 64)
	}
	s.jitterSkip[0].Store(mask[0])
	s.jitterSkip[1].Store(mask[1])
}

// skipsJitter reports whether packets of payload type pt leave jitter alone.
func (s *ReceiveStats) skipsJitter(pt uint8) bool {
	pt &= 0x7F
	return s.jitterSkip[pt/64].Load()&(1<<(pt%64)) != 0
}

// PacketClass is how Update classified a packet's sequence number.
type PacketClass uint8

const (
	// InSequence is a packet at or beyond the highest sequence number.
	InSequence PacketClass = iota
	// Late is a packet that arrived after a higher sequence number.
	Late
	// Duplicate is a packet whose sequence number was already received.
	Duplicate
	// Probation is a packet of a new source that is not yet counted, or a
	// large jump in sequence numbers awaiting confirmation (RFC 3550 §A.1).
	Probation
)

// Update records one accepted RTP packet: h is its parsed header,
// datagramLen the size of the whole datagram, payloadLen the payload size
// without padding, arrival its arrival time. It returns how the packet's
// sequence number was classified.
func (s *ReceiveStats) Update(h *rtp.Header, datagramLen, payloadLen int, arrival time.Time) PacketClass {
	s.packets.Add(1)
	s.bytes.Add(uint64(datagramLen))
	s.payloadBytes.Add(uint64(payloadLen))

	s.tick++
	src := s.source(h.SSRC, h.SequenceNumber)
	src.lastUse = s.tick
	class := s.updateSeq(src, h.SequenceNumber)
	switch class {
	case Duplicate:
		s.duplicates.Add(1)
	case Late:
		s.reordered.Add(1)
	}
	if !s.skipsJitter(h.PayloadType) {
		changed := false
		if class == InSequence || class == Late {
			changed = s.updateJitter(src, h.Timestamp, arrival)
		}
		// This source is now the current one; publish only what changed
		// (a locked store per packet is most of this function's cost).
		if src != s.cur {
			s.cur = src
			s.ssrcPub.Store(src.ssrc)
			changed = true
		}
		if changed {
			s.jitterBits.Store(math.Float64bits(src.jitter))
		}
	} else {
		// A telephone event: rare (a key press), so its count costs the
		// audio packets nothing.
		s.events.Add(1)
	}
	s.publishLoss()
	return class
}

// source returns the table entry for ssrc, starting a new one on probation
// (RFC 3550 §A.1) in a free or the least recently heard slot, whose counts
// are folded into the totals first.
func (s *ReceiveStats) source(ssrc uint32, seq uint16) *source {
	victim := &s.srcs[0]
	for i := range s.srcs {
		src := &s.srcs[i]
		if src.used && src.ssrc == ssrc {
			return src
		}
		if !src.used {
			if victim.used {
				victim = src
			}
			continue
		}
		if victim.used && src.lastUse < victim.lastUse {
			victim = src
		}
	}
	s.foldEpoch(victim)
	*victim = source{used: true, ssrc: ssrc, probation: minSequential, maxSeq: seq - 1}
	if victim == s.cur {
		s.cur = nil // the slot now holds another source: publish it anew
	}
	s.sources.Add(1)
	return victim
}

// foldEpoch adds src's current epoch to the prior totals, so a dropped
// source or a restart keeps loss cumulative.
func (s *ReceiveStats) foldEpoch(src *source) {
	if src.counting {
		s.priorExpected += src.epochExpected()
		s.priorReceived += src.received
	}
	src.counting = false
	src.received = 0
	src.cycles = 0
	src.baseSeq = 0
	src.window = [seqWindowBits / 64]uint64{}
}

// initSeq is RFC 3550 §A.1 init_seq: seq becomes the base of a new epoch.
func (s *ReceiveStats) initSeq(src *source, seq uint16) {
	s.foldEpoch(src)
	src.counting = true
	src.baseSeq = uint32(seq)
	src.maxSeq = seq
	src.badSeq = seqMod + 1 // an impossible sequence number: no jump pending
	src.markSeen(0)
}

// epochExpected is extended highest sequence number − base + 1 (RFC 3550
// §A.3), for the current epoch.
func (src *source) epochExpected() uint64 {
	return uint64(src.cycles) + uint64(src.maxSeq) - uint64(src.baseSeq) + 1
}

// updateSeq is RFC 3550 §A.1 update_seq, extended to tell duplicates from
// late packets with a bitmap of the last seqWindowBits sequence numbers.
func (s *ReceiveStats) updateSeq(src *source, seq uint16) PacketClass {
	if src.probation > 0 {
		// Packets must arrive in sequence for the source to be valid.
		if seq == src.maxSeq+1 {
			src.probation--
			src.maxSeq = seq
			if src.probation == 0 {
				s.initSeq(src, seq)
				src.received++
				return InSequence
			}
		} else {
			src.probation = minSequential - 1
			src.maxSeq = seq
		}
		return Probation
	}
	udelta := seq - src.maxSeq
	switch {
	case udelta == 0:
		return Duplicate
	case udelta < maxDropout:
		// In order, with a permissible gap.
		if seq < src.maxSeq {
			src.cycles += seqMod
		}
		src.advanceWindow(uint32(udelta))
		src.maxSeq = seq
		src.markSeen(0)
	case udelta <= seqMod-maxMisorder:
		// A very large jump. Two sequential packets after it mean the
		// sender restarted without telling us: start a new epoch.
		if uint32(seq) != src.badSeq {
			src.badSeq = uint32(seq+1) & (seqMod - 1)
			return Probation
		}
		s.initSeq(src, seq)
	default:
		// Behind the highest sequence number by at most maxMisorder.
		back := uint32(src.maxSeq - seq)
		if src.seen(back) {
			return Duplicate
		}
		src.markSeen(back)
		src.received++
		return Late
	}
	src.received++
	return InSequence
}

// advanceWindow shifts the seen-bitmap forward by n sequence numbers.
func (src *source) advanceWindow(n uint32) {
	if n >= seqWindowBits {
		src.window = [seqWindowBits / 64]uint64{}
		return
	}
	// Bit i of the window is the sequence number i behind maxSeq; shifting
	// the 128-bit word left by n ages every entry by n.
	if n >= 64 {
		src.window[1] = src.window[0] << (n - 64)
		src.window[0] = 0
		return
	}
	src.window[1] = src.window[1]<<n | src.window[0]>>(64-n)
	src.window[0] <<= n
}

// seen reports whether the sequence number back behind maxSeq was received.
func (src *source) seen(back uint32) bool {
	if back >= seqWindowBits {
		return false
	}
	return src.window[back/64]&(1<<(back%64)) != 0
}

// markSeen records the sequence number back behind maxSeq as received.
func (src *source) markSeen(back uint32) {
	if back < seqWindowBits {
		src.window[back/64] |= 1 << (back % 64)
	}
}

// updateJitter is RFC 3550 §A.8: J += (|D(i−1,i)| − J)/16, with the arrival
// time expressed in timestamp units. A packet with the same timestamp as
// the previous one (RFC 4733 §2.5.1.1: every packet of one telephone event
// carries the event's start) is not a new sampling instant and is skipped,
// or each repeat would read as delay.
func (s *ReceiveStats) updateJitter(src *source, ts uint32, arrival time.Time) (changed bool) {
	if s.epoch.IsZero() {
		s.epoch = arrival
	}
	rate := s.clockRate
	if rate == 0 {
		rate = DefaultClockRate
	}
	transit := units(arrival.Sub(s.epoch), rate) - ts
	if !src.haveTransit {
		src.haveTransit = true
		src.transit = transit
		src.lastTS = ts
		return false
	}
	if ts == src.lastTS {
		return false
	}
	src.lastTS = ts
	d := int64(int32(transit - src.transit))
	src.transit = transit
	if d < 0 {
		d = -d
	}
	src.jitter += (float64(d) - src.jitter) / 16
	return true
}

// units converts a duration to RTP clock units at rate Hz, wrapping modulo
// 2^32 as RTP timestamps do; only differences are meaningful.
func units(d time.Duration, rate uint32) uint32 {
	ns := int64(d)
	sec := ns / int64(time.Second)
	rem := ns % int64(time.Second)
	return uint32(sec*int64(rate) + rem*int64(rate)/int64(time.Second))
}

// publishLoss stores the cumulative expected, received and lost counts
// over every source.
func (s *ReceiveStats) publishLoss() {
	expected, received := s.priorExpected, s.priorReceived
	for i := range s.srcs {
		if src := &s.srcs[i]; src.counting {
			expected += src.epochExpected()
			received += src.received
		}
	}
	s.expected.Store(expected)
	s.receivedPub.Store(received)
	s.lost.Store(int64(expected) - int64(received))
}

// CountWrongSource records a datagram dropped because it came from an
// address other than the leg's remote.
func (s *ReceiveStats) CountWrongSource() { s.droppedWrongSource.Add(1) }

// CountMalformed records a datagram dropped because it is not a valid RTP
// version 2 packet.
func (s *ReceiveStats) CountMalformed() { s.droppedMalformed.Add(1) }

// CountOversize records a datagram dropped because it did not fit the
// leg's read buffer.
func (s *ReceiveStats) CountOversize() { s.droppedOversize.Add(1) }

// Snapshot returns the current counters. Safe from any goroutine.
func (s *ReceiveStats) Snapshot() ReceiveSnapshot {
	rate := s.clockRate
	if rate == 0 {
		rate = DefaultClockRate
	}
	j := math.Float64frombits(s.jitterBits.Load())
	return ReceiveSnapshot{
		Packets:            s.packets.Load(),
		Bytes:              s.bytes.Load(),
		PayloadBytes:       s.payloadBytes.Load(),
		Expected:           s.expected.Load(),
		Received:           s.receivedPub.Load(),
		Lost:               s.lost.Load(),
		Duplicates:         s.duplicates.Load(),
		Reordered:          s.reordered.Load(),
		JitterTS:           j,
		JitterMs:           j * 1000 / float64(rate),
		SSRC:               s.ssrcPub.Load(),
		Sources:            s.sources.Load(),
		DroppedWrongSource: s.droppedWrongSource.Load(),
		DroppedMalformed:   s.droppedMalformed.Load(),
		DroppedOversize:    s.droppedOversize.Load(),
		EventPackets:       s.events.Load(),
	}
}

// SendStats counts the packets a leg wrote. Safe for concurrent use.
type SendStats struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	errors  atomic.Uint64
}

// SendSnapshot is a plain copy of SendStats.
type SendSnapshot struct {
	// Packets and Bytes count datagrams written; Errors counts writes
	// that failed.
	Packets, Bytes, Errors uint64
}

// Count records one write of n bytes; err is its outcome.
func (s *SendStats) Count(n int, err error) {
	if err != nil {
		s.errors.Add(1)
		return
	}
	s.packets.Add(1)
	s.bytes.Add(uint64(n))
}

// Snapshot returns the current counters.
func (s *SendStats) Snapshot() SendSnapshot {
	return SendSnapshot{Packets: s.packets.Load(), Bytes: s.bytes.Load(), Errors: s.errors.Load()}
}
