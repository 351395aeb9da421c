package sip

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/tlstest"
	"dtmfgw/sip/sdp"
)

// waitLimit bounds every wait for something that happens at once on
// loopback.
const waitLimit = 10 * time.Second

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// freeRTPRange returns a range of pairs RTP/RTCP port pairs on 127.0.0.1
// that nothing holds right now, in sip's zone below the ephemeral ports
// (where the SIPp harness's free ports come from).
func freeRTPRange(t testing.TB, pairs int) call.PortRange {
	t.Helper()
	first := testkit.FreeRange(t, testkit.ZoneSIP, pairs)
	return call.PortRange{Min: first, Max: first + 2*pairs - 1}
}

// testGateway is a B2BUA on loopback with its own call.Manager.
type testGateway struct {
	b2b   *B2BUA
	calls *call.Manager
	addr  netip.AddrPort
	tls   netip.AddrPort // the TLS listener, when configured
}

func startGateway(t *testing.T, edit func(*Config)) *testGateway {
	t.Helper()
	return startGatewayMedia(t, 50, nil, edit)
}

// startGatewayMedia is startGateway with room for pairs RTP/RTCP port
// pairs (a call takes two, and a released pair drains before reuse) and
// the media configuration changed by editMedia, if not nil.
func startGatewayMedia(t *testing.T, pairs int, editMedia func(*call.MediaConfig), edit func(*Config)) *testGateway {
	t.Helper()
	return startGatewayLog(t, pairs, testLog(), editMedia, edit)
}

// startGatewayLog is startGatewayMedia with the Manager and the B2BUA
// logging to log.
func startGatewayLog(t *testing.T, pairs int, log *slog.Logger, editMedia func(*call.MediaConfig), edit func(*Config)) *testGateway {
	t.Helper()
	mc := call.DefaultMediaConfig()
	mc.RTPPorts = freeRTPRange(t, pairs)
	if editMedia != nil {
		editMedia(&mc)
	}
	calls, err := call.NewManager(mc, call.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.RingTimeout = 5 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	b2b, err := NewB2BUA(cfg, calls, log)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b2b.Serve(ctx, ls) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), waitLimit)
		defer scancel()
		if err := b2b.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		calls.Close()
	})
	gw := &testGateway{b2b: b2b, calls: calls, addr: ls.Addr()}
	if ls.TLS != nil {
		gw.tls = netip.MustParseAddrPort(ls.TLS.Addr().String())
	}
	return gw
}

// peerUA is a sipgo user agent on loopback, playing the caller or the
// agent, with one RTP socket.
type peerUA struct {
	t      *testing.T
	ip     string // where its sockets are
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	cli    *sipgo.Client
	addr   netip.AddrPort
	rtp    *net.UDPConn
	server *sipgo.DialogServerCache
	client *sipgo.DialogClientCache

	mu      sync.Mutex
	status  int           // the agent's final answer (answerCalls)
	ringFor time.Duration // how long it rings first
	dialogs chan *sipgo.DialogServerSession
	invites chan *sipmsg.Request
	byes    chan *sipmsg.Request
	infos   chan *sipmsg.Request
	acks    chan *sipmsg.Request
}

func newPeerUA(t *testing.T, name string) *peerUA {
	t.Helper()
	return newPeerUAAt(t, name, "127.0.0.1")
}

// newPeerUAAt is newPeerUA with the peer's SIP and RTP sockets on ip (a
// loopback address).
func newPeerUAAt(t *testing.T, name, ip string) *peerUA {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname(ip))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname(ip), sipgo.WithClientPort(int(addr.Port())))
	if err != nil {
		t.Fatal(err)
	}
	rtpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	contact := sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: name, Host: ip, Port: int(addr.Port())}}
	p := &peerUA{
		t: t, ip: ip, ua: ua, srv: srv, cli: cli, addr: addr, rtp: rtpConn,
		server:  sipgo.NewDialogServerCache(cli, contact),
		client:  sipgo.NewDialogClientCache(cli, contact),
		dialogs: make(chan *sipgo.DialogServerSession, 4),
		invites: make(chan *sipmsg.Request, 8),
		byes:    make(chan *sipmsg.Request, 4),
		infos:   make(chan *sipmsg.Request, 16),
		acks:    make(chan *sipmsg.Request, 8),
	}
	srv.OnInvite(p.onInvite)
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		select {
		case p.acks <- req:
		default:
		}
		_ = p.server.ReadAck(req, tx)
	})
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		select {
		case p.byes <- req:
		default: // a test that does not look at BYEs
		}
		if err := p.server.ReadBye(req, tx); err != nil {
			if err := p.client.ReadBye(req, tx); err != nil {
				_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 481, "No dialog", nil))
			}
		}
	})
	srv.OnInfo(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		select {
		case p.infos <- req:
		default:
		}
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go func() { _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() {
		conn.Close()
		rtpConn.Close()
		ua.Close()
	})
	return p
}

// sdpFor is an offer or answer of PCMU (and telephone-event when events)
// at the peer's RTP socket.
func (p *peerUA) sdpFor(events bool, dir string) []byte {
	port := p.rtp.LocalAddr().(*net.UDPAddr).Port
	fmts := "0"
	extra := ""
	if events {
		fmts += " 101"
		extra = "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
	}
	if dir == "" {
		dir = "sendrecv"
	}
	return []byte(fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\na=rtpmap:0 PCMU/8000\r\n%sa=ptime:20\r\na=%s\r\n", p.ip, p.ip, port, fmts, extra, dir))
}

// answerCalls makes the peer the agent: every INVITE gets 180, then after
// ringFor the given final status (200 with an SDP answer).
func (p *peerUA) answerCalls(status int, ringFor time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.ringFor = status, ringFor
}

// onInvite answers as answerCalls said.
func (p *peerUA) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	p.mu.Lock()
	status, ringFor := p.status, p.ringFor
	p.mu.Unlock()
	{
		select {
		case p.invites <- req:
		default: // a test that does not look at INVITEs
		}
		if to := req.To(); to != nil {
			if tag, _ := to.Params.Get("tag"); tag != "" {
				// A re-INVITE: answer with the same SDP and the offer's direction.
				dir := "sendrecv"
				if strings.Contains(string(req.Body()), "a=sendonly") {
					dir = "recvonly"
				}
				res := sipmsg.NewSDPResponseFromRequest(req, p.sdpFor(false, dir))
				_ = tx.Respond(res)
				return
			}
		}
		d, err := p.server.ReadInvite(req, tx)
		if err != nil {
			return
		}
		_ = d.Respond(180, "Ringing", nil)
		select {
		case <-time.After(ringFor):
		case <-d.Context().Done():
			return
		}
		if status != 200 {
			_ = d.Respond(status, "Busy Here", nil)
			return
		}
		select {
		case p.dialogs <- d:
		default:
		}
		_ = d.RespondSDP(p.sdpFor(false, ""))
		<-d.Context().Done()
	}
}

// call makes the peer the caller: an INVITE to the gateway, answered.
func (p *peerUA) call(ctx context.Context, gw netip.AddrPort, user string, body []byte, headers ...sipmsg.Header) (*sipgo.DialogClientSession, error) {
	to := sipmsg.Uri{Scheme: "sip", User: user, Host: gw.Addr().String(), Port: int(gw.Port())}
	ct := sipmsg.ContentTypeHeader("application/sdp")
	d, err := p.client.Invite(ctx, to, body, append(headers, &ct)...)
	if err != nil {
		return nil, err
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		return d, err
	}
	return d, d.Ack(ctx)
}

// remoteOf reads the RTP address from an SDP body.
func remoteOf(t *testing.T, body []byte) netip.AddrPort {
	t.Helper()
	md, err := sdp.Parse(body)
	if err != nil {
		t.Fatalf("SDP from the gateway: %v", err)
	}
	return md.Addr
}

func rtpPacket(t *testing.T, pt uint8, seq uint16, ts uint32, marker bool, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 0x1234, Marker: marker}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendKeyAsEvents sends one press of key as RFC 4733 events (RFC 4733
// §2.5: a start packet with the marker, updates, three end packets).
func sendKeyAsEvents(t *testing.T, from *net.UDPConn, to netip.AddrPort, key dtmf.Key, seq *uint16, ts uint32) {
	t.Helper()
	for i := range 8 {
		end := i >= 5
		dur := uint16(160 * (i + 1))
		if end {
			dur = 160 * 5
		}
		ev := dtmf.TelephoneEvent{Code: key.Code(), End: end, Volume: 10, Duration: dur}
		payload := ev.AppendTo(nil)
		*seq++
		if _, err := from.WriteToUDPAddrPort(rtpPacket(t, 101, *seq, ts, i == 0, payload), to); err != nil {
			t.Fatal(err)
		}
	}
}

func TestB2BUABridgesACallAndMasksEvents(t *testing.T) {
	agent, gw, caller, ctx := newCast(t, 200, 0, nil)
	d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""), sipmsg.NewHeader("X-Primary-Call-Id", "cc-42"), sipmsg.NewHeader("X-Agent-Id", "agent-7"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	var agentDialog *sipgo.DialogServerSession
	select {
	case agentDialog = <-agent.dialogs:
	case <-ctx.Done():
		t.Fatal("the agent got no call")
	}
	inv := agentDialog.InviteRequest
	if h := inv.GetHeader("X-Primary-Call-Id"); h == nil || h.Value() != "cc-42" {
		t.Errorf("agent INVITE lacks X-Primary-Call-Id: %v", h)
	}
	if strings.Contains(string(inv.Body()), "telephone-event") {
		t.Errorf("offer to the agent carries telephone-event:\n%s", inv.Body())
	}
	calls := gw.calls.List(call.ListFilter{PrimaryCallID: "cc-42"})
	if len(calls) != 1 {
		t.Fatalf("%d calls with the primary call id, want 1", len(calls))
	}
	theCall := calls[0]
	if c := theCall.Correlation(); c.AgentID != "agent-7" || c.OutboundCallID == "" || c.InboundCallID == "" {
		t.Errorf("correlation %+v", c)
	}
	checkEventsMasked(ctx, t, caller, agent, theCall, remoteOf(t, d.InviteResponse.Body()))
	// The caller hangs up: the agent gets a BYE and the call ends.
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	select {
	case <-agent.byes:
	case <-ctx.Done():
		t.Fatal("the agent got no BYE")
	}
	select {
	case <-theCall.Done():
		if r := theCall.EndReason(); r != call.EndCallerHangup {
			t.Errorf("end reason %v, want caller-hangup", r)
		}
	case <-ctx.Done():
		t.Fatal("the call did not end")
	}
}

// gatewayTo starts a gateway whose default target is agent.
func gatewayTo(t *testing.T, agent *peerUA, edit func(*Config)) *testGateway {
	t.Helper()
	return startGateway(t, func(c *Config) {
		c.DefaultTarget = "sip:agent@" + agent.addr.String()
		if edit != nil {
			edit(c)
		}
	})
}

// statusOf returns the final status of a failed call.
func statusOf(t *testing.T, err error) int {
	t.Helper()
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) {
		t.Fatalf("call error %v, want a final non-2xx response", err)
	}
	return de.Res.StatusCode
}

func TestB2BUAMapsTheAgentsRefusal(t *testing.T) {
	_, gw, caller, ctx := newCast(t, 486, 0, nil)
	_, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if got := statusOf(t, err); got != 486 {
		t.Fatalf("caller got %d, want 486", got)
	}
	testkit.WaitFor(t, "every call ended", func() bool { return gw.b2b.Calls() == 0 && gw.calls.Len() == 0 })
}

func TestB2BUACallerCancelWhileRinging(t *testing.T) {
	agent := newPeerUA(t, "agent")
	agent.answerCalls(200, time.Hour) // rings until cancelled
	gw := gatewayTo(t, agent, nil)
	caller := newPeerUA(t, "caller")
	d, ctx, ringCtx, hangUp := caller.inviteRinging(t, gw.addr)
	done := make(chan error, 1)
	go func() {
		done <- d.WaitAnswer(ringCtx, sipgo.AnswerOptions{OnResponse: func(r *sipmsg.Response) error {
			if r.StatusCode == 180 {
				hangUp() // cancel once the agent rings
			}
			return nil
		}})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitAnswer = %v, want cancelled", err)
		}
	case <-ctx.Done():
		t.Fatal("cancel did not finish")
	}
	if d.InviteResponse == nil || d.InviteResponse.StatusCode != 487 {
		t.Errorf("caller's final response %v, want 487", d.InviteResponse)
	}
	// The agent's INVITE is cancelled too: its dialog ends.
	inv := <-agent.invites
	_ = inv
	testkit.WaitFor(t, "every call ended", func() bool { return gw.b2b.Calls() == 0 && gw.calls.Len() == 0 })
}

func TestB2BUAAgentHangsUp(t *testing.T) {
	agent, gw, caller, ctx := newCast(t, 200, 0, nil)
	if _, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, "")); err != nil {
		t.Fatal(err)
	}
	ad := <-agent.dialogs
	c := onlyCall(t, gw)
	if err := ad.Bye(ctx); err != nil {
		t.Fatalf("agent BYE: %v", err)
	}
	select {
	case <-caller.byes:
	case <-ctx.Done():
		t.Fatal("the caller got no BYE")
	}
	<-c.Done()
	if r := c.EndReason(); r != call.EndAgentHangup {
		t.Errorf("end reason %v, want agent-hangup", r)
	}
}

func TestB2BUAFollowsHoldAndUnhold(t *testing.T) {
	agent, gw, caller, ctx := newCast(t, 200, 0, nil)
	d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if err != nil {
		t.Fatal(err)
	}
	<-agent.invites // the first INVITE
	c := onlyCall(t, gw)
	for _, dir := range []string{"sendonly", "sendrecv"} {
		req := sipmsg.NewRequest(sipmsg.INVITE, d.InviteResponse.Contact().Address)
		ct := sipmsg.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
		req.SetBody(caller.sdpFor(true, dir))
		res, err := d.Do(ctx, req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("re-INVITE %s: %v %v", dir, res, err)
		}
		ack := sipmsg.NewRequest(sipmsg.ACK, d.InviteResponse.Contact().Address)
		if err := d.WriteRequest(ack); err != nil {
			t.Fatal(err)
		}
		reinv := <-agent.invites
		if !strings.Contains(string(reinv.Body()), "a="+dir) {
			t.Errorf("agent re-INVITE for %s:\n%s", dir, reinv.Body())
		}
		answer, err := sdp.Parse(res.Body())
		if err != nil {
			t.Fatal(err)
		}
		wantHold := dir == "sendonly"
		if wantHold != (answer.Direction == sdp.RecvOnly) {
			t.Errorf("answer to %s has direction %v", dir, answer.Direction)
		}
		if got := c.Secure(); got == wantHold {
			t.Errorf("Secure() = %v while the caller's direction is %s", got, dir)
		}
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestB2BUACapturesSIPInfoDigits(t *testing.T) {
	agent, gw, caller, ctx := newCast(t, 200, 0, nil)
	d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if err != nil {
		t.Fatal(err)
	}
	theCall := onlyCall(t, gw)
	for _, c := range []struct {
		ct, body string
		status   int
	}{
		{"application/dtmf-relay", "Signal=7\r\nDuration=160\r\n", 200},
		{"application/dtmf", "8", 200},
		{"application/dtmf-relay", "Signal=Z\r\n", 400},
		{"text/plain", "9", 415},
	} {
		req := sipmsg.NewRequest(sipmsg.INFO, d.InviteResponse.Contact().Address)
		ct := sipmsg.ContentTypeHeader(c.ct)
		req.AppendHeader(&ct)
		req.SetBody([]byte(c.body))
		res, err := d.Do(ctx, req)
		if err != nil || res.StatusCode != c.status {
			t.Fatalf("INFO %s: %v %v, want %d", c.ct, res, err, c.status)
		}
	}
	for _, want := range "78" {
		select {
		case dg := <-theCall.Presses():
			if dg.Key.Reveal() != string(want) || dg.Source != dtmf.SourceSIPInfo {
				t.Errorf("digit %s from %v, want %c from SIP INFO", dg.Key.Reveal(), dg.Source, want)
			}
		case <-ctx.Done():
			t.Fatal("no digit from SIP INFO")
		}
	}
	select {
	case <-agent.infos:
		t.Error("an INFO reached the agent")
	default:
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestB2BUARefusesBadInvites(t *testing.T) {
	agent, gw, caller, ctx := newCast(t, 200, 0, nil)
	_, err := caller.call(ctx, gw.addr, "1000", []byte("v=0\r\nthis is not SDP\r\n"))
	if got := statusOf(t, err); got != 488 {
		t.Errorf("malformed SDP got %d, want 488", got)
	}
	strict := gatewayTo(t, agent, func(c *Config) { c.ACL = []string{"127.0.0.2/32"} })
	_, err = caller.call(ctx, strict.addr, "1000", caller.sdpFor(true, ""))
	if got := statusOf(t, err); got != 403 {
		t.Errorf("untrusted peer got %d, want 403", got)
	}
	if n := strict.b2b.Stats().Forbidden.Load(); n != 1 {
		t.Errorf("Forbidden = %d, want 1", n)
	}
	select {
	case <-agent.invites:
		t.Error("a refused INVITE reached the agent")
	default:
	}
}

func TestB2BUAOptionsAndDrain(t *testing.T) {
	_, gw, caller, ctx := newCast(t, 200, 0, nil)
	options := func() int {
		req := sipmsg.NewRequest(sipmsg.OPTIONS, sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(gw.addr.Port())})
		res, err := caller.cli.Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode
	}
	if got := options(); got != 200 {
		t.Errorf("OPTIONS got %d, want 200", got)
	}
	d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- gw.b2b.Shutdown(ctx) }()
	testkit.WaitFor(t, "the B2BUA draining", gw.b2b.Draining)
	if got := options(); got != 503 {
		t.Errorf("OPTIONS while draining got %d, want 503", got)
	}
	_, err = caller.call(ctx, gw.addr, "1001", caller.sdpFor(true, ""))
	if got := statusOf(t, err); got != 503 {
		t.Errorf("INVITE while draining got %d, want 503", got)
	}
	// The call in progress goes on until it ends.
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a call in progress", err)
	default:
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestB2BUARingTimeout(t *testing.T) {
	_, gw, caller, ctx := newCast(t, 200, time.Hour, func(c *Config) { c.RingTimeout = time.Second })
	_, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if got := statusOf(t, err); got != 480 {
		t.Fatalf("caller got %d, want 480 after the ring timeout", got)
	}
}

// onlyCall returns the gateway's one live call.
func onlyCall(t *testing.T, gw *testGateway) *call.Call {
	t.Helper()
	calls := gw.calls.List(call.ListFilter{})
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	return calls[0]
}

// optionsOver sends one OPTIONS on a stream connection and returns the
// status line of the answer.
func optionsOver(t *testing.T, conn net.Conn, transport string) string {
	t.Helper()
	local := conn.LocalAddr().String()
	msg := "OPTIONS sip:" + conn.RemoteAddr().String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + transport + " " + local + ";branch=z9hG4bK-" + strings.ToLower(transport) + "1\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: opt-" + transport + "@probe\r\n" +
		"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: no answer: %v", transport, err)
	}
	return strings.TrimSpace(line)
}

func TestB2BUAServesTCPAndTLS(t *testing.T) {
	cert := tlstest.SelfSigned(t, t.TempDir())
	gw := startGateway(t, func(c *Config) {
		c.TLS = TLSConfig{Cert: cert.CertFile, Key: cert.KeyFile, Listen: "127.0.0.1:0"}
	})
	tcp, err := net.Dial("tcp", gw.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if got := optionsOver(t, tcp, "TCP"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS over TCP: %q", got)
	}
	tlsConn, err := tls.Dial("tcp", gw.tls.String(), &tls.Config{RootCAs: cert.Pool})
	if err != nil {
		t.Fatal(err)
	}
	defer tlsConn.Close()
	if got := optionsOver(t, tlsConn, "TLS"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS over TLS: %q", got)
	}
}

// Regression: over UDP, sipgo sent the first request to a peer it had not
// heard from (the agent's INVITE, and with it its CANCEL and ACK) from a
// new socket on the wildcard address and an ephemeral port, which it never
// closed, rather than from our listening socket: a peer that checks the
// source port against Via and Contact (RFC 3581 symmetric signalling, an
// SBC's or dispatcher's ACL) saw a stranger. Every request either leg
// receives from us must come from the listener.
func TestB2BUASendsFromItsListeningSocket(t *testing.T) {
	agent, gw, caller, ctx := newCast(t, 200, 0, nil)
	d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if err != nil {
		t.Fatal(err)
	}
	from := func(what string, req *sipmsg.Request) {
		t.Helper()
		if src := req.Source(); src != gw.addr.String() {
			t.Errorf("%s came from %s, want the gateway's listener %s", what, src, gw.addr)
		}
	}
	from("the agent's INVITE", <-agent.invites)
	ad := <-agent.dialogs
	// The caller holds: the gateway re-INVITEs the agent. The agent then
	// re-INVITEs: the gateway re-INVITEs the caller.
	req := sipmsg.NewRequest(sipmsg.INVITE, d.InviteResponse.Contact().Address)
	ct := sipmsg.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(caller.sdpFor(true, "sendonly"))
	if res, err := d.Do(ctx, req); err != nil || res.StatusCode != 200 {
		t.Fatalf("caller re-INVITE: %v %v", res, err)
	}
	if err := d.WriteRequest(sipmsg.NewRequest(sipmsg.ACK, d.InviteResponse.Contact().Address)); err != nil {
		t.Fatal(err)
	}
	from("the agent's re-INVITE", <-agent.invites)
	req = sipmsg.NewRequest(sipmsg.INVITE, ad.InviteRequest.Contact().Address)
	req.AppendHeader(&ct)
	req.SetBody(agent.sdpFor(false, "sendrecv"))
	if res, err := ad.Do(ctx, req); err != nil || res.StatusCode != 200 {
		t.Fatalf("agent re-INVITE: %v %v", res, err)
	}
	from("the caller's re-INVITE", <-caller.invites)
	// The agent hangs up: the caller gets a BYE.
	if err := ad.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case bye := <-caller.byes:
		from("the caller's BYE", bye)
	case <-ctx.Done():
		t.Fatal("the caller got no BYE")
	}
	// The caller sees the BYE before it answers it: the call is over once
	// the gateway has its 200 (the test's end closes the caller).
	testkit.WaitFor(t, "every call ended", func() bool { return gw.b2b.Calls() == 0 && gw.calls.Len() == 0 })
}

func TestB2BUALeavesNoGoroutineBehindPerCall(t *testing.T) {
	// Regression: each call once left a goroutine waiting for shutdown.
	agent := newPeerUA(t, "agent")
	agent.answerCalls(200, 0)
	gw := gatewayTo(t, agent, nil)
	caller := newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()
	oneCall := func() {
		d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Bye(ctx); err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, "every call ended", func() bool { return gw.b2b.Calls() == 0 && gw.calls.Len() == 0 })
	}
	oneCall()
	base := runtime.NumGoroutine()
	const calls = 20
	for range calls {
		oneCall()
	}
	// sipgo's transactions linger for their timers; what must not happen is
	// one goroutine more per call for good.
	testkit.WaitFor(t, "the calls' goroutines gone", func() bool { return runtime.NumGoroutine() < base+calls/2 })
}

// Regression: the gateway held a call's offer/answer lock until after it
// had sent the 200 to a re-INVITE, so a peer that sent its next re-INVITE
// as soon as it had that 200 (and ACKed it) could find the lock still
// taken and get 491, though no INVITE of ours was in progress (RFC 3261
// §14.2 gives 491 to glare only). Back-to-back holds and unholds must all
// get 200.
func TestB2BUAReinvitesBackToBack(t *testing.T) {
	agent := newPeerUA(t, "agent")
	agent.answerCalls(200, 0)
	gw := gatewayTo(t, agent, nil)
	caller := newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()
	d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 40
	for i := range rounds {
		dir := "sendonly"
		if i%2 == 1 {
			dir = "sendrecv"
		}
		req := sipmsg.NewRequest(sipmsg.INVITE, d.InviteResponse.Contact().Address)
		ct := sipmsg.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
		req.SetBody(caller.sdpFor(true, dir))
		res, err := d.Do(ctx, req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("re-INVITE %d (%s): %v %v", i+1, dir, res, err)
		}
		if err := d.WriteRequest(sipmsg.NewRequest(sipmsg.ACK, d.InviteResponse.Contact().Address)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "every call ended", func() bool { return gw.b2b.Calls() == 0 && gw.calls.Len() == 0 })
}

// rawAgent is an agent at the UDP level, for what a user agent library
// hides: it answers the gateway's INVITE with a 200 and can send that 200
// again, as an agent does whose ACK was lost (RFC 3261 §13.3.1.4).
type rawAgent struct {
	t    *testing.T
	conn *net.UDPConn
	rtp  *net.UDPConn
}

func newRawAgent(t *testing.T) *rawAgent {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); r.Close() })
	return &rawAgent{t: t, conn: c, rtp: r}
}

func (a *rawAgent) addr() netip.AddrPort { return a.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// read returns the next request with the given method, skipping others
// (and responses), and where it came from.
func (a *rawAgent) read(method sipmsg.RequestMethod) (*sipmsg.Request, netip.AddrPort) {
	a.t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		_ = a.conn.SetReadDeadline(deadline)
		n, from, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			a.t.Fatalf("agent waiting for %s: %v", method, err)
		}
		msg, err := sipmsg.ParseMessage(buf[:n])
		if err != nil {
			a.t.Fatalf("agent got an unparsable message: %v", err)
		}
		if req, ok := msg.(*sipmsg.Request); ok && req.Method == method {
			return req, from
		}
	}
	a.t.Fatalf("agent got no %s", method)
	return nil, netip.AddrPort{}
}

func (a *rawAgent) send(to netip.AddrPort, m sipmsg.Message) {
	a.t.Helper()
	if _, err := a.conn.WriteToUDPAddrPort([]byte(m.String()), to); err != nil {
		a.t.Fatal(err)
	}
}

func TestB2BUAReAcksARetransmitted200(t *testing.T) {
	agent := newRawAgent(t)
	gw := startGateway(t, func(c *Config) { c.DefaultTarget = "sip:agent@" + agent.addr().String() })
	caller := newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	called := make(chan error, 1)
	var d *sipgo.DialogClientSession
	go func() {
		var err error
		d, err = caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
		called <- err
	}()
	inv, from := agent.read(sipmsg.INVITE)
	port := agent.rtp.LocalAddr().(*net.UDPAddr).Port
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", port)
	ok := sipmsg.NewSDPResponseFromRequest(inv, []byte(sdp))
	ok.To().Params.Add("tag", "agent-tag-1")
	ok.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "agent", Host: "127.0.0.1", Port: int(agent.addr().Port())}})
	agent.send(from, ok)
	ack, _ := agent.read(sipmsg.ACK)
	if ack.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Fatalf("ACK CSeq %d, INVITE's %d", ack.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
	if err := <-called; err != nil {
		t.Fatalf("caller: %v", err)
	}
	// The agent did not get that ACK, as far as it knows: it sends its 200
	// again, and the gateway must ACK it again.
	agent.send(from, ok)
	again, _ := agent.read(sipmsg.ACK)
	if again.CallID().Value() != inv.CallID().Value() || again.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Errorf("re-ACK for Call-ID %s CSeq %d, want the INVITE's", again.CallID().Value(), again.CSeq().SeqNo)
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	bye, byeFrom := agent.read(sipmsg.BYE)
	agent.send(byeFrom, sipmsg.NewResponseFromRequest(bye, 200, "OK", nil))
	testkit.WaitFor(t, "every bridge gone", func() bool { return gw.b2b.Calls() == 0 })
}

// newCast starts the usual cast of a B2BUA test: a sipgo agent that
// answers with status after ringing for ringFor, a gateway whose default
// target it is (edit changes the gateway's configuration), a sipgo caller,
// and a context that bounds the test's waits.
func newCast(t *testing.T, status int, ringFor time.Duration, edit func(*Config)) (agent *peerUA, gw *testGateway, caller *peerUA, ctx context.Context) {
	t.Helper()
	agent = newPeerUA(t, "agent")
	agent.answerCalls(status, ringFor)
	gw = gatewayTo(t, agent, edit)
	caller = newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return agent, gw, caller, ctx
}

func TestB2BUALateOffer(t *testing.T) {
	// An INVITE without SDP (RFC 3261 §13.2.1): the agent offers in its
	// 200, the caller answers in its ACK, the agent gets our answer in
	// its ACK, and the media is masked as with an early offer.
	agent, gw, caller, ctx := newCast(t, 200, 0, nil)
	to := sipmsg.Uri{Scheme: "sip", User: "1000", Host: "127.0.0.1", Port: int(gw.addr.Port())}
	d, err := caller.client.Invite(ctx, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("late-offer call: %v", err)
	}
	ourOffer, err := sdp.Parse(d.InviteResponse.Body())
	if err != nil {
		t.Fatalf("the 200 to a late offer must carry our offer: %v", err)
	}
	if ourOffer.Event == nil {
		t.Error("our offer to the caller has no telephone-event")
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, d.InviteResponse.Contact().Address)
	ct := sipmsg.ContentTypeHeader("application/sdp")
	ack.AppendHeader(&ct)
	ack.SetBody(caller.sdpFor(true, ""))
	if err := d.WriteAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	inv := <-agent.invites
	if len(inv.Body()) != 0 {
		t.Errorf("the agent's INVITE carries a body for a late offer:\n%s", inv.Body())
	}
	var agentAck *sipmsg.Request
	select {
	case agentAck = <-agent.acks:
	case <-ctx.Done():
		t.Fatal("the agent got no ACK")
	}
	answer, err := sdp.Parse(agentAck.Body())
	if err != nil {
		t.Fatalf("the agent's ACK must carry our answer: %v", err)
	}
	if answer.Addr != onlyCall(t, gw).AgentMediaAddr() {
		t.Errorf("answer to the agent at %v, want the relay's %v", answer.Addr, onlyCall(t, gw).AgentMediaAddr())
	}
	c := onlyCall(t, gw)
	checkEventsMasked(ctx, t, caller, agent, c, ourOffer.Addr)
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
}

// checkEventsMasked sends caller audio with one press of 5 as RFC 4733
// events in the middle to the gateway at to, and checks that the press
// reaches the call's digit path once, from RFC 4733, and that every
// packet the agent receives for it is audio (payload type 0, not shaped
// like an event): one per caller audio packet at least, since the
// pipeline fills the press with the mask tone.
func checkEventsMasked(ctx context.Context, t *testing.T, caller, agent *peerUA, c *call.Call, to netip.AddrPort) {
	t.Helper()
	silence := bytes.Repeat([]byte{0xFF}, 160)
	var seq uint16
	audio := func(n int) {
		for range n {
			seq++
			if _, err := caller.rtp.WriteToUDPAddrPort(rtpPacket(t, 0, seq, uint32(seq)*160, seq == 1, silence), to); err != nil {
				t.Fatal(err)
			}
		}
	}
	audio(10)
	five, _ := dtmf.KeyFromChar('5')
	sendKeyAsEvents(t, caller.rtp, to, five, &seq, uint32(seq+1)*160)
	audio(10)
	select {
	case dg := <-c.Presses():
		if dg.Key != five || dg.Source != dtmf.SourceRFC4733 {
			t.Errorf("digit from %v, want 5 from RFC 4733", dg.Source)
		}
	case <-ctx.Done():
		t.Fatal("no digit from the caller's events")
	}
	buf := make([]byte, 1500)
	_ = agent.rtp.SetReadDeadline(time.Now().Add(waitLimit))
	for got := 0; got < 20; got++ {
		n, _, err := agent.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("the agent got %d packets, want at least 20: %v", got, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil || p.PayloadType != 0 || dtmf.EventShaped(p.Payload) {
			t.Fatalf("agent packet %d: payload type %d, %d-byte payload, %v: only audio may reach the agent", got, p.PayloadType, len(p.Payload), err)
		}
	}
}
