package media

import (
	"dtmfgw/media/rtcp"
	"errors"
	"net/netip"
	"time"
)

// RelayRTCP turns on RTCP for a relay's two legs (RelayConfig.RTCP): one
// rtcp.Session per leg on the leg's RTCP socket (RTP port + 1), as a
// media-translating translator does it (RFC 3550 §7.2): each leg reports on
// the stream it sends and the stream it receives, and nothing either peer
// sends in RTCP is forwarded to the other.
type RelayRTCP struct {
	// CallerRemote and AgentRemote are the peers' RTCP addresses (see
	// RTCPAddr). A zero one means that leg's session writes nothing until
	// the signalling layer has one; see Relay.RTCPSession and SetRemote.
	CallerRemote, AgentRemote netip.AddrPort
	// AgentSent returns what the caller→agent handler has sent to the
	// agent, for the agent leg's Sender Reports: the masking pipeline's
	// Sent. Nil with a nil RelayConfig.CallerToAgent: the relay counts
	// the packets it forwards. Nil with a handler: the agent leg sends
	// Receiver Reports only.
	AgentSent func() rtcp.SentStream
	// NATLatch, MinInterval, ReducedMinimum, SessionBandwidth and Rand
	// are passed to both sessions (see rtcp.Config).
	NATLatch         bool
	MinInterval      time.Duration
	ReducedMinimum   bool
	SessionBandwidth int
	Rand             func() float64
}

// relayRTCP is a relay's RTCP state: a session per leg, what each leg's
// reader notes for them, and the sessions' reading goroutines.
type relayRTCP struct {
	caller, agent *rtcp.Session
	// callerSeq and agentSeq are the highest sequence numbers received on
	// each leg, noted by the leg's reader; toCaller counts what the relay
	// forwards to the caller, toAgent what it forwards to the agent when
	// it has no caller→agent handler.
	callerSeq, agentSeq rtcp.HighestSeq
	toCaller, toAgent   rtcp.SentCounter
	served              chan struct{} // one value per Serve that returned
}

// newRelayRTCP builds the sessions of r for cfg.
func newRelayRTCP(r *Relay, cfg *RelayRTCP, plainForward bool) (*relayRTCP, error) {
	x := &relayRTCP{served: make(chan struct{}, 2)}
	agentSent := cfg.AgentSent
	if agentSent == nil && plainForward {
		agentSent = x.toAgent.Load
	}
	base := rtcp.Config{NATLatch: cfg.NATLatch, MinInterval: cfg.MinInterval, ReducedMinimum: cfg.ReducedMinimum,
		SessionBandwidth: cfg.SessionBandwidth, Rand: cfg.Rand}
	cc := base
	cc.Remote = cfg.CallerRemote
	cc.Sent = x.toCaller.Load
	cc.Received = func() rtcp.Reception { return ReceptionOf(r.caller.Stats().Received, &x.callerSeq) }
	cc.Write = rtcp.UDPWriter(r.caller.RTCP())
	ac := base
	ac.Remote = cfg.AgentRemote
	ac.Sent = agentSent
	ac.Received = func() rtcp.Reception { return ReceptionOf(r.agent.Stats().Received, &x.agentSeq) }
	ac.Write = rtcp.UDPWriter(r.agent.RTCP())
	var err error
	if x.caller, err = rtcp.NewSession(cc); err != nil {
		return nil, errors.Join(ErrRelayConfig, err)
	}
	if x.agent, err = rtcp.NewSession(ac); err != nil {
		return nil, errors.Join(ErrRelayConfig, err)
	}
	return x, nil
}

// start begins reading both legs' RTCP sockets; each Serve returns when
// its leg closes the socket.
func (x *relayRTCP) start(r *Relay) {
	for _, s := range []struct {
		s   *rtcp.Session
		leg *Leg
	}{{x.caller, r.caller}, {x.agent, r.agent}} {
		go func() {
			_ = s.s.Serve(s.leg.RTCP(), r.now)
			x.served <- struct{}{}
		}()
	}
}

// tick drives both sessions from the relay's tick path (a Tick before a
// report is due costs a lock and a comparison).
func (x *relayRTCP) tick(now time.Time) {
	x.caller.Tick(now)
	x.agent.Tick(now)
}

// bye closes both sessions, writing their BYEs (RFC 3550 §6.6), before the
// legs close the sockets. A leg without a remote has nobody to say it to.
func (x *relayRTCP) bye(now time.Time) error {
	var err error
	for _, s := range []*rtcp.Session{x.caller, x.agent} {
		if e := s.Close(now); e != nil && !errors.Is(e, ErrNoRemote) {
			err = errors.Join(err, e)
		}
	}
	return err
}

// wait waits, bounded, for both Serve goroutines after the legs closed
// their RTCP sockets.
func (x *relayRTCP) wait() {
	timeout := time.NewTimer(closeWait)
	defer timeout.Stop()
	for range 2 {
		select {
		case <-x.served:
		case <-timeout.C:
			return
		}
	}
}

// closeWait bounds how long Close waits for the RTCP readers after their
// sockets closed (a closed socket ends a read at once).
const closeWait = 2 * time.Second

// noteReceived notes each packet a leg accepted in the leg's HighestSeq
// (for its reception block), then hands it on. RFC 4733 events share the
// stream's SSRC and sequence numbers, so every accepted packet counts.
type noteReceived struct {
	seq  *rtcp.HighestSeq
	next PacketHandler
}

func (h *noteReceived) HandleRTP(p *Packet) {
	h.seq.Note(p.Header.SSRC, p.Header.SequenceNumber)
	h.next.HandleRTP(p)
}

// noteSent hands each packet on to a forwarding handler and then notes it
// as sent, unchanged, for the Sender Report of the leg it is written to.
// A write that failed is noted too: only local errors fail a UDP send, and
// they are counted in the leg's send statistics.
type noteSent struct {
	sent *rtcp.SentCounter
	next PacketHandler
}

func (h *noteSent) HandleRTP(p *Packet) {
	h.next.HandleRTP(p)
	h.sent.Note(p.Header.SSRC, p.Header.Timestamp, len(p.Payload), p.Arrival)
}

// RTCPSession returns the relay's RTCP session of side s (nil when RTCP
// is off or s is NoSide), e.g. to SetRemote after a re-INVITE.
func (r *Relay) RTCPSession(s Side) *rtcp.Session {
	if r.rtcp == nil {
		return nil
	}
	switch s {
	case CallerSide:
		return r.rtcp.caller
	case AgentSide:
		return r.rtcp.agent
	}
	return nil
}

// ReceptionOf builds a Reception from a leg's receive snapshot and the
// HighestSeq the relay feeds with the leg's accepted audio packets (until
// ReceiveSnapshot carries the extended highest sequence number). If h
// holds another source than the snapshot's current one, the block's
// extended highest sequence number is 0 rather than another source's.
func ReceptionOf(s ReceiveSnapshot, h *rtcp.HighestSeq) rtcp.Reception {
	r := rtcp.Reception{
		SSRC:     s.SSRC,
		Expected: s.Expected,
		Received: s.Received,
		JitterTS: s.JitterTS,
	}
	if ssrc, ext, ok := h.Load(); ok && ssrc == s.SSRC {
		r.ExtHighestSeq = ext
	}
	return r
}
