package sip

import (
	"errors"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/call"
	"dtmfgw/media"
	"dtmfgw/sip/sdp"
)

// onInvite takes a new INVITE, or passes a re-INVITE (a To tag: RFC 3261
// §12.2.2) to its bridge. sipgo tears the transaction down when a handler
// returns, so a new call's handler runs the whole call.
func (b *B2BUA) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	invited := time.Now() // call setup time runs from here (wall clock: a metric)
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			if br, fromCaller, ok := b.admit(req, tx); ok {
				br.reinvite(req, tx, fromCaller)
			}
			return
		}
	}
	live := b.live.Load()
	src, err := SourceAddr(req)
	if err != nil || !live.acl.Allows(src) {
		b.stats.Forbidden.Add(1)
		b.refuse(req, tx, src, RefusedACL)
		return
	}
	if b.draining.Load() {
		b.stats.Unavailable.Add(1)
		b.respond(req, tx, 503, "Service Unavailable", sipmsg.NewHeader("Retry-After", "30"))
		return
	}
	// Everything the agent INVITE copies from this one is checked first.
	if err := checkCopied(req); err != nil {
		b.respond(req, tx, 400, "Bad Request")
		b.log.Warn("INVITE refused: bad header", "err", err, "status", 400)
		return
	}
	// An INVITE without a body is a late offer (RFC 3261 §13.2.1): the
	// agent then offers in its 200, and the caller answers in its ACK.
	var offer *sdp.Media
	if body := req.Body(); len(body) > 0 {
		if offer, err = sdp.Parse(body); err != nil {
			offer = nil
		}
	}
	if len(req.Body()) > 0 && offer == nil {
		b.stats.BadSDP.Add(1)
		code, text := sdp.WarnMisc, "unusable SDP"
		var se *sdp.Error
		if errors.As(err, &se) {
			code, text = se.Code, se.Text
		}
		b.log.Info("INVITE refused: SDP", "reason", text, "status", 488)
		b.respond(req, tx, 488, "Not Acceptable Here", warning(code, text))
		return
	}
	route, err := live.router.Route(req, src)
	if err != nil {
		b.stats.NoRoute.Add(1)
		b.log.Info("INVITE refused: no route", "status", 404)
		b.respond(req, tx, 404, "Not Found")
		return
	}
	corr := Correlate(req, live.cfg.Headers)
	c, err := b.calls.NewCall(callCorrelation(corr))
	if err != nil {
		if errors.Is(err, media.ErrPortsExhausted) {
			b.stats.Unavailable.Add(1)
			b.log.Warn("INVITE refused: no RTP ports left", "status", 503)
			b.respond(req, tx, 503, "Service Unavailable", sipmsg.NewHeader("Retry-After", "5"))
			return
		}
		b.log.Error("INVITE refused: media", "err", err, "status", 500)
		b.respond(req, tx, 500, "Server Internal Error")
		return
	}
	in, err := b.dialogs.ReadInvite(req, tx)
	if err != nil {
		c.End(call.EndError)
		b.respond(req, tx, 400, "Bad Request")
		return
	}
	br := &bridge{
		b:           b,
		invited:     invited,
		callerPeer:  newCallerPeer(in.InviteRequest, src),
		conf:        &live.cfg,
		acl:         live.acl,
		call:        c,
		in:          in,
		inCallID:    req.CallID().Value(),
		callerOffer: offer,
		route:       route,
		corr:        corr,
		hangup:      make(chan struct{}),
		log:         b.log.With(callLogAttrs(c.ID(), corr)...),
	}
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		c.End(call.EndShutdown)
		b.respond(req, tx, 503, "Service Unavailable")
		return
	}
	b.active.Add(1)
	b.mu.Unlock()
	defer b.active.Done()
	if !b.register(br) {
		// A second INVITE with a live Call-ID and no To tag is a loop or a
		// retransmission the transaction layer did not match.
		c.End(call.EndError)
		b.respond(req, tx, 482, "Loop Detected")
		return
	}
	defer b.unregister(br)
	br.run(req)
}

// callLogAttrs are the correlation fields every log line of a call
// carries, so one grep finds the call from the platform's side too: our
// call id, the inbound Call-ID, and the agent id and primary call id when
// the INVITE had them (Correlate has checked them; the process logger's
// redaction layer still masks a long digit run in any of them).
func callLogAttrs(callID string, corr Correlation) []any {
	attrs := []any{"call", callID, "inbound_call_id", corr.CallID}
	if corr.AgentID != "" {
		attrs = append(attrs, "agent_id", corr.AgentID)
	}
	if corr.PrimaryCallID != "" {
		attrs = append(attrs, "primary_call_id", corr.PrimaryCallID)
	}
	return attrs
}

// checkCopied validates the values the agent INVITE is built from that no
// other check covers: the caller's From (its user and display name go to
// the agent). The correlation headers are checked by Correlate and
// CopyHeader, which drop a bad value rather than refuse the call.
func checkCopied(req *sipmsg.Request) error {
	f := req.From()
	if f == nil {
		return &HeaderError{Header: "From", Reason: "missing"}
	}
	if err := ValidateHeaderValue("From", f.Value()); err != nil {
		return err
	}
	return nil
}

// callCorrelation turns what Correlate found into the call's record.
func callCorrelation(c Correlation) call.Correlation {
	d := call.Inbound
	if c.Direction == CallOutbound {
		d = call.Outbound
	}
	return call.Correlation{
		InboundCallID:   c.CallID,
		CallerNumber:    c.Caller,
		CalledNumber:    c.Called,
		Direction:       d,
		AgentID:         c.AgentID,
		PrimaryCallID:   c.PrimaryCallID,
		SecondaryCallID: c.SecondaryCallID,
	}
}
