package call

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/media"
	"dtmfgw/media/mask"
)

// Errors of Call.
var (
	// ErrCallEnded is returned by the methods that change a call after
	// End.
	ErrCallEnded = errors.New("call: call ended")
	// ErrMediaUnknown is returned by Start before both sides' media are
	// known (SetCallerMedia and SetAgentMedia).
	ErrMediaUnknown = errors.New("call: media of a side not known yet")
	// ErrCodecMismatch is returned by Start when the two sides
	// negotiated different audio: the relay does not transcode, and the
	// agent→caller direction is forwarded unchanged, so both legs must
	// carry the same codec on the same payload type.
	ErrCodecMismatch = errors.New("call: the two sides' audio codecs differ")
	// ErrBadMedia is wrapped for MediaParams the relay cannot use.
	ErrBadMedia = errors.New("call: unusable media parameters")
)

// MediaParams is what the SIP layer learned from one side's SDP (RFC 4566,
// offer/answer RFC 3264) that the media path needs. Call it again with the
// new values after every re-INVITE.
type MediaParams struct {
	// Remote is the peer's RTP address: the c= address and the m= port.
	// An unspecified address (c=0.0.0.0, the old hold, RFC 3264 §8.4) or
	// port 0 (a refused or removed stream, §6, §8.2) means none: the leg
	// accepts and sends nothing.
	Remote netip.AddrPort
	// AudioPT is the negotiated audio payload type.
	AudioPT uint8
	// Law is the G.711 law of the audio (PCMU: g711.Ulaw, PCMA:
	// g711.Alaw), or zero for another codec. Only G.711 can be listened
	// to for in-band tones and masked; another codec gets event masking
	// only and the call is never Secure.
	Law g711.Law
	// EventPT is the telephone-event payload type (RFC 4733 §7), or zero
	// for none (telephone-event always takes a dynamic type, never 0).
	EventPT uint8
	// EventClockRate is the telephone-event clock rate; zero means 8000.
	EventClockRate uint32
	// Hold says the side put the call on hold: its SDP said sendonly or
	// inactive (RFC 3264 §8.4), or c=0.0.0.0. No media timeout runs on
	// either leg while a side holds.
	Hold bool
}

func (p MediaParams) validate() error {
	switch {
	case p.AudioPT > 127:
		return fmt.Errorf("%w: audio payload type %d", ErrBadMedia, p.AudioPT)
	case p.Law != 0 && !p.Law.Valid():
		return fmt.Errorf("%w: G.711 law %d", ErrBadMedia, p.Law)
	case p.EventPT > 127 || (p.EventPT != 0 && p.EventPT == p.AudioPT):
		return fmt.Errorf("%w: telephone-event payload type %d", ErrBadMedia, p.EventPT)
	case p.EventClockRate > 192000:
		return fmt.Errorf("%w: telephone-event clock rate %d", ErrBadMedia, p.EventClockRate)
	}
	return nil
}

// eventPTs returns the side's telephone-event types as a list.
func (p MediaParams) eventPTs() []uint8 {
	if p.EventPT == 0 {
		return nil
	}
	return []uint8{p.EventPT}
}

// sameStream reports whether p and q need the same masking pipeline:
// a pipeline's payload types and law are fixed when it is made.
func (p MediaParams) sameStream(q MediaParams) bool {
	return p.AudioPT == q.AudioPT && p.Law == q.Law && p.EventPT == q.EventPT && p.EventClockRate == q.EventClockRate
}

// usable reports whether a remote address can be sent to and received from.
func usable(a netip.AddrPort) bool {
	return a.IsValid() && !a.Addr().IsUnspecified() && a.Port() != 0
}

// Times are the moments of a call's life, by the Manager's clock;
// zero for what has not happened.
type Times struct {
	// Created is when NewCall made the call, MediaStarted when Start
	// started its relay (early media may start it before the answer),
	// Answered when MarkAnswered was called, Ended when End was.
	Created, MediaStarted, Answered, Ended time.Time
}

// Stats are a call's counters. They never hold a key.
type Stats struct {
	// Relay is the relay's: both legs' received and sent streams.
	Relay media.RelayStats
	// Pipeline is the caller→agent masking pipeline's, summed over the
	// pipelines the call has had (one more per re-INVITE that changed the
	// caller's payload types); LookAhead is the current one's.
	Pipeline mask.Stats
	// PipelineSwaps counts the pipelines replaced mid-call.
	PipelineSwaps uint64
	// Presses are the press joiner's counters.
	Presses mask.PressStats
}

// Call is one bridged call's media, as the SIP layer drives it: two legs
// with their ports, a relay with its masking path, and one press joiner.
// The SIP layer creates it with Manager.NewCall before it sends an offer
// (it needs our addresses), tells it each side's SDP, starts it, and ends
// it. All methods are safe for concurrent use.
type Call struct {
	id      string
	m       *Manager
	caller  *media.Leg
	agent   *media.Leg
	relay   *media.Relay
	path    *mask.Path
	presses *mask.Joiner

	secureMode atomic.Bool
	endOnce    sync.Once
	stop       chan struct{} // closed by End: ends run
	done       chan struct{} // closed by End when the media is released

	mu                sync.Mutex
	corr              Correlation
	times             Times
	reason            EndReason
	callerP, agentP   MediaParams
	haveCaller        bool
	haveAgent         bool
	callerTO, agentTO time.Duration // media timeouts the legs were given
}

// ID returns the call's id: random, opaque, URL-safe, unique per process.
func (c *Call) ID() string { return c.id }

// String names the call for logs.
func (c *Call) String() string { return "call " + c.id }

// Correlation returns the identifiers the call is known by.
func (c *Call) Correlation() Correlation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.corr
}

// UpdateCorrelation lets the SIP layer fill in what it learns later, such
// as the outbound Call-ID or an agent id from the agent's answer. f runs
// with the call's lock held: it must only edit the Correlation.
func (c *Call) UpdateCorrelation(f func(*Correlation)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.corr)
}

// CallerMediaAddr returns our relay's RTP address facing the caller, for
// the SDP answer to the caller (c= and m= port, RFC 4566 §5.7, §5.14).
func (c *Call) CallerMediaAddr() netip.AddrPort { return c.m.mediaAddr(c.caller) }

// AgentMediaAddr returns our relay's RTP address facing the agent, for the
// SDP offer to the agent.
func (c *Call) AgentMediaAddr() netip.AddrPort { return c.m.mediaAddr(c.agent) }

// SetCallerMedia applies the caller's SDP: first from the INVITE, again on
// every re-INVITE. A new address or hold takes effect at once without
// touching the relay; new payload types get a new masking pipeline at the
// next packet, with the agent's stream carrying on (same SSRC, no
// sequence gap).
func (c *Call) SetCallerMedia(p MediaParams) error { return c.setMedia(p, true) }

// SetAgentMedia applies the agent's SDP: from its answer (a 183 or the
// 200), again on every re-INVITE.
func (c *Call) SetAgentMedia(p MediaParams) error { return c.setMedia(p, false) }

// setMedia points one side's leg at p: the caller's when caller, else the
// agent's. Only the caller's side has a masking pipeline, made again when
// p changes its stream.
func (c *Call) setMedia(p MediaParams, caller bool) error {
	if err := p.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != NotEnded {
		return ErrCallEnded
	}
	leg, cur, have := c.agent, &c.agentP, &c.haveAgent
	if caller {
		leg, cur, have = c.caller, &c.callerP, &c.haveCaller
		if !*have || !p.sameStream(*cur) {
			if err := c.newPipelineLocked(p); err != nil {
				return err
			}
		}
	}
	moved := !*have || p.Remote != cur.Remote
	if moved {
		leg.SetRemote(p.Remote)
	}
	leg.SetEventPayloadTypes(p.eventPTs()...)
	*cur, *have = p, true
	c.applyTimeoutsLocked(caller && moved, !caller && moved)
	return nil
}

// newPipelineLocked makes the masking pipeline for the caller's p and
// hands it to the caller's masking path, which takes it at the next packet
// or tick.
func (c *Call) newPipelineLocked(p MediaParams) error {
	cfg := c.m.cfg
	err := c.path.Configure(mask.Config{
		Law:            p.Law,
		AudioPT:        p.AudioPT,
		EventPTs:       p.eventPTs(),
		EventClockRate: p.EventClockRate,
		MaskEvents:     mask.Policy(cfg.MaskEvents),
		MaskInband:     mask.Policy(cfg.MaskInband),
		LookAhead:      cfg.LookAhead,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadMedia, err)
	}
	return nil
}

// applyTimeoutsLocked gives each leg its media timeout: the configured one
// once answered, none while either side holds (a held side may send
// nothing, RFC 3264 §8.4) or a side has no address. A leg whose remote
// moved starts counting again.
func (c *Call) applyTimeoutsLocked(callerMoved, agentMoved bool) {
	d := c.m.cfg.MediaTimeout
	if c.times.Answered.IsZero() || c.callerP.Hold || c.agentP.Hold {
		d = 0
	}
	cd, ad := d, d
	if !usable(c.callerP.Remote) {
		cd = 0
	}
	if !usable(c.agentP.Remote) {
		ad = 0
	}
	if cd != c.callerTO || callerMoved {
		c.caller.SetMediaTimeout(cd)
		c.callerTO = cd
	}
	if ad != c.agentTO || agentMoved {
		c.agent.SetMediaTimeout(ad)
		c.agentTO = ad
	}
}

// Start starts relaying once both sides' media are known: at the agent's
// first SDP answer, which may be a 183 (early media, RFC 3960, flows
// through the masking path like any other). Later calls do nothing.
func (c *Call) Start() error {
	c.mu.Lock()
	switch {
	case c.reason != NotEnded:
		c.mu.Unlock()
		return ErrCallEnded
	case !c.times.MediaStarted.IsZero():
		c.mu.Unlock()
		return nil
	case !c.haveCaller || !c.haveAgent:
		c.mu.Unlock()
		return ErrMediaUnknown
	case c.callerP.Law != c.agentP.Law || c.callerP.AudioPT != c.agentP.AudioPT:
		c.mu.Unlock()
		return fmt.Errorf("%w: caller payload type %d (%v), agent %d (%v)", ErrCodecMismatch,
			c.callerP.AudioPT, lawName(c.callerP.Law), c.agentP.AudioPT, lawName(c.agentP.Law))
	}
	err := c.relay.Start()
	if err == nil {
		c.times.MediaStarted = c.m.now()
		c.m.relaying.Add(1)
	}
	c.mu.Unlock()
	if err != nil {
		c.End(EndError)
		return fmt.Errorf("call: starting the relay: %w", err)
	}
	return nil
}

func lawName(l g711.Law) string {
	if l.Valid() {
		return l.String()
	}
	return "not G.711"
}

// MarkAnswered records that the agent answered (the 200 to the INVITE).
// Media timeouts run from then on: before the answer a side may
// legitimately send nothing (early media is optional, RFC 3960 §3).
func (c *Call) MarkAnswered() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != NotEnded || !c.times.Answered.IsZero() {
		return
	}
	c.times.Answered = c.m.now()
	c.applyTimeoutsLocked(false, false)
}

// SetSecureMode switches the masking pipeline's secure mode, which the
// "secure-only" mask policies follow (a payment in progress on a gateway
// that carries whole calls). It outlives re-INVITEs.
func (c *Call) SetSecureMode(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secureMode.Store(on)
	c.path.SetSecure(on)
}

// Secure reports whether a key pressed now would be masked toward the
// agent and heard by us: the relay is running, the caller's leg has an
// address and is not on hold, and both RFC 4733 events and in-band tones
// are masked (which takes G.711 audio). It is what the agent form's
// "secure" indicator shows.
func (c *Call) Secure() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != NotEnded || c.times.MediaStarted.IsZero() || !c.haveCaller {
		return false
	}
	p := c.callerP
	if p.Hold || !usable(p.Remote) || !p.Law.Valid() {
		return false
	}
	secure := c.secureMode.Load()
	masks := func(pol Policy) bool {
		return mask.Policy(pol) == mask.Always || (mask.Policy(pol) == mask.SecureOnly && secure)
	}
	return masks(c.m.cfg.MaskEvents) && masks(c.m.cfg.MaskInband)
}

// Presses returns the call's press queue: one dtmf.Press per key press
// from the media (RFC 4733, in-band) and SIP INFO alike. It is bounded
// (MediaConfig.DigitQueue); when it is full a press is counted in
// PressStats.Overflows and dropped, never waited for. It is closed after
// the call ends and its last presses are queued.
func (c *Call) Presses() <-chan dtmf.Press { return c.presses.Presses() }

// SIPInfoDigit takes a key press the caller sent in a SIP INFO request
// (application/dtmf-relay or application/dtmf): duration is the body's
// (zero if none), at is when the INFO arrived by the Manager's clock (zero
// means now). A press that also arrived in the media within the same press
// window is delivered once. It never blocks.
func (c *Call) SIPInfoDigit(key dtmf.Key, duration time.Duration, at time.Time) {
	if at.IsZero() {
		at = c.m.now()
	}
	c.presses.SIPInfo(key, duration, at)
}

// Done returns a channel closed when the call has ended and released its
// media.
func (c *Call) Done() <-chan struct{} { return c.done }

// EndReason returns why the call ended, or NotEnded.
func (c *Call) EndReason() EndReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Times returns the call's timestamps.
func (c *Call) Times() Times {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.times
}

// Stats returns the call's counters.
func (c *Call) Stats() Stats {
	return Stats{Relay: c.relay.Stats(), Pipeline: c.path.Stats(), PipelineSwaps: c.path.Swaps(), Presses: c.presses.Stats()}
}

// End ends the call: the relay stops, the ports go back to the pool, the
// digit queue is closed after the presses already heard, and Done is
// closed. The first call's reason stands; it reports whether this call
// ended it. NotEnded, or an unknown reason, is taken as EndError.
func (c *Call) End(reason EndReason) bool {
	if reason == NotEnded || reason >= numEndReasons {
		reason = EndError
	}
	first := false
	c.endOnce.Do(func() {
		first = true
		c.mu.Lock()
		c.reason = reason
		c.times.Ended = c.m.now()
		started, answered := c.times.MediaStarted, !c.times.Answered.IsZero()
		c.mu.Unlock()
		err := c.relay.Close()
		close(c.stop)
		// The counters are final once the relay is closed; the registry
		// takes them in the same step as it forgets the call, so a scrape
		// counts the call once, live or ended.
		c.m.remove(c, reason, started, c.Stats(), answered)
		close(c.done)
		if err != nil {
			c.m.log.Warn("call media did not close cleanly", "call", c.id, "err", err)
		}
		c.m.log.Info("call ended", "call", c.id, "reason", reason.String())
	})
	return first
}

// run is the call's one goroutine: it turns a media timeout into the
// call's end, and closes the press queue once the relay is closed (no
// pipeline reports a press after that).
func (c *Call) run() {
	defer c.m.wg.Done()
	defer c.presses.Close()
	select {
	case <-c.relay.MediaTimeout():
		reason := EndCallerMediaTimeout
		if c.relay.TimedOut() == media.AgentSide {
			reason = EndAgentMediaTimeout
		}
		c.End(reason)
	case <-c.stop:
	}
	<-c.stop
}
