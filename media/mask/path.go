package mask

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/media"
)

// Path is one call's caller→agent way through masking, the handler a
// media.Relay hands the caller's packets to (and ticks): the call's
// current Pipeline, replaced at a packet boundary when a re-INVITE changes
// the caller's codec or telephone-event type (a pipeline's payload types
// are fixed when it is made). A new address or hold needs no new pipeline:
// the leg's remote changes under it.
//
// Every pipeline of a path writes one RTP stream toward the agent — one
// SSRC, sequence numbers and timestamps carried on across pipelines
// (rewriter.continueFrom) — and reports its presses to the path's one
// Joiner.
//
// HandleRTP and Tick run on the relay's reading goroutine or its wheel,
// never concurrently (the relay serialises them), and own cur; the next
// pipeline is handed over through pending. Nothing here allocates per
// packet: one atomic load per packet decides that there is nothing to
// swap. Configure, SetSecure, Stats and Sent are safe from any goroutine.
type Path struct {
	cur     *Pipeline
	pending atomic.Pointer[Pipeline]
	swaps   atomic.Uint64

	out     media.Sender
	presses *Joiner
	ssrc    uint32
	seq     uint16
	ts      uint32

	// mu guards what Configure, SetSecure and Stats share.
	mu     sync.Mutex
	secure bool
	// live are the pipelines that may still count: the current one and a
	// pending one; retired sums those swapped out.
	live    []*Pipeline
	retired Stats
}

// NewPath returns a path that writes to out and reports presses to
// presses, with no pipeline yet: until Configure's first pipeline is taken
// in, caller packets are dropped. The agent's stream gets a random SSRC,
// first sequence number and first timestamp (RFC 3550 §5.1).
func NewPath(out media.Sender, presses *Joiner) *Path {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return &Path{
		out:     out,
		presses: presses,
		ssrc:    binary.BigEndian.Uint32(b[:]) | 1, // never 0: NewPipeline would pick its own
		seq:     binary.BigEndian.Uint16(b[4:]),
		ts:      binary.BigEndian.Uint32(b[6:]),
	}
}

// String describes the path for logs.
func (p *Path) String() string { return "caller→agent masking path" }

// Configure makes a pipeline for cfg (its Presses, SSRC and first
// sequence and timestamp are the path's) and hands it over: the path takes
// it at the next packet or tick. It starts in the path's secure mode.
func (p *Path) Configure(cfg Config) error {
	cfg.Presses, cfg.SSRC, cfg.FirstSequence, cfg.FirstTimestamp = p.presses, p.ssrc, p.seq, p.ts
	pl, err := NewPipeline(cfg, p.out)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pl.SetSecure(p.secure)
	if displaced := p.pending.Swap(pl); displaced != nil {
		// Replaced before it saw a packet: it counted nothing.
		p.live = p.live[:len(p.live)-1]
	} else if n := len(p.live); n > 1 {
		// The path took the last pending one: those before it are done
		// for good.
		for _, old := range p.live[:n-1] {
			p.retired.Add(old.Stats())
		}
		p.live = append(p.live[:0], p.live[n-1])
	}
	p.live = append(p.live, pl)
	return nil
}

// SetSecure switches secure mode, which the SecureOnly policies follow,
// on every pipeline of the path, now and to come.
func (p *Path) SetSecure(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.secure = on
	for _, pl := range p.live {
		pl.SetSecure(on)
	}
}

// Stats sums the counters of every pipeline the path had; the look-ahead
// is the newest one's.
func (p *Path) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.retired
	for _, pl := range p.live {
		st.Add(pl.Stats())
	}
	return st
}

// Swaps counts the pipelines taken in after the first.
func (p *Path) Swaps() uint64 { return p.swaps.Load() }

// HandleRTP passes one caller packet to the current pipeline
// (media.PacketHandler).
func (p *Path) HandleRTP(pkt *media.Packet) {
	if p.pending.Load() != nil {
		p.swap()
	}
	if p.cur != nil {
		p.cur.HandleRTP(pkt)
	}
}

// Tick lets the current pipeline act without a packet (media.TickHandler).
func (p *Path) Tick(now time.Time) {
	if p.pending.Load() != nil {
		p.swap()
	}
	if p.cur != nil {
		p.cur.Tick(now)
	}
}

// swap makes the pending pipeline current. Its rewriter carries on the
// agent's stream where the old pipeline left it; what the old one still
// held in its look-ahead is dropped, not sent unjudged.
func (p *Path) swap() {
	next := p.pending.Swap(nil)
	if next == nil {
		return
	}
	if p.cur != nil {
		next.rw.continueFrom(&p.cur.rw)
		p.swaps.Add(1)
	}
	p.cur = next
}

// Add adds b's counters to s; the look-ahead is b's (the newer one's).
func (a *Stats) Add(b Stats) {
	a.AudioPackets += b.AudioPackets
	a.EventPackets += b.EventPackets
	a.GuessedEventPackets += b.GuessedEventPackets
	a.ComfortNoise += b.ComfortNoise
	a.Other += b.Other
	a.EventsDropped += b.EventsDropped
	a.Duplicates += b.Duplicates
	a.Late += b.Late
	a.Sent += b.Sent
	a.SendErrors += b.SendErrors
	a.Synthesised += b.Synthesised
	a.Masked += b.Masked
	a.MaskedPresses += b.MaskedPresses
	a.Suspicions += b.Suspicions
	a.TonesMerged += b.TonesMerged
	a.Stalls += b.Stalls
	a.StalledPackets += b.StalledPackets
	a.Behind += b.Behind
	a.BehindPackets += b.BehindPackets
	a.LookAhead = b.LookAhead
}
