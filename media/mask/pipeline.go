package mask

// The caller→agent masking pipeline.
//
// What leaves the agent-facing socket is all the agent, the agent's platform
// and its recorders ever hear, so the pipeline is the call's security
// boundary. Each caller packet goes through these stages, each its own type
// with a String method, all driven by the caller leg's reading goroutine
// with times passed in (no goroutine, no clock, no allocation per packet):
//
//  1. eventStage classifies the packet by payload type. Telephone events
//     (RFC 4733) on the negotiated types, and event-shaped packets on
//     un-negotiated dynamic types (RFC 3551 §6, 96–127), go to a
//     dtmf.Tracker and are dropped: they carry the digit in clear. Only the
//     negotiated audio type and comfort noise (RFC 3389) are forwarded;
//     anything else could be audio we cannot inspect and is dropped too.
//  2. lookAhead decodes G.711 (ITU-T G.711) audio, runs the dtmf.Detector
//     (ITU-T Q.23/Q.24) on it and delays the audio by the look-ahead in a
//     ring, so a tone's first milliseconds are still inside when the
//     Detector suspects it (Detector.Suspected) — well before it decides
//     (28–32 ms after onset, up to ~53 ms for a tone interrupted early).
//  3. maskSpans records, on the audio timeline, what must not reach the
//     agent: from a suspected or decided tone's onset to its end, and from
//     the moment an event press begins to its end.
//  4. the call's Joiner (press.go) makes one press of the reports of every
//     source, SIP INFO included, and queues it without blocking; maskPlayer plays the uniform mask
//     tone once per press, replacing whole packets: the tone for its fixed
//     length, then silence while the press lasts. A suspected tone that is
//     not (yet) a press is masked with silence, not the tone, so talk-off
//     on music or speech makes short gaps, not beeps. When the caller stops
//     sending audio during events (many senders do), Tick and the event
//     packets drive synthesised packets at the audio packetisation.
//  5. rewriter writes the header of one stream of ours (RFC 3550 §5.1):
//     our SSRC, sequence numbers with no gap the input did not have,
//     timestamps on the audio clock, marker on talkspurt start.
//
// docs/masking.md tells what the agent hears and why the look-ahead is what
// it is.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/media"
	"dtmfgw/media/rtcp"
)

// Policy says when a source of key presses (telephone events, in-band
// tones) is masked toward the agent.
type Policy uint8

const (
	// Always masks at all times: the default, for a gateway that
	// carries only the leg transferred for payment.
	Always Policy = iota
	// SecureOnly masks only while the pipeline is in secure mode
	// (SetSecure), for a gateway in the path of whole calls.
	SecureOnly
	// Off never masks: telephone events are forwarded, in-band audio
	// is not delayed. Presses are still reported.
	Off
)

// String returns the policy's configuration name.
func (m Policy) String() string {
	switch m {
	case Always:
		return "always"
	case SecureOnly:
		return "secure-only"
	case Off:
		return "off"
	}
	return "unknown"
}

// active reports whether the policy masks now.
func (m Policy) active(secure bool) bool {
	return m == Always || (m == SecureOnly && secure)
}

// ErrConfig is wrapped by NewPipeline for an unusable configuration.
var ErrConfig = errors.New("mask: bad pipeline configuration")

// Config configures a Pipeline.
type Config struct {
	// Law is the negotiated G.711 audio codec (both directions toward the
	// agent use it). Zero means another codec: telephone events are still
	// dropped and presses reported, but the audio is relayed as it is —
	// no in-band detection, no look-ahead and no mask tone, as the
	// pipeline cannot decode or synthesise that codec (docs/masking.md).
	Law g711.Law
	// AudioPT is the negotiated audio payload type.
	AudioPT uint8
	// EventPTs are the telephone-event payload types from the SDP (at most
	// four), all at EventClockRate.
	EventPTs []uint8
	// EventClockRate is the telephone-event RTP clock in Hz; 0 means 8000.
	EventClockRate uint32
	// MaskEvents and MaskInband are the policies for the two sources.
	// The zero value is Always.
	MaskEvents, MaskInband Policy
	// LookAhead is how long agent-bound G.711 audio is held while in-band
	// masking is on. Zero means DefaultLookAhead; at most MaxLookAhead.
	LookAhead time.Duration
	// MaskTone is what the agent hears for every press. The zero value
	// means dtmf.DefaultMaskTone().
	MaskTone dtmf.MaskTone
	// Presses is the call's Joiner, which every pipeline of the call
	// reports its presses to (and SIP INFO too): one Press per key press,
	// queued without blocking. Nil reports nothing; presses are still
	// masked.
	Presses *Joiner
	// SSRC is the SSRC of the stream toward the agent. Zero picks a
	// random SSRC, first sequence number and first timestamp (RFC 3550
	// §5.1); otherwise FirstSequence and FirstTimestamp are used.
	SSRC           uint32
	FirstSequence  uint16
	FirstTimestamp uint32
}

// Stats are a pipeline's counters. They never hold a key.
type Stats struct {
	// AudioPackets, EventPackets, GuessedEventPackets and ComfortNoise
	// count caller packets by class; Other counts packets of any other
	// payload type and empty audio payloads, dropped.
	AudioPackets, EventPackets, GuessedEventPackets, ComfortNoise, Other uint64
	// EventsDropped counts telephone-event packets not forwarded (all of
	// them while event masking is on).
	EventsDropped uint64
	// Duplicates counts audio packets dropped as repeats, Late those
	// dropped because a later one was already sent (reordered).
	Duplicates, Late uint64
	// Sent counts packets handed to the Sender, SendErrors those it
	// refused; Synthesised the sent packets the pipeline made up.
	Sent, SendErrors, Synthesised uint64
	// Masked counts packets sent with their audio replaced (mask tone or
	// silence).
	Masked uint64
	// MaskedPresses counts the presses (first source; the Joiner counts
	// them all) that the agent heard as the mask tone: those whose source
	// was masked when they were heard.
	MaskedPresses uint64
	// Suspicions counts suspected tones that were masked but never
	// became a press.
	Suspicions uint64
	// TonesMerged counts presses that got no mask tone of their own
	// because maxPendingTones were already waiting.
	TonesMerged uint64
	// Stalls counts the times the caller's audio really stopped with
	// audio held in the look-ahead: the stream came back with a gap, so
	// the held samples were never judged with what follows them and were
	// replaced by silence (fail-closed); StalledPackets counts that audio
	// in packets.
	Stalls, StalledPackets uint64
	// Behind counts the times the caller's audio seemed to stop but the
	// stream came back without a gap: the gateway was late reading it (a
	// busy machine, a pause) or the network delayed it. The held audio was
	// judged with what followed and sent, late; nothing was replaced.
	// BehindPackets counts, in packet times, how long that audio waited.
	Behind, BehindPackets uint64
	// LookAhead is the look-ahead in use now.
	LookAhead time.Duration
}

type pipelineCounters struct {
	audio, events, guessed, cn, other, eventsDropped, dups, late atomic.Uint64
	sent, sendErrors, synth, masked                              atomic.Uint64
	suspicions, merged, stalls, stalledPkts, behind, behindPkts  atomic.Uint64
	lookAhead                                                    atomic.Int64 // samples
	// maskedPresses is last: a press's counter, kept off the lines the
	// per-packet counters above share.
	maskedPresses atomic.Uint64
}

// suspectMargin is how much earlier than Detector.Suspected's rough onset
// a suspected tone is masked from: two of the Detector's 4-ms blocks, the
// most its estimate was seen to be late (TestLookAheadSweep).
const suspectMargin = 64

// bridgeSamples is how long after a suspicion fell a new one still counts
// as the same tone: Q.24's 10 ms interruption plus a 4-ms hop, and a
// margin.
const bridgeSamples = 160

// inbandState follows the Detector's view of the current tone.
type inbandState uint8

const (
	inbandNone inbandState = iota
	inbandSuspect
	inbandPress
)

// Pipeline is the caller→agent masking pipeline of one call (see the
// comment block at the top of pipeline.go). HandleRTP and Tick must not run
// concurrently (the Relay serialises them); SetSecure and Stats are safe
// from any goroutine.
type Pipeline struct {
	law     g711.Law
	audioPT uint8
	maskEv  Policy
	maskIb  Policy
	laLen   int // look-ahead in samples

	events eventStage
	la     *lookAhead
	player maskPlayer
	spans  maskSpans
	joiner *Joiner
	rw     rewriter
	out    media.Sender

	secure atomic.Bool
	c      pipelineCounters
	sent   rtcp.SentCounter // our stream toward the agent, for RTCP SRs

	ib          inbandState
	suspectFell bool  // a suspicion fell and has not come back yet
	ibFell      int64 // Detector position where the last suspicion fell
	eventOpen   bool

	ptime     int // samples per audio packet, as last received
	lastAudio time.Time
	lastOut   time.Time
	audioSSRC uint32
	// lastAudioSeq is the highest audio sequence number of audioSSRC,
	// lastAudioTS its timestamp.
	lastAudioSeq uint16
	lastAudioTS  uint32
	haveAudioSeq bool
	// stalled is set when stall judged the caller's audio stopped, until
	// the next audio packet tells whether it had (resume).
	stalled bool
	recent  [8]uint16
	nrecent int

	evs [32]dtmf.KeyEvent
	buf [rtpHeaderLen + media.MaxDatagram]byte
}

// NewPipeline returns a pipeline for cfg writing to out.
func NewPipeline(cfg Config, out media.Sender) (*Pipeline, error) {
	if out == nil {
		return nil, fmt.Errorf("%w: nil media.Sender", ErrConfig)
	}
	if cfg.Law != 0 && !cfg.Law.Valid() {
		return nil, fmt.Errorf("%w: unknown G.711 law %d", ErrConfig, cfg.Law)
	}
	if cfg.AudioPT > 127 {
		return nil, fmt.Errorf("%w: audio payload type %d", ErrConfig, cfg.AudioPT)
	}
	if len(cfg.EventPTs) > maxEventPTs {
		return nil, fmt.Errorf("%w: %d event payload types (at most %d)", ErrConfig, len(cfg.EventPTs), maxEventPTs)
	}
	for _, pt := range cfg.EventPTs {
		if pt > 127 || pt == cfg.AudioPT {
			return nil, fmt.Errorf("%w: event payload type %d", ErrConfig, pt)
		}
	}
	if cfg.MaskEvents > Off || cfg.MaskInband > Off {
		return nil, fmt.Errorf("%w: unknown mask policy", ErrConfig)
	}
	if cfg.LookAhead < 0 || cfg.LookAhead > MaxLookAhead {
		return nil, fmt.Errorf("%w: look-ahead %v outside 0–%v", ErrConfig, cfg.LookAhead, MaxLookAhead)
	}
	if cfg.Presses == nil {
		cfg.Presses = &Joiner{} // judges presses for masking, queues none
	}
	if cfg.LookAhead == 0 {
		cfg.LookAhead = DefaultLookAhead
	}
	if cfg.MaskTone == (dtmf.MaskTone{}) {
		cfg.MaskTone = dtmf.DefaultMaskTone()
	}
	if err := cfg.MaskTone.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.SSRC == 0 {
		var b [10]byte
		_, _ = rand.Read(b[:])
		cfg.SSRC = binary.BigEndian.Uint32(b[:]) | 1
		cfg.FirstSequence = binary.BigEndian.Uint16(b[4:])
		cfg.FirstTimestamp = binary.BigEndian.Uint32(b[6:])
	}
	p := &Pipeline{
		law:     cfg.Law,
		audioPT: cfg.AudioPT,
		maskEv:  cfg.MaskEvents,
		maskIb:  cfg.MaskInband,
		laLen:   int(cfg.LookAhead / (time.Second / dtmf.SampleRate)),
		out:     out,
		ptime:   160,
		joiner:  cfg.Presses,
		rw:      newRewriter(cfg.SSRC, cfg.FirstSequence, cfg.FirstTimestamp),
	}
	p.events.audioPT = cfg.AudioPT
	p.events.npt = copy(p.events.pts[:], cfg.EventPTs)
	tc := dtmf.TrackerConfig{ClockRate: cfg.EventClockRate}
	p.events.tracker = dtmf.NewTracker(tc)
	p.events.guessed = dtmf.NewTracker(tc)
	if cfg.Law.Valid() {
		const frame = 160 // 20 ms; the tone is used as one flat run
		var tone []byte
		for _, f := range cfg.MaskTone.Frames(cfg.Law, frame) {
			tone = append(tone, f...)
		}
		p.player = maskPlayer{tone: tone, silence: cfg.Law.Silence()}
		p.la = &lookAhead{law: cfg.Law, det: dtmf.NewDetector(dtmf.DetectorConfig{}), keepLast: cfg.MaskInband == SecureOnly}
		p.la.target = p.inbandTarget()
		p.la.delay = p.la.target
		for i := range p.la.delay {
			p.la.pre[i] = cfg.Law.Silence()
		}
		p.la.preN = p.la.delay
		p.c.lookAhead.Store(int64(p.la.delay))
	}
	p.sent.SetClockRate(media.DefaultClockRate)
	return p, nil
}

// String describes the chain, for logs.
func (p *Pipeline) String() string {
	if p.la == nil {
		return fmt.Sprintf("pipeline(%s → %s → %s, events %s)", p.events.String(), p.joiner.String(), p.rw.String(), p.maskEv)
	}
	return fmt.Sprintf("pipeline(%s → %s → %s → %s → %s → %s, %s, events %s, inband %s, look-ahead %v)",
		p.events.String(), p.la.String(), p.spans.String(), p.joiner.String(), p.player.String(), p.rw.String(),
		p.law, p.maskEv, p.maskIb, samplesDuration(p.laLen))
}

func samplesDuration(n int) time.Duration {
	return time.Duration(n) * (time.Second / dtmf.SampleRate)
}

// Sent returns what the pipeline has sent toward the agent, for the agent
// leg's RTCP Sender Reports (rtcp.Config.Sent): our SSRC, packets, payload
// octets, and the last timestamp and when it went out — the stream the
// agent actually receives, not the caller's (RFC 3550 §6.4.1, §7.2: the
// caller's SRs describe packets we dropped or rewrote, so they are not
// forwarded but regenerated from this). Safe from any goroutine.
func (p *Pipeline) Sent() rtcp.SentStream { return p.sent.Load() }

// SetSecure switches secure mode, which the SecureOnly policies follow.
// The look-ahead grows or shrinks at the next audio packet without a gap
// and without a click (docs/masking.md).
func (p *Pipeline) SetSecure(secure bool) { p.secure.Store(secure) }

// Stats returns the pipeline's counters. Safe from any goroutine.
func (p *Pipeline) Stats() Stats {
	c := &p.c
	return Stats{
		AudioPackets: c.audio.Load(), EventPackets: c.events.Load(), GuessedEventPackets: c.guessed.Load(),
		ComfortNoise: c.cn.Load(), Other: c.other.Load(), EventsDropped: c.eventsDropped.Load(),
		Duplicates: c.dups.Load(), Late: c.late.Load(), Sent: c.sent.Load(), SendErrors: c.sendErrors.Load(),
		Synthesised: c.synth.Load(), Masked: c.masked.Load(), MaskedPresses: c.maskedPresses.Load(),
		Suspicions: c.suspicions.Load(), TonesMerged: c.merged.Load(),
		Stalls: c.stalls.Load(), StalledPackets: c.stalledPkts.Load(), Behind: c.behind.Load(), BehindPackets: c.behindPkts.Load(),
		LookAhead: samplesDuration(int(c.lookAhead.Load())),
	}
}

func (p *Pipeline) masksEvents() bool { return p.maskEv.active(p.secure.Load()) }
func (p *Pipeline) masksInband() bool { return p.la != nil && p.maskIb.active(p.secure.Load()) }

func (p *Pipeline) inbandTarget() int {
	if p.masksInband() {
		return p.laLen
	}
	return 0
}

// HandleRTP takes one caller packet (PacketHandler). It is called on the
// caller leg's reading goroutine and sends what the agent must hear, if
// anything, before it returns.
func (p *Pipeline) HandleRTP(pkt *media.Packet) {
	h := &pkt.Header
	now := pkt.Arrival
	info := dtmf.RTPInfo{SSRC: h.SSRC, Sequence: h.SequenceNumber, Timestamp: h.Timestamp, Marker: h.Marker}
	switch p.events.classify(h.PayloadType, pkt.Payload) {
	case classAudio:
		p.c.audio.Add(1)
		p.audio(pkt)
	case classComfortNoise:
		p.c.cn.Add(1)
		p.forwardAsIs(pkt, 0)
	case classEvent:
		p.c.events.Add(1)
		p.onEvents(p.events.feed(info, pkt.Payload, now, p.evs[:0]), now)
		if p.masksEvents() {
			p.c.eventsDropped.Add(1)
			p.rw.drop(h.SSRC, h.SequenceNumber)
			p.stall(now)
		} else {
			p.forwardAsIs(pkt, 0)
		}
	case classGuessedEvent:
		p.c.guessed.Add(1)
		p.c.eventsDropped.Add(1)
		p.onEvents(p.events.feedGuessed(info, h.PayloadType, pkt.Payload, now, p.evs[:0]), now)
		p.rw.drop(h.SSRC, h.SequenceNumber)
		p.stall(now)
	default:
		p.c.other.Add(1)
		p.rw.drop(h.SSRC, h.SequenceNumber)
	}
	p.noteWarm(pkt.Warm)
}

// Tick lets time pass without a packet: it ends presses whose end packets
// were lost, and when the caller has stopped sending audio it notes the
// stall (the audio held in the look-ahead waits for resume) and carries
// the mask tone on with synthesised packets. The Relay calls it at least
// every 20 ms.
func (p *Pipeline) Tick(now time.Time) {
	p.onEvents(p.events.tick(now, p.evs[:0]), now)
	p.stall(now)
}

// onEvents applies telephone-event key events.
func (p *Pipeline) onEvents(evs []dtmf.KeyEvent, now time.Time) {
	for i := range evs {
		ev := &evs[i]
		switch ev.Kind {
		case dtmf.Begin:
			isNew := p.joiner.begin(ev.Key, dtmf.SourceRFC4733, now, ev.FirstSeen)
			if isNew && p.masksEvents() {
				p.c.maskedPresses.Add(1)
			}
			if p.la == nil || !p.masksEvents() {
				continue
			}
			p.eventOpen = true
			start := p.la.readPos
			openSpan(&p.spans.event, start)
			if isNew {
				p.player.enqueue(start)
			}
		case dtmf.End:
			p.joiner.end(dtmf.SourceRFC4733, now)
			p.eventOpen = false
			if p.la != nil {
				p.spans.closeSpan(&p.spans.event, p.la.writePos)
			}
		}
	}
	p.c.merged.Store(p.player.merged)
}

// detect stores an audio payload in the look-ahead and runs the Detector
// over it a hop at a time, applying its events and suspicion after each.
func (p *Pipeline) detect(payload []byte, now time.Time) {
	var buf [media.MaxDatagram]int16
	pcm := p.la.store(buf[:], payload)
	for off := 0; off < len(pcm); off += detectChunk {
		end := min(off+detectChunk, len(pcm))
		p.onInband(p.la.det.Process(pcm[off:end], p.evs[:0]), now)
	}
}

// onInband applies the Detector's key events and its suspicion.
func (p *Pipeline) onInband(evs []dtmf.KeyEvent, now time.Time) {
	mask := p.masksInband()
	for i := range evs {
		ev := &evs[i]
		switch ev.Kind {
		case dtmf.Begin:
			back := samplesDuration(int(p.la.writePos - ev.Onset))
			isNew := p.joiner.begin(ev.Key, dtmf.SourceInband, now, now.Add(-back))
			p.ib = inbandPress
			if !mask {
				continue
			}
			if isNew {
				p.c.maskedPresses.Add(1)
			}
			openSpan(&p.spans.inband, ev.Onset)
			if isNew {
				// The tone starts where the masking did, or at the
				// first packet not yet sent.
				p.player.enqueue(max(p.spans.inband.start, p.la.readPos))
			}
		case dtmf.End:
			p.joiner.end(dtmf.SourceInband, now)
			p.ib = inbandNone
			p.spans.closeSpan(&p.spans.inband, ev.EndSample)
		}
	}
	pos := p.la.det.Position()
	if p.suspectFell && p.ib == inbandNone && pos-p.ibFell > bridgeSamples {
		// The suspicion did not come back: it was not a press.
		p.suspectFell = false
		p.c.suspicions.Add(1)
	}
	onset, suspected := p.la.det.Suspected()
	switch {
	case suspected && p.ib == inbandNone && mask:
		// Mask from before the suspected onset, before the Detector
		// decides: the decision comes too late for any look-ahead ≤ 40 ms.
		// Everything still held is masked: Suspected's onset is rough
		// (it comes from the share of the window the pair fills), and a
		// tone interrupted in its first milliseconds is often suspected
		// only after the interruption, its first fragment unnoticed.
		onset = max(min(onset-suspectMargin, p.la.readPos), 0)
		p.ib = inbandSuspect
		openSpan(&p.spans.inband, onset)
	case !suspected && p.ib == inbandSuspect:
		// Gone before a decision. It may come back after an interruption
		// (Q.24 bridges ≤ 10 ms); it counts as a false suspicion only
		// if it does not within bridgeSamples.
		p.ib = inbandNone
		p.ibFell, p.suspectFell = pos, true
		p.spans.closeSpan(&p.spans.inband, pos)
	}
	p.c.merged.Store(p.player.merged)
}

// isDuplicate reports whether an audio packet repeats one of the last few.
func (p *Pipeline) isDuplicate(ssrc uint32, seq uint16) bool {
	if ssrc != p.audioSSRC {
		p.audioSSRC, p.nrecent, p.haveAudioSeq = ssrc, 0, false
	}
	for i := 0; i < p.nrecent; i++ {
		if p.recent[i] == seq {
			return true
		}
	}
	if p.nrecent < len(p.recent) {
		p.nrecent++
	}
	copy(p.recent[1:p.nrecent], p.recent[:p.nrecent-1])
	p.recent[0] = seq
	return false
}

// audio handles one packet of the negotiated audio type.
func (p *Pipeline) audio(pkt *media.Packet) {
	h := &pkt.Header
	now := pkt.Arrival
	if p.la == nil {
		p.forwardAsIs(pkt, uint32(len(pkt.Payload)))
		return
	}
	n := len(pkt.Payload)
	if n == 0 || n > maxAudioPayload {
		p.c.other.Add(1)
		p.rw.drop(h.SSRC, h.SequenceNumber)
		return
	}
	if p.isDuplicate(h.SSRC, h.SequenceNumber) {
		// A repeat would feed the Detector the same 20 ms twice.
		p.c.dups.Add(1)
		return
	}
	if p.haveAudioSeq && h.SSRC == p.audioSSRC && !newer(h.SequenceNumber, p.lastAudioSeq) {
		// Late: its place in the stream toward the agent has gone out
		// as a gap already, and the look-ahead holds audio in arrival
		// order, so splicing it in would scramble both what the agent
		// hears and what the Detector sees. Dropped, like a loss.
		p.c.late.Add(1)
		return
	}
	if p.stalled {
		p.resume(h, now)
	}
	p.lastAudioSeq, p.lastAudioTS, p.haveAudioSeq = h.SequenceNumber, h.Timestamp, true
	p.detect(pkt.Payload, now)
	p.la.target = p.inbandTarget()
	dst := p.buf[rtpHeaderLen : rtpHeaderLen+n]
	a, b := p.la.next(dst)
	p.c.lookAhead.Store(int64(p.la.delay))
	p.mask(dst, a, b)
	p.rw.forward(p.buf[:], h.SSRC, h.SequenceNumber, h.Timestamp, h.Marker, p.audioPT, uint32(n), now)
	p.send(p.buf[:rtpHeaderLen+n], now)
	p.ptime = n
	p.lastAudio = now
	p.lastOut = now
}

// mask replaces dst, holding timeline samples [a, b), by the mask tone or by
// silence when it must not reach the agent.
func (p *Pipeline) mask(dst []byte, a, b int64) {
	if p.player.fill(dst, max(b, a+1)) {
		p.c.masked.Add(1)
	} else if p.spans.overlaps(a, b) {
		for i := range dst {
			dst[i] = p.player.silence
		}
		p.c.masked.Add(1)
	}
	p.spans.prune(p.la.readPos)
}

// stall acts when the caller's audio has stopped: after 1.5 packet times
// while a press is being masked, after 3 otherwise (a lost packet is not a
// stall). The audio held in the look-ahead stays held: its last samples
// have not been judged, and may be a tone's first milliseconds, so it may
// not leave now; whether it leaves at all is for resume to say, when the
// caller's audio comes back. While a press is open or its tone plays, mask
// packets are synthesised at the packetisation, catching up at most 8 at a
// time.
func (p *Pipeline) stall(now time.Time) {
	if p.la == nil || p.lastAudio.IsZero() {
		return
	}
	ptime := samplesDuration(p.ptime)
	masking := p.eventOpen || p.player.active()
	after := 3 * ptime
	if masking {
		after = ptime * 3 / 2
	}
	if now.Sub(p.lastAudio) < after {
		return
	}
	p.stalled = true
	if !masking {
		return
	}
	dst := p.buf[rtpHeaderLen : rtpHeaderLen+p.ptime]
	for i := 0; i < 8 && now.Sub(p.lastOut) >= ptime; i++ {
		if !p.player.fill(dst, openEnd) {
			if !p.eventOpen {
				break
			}
			for j := range dst {
				dst[j] = p.player.silence
			}
		}
		p.rw.synth(p.buf[:], p.audioPT, uint32(p.ptime), now)
		p.c.synth.Add(1)
		p.c.masked.Add(1)
		p.send(p.buf[:rtpHeaderLen+p.ptime], now)
		p.lastOut = p.lastOut.Add(ptime)
	}
	if now.Sub(p.lastOut) >= ptime {
		p.lastOut = now
	}
}

// resume settles a stall when the caller's audio comes back, before the
// packet h heads enters the look-ahead. A packet that continues the audio
// exactly (its timestamp one packet after the last audio packet's; the
// sequence number may have moved on, as events sent beside the audio share
// it) shows the caller never stopped: the gateway was late reading its
// audio (a busy machine, a pause) or the network held it back, so the held
// audio is judged with what follows, as it would have been on time, and
// sent late; nothing is lost. Anything else means the caller's audio
// really stopped (silence suppression, a loss burst, RFC 4733 events sent
// in its place): the held samples can never be judged with what follows
// them, so they are replaced by silence and the delay stays the same.
func (p *Pipeline) resume(h *rtp.Header, now time.Time) {
	p.stalled = false
	held := p.la.held()
	if held == 0 || p.ptime == 0 {
		return
	}
	if p.haveAudioSeq && h.Timestamp == p.lastAudioTS+uint32(p.ptime) {
		p.c.behind.Add(1)
		p.c.behindPkts.Add(uint64(now.Sub(p.lastAudio) / samplesDuration(p.ptime)))
		return
	}
	p.c.stalls.Add(1)
	p.c.stalledPkts.Add(uint64((held + p.ptime - 1) / p.ptime))
	p.la.discard()
}

// forwardAsIs sends a packet with our header and its payload unchanged.
func (p *Pipeline) forwardAsIs(pkt *media.Packet, samples uint32) {
	h := &pkt.Header
	n := copy(p.buf[rtpHeaderLen:], pkt.Payload)
	p.rw.forward(p.buf[:], h.SSRC, h.SequenceNumber, h.Timestamp, h.Marker, h.PayloadType, samples, pkt.Arrival)
	p.send(p.buf[:rtpHeaderLen+n], pkt.Arrival)
}

func (p *Pipeline) send(b []byte, at time.Time) {
	if err := p.out.SendRTP(b); err != nil {
		p.c.sendErrors.Add(1)
		return
	}
	p.c.sent.Add(1)
	p.sent.Note(binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[4:]), len(b)-rtpHeaderLen, at)
}
