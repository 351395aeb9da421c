package rtcp

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	pionrtcp "github.com/pion/rtcp"
)

// rtcpLoopbackEnd is one side of the loopback test: a session on a real
// UDP socket served by Serve, with a fake clock, and every datagram Serve
// has handled announced on arrived. (Announced from the clock reading,
// which Serve takes before handling, a datagram could be "arrived" while
// its report was not yet recorded: the next Tick then reported LSR 0.)
type rtcpLoopbackEnd struct {
	conn    *net.UDPConn
	s       *Session
	clock   atomic.Int64 // fake time, ns since rtcpT0
	arrived chan struct{}
	served  chan error
}

func (e *rtcpLoopbackEnd) now() time.Time { return rtcpT0.Add(time.Duration(e.clock.Load())) }

// serve runs Serve on the end's socket, announcing each datagram handled.
func (e *rtcpLoopbackEnd) serve(s *Session) {
	s.handled = func() { e.arrived <- struct{}{} }
	go func() { e.served <- s.Serve(e.conn, e.now) }()
}

// waitArrival waits for Serve to have handled one datagram, bounded.
func (e *rtcpLoopbackEnd) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-e.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("no RTCP datagram arrived within 5 s")
	}
}

// stop closes the socket and waits for Serve to return: after that every
// datagram Serve read has been handled.
func (e *rtcpLoopbackEnd) stop(t *testing.T) {
	t.Helper()
	e.conn.Close()
	select {
	case err := <-e.served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

func TestRTCPLoopbackBetweenTwoUDPSockets(t *testing.T) {
	var a, b rtcpLoopbackEnd
	for _, e := range []*rtcpLoopbackEnd{&a, &b} {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		e.conn = c
		e.arrived = make(chan struct{}, 1)
		e.served = make(chan error, 1)
	}
	addr := func(e *rtcpLoopbackEnd) netip.AddrPort { return e.conn.LocalAddr().(*net.UDPAddr).AddrPort() }
	half := func() float64 { return 0.5 }

	// A sends a stream (SSRC A) and receives B's; B only receives.
	sentA := SentStream{SSRC: 0xA, Packets: 250, PayloadOctets: 40000, LastTimestamp: 8000, LastSent: rtcpT0.Add(4 * time.Second)}
	var err error
	a.s, err = NewSession(Config{
		Remote: addr(&b), SSRC: 0xA0, CNAME: "a", Write: UDPWriter(a.conn), Rand: half,
		Sent:     func() SentStream { return sentA },
		Received: func() Reception { return Reception{SSRC: 0xB, ExtHighestSeq: 77, Expected: 80, Received: 80} },
	})
	if err != nil {
		t.Fatal(err)
	}
	b.s, err = NewSession(Config{
		Remote: addr(&a), SSRC: 0xB, CNAME: "b", Write: UDPWriter(b.conn), Rand: half,
		Received: func() Reception {
			return Reception{SSRC: 0xA, ExtHighestSeq: 300, Expected: 250, Received: 245, JitterTS: 3}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.serve(a.s)
	b.serve(b.s)

	// A's first report: scheduled on the first Tick, written when due.
	// Each receiver's clock is set before the datagram is sent.
	due := a.s.Tick(rtcpT0)
	b.clock.Store(int64(due.Sub(rtcpT0)))
	a.s.Tick(due)
	b.waitArrival(t)

	// In fake time A's SR reaches B at once, B reports 300 ms later and
	// its RR takes 100 ms back: A − LSR − DLSR is a 100 ms round trip.
	bAt := due.Add(300 * time.Millisecond)
	b.s.Tick(bAt)
	b.s.next = bAt
	a.clock.Store(int64(bAt.Add(100 * time.Millisecond).Sub(rtcpT0)))
	b.s.Tick(bAt)
	a.waitArrival(t)

	// A hangs up: BYE.
	if err := a.s.Close(bAt.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	b.waitArrival(t)
	a.stop(t)
	b.stop(t)

	sa, sb := a.s.Stats(), b.s.Stats()
	if sb.Accepted != 2 || sb.PeerSenderReports != 2 || sb.PeerByes != 1 || sb.DroppedWrongSource+sb.DroppedMalformed != 0 {
		t.Errorf("B stats = %+v, want A's SR and its closing SR+BYE accepted", sb)
	}
	if sa.Accepted != 1 || sa.PeerReceiverReports != 1 || sa.ReportsSent != 2 || sa.SenderReportsSent != 2 {
		t.Errorf("A stats = %+v, want B's RR accepted and two SRs sent", sa)
	}
	p := sa.Peer
	if p.SSRC != 0xA || p.CumulativeLost != 5 || p.FractionLost != float64(5*256/250)/256 || p.ExtHighestSeq != 300 || p.JitterTS != 3 {
		t.Errorf("A's view of B's report = %+v", p)
	}
	if d := p.RTT - 100*time.Millisecond; d < -31*time.Microsecond || d > 31*time.Microsecond {
		t.Errorf("RTT = %v, want 100ms", p.RTT)
	}
	if sb.PeerSRNTP == 0 || ntpMiddle(sb.PeerSRNTP) == 0 {
		t.Errorf("B kept no SR NTP time: %+v", sb)
	}
}

func TestRTCPServeDropsADatagramFromAThirdSocket(t *testing.T) {
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	e := rtcpLoopbackEnd{conn: listen(), arrived: make(chan struct{}, 1), served: make(chan error, 1)}
	peer, intruder := listen(), listen()
	defer peer.Close()
	defer intruder.Close()
	s, err := NewSession(Config{
		Remote: peer.LocalAddr().(*net.UDPAddr).AddrPort(),
		Write:  UDPWriter(e.conn),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	e.serve(s)
	to := e.conn.LocalAddr().(*net.UDPAddr)
	b, err := pionrtcp.Marshal([]pionrtcp.Packet{&pionrtcp.ReceiverReport{SSRC: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := intruder.WriteToUDP(b, to); err != nil {
		t.Fatal(err)
	}
	e.waitArrival(t)
	if _, err := peer.WriteToUDP(b, to); err != nil {
		t.Fatal(err)
	}
	e.waitArrival(t)
	e.stop(t)
	if st := s.Stats(); st.DroppedWrongSource != 1 || st.Accepted != 1 {
		t.Errorf("stats = %+v, want the intruder's RR dropped and the peer's accepted", st)
	}
}
