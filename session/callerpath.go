package session

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/media"
	"dtmfgw/media/mask"
)

// callerPath is the relay's caller→agent handler and ticker: the call's
// current masking pipeline, replaced at a packet boundary when a
// re-INVITE changes the caller's codec or telephone-event type (a
// pipeline's payload types are fixed when it is made). A new address or
// hold needs no new pipeline: the leg's remote changes under it.
//
// HandleRTP and Tick run on the relay's reading goroutine or its wheel,
// never concurrently (the relay serialises them), and own cur; the next
// pipeline is handed over through pending. Nothing here allocates per
// packet: one atomic load per packet decides that there is nothing to
// swap.
type callerPath struct {
	cur     *mask.Pipeline
	pending atomic.Pointer[mask.Pipeline]
	out     *agentStream
	swaps   atomic.Uint64
}

// String describes the path for logs.
func (p *callerPath) String() string { return "session caller path" }

// HandleRTP passes one caller packet to the current pipeline
// (media.PacketHandler).
func (p *callerPath) HandleRTP(pkt *media.Packet) {
	if p.pending.Load() != nil {
		p.swap(pkt.Arrival)
	}
	if p.cur != nil {
		p.cur.HandleRTP(pkt)
	}
}

// Tick lets the current pipeline act without a packet (media.TickHandler).
func (p *callerPath) Tick(now time.Time) {
	if p.pending.Load() != nil {
		p.swap(now)
	}
	if p.cur != nil {
		p.cur.Tick(now)
	}
}

// swap makes the pending pipeline current. The agent's stream goes on
// where the old pipeline left it: same SSRC (every pipeline of a call is
// made with the call's), the next sequence number, a timestamp advanced
// by the time that passed (RFC 3550 §5.1), marker set. What the old
// pipeline still held in its look-ahead is dropped, not sent unjudged.
func (p *callerPath) swap(now time.Time) {
	next := p.pending.Swap(nil)
	if next == nil {
		return
	}
	if p.cur != nil {
		p.out.rebase(p.cur.Sent(), now)
		p.swaps.Add(1)
	}
	p.cur = next
}

// agentStream is the Sender every pipeline of a call writes through: it
// keeps the agent's stream one stream across pipelines. The first
// pipeline's packets pass untouched; after a swap, the new pipeline's
// sequence numbers and timestamps are shifted so they continue the old
// ones. Only the pipeline's sends (under the relay's serialisation) and
// callerPath.swap touch it.
type agentStream struct {
	next media.Sender

	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time // when the last pipeline sent its last packet, as of the last swap
	sent    bool

	// rebasing: the next packet is the new pipeline's first; it gets
	// toSeq and toTS.
	rebasing bool
	toSeq    uint16
	toTS     uint32
}

// packetSamples is the timestamp step assumed for one packet when no time
// is known to have passed: 20 ms at 8 kHz (RFC 3551 §4.5).
const packetSamples = 160

// rebase prepares the shift for the next pipeline: last is what the old
// one sent, now the swap's time.
func (s *agentStream) rebase(last media.SentStream, now time.Time) {
	if !s.sent {
		return // nothing went out: the new pipeline's own start is fine
	}
	if last.Packets > 0 {
		// A pipeline that never sent has no time of its own; the one
		// before it does.
		s.lastAt = last.LastSent
	}
	step := uint32(packetSamples)
	if el := now.Sub(s.lastAt); !s.lastAt.IsZero() && el > 0 {
		step = max(step, uint32(min(el, time.Hour)/(time.Second/dtmf.SampleRate)))
	}
	s.rebasing = true
	s.toSeq = s.lastSeq + 1
	s.toTS = s.lastTS + step
}

// Target returns the leg the stream is written to, when its Sender names
// one (media.LegWriter): the pipeline then names that leg's send state
// among what its next packet uses.
func (s *agentStream) Target() *media.Leg {
	if t, ok := s.next.(media.LegWriter); ok {
		return t.Target()
	}
	return nil
}

// SendRTP shifts b's sequence number and timestamp in place (b is the
// pipeline's own buffer, whose header it rewrites for every packet) and
// sends it.
func (s *agentStream) SendRTP(b []byte) error {
	if len(b) >= 12 {
		seq := binary.BigEndian.Uint16(b[2:])
		ts := binary.BigEndian.Uint32(b[4:])
		if s.rebasing {
			s.rebasing = false
			s.seqOff, s.tsOff = s.toSeq-seq, s.toTS-ts
			b[1] |= 0x80 // a new talkspurt as far as the agent can tell
		}
		if s.seqOff != 0 || s.tsOff != 0 {
			seq += s.seqOff
			ts += s.tsOff
			binary.BigEndian.PutUint16(b[2:], seq)
			binary.BigEndian.PutUint32(b[4:], ts)
		}
		s.lastSeq, s.lastTS, s.sent = seq, ts, true
	}
	return s.next.SendRTP(b)
}
