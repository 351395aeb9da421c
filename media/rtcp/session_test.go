package rtcp

import (
	"bytes"
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	pionrtcp "github.com/pion/rtcp"
)

// rtcpT0 is the fake clock's origin in the RTCP tests.
var rtcpT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	rtcpPeer  = netip.MustParseAddrPort("192.0.2.10:40001")
	rtcpOurs  = uint32(0x0A0B0C0D) // the stream we send
	rtcpTheir = uint32(0x11223344) // the stream we receive
	rtcpRecv  = uint32(0x55667788) // our receiver-only SSRC
)

// rtcpCapture records what a session writes.
type rtcpCapture struct {
	pkts [][]byte
	to   []netip.AddrPort
	err  error
}

func (c *rtcpCapture) write(b []byte, to netip.AddrPort) error {
	if c.err != nil {
		return c.err
	}
	c.pkts = append(c.pkts, bytes.Clone(b))
	c.to = append(c.to, to)
	return nil
}

// last parses the last written compound packet with pion/rtcp, checks the
// compound rules (report first, CNAME) and returns it.
func (c *rtcpCapture) last(t *testing.T) []pionrtcp.Packet {
	t.Helper()
	if len(c.pkts) == 0 {
		t.Fatal("nothing written")
	}
	b := c.pkts[len(c.pkts)-1]
	if len(b)%4 != 0 {
		t.Fatalf("compound packet of %d octets is not 32-bit aligned", len(b))
	}
	pkts, err := pionrtcp.Unmarshal(b)
	if err != nil {
		t.Fatalf("our report does not parse: %v", err)
	}
	if err := pionrtcp.CompoundPacket(pkts).Validate(); err != nil {
		t.Fatalf("our report breaks the compound rules: %v", err)
	}
	return pkts
}

// rtcpFixture is a session with stream facts the test controls.
type rtcpFixture struct {
	s    *Session
	out  rtcpCapture
	sent SentStream
	recv Reception
	u    float64 // the randomisation draw
}

func newRTCPFixture(t *testing.T, edit func(*Config)) *rtcpFixture {
	t.Helper()
	f := &rtcpFixture{u: 0.5}
	cfg := Config{
		Remote:   rtcpPeer,
		SSRC:     rtcpRecv,
		CNAME:    "leg@dtmfgw",
		Sent:     func() SentStream { return f.sent },
		Received: func() Reception { return f.recv },
		Write:    f.out.write,
		Rand:     func() float64 { return f.u },
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	return f
}

// report makes the session write one report at now, scheduling first if
// needed, and returns it parsed.
func (f *rtcpFixture) report(t *testing.T, now time.Time) []pionrtcp.Packet {
	t.Helper()
	if f.s.Next().IsZero() {
		f.s.Tick(now.Add(-time.Hour))
	}
	n := len(f.out.pkts)
	f.s.next = now // due now, whatever the draw was
	f.s.Tick(now)
	if len(f.out.pkts) != n+1 {
		t.Fatalf("Tick at the due time wrote %d packets, want 1", len(f.out.pkts)-n)
	}
	return f.out.last(t)
}

// peerSR is a compound SR + SDES from the peer, as it would send it.
func peerSR(t testing.TB, ntp uint64, blocks ...pionrtcp.ReceptionReport) []byte {
	t.Helper()
	b, err := pionrtcp.Marshal([]pionrtcp.Packet{
		&pionrtcp.SenderReport{SSRC: rtcpTheir, NTPTime: ntp, RTPTime: 1234, PacketCount: 10, OctetCount: 1600, Reports: blocks},
		&pionrtcp.SourceDescription{Chunks: []pionrtcp.SourceDescriptionChunk{{Source: rtcpTheir, Items: []pionrtcp.SourceDescriptionItem{{Type: pionrtcp.SDESCNAME, Text: "peer"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// peerRR is a compound RR + SDES from the peer.
func peerRR(t testing.TB, blocks ...pionrtcp.ReceptionReport) []byte {
	t.Helper()
	b, err := pionrtcp.Marshal([]pionrtcp.Packet{
		&pionrtcp.ReceiverReport{SSRC: rtcpTheir, Reports: blocks},
		&pionrtcp.SourceDescription{Chunks: []pionrtcp.SourceDescriptionChunk{{Source: rtcpTheir, Items: []pionrtcp.SourceDescriptionItem{{Type: pionrtcp.SDESCNAME, Text: "peer"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNTPTimeIsSecondsSince1900AndBinaryFraction(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		want uint64
	}{
		{"unix epoch", time.Unix(0, 0), 2208988800 << 32},
		{"half a second", time.Unix(0, 500_000_000), 2208988800<<32 | 0x80000000},
		{"quarter second after 2026-03-01", rtcpT0.Add(250 * time.Millisecond), uint64(rtcpT0.Unix()+2208988800)<<32 | 0x40000000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ntpTime(tt.at); got != tt.want {
				t.Errorf("ntpTime = %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestCompactDurationIs65536thsOfASecond(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want uint32
	}{
		{0, 0},
		{-time.Second, 0},
		{time.Second, 65536},
		{500 * time.Millisecond, 32768},
		{5*time.Second + 250*time.Millisecond, 5*65536 + 16384},
		{20 * time.Hour, 0xFFFFFFFF}, // beyond the 32-bit field: saturates
	}
	for _, tt := range tests {
		if got := compactDuration(tt.d); got != tt.want {
			t.Errorf("compactDuration(%v) = %d, want %d", tt.d, got, tt.want)
		}
		if tt.d > 0 && tt.want < 0xFFFFFFFF {
			if back := compactToDuration(tt.want); back != tt.d {
				t.Errorf("compactToDuration(%d) = %v, want %v", tt.want, back, tt.d)
			}
		}
	}
}

func TestRTCPSenderReportCarriesEveryField(t *testing.T) {
	f := newRTCPFixture(t, nil)
	lastSent := rtcpT0.Add(7 * time.Second)
	f.sent = SentStream{SSRC: rtcpOurs, Packets: 350, PayloadOctets: 350 * 160, LastTimestamp: 0xFFFFFF00, LastSent: lastSent}
	f.recv = Reception{SSRC: rtcpTheir, ExtHighestSeq: 1<<16 | 42, Expected: 400, Received: 390, JitterTS: 37.8}

	// The peer's SR arrives at t0+8 s; our report goes out 1.5 s later.
	peerNTP := uint64(0x1234_5678_9ABC_DEF0)
	f.s.HandleRTCP(peerSR(t, peerNTP), rtcpPeer, rtcpT0.Add(8*time.Second))
	now := rtcpT0.Add(9*time.Second + 500*time.Millisecond)
	pkts := f.report(t, now)

	if len(pkts) != 2 {
		t.Fatalf("compound has %d packets, want SR + SDES", len(pkts))
	}
	sr, ok := pkts[0].(*pionrtcp.SenderReport)
	if !ok {
		t.Fatalf("first packet is %T, want SR", pkts[0])
	}
	if sr.SSRC != rtcpOurs {
		t.Errorf("SR SSRC = %#x, want the sent stream's %#x", sr.SSRC, rtcpOurs)
	}
	if want := ntpTime(now); sr.NTPTime != want {
		t.Errorf("NTP = %#x, want %#x", sr.NTPTime, want)
	}
	// 2.5 s after the last packet at 8 kHz: 20000 units on, wrapping.
	if want := uint32(20000 - 0x100); sr.RTPTime != want {
		t.Errorf("RTP timestamp = %d, want %d", sr.RTPTime, want)
	}
	if sr.PacketCount != 350 || sr.OctetCount != 350*160 {
		t.Errorf("counts = %d packets %d octets, want 350 and 56000", sr.PacketCount, sr.OctetCount)
	}
	if len(sr.Reports) != 1 {
		t.Fatalf("SR has %d blocks, want 1", len(sr.Reports))
	}
	want := pionrtcp.ReceptionReport{
		SSRC:               rtcpTheir,
		FractionLost:       6, // 10 of 400 lost: floor(10·256/400)
		TotalLost:          10,
		LastSequenceNumber: 1<<16 | 42,
		Jitter:             37,
		LastSenderReport:   0x5678_9ABC,   // the middle 32 bits of the peer's NTP
		Delay:              65536 + 32768, // 1.5 s in 1/65536 s
	}
	if sr.Reports[0] != want {
		t.Errorf("block = %+v\nwant    %+v", sr.Reports[0], want)
	}
	sdes, ok := pkts[1].(*pionrtcp.SourceDescription)
	if !ok || len(sdes.Chunks) != 1 || sdes.Chunks[0].Source != rtcpOurs ||
		len(sdes.Chunks[0].Items) != 1 || sdes.Chunks[0].Items[0].Type != pionrtcp.SDESCNAME ||
		sdes.Chunks[0].Items[0].Text != "leg@dtmfgw" {
		t.Errorf("SDES = %+v, want one CNAME chunk for %#x", pkts[1], rtcpOurs)
	}
	if f.out.to[0] != rtcpPeer {
		t.Errorf("report went to %v, want %v", f.out.to[0], rtcpPeer)
	}
}

func TestRTCPFractionLostIsOverTheIntervalSinceTheLastReport(t *testing.T) {
	tests := []struct {
		name               string
		expected, received uint64 // cumulative, at the second report
		wantFraction       uint8
		wantCumulative     uint32
	}{
		{"no loss in the interval", 200, 190, 0, 10},
		{"half of the interval lost", 300, 190, 128, 110},
		{"a quarter of the interval lost", 300, 240, 64, 60},
		{"more than expected (duplicates) reads as none", 200, 250, 0, 0xFFFFFF - 49},
		{"all but one of the interval lost", 200, 91, 253, 109},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRTCPFixture(t, func(c *Config) { c.Sent = nil })
			f.recv = Reception{SSRC: rtcpTheir, Expected: 100, Received: 90}
			f.report(t, rtcpT0.Add(5*time.Second))
			f.recv.Expected, f.recv.Received = tt.expected, tt.received
			rr := f.report(t, rtcpT0.Add(10*time.Second))[0].(*pionrtcp.ReceiverReport)
			blk := rr.Reports[0]
			if blk.FractionLost != tt.wantFraction || blk.TotalLost != tt.wantCumulative {
				t.Errorf("fraction %d cumulative %d, want %d and %d", blk.FractionLost, blk.TotalLost, tt.wantFraction, tt.wantCumulative)
			}
		})
	}
}

func TestRTCPReceiverReportWhenNotSending(t *testing.T) {
	f := newRTCPFixture(t, nil)
	f.recv = Reception{SSRC: rtcpTheir, Expected: 10, Received: 10}

	// Nothing sent yet: an RR from the receiver SSRC.
	rr, ok := f.report(t, rtcpT0.Add(5*time.Second))[0].(*pionrtcp.ReceiverReport)
	if !ok || rr.SSRC != rtcpRecv || len(rr.Reports) != 1 || rr.Reports[0].SSRC != rtcpTheir {
		t.Fatalf("first report = %+v, want an RR from %#x about %#x", rr, rtcpRecv, rtcpTheir)
	}
	// Sending: SRs.
	f.sent = SentStream{SSRC: rtcpOurs, Packets: 100, PayloadOctets: 16000, LastSent: rtcpT0.Add(9 * time.Second)}
	if _, ok := f.report(t, rtcpT0.Add(10*time.Second))[0].(*pionrtcp.SenderReport); !ok {
		t.Fatal("report after sending is not an SR")
	}
	// Stopped sending: still an SR at the next report (we sent since the
	// report before last, §6.4), then an RR from the stream's SSRC.
	if _, ok := f.report(t, rtcpT0.Add(15*time.Second))[0].(*pionrtcp.SenderReport); !ok {
		t.Fatal("first report after the last packet is not an SR")
	}
	rr, ok = f.report(t, rtcpT0.Add(20*time.Second))[0].(*pionrtcp.ReceiverReport)
	if !ok || rr.SSRC != rtcpOurs {
		t.Fatalf("second report after the last packet = %+v, want an RR from %#x", rr, rtcpOurs)
	}
}

func TestRTCPReportHasNoBlockBeforeAnythingWasReceived(t *testing.T) {
	f := newRTCPFixture(t, func(c *Config) { c.Sent = nil })
	rr := f.report(t, rtcpT0)[0].(*pionrtcp.ReceiverReport)
	if len(rr.Reports) != 0 {
		t.Errorf("RR has %d blocks, want none", len(rr.Reports))
	}
}

func TestRTCPBlockOnlyForASourceHeardSinceTheLastReport(t *testing.T) {
	f := newRTCPFixture(t, func(c *Config) { c.Sent = nil })
	f.recv = Reception{SSRC: rtcpTheir, Expected: 50, Received: 50}
	blocks := func(at time.Duration) int {
		return len(f.report(t, rtcpT0.Add(at))[0].(*pionrtcp.ReceiverReport).Reports)
	}
	if n := blocks(5 * time.Second); n != 1 {
		t.Fatalf("first report has %d blocks, want 1", n)
	}
	// The peer went on hold: nothing new, no block (RFC 3550 §6.4).
	if n := blocks(10 * time.Second); n != 0 {
		t.Errorf("report after silence has %d blocks, want 0", n)
	}
	f.recv.Expected, f.recv.Received = 60, 60
	if n := blocks(15 * time.Second); n != 1 {
		t.Errorf("report after the peer resumed has %d blocks, want 1", n)
	}
	f.recv.SSRC = rtcpTheir + 1 // a new source with the same counts
	if n := blocks(20 * time.Second); n != 1 {
		t.Errorf("report after a new source has %d blocks, want 1", n)
	}
}

func TestRTCPPeerSRThenOurRRCarriesLSRAndDLSR(t *testing.T) {
	tests := []struct {
		name     string
		srSSRC   uint32
		delay    time.Duration
		wantLSR  uint32
		wantDLSR uint32
	}{
		{"SR 250 ms before the report", rtcpTheir, 250 * time.Millisecond, 0x00C0_FFEE, 16384},
		{"SR 4.5 s before the report", rtcpTheir, 4500 * time.Millisecond, 0x00C0_FFEE, 4*65536 + 32768},
		{"SR of another source is not this block's", 0x99, time.Second, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRTCPFixture(t, func(c *Config) { c.Sent = nil })
			f.recv = Reception{SSRC: rtcpTheir, Expected: 5, Received: 5}
			ntp := uint64(0x00C0_FFEE) << 16
			b, err := pionrtcp.Marshal([]pionrtcp.Packet{&pionrtcp.SenderReport{SSRC: tt.srSSRC, NTPTime: ntp}})
			if err != nil {
				t.Fatal(err)
			}
			at := rtcpT0.Add(3 * time.Second)
			f.s.HandleRTCP(b, rtcpPeer, at)
			rr := f.report(t, at.Add(tt.delay))[0].(*pionrtcp.ReceiverReport)
			blk := rr.Reports[0]
			if blk.LastSenderReport != tt.wantLSR || blk.Delay != tt.wantDLSR {
				t.Errorf("LSR %#x DLSR %d, want %#x and %d", blk.LastSenderReport, blk.Delay, tt.wantLSR, tt.wantDLSR)
			}
		})
	}
}

func TestRTCPPeerReportAboutOurStreamIsKept(t *testing.T) {
	f := newRTCPFixture(t, nil)
	f.sent = SentStream{SSRC: rtcpOurs, Packets: 50, PayloadOctets: 8000, LastSent: rtcpT0}
	// Our SR at t0+5 s; the peer answers at t0+5.3 s having held it
	// 100 ms: the round trip is 200 ms.
	srAt := rtcpT0.Add(5 * time.Second)
	sr := f.report(t, srAt)[0].(*pionrtcp.SenderReport)
	lsr := ntpMiddle(sr.NTPTime)
	other := pionrtcp.ReceptionReport{SSRC: 0xDEAD, FractionLost: 200, TotalLost: 999}
	ours := pionrtcp.ReceptionReport{
		SSRC: rtcpOurs, FractionLost: 64, TotalLost: 0xFFFFFE, // −2: duplicates
		LastSequenceNumber: 3<<16 | 7, Jitter: 80,
		LastSenderReport: lsr, Delay: compactDuration(100 * time.Millisecond),
	}
	f.s.HandleRTCP(peerRR(t, other, ours), rtcpPeer, srAt.Add(300*time.Millisecond))

	got := f.s.Stats().Peer
	want := PeerReport{
		At: srAt.Add(300 * time.Millisecond), SSRC: rtcpOurs, FractionLost: 0.25,
		CumulativeLost: -2, ExtHighestSeq: 3<<16 | 7, JitterTS: 80,
		Jitter: 10 * time.Millisecond, // 80 units at 8 kHz
	}
	rtt := got.RTT
	got.RTT = 0
	if got != want {
		t.Errorf("peer report = %+v\nwant          %+v", got, want)
	}
	// Compact NTP has 15 µs resolution; allow two units.
	if d := rtt - 200*time.Millisecond; d < -31*time.Microsecond || d > 31*time.Microsecond {
		t.Errorf("RTT = %v, want 200ms", rtt)
	}
	if st := f.s.Stats(); st.PeerReceiverReports != 1 || st.Accepted != 1 {
		t.Errorf("stats = %+v, want one RR accepted", st)
	}
}

func TestRTCPWrongSourceIsDroppedAndCounted(t *testing.T) {
	tests := []struct {
		name string
		nat  bool
		from netip.AddrPort
	}{
		{"right IP, wrong port", false, netip.MustParseAddrPort("192.0.2.10:40003")},
		{"wrong IP, right port", false, netip.MustParseAddrPort("192.0.2.11:40001")},
		{"RTP port instead of RTCP", false, netip.MustParseAddrPort("192.0.2.10:40000")},
		{"NAT mode, wrong IP", true, netip.MustParseAddrPort("198.51.100.1:40001")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRTCPFixture(t, func(c *Config) { c.NATLatch = tt.nat })
			f.recv = Reception{SSRC: rtcpTheir, Expected: 5, Received: 5}
			f.s.HandleRTCP(peerSR(t, 0xAAAA_BBBB_CCCC_DDDD), tt.from, rtcpT0)
			st := f.s.Stats()
			if st.DroppedWrongSource != 1 || st.Accepted != 0 || st.PeerSenderReports != 0 {
				t.Errorf("stats = %+v, want one wrong-source drop and nothing accepted", st)
			}
			// The injected SR must not reach our report's LSR.
			rr := f.report(t, rtcpT0.Add(time.Second))[0].(*pionrtcp.ReceiverReport)
			if blk := rr.Reports[0]; blk.LastSenderReport != 0 || blk.Delay != 0 {
				t.Errorf("block LSR %#x DLSR %d, want zero: no SR was accepted", blk.LastSenderReport, blk.Delay)
			}
		})
	}
}

func TestRTCPMalformedIsDroppedAndCounted(t *testing.T) {
	valid := peerSR(t, 1)
	sdesOnly, err := pionrtcp.Marshal([]pionrtcp.Packet{&pionrtcp.SourceDescription{Chunks: []pionrtcp.SourceDescriptionChunk{{Source: 1, Items: []pionrtcp.SourceDescriptionItem{{Type: pionrtcp.SDESCNAME, Text: "x"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	byeOnly, err := (&pionrtcp.Goodbye{Sources: []uint32{1}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	version1 := bytes.Clone(valid)
	version1[0] = 1<<6 | version1[0]&0x3F
	longLength := bytes.Clone(valid)
	longLength[3] += 10
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"three octets", valid[:3]},
		{"truncated SR", valid[:20]},
		{"version 1", version1},
		{"length beyond the datagram", longLength},
		{"SDES first", sdesOnly},
		{"BYE alone", byeOnly},
		{"an RTP packet", []byte{0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"oversize", make([]byte, maxDatagram+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRTCPFixture(t, nil)
			f.s.HandleRTCP(tt.b, rtcpPeer, rtcpT0)
			st := f.s.Stats()
			if st.DroppedMalformed != 1 || st.Accepted != 0 || st.PeerByes != 0 || st.PeerSenderReports != 0 {
				t.Errorf("stats = %+v, want one malformed drop", st)
			}
		})
	}
}

func TestRTCPNATLatchesOnceToAValidPacketFromTheSignalledIP(t *testing.T) {
	f := newRTCPFixture(t, func(c *Config) { c.NATLatch = true })
	natted := netip.MustParseAddrPort("192.0.2.10:61001")
	other := netip.MustParseAddrPort("192.0.2.10:61002")

	f.s.HandleRTCP([]byte{1, 2, 3}, other, rtcpT0) // garbage does not latch
	if r := f.s.Remote(); r != rtcpPeer {
		t.Fatalf("malformed datagram moved the remote to %v", r)
	}
	f.s.HandleRTCP(peerRR(t), natted, rtcpT0)
	if r := f.s.Remote(); r != natted {
		t.Fatalf("remote = %v, want the latched %v", r, natted)
	}
	f.s.HandleRTCP(peerRR(t), other, rtcpT0) // latched once: strict now
	st := f.s.Stats()
	if st.Accepted != 1 || st.DroppedMalformed != 1 || st.DroppedWrongSource != 1 || f.s.Remote() != natted {
		t.Errorf("stats = %+v remote %v, want 1 accepted, 1 malformed, 1 wrong source, remote %v", st, f.s.Remote(), natted)
	}
	f.report(t, rtcpT0.Add(time.Second))
	if to := f.out.to[len(f.out.to)-1]; to != natted {
		t.Errorf("report went to %v, want the latched %v", to, natted)
	}
}

func TestRTCPNoRemoteDropsEverythingAndWritesNothing(t *testing.T) {
	for _, remote := range []netip.AddrPort{{}, netip.MustParseAddrPort("0.0.0.0:40001"), netip.MustParseAddrPort("192.0.2.10:0")} {
		f := newRTCPFixture(t, func(c *Config) { c.Remote = remote; c.NATLatch = true })
		f.s.HandleRTCP(peerRR(t), rtcpPeer, rtcpT0)
		f.s.Tick(rtcpT0)
		f.s.Tick(rtcpT0.Add(time.Minute))
		if st := f.s.Stats(); st.DroppedWrongSource != 1 || len(f.out.pkts) != 0 {
			t.Errorf("remote %v: stats %+v, %d written; want a drop and nothing written", remote, st, len(f.out.pkts))
		}
	}
}

func TestRTCPByeOnClose(t *testing.T) {
	f := newRTCPFixture(t, nil)
	f.recv = Reception{SSRC: rtcpTheir, Expected: 5, Received: 5}
	f.report(t, rtcpT0) // an RR as the receiver SSRC
	f.sent = SentStream{SSRC: rtcpOurs, Packets: 9, PayloadOctets: 1440, LastSent: rtcpT0.Add(time.Second)}

	if err := f.s.Close(rtcpT0.Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	pkts := f.out.last(t)
	if len(pkts) != 3 {
		t.Fatalf("closing compound has %d packets, want SR, SDES, BYE", len(pkts))
	}
	if _, ok := pkts[0].(*pionrtcp.SenderReport); !ok {
		t.Errorf("first packet is %T, want the final SR", pkts[0])
	}
	bye, ok := pkts[2].(*pionrtcp.Goodbye)
	if !ok || len(bye.Sources) != 2 || bye.Sources[0] != rtcpRecv || bye.Sources[1] != rtcpOurs {
		t.Errorf("last packet = %+v, want BYE for %#x and %#x", pkts[2], rtcpRecv, rtcpOurs)
	}
	if err := f.s.Close(rtcpT0.Add(3 * time.Second)); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	n := len(f.out.pkts)
	if next := f.s.Tick(rtcpT0.Add(time.Hour)); !next.IsZero() || len(f.out.pkts) != n {
		t.Errorf("Tick after Close returned %v and wrote %d, want zero and nothing", next, len(f.out.pkts)-n)
	}
}

func TestRTCPCloseReportsTheWriteError(t *testing.T) {
	f := newRTCPFixture(t, nil)
	f.out.err = errors.New("socket gone")
	if err := f.s.Close(rtcpT0); !errors.Is(err, f.out.err) {
		t.Errorf("Close = %v, want the write error", err)
	}
	if st := f.s.Stats(); st.WriteErrors != 1 || st.ReportsSent != 0 {
		t.Errorf("stats = %+v, want one write error", st)
	}
}

func TestRTCPIntervalBounds(t *testing.T) {
	const comp = math.E - 1.5
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	tests := []struct {
		name      string
		min       time.Duration
		reduced   bool
		bw        int
		avg       float64
		initial   bool
		low, high time.Duration // at u = 0 and u → 1
	}{
		{"5 s minimum", 5 * time.Second, false, 80000, 100, false, sec(2.5 / comp), sec(7.5 / comp)},
		{"first report: half the minimum", 5 * time.Second, false, 80000, 100, true, sec(1.25 / comp), sec(3.75 / comp)},
		{"reduced minimum 360/80 kbit/s", 5 * time.Second, true, 80000, 100, false, sec(4.5 * 0.5 / comp), sec(4.5 * 1.5 / comp)},
		// 2 members × 1000 octets / (5% of 8000 bit/s = 50 octets/s) = 40 s.
		{"bandwidth bound above the minimum", 5 * time.Second, false, 8000, 1000, false, sec(20 / comp), sec(60 / comp)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo := rtcpInterval(tt.min, tt.reduced, tt.bw, tt.avg, tt.initial, 0)
			hi := rtcpInterval(tt.min, tt.reduced, tt.bw, tt.avg, tt.initial, math.Nextafter(1, 0))
			if d := lo - tt.low; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("u=0: %v, want %v", lo, tt.low)
			}
			if d := hi - tt.high; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("u→1: %v, want %v", hi, tt.high)
			}
		})
	}
}

func TestRTCPTickSchedulesWithinTheRandomisedBounds(t *testing.T) {
	// With the real random source: every scheduled interval stays within
	// [0.5, 1.5] × Tmin / (e − 3/2), the first one within half of that.
	const comp = math.E - 1.5
	f := newRTCPFixture(t, func(c *Config) { c.Rand = nil })
	now := rtcpT0
	next := f.s.Tick(now)
	sec := float64(time.Second)
	lo, hi := time.Duration(1.25/comp*sec), time.Duration(3.75/comp*sec)
	if d := next.Sub(now); d < lo || d > hi {
		t.Fatalf("first report in %v, want within [%v, %v]", d, lo, hi)
	}
	lo, hi = 2*lo, 2*hi
	shortest, longest := time.Hour, time.Duration(0)
	for range 500 {
		if again := f.s.Tick(next.Add(-time.Millisecond)); again != next {
			t.Fatalf("Tick before the due time moved it from %v to %v", next, again)
		}
		now = next
		next = f.s.Tick(now)
		d := next.Sub(now)
		if d < lo || d > hi {
			t.Fatalf("report interval %v, want within [%v, %v]", d, lo, hi)
		}
		shortest, longest = min(shortest, d), max(longest, d)
	}
	if len(f.out.pkts) != 500 {
		t.Errorf("wrote %d reports in 500 due ticks", len(f.out.pkts))
	}
	// 500 uniform draws cover most of the range: the randomisation is real.
	if span := longest - shortest; span < (hi-lo)*8/10 {
		t.Errorf("intervals spread over only %v of %v", span, hi-lo)
	}
}

func TestNewRTCPSessionRejectsBadConfig(t *testing.T) {
	w := func([]byte, netip.AddrPort) error { return nil }
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no Write", Config{}},
		{"CNAME over 255 octets", Config{Write: w, CNAME: string(make([]byte, 256))}},
		{"negative interval", Config{Write: w, MinInterval: -time.Second}},
		{"negative bandwidth", Config{Write: w, SessionBandwidth: -1}},
	}
	for _, tt := range tests {
		if _, err := NewSession(tt.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tt.name, err)
		}
	}
}

func TestNewRTCPSessionPicksRandomCNAMEAndSSRC(t *testing.T) {
	w := func([]byte, netip.AddrPort) error { return nil }
	a, err := NewSession(Config{Write: w})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSession(Config{Write: w})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.CNAME()) != 16 || a.CNAME() == b.CNAME() {
		t.Errorf("CNAMEs %q and %q, want two distinct 16-character random names", a.CNAME(), b.CNAME())
	}
	if a.cfg.SSRC == 0 || a.cfg.SSRC == b.cfg.SSRC {
		t.Errorf("SSRCs %#x and %#x, want two distinct non-zero ones", a.cfg.SSRC, b.cfg.SSRC)
	}
}

func TestRTCPBuildingAReportAllocatesNothing(t *testing.T) {
	f := newRTCPFixture(t, func(c *Config) {
		c.Write = func([]byte, netip.AddrPort) error { return nil }
	})
	f.sent = SentStream{SSRC: rtcpOurs, Packets: 1, LastSent: rtcpT0}
	f.recv = Reception{SSRC: rtcpTheir, Expected: 1, Received: 1}
	now := rtcpT0
	f.s.Tick(now)
	allocs := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Minute)
		f.sent.Packets++
		f.s.Tick(now)
	})
	if allocs != 0 {
		t.Errorf("a due Tick allocates %v times, want 0", allocs)
	}
}

func TestHighestSeq(t *testing.T) {
	tests := []struct {
		name string
		ssrc []uint32 // per packet; one value means all
		seqs []uint16
		want uint32
	}{
		{"in order", nil, []uint16{1, 2, 3}, 3},
		{"late and duplicate leave it", nil, []uint16{10, 12, 11, 12, 9}, 12},
		{"wrap adds a cycle", nil, []uint16{65534, 65535, 0, 1}, 1<<16 | 1},
		{"late packet from before the wrap", nil, []uint16{65535, 0, 65534}, 1 << 16},
		{"unconfirmed jump is ignored", nil, []uint16{100, 101, 9000, 102}, 102},
		{"confirmed jump restarts", nil, []uint16{100, 101, 9000, 9001}, 9001},
		{"new source starts over", []uint32{1, 1, 2}, []uint16{65535, 0, 500}, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h HighestSeq
			if _, _, ok := h.Load(); ok {
				t.Fatal("zero HighestSeq says ok")
			}
			last := uint32(7)
			for i, seq := range tt.seqs {
				if tt.ssrc != nil {
					last = tt.ssrc[i]
				}
				h.Note(last, seq)
			}
			ssrc, ext, ok := h.Load()
			if !ok || ssrc != last || ext != tt.want {
				t.Errorf("Load = %#x %#x %v, want %#x %#x true", ssrc, ext, ok, last, tt.want)
			}
		})
	}
}

func TestHighestSeqNoteAllocatesNothing(t *testing.T) {
	var h HighestSeq
	seq := uint16(0)
	if allocs := testing.AllocsPerRun(1000, func() { seq++; h.Note(1, seq) }); allocs != 0 {
		t.Errorf("Note allocates %v times, want 0", allocs)
	}
}

func TestSentCounterKeepsWhatWasSent(t *testing.T) {
	var c SentCounter
	if s := c.Load(); s != (SentStream{}) {
		t.Fatalf("zero SentCounter = %+v, want the zero SentStream", s)
	}
	c.SetClockRate(16000)
	at := rtcpT0.Add(20 * time.Millisecond)
	c.Note(rtcpOurs, 1000, 160, rtcpT0)
	c.Note(rtcpOurs, 1160, 160, at)
	want := SentStream{SSRC: rtcpOurs, Packets: 2, PayloadOctets: 320, LastTimestamp: 1160, LastSent: at, ClockRate: 16000}
	got := c.Load()
	if !got.LastSent.Equal(want.LastSent) {
		t.Errorf("LastSent = %v, want %v", got.LastSent, want.LastSent)
	}
	got.LastSent = want.LastSent
	if got != want {
		t.Errorf("Load = %+v, want %+v", got, want)
	}
	if allocs := testing.AllocsPerRun(1000, func() { c.Note(rtcpOurs, 1, 160, at) }); allocs != 0 {
		t.Errorf("Note allocates %v times, want 0", allocs)
	}
}

func TestSentCounterLoadIsConsistentWhileNoting(t *testing.T) {
	// Each Note writes packets = n and timestamp = 160·n: a Load must
	// never see one without the other.
	var c SentCounter
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := uint32(1); n <= 20000; n++ {
			c.Note(1, 160*n, 160, rtcpT0)
		}
	}()
	for range 20000 {
		s := c.Load()
		if uint64(s.LastTimestamp) != 160*s.Packets || s.PayloadOctets != 160*s.Packets {
			t.Fatalf("torn Load: %+v", s)
		}
	}
	<-done
}

func TestRTCPAddrIsRTPPortPlusOneOrTheSDPPort(t *testing.T) {
	tests := []struct {
		name    string
		rtp     string
		sdpPort uint16
		want    string
	}{
		{"RTP port + 1", "192.0.2.1:30000", 0, "192.0.2.1:30001"},
		{"a=rtcp port", "192.0.2.1:30000", 40123, "192.0.2.1:40123"},
		{"IPv6", "[2001:db8::1]:5004", 0, "[2001:db8::1]:5005"},
		{"port 0: no stream, no RTCP", "192.0.2.1:0", 0, "192.0.2.1:0"},
		{"no port above 65535", "192.0.2.1:65535", 0, "192.0.2.1:0"},
	}
	for _, tt := range tests {
		if got := Addr(netip.MustParseAddrPort(tt.rtp), tt.sdpPort); got != netip.MustParseAddrPort(tt.want) {
			t.Errorf("%s: Addr = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRTCPLongestCNAMEFitsWithSRBlockAndBye(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 254, 255} {
		cname := string(bytes.Repeat([]byte{'c'}, n))
		f := newRTCPFixture(t, func(c *Config) { c.CNAME = cname })
		f.recv = Reception{SSRC: rtcpTheir, Expected: 1, Received: 1}
		f.report(t, rtcpT0) // an RR as the receiver SSRC, then an SR: two BYE sources
		f.recv.Received++
		f.recv.Expected++
		f.sent = SentStream{SSRC: rtcpOurs, Packets: 1, LastSent: rtcpT0}
		if err := f.s.Close(rtcpT0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		pkts := f.out.last(t)
		sdes := pkts[1].(*pionrtcp.SourceDescription)
		if got := sdes.Chunks[0].Items[0].Text; got != cname {
			t.Errorf("CNAME of %d octets came back as %d octets", n, len(got))
		}
		if len(pkts) != 3 || len(pkts[0].(*pionrtcp.SenderReport).Reports) != 1 || len(pkts[2].(*pionrtcp.Goodbye).Sources) != 2 {
			t.Errorf("CNAME of %d octets: closing compound = %+v", n, pkts)
		}
	}
}
