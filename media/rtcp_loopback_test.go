package media

import (
	"bytes"
	"dtmfgw/internal/testkit"
	"net"
	"net/netip"
	"testing"
	"time"

	pionrtcp "github.com/pion/rtcp"
	"github.com/pion/rtp"

	"dtmfgw/media/rtcp"
)

// rtcpTestLeg is a started Leg on 127.0.0.1 whose accepted packets are
// noted in a rtcp.HighestSeq and announced on arrived.
func rtcpTestLeg(t *testing.T, remote netip.AddrPort, heard *rtcp.HighestSeq, arrived chan<- struct{}) *Leg {
	t.Helper()
	var pool *PortPool
	var err error
	for range 20 {
		// A random pair in the unprivileged range, away from ":0" sockets.
		lo := 10000 + 2*int(time.Now().UnixNano()%4000)
		pool, err = NewPortPool(PortPoolConfig{BindAddr: netip.MustParseAddr("127.0.0.1"), Min: lo, Max: lo + 7, Drain: -1})
		if err != nil {
			t.Fatal(err)
		}
		var leg *Leg
		if leg, err = NewLeg(LegConfig{Pool: pool, Remote: remote}); err == nil {
			err = leg.Start(PacketHandlerFunc(func(p *Packet) {
				heard.Note(p.Header.SSRC, p.Header.SequenceNumber)
				arrived <- struct{}{}
			}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { leg.Close() })
			return leg
		}
	}
	t.Fatalf("no leg: %v", err)
	return nil
}

func TestRTCPReportFromARealLegsReceiveStats(t *testing.T) {
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var heard rtcp.HighestSeq
	arrived := make(chan struct{}, 1)
	leg := rtcpTestLeg(t, peer.LocalAddr().(*net.UDPAddr).AddrPort(), &heard, arrived)

	// The peer sends 65530…2 across the wrap with 65535 and 1 lost.
	to := net.UDPAddrFromAddrPort(leg.LocalAddr())
	for _, seq := range []uint16{65530, 65531, 65532, 65533, 65534, 0, 2} {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0xCAFE}, Payload: make([]byte, 160)}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d did not arrive", seq)
		}
	}

	var out rtcpCapture
	s, err := rtcp.NewSession(rtcp.Config{
		Remote:   rtcp.Addr(peer.LocalAddr().(*net.UDPAddr).AddrPort(), 0),
		SSRC:     0x55667788, // receiver-only
		Received: func() rtcp.Reception { return ReceptionOf(leg.Stats().Received, &heard) },
		Write:    out.write,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Tick(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s.Tick(s.Next())
	rr := out.last(t)[0].(*pionrtcp.ReceiverReport)
	if len(rr.Reports) != 1 {
		t.Fatalf("RR has %d blocks, want 1", len(rr.Reports))
	}
	blk := rr.Reports[0]
	// The first two packets are the source's probation (RFC 3550 §A.1):
	// counting starts at 65531, so 8 are expected to 2 (wrapped) and 6
	// were received.
	snap := leg.Stats().Received
	if blk.SSRC != 0xCAFE || blk.LastSequenceNumber != 1<<16|2 || int64(blk.TotalLost) != snap.Lost || snap.Lost != 2 {
		t.Errorf("block = %+v (snapshot %+v), want SSRC 0xCAFE, highest 1<<16|2, 2 lost", blk, snap)
	}
	if want := uint8(2 * 256 / snap.Expected); blk.FractionLost != want {
		t.Errorf("fraction lost = %d, want %d", blk.FractionLost, want)
	}
}

// The RTCP bookkeeping on the packet path (each leg's rtcp.HighestSeq, the
// forwarded packets' SentCounters, the sessions' Tick on the relay's
// ticks) allocates nothing per packet.
func TestRelayRTCPNotesWithoutAllocating(t *testing.T) {
	rp := newRelayPeers(t, LegConfig{}, func(c *RelayConfig) {
		c.TickInterval = time.Nanosecond // tick on every packet
		c.RTCP = &RelayRTCP{CallerRemote: testkit.AddrOf(testkit.ListenUDP(t)), AgentRemote: testkit.AddrOf(testkit.ListenUDP(t))}
	})
	caller, agent, err := rp.relay.chains()
	if err != nil {
		t.Fatal(err)
	}
	raw := rtpBytes(t, 1, make([]byte, 160))
	pkt := Packet{Raw: raw, Payload: raw[12:], Arrival: time.Now()}
	if _, err := pkt.Header.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(200, func() {
		// 200 ms in all: before the first report is due (§6.2).
		pkt.Arrival = pkt.Arrival.Add(time.Millisecond)
		pkt.Header.SequenceNumber++
		caller.HandleRTP(&pkt)
		agent.HandleRTP(&pkt)
		rp.relay.tickIfIdle(pkt.Arrival)
	}); n != 0 {
		t.Fatalf("%v allocations per packet, want 0", n)
	}
	if _, ext, ok := rp.relay.rtcp.callerSeq.Load(); !ok || ext == 0 {
		t.Errorf("caller leg's highest sequence not noted: %d %v", ext, ok)
	}
	if s := rp.relay.rtcp.toAgent.Load(); s.Packets == 0 {
		t.Errorf("packets forwarded to the agent not noted: %+v", s)
	}
	if s := rp.relay.rtcp.toCaller.Load(); s.Packets == 0 {
		t.Errorf("packets forwarded to the caller not noted: %+v", s)
	}
}

func TestReceptionOfTakesTheHighestSeqOfTheCurrentSourceOnly(t *testing.T) {
	snap := ReceiveSnapshot{SSRC: 9, Expected: 100, Received: 97, JitterTS: 12.5}
	var h rtcp.HighestSeq
	h.Note(9, 4242)
	want := rtcp.Reception{SSRC: 9, ExtHighestSeq: 4242, Expected: 100, Received: 97, JitterTS: 12.5}
	if got := ReceptionOf(snap, &h); got != want {
		t.Errorf("ReceptionOf = %+v, want %+v", got, want)
	}
	h.Note(10, 5)
	want.ExtHighestSeq = 0
	if got := ReceptionOf(snap, &h); got != want {
		t.Errorf("with another source noted: %+v, want %+v", got, want)
	}
}

// rtcpCapture keeps what an RTCP session wrote.
type rtcpCapture struct{ pkts [][]byte }

func (c *rtcpCapture) write(b []byte, _ netip.AddrPort) error {
	c.pkts = append(c.pkts, bytes.Clone(b))
	return nil
}

// last parses the last compound written.
func (c *rtcpCapture) last(t *testing.T) []pionrtcp.Packet {
	t.Helper()
	if len(c.pkts) == 0 {
		t.Fatal("nothing written")
	}
	pkts, err := pionrtcp.Unmarshal(c.pkts[len(c.pkts)-1])
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}
