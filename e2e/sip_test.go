package e2e

// The SIP side of the end-to-end tests: the agent (a Go user agent the test
// drives), the SIPp caller whose key presses wait for the agent's signal,
// and the caller's RTP as one pcap per step.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/internal/testkit/capturetest"
	"dtmfgw/internal/testkit/sipptest"
)

// e2eAgent is the agent's phone: a sipgo user agent on loopback that
// answers the gateway's INVITE with PCMU at an RTP socket it drains, and
// that the test tells when to send a re-INVITE through the gateway. The
// gateway passes the re-INVITE on to the caller (RFC 3264 §8), and that
// is the caller's cue to key the next digits: the test sends it once the
// form has armed the field, so the keying waits for an event, not a sleep.
type e2eAgent struct {
	t       *testing.T
	ua      *sipgo.UserAgent
	addr    netip.AddrPort
	rtp     *net.UDPConn
	server  *sipgo.DialogServerCache
	dialogs chan *sipgo.DialogServerSession

	mu      sync.Mutex
	dialog  *sipgo.DialogServerSession
	version int // the o= version of our SDP (RFC 3264 §8)

	// packets counts RTP packets from the gateway; eventPackets those with
	// a payload type other than PCMU, which the agent never agreed to: an
	// RFC 4733 event reaching the agent would be a leak.
	packets, eventPackets atomic.Int64
}

func newE2EAgent(t *testing.T) *e2eAgent {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("e2e-agent"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(int(addr.Port())))
	if err != nil {
		t.Fatal(err)
	}
	rtpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	contact := sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "agent", Host: "127.0.0.1", Port: int(addr.Port())}}
	a := &e2eAgent{
		t: t, ua: ua, addr: addr, rtp: rtpConn,
		server:  sipgo.NewDialogServerCache(cli, contact),
		dialogs: make(chan *sipgo.DialogServerSession, 4),
		version: 1,
	}
	srv.OnInvite(a.onInvite)
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) { _ = a.server.ReadAck(req, tx) })
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if err := a.server.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		}
	})
	go func() { _ = srv.ServeUDP(conn) }()
	go a.drain()
	t.Cleanup(func() {
		conn.Close()
		rtpConn.Close()
		ua.Close()
	})
	return a
}

// drain reads the agent's RTP until the socket closes, counting it.
func (a *e2eAgent) drain() {
	buf := make([]byte, 1500)
	for {
		n, err := a.rtp.Read(buf)
		if err != nil {
			return
		}
		if n >= 12 {
			a.packets.Add(1)
			if buf[1]&0x7f != 0 {
				a.eventPackets.Add(1)
			}
		}
	}
}

// sdp is the agent's offer or answer: PCMU only, at its RTP socket.
func (a *e2eAgent) sdp(version int) []byte {
	port := a.rtp.LocalAddr().(*net.UDPAddr).Port
	return fmt.Appendf(nil, "v=0\r\no=agent 2000 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n", version, port)
}

func (a *e2eAgent) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			// A re-INVITE the gateway sends us (none is expected): keep the
			// media as it is.
			a.mu.Lock()
			a.version++
			body := a.sdp(a.version)
			a.mu.Unlock()
			_ = tx.Respond(sipmsg.NewSDPResponseFromRequest(req, body))
			return
		}
	}
	d, err := a.server.ReadInvite(req, tx)
	if err != nil {
		return
	}
	a.mu.Lock()
	a.dialog = d
	body := a.sdp(a.version)
	a.mu.Unlock()
	if err := d.RespondSDP(body); err != nil {
		return
	}
	select {
	case a.dialogs <- d:
	default:
	}
	<-d.Context().Done()
}

// answered waits for the call to reach the agent.
func (a *e2eAgent) answered(ctx context.Context) error {
	select {
	case <-a.dialogs:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the agent got no call: %w", ctx.Err())
	}
}

// signal sends a re-INVITE with the same media (a new o= version) and
// ACKs its 200 (RFC 3261 §14.1, §13.2.2.4). The gateway offers it on to
// the caller, whose scenario takes it as its cue. When the cue is to hang
// up (last), the caller's BYE may end the call before the gateway has
// answered us, so any final answer will do.
func (a *e2eAgent) signal(ctx context.Context, last bool) error {
	a.mu.Lock()
	d := a.dialog
	a.version++
	body := a.sdp(a.version)
	a.mu.Unlock()
	if d == nil {
		return errors.New("agent: no call to signal on")
	}
	target := d.InviteRequest.Contact().Address
	req := sipmsg.NewRequest(sipmsg.INVITE, *target.Clone())
	ct := sipmsg.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := d.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("agent re-INVITE: %w", err)
	}
	if res.StatusCode != 200 {
		if last {
			return nil // the ACK of a non-2xx is the transaction layer's
		}
		return fmt.Errorf("agent re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	return d.WriteRequest(sipmsg.NewRequest(sipmsg.ACK, *target.Clone()))
}

// keyedScenario is a SIPp caller for a test with steps: it calls (X-Agent-Id:
// the agent_id key), and for each step waits for a re-INVITE, answers it
// with its media unchanged, and on the ACK plays stepN.pcap; one more
// re-INVITE after the last step makes it hang up (BYE). The gateway sends a
// re-INVITE to the caller only when the agent sent one, so each step starts
// when the test says, and the test says once the form is ready for it.
func keyedScenario(steps int) sipptest.Scenario {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- dtmfgw e2e: a caller that keys each step's digits (RFC 4733 events in
     stepN.pcap) when a re-INVITE reaches it, and hangs up on the next one. -->
<scenario name="uac_keyed">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: "Test Caller" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      X-Agent-Id: [agent_id]
      Allow: INVITE, ACK, CANCEL, BYE, INFO, OPTIONS
      User-Agent: dtmfgw-e2e
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1000 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=sendrecv

    ]]>
  </send>

  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>

  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: "Test Caller" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Content-Length: 0

    ]]>
  </send>
`)
	for i := 1; i <= steps+1; i++ {
		fmt.Fprintf(&b, `
  <recv request="INVITE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1000 %d IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=sendrecv

    ]]>
  </send>
  <recv request="ACK"/>
`, i+1)
		if i <= steps {
			fmt.Fprintf(&b, `  <nop>
    <action>
      <exec play_pcap_audio="step%d.pcap"/>
    </action>
  </nop>
`, i)
		}
	}
	b.WriteString(`
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: "Test Caller" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Content-Length: 0

    ]]>
  </send>

  <recv response="200" crlf="true"/>
</scenario>
`)
	return sipptest.Scenario{Name: "uac_keyed", Role: sipptest.UAC, XML: []byte(b.String()), Keys: map[string]string{}}
}

// writeStepPcaps writes step1.pcap, step2.pcap, … into dir: each step's
// keys as RFC 4733 events (tone and gap per press), one SSRC, and sequence
// numbers and timestamps that go on from the step before, so each step's
// presses are new events to the gateway (RFC 4733 §2.5.1.1: an event is
// known by its timestamp).
func writeStepPcaps(dir string, steps []string, tone, gap time.Duration) error {
	var seq uint16 = 1000
	var ts uint32 = 160000
	start := time.Unix(86400, 0)
	for i, keys := range steps {
		c := sipptest.CallerRTP{Keys: keys, Mode: sipptest.Events, Tone: tone, Gap: gap}
		pkts, err := c.Packets()
		if err != nil {
			return err
		}
		if len(pkts) == 0 {
			return fmt.Errorf("step %d: no packets", i+1)
		}
		seq0, ts0 := pkts[0].Packet.SequenceNumber, pkts[0].Packet.Timestamp
		b := capturetest.New(capturetest.Ethernet)
		var lastTS uint32
		for _, p := range pkts {
			pkt := p.Packet
			pkt.SequenceNumber = seq + (pkt.SequenceNumber - seq0)
			pkt.Timestamp = ts + (pkt.Timestamp - ts0)
			lastTS = max(lastTS, pkt.Timestamp-ts)
			raw, err := pkt.Marshal()
			if err != nil {
				return err
			}
			b.UDP(start.Add(p.At), netip.MustParseAddrPort("192.0.2.1:4000"), netip.MustParseAddrPort("192.0.2.2:5000"), raw)
		}
		seq += uint16(len(pkts)) + 1
		ts += lastTS + 8000 // a second of silence between the steps' clocks
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("step%d.pcap", i+1)), b.Pcap(), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// e2eCaller is a SIPp caller running keyedScenario.
type e2eCaller struct {
	proc  *sipptest.Process
	dir   string
	steps int
}

// startE2ECaller writes the steps' pcaps and starts SIPp calling the
// gateway as agentID.
func startE2ECaller(ctx context.Context, t *testing.T, gw netip.AddrPort, agentID string, steps []string, tone, gap time.Duration) *e2eCaller {
	t.Helper()
	sipptest.NeedSIPp(t)
	dir := t.TempDir()
	if err := writeStepPcaps(dir, steps, tone, gap); err != nil {
		t.Fatal(err)
	}
	sc := keyedScenario(len(steps))
	p, err := sipptest.Start(ctx, sc, sipptest.Options{
		Remote:      gw,
		Dir:         dir,
		RecvTimeout: 3 * time.Minute,
		Keys:        map[string]string{"agent_id": agentID},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &e2eCaller{proc: p, dir: dir, steps: len(steps)}
}

// wait waits for SIPp to end and checks its one call succeeded.
func (c *e2eCaller) wait(t *testing.T) {
	t.Helper()
	res, err := c.proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(1); err != nil {
		t.Fatal(err)
	}
}
