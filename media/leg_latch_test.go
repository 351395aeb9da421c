package media

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/internal/testkit"
)

// latchStep is how far the latch tests' leg clock (a stepping clock) moves
// at every reading, so that each datagram the reader takes (one reading
// each, when the test sends one at a time) arrives latchStep after the one
// before, as a 20 ms stream's would.
const latchStep = 20 * time.Millisecond

// latchPkt marshals an RTP packet of one stream: PCMU audio (silence), or
// with event set an RFC 4733 telephone-event (PT 101) for key 5, its
// first packet marked (§2.5.1.3).
func latchPkt(t testing.TB, ssrc uint32, seq uint16, event bool) []byte {
	t.Helper()
	h := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc}
	payload := bytes.Repeat([]byte{0xFF}, 160)
	if event {
		h.PayloadType, h.Marker = 101, true
		payload = []byte{5, 10, 0x00, 0xA0} // key 5, −10 dBm0, 160 samples (RFC 4733 §2.3)
	}
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// latchLeg is a NAT-latching leg on loopback whose handler records every
// packet and every telephone-event packet (PT 101: a digit the call would
// take); drops reports each dropped datagram's verdict.
type latchLeg struct {
	*Leg
	rec     recorder
	drops   chan verdict
	presses chan uint16 // sequence numbers of the events handed on
}

func startLatchLeg(t *testing.T, batch int, signalled netip.AddrPort) *latchLeg {
	t.Helper()
	pool, _ := testPool(t, 1, -1, nil)
	clock := testkit.NewSteppingClock(t0, latchStep)
	l, err := NewLeg(LegConfig{Pool: pool, BatchRead: batch, Remote: signalled, NATLatch: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ll := &latchLeg{Leg: l, rec: make(recorder, 64), drops: make(chan verdict, 64), presses: make(chan uint16, 16)}
	l.recv.onDrop = func(v verdict) { ll.drops <- v }
	if err := l.Start(PacketHandlerFunc(func(pk *Packet) {
		ll.rec.HandleRTP(pk)
		ll.noteEvent(pk)
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ll
}

// dropped sends b from p and waits until the leg has dropped it with
// verdict want (one datagram at a time, so each is read on its own).
func (l *latchLeg) dropped(t *testing.T, p *peer, b []byte, want verdict) {
	t.Helper()
	p.send(l.LocalAddr(), b)
	select {
	case v := <-l.drops:
		if v != want {
			t.Fatalf("datagram from %v dropped with verdict %d, want %d", p.addr(), v, want)
		}
	case g := <-l.rec:
		t.Fatalf("datagram seq %d from %v handed on; want it dropped (verdict %d)", g.seq, g.from, want)
	case <-time.After(wait):
		t.Fatalf("datagram from %v neither dropped nor handed on", p.addr())
	}
}

// handed sends b from p and waits until the leg has handed it on.
func (l *latchLeg) handed(t *testing.T, p *peer, b []byte) got {
	t.Helper()
	p.send(l.LocalAddr(), b)
	select {
	case v := <-l.drops:
		t.Fatalf("datagram from %v dropped (verdict %d); want it handed on", p.addr(), v)
	case g := <-l.rec:
		if g.from != p.addr() {
			t.Fatalf("handed on a packet from %v, want from %v", g.from, p.addr())
		}
		return g
	case <-time.After(wait):
		t.Fatalf("datagram from %v neither dropped nor handed on", p.addr())
	}
	return got{}
}

// noteEvent records a telephone-event packet handed on: a key the call's
// masking pipeline would take.
func (l *latchLeg) noteEvent(pk *Packet) {
	if pk.Header.PayloadType != 101 {
		return
	}
	select {
	case l.presses <- pk.Header.SequenceNumber:
	default:
	}
}

// noPresses fails if a telephone event reached the call.
func (l *latchLeg) noPresses(t *testing.T) {
	t.Helper()
	select {
	case seq := <-l.presses:
		t.Fatalf("a telephone event (seq %d) reached the call", seq)
	default:
	}
}

// TestLegNATLatchOutsiderOnTheSameHostNeverWins: SDP signals
// 127.0.0.1:9 (nothing there: the caller is behind a NAT that rewrites
// its port). An outsider on the same host (another port on 127.0.0.1)
// sends first — valid RTP, a telephone-event for a key among it — but
// fewer than LatchPackets before the caller's NAT'd stream starts: none
// of it is handed on and no digit reaches the call. The caller latches at
// its LatchPackets-th packet; from then on the outsider's packets, events
// included, are dropped however many it sends, and the caller's pass.
func TestLegNATLatchOutsiderOnTheSameHostNeverWins(t *testing.T) {
	bothReaders(t, testLegNATLatchOutsiderOnTheSameHostNeverWins)
}

func testLegNATLatchOutsiderOnTheSameHostNeverWins(t *testing.T, batch int) {
	signalled := netip.AddrPortFrom(loopback, 9)
	outsider := newPeer(t, "127.0.0.1")
	caller := newPeer(t, "127.0.0.1") // its NAT's port, not the signalled one
	l := startLatchLeg(t, batch, signalled)

	const outsiderSSRC, callerSSRC = 0xBAD, 0x1234
	for i := range LatchPackets - 1 {
		l.dropped(t, outsider, latchPkt(t, outsiderSSRC, uint16(100+i), i == 1), droppedUnproven)
	}
	for i := range LatchPackets - 1 {
		l.dropped(t, caller, latchPkt(t, callerSSRC, uint16(1+i), false), droppedUnproven)
	}
	if g := l.handed(t, caller, latchPkt(t, callerSSRC, LatchPackets, false)); g.seq != LatchPackets {
		t.Fatalf("latched on seq %d, want the caller's %d", g.seq, LatchPackets)
	}
	if l.Remote() != caller.addr() {
		t.Fatalf("Remote = %v after the caller's proof, want %v", l.Remote(), caller.addr())
	}
	// The outsider keeps on, with events: the latch is closed.
	for i := range 3 * LatchPackets {
		l.dropped(t, outsider, latchPkt(t, outsiderSSRC, uint16(103+i), i%2 == 0), droppedWrongSource)
	}
	if g := l.handed(t, caller, latchPkt(t, callerSSRC, LatchPackets+1, false)); g.seq != LatchPackets+1 {
		t.Fatalf("after the outsider: seq %d, want %d", g.seq, LatchPackets+1)
	}
	l.noPresses(t)
	s := l.Stats().Received
	if s.Packets != 2 || s.DroppedWrongSource != uint64(2*(LatchPackets-1)+3*LatchPackets) {
		t.Errorf("packets %d, wrong source %d; want 2, %d", s.Packets, s.DroppedWrongSource, 2*(LatchPackets-1)+3*LatchPackets)
	}
	// The caller's key press after the latch does reach the call: the
	// pipeline above was able to take digits all along.
	l.handed(t, caller, latchPkt(t, callerSSRC, LatchPackets+2, true))
	select {
	case <-l.presses:
	case <-time.After(wait):
		t.Fatal("the caller's own key press never reached the call")
	}
}

// TestLegNATLatchSignalledAddressWinsAtOnce: the caller sends from the
// signalled address itself. An outsider on the same host that sent first
// (events included) never had a packet handed on; the caller's first
// packet is handed on at once and closes the latch; the outsider then
// proves nothing however long it sends.
func TestLegNATLatchSignalledAddressWinsAtOnce(t *testing.T) {
	bothReaders(t, testLegNATLatchSignalledAddressWinsAtOnce)
}

func testLegNATLatchSignalledAddressWinsAtOnce(t *testing.T, batch int) {
	outsider := newPeer(t, "127.0.0.1")
	caller := newPeer(t, "127.0.0.1")
	l := startLatchLeg(t, batch, caller.addr())

	for i := range LatchPackets - 1 {
		l.dropped(t, outsider, latchPkt(t, 0xBAD, uint16(100+i), i == 0), droppedUnproven)
	}
	if g := l.handed(t, caller, latchPkt(t, 0x1234, 1, false)); g.seq != 1 {
		t.Fatalf("the signalled address's first packet: seq %d, want 1", g.seq)
	}
	for i := range 4 * LatchPackets {
		l.dropped(t, outsider, latchPkt(t, 0xBAD, uint16(103+i), i%3 == 0), droppedWrongSource)
	}
	l.handed(t, caller, latchPkt(t, 0x1234, 2, false))
	l.noPresses(t)
	if l.Remote() != caller.addr() {
		t.Fatalf("Remote = %v, want the signalled %v", l.Remote(), caller.addr())
	}
}

// TestReceiverNATLatchRules drives the latch without sockets, packet by
// packet, 20 ms apart unless a step says otherwise: what a source must do
// to latch, what starts its proof over, and what a latched leg accepts.
func TestReceiverNATLatchRules(t *testing.T) {
	signalled := netip.MustParseAddrPort("192.0.2.10:4000")
	a := netip.MustParseAddrPort("192.0.2.10:4001")
	b := netip.MustParseAddrPort("192.0.2.10:4002")
	other := netip.MustParseAddrPort("198.51.100.7:4001")
	type step struct {
		from  netip.AddrPort
		ssrc  uint32
		seq   uint16
		gap   time.Duration // since the step before (0: 20 ms)
		want  verdict
		setTo netip.AddrPort // SetRemote before this step, when valid
	}
	run := func(t *testing.T, steps []step) *receiver {
		t.Helper()
		var r receiver
		r.init(true, 0, time.Minute)
		r.setRemote(signalled)
		at := t0
		for i, s := range steps {
			if s.setTo.IsValid() {
				r.setRemote(s.setTo)
			}
			gap := s.gap
			if gap == 0 {
				gap = 20 * time.Millisecond
			}
			at = at.Add(gap)
			if v := r.receive(latchPkt(t, s.ssrc, s.seq, false), s.from, at); v != s.want {
				t.Fatalf("step %d (from %v, ssrc %#x, seq %d): verdict %d, want %d", i, s.from, s.ssrc, s.seq, v, s.want)
			}
		}
		return &r
	}
	proof := func(from netip.AddrPort, ssrc uint32, first uint16) []step {
		var out []step
		for i := range LatchPackets {
			v := droppedUnproven
			if i == LatchPackets-1 {
				v = accepted
			}
			out = append(out, step{from: from, ssrc: ssrc, seq: first + uint16(i), want: v})
		}
		return out
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name   string
		steps  []step
		remote netip.AddrPort
	}{
		{"a lone candidate latches at its LatchPackets-th packet", proof(a, 1, 10), a},
		{"the proof survives a sequence number wrap", proof(a, 1, 65534), a},
		{"a lost packet or two is forgiven", cat(
			[]step{{from: a, ssrc: 1, seq: 1, want: droppedUnproven}, {from: a, ssrc: 1, seq: 3, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 4, want: droppedUnproven}, {from: a, ssrc: 1, seq: 7, want: accepted}}), a},
		{"two contending candidates never latch", func() []step {
			var out []step
			for i := range 4 * LatchPackets {
				from, ssrc := a, uint32(1)
				if i%2 == 1 {
					from, ssrc = b, 2
				}
				out = append(out, step{from: from, ssrc: ssrc, seq: uint16(10 + i/2), want: droppedUnproven})
			}
			return out
		}(), signalled},
		{"a burst does not span LatchMinSpan", cat(
			[]step{{from: a, ssrc: 1, seq: 1, want: droppedUnproven}},
			[]step{{from: a, ssrc: 1, seq: 2, gap: time.Millisecond, want: droppedUnproven}},
			[]step{{from: a, ssrc: 1, seq: 3, gap: time.Millisecond, want: droppedUnproven}},
			[]step{{from: a, ssrc: 1, seq: 4, gap: time.Millisecond, want: droppedUnproven}},
			[]step{{from: a, ssrc: 1, seq: 5, gap: time.Millisecond, want: droppedUnproven}},
			// ...until its packets do span it.
			[]step{{from: a, ssrc: 1, seq: 6, gap: LatchMinSpan, want: accepted}}), a},
		{"a new SSRC starts over", cat(
			[]step{{from: a, ssrc: 1, seq: 1, want: droppedUnproven}, {from: a, ssrc: 1, seq: 2, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 3, want: droppedUnproven}},
			proof(a, 2, 4)), a},
		{"a repeated or backward sequence number starts over", cat(
			[]step{{from: a, ssrc: 1, seq: 5, want: droppedUnproven}, {from: a, ssrc: 1, seq: 6, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 6, want: droppedUnproven}, {from: a, ssrc: 1, seq: 5, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 6, want: droppedUnproven}, {from: a, ssrc: 1, seq: 7, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 8, want: accepted}}), a},
		{"a jump in sequence numbers starts over", cat(
			[]step{{from: a, ssrc: 1, seq: 1, want: droppedUnproven}, {from: a, ssrc: 1, seq: 2, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 3, want: droppedUnproven}},
			proof(a, 1, 3+latchMaxSeqStep+1)), a},
		{"the signalled address wins at once and closes the latch", cat(
			[]step{{from: a, ssrc: 1, seq: 1, want: droppedUnproven}, {from: a, ssrc: 1, seq: 2, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 3, want: droppedUnproven}},
			[]step{{from: signalled, ssrc: 7, seq: 1, want: accepted}},
			[]step{{from: a, ssrc: 1, seq: 4, want: droppedWrongSource}, {from: a, ssrc: 1, seq: 5, want: droppedWrongSource},
				{from: a, ssrc: 1, seq: 6, want: droppedWrongSource}, {from: a, ssrc: 1, seq: 7, want: droppedWrongSource}}), signalled},
		{"no second latch: a latched leg is strict", cat(proof(a, 1, 1),
			[]step{{from: b, ssrc: 2, seq: 1, want: droppedWrongSource}, {from: b, ssrc: 2, seq: 2, want: droppedWrongSource},
				{from: b, ssrc: 2, seq: 3, want: droppedWrongSource}, {from: b, ssrc: 2, seq: 4, want: droppedWrongSource},
				{from: b, ssrc: 2, seq: 5, want: droppedWrongSource}, {from: a, ssrc: 1, seq: 5, want: accepted}}), a},
		{"the signalled address takes a latched stream back", cat(proof(a, 1, 1),
			[]step{{from: signalled, ssrc: 7, seq: 1, want: accepted}, {from: a, ssrc: 1, seq: 5, want: droppedWrongSource}}), signalled},
		{"another IP is never a candidate", []step{
			{from: other, ssrc: 1, seq: 1, want: droppedWrongSource}, {from: other, ssrc: 1, seq: 2, want: droppedWrongSource},
			{from: other, ssrc: 1, seq: 3, want: droppedWrongSource}, {from: other, ssrc: 1, seq: 4, want: droppedWrongSource},
			{from: other, ssrc: 1, seq: 5, want: droppedWrongSource}}, signalled},
		{"SetRemote forgets a proof and reopens the latch", cat(
			[]step{{from: a, ssrc: 1, seq: 1, want: droppedUnproven}, {from: a, ssrc: 1, seq: 2, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 3, want: droppedUnproven}},
			[]step{{from: a, ssrc: 1, seq: 4, want: droppedUnproven, setTo: signalled}},
			[]step{{from: a, ssrc: 1, seq: 5, want: droppedUnproven}, {from: a, ssrc: 1, seq: 6, want: droppedUnproven},
				{from: a, ssrc: 1, seq: 7, want: accepted}}), a},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.steps)
			if got := r.remote.Load().addr; got != tc.remote {
				t.Errorf("remote %v at the end, want %v", got, tc.remote)
			}
		})
	}
}

// TestReceiverNATLatchAllocatesNothing: proving a candidate, dropping it
// and contending allocate nothing per datagram (the latch itself, once per
// signalling, is one small allocation).
func TestReceiverNATLatchAllocatesNothing(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:4001")
	b := netip.MustParseAddrPort("127.0.0.1:4002")
	var r receiver
	r.init(true, 0, time.Second)
	r.setRemote(netip.MustParseAddrPort("127.0.0.1:4000"))
	pa, pb := latchPkt(t, 1, 1, false), latchPkt(t, 2, 1, false)
	at := t0
	allocs := testing.AllocsPerRun(500, func() {
		// a and b contend: every packet starts a proof over, none latches.
		pa[3]++
		pb[3]++
		at = at.Add(10 * time.Millisecond)
		r.receive(pa, a, at)
		r.receive(pb, b, at)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per pair of candidate datagrams, want 0", allocs)
	}
	if r.remote.Load().addr.Port() != 4000 {
		t.Fatalf("contending candidates latched to %v", r.remote.Load().addr)
	}
}

// TestRelayNATLatchOutsiderNeverWins is the outsider test through a Relay,
// with each way of reading its sockets (the legs' goroutines, recvmmsg, a
// Reactor): the latch is judged the same whoever reads the datagram.
func TestRelayNATLatchOutsiderNeverWins(t *testing.T) {
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			clock := testkit.NewSteppingClock(t0, latchStep)
			var reactor *Reactor
			if rd.reactor {
				reactor = testReactor(t, ReactorConfig{Now: clock.Now, Coalesce: rd.coalesce})
			}
			pool, _ := testPool(t, 2, -1, nil)
			signalled := netip.AddrPortFrom(loopback, 9)
			callerLeg, err := NewLeg(LegConfig{Pool: pool, BatchRead: rd.batch, Remote: signalled, NATLatch: true, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			agentPeer := newPeer(t, "127.0.0.1")
			agentLeg, err := NewLeg(LegConfig{Pool: pool, BatchRead: rd.batch, Remote: agentPeer.addr(), Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			l := &latchLeg{Leg: callerLeg, rec: make(recorder, 64), drops: make(chan verdict, 64), presses: make(chan uint16, 16)}
			callerLeg.recv.onDrop = func(v verdict) { l.drops <- v }
			relay, err := NewRelay(RelayConfig{Caller: callerLeg, Agent: agentLeg, Reactor: reactor, Now: clock.Now,
				CallerToAgent: PacketHandlerFunc(func(pk *Packet) {
					l.rec.HandleRTP(pk)
					l.noteEvent(pk)
				})})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { relay.Close() })
			if err := relay.Start(); err != nil {
				t.Fatal(err)
			}

			outsider := newPeer(t, "127.0.0.1")
			caller := newPeer(t, "127.0.0.1")
			for i := range LatchPackets - 1 {
				l.dropped(t, outsider, latchPkt(t, 0xBAD, uint16(100+i), i == 0), droppedUnproven)
			}
			for i := range LatchPackets - 1 {
				l.dropped(t, caller, latchPkt(t, 0x1234, uint16(1+i), false), droppedUnproven)
			}
			l.handed(t, caller, latchPkt(t, 0x1234, LatchPackets, false))
			for i := range 2 * LatchPackets {
				l.dropped(t, outsider, latchPkt(t, 0xBAD, uint16(103+i), i%2 == 0), droppedWrongSource)
			}
			l.noPresses(t)
			if callerLeg.Remote() != caller.addr() {
				t.Fatalf("Remote = %v, want the caller's %v", callerLeg.Remote(), caller.addr())
			}
		})
	}
}
