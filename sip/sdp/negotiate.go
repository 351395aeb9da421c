package sdp

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// The offer/answer of the B2BUA (RFC 3264). dtmfgw anchors the media of
// both legs on its relay, so every SDP it sends names a relay address, and
// every SDP it receives tells it where one leg's peer receives. A call
// that the caller offers runs:
//
//	o1, err := Parse(invite.Body)                      // 488 on error
//	o2, err := OfferToAgent(o1, agentRelay, opts)      // agentOrigin.Marshal(o2) → INVITE to the agent
//	a2, err := Parse(agent200.Body)
//	a1, err := AnswerToCaller(o1, o2, a2, callerRelay) // callerOrigin.Marshal(a1) → 200 to the caller
//
// A re-INVITE from the caller runs the same steps with the same two
// Origins; Compare(old o1, new o1) says what changed (a new address, hold).
// A re-INVITE from the agent, or a caller INVITE without SDP that we pass
// on without SDP (the agent then offers in its 200 and we answer in the
// ACK), runs the mirror image: OfferToCaller, then AnswerToAgent. When
// there is nothing to follow, BuildOffer offers given formats, and
// CheckAnswer reads the answer.

// DefaultEventPT is the telephone-event payload type OfferToCaller uses
// when given none: 101, the number most SIP endpoints use, in the dynamic
// range of RFC 3551 §3.
const DefaultEventPT = 101

// dtmfEvents is the events list we ask for: the sixteen DTMF keys of RFC
// 4733 §3.2. Flash (16) and the rest are of no use to a payment form.
const dtmfEvents = "0-15"

// AgentOptions shapes what we offer the agent.
type AgentOptions struct {
	// EventPT, when not 0, offers telephone-event/8000 for the DTMF
	// keys to the agent with this dynamic payload type (96–127, RFC 3551
	// §3); if the caller's offer uses the number for a codec, the next
	// free dynamic type is taken. The default offers the agent no
	// telephone-event: the caller's keys must not reach it, and an agent
	// that cannot send events cannot mistake our mask tone for a key.
	EventPT uint8
}

// BuildOffer returns an offer (RFC 3264 §5) of formats in their order at
// relay, sendrecv, with telephone-event/8000 for the DTMF keys at eventPT
// unless it is 0 (when the number is taken by one of formats, the next
// free dynamic type is used). It is the late-offer case: an INVITE without
// SDP is answered with our offer, and the peer answers in the ACK (RFC
// 3261 §13.2.1); G711Formats is the usual list.
func BuildOffer(relay netip.AddrPort, formats []Format, eventPT uint8) (*Media, error) {
	if len(formats) == 0 {
		return nil, errors.New("sip: an offer needs a format")
	}
	m := &Media{Addr: relay, Formats: slices.Clone(formats)}
	if eventPT != 0 {
		ev, err := eventFormat(eventPT, formats)
		if err != nil {
			return nil, err
		}
		m.Event = &ev
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// eventFormat returns telephone-event for the DTMF keys at pt, or at the
// first free dynamic type from pt on when formats use pt. Its clock is
// 8000 Hz, or that of the first format when none is at 8000 Hz (RFC 4733
// §2.1: events run on the audio's clock).
func eventFormat(pt uint8, formats []Format) (Format, error) {
	if pt < 96 || pt > 127 {
		return Format{}, errors.New("sip: telephone-event payload type must be 96-127")
	}
	used := map[uint8]bool{}
	clock := 0
	for _, f := range formats {
		used[f.PT] = true
		if f.ClockRate == 8000 || clock == 0 {
			clock = f.ClockRate
		}
	}
	for i := range 32 {
		if p := 96 + (pt-96+uint8(i))%32; !used[p] {
			return Format{PT: p, Name: "telephone-event", ClockRate: clock, Channels: 1, Fmtp: dtmfEvents}, nil
		}
	}
	return Format{}, errNoFreePT
}

// errNoFreePT means every dynamic payload type is a codec's already.
var errNoFreePT = errors.New("sip: no free payload type for telephone-event")

// OfferToAgent returns our offer to the agent for the caller's offer: at
// the agent-facing relay address, the caller's audio formats in the
// caller's order and numbering (G.711 for the masking pipeline, others
// passed through), its ptime, and its direction, so that the caller's hold
// reaches the agent. An RFC 2543 hold (c=0.0.0.0) becomes sendonly or
// inactive, never a 0.0.0.0 of ours (RFC 3264 §8.4). No telephone-event
// unless opts asks for it.
func OfferToAgent(callerOffer *Media, relay netip.AddrPort, opts AgentOptions) (*Media, error) {
	return offerFor(callerOffer, relay, opts.EventPT)
}

// OfferToCaller returns our offer to the caller for an offer from the
// agent (an agent re-INVITE, or the agent's offer in a 200 to an INVITE
// sent without SDP): at the caller-facing relay address, the agent's
// formats, ptime and direction, and always telephone-event, so that the
// caller's phone sends key presses as RFC 4733 events we can capture.
// eventPT is its payload type (the one the caller used so far keeps the
// numbering stable); 0 means DefaultEventPT.
func OfferToCaller(agentOffer *Media, relay netip.AddrPort, eventPT uint8) (*Media, error) {
	if eventPT == 0 {
		eventPT = DefaultEventPT
	}
	return offerFor(agentOffer, relay, eventPT)
}

func offerFor(from *Media, relay netip.AddrPort, eventPT uint8) (*Media, error) {
	if from == nil {
		return nil, errors.New("sip: no offer to follow")
	}
	m, err := BuildOffer(relay, from.Formats, eventPT)
	if errors.Is(err, errNoFreePT) {
		// A peer that offers 32 dynamic codecs gets no events from us;
		// in-band detection still hears the caller's keys.
		m, err = BuildOffer(relay, from.Formats, 0)
	}
	if err != nil {
		return nil, err
	}
	m.Ptime = from.Ptime
	m.Direction = from.effectiveDirection()
	return m, m.check()
}

// CheckAnswer checks an answer against the offer it answers (RFC 3264
// §6.1: an answer may only select formats that were offered) and returns
// the codec it selects: the answer's first format that is in the offer,
// comfort noise (RFC 3389) skipped, in the answer's numbering. Payload
// type numbers may differ between the two; the codec is matched by name,
// clock rate and channels. An answer with none is an *Error.
func CheckAnswer(offer, answer *Media) (Format, error) {
	if offer == nil || answer == nil {
		return Format{}, badSDP(WarnMisc, "no SDP")
	}
	for _, f := range answer.Formats {
		if f.isComfortNoise() {
			continue
		}
		if _, ok := offer.Lookup(f); ok {
			return f, nil
		}
	}
	return Format{}, badSDP(WarnMediaFormat, "answer selects no offered codec")
}

// AnswerToCaller returns our answer to the caller's offer callerOffer,
// once the agent has answered (agentAnswer) what we offered it
// (agentOffer). It selects the codec the agent selected, with the caller's
// payload type and the agent's format parameters (the agent receives what
// the caller sends), plus comfort noise when both sides have it; it adds
// telephone-event with the caller's payload type whenever the caller
// offered it, since we capture the caller's RFC 4733 events, for the DTMF
// keys among those the caller listed; it takes the agent's ptime, and a
// direction that answers the caller's (RFC 3264 §6.1) and agrees with the
// agent's. Every other stream of the caller's offer is rejected with port
// 0 (RFC 3264 §6). Errors are *SDPErrors (488 to the caller).
func AnswerToCaller(callerOffer, agentOffer, agentAnswer *Media, relay netip.AddrPort) (*Media, error) {
	return answerFor(callerOffer, agentOffer, agentAnswer, relay, true)
}

// AnswerToAgent returns our answer to the agent's offer agentOffer, once
// the caller has answered (callerAnswer) what we offered it
// (callerOffer): the mirror image of AnswerToCaller, with telephone-event
// only when opts.EventPT asks for events on the agent leg and the agent
// offered them.
func AnswerToAgent(agentOffer, callerOffer, callerAnswer *Media, relay netip.AddrPort, opts AgentOptions) (*Media, error) {
	return answerFor(agentOffer, callerOffer, callerAnswer, relay, opts.EventPT != 0)
}

// answerFor answers offer on one leg, given the other leg's answer to what
// we forwarded to it.
func answerFor(offer, forwarded, reply *Media, relay netip.AddrPort, events bool) (*Media, error) {
	if offer == nil {
		return nil, badSDP(WarnMisc, "no SDP")
	}
	chosen, err := CheckAnswer(forwarded, reply)
	if err != nil {
		return nil, err
	}
	own, ok := offer.Lookup(chosen)
	if !ok {
		return nil, badSDP(WarnMediaFormat, "no common codec")
	}
	// Format parameters describe what the receiver accepts; the receiver
	// behind us is the one that answered.
	own.Fmtp = chosen.Fmtp
	formats := []Format{own}
	if !own.isComfortNoise() {
		for _, cn := range offer.Formats {
			if cn.isComfortNoise() && cn.ClockRate == own.ClockRate {
				if _, ok := reply.Lookup(cn); ok {
					formats = append(formats, cn)
				}
				break
			}
		}
	}
	lines := offer.lines
	if lines == nil {
		lines = []mLine{{media: "audio", proto: offer.proto}}
	}
	d, r := offer.effectiveDirection(), reply.effectiveDirection()
	m := &Media{
		Addr:    relay,
		Formats: formats,
		Ptime:   reply.Ptime,
		// We send what the other leg sends, if this leg's offerer wants
		// it; we receive what this leg's offerer sends, if the other leg
		// wants it.
		Direction: directionOf(r.Sends() && d.Receives(), r.Receives() && d.Sends()),
		proto:     offer.proto,
		lines:     lines,
		index:     offer.index,
	}
	if events {
		if ev, ok := eventFor(offer.events, own.ClockRate); ok {
			if list := dtmfEventList(ev.Fmtp); list != "" {
				ev.Fmtp = list
				m.Event = &ev
			}
		}
	}
	if err := m.check(); err != nil {
		// Only a peer that numbered two things alike gets here.
		return nil, badSDP(WarnMediaFormat, "payload types clash")
	}
	return m, nil
}

// dtmfEventList returns the DTMF keys (events 0–15, RFC 4733 §3.2) among
// those of a telephone-event fmtp list ("0-15", "0-16", "0-11,12,13"; RFC
// 4733 §7.1.1), written as ranges, or "" when it has none. An empty or
// unreadable list is taken as 0–15, what RFC 2833 endpoints mean by it.
func dtmfEventList(fmtp string) string {
	var keys [16]bool
	found := false
	for item := range strings.SplitSeq(fmtp, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		loS, hiS, isRange := strings.Cut(item, "-")
		lo, err1 := strconv.ParseUint(strings.TrimSpace(loS), 10, 8)
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.ParseUint(strings.TrimSpace(hiS), 10, 8)
		}
		if err1 != nil || err2 != nil || hi < lo {
			return dtmfEvents
		}
		found = true
		for e := lo; e <= min(hi, 15); e++ {
			keys[e] = true
		}
	}
	if !found {
		return dtmfEvents
	}
	var parts []string
	for i := 0; i < 16; {
		if !keys[i] {
			i++
			continue
		}
		j := i
		for j+1 < 16 && keys[j+1] {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(i))
		} else {
			parts = append(parts, strconv.Itoa(i)+"-"+strconv.Itoa(j))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// Change says how an SDP differs from the previous one of the same side
// (a re-INVITE, RFC 3264 §8), for the relay to follow.
type Change struct {
	// Addr: the peer now receives at a different address or port (RFC
	// 3264 §8.3.1); send there. An RFC 2543 hold (unspecified address)
	// is reported as Hold, not as a new address.
	Addr bool
	// Hold: the peer started or stopped asking for no media (Hold).
	Hold bool
	// Direction: the media direction changed.
	Direction bool
	// Formats: the audio formats or telephone-event changed (a codec
	// change re-configures the pipeline).
	Formats bool
}

// Any reports whether anything changed.
func (c Change) Any() bool { return c.Addr || c.Hold || c.Direction || c.Formats }

// Compare returns what changed from prev to next, two SDPs of the same
// side. A nil prev counts as a first SDP: everything next has is new.
func Compare(prev, next *Media) Change {
	if next == nil {
		return Change{}
	}
	if prev == nil {
		prev = &Media{}
	}
	return Change{
		Addr:      !next.Addr.Addr().IsUnspecified() && next.Addr != prev.Addr,
		Hold:      next.Hold != prev.Hold,
		Direction: next.Direction != prev.Direction,
		Formats:   !slices.Equal(next.Formats, prev.Formats) || !sameEvent(next.Event, prev.Event),
	}
}

func sameEvent(a, b *Format) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
