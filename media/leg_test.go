package media

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/internal/testkit"
)

// wait bounds every wait for an event in these tests.
const wait = 5 * time.Second

// rtpBytes marshals an RTP packet with PT 0 and the given payload.
func rtpBytes(t testing.TB, seq uint16, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x1234},
		Payload: payload,
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// got is what a recording handler keeps of one packet (copied, since the
// Packet is valid only during the call).
type got struct {
	seq     uint16
	from    netip.AddrPort
	payload []byte
	raw     []byte
	arrival time.Time
	version uint8
}

// recorder is a PacketHandler that copies packets into a channel.
type recorder chan got

func (r recorder) HandleRTP(p *Packet) {
	r <- got{
		seq:     p.Header.SequenceNumber,
		from:    p.From,
		payload: bytes.Clone(p.Payload),
		raw:     bytes.Clone(p.Raw),
		arrival: p.Arrival,
		version: p.Header.Version,
	}
}

// next returns the next recorded packet or fails after wait.
func (r recorder) next(t *testing.T) got {
	t.Helper()
	select {
	case g := <-r:
		return g
	case <-time.After(wait):
		t.Fatal("no packet reached the handler")
		return got{}
	}
}

// peer is a UDP socket on 127.0.0.1 (or another loopback IP) sending to a leg.
type peer struct {
	t    *testing.T
	conn *net.UDPConn
}

func newPeer(t *testing.T, ip string) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, conn: c}
}

func (p *peer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *peer) send(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// startLeg makes a leg from a fresh pool, starts it with a recorder and
// closes it at the end of the test.
func startLeg(t *testing.T, cfg LegConfig) (*Leg, recorder) {
	t.Helper()
	if cfg.Pool == nil {
		cfg.Pool, _ = testPool(t, 2, -1, nil)
	}
	l, err := NewLeg(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case <-l.done:
		default:
			t.Error("reader still running after Close returned")
		}
	})
	rec := make(recorder, 64)
	if err := l.Start(rec); err != nil {
		t.Fatal(err)
	}
	return l, rec
}

// bothReaders runs a socket test with the plain reader and the batched
// (recvmmsg) one.
func bothReaders(t *testing.T, test func(t *testing.T, batch int)) {
	t.Run("plain", func(t *testing.T) { test(t, 0) })
	t.Run("recvmmsg", func(t *testing.T) {
		if !batchSupported {
			t.Skip("no batched reader on this platform")
		}
		test(t, 8)
	})
}

func TestLegAcceptsOnlyTheSignalledSource(t *testing.T) {
	bothReaders(t, testLegAcceptsOnlyTheSignalledSource)
}

func testLegAcceptsOnlyTheSignalledSource(t *testing.T, batch int) {
	caller := newPeer(t, "127.0.0.1")
	intruderSameIP := newPeer(t, "127.0.0.1")
	intruderOtherIP := newPeer(t, "127.0.0.2")
	l, rec := startLeg(t, LegConfig{BatchRead: batch, Remote: caller.addr()})

	intruderSameIP.send(l.LocalAddr(), rtpBytes(t, 1, []byte("bleed")))
	intruderOtherIP.send(l.LocalAddr(), rtpBytes(t, 2, []byte("bleed")))
	caller.send(l.LocalAddr(), rtpBytes(t, 3, []byte("voice")))

	// One socket's queue is FIFO: once the caller's packet is handled, the
	// intruders' were judged.
	g := rec.next(t)
	if g.seq != 3 || g.from != caller.addr() || string(g.payload) != "voice" {
		t.Fatalf("handler got seq %d from %v payload %q; want the caller's seq 3", g.seq, g.from, g.payload)
	}
	s := l.Stats().Received
	if s.DroppedWrongSource != 2 || s.Packets != 1 {
		t.Fatalf("DroppedWrongSource = %d, Packets = %d; want 2, 1", s.DroppedWrongSource, s.Packets)
	}
}

func TestLegDropsMalformedAndOversize(t *testing.T) { bothReaders(t, testLegDropsMalformedAndOversize) }

func testLegDropsMalformedAndOversize(t *testing.T, batch int) {
	caller := newPeer(t, "127.0.0.1")
	l, rec := startLeg(t, LegConfig{BatchRead: batch, Remote: caller.addr()})
	to := l.LocalAddr()

	v1 := rtpBytes(t, 1, []byte("x"))
	v1[0] = 1<<6 | v1[0]&0x3F
	exactlyMTU := rtpBytes(t, 4, make([]byte, MaxDatagram-12))
	oneOver := rtpBytes(t, 5, make([]byte, MaxDatagram-12+1))
	huge := rtpBytes(t, 6, make([]byte, 4000))
	caller.send(to, []byte{0x80, 0, 0})
	caller.send(to, v1)
	caller.send(to, oneOver)
	caller.send(to, huge)
	caller.send(to, exactlyMTU)
	caller.send(to, rtpBytes(t, 7, []byte("sync")))

	if g := rec.next(t); g.seq != 4 || len(g.raw) != MaxDatagram {
		t.Fatalf("first handled: seq %d, %d bytes; want the %d-byte seq 4", g.seq, len(g.raw), MaxDatagram)
	}
	if g := rec.next(t); g.seq != 7 {
		t.Fatalf("second handled: seq %d, want 7", g.seq)
	}
	s := l.Stats().Received
	if s.DroppedMalformed != 2 || s.DroppedOversize != 2 || s.Packets != 2 {
		t.Fatalf("malformed %d, oversize %d, packets %d; want 2, 2, 2", s.DroppedMalformed, s.DroppedOversize, s.Packets)
	}
}

func TestLegNATLatchesOnceToTheSignalledIP(t *testing.T) {
	bothReaders(t, testLegNATLatchesOnceToTheSignalledIP)
}

func testLegNATLatchesOnceToTheSignalledIP(t *testing.T, batch int) {
	natted := newPeer(t, "127.0.0.1")
	later := newPeer(t, "127.0.0.1")
	otherIP := newPeer(t, "127.0.0.2")
	// SDP names port 9 on our IP; the NAT sends from another port.
	signalled := netip.AddrPortFrom(loopback, 9)
	l := startLatchLeg(t, batch, signalled)
	to := l.LocalAddr()

	for i := range LatchPackets {
		l.dropped(t, otherIP, latchPkt(t, 7, uint16(1+i), false), droppedWrongSource) // wrong IP: never a candidate
	}
	l.dropped(t, later, []byte{0x80, 0x00, 0x00, 0x01}, droppedMalformed) // right IP, not RTP: proves nothing
	for i := range LatchPackets - 1 {
		l.dropped(t, natted, latchPkt(t, 1, uint16(2+i), false), droppedUnproven)
	}
	if g := l.handed(t, natted, latchPkt(t, 1, 1+LatchPackets, false)); g.seq != 1+LatchPackets {
		t.Fatalf("latched on seq %d, want %d", g.seq, 1+LatchPackets)
	}
	l.dropped(t, later, latchPkt(t, 2, 3, false), droppedWrongSource) // after the latch: strict
	l.handed(t, natted, latchPkt(t, 1, 2+LatchPackets, false))
	if l.Remote() != natted.addr() {
		t.Fatalf("Remote = %v after latching, want %v", l.Remote(), natted.addr())
	}
	if want := "leg " + to.String() + " <-> " + natted.addr().String(); l.String() != want {
		t.Fatalf("String = %q, want %q", l.String(), want)
	}
	s := l.Stats().Received
	if s.DroppedWrongSource != uint64(LatchPackets+LatchPackets-1+1) || s.DroppedMalformed != 1 {
		t.Fatalf("wrong source %d, malformed %d; want %d, 1", s.DroppedWrongSource, s.DroppedMalformed, 2*LatchPackets)
	}
}

func TestLegSetRemoteMovesTheStream(t *testing.T) { bothReaders(t, testLegSetRemoteMovesTheStream) }

func testLegSetRemoteMovesTheStream(t *testing.T, batch int) {
	a := newPeer(t, "127.0.0.1")
	b := newPeer(t, "127.0.0.1")
	l, rec := startLeg(t, LegConfig{BatchRead: batch, Remote: a.addr()})
	a.send(l.LocalAddr(), rtpBytes(t, 1, nil))
	if g := rec.next(t); g.from != a.addr() {
		t.Fatalf("from %v, want %v", g.from, a.addr())
	}
	l.SetRemote(b.addr()) // re-INVITE
	a.send(l.LocalAddr(), rtpBytes(t, 2, nil))
	b.send(l.LocalAddr(), rtpBytes(t, 3, nil))
	if g := rec.next(t); g.seq != 3 || g.from != b.addr() {
		t.Fatalf("handled seq %d from %v, want seq 3 from %v", g.seq, g.from, b.addr())
	}
	if s := l.Stats().Received; s.DroppedWrongSource != 1 {
		t.Fatalf("DroppedWrongSource = %d, want 1", s.DroppedWrongSource)
	}
}

func TestLegWithoutRemoteDropsEverything(t *testing.T) {
	p := newPeer(t, "127.0.0.1")
	pool, _ := testPool(t, 1, -1, nil)
	l, err := NewLeg(LegConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	drops := make(chan verdict, 4)
	l.recv.onDrop = func(v verdict) { drops <- v }
	rec := make(recorder, 4)
	if err := l.Start(rec); err != nil {
		t.Fatal(err)
	}
	p.send(l.LocalAddr(), rtpBytes(t, 1, nil))
	select {
	case v := <-drops:
		if v != droppedWrongSource {
			t.Fatalf("verdict %d, want droppedWrongSource", v)
		}
	case <-time.After(wait):
		t.Fatal("the packet sent before SetRemote was not dropped")
	}
	if err := l.WriteRTP([]byte("x")); !errors.Is(err, ErrNoRemote) {
		t.Fatalf("WriteRTP without remote: %v, want ErrNoRemote", err)
	}
	l.SetRemote(p.addr())
	p.send(l.LocalAddr(), rtpBytes(t, 2, nil))
	if g := rec.next(t); g.seq != 2 {
		t.Fatalf("handled seq %d, want 2", g.seq)
	}
	if s := l.Stats().Received; s.DroppedWrongSource != 1 {
		t.Fatalf("DroppedWrongSource = %d, want 1", s.DroppedWrongSource)
	}
}

func TestLegPacketFields(t *testing.T) { bothReaders(t, testLegPacketFields) }

func testLegPacketFields(t *testing.T, batch int) {
	clock := testkit.NewClock(t0)
	caller := newPeer(t, "127.0.0.1")
	l, rec := startLeg(t, LegConfig{BatchRead: batch, Remote: caller.addr(), Now: clock.Now})
	// Padded packet (RFC 3550 §5.1): 3 payload bytes, 4 padding bytes.
	b := rtpBytes(t, 42, []byte{1, 2, 3})
	b[0] |= 0x20
	b = append(b, 0, 0, 0, 4)
	clock.Advance(time.Minute)
	caller.send(l.LocalAddr(), b)
	g := rec.next(t)
	if !bytes.Equal(g.payload, []byte{1, 2, 3}) || !bytes.Equal(g.raw, b) || g.version != 2 {
		t.Fatalf("payload %v raw %v version %d; want [1 2 3], the datagram, 2", g.payload, g.raw, g.version)
	}
	if !g.arrival.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Arrival %v, want the leg clock's %v", g.arrival, t0.Add(time.Minute))
	}
	if s := l.Stats().Received; s.Bytes != uint64(len(b)) || s.PayloadBytes != 3 {
		t.Fatalf("Bytes %d PayloadBytes %d, want %d, 3", s.Bytes, s.PayloadBytes, len(b))
	}
}

func TestLegWriteRTP(t *testing.T) {
	p := newPeer(t, "127.0.0.1")
	l, _ := startLeg(t, LegConfig{Remote: p.addr()})
	out := rtpBytes(t, 9, []byte("to the peer"))
	if err := l.WriteRTP(out); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2000)
	p.conn.SetReadDeadline(time.Now().Add(wait))
	n, from, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:n], out) || from != l.LocalAddr() {
		t.Fatalf("peer read %d bytes from %v, want the packet from %v", n, from, l.LocalAddr())
	}
	if s := l.Stats().Sent; s.Packets != 1 || s.Bytes != uint64(len(out)) {
		t.Fatalf("Sent = %+v", s)
	}
}

func TestLegReportsMediaTimeout(t *testing.T) { bothReaders(t, testLegReportsMediaTimeout) }

func testLegReportsMediaTimeout(t *testing.T, batch int) {
	clock := testkit.NewClock(t0)
	caller := newPeer(t, "127.0.0.1")
	l, rec := startLeg(t, LegConfig{BatchRead: batch,
		Remote: caller.addr(), Now: clock.Now,
		MediaTimeout: 30 * time.Second, TimeoutCheck: 2 * time.Millisecond,
	})
	caller.send(l.LocalAddr(), rtpBytes(t, 1, nil))
	rec.next(t)
	clock.Advance(30 * time.Second)
	select {
	case <-l.MediaTimeout():
	case <-time.After(wait):
		t.Fatal("no media timeout reported 30 s (leg clock) after the last packet")
	}
}

func TestReceiverMediaTimeoutJudgedByClock(t *testing.T) {
	var r receiver
	r.init(false, 0, 5*time.Second)
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	r.setRemote(from)
	r.lastAccepted = t0
	fired := func() bool {
		select {
		case <-r.timeoutCh:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		name   string
		packet bool // a packet is accepted at this time instead of a check
		at     time.Duration
		want   bool // checkTimeout result
	}{
		{"just before the timeout", false, 5*time.Second - time.Nanosecond, false},
		{"a packet restarts the count", true, 3 * time.Second, false},
		{"5 s after start, 2 s after the packet", false, 5 * time.Second, false},
		{"just before 5 s after the packet", false, 8*time.Second - time.Nanosecond, false},
		{"5 s after the packet", false, 8 * time.Second, true},
		{"reported only once", false, 20 * time.Second, false},
	}
	for _, s := range steps {
		if s.packet {
			if v := r.receive(rtpBytes(t, 1, nil), from, t0.Add(s.at)); v != accepted {
				t.Fatalf("%s: verdict %d", s.name, v)
			}
			continue
		}
		if got := r.checkTimeout(t0.Add(s.at)); got != s.want {
			t.Fatalf("%s: checkTimeout = %v, want %v", s.name, got, s.want)
		}
		if fired() != (s.at >= 8*time.Second) {
			t.Fatalf("%s: channel closed = %v", s.name, fired())
		}
	}
}

func TestLegSetMediaTimeout(t *testing.T) {
	// The reader is not started: checkTimeout is driven by hand.
	l := &Leg{}
	l.recv.init(false, 0, 5*time.Second)
	l.recv.lastAccepted = t0
	// Disabled (call on hold): never fires.
	l.SetMediaTimeout(0)
	if l.recv.checkTimeout(t0.Add(time.Hour)) {
		t.Fatal("fired with the timeout disabled")
	}
	// Re-enabled: counts from the first check after the change.
	l.SetMediaTimeout(5 * time.Second)
	if l.recv.checkTimeout(t0.Add(2 * time.Hour)) {
		t.Fatal("fired at the check that restarted the count")
	}
	if l.recv.checkTimeout(t0.Add(2*time.Hour + 5*time.Second - time.Nanosecond)) {
		t.Fatal("fired before 5 s after the restart")
	}
	if !l.recv.checkTimeout(t0.Add(2*time.Hour + 5*time.Second)) {
		t.Fatal("did not fire 5 s after the restart")
	}
}

func TestLegStartAndClose(t *testing.T) {
	pool, _ := testPool(t, 1, -1, nil)
	l, err := NewLeg(LegConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewLeg(LegConfig{Pool: pool}); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("second leg from a one-pair pool: %v, want ErrPortsExhausted", err)
	}
	if err := l.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(nil); !errors.Is(err, ErrLegStarted) {
		t.Fatalf("second Start: %v, want ErrLegStarted", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-l.done:
	default:
		t.Fatal("reader still running after Close returned")
	}
	if pool.InUse() != 0 {
		t.Fatalf("InUse = %d after Close, want 0", pool.InUse())
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Start(nil); !errors.Is(err, ErrLegClosed) {
		t.Fatalf("Start after Close: %v, want ErrLegClosed", err)
	}
	if l.Err() != nil {
		t.Fatalf("Err = %v after a clean Close", l.Err())
	}
	l2, err := NewLeg(LegConfig{Pool: pool})
	if err != nil {
		t.Fatalf("leg after the first was closed (no drain): %v", err)
	}
	if err := l2.Close(); err != nil {
		t.Fatalf("Close of a leg never started: %v", err)
	}
}

func TestNewLegNeedsPool(t *testing.T) {
	if _, err := NewLeg(LegConfig{}); err == nil {
		t.Fatal("NewLeg without a pool succeeded")
	}
}

func TestReceiverParse(t *testing.T) {
	valid := func() []byte { return rtpBytes(t, 1, []byte{0xAA, 0xBB}) }
	withExt := func() []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, CSRC: []uint32{7, 8}}, Payload: []byte{0xCC}}
		if err := p.Header.SetExtension(1, []byte{0x01, 0x02}); err != nil {
			t.Fatal(err)
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		b       func() []byte
		ok      bool
		payload []byte
	}{
		{"valid", valid, true, []byte{0xAA, 0xBB}},
		{"header only, empty payload", func() []byte { return valid()[:12] }, true, []byte{}},
		{"CSRCs and a one-byte extension", withExt, true, []byte{0xCC}},
		{"empty", func() []byte { return nil }, false, nil},
		{"eleven bytes", func() []byte { return valid()[:11] }, false, nil},
		{"version 0", func() []byte { b := valid(); b[0] &= 0x3F; return b }, false, nil},
		{"version 1", func() []byte { b := valid(); b[0] = b[0]&0x3F | 0x40; return b }, false, nil},
		{"version 3", func() []byte { b := valid(); b[0] |= 0xC0; return b }, false, nil},
		{"CSRC count beyond the datagram", func() []byte { b := valid(); b[0] |= 0x0F; return b }, false, nil},
		{"extension header cut off", func() []byte { b := valid()[:13]; b[0] |= 0x10; return b }, false, nil},
		{"extension length beyond the datagram", func() []byte {
			b := append(valid()[:12], 0xBE, 0xDE, 0x00, 0x09)
			b[0] |= 0x10
			return b
		}, false, nil},
		{"one-byte extension element overruns the block", func() []byte {
			b := append(valid()[:12], 0xBE, 0xDE, 0x00, 0x01, 0x13, 0xAA, 0xBB, 0xCC)
			b[0] |= 0x10
			return b
		}, false, nil},
		{"two-byte extension element overruns the block", func() []byte {
			b := append(valid()[:12], 0x10, 0x00, 0x00, 0x01, 0x05, 0x09, 0x00, 0x00)
			b[0] |= 0x10
			return b
		}, false, nil},
		{"two-byte extension element without its length", func() []byte {
			b := append(valid()[:12], 0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05)
			b[0] |= 0x10
			return b
		}, false, nil},
		{"one-byte extension stops at reserved ID 15", func() []byte {
			b := append(valid()[:12], 0xBE, 0xDE, 0x00, 0x01, 0xF0, 0xFF, 0xFF, 0xFF, 0x42)
			b[0] |= 0x10
			return b
		}, true, []byte{0x42}},
		{"two-byte extension with padding", func() []byte {
			b := append(valid()[:12], 0x10, 0x00, 0x00, 0x01, 0x00, 0x07, 0x01, 0x55, 0x42)
			b[0] |= 0x10
			return b
		}, true, []byte{0x42}},
		{"opaque extension (other profile)", func() []byte {
			b := append(valid()[:12], 0x12, 0x34, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x42)
			b[0] |= 0x10
			return b
		}, true, []byte{0x42}},
		{"padding count zero", func() []byte { b := append(valid(), 0); b[0] |= 0x20; return b }, false, nil},
		{"padding longer than the payload", func() []byte { b := append(valid(), 9); b[0] |= 0x20; return b }, false, nil},
		{"padding is the whole payload", func() []byte { b := append(valid()[:12], 0, 2); b[0] |= 0x20; return b }, true, []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r receiver
			r.init(false, 0, 0)
			payload, ok := r.parse(tc.b())
			if ok != tc.ok || !bytes.Equal(payload, tc.payload) {
				t.Fatalf("parse = %v, %v; want %v, %v", payload, ok, tc.payload, tc.ok)
			}
			if ok && r.pkt.Header.Version != 2 {
				t.Fatalf("accepted version %d", r.pkt.Header.Version)
			}
		})
	}
}

func TestReceiverUnmapsIPv4InIPv6Sources(t *testing.T) {
	var r receiver
	r.init(false, 0, 0)
	r.setRemote(netip.MustParseAddrPort("[::ffff:127.0.0.1]:4000"))
	if v := r.receive(rtpBytes(t, 1, nil), netip.MustParseAddrPort("127.0.0.1:4000"), t0); v != accepted {
		t.Fatalf("mapped remote, plain source: verdict %d", v)
	}
	r.setRemote(netip.MustParseAddrPort("127.0.0.1:4000"))
	if v := r.receive(rtpBytes(t, 2, nil), netip.MustParseAddrPort("[::ffff:127.0.0.1]:4000"), t0); v != accepted {
		t.Fatalf("plain remote, mapped source: verdict %d", v)
	}
}

func TestReceiverAllocatesNothingPerDatagram(t *testing.T) {
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	stranger := netip.MustParseAddrPort("127.0.0.1:4001")
	var r receiver
	r.init(false, 0, time.Second)
	r.setRemote(from)
	handled := 0
	r.handler = PacketHandlerFunc(func(p *Packet) { handled++ })
	valid := rtpBytes(t, 1, make([]byte, 160))
	short := valid[:5]
	v1 := bytes.Clone(valid)
	v1[0] &= 0x3F
	extOverrun := append(bytes.Clone(valid[:12]), 0x10, 0x00, 0x00, 0x01, 0x05, 0x09, 0x00, 0x00)
	extOverrun[0] |= 0x10
	at := t0
	tests := []struct {
		name string
		b    []byte
		from netip.AddrPort
	}{
		{"valid", valid, from},
		{"wrong source", valid, stranger},
		{"too short", short, from},
		{"wrong version", v1, from},
		{"extension element overrun", extOverrun, from},
	}
	for _, tc := range tests {
		allocs := testing.AllocsPerRun(500, func() {
			valid[3]++ // next sequence number
			at = at.Add(20 * time.Millisecond)
			r.receive(tc.b, tc.from, at)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per datagram, want 0", tc.name, allocs)
		}
	}
	if handled == 0 {
		t.Fatal("handler never called")
	}
}

func TestLegReceiveAllocatesNothingOverLoopback(t *testing.T) {
	bothReaders(t, testLegReceiveAllocatesNothingOverLoopback)
}

func testLegReceiveAllocatesNothingOverLoopback(t *testing.T, batch int) {
	// The whole read loop, socket included: a regression guard for values
	// escaping in readLoop (which the socket-free test cannot see).
	caller := newPeer(t, "127.0.0.1")
	pool, _ := testPool(t, 1, -1, nil)
	l, err := NewLeg(LegConfig{BatchRead: batch, Pool: pool, Remote: caller.addr(), MediaTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	handled := make(chan struct{}, 1)
	if err := l.Start(PacketHandlerFunc(func(*Packet) { handled <- struct{}{} })); err != nil {
		t.Fatal(err)
	}
	abort := make(chan struct{})
	watchdog := time.AfterFunc(wait, func() { close(abort) })
	defer watchdog.Stop()
	pkt := rtpBytes(t, 1, make([]byte, 160))
	to := l.LocalAddr()
	lost := false
	allocs := testing.AllocsPerRun(200, func() {
		pkt[3]++
		if _, err := caller.conn.WriteToUDPAddrPort(pkt, to); err != nil {
			lost = true
			return
		}
		select {
		case <-handled:
		case <-abort:
			lost = true
		}
	})
	if lost {
		t.Fatal("a packet did not reach the handler in time")
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per packet through the socket, want 0", allocs)
	}
}

func TestLegIPv6(t *testing.T) { bothReaders(t, testLegIPv6) }

func testLegIPv6(t *testing.T, batch int) {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	caller := &peer{t: t, conn: c}
	pool, err := NewPortPool(PortPoolConfig{BindAddr: netip.IPv6Loopback(), Min: freeRange(t, 1), Drain: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, rec := startLeg(t, LegConfig{Pool: pool, Remote: caller.addr(), BatchRead: batch})
	if !l.LocalAddr().Addr().Is6() {
		t.Fatalf("leg bound to %v, want IPv6", l.LocalAddr())
	}
	caller.send(l.LocalAddr(), rtpBytes(t, 1, []byte("v6")))
	if g := rec.next(t); g.from != caller.addr() || string(g.payload) != "v6" {
		t.Fatalf("handled %q from %v, want \"v6\" from %v", g.payload, g.from, caller.addr())
	}
}

func TestReceiverUnusableRemoteMeansNone(t *testing.T) {
	tests := []struct {
		name   string
		remote string
	}{
		{"unspecified IPv4 (old-style hold)", "0.0.0.0:4000"},
		{"unspecified IPv6", "[::]:4000"},
		{"port 0 (stream refused)", "127.0.0.1:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r receiver
			r.init(true, 0, 0)
			r.setRemote(netip.MustParseAddrPort(tc.remote))
			if rs := r.remote.Load(); rs.addr.IsValid() {
				t.Fatalf("remote %v kept as %v", tc.remote, rs.addr)
			}
			for _, from := range []string{"127.0.0.1:4000", "0.0.0.0:4000", "127.0.0.1:0"} {
				if v := r.receive(rtpBytes(t, 1, nil), netip.MustParseAddrPort(from), t0); v != droppedWrongSource {
					t.Fatalf("datagram from %s: verdict %d, want droppedWrongSource", from, v)
				}
			}
		})
	}
}

func TestLegDoesNotWriteToAnUnspecifiedRemote(t *testing.T) {
	l, _ := startLeg(t, LegConfig{Remote: netip.MustParseAddrPort("0.0.0.0:5004")})
	if err := l.WriteRTP([]byte("x")); !errors.Is(err, ErrNoRemote) {
		t.Fatalf("WriteRTP to 0.0.0.0: %v, want ErrNoRemote", err)
	}
}

func TestLegCloseIsBoundedWhenTheHandlerIsStuck(t *testing.T) {
	caller := newPeer(t, "127.0.0.1")
	pool, _ := testPool(t, 1, -1, nil)
	l, err := NewLeg(LegConfig{Pool: pool, Remote: caller.addr()})
	if err != nil {
		t.Fatal(err)
	}
	l.wait = 20 * time.Millisecond
	entered, release := make(chan struct{}), make(chan struct{})
	if err := l.Start(PacketHandlerFunc(func(*Packet) {
		close(entered)
		<-release
	})); err != nil {
		t.Fatal(err)
	}
	caller.send(l.LocalAddr(), rtpBytes(t, 1, nil))
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("handler not called")
	}
	if err := l.Close(); !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("Close with a stuck handler: %v, want ErrCloseTimeout", err)
	}
	if pool.InUse() != 0 {
		t.Fatalf("InUse = %d: ports not released though Close gave up waiting", pool.InUse())
	}
	close(release)
	select {
	case <-l.done:
	case <-time.After(wait):
		t.Fatal("reader did not stop once its handler returned")
	}
}

func TestLegEventPayloadTypesReachStats(t *testing.T) {
	pool, _ := testPool(t, 1, -1, nil)
	l, err := NewLeg(LegConfig{Pool: pool, EventPayloadTypes: []uint8{101}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.recv.stats.skipsJitter(101) || l.recv.stats.skipsJitter(0) {
		t.Fatal("LegConfig.EventPayloadTypes not applied to jitter")
	}
	l.SetEventPayloadTypes(96) // re-INVITE moved telephone-event
	if l.recv.stats.skipsJitter(101) || !l.recv.stats.skipsJitter(96) {
		t.Fatal("SetEventPayloadTypes did not replace the set")
	}
}

func TestNextCallNeverGetsThePreviousCallsPackets(t *testing.T) {
	// Call N's peer keeps sending to call N's port after the hang-up; call
	// N+1 gets another port while that one drains, so it sees none of it.
	clock := testkit.NewClock(t0)
	pool, _ := testPool(t, 2, 2*time.Second, clock)
	peerN := newPeer(t, "127.0.0.1")
	legN, err := NewLeg(LegConfig{Pool: pool, Remote: peerN.addr(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	oldPort := legN.LocalAddr()
	if err := legN.Close(); err != nil {
		t.Fatal(err)
	}
	peerNext := newPeer(t, "127.0.0.1")
	legNext, rec := startLeg(t, LegConfig{Pool: pool, Remote: peerNext.addr(), Now: clock.Now})
	if legNext.LocalAddr() == oldPort {
		t.Fatalf("call N+1 got call N's port %v during the drain", oldPort)
	}
	peerN.send(oldPort, rtpBytes(t, 1, []byte("call N")))
	peerNext.send(legNext.LocalAddr(), rtpBytes(t, 1, []byte("call N+1")))
	if g := rec.next(t); string(g.payload) != "call N+1" {
		t.Fatalf("call N+1 received %q", g.payload)
	}
	if s := legNext.Stats().Received; s.Packets != 1 || s.DroppedWrongSource != 0 {
		t.Fatalf("call N+1 saw %d packets, %d from strangers; want 1, 0", s.Packets, s.DroppedWrongSource)
	}
	// Once every other pair is busy and the drain is over, the old port
	// comes back.
	clock.Advance(2 * time.Second)
	legLater, err := NewLeg(LegConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer legLater.Close()
	if legLater.LocalAddr() != oldPort {
		t.Fatalf("after the drain got %v, want the drained %v", legLater.LocalAddr(), oldPort)
	}
}
