package media

// The receive path every datagram of a leg takes, on the leg's own
// goroutine or a Reactor's: source check (and NAT latch), RTP parse,
// statistics, media timeout.

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// verdict is what receive did with one datagram.
type verdict uint8

const (
	accepted verdict = iota
	droppedWrongSource
	droppedOversize
	droppedMalformed
	// droppedUnproven: a valid packet from a NAT latch candidate that has
	// not proven itself yet; counted as a wrong source.
	droppedUnproven
)

// NAT latching (see Leg).
const (
	// LatchPackets is how many valid RTP packets in a row a source on the
	// signalled IP, other than the signalled address, must send before
	// the leg latches to it. Four is 60 ms of a 20 ms stream.
	LatchPackets = 4
	// LatchMinSpan is the least arrival time the LatchPackets packets
	// must span: longer than a real stream's packet interval, so that a
	// burst sent between two of its packets cannot prove itself.
	LatchMinSpan = 60 * time.Millisecond
	// latchMaxSeqStep is the largest step between two of a candidate's
	// sequence numbers that still counts as "in a row": a few packets
	// lost on the way are forgiven, a jump or a step back is not.
	latchMaxSeqStep = 4
)

// remoteState is the address a leg accepts from. It is replaced as a whole
// (SetRemote, latching), so the reader needs one atomic load per datagram.
type remoteState struct {
	// addr is where datagrams are accepted from and written to: the
	// signalled address, or in NAT mode the source latched to.
	addr netip.AddrPort
	// signalled is the address SDP gave (SetRemote).
	signalled netip.AddrPort
	// latchable: NAT mode, and the latch is open: neither the signalled
	// address nor a candidate has been accepted since SetRemote.
	latchable bool
}

// latchCandidate is the proof so far of a source on the signalled IP
// that is not the signalled address: the reader goroutine's own.
type latchCandidate struct {
	// rs is the remote the proof was made under: a SetRemote starts it
	// over.
	rs    *remoteState
	from  netip.AddrPort
	ssrc  uint32
	seq   uint16
	n     int       // packets in a row
	first time.Time // the first one's arrival
}

// receiver is the per-datagram part of a leg, without sockets, so that it
// can be driven directly by tests, the fuzz target and a batched reader.
// Everything but remote, timeout, resetTimeout and stats' published
// counters belongs to the reading goroutine.
type receiver struct {
	remote       atomic.Pointer[remoteState]
	natLatch     bool
	stats        ReceiveStats
	pkt          Packet
	handler      PacketHandler
	lastAccepted time.Time
	timeout      atomic.Int64 // time.Duration
	resetTimeout atomic.Bool
	timedOut     bool
	timeoutCh    chan struct{}
	// onDrop, if set (by tests, before Start), sees every dropped datagram's verdict.
	onDrop func(verdict)
	// warm is pkt.Warm's list when a Reactor reads the leg.
	warm WarmList
	// cand is the NAT latch candidate being proven, if any.
	cand latchCandidate
}

// init prepares r; the header's CSRC and extension slices get room for
// the common case so parsing does not allocate.
func (r *receiver) init(natLatch bool, clockRate uint32, timeout time.Duration) {
	r.natLatch = natLatch
	r.stats.SetClockRate(clockRate)
	r.timeout.Store(int64(timeout))
	r.timeoutCh = make(chan struct{})
	r.pkt.Header.CSRC = make([]uint32, 0, 15)
	r.pkt.Header.Extensions = make([]rtp.Extension, 0, 16)
}

func (r *receiver) setRemote(remote netip.AddrPort) {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	if remote.Addr().IsUnspecified() || remote.Port() == 0 {
		remote = netip.AddrPort{}
	}
	r.remote.Store(&remoteState{addr: remote, signalled: remote, latchable: r.natLatch})
}

// drop counts a dropped datagram.
func (r *receiver) drop(v verdict) verdict {
	switch v {
	case droppedWrongSource, droppedUnproven:
		r.stats.CountWrongSource()
	case droppedOversize:
		r.stats.CountOversize()
	case droppedMalformed:
		r.stats.CountMalformed()
	}
	if r.onDrop != nil {
		r.onDrop(v)
	}
	return v
}

// receive judges one datagram b from from, read at now: source, size,
// RTP validity; it hands an accepted packet to the handler.
func (r *receiver) receive(b []byte, from netip.AddrPort, now time.Time) verdict {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	rs := r.remote.Load()
	if rs == nil || !rs.addr.IsValid() {
		return r.drop(droppedWrongSource)
	}
	// The current source, the signalled address (which may take the
	// stream back from a latched one), or, while the latch is open, a
	// candidate on the signalled IP; nothing else.
	if from != rs.addr && from != rs.signalled && !(rs.latchable && from.Addr() == rs.signalled.Addr()) {
		return r.drop(droppedWrongSource)
	}
	if len(b) > MaxDatagram {
		return r.drop(droppedOversize)
	}
	payload, ok := r.parse(b)
	if !ok {
		return r.drop(droppedMalformed)
	}
	if rs.latchable || from != rs.addr {
		// NAT mode, and this packet may move the stream: only a valid
		// packet does, so that a stray datagram cannot steer it. A failed
		// swap means SetRemote changed the remote meanwhile: this packet
		// was judged against the old one.
		if from != rs.signalled && !r.proven(rs, from, now) {
			return r.drop(droppedUnproven)
		}
		if !r.remote.CompareAndSwap(rs, &remoteState{addr: from, signalled: rs.signalled}) {
			return r.drop(droppedWrongSource)
		}
		r.cand = latchCandidate{}
	}
	r.lastAccepted = now
	p := &r.pkt
	p.Payload = payload
	p.Raw = b
	p.From = from
	p.Arrival = now
	r.stats.Update(&p.Header, len(b), len(payload), now)
	if p.Warm != nil {
		r.noteWarm()
	}
	if r.handler != nil {
		r.handler.HandleRTP(p)
	}
	return accepted
}

// proven adds the valid packet just parsed (r.pkt.Header) from candidate
// from, arrived at now, to its proof under rs, and reports whether the
// candidate has now proven itself (see Leg): LatchPackets in a row of one
// SSRC with advancing sequence numbers, spanning LatchMinSpan. A packet
// that does not continue the proof (another source, another SSRC, a
// sequence number that does not advance) starts a new one of its own.
func (r *receiver) proven(rs *remoteState, from netip.AddrPort, now time.Time) bool {
	h := &r.pkt.Header
	c := &r.cand
	// uint16 arithmetic: the step across a wrap of the sequence number
	// (RFC 3550 §5.1) is still small.
	if step := h.SequenceNumber - c.seq; c.rs != rs || c.from != from || c.ssrc != h.SSRC || step == 0 || step > latchMaxSeqStep {
		*c = latchCandidate{rs: rs, from: from, ssrc: h.SSRC, seq: h.SequenceNumber, n: 1, first: now}
	} else {
		c.seq = h.SequenceNumber
		c.n++
	}
	return c.n >= LatchPackets && now.Sub(c.first) >= LatchMinSpan
}

// parse parses b's RTP header into r.pkt.Header and returns the payload
// without padding. The fixed header, CSRC list and extension header are
// checked here before pion parses them, so that common garbage is turned
// away without pion building an error value.
func (r *receiver) parse(b []byte) (payload []byte, ok bool) {
	// RFC 3550 §5.1: 12-byte fixed header, version 2 (pion does not check
	// the version).
	if len(b) < 12 || b[0]>>6 != 2 {
		return nil, false
	}
	need := 12 + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 {
		// RFC 3550 §5.3.1: a 4-byte extension header, then its length in
		// 32-bit words.
		if len(b) < need+4 {
			return nil, false
		}
		profile := uint16(b[need])<<8 | uint16(b[need+1])
		start := need + 4
		need = start + 4*(int(b[need+2])<<8|int(b[need+3]))
		if len(b) < need || !extensionElementsFit(b[start:need], profile) {
			return nil, false
		}
	}
	if len(b) < need {
		return nil, false
	}
	n, err := r.pkt.Header.Unmarshal(b)
	if err != nil || n > len(b) {
		return nil, false
	}
	end := len(b)
	if r.pkt.Header.Padding {
		// RFC 3550 §5.1: the last octet counts the padding, itself included.
		pad := int(b[end-1])
		if pad == 0 || n+pad > end {
			return nil, false
		}
		end -= pad
		r.pkt.Header.PaddingSize = b[len(b)-1]
	} else {
		r.pkt.Header.PaddingSize = 0
	}
	return b[n:end], true
}

// extensionElementsFit reports whether every element of an RFC 8285
// header extension block ext lies within it: one-byte elements (profile
// 0xBEDE, §4.2) or two-byte elements (profile 0x1000, §4.3; the low four
// "appbits" are not accepted, as pion parses only 0x1000). Other profiles
// are one opaque block (RFC 3550 §5.3.1). Checking here keeps pion from
// building an error value, so a malformed packet costs no allocation.
func extensionElementsFit(ext []byte, profile uint16) bool {
	switch profile {
	case rtp.ExtensionProfileOneByte:
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding
				i++
				continue
			}
			id, size := ext[i]>>4, int(ext[i]&0x0F)+1
			i++
			if id == 15 || id == 0 {
				// 15 is reserved: parsing stops (§4.2). 0 is padding only
				// when the whole byte is 0; pion stops on any other ID 0
				// byte too, and so do we, to agree with it.
				return true
			}
			if i+size > len(ext) {
				return false
			}
			i += size
		}
	case rtp.ExtensionProfileTwoByte:
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding
				i++
				continue
			}
			if i+1 >= len(ext) {
				return false
			}
			size := int(ext[i+1])
			i += 2
			if i+size > len(ext) {
				return false
			}
			i += size
		}
	}
	return true
}

// checkTimeout judges the media timeout at now; it reports whether this
// call fired it.
func (r *receiver) checkTimeout(now time.Time) bool {
	if r.timedOut {
		return false
	}
	if r.resetTimeout.Swap(false) {
		r.lastAccepted = now
	}
	d := time.Duration(r.timeout.Load())
	if d <= 0 || now.Sub(r.lastAccepted) < d {
		return false
	}
	r.timedOut = true
	close(r.timeoutCh)
	return true
}
