package sip

import (
	"context"
	"errors"
	"fmt"

	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/call"
	"dtmfgw/sip/sdp"
)

// contentTypeSDP is the body type of every offer and answer.
var contentTypeSDP = sipmsg.ContentTypeHeader("application/sdp")

// agentInvite builds the INVITE toward the agent target for the caller's
// INVITE req: a new dialog (its own Call-ID and tags, RFC 3261 §8.1.1)
// whose From carries the caller's identity, our offer anchored on the
// agent-facing relay socket, and the correlation headers the contact
// centre sent, copied only if valid.
func (br *bridge) agentInvite(req *sipmsg.Request) (*sipmsg.Request, error) {
	br.mu.Lock()
	defer br.mu.Unlock()
	var body []byte
	if br.callerOffer != nil {
		// A late offer (no SDP from the caller) goes on without one: the
		// agent offers in its 200 (runLateOffer).
		offer, err := sdp.OfferToAgent(br.callerOffer, br.call.AgentMediaAddr(), sdp.AgentOptions{})
		if err != nil {
			return nil, err
		}
		if body, err = br.agentOrigin.Marshal(offer); err != nil {
			return nil, err
		}
		br.agentOffer = offer
	}

	target := br.route.Target
	out := sipmsg.NewRequest(sipmsg.INVITE, target)
	from := sipmsg.FromHeader{
		Address: sipmsg.Uri{Scheme: "sip", User: br.corr.Caller, Host: br.b.dialogs.ContactHDR.Address.Host},
		Params:  sipmsg.NewParams(),
	}
	if f := req.From(); f != nil && ValidateHeaderValue("From", f.DisplayName) == nil {
		from.DisplayName = f.DisplayName
	}
	if from.Address.User == "" {
		from.Address.User = "anonymous"
	}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	out.AppendHeader(&from)
	to := sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}}
	out.AppendHeader(&to)
	// The contact centre's correlation headers travel to the agent side
	// (so its platform can match the legs); the override header does not.
	for _, name := range []string{br.conf.Headers.AgentID, br.conf.Headers.PrimaryCallID, br.conf.Headers.SecondaryCallID, br.conf.Headers.Direction} {
		if name == "" {
			continue
		}
		if _, err := CopyHeader(out, req, name); err != nil {
			br.log.Info("correlation header not copied", "err", err)
		}
	}
	out.AppendHeader(sipmsg.NewHeader("User-Agent", userAgent))
	if body != nil {
		ct := contentTypeSDP
		out.AppendHeader(&ct)
	}
	out.SetBody(body)
	return out, nil
}

// onAgentResponse passes the agent's provisional responses on to the
// caller: 180 as 180, and a 183 with SDP as early media (RFC 3960): the
// media starts, through the masking path, before the answer.
func (br *bridge) onAgentResponse(res *sipmsg.Response) error {
	br.agentPeer.learn(res)
	br.ringMu.Lock()
	defer br.ringMu.Unlock()
	if br.abandoned {
		return nil // the caller has its final answer; the agent is being cancelled
	}
	switch {
	case res.StatusCode == 100 || !res.IsProvisional():
		return nil
	case len(res.Body()) > 0 && br.callerOffer == nil:
		// Early media needs an offer from the caller to answer; with a
		// late offer the agent's SDP waits for its 200.
		return br.in.Respond(183, "Session Progress", nil)
	case len(res.Body()) > 0:
		answer, err := br.answerCaller(res)
		if err != nil {
			br.log.Info("early media SDP unusable; ringing on", "err", err)
			return br.in.Respond(180, "Ringing", nil)
		}
		return br.in.Respond(183, "Session Progress", answer, &contentTypeSDP)
	default:
		reason := res.Reason
		if ValidateHeaderValue("Reason-Phrase", reason) != nil {
			reason = ""
		}
		if reason == "" {
			reason = "Ringing"
		}
		return br.in.Respond(res.StatusCode, reason, nil)
	}
}

// answerCaller takes the agent's answer (in a 183 or the 200), points the
// agent leg at it, and returns our answer to the caller's offer, with the
// media started. A second answer (the 200 after an early 183) is taken
// again: the agent may answer differently (RFC 3261 §13.2.1 allows the
// same answer only, but peers differ).
func (br *bridge) answerCaller(res *sipmsg.Response) ([]byte, error) {
	br.mu.Lock()
	defer br.mu.Unlock()
	agentAnswer, err := sdp.Parse(res.Body())
	if err != nil {
		return nil, err
	}
	answer, err := sdp.AnswerToCaller(br.callerOffer, br.agentOffer, agentAnswer, br.call.CallerMediaAddr())
	if err != nil {
		return nil, err
	}
	if err := br.applyMedia(br.callerOffer, answer, agentAnswer, agentAnswer); err != nil {
		return nil, err
	}
	body, err := br.callerOrigin.Marshal(answer)
	if err != nil {
		return nil, err
	}
	br.agentAnswer, br.callerAnswer = agentAnswer, answer
	return body, nil
}

// applyMedia tells the call where each peer receives and what it sends,
// and starts the media the first time. For each leg it takes the peer's
// SDP (its address, hold state and payload numbering) and the answer of
// that leg's last exchange (which selects the codec, and whether events
// were agreed): ours when the peer offered, the peer's when we did.
func (br *bridge) applyMedia(callerPeer, callerAnswer, agentPeer, agentAnswer *sdp.Media) error {
	cp, err := mediaParams(callerPeer, callerAnswer)
	if err != nil {
		return err
	}
	ap, err := mediaParams(agentPeer, agentAnswer)
	if err != nil {
		return err
	}
	if err := br.call.SetCallerMedia(cp); err != nil {
		return err
	}
	if err := br.call.SetAgentMedia(ap); err != nil {
		return err
	}
	if !br.mediaStarted {
		if err := br.call.Start(); err != nil {
			return err
		}
		br.mediaStarted = true
	}
	return nil
}

// mediaParams is what one leg's media needs: the peer's address and hold
// from the peer's SDP; the codec the answer selected (its first format,
// RFC 3264 §6.1), in the peer's own numbering; and the peer's
// telephone-event type if the answer kept events.
func mediaParams(peer, answer *sdp.Media) (call.MediaParams, error) {
	chosen, ok := answer.Audio()
	if !ok {
		return call.MediaParams{}, errors.New("sip: no audio format")
	}
	if f, ok := peer.Lookup(chosen); ok {
		chosen = f
	}
	p := call.MediaParams{Remote: peer.Addr, AudioPT: chosen.PT, Hold: peer.Hold}
	if law, ok := chosen.Law(); ok {
		p.Law = law
	}
	if peer.Event != nil && answer.Event != nil {
		p.EventPT = peer.Event.PT
		p.EventClockRate = uint32(peer.Event.ClockRate)
	}
	return p, nil
}

// reinvite follows a re-INVITE from one side (hold, unhold, a new
// address, RFC 3264 §8): the new offer goes on to the other side as our
// offer, its answer comes back as our answer, and the call's media
// follows. Glare (a re-INVITE of ours in progress) gets 491. The final
// response leaves after the offer/answer is released: a peer may send its
// next re-INVITE as soon as it has our 200, and no INVITE of ours is in
// progress then (RFC 3261 §14.2).
func (br *bridge) reinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction, fromCaller bool) {
	if !br.mu.TryLock() {
		br.b.respond(req, tx, 491, "Request Pending")
		return
	}
	res := br.followReinvite(req, tx, fromCaller)
	br.mu.Unlock()
	if err := tx.Respond(res); err != nil {
		br.log.Debug("re-INVITE answer not sent", "status", res.StatusCode, "err", err)
	}
}

// followReinvite does reinvite's offer/answer and returns the final
// response to send. Called with mu held.
func (br *bridge) followReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction, fromCaller bool) *sipmsg.Response {
	if br.out == nil || br.out.InviteResponse == nil || !br.out.InviteResponse.IsSuccess() {
		return response(req, 491, "Request Pending")
	}
	var err error
	if fromCaller {
		err = br.in.ReadRequest(req, tx)
	} else {
		err = br.out.ReadRequest(req, tx)
	}
	if err != nil {
		return response(req, 500, "Server Internal Error", sipmsg.NewHeader("Retry-After", "1"))
	}
	if len(req.Body()) == 0 {
		// No offer: we offer what we offered that side last, unchanged,
		// and take its answer in the ACK as agreeing (RFC 3261 §14.2).
		body, err := br.lastOfferTo(fromCaller)
		if err != nil {
			return response(req, 500, "Server Internal Error")
		}
		return br.sdpResponse(req, body)
	}
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		code, text := sdp.WarnMisc, "unusable SDP"
		var se *sdp.Error
		if errors.As(err, &se) {
			code, text = se.Code, se.Text
		}
		return response(req, 488, "Not Acceptable Here", warning(code, text))
	}
	var body []byte
	if fromCaller {
		body, err = br.callerReoffer(offer)
	} else {
		body, err = br.agentReoffer(offer)
	}
	if err != nil {
		var se *sdp.Error
		if errors.As(err, &se) {
			return response(req, 488, "Not Acceptable Here", warning(se.Code, se.Text))
		}
		var rejected *reofferRejected
		if errors.As(err, &rejected) {
			return response(req, rejected.code, "Not Acceptable Here")
		}
		br.log.Warn("re-INVITE failed", "err", err)
		return response(req, 500, "Server Internal Error")
	}
	br.log.Info("re-INVITE followed", "from_caller", fromCaller, "caller_hold", br.callerOffer.Hold)
	return br.sdpResponse(req, body)
}

// sdpResponse is the 200 with an SDP body that answers a re-INVITE. The
// ACK arrives through onAck.
func (br *bridge) sdpResponse(req *sipmsg.Request, body []byte) *sipmsg.Response {
	res := sipmsg.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(sipmsg.HeaderClone(&br.b.dialogs.ContactHDR))
	return res
}

// lastOfferTo returns the SDP we last sent to one side, as an offer.
func (br *bridge) lastOfferTo(caller bool) ([]byte, error) {
	if caller {
		if br.callerAnswer == nil {
			return nil, errors.New("sip: no SDP sent to the caller yet")
		}
		return br.callerOrigin.Marshal(br.callerAnswer)
	}
	return br.agentOrigin.Marshal(br.agentOffer)
}

// reofferRejected is the other side's non-2xx to a re-INVITE we passed on.
type reofferRejected struct{ code int }

func (e *reofferRejected) Error() string { return fmt.Sprintf("re-INVITE answered %d", e.code) }

// callerReoffer passes the caller's new offer to the agent and returns our
// answer to the caller. Called with mu held.
func (br *bridge) callerReoffer(offer *sdp.Media) ([]byte, error) {
	agentOffer, err := sdp.OfferToAgent(offer, br.call.AgentMediaAddr(), sdp.AgentOptions{})
	if err != nil {
		return nil, err
	}
	agentAnswer, err := br.reoffer(false, agentOffer)
	if err != nil {
		return nil, err
	}
	answer, err := sdp.AnswerToCaller(offer, agentOffer, agentAnswer, br.call.CallerMediaAddr())
	if err != nil {
		return nil, err
	}
	if err := br.applyMedia(offer, answer, agentAnswer, agentAnswer); err != nil {
		return nil, err
	}
	br.callerOffer, br.callerAnswer, br.agentOffer, br.agentAnswer = offer, answer, agentOffer, agentAnswer
	return br.callerOrigin.Marshal(answer)
}

// agentReoffer passes the agent's new offer to the caller and returns our
// answer to the agent. Called with mu held.
func (br *bridge) agentReoffer(offer *sdp.Media) ([]byte, error) {
	var eventPT uint8
	if br.callerOffer != nil && br.callerOffer.Event != nil {
		eventPT = br.callerOffer.Event.PT
	}
	callerOffer, err := sdp.OfferToCaller(offer, br.call.CallerMediaAddr(), eventPT)
	if err != nil {
		return nil, err
	}
	callerAnswer, err := br.reoffer(true, callerOffer)
	if err != nil {
		return nil, err
	}
	answer, err := sdp.AnswerToAgent(offer, callerOffer, callerAnswer, br.call.AgentMediaAddr(), sdp.AgentOptions{})
	if err != nil {
		return nil, err
	}
	if err := br.applyMedia(callerAnswer, callerAnswer, offer, answer); err != nil {
		return nil, err
	}
	// The caller leg's "offer" is now its answer: what it sends and where.
	br.callerOffer, br.callerAnswer, br.agentOffer, br.agentAnswer = callerAnswer, callerOffer, answer, offer
	return br.agentOrigin.Marshal(answer)
}

// reoffer sends our offer to one side (the caller's when toCaller) in a
// re-INVITE and returns that side's answer.
func (br *bridge) reoffer(toCaller bool, offer *sdp.Media) (*sdp.Media, error) {
	origin := &br.agentOrigin
	if toCaller {
		origin = &br.callerOrigin
	}
	body, err := origin.Marshal(offer)
	if err != nil {
		return nil, err
	}
	res, err := br.sendReinvite(toCaller, body)
	if err != nil {
		return nil, err
	}
	return sdp.Parse(res.Body())
}

// sendReinvite sends a re-INVITE with body on one leg, ACKs its 2xx (RFC
// 3261 §13.2.2.4) and returns it.
func (br *bridge) sendReinvite(toCaller bool, body []byte) (*sipmsg.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	// The leg's dialog, the peer's Contact (RFC 3261 §12.2.1.1) and the
	// dialog's transport: in-dialog requests keep the transport sipgo
	// set from the INVITE, and so must our choice of socket.
	var dialog interface {
		Do(context.Context, *sipmsg.Request) (*sipmsg.Response, error)
		WriteRequest(*sipmsg.Request) error
	}
	var target sipmsg.Uri
	var transport string
	if toCaller {
		dialog, target, transport = br.in, br.in.InviteRequest.Contact().Address, br.in.InviteRequest.Transport()
	} else {
		dialog, target, transport = br.out, br.out.InviteResponse.Contact().Address, br.out.InviteRequest.Transport()
	}
	req := sipmsg.NewRequest(sipmsg.INVITE, *target.Clone())
	ct := contentTypeSDP
	req.AppendHeader(&ct)
	req.SetBody(body)
	req.SetTransport(transport)
	br.b.fromListener(req)
	res, err := dialog.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, &reofferRejected{code: mapAgentFailure(res.StatusCode)}
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, *target.Clone())
	ack.SetBody(nil)
	ack.SetTransport(req.Transport())
	br.b.fromListener(ack)
	if err := dialog.WriteRequest(ack); err != nil {
		br.log.Debug("ACK of the re-INVITE not sent", "err", err)
	}
	return res, nil
}

// offerCaller takes the agent's offer from its 200 (a late offer) and
// returns ours to the caller: its formats at the caller-facing relay
// address, always with telephone-event.
func (br *bridge) offerCaller(res *sipmsg.Response) ([]byte, error) {
	br.mu.Lock()
	defer br.mu.Unlock()
	agentOffer, err := sdp.Parse(res.Body())
	if err != nil {
		return nil, err
	}
	offer, err := sdp.OfferToCaller(agentOffer, br.call.CallerMediaAddr(), 0)
	if err != nil {
		return nil, err
	}
	body, err := br.callerOrigin.Marshal(offer)
	if err != nil {
		return nil, err
	}
	// The agent's SDP plays the answer's part on its leg (where it
	// receives, what it sends), ours the offer's on the caller's.
	br.agentAnswer, br.callerAnswer = agentOffer, offer
	return body, nil
}

// answerAgent takes the caller's answer from its ACK, points both legs'
// media at what was agreed, starts it, and returns our answer to the
// agent's offer for the agent's ACK.
func (br *bridge) answerAgent(ackBody *[]byte) ([]byte, error) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if ackBody == nil {
		return nil, errors.New("sip: the caller's ACK carried no answer")
	}
	callerAnswer, err := sdp.Parse(*ackBody)
	if err != nil {
		return nil, err
	}
	agentOffer, ourOffer := br.agentAnswer, br.callerAnswer
	answer, err := sdp.AnswerToAgent(agentOffer, ourOffer, callerAnswer, br.call.AgentMediaAddr(), sdp.AgentOptions{})
	if err != nil {
		return nil, err
	}
	if err := br.applyMedia(callerAnswer, callerAnswer, agentOffer, answer); err != nil {
		return nil, err
	}
	body, err := br.agentOrigin.Marshal(answer)
	if err != nil {
		return nil, err
	}
	// From now on the caller's SDP is its answer, the agent's its offer,
	// as after an agent re-INVITE (agentReoffer).
	br.callerOffer, br.callerAnswer, br.agentOffer, br.agentAnswer = callerAnswer, ourOffer, answer, agentOffer
	return body, nil
}
