package sip

import (
	"net/netip"
	"strconv"

	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/sip/sdp"
)

// respond answers req on tx with a status and no body; headers are
// appended. A failure to send is logged: there is no one else to tell.
func (b *B2BUA) respond(req *sipmsg.Request, tx sipmsg.ServerTransaction, code int, reason string, headers ...sipmsg.Header) {
	if err := tx.Respond(response(req, code, reason, headers...)); err != nil {
		b.log.Debug("SIP response not sent", "method", string(req.Method), "status", code, "err", err)
	}
}

// response builds the answer to req with a status, no body and headers
// appended.
func response(req *sipmsg.Request, code int, reason string, headers ...sipmsg.Header) *sipmsg.Response {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	return res
}

// warning is a Warning header (RFC 3261 §20.43) with our agent name; text
// must already be safe (sdp.Error texts are).
func warning(code int, text string) sipmsg.Header {
	return sipmsg.NewHeader("Warning", strconv.Itoa(code)+" "+userAgent+" \""+text+"\"")
}

// lookup finds the bridge a request's Call-ID belongs to, and which of its
// dialogs: the caller's (inbound) or the agent's. It trusts nothing else
// of the request: admit does.
func (b *B2BUA) lookup(req *sipmsg.Request) (br *bridge, fromCaller bool) {
	cid := req.CallID()
	if cid == nil {
		return nil, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if br := b.inbound[cid.Value()]; br != nil {
		return br, true
	}
	return b.outbound[cid.Value()], false
}

// admit decides whether an in-dialog request may act on the call it
// names, before its handler does anything: the Call-ID finds the call and
// the side (the caller's dialog or the agent's), and the request must then
// come from that side's peer and carry that dialog's tags. Knowing a
// Call-ID is not enough: the agent's form, a recording or a log may show
// one. A refused request is answered (an ACK never is, RFC 3261 §17.2.1),
// counted and logged without its body, and admit returns ok false.
func (b *B2BUA) admit(req *sipmsg.Request, tx sipmsg.ServerTransaction) (br *bridge, fromCaller, ok bool) {
	src, _ := SourceAddr(req)
	br, fromCaller = b.lookup(req)
	if why, refused := b.check(req, src, br, fromCaller); refused {
		b.refuse(req, tx, src, why)
		return nil, false, false
	}
	return br, fromCaller, true
}

// check is admit's decision. The agent's leg is checked against its own
// peer first, as an agent need not be inside sip.acl (which lists who may
// send us calls); anything else must come from inside the ACL, name a
// call, and be that call's caller leg or agent leg, from its peer, with
// its tags.
func (b *B2BUA) check(req *sipmsg.Request, src netip.Addr, br *bridge, fromCaller bool) (Refusal, bool) {
	if br != nil && !fromCaller && br.agentPeer.from(src) {
		if !br.agentPeer.tagsMatch(req) {
			return RefusedWrongTag, true
		}
		return 0, false
	}
	// A call keeps the ACL it started with, as it keeps the rest of its
	// configuration (Reload): closing the ACL refuses new calls, not the
	// BYE of a call in progress.
	acl := b.live.Load().acl
	if br != nil {
		acl = br.acl
	}
	if !acl.Allows(src) {
		return RefusedACL, true
	}
	if br == nil {
		return RefusedNoDialog, true
	}
	// agentPeer is read only for a bridge found by the agent's Call-ID:
	// it is set before that is registered, while the caller's may come
	// first.
	peer := br.callerPeer
	if !fromCaller {
		peer = br.agentPeer
	}
	if !peer.from(src) {
		return RefusedWrongSource, true
	}
	if !peer.tagsMatch(req) {
		return RefusedWrongTag, true
	}
	return 0, false
}

// refuse answers a refused request (not an ACK), counts it and logs it:
// the method, the reason and the source, never a header value or body.
func (b *B2BUA) refuse(req *sipmsg.Request, tx sipmsg.ServerTransaction, src netip.Addr, why Refusal) {
	b.msgs.refuse([]byte(req.Method), why)
	code, text := why.status()
	b.log.Info("SIP request refused", "method", methodName(req.Method), "reason", why.String(), "source", src.String(), "status", code)
	if req.Method == sipmsg.ACK || tx == nil {
		return
	}
	b.respond(req, tx, code, text)
}

// fromACL answers req with 403 and counts it when its source is outside
// sip.acl: for requests that name no call (OPTIONS, a new INVITE, a method
// we do not handle). It reports whether the request may go on.
func (b *B2BUA) fromACL(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	src, _ := SourceAddr(req)
	if b.live.Load().acl.Allows(src) {
		return true
	}
	b.refuse(req, tx, src, RefusedACL)
	return false
}

func (b *B2BUA) register(br *bridge) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.inbound[br.inCallID]; dup {
		return false
	}
	b.inbound[br.inCallID] = br
	return true
}

func (b *B2BUA) registerOutbound(br *bridge, callID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outbound[callID] = br
}

func (b *B2BUA) unregister(br *bridge) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inbound[br.inCallID] == br {
		delete(b.inbound, br.inCallID)
	}
	if br.outCallID != "" && b.outbound[br.outCallID] == br {
		delete(b.outbound, br.outCallID)
	}
}

// onAck passes an ACK for a 2xx to the caller dialog (RFC 3261 §13.3.1.4);
// ACKs for non-2xx are the transaction layer's, and the agent's ACKs to
// our 2xx for its re-INVITEs need nothing.
func (b *B2BUA) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	br, fromCaller, ok := b.admit(req, nil)
	if !ok || !fromCaller {
		return
	}
	if len(req.Body()) > 0 {
		// The caller's answer to our offer, when it sent no offer itself.
		body := req.Body()
		br.ackBody.Store(&body)
	}
	if err := br.in.ReadAck(req, tx); err != nil {
		br.log.Debug("ACK not for the current INVITE", "err", err)
	}
}

// onBye answers a BYE from either side; the bridge then hangs up the
// other one.
func (b *B2BUA) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if br, fromCaller, ok := b.admit(req, tx); ok {
		br.bye(req, tx, fromCaller)
	}
}

// onCancel gets only CANCELs that match no INVITE transaction (sipgo
// answers the others with 200 and the INVITE with 487, once the UDP read
// filter, cancelFilter, has let them through).
func (b *B2BUA) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if b.fromACL(req, tx) {
		src, _ := SourceAddr(req)
		b.refuse(req, tx, src, RefusedNoDialog)
	}
}

// onOptions answers health checks (a Kamailio dispatcher pings with
// OPTIONS): 200 while we take calls, 503 while draining so that the
// dispatcher moves new calls elsewhere.
func (b *B2BUA) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !b.fromACL(req, tx) {
		return
	}
	if b.draining.Load() {
		b.respond(req, tx, 503, "Service Unavailable")
		return
	}
	b.respond(req, tx, 200, "OK",
		sipmsg.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"),
		sipmsg.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
}

// onInfo captures a caller's SIP INFO key press and never forwards it:
// the agent must not learn the digit from signalling either.
func (b *B2BUA) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if br, fromCaller, ok := b.admit(req, tx); ok {
		br.info(req, tx, fromCaller)
	}
}

// onUpdate answers UPDATE (RFC 3311), which carriers send as a session
// refresh (RFC 4028): without a body it is answered 200; an offer in an
// UPDATE is refused with 488, and the peer falls back to re-INVITE.
func (b *B2BUA) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, _, ok := b.admit(req, tx); !ok {
		return
	}
	if len(req.Body()) > 0 {
		b.respond(req, tx, 488, "Not Acceptable Here", warning(sdp.WarnMisc, "offer in UPDATE not supported, use re-INVITE"))
		return
	}
	b.respond(req, tx, 200, "OK")
}

// onOther answers methods we do not handle.
func (b *B2BUA) onOther(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !b.fromACL(req, tx) {
		return
	}
	b.respond(req, tx, 405, "Method Not Allowed", sipmsg.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"))
}
