package rtcp

import (
	"net/netip"
	"testing"
	"time"

	pionrtcp "github.com/pion/rtcp"
)

// FuzzRTCPReceive feeds arbitrary datagrams to an Session, from the
// remote and from a stranger, and checks: it never panics; each datagram
// is either accepted or dropped and counted, once; a stranger's datagram
// is always dropped as wrong-source; handling writes nothing (peer RTCP is
// never forwarded); and the next report still parses and obeys the
// compound rules, whatever the peer said.
func FuzzRTCPReceive(f *testing.F) {
	for _, seed := range rtcpFuzzSeeds(f) {
		f.Add(seed)
	}
	stranger := netip.MustParseAddrPort("203.0.113.5:40001")
	f.Fuzz(func(t *testing.T, b []byte) {
		var written [][]byte
		var sent SentStream
		s, err := NewSession(Config{
			Remote:   rtcpPeer,
			NATLatch: len(b) > 0 && b[0]&1 != 0,
			SSRC:     rtcpRecv,
			CNAME:    "fuzz",
			Sent:     func() SentStream { return sent },
			Received: func() Reception { return Reception{SSRC: rtcpTheir, Expected: 10, Received: 9} },
			Write: func(p []byte, _ netip.AddrPort) error {
				written = append(written, append([]byte(nil), p...))
				return nil
			},
			Rand: func() float64 { return 0.5 },
		})
		if err != nil {
			t.Fatal(err)
		}
		s.HandleRTCP(b, stranger, rtcpT0)
		s.HandleRTCP(b, rtcpPeer, rtcpT0)
		sent = SentStream{SSRC: rtcpOurs, Packets: 1, LastSent: rtcpT0}
		s.HandleRTCP(b, rtcpPeer, rtcpT0.Add(time.Second))
		st := s.Stats()
		if st.DroppedWrongSource != 1 {
			t.Fatalf("stranger's datagram not dropped as wrong-source: %+v", st)
		}
		if st.Accepted+st.DroppedMalformed != 2 {
			t.Fatalf("two datagrams from the remote gave %d accepted + %d malformed", st.Accepted, st.DroppedMalformed)
		}
		if len(written) != 0 {
			t.Fatalf("handling RTCP wrote %d packets: peer RTCP must never be forwarded", len(written))
		}
		if st.Peer.RTT < 0 || st.Peer.FractionLost < 0 || st.Peer.FractionLost >= 1 {
			t.Fatalf("peer report out of range: %+v", st.Peer)
		}
		if err := s.Close(rtcpT0.Add(2 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if len(written) != 1 {
			t.Fatalf("Close wrote %d packets, want 1", len(written))
		}
		pkts, err := pionrtcp.Unmarshal(written[0])
		if err != nil {
			t.Fatalf("our closing report does not parse: %v", err)
		}
		if err := pionrtcp.CompoundPacket(pkts).Validate(); err != nil {
			t.Fatalf("our closing report breaks the compound rules: %v", err)
		}
	})
}

// rtcpFuzzSeeds are well-formed compound packets of the kinds a peer
// sends, for the fuzzer to mutate (the checked-in corpus holds more).
func rtcpFuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	blk := pionrtcp.ReceptionReport{SSRC: rtcpOurs, FractionLost: 3, TotalLost: 7, LastSequenceNumber: 99, Jitter: 4, LastSenderReport: 1, Delay: 2}
	var seeds [][]byte
	for _, pkts := range [][]pionrtcp.Packet{
		{&pionrtcp.SenderReport{SSRC: rtcpTheir, NTPTime: 1 << 40, Reports: []pionrtcp.ReceptionReport{blk}}},
		{&pionrtcp.ReceiverReport{SSRC: rtcpTheir, Reports: []pionrtcp.ReceptionReport{blk}},
			&pionrtcp.SourceDescription{Chunks: []pionrtcp.SourceDescriptionChunk{{Source: rtcpTheir, Items: []pionrtcp.SourceDescriptionItem{{Type: pionrtcp.SDESCNAME, Text: "peer"}}}}}},
		{&pionrtcp.ReceiverReport{SSRC: rtcpTheir}, &pionrtcp.Goodbye{Sources: []uint32{rtcpTheir}, Reason: "bye"}},
		{&pionrtcp.ReceiverReport{SSRC: rtcpTheir}, &pionrtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 2}},
	} {
		b, err := pionrtcp.Marshal(pkts)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}
