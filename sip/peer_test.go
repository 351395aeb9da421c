package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/internal/testkit"
)

// The addresses of the adversarial tests. The gateway's ACL holds the
// caller's and the agent's host and one other inside address; the
// outsider is outside it.
const (
	peerIP     = "127.0.0.1" // the caller and the agent
	outsiderIP = "127.0.0.2" // outside sip.acl
	insiderIP  = "127.0.0.3" // inside sip.acl, but no call's peer
)

// adversarialACL is the ACL of the adversarial tests: the peers' host and
// the insider, not the outsider.
func adversarialACL(c *Config) { c.ACL = []string{peerIP + "/32", insiderIP + "/32"} }

// rawSender sends requests built by hand from a UDP socket of its own, as
// someone who knows a call's Call-ID and tags (the agent's desktop, a
// recording, a log) would, and reads the final answer.
type rawSender struct {
	t    *testing.T
	conn *net.UDPConn
}

func newRawSender(t *testing.T, ip string) *rawSender {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("bind %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawSender{t: t, conn: c}
}

func (s *rawSender) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// forged is an in-dialog request as a sender builds it by hand.
type forged struct {
	method          sipmsg.RequestMethod
	callID          string
	fromTag, toTag  string // toTag "" sends a To without a tag
	cseq            uint32
	via             string // the whole Via value; a fresh branch at the sender when empty
	contentType     string
	body            string
	extraHeaderLine string
}

// bytes is f as from sends it to gw over transport.
func (f forged) bytes(from, gw netip.AddrPort, transport string) []byte {
	via := f.via
	if via == "" {
		via = fmt.Sprintf("SIP/2.0/%s %s;branch=z9hG4bK-forged-%d", transport, from, time.Now().UnixNano())
	}
	to := "<sip:gw@" + gw.String() + ">"
	if f.toTag != "" {
		to += ";tag=" + f.toTag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:gw@%s SIP/2.0\r\n", f.method, gw)
	fmt.Fprintf(&b, "Via: %s\r\nMax-Forwards: 70\r\n", via)
	fmt.Fprintf(&b, "From: <sip:caller@%s>;tag=%s\r\nTo: %s\r\n", from.Addr(), f.fromTag, to)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", f.callID, f.cseq, f.method)
	fmt.Fprintf(&b, "Contact: <sip:caller@%s>\r\n", from)
	if f.contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", f.contentType)
	}
	b.WriteString(f.extraHeaderLine)
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(f.body), f.body)
	return []byte(b.String())
}

// send sends f to gw and returns the status of the final response (0 for
// an ACK, which gets none).
func (s *rawSender) send(gw netip.AddrPort, f forged) int {
	s.t.Helper()
	if _, err := s.conn.WriteToUDPAddrPort(f.bytes(s.addr(), gw, "UDP"), gw); err != nil {
		s.t.Fatal(err)
	}
	if f.method == sipmsg.ACK {
		return 0
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(waitLimit)
	for {
		_ = s.conn.SetReadDeadline(deadline)
		n, _, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			s.t.Fatalf("%s from %s: no final response: %v", f.method, s.addr(), err)
		}
		msg, err := sipmsg.ParseMessage(buf[:n])
		if err != nil {
			s.t.Fatalf("%s from %s: unparsable answer: %v", f.method, s.addr(), err)
		}
		res, ok := msg.(*sipmsg.Response)
		if !ok || res.IsProvisional() || res.CSeq() == nil || res.CSeq().MethodName != f.method {
			continue
		}
		return res.StatusCode
	}
}

// requestSender sends a forged request and returns the final status.
type requestSender interface {
	send(gw netip.AddrPort, f forged) int
}

// tcpSender sends each forged request on a TCP connection of its own from
// its address.
type tcpSender struct {
	t  *testing.T
	ip string
}

func (s tcpSender) send(gw netip.AddrPort, f forged) int {
	s.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(s.ip)}, Timeout: waitLimit}
	conn, err := d.Dial("tcp", gw.String())
	if err != nil {
		s.t.Fatalf("dial from %s: %v", s.ip, err)
	}
	defer conn.Close()
	from := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	if _, err := conn.Write(f.bytes(from, gw, "TCP")); err != nil {
		s.t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		// Responses come one after another; the first final one for f's
		// method is the answer.
		for {
			end := strings.Index(string(got), "\r\n\r\n")
			if end < 0 {
				break
			}
			msg, perr := sipmsg.ParseMessage(got[:end+4])
			got = got[end+4:]
			if res, ok := msg.(*sipmsg.Response); perr == nil && ok && !res.IsProvisional() && res.CSeq() != nil && res.CSeq().MethodName == f.method {
				return res.StatusCode
			}
		}
		if err != nil {
			// No answer on this connection (sipgo answers a CANCEL it
			// matched on the INVITE's own connection): 0, for the caller
			// to judge with what else it sees.
			s.t.Logf("%s over TCP from %s: no final response: %v", f.method, s.ip, err)
			return 0
		}
	}
}

// attempt is one forged request's variant: who sends it, with which tags,
// and what it must get.
type attempt struct {
	name           string
	from           requestSender
	fromTag, toTag string
	status         int
	why            Refusal
}

// attempts are the variants every in-dialog method is tried with, for a
// dialog whose peer's tag is theirs and ours is ours: the outsider with
// the right tags, an address inside the ACL that is not the peer with the
// right tags, and the peer's own host with a wrong tag each way.
func attempts(t *testing.T, theirs, ours string) []attempt {
	return attemptsFrom(theirs, ours, func(ip string) requestSender { return newRawSender(t, ip) })
}

// attemptsFrom is attempts with the senders newSender makes.
func attemptsFrom(theirs, ours string, newSender func(ip string) requestSender) []attempt {
	outsider, insider, self := newSender(outsiderIP), newSender(insiderIP), newSender(peerIP)
	return []attempt{
		{"outside the ACL", outsider, theirs, ours, 403, RefusedACL},
		{"inside the ACL, not the peer", insider, theirs, ours, 403, RefusedWrongSource},
		{"the peer's host, a wrong From tag", self, "forged-tag", ours, 481, RefusedWrongTag},
		{"the peer's host, a wrong To tag", self, theirs, "forged-tag", 481, RefusedWrongTag},
	}
}

// holdSDP is an offer that would move the caller's media to the outsider.
func outsiderSDP() string {
	return "v=0\r\no=- 9 9 IN IP4 " + outsiderIP + "\r\ns=-\r\nc=IN IP4 " + outsiderIP +
		"\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
}

func TestInDialogRequestsFromOthersChangeNothing(t *testing.T) {
	// A live call, and everyone but its caller tries to act on it with
	// its Call-ID: INFO (a key press), re-INVITE (media to the
	// outsider), UPDATE and BYE. Each is refused, with the status and
	// reason its variant calls for, and the call goes on as before: no
	// digit, no re-INVITE or BYE at the agent, the call up. Then the
	// caller's own requests of each method still work.
	var logs testkit.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	agent := newPeerUA(t, "agent")
	agent.answerCalls(200, 0)
	gw := startGatewayLog(t, 50, log, nil, func(c *Config) {
		c.DefaultTarget = "sip:agent@" + agent.addr.String()
		adversarialACL(c)
	})
	caller := newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if err != nil {
		t.Fatal(err)
	}
	<-agent.invites // the call's INVITE
	theCall := onlyCall(t, gw)
	callID := d.InviteRequest.CallID().Value()
	theirs, ours := tagOf(d.InviteRequest.From()), tagOf(d.InviteResponse.To())
	if theirs == "" || ours == "" {
		t.Fatalf("the dialog's tags: caller %q, ours %q", theirs, ours)
	}

	methods := []forged{
		{method: sipmsg.INFO, contentType: "application/dtmf-relay", body: "Signal=5\r\nDuration=160\r\n"},
		{method: sipmsg.INVITE, contentType: "application/sdp", body: outsiderSDP()},
		{method: sipmsg.UPDATE},
		{method: sipmsg.BYE},
	}
	want := map[[2]int]uint64{}
	cseq := uint32(100)
	for _, m := range methods {
		for _, a := range attempts(t, theirs, ours) {
			cseq++
			f := m
			f.callID, f.fromTag, f.toTag, f.cseq = callID, a.fromTag, a.toTag, cseq
			if got := a.from.send(gw.addr, f); got != a.status {
				t.Errorf("%s %s: got %d, want %d", m.method, a.name, got, a.status)
			}
			want[[2]int{methodIndex([]byte(m.method)), int(a.why)}]++
		}
	}
	// ACKs get no answer; one from the outsider is counted as refused.
	outsider := newRawSender(t, outsiderIP)
	outsider.send(gw.addr, forged{method: sipmsg.ACK, callID: callID, fromTag: theirs, toTag: ours, cseq: 1,
		contentType: "application/sdp", body: outsiderSDP()})
	want[[2]int{methodIndex([]byte("ACK")), int(RefusedACL)}]++
	testkit.WaitFor(t, "the ACK refused by the ACL counted", func() bool { return gw.b2b.Metrics().Refused[methodIndex([]byte("ACK"))][RefusedACL] == 1 })

	// Counted by method and reason, and nothing else.
	m := gw.b2b.Metrics()
	for i := range m.Refused {
		for r := range m.Refused[i] {
			if got, w := m.Refused[i][r], want[[2]int{i, r}]; got != w {
				t.Errorf("refused %s/%s = %d, want %d", Methods[i], RefusalReasons[r], got, w)
			}
		}
	}

	// Nothing changed: the call is up, the agent saw none of it, no
	// digit was taken.
	select {
	case <-theCall.Done():
		t.Fatal("a refused request ended the call")
	default:
	}
	if n := gw.b2b.Calls(); n != 1 {
		t.Fatalf("%d calls, want the one", n)
	}
	select {
	case r := <-agent.invites:
		t.Fatalf("a refused re-INVITE reached the agent:\n%s", r.Body())
	case r := <-agent.byes:
		t.Fatalf("a refused BYE reached the agent: %s", r.StartLine())
	case r := <-caller.byes:
		t.Fatalf("a refused request hung up the caller: %s", r.StartLine())
	default:
	}

	// The caller's own requests still work: its INFO is the first digit
	// the call takes, its re-INVITE reaches the agent, its UPDATE is
	// answered, its BYE ends the call.
	info := sipmsg.NewRequest(sipmsg.INFO, d.InviteResponse.Contact().Address)
	ct := sipmsg.ContentTypeHeader("application/dtmf-relay")
	info.AppendHeader(&ct)
	info.SetBody([]byte("Signal=7\r\nDuration=160\r\n"))
	if res, err := d.Do(ctx, info); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's INFO: %v %v", res, err)
	}
	select {
	case dg := <-theCall.Presses():
		if dg.Key.Reveal() != "7" || dg.Source != dtmf.SourceSIPInfo {
			t.Fatalf("the call took %s from %v first, want the caller's 7: a refused INFO was counted", dg.Key.Reveal(), dg.Source)
		}
	case <-ctx.Done():
		t.Fatal("the caller's INFO gave no digit")
	}
	reinvite := sipmsg.NewRequest(sipmsg.INVITE, d.InviteResponse.Contact().Address)
	sdpCT := sipmsg.ContentTypeHeader("application/sdp")
	reinvite.AppendHeader(&sdpCT)
	reinvite.SetBody(caller.sdpFor(true, "sendonly"))
	if res, err := d.Do(ctx, reinvite); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's re-INVITE: %v %v", res, err)
	}
	if err := d.WriteRequest(sipmsg.NewRequest(sipmsg.ACK, d.InviteResponse.Contact().Address)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-agent.invites:
		if !strings.Contains(string(r.Body()), "a=sendonly") || strings.Contains(string(r.Body()), outsiderIP) {
			t.Errorf("the agent's re-INVITE is not the caller's hold:\n%s", r.Body())
		}
	case <-ctx.Done():
		t.Fatal("the caller's re-INVITE did not reach the agent")
	}
	if res, err := d.Do(ctx, sipmsg.NewRequest(sipmsg.UPDATE, d.InviteResponse.Contact().Address)); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's UPDATE: %v %v", res, err)
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("the caller's BYE: %v", err)
	}
	<-theCall.Done()
	if r := theCall.EndReason(); r != call.EndCallerHangup {
		t.Errorf("end reason %v, want caller-hangup", r)
	}
	// The refusals were logged, without the INFO's body.
	if !strings.Contains(logs.String(), "SIP request refused") {
		t.Error("no refusal was logged")
	}
	if strings.Contains(logs.String(), "Signal=5") {
		t.Errorf("a refused INFO's body reached the log:\n%s", logs.String())
	}
}

func TestAgentDialogRequestsFromOthersChangeNothing(t *testing.T) {
	// The agent's dialog has its own Call-ID and tags. The agent may be
	// outside sip.acl (it is here, at 127.0.0.4): its own BYE ends the
	// call, while the same BYE from the outsider, from an insider that is
	// not the agent, or from the agent's host with a wrong tag does not.
	agent := newPeerUAAt(t, "agent", "127.0.0.4")
	agent.answerCalls(200, 0)
	gw := gatewayTo(t, agent, adversarialACL)
	caller := newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, "")); err != nil {
		t.Fatal(err)
	}
	ad := <-agent.dialogs
	c := onlyCall(t, gw)
	callID := ad.InviteRequest.CallID().Value()
	theirs, ours := tagOf(ad.InviteRequest.To()), tagOf(ad.InviteRequest.From())
	outsider, insider, self := newRawSender(t, outsiderIP), newRawSender(t, insiderIP), newRawSender(t, "127.0.0.4")
	for i, a := range []attempt{
		{"outside the ACL", outsider, theirs, ours, 403, RefusedACL},
		{"inside the ACL, not the agent", insider, theirs, ours, 403, RefusedWrongSource},
		{"the agent's host, a wrong From tag", self, "forged-tag", ours, 481, RefusedWrongTag},
		{"the agent's host, a wrong To tag", self, theirs, "forged-tag", 481, RefusedWrongTag},
	} {
		f := forged{method: sipmsg.BYE, callID: callID, fromTag: a.fromTag, toTag: a.toTag, cseq: uint32(50 + i)}
		if got := a.from.send(gw.addr, f); got != a.status {
			t.Errorf("agent-side BYE %s: got %d, want %d", a.name, got, a.status)
		}
	}
	// An INFO from the agent's own dialog is answered and never taken as
	// a key press: only the caller's side gives digits.
	info := forged{method: sipmsg.INFO, callID: callID, fromTag: theirs, toTag: ours, cseq: 60,
		contentType: "application/dtmf-relay", body: "Signal=3\r\nDuration=160\r\n"}
	if got := self.send(gw.addr, info); got != 200 {
		t.Errorf("the agent's INFO: got %d, want 200", got)
	}
	select {
	case <-c.Done():
		t.Fatal("a refused BYE ended the call")
	case <-caller.byes:
		t.Fatal("a refused BYE hung up the caller")
	case dg := <-c.Presses():
		t.Fatalf("the agent's INFO gave a digit from %v", dg.Source)
	default:
	}
	if err := ad.Bye(ctx); err != nil {
		t.Fatalf("the agent's own BYE: %v", err)
	}
	select {
	case <-caller.byes:
	case <-ctx.Done():
		t.Fatal("the agent's BYE did not reach the caller")
	}
	<-c.Done()
	if r := c.EndReason(); r != call.EndAgentHangup {
		t.Errorf("end reason %v, want agent-hangup", r)
	}
}

func TestCancelFromOthersLeavesTheCallRinging(t *testing.T) {
	// sipgo answers a CANCEL that matches a pending INVITE itself, on the
	// INVITE's Via branch alone, whichever transport either came by. A
	// forged CANCEL with that Via, from the outsider, an insider or with
	// the wrong From tag, over UDP or TCP, must not end the ringing call;
	// the caller's own CANCEL then does.
	for _, transport := range []string{"UDP", "TCP"} {
		t.Run(transport, func(t *testing.T) {
			testCancelFromOthers(t, func(ip string) requestSender {
				if transport == "TCP" {
					return tcpSender{t: t, ip: ip}
				}
				return newRawSender(t, ip)
			})
		})
	}
}

func testCancelFromOthers(t *testing.T, newSender func(ip string) requestSender) {
	agent := newPeerUA(t, "agent")
	agent.answerCalls(200, time.Hour)
	gw := gatewayTo(t, agent, adversarialACL)
	caller := newPeerUA(t, "caller")
	d, ctx, ringCtx, hangUp := caller.inviteRinging(t, gw.addr)
	answered := make(chan error, 1)
	go func() { answered <- d.WaitAnswer(ringCtx, sipgo.AnswerOptions{}) }()
	<-agent.invites // the agent rings
	inv := d.InviteRequest
	theirs := tagOf(inv.From())
	for _, a := range attemptsFrom(theirs, "", newSender) {
		if a.toTag != "" {
			continue // a CANCEL's To has no tag (RFC 3261 §9.1)
		}
		f := forged{method: sipmsg.CANCEL, callID: inv.CallID().Value(), fromTag: a.fromTag,
			cseq: inv.CSeq().SeqNo, via: inv.Via().Value()}
		if got := a.from.send(gw.addr, f); got != a.status {
			t.Errorf("CANCEL %s: got %d, want %d", a.name, got, a.status)
		}
	}
	i := methodIndex([]byte("CANCEL"))
	m := gw.b2b.Metrics()
	for r, want := range map[Refusal]uint64{RefusedACL: 1, RefusedWrongSource: 1, RefusedWrongTag: 1} {
		if got := m.Refused[i][r]; got != want {
			t.Errorf("refused CANCEL/%s = %d, want %d", r, got, want)
		}
	}
	select {
	case err := <-answered:
		t.Fatalf("a forged CANCEL ended the caller's INVITE: %v", err)
	default:
	}
	if n := gw.b2b.Calls(); n != 1 {
		t.Fatalf("%d calls ringing, want 1", n)
	}
	hangUp() // the caller's own CANCEL
	select {
	case <-answered:
	case <-ctx.Done():
		t.Fatal("the caller's CANCEL did not end its INVITE")
	}
	if d.InviteResponse == nil || d.InviteResponse.StatusCode != 487 {
		t.Errorf("the caller's final response %v, want 487", d.InviteResponse)
	}
	testkit.WaitFor(t, "every bridge gone", func() bool { return gw.b2b.Calls() == 0 })
}

func TestOutOfDialogRequestsFromOutsideTheACL(t *testing.T) {
	// OPTIONS, a method we do not handle, and an in-dialog request naming
	// no call: 403 from outside the ACL, their usual answer from inside.
	gw := startGateway(t, adversarialACL)
	outsider, insider := newRawSender(t, outsiderIP), newRawSender(t, insiderIP)
	for _, c := range []struct {
		f               forged
		inside, outside int
	}{
		{forged{method: sipmsg.OPTIONS, callID: "probe-1", fromTag: "p"}, 200, 403},
		{forged{method: "MESSAGE", callID: "probe-2", fromTag: "p"}, 405, 403},
		{forged{method: sipmsg.BYE, callID: "no-such-call", fromTag: "p", toTag: "q"}, 481, 403},
		{forged{method: sipmsg.INFO, callID: "no-such-call", fromTag: "p", toTag: "q"}, 481, 403},
	} {
		c.f.cseq = 1
		if got := insider.send(gw.addr, c.f); got != c.inside {
			t.Errorf("%s from inside: %d, want %d", c.f.method, got, c.inside)
		}
		if got := outsider.send(gw.addr, c.f); got != c.outside {
			t.Errorf("%s from outside: %d, want %d", c.f.method, got, c.outside)
		}
	}
}

func TestCallerCancelReleasesTheCallAtOnce(t *testing.T) {
	// The agent rings (180) and then never answers our CANCEL. The
	// caller's CANCEL must still free the call's media, ports and gauge
	// and let the drain finish at once; the agent's side is cancelled in
	// the background (RFC 3261 §9.1), which the agent sees.
	agent := newRawAgent(t)
	gw := startGateway(t, func(c *Config) { c.DefaultTarget = "sip:agent@" + agent.addr().String() })
	caller := newPeerUA(t, "caller")
	d, _, ringCtx, hangUp := caller.inviteRinging(t, gw.addr)
	inv, from := agent.read(sipmsg.INVITE)
	ringing := sipmsg.NewResponseFromRequest(inv, 180, "Ringing", nil)
	ringing.To().Params.Add("tag", "agent-rings")
	agent.send(from, ringing)
	if err := d.WaitAnswer(ringCtx, sipgo.AnswerOptions{OnResponse: func(r *sipmsg.Response) error {
		if r.StatusCode == 180 {
			hangUp()
		}
		return nil
	}}); err == nil {
		t.Fatal("the caller's INVITE was answered")
	}
	if d.InviteResponse == nil || d.InviteResponse.StatusCode != 487 {
		t.Fatalf("the caller's final response %v, want 487", d.InviteResponse)
	}
	// The agent gets the CANCEL and keeps silent: its transaction lives
	// on, and must not hold the call.
	if c, _ := agent.read(sipmsg.CANCEL); c.CallID().Value() != inv.CallID().Value() {
		t.Fatalf("CANCEL for %s, want the agent's INVITE", c.CallID().Value())
	}
	testkit.WaitFor(t, "every call ended", func() bool { return gw.b2b.Calls() == 0 && gw.calls.Len() == 0 })
	if st := gw.calls.Stats(); st.PortPairsInUse != 0 || st.Ends[call.EndCallerCancel] != 1 {
		t.Errorf("after the CANCEL: %d port pairs in use, %d calls ended by a cancel; want 0 and 1", st.PortPairsInUse, st.Ends[call.EndCallerCancel])
	}
	sctx, scancel := context.WithTimeout(context.Background(), waitLimit)
	defer scancel()
	if err := gw.b2b.Shutdown(sctx); err != nil {
		t.Fatalf("the drain waited for the cancelled agent: %v", err)
	}
}

func TestRingTimeoutWithoutProvisionalResponse(t *testing.T) {
	// An agent that never answers at all, not even 100 Trying: the ring
	// timeout still ends the call, with 480 to the caller, rather than
	// sipgo's Timer B (64·T1) — a CANCEL may only follow a provisional
	// response, so cancelling waits in the background.
	agent := newRawAgent(t)
	gw := startGateway(t, func(c *Config) {
		c.DefaultTarget = "sip:agent@" + agent.addr().String()
		c.RingTimeout = time.Second
	})
	caller := newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
		done <- err
	}()
	agent.read(sipmsg.INVITE) // and never answer
	if got := statusOf(t, <-done); got != 480 {
		t.Fatalf("caller got %d, want 480", got)
	}
	testkit.WaitFor(t, "every call ended", func() bool { return gw.b2b.Calls() == 0 && gw.calls.Len() == 0 })
	if n := gw.calls.Stats().Ends[call.EndRingTimeout]; n != 1 {
		t.Errorf("calls ended by the ring timeout = %d, want 1", n)
	}
}

// inviteRinging sends the caller's INVITE to gw and returns without
// waiting for an answer: the dialog, a context bounding the test's waits,
// and the INVITE's own context, which hangUp cancels to send the caller's
// CANCEL.
func (p *peerUA) inviteRinging(t *testing.T, gw netip.AddrPort) (d *sipgo.DialogClientSession, ctx, ringCtx context.Context, hangUp context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	ringCtx, hangUp = context.WithCancel(ctx)
	t.Cleanup(hangUp)
	to := sipmsg.Uri{Scheme: "sip", User: "1000", Host: gw.Addr().String(), Port: int(gw.Port())}
	ct := sipmsg.ContentTypeHeader("application/sdp")
	d, err := p.client.Invite(ringCtx, to, p.sdpFor(true, ""), &ct)
	if err != nil {
		t.Fatal(err)
	}
	return d, ctx, ringCtx, hangUp
}
