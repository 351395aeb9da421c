package mask

import (
	"dtmfgw/media"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit"
)

// readRTCPWithin reads one datagram from c within d and parses it as a
// compound RTCP packet.
func readRTCPWithin(t *testing.T, c *net.UDPConn, d time.Duration) ([]rtcp.Packet, netip.AddrPort) {
	t.Helper()
	b, from := testkit.ReadWithin(t, c, d)
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatalf("datagram from %v is not RTCP: %v (% x)", from, err, b)
	}
	return pkts, from
}

// mentions reports whether any packet of a compound names ssrc.
func mentions(pkts []rtcp.Packet, ssrc uint32) bool {
	for _, p := range pkts {
		for _, s := range p.DestinationSSRC() {
			if s == ssrc {
				return true
			}
		}
	}
	return false
}

// A relay with RTCP on: the agent leg sends Sender Reports about the
// masked stream the agent receives (the pipeline's SSRC and counts), the
// caller leg about the agent's stream it forwards, each with a reception
// block on the stream it receives; the caller's own RTCP stays at the
// caller leg; Close says BYE.
func TestRelayRTCPReportsTheStreamsEachPeerReceives(t *testing.T) {
	t.Run("leg readers", func(t *testing.T) { testRelayRTCP(t, false) })
	t.Run("reactor", func(t *testing.T) { testRelayRTCP(t, true) })
}

func testRelayRTCP(t *testing.T, withReactor bool) {
	clock := testkit.NewClock(hEpoch)
	pool, _ := testPool(t, 2)
	callerRTP, callerRTCP := testkit.ListenUDP(t), testkit.ListenUDP(t)
	agentRTP, agentRTCP := testkit.ListenUDP(t), testkit.ListenUDP(t)
	caller, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: testkit.AddrOf(callerRTP), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: testkit.AddrOf(agentRTP), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: 0, EventPTs: []uint8{hEventPT},
		SSRC: e2eSSRC, FirstSequence: 100, FirstTimestamp: 1}, media.LegSender{Leg: agent})
	if err != nil {
		t.Fatal(err)
	}
	h := &handledSignal{p: p, done: make(chan struct{}, 128)}
	var reactor *media.Reactor
	if withReactor {
		reactor = testReactor(t, media.ReactorConfig{Now: clock.Now})
	}
	relay, err := media.NewRelay(media.RelayConfig{Caller: caller, Agent: agent, CallerToAgent: h, Tick: p, Now: clock.Now, Reactor: reactor,
		RTCP: &media.RelayRTCP{CallerRemote: testkit.AddrOf(callerRTCP), AgentRemote: testkit.AddrOf(agentRTCP), AgentSent: p.Sent,
			Rand: func() float64 { return 0.5 }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}

	// The agent talks first: 10 packets forwarded unchanged to the caller.
	const agentSSRC, callerSSRC, callerRTCPSSRC = 0xA6E47000, 0x11223344, 0xBADC0DE
	pay := make([]byte, hFrame)
	for i := range 10 {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(500 + i), Timestamp: uint32(i * hFrame),
			SSRC: agentSSRC}, Payload: pay}).Marshal()
		testkit.SendUDP(t, agentRTP, agent.LocalAddr(), b)
		testkit.ReadWithin(t, callerRTP, 5*time.Second)
	}
	// The caller's own RTCP (an RR naming its source) goes to the caller
	// leg's RTCP port; it must never reach the agent.
	rr, _ := (&rtcp.ReceiverReport{SSRC: callerRTCPSSRC}).Marshal()
	sdes, _ := rtcp.NewCNAMESourceDescription(callerRTCPSSRC, "caller").Marshal()
	testkit.SendUDP(t, callerRTCP, testkit.AddrOf(caller.RTCP()), append(rr, sdes...))
	// Wait (bounded) until the caller leg's session has read it, so that
	// Close cannot discard it unread.
	testkit.WaitFor(t, "the caller leg's RTCP session takes the caller's RR", func() bool { return relay.Stats().CallerRTCP.Accepted > 0 })

	// 50 caller packets, 20 ms apart on the legs' clock.
	sendCaller := func(i int, at time.Time) {
		clock.Set(at)
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(1000 + i), Timestamp: uint32(i * hFrame),
			SSRC: callerSSRC}, Payload: pay}).Marshal()
		testkit.SendUDP(t, callerRTP, caller.LocalAddr(), b)
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("caller packet %d not handled within 5 s", i)
		}
	}
	for i := range 50 {
		sendCaller(i, hEpoch.Add(time.Duration(i+1)*20*time.Millisecond))
	}
	// Ten seconds later (past the first report interval, RFC 3550 §6.2)
	// one more packet: its tick (or the wheel's) writes both reports.
	sendCaller(50, hEpoch.Add(11*time.Second))

	agentReport, from := readRTCPWithin(t, agentRTCP, 5*time.Second)
	if from != testkit.AddrOf(agent.RTCP()) {
		t.Errorf("agent's RTCP came from %v, want the agent leg's RTCP port %v", from, testkit.AddrOf(agent.RTCP()))
	}
	sr, ok := agentReport[0].(*rtcp.SenderReport)
	if !ok {
		t.Fatalf("agent's report starts with %T, want an SR: %v", agentReport[0], agentReport)
	}
	sent := p.Stats().Sent
	if sr.SSRC != e2eSSRC || uint64(sr.PacketCount) != sent || sr.OctetCount != sr.PacketCount*hFrame {
		t.Errorf("agent SR: SSRC %08x, %d packets, %d octets; want SSRC %08x and the %d packets of %d octets the pipeline sent",
			sr.SSRC, sr.PacketCount, sr.OctetCount, e2eSSRC, sent, hFrame)
	}
	if len(sr.Reports) != 1 || sr.Reports[0].SSRC != agentSSRC || sr.Reports[0].LastSequenceNumber != 509 {
		t.Errorf("agent SR reception blocks %+v, want one on %08x with highest sequence 509", sr.Reports, uint32(agentSSRC))
	}
	if mentions(agentReport, callerRTCPSSRC) {
		t.Errorf("the caller's RTCP source reached the agent: %v", agentReport)
	}

	callerReport, _ := readRTCPWithin(t, callerRTCP, 5*time.Second)
	csr, ok := callerReport[0].(*rtcp.SenderReport)
	if !ok {
		t.Fatalf("caller's report starts with %T, want an SR", callerReport[0])
	}
	if csr.SSRC != agentSSRC || csr.PacketCount != 10 || csr.OctetCount != 10*hFrame {
		t.Errorf("caller SR: SSRC %08x, %d packets, %d octets; want %08x, 10, %d", csr.SSRC, csr.PacketCount, csr.OctetCount,
			uint32(agentSSRC), 10*hFrame)
	}
	if len(csr.Reports) != 1 || csr.Reports[0].SSRC != callerSSRC || csr.Reports[0].LastSequenceNumber != 1050 ||
		csr.Reports[0].TotalLost != 0 {
		t.Errorf("caller SR reception blocks %+v, want one on %08x, highest 1050, none lost", csr.Reports, uint32(callerSSRC))
	}

	// The agent received exactly the RTP packets the SR counts, all
	// audio: no RTCP of the caller's came through on the RTP port.
	var agentGot uint64
	buf := make([]byte, media.MaxDatagram+1)
	for range sent + 5 {
		if err := agentRTP.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, _, err := agentRTP.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		var hd rtp.Header
		if _, err := hd.Unmarshal(buf[:n]); err != nil || hd.PayloadType != 0 || hd.SSRC != e2eSSRC {
			t.Errorf("agent RTP port got a datagram that is not the pipeline's audio: % x", buf[:n])
		}
		agentGot++
	}
	if agentGot != uint64(sr.PacketCount) {
		t.Errorf("agent received %d RTP packets, its SR says %d were sent", agentGot, sr.PacketCount)
	}

	// Close: a BYE for the pipeline's source reaches the agent, and the
	// caller's RTCP was taken in by the caller leg's session only.
	if err := relay.Close(); err != nil {
		t.Fatal(err)
	}
	var bye bool
	for range 4 { // at most the report and its BYE, read until the BYE
		pkts, _ := readRTCPWithin(t, agentRTCP, 5*time.Second)
		if mentions(pkts, callerRTCPSSRC) {
			t.Errorf("the caller's RTCP source reached the agent: %v", pkts)
		}
		for _, x := range pkts {
			if b, ok := x.(*rtcp.Goodbye); ok && len(b.Sources) > 0 && b.Sources[0] == e2eSSRC {
				bye = true
			}
		}
		if bye {
			break
		}
	}
	if !bye {
		t.Error("no BYE for the pipeline's SSRC reached the agent")
	}
	st := relay.Stats()
	if st.CallerRTCP.Accepted != 1 || st.CallerRTCP.PeerReceiverReports != 1 || st.AgentRTCP.Accepted != 0 {
		t.Errorf("caller session accepted %d (RRs %d), agent session %d; want the caller's one compound at the caller leg only",
			st.CallerRTCP.Accepted, st.CallerRTCP.PeerReceiverReports, st.AgentRTCP.Accepted)
	}
	if st.AgentRTCP.SenderReportsSent == 0 || st.CallerRTCP.SenderReportsSent == 0 {
		t.Errorf("RTCP stats: %+v / %+v", st.CallerRTCP, st.AgentRTCP)
	}
}
