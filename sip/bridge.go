package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/sip/sdp"
)

// requestTimeout bounds an in-dialog request we send (re-INVITE, BYE):
// the 64·T1 of a non-INVITE transaction (RFC 3261 §17.1.2.2).
const requestTimeout = 32 * time.Second

// bridge is one call: the caller's dialog (we are its UAS), the agent's
// (we are its UAC) and the call.Call carrying the media between them.
// The goroutine of the caller's INVITE runs it (run) from the first
// response to the last BYE; handlers of in-dialog requests reach it
// through the B2BUA's Call-ID maps.
type bridge struct {
	b *B2BUA
	// conf is the configuration the call started with (B2BUA.Reload
	// does not change a call in progress).
	conf  *Config
	acl   *ACL // conf's
	call  *call.Call
	in    *sipgo.DialogServerSession
	out   *sipgo.DialogClientSession
	route Route
	corr  Correlation
	log   *slog.Logger

	inCallID, outCallID string
	// callerPeer and agentPeer are who may send requests in each dialog
	// (B2BUA.admit): callerPeer is set before the bridge is registered,
	// agentPeer before the agent's Call-ID is.
	callerPeer, agentPeer *legPeer
	// invited is when the caller's INVITE arrived, for the setup time.
	invited time.Time

	// mu serialises offer/answer: the first one, early media and
	// re-INVITEs from either side. A re-INVITE that finds it taken gets
	// 491 (RFC 3261 §14.2).
	mu sync.Mutex
	// The last offer/answer of each leg. Ours are kept as sent; the
	// Origins keep our o= lines per leg (RFC 3264 §8).
	callerOffer  *sdp.Media // the caller's last offer
	callerAnswer *sdp.Media // our last answer to it
	agentOffer   *sdp.Media // our last offer to the agent
	agentAnswer  *sdp.Media // the agent's answer to it
	callerOrigin sdp.Origin
	agentOrigin  sdp.Origin
	mediaStarted bool
	// ringMu orders the agent's provisional responses (onAgentResponse)
	// against the ring ending (waitAgent): once abandoned is set, none is
	// passed on to the caller.
	ringMu    sync.Mutex
	abandoned bool
	// ackBody is the body of the caller's ACK (onAck): its answer when
	// its INVITE came without an offer and ours went in the 200.
	ackBody atomic.Pointer[[]byte]

	// hangup is set once by whoever ends the call, so that run sends the
	// BYEs the other side needs.
	hangupOnce sync.Once
	hangup     chan struct{}
	byCaller   bool // the caller's BYE ended the call
	byAgent    bool // the agent's BYE ended the call
}

// run sets up the agent leg and relays the call until one side hangs up.
func (br *bridge) run(req *sipmsg.Request) {
	b := br.b
	reason := call.EndError
	defer func() { br.call.End(reason) }()

	if err := br.in.Respond(100, "Trying", nil); err != nil {
		reason = call.EndCallerCancel
		return
	}
	outReq, err := br.agentInvite(req)
	if err != nil {
		br.log.Error("agent INVITE not built", "err", err)
		br.fail(500, "Server Internal Error")
		return
	}
	b.fromListener(outReq)
	ringCtx, cancelRing := context.WithTimeoutCause(context.Background(), br.conf.RingTimeout, errRingTimeout)
	defer cancelRing()
	out, err := b.dialogs.WriteInvite(ringCtx, outReq)
	if err != nil {
		br.log.Warn("agent INVITE not sent", "err", err, "target", br.route.Target.String())
		br.fail(503, "Service Unavailable")
		return
	}
	br.out = out
	br.outCallID = outReq.CallID().Value()
	br.agentPeer = newAgentPeer(outReq, br.route.Target)
	b.registerOutbound(br, br.outCallID)
	br.call.UpdateCorrelation(func(c *call.Correlation) { c.OutboundCallID = br.outCallID })

	// The caller's CANCEL ends its dialog's context: stop ringing the
	// agent (WaitAnswer sends the CANCEL, RFC 3261 §9.1).
	callerGone := context.AfterFunc(br.in.Context(), func() { cancelRing() })
	defer callerGone()
	stopOnShutdown := context.AfterFunc(b.stopCtx, func() { cancelRing() })
	defer stopOnShutdown()

	abandoned, err := br.waitAgent(ringCtx)
	if abandoned {
		// The agent's INVITE is being cancelled in the background, which
		// closes its dialog; the caller is answered and the call's media
		// released now.
		reason = br.ringEnded(ringCtx)
		return
	}
	defer out.Close()
	if err != nil {
		reason = br.ringFailed(ringCtx, err)
		return
	}
	if br.callerOffer == nil {
		reason = br.runLateOffer()
		return
	}
	// The agent answered. If the caller cancelled meanwhile, the agent's
	// dialog must still be confirmed and then ended (RFC 3261 §15).
	if err := out.Ack(context.Background()); err != nil {
		br.log.Warn("ACK to the agent not sent", "err", err)
	}
	if br.in.Context().Err() != nil {
		br.byeAgent()
		reason = call.EndCallerCancel
		return
	}
	answer, err := br.answerCaller(out.InviteResponse)
	if err != nil {
		br.log.Warn("agent answer unusable", "err", err)
		br.byeAgent()
		br.fail(502, "Bad Gateway")
		return
	}
	br.call.MarkAnswered()
	b.stats.Bridged.Add(1)
	// RespondSDP retransmits the 200 until the caller's ACK (RFC 3261
	// §13.3.1.4), which onAck hands to the dialog.
	// RespondSDP returns once the caller ACKs: the setup time is taken
	// as the 200 goes out.
	br.noteSetup()
	if err := br.in.RespondSDP(answer); err != nil {
		select {
		case <-br.hangup:
			// A BYE overtook the ACK (sipgo handles requests
			// concurrently): the call was answered and is now over.
			reason = br.wait()
			return
		default:
		}
		br.log.Info("caller did not take the answer", "err", err)
		br.byeAgent()
		if br.in.Context().Err() != nil {
			reason = call.EndCallerCancel
			return
		}
		br.byeCaller()
		return
	}
	br.log.Info("call bridged", "target", br.route.Target.String(), "route", br.route.Source.String())
	reason = br.wait()
}

// runLateOffer completes a call whose INVITE came without SDP (RFC 3261
// §13.2.1): the agent offered in its 200, we offer the caller the same in
// ours (anchored on our relay, with telephone-event so the caller's keys
// come as RFC 4733), the caller answers in its ACK, and our answer to the
// agent goes in the agent's ACK. It returns why the call ended.
func (br *bridge) runLateOffer() call.EndReason {
	offer, err := br.offerCaller(br.out.InviteResponse)
	if err != nil {
		br.log.Warn("agent offer unusable", "err", err)
		br.ackAgent(nil)
		br.byeAgent()
		br.fail(502, "Bad Gateway")
		return call.EndError
	}
	if br.in.Context().Err() != nil {
		br.ackAgent(nil)
		br.byeAgent()
		return call.EndCallerCancel
	}
	br.call.MarkAnswered()
	br.b.stats.Bridged.Add(1)
	br.noteSetup()
	if err := br.in.RespondSDP(offer); err != nil {
		br.ackAgent(nil)
		select {
		case <-br.hangup:
			return br.wait()
		default:
		}
		br.log.Info("caller did not take the offer", "err", err)
		br.byeAgent()
		if br.in.Context().Err() != nil {
			return call.EndCallerCancel
		}
		br.byeCaller()
		return call.EndError
	}
	answer, err := br.answerAgent(br.ackBody.Load())
	if err != nil {
		br.log.Warn("caller answer unusable", "err", err)
		br.ackAgent(nil)
		br.byeAgent()
		br.byeCaller()
		return call.EndError
	}
	br.ackAgent(answer)
	br.log.Info("call bridged (late offer)", "target", br.route.Target.String(), "route", br.route.Source.String())
	return br.wait()
}

// ackAgent sends the ACK of the agent's 2xx, with body as our answer
// when it offered (RFC 3261 §13.2.2.4); retransmitted 2xx are ACKed again.
func (br *bridge) ackAgent(body []byte) {
	res := br.out.InviteResponse
	if body == nil || res.Contact() == nil {
		if err := br.out.Ack(context.Background()); err != nil {
			br.log.Warn("ACK to the agent not sent", "err", err)
		}
		return
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, *res.Contact().Address.Clone())
	ct := contentTypeSDP
	ack.AppendHeader(&ct)
	ack.SetBody(body)
	br.b.fromListener(ack)
	if err := br.out.WriteAck(context.Background(), ack); err != nil {
		br.log.Warn("ACK to the agent not sent", "err", err)
	}
}

// waitAgent waits for the agent's final answer to our INVITE, or for the
// ring to end first (the caller's CANCEL, the ring timeout, shutdown). An
// answer returns its error, or nil for a 2xx. A ring that ends first
// returns at once with abandoned set: the agent's INVITE is cancelled in
// the background (cancelAgent), and nothing the agent sends from then on
// reaches the caller or the call.
//
// The agent's transaction must not hold the call: a CANCEL may only follow
// a provisional response, so an agent that sent none holds it up to 64·T1
// (Timer B), and one that never answers the CANCEL another 64·T1 (RFC 3261
// §9.1) — 32 s in which the call's ports, its gauge and the drain would
// wait for nothing.
func (br *bridge) waitAgent(ringCtx context.Context) (abandoned bool, err error) {
	answered := make(chan error, 1)
	go func() {
		answered <- noPanic(func() error {
			return br.out.WaitAnswer(ringCtx, sipgo.AnswerOptions{OnResponse: br.onAgentResponse})
		})
	}()
	select {
	case err := <-answered:
		return false, err
	case <-ringCtx.Done():
	}
	br.ringMu.Lock()
	select {
	case err := <-answered: // it answered as the ring ended
		br.ringMu.Unlock()
		return false, err
	default:
	}
	br.abandoned = true
	br.ringMu.Unlock()
	go br.cancelAgent(br.out, answered)
	return true, nil
}

// errLibraryPanic is what noPanic returns for a panic.
var errLibraryPanic = errors.New("sip: the SIP library panicked")

// noPanic runs f and turns a panic into an error. The agent's INVITE is
// waited on, and cancelled when the ring ends, inside the SIP library, on a
// goroutine of its own: sipgo v1.7.3 dereferences a nil response when the
// INVITE's transaction ends while it sends the CANCEL
// (DialogClientSession.inviteCancel), which must end that call, not every
// call of the process.
func noPanic(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", errLibraryPanic, v)
		}
	}()
	return f()
}

// cancelAgent finishes an abandoned agent INVITE: WaitAnswer, whose
// context has ended, sends the CANCEL and waits (bounded by 64·T1) for the
// INVITE's final response; a 2xx that crossed the CANCEL is ACKed and
// hung up (RFC 3261 §15). It runs on its own goroutine and touches
// nothing of the bridge but the agent's dialog, which it closes.
func (br *bridge) cancelAgent(out *sipgo.DialogClientSession, answered <-chan error) {
	defer out.Close()
	if err := <-answered; errors.Is(err, errLibraryPanic) {
		br.log.Warn("cancelling the agent's INVITE failed", "err", err)
	}
	res := out.InviteResponse
	if res == nil || !res.IsSuccess() {
		return
	}
	if err := out.Ack(context.Background()); err != nil {
		br.log.Debug("ACK to the late 200 not sent", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := out.Bye(ctx); err != nil {
		br.log.Debug("BYE to the late 200 failed", "err", err)
	}
}

// ringEnded answers the caller after the ring ended before the agent
// answered (waitAgent abandoned the agent's INVITE), and returns why the
// call ended.
func (br *bridge) ringEnded(ringCtx context.Context) call.EndReason {
	switch {
	case br.in.Context().Err() != nil:
		// The transaction layer has answered the CANCEL with 200 and the
		// INVITE with 487.
		br.log.Info("caller cancelled while ringing")
		return call.EndCallerCancel
	case context.Cause(ringCtx) == errRingTimeout:
		br.log.Info("agent did not answer in time", "ring_timeout", br.conf.RingTimeout.String())
		br.fail(480, "Temporarily Unavailable")
		return call.EndRingTimeout
	default: // shutdown
		br.fail(503, "Service Unavailable")
		return call.EndShutdown
	}
}

// errRingTimeout is the cause of a ring context that timed out.
var errRingTimeout = errors.New("ring timeout")

// ringFailed answers the caller after the agent leg failed before an
// answer, and returns why the call ended.
func (br *bridge) ringFailed(ringCtx context.Context, err error) call.EndReason {
	var rejected *sipgo.ErrDialogResponse
	switch {
	case br.in.Context().Err() != nil:
		// The transaction layer has answered the CANCEL with 200 and the
		// INVITE with 487.
		br.log.Info("caller cancelled while ringing")
		br.byeAgentIfAnswered()
		return call.EndCallerCancel
	case errors.As(err, &rejected):
		code := rejected.Res.StatusCode
		br.log.Info("agent refused the call", "status", code)
		br.fail(mapAgentFailure(code), rejected.Res.Reason)
		return call.EndAgentRejected
	case context.Cause(ringCtx) == errRingTimeout:
		br.log.Info("agent did not answer in time", "ring_timeout", br.conf.RingTimeout.String())
		br.byeAgentIfAnswered()
		br.fail(480, "Temporarily Unavailable")
		return call.EndRingTimeout
	case br.b.draining.Load():
		br.byeAgentIfAnswered()
		br.fail(503, "Service Unavailable")
		return call.EndShutdown
	}
	br.log.Warn("agent leg failed", "err", err)
	br.fail(502, "Bad Gateway")
	return call.EndError
}

// mapAgentFailure maps the agent's final non-2xx status to the one the
// caller gets: the agent's own class and code, except those that speak of
// the agent leg's own signalling (401/407: we hold no credentials; 408:
// our transaction; 481, 482, 483: that dialog), which become 480/500.
func mapAgentFailure(code int) int {
	switch code {
	case 401, 407:
		return 403
	case 408:
		return 480
	case 481, 482, 483:
		return 500
	}
	if code < 300 || code > 699 {
		return 500
	}
	return code
}

// fail sends a final failure to the caller (ignored once it has one).
func (br *bridge) fail(code int, reason string) {
	if reason == "" || strings.ContainsAny(reason, "\r\n\x00") {
		reason = "Failed"
	}
	if err := br.in.Respond(code, reason, nil); err != nil {
		br.log.Debug("final response to the caller not sent", "status", code, "err", err)
	}
}

// byeAgentIfAnswered ends an agent dialog that answered after we gave up
// on it (the CANCEL/200 race, RFC 3261 §9.1): ACK, then BYE.
func (br *bridge) byeAgentIfAnswered() {
	res := br.out.InviteResponse
	if res == nil || !res.IsSuccess() {
		return
	}
	if err := br.out.Ack(context.Background()); err != nil {
		br.log.Debug("ACK to the late 200 not sent", "err", err)
	}
	br.byeAgent()
}

// byeAgent hangs up the agent leg.
func (br *bridge) byeAgent() {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := br.out.Bye(ctx); err != nil {
		br.log.Debug("BYE to the agent failed", "err", err)
	}
}

// byeCaller hangs up the caller leg.
func (br *bridge) byeCaller() {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := br.in.Bye(ctx); err != nil {
		br.log.Debug("BYE to the caller failed", "err", err)
	}
}

// wait relays until a BYE from either side, the media timing out, or the
// drain ending, then hangs up the side that is still up.
func (br *bridge) wait() call.EndReason {
	select {
	case <-br.hangup:
		if br.byCaller {
			br.byeAgent()
			return call.EndCallerHangup
		}
		br.byeCaller()
		return call.EndAgentHangup
	case <-br.call.Done():
		reason := br.call.EndReason()
		br.log.Info("media ended the call", "reason", reason.String())
		br.byeAgent()
		br.byeCaller()
		return reason
	case <-br.b.stop:
		br.byeAgent()
		br.byeCaller()
		return call.EndShutdown
	}
}

// bye answers a BYE from one side and has run hang up the other.
func (br *bridge) bye(req *sipmsg.Request, tx sipmsg.ServerTransaction, fromCaller bool) {
	var err error
	if fromCaller {
		err = br.in.ReadBye(req, tx)
	} else if br.out != nil {
		err = br.out.ReadBye(req, tx)
	} else {
		br.b.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	if err != nil {
		br.b.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	br.hangupOnce.Do(func() {
		br.byCaller, br.byAgent = fromCaller, !fromCaller
		close(br.hangup)
	})
}

// info takes a SIP INFO in the call. A caller's DTMF INFO is captured and
// answered 200, never forwarded; other INFO bodies are answered 200 and
// dropped (nothing the caller sends in signalling reaches the agent); an
// INFO from the agent is answered 200 and dropped too.
func (br *bridge) info(req *sipmsg.Request, tx sipmsg.ServerTransaction, fromCaller bool) {
	at := br.b.now()
	if !fromCaller {
		br.b.respond(req, tx, 200, "OK")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	key, dur, err := dtmf.ParseSIPInfo(ct, req.Body())
	switch {
	case err == nil:
		br.call.SIPInfoDigit(key, dur, at)
		br.b.stats.InfoDigits.Add(1)
		br.b.respond(req, tx, 200, "OK")
	case errors.Is(err, dtmf.ErrUnsupportedContentType):
		br.b.respond(req, tx, 415, "Unsupported Media Type",
			sipmsg.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
	default:
		// The error never holds the body; the log line says only that.
		br.log.Info("SIP INFO DTMF body refused", "err", err)
		br.b.respond(req, tx, 400, "Bad Request")
	}
}

// noteSetup records the call's setup time: from the caller's INVITE to
// our 200 to it, taken as RespondSDP is about to send it.
func (br *bridge) noteSetup() {
	br.b.msgs.setup.Observe(time.Since(br.invited))
}
