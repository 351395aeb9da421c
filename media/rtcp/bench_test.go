package rtcp

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkRTCPBuildReport measures one due report: reading the stream
// facts, building the SR with its reception block and CNAME, and handing
// it to Write (a no-op here). It runs once per leg per ~5 s interval.
func BenchmarkRTCPBuildReport(b *testing.B) {
	sent := SentStream{SSRC: rtcpOurs, Packets: 1, PayloadOctets: 160, LastSent: rtcpT0}
	s, err := NewSession(Config{
		Remote: rtcpPeer,
		CNAME:  "bench",
		Sent:   func() SentStream { return sent },
		Received: func() Reception {
			return Reception{SSRC: rtcpTheir, ExtHighestSeq: 500, Expected: 500, Received: 490, JitterTS: 12}
		},
		Write: func([]byte, netip.AddrPort) error { return nil },
		Rand:  func() float64 { return 0.5 },
	})
	if err != nil {
		b.Fatal(err)
	}
	s.HandleRTCP(peerSR(b, 1<<40), rtcpPeer, rtcpT0)
	now := rtcpT0
	s.Tick(now)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(10 * time.Second)
		sent.Packets += 250
		s.Tick(now)
	}
	if s.Stats().ReportsSent == 0 {
		b.Fatal("no report written")
	}
}

// BenchmarkRTCPHandleCompound measures handling one peer compound packet
// (SR with a block about our stream, SDES CNAME) through pion/rtcp.
func BenchmarkRTCPHandleCompound(b *testing.B) {
	s, err := NewSession(Config{
		Remote: rtcpPeer,
		SSRC:   rtcpOurs,
		Write:  func([]byte, netip.AddrPort) error { return nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	pkt := rtcpFuzzSeeds(b)[0]
	pkt = append(pkt, peerRR(b)[8:]...) // SR + SDES
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		s.HandleRTCP(pkt, rtcpPeer, rtcpT0)
	}
	if st := s.Stats(); st.DroppedMalformed != 0 || st.Accepted == 0 {
		b.Fatalf("benchmark packet not accepted: %+v", st)
	}
}

// BenchmarkRTCPDropWrongSource measures the cost of an injected datagram:
// it is dropped before parsing.
func BenchmarkRTCPDropWrongSource(b *testing.B) {
	s, err := NewSession(Config{Remote: rtcpPeer, Write: func([]byte, netip.AddrPort) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	pkt := peerSR(b, 1)
	from := netip.MustParseAddrPort("203.0.113.9:40001")
	b.ReportAllocs()
	for b.Loop() {
		s.HandleRTCP(pkt, from, rtcpT0)
	}
}

// BenchmarkHighestSeqNote is the per-packet cost the relay adds to feed
// the reception block's extended highest sequence number.
func BenchmarkHighestSeqNote(b *testing.B) {
	var h HighestSeq
	seq := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		h.Note(rtcpTheir, seq)
	}
}

// BenchmarkRTCPTickNotDue is what a shared 20 ms wheel pays per leg per
// round between reports.
func BenchmarkRTCPTickNotDue(b *testing.B) {
	s, err := NewSession(Config{Remote: rtcpPeer, Write: func([]byte, netip.AddrPort) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	s.Tick(rtcpT0)
	b.ReportAllocs()
	for b.Loop() {
		s.Tick(rtcpT0)
	}
}

// BenchmarkSentCounterNote is the per-packet cost of counting a sent
// packet for the SR.
func BenchmarkSentCounterNote(b *testing.B) {
	var c SentCounter
	ts := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		ts += 160
		c.Note(rtcpOurs, ts, 160, rtcpT0)
	}
}
