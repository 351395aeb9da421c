package media

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"
)

func TestWarmListSpansWholeLines(t *testing.T) {
	var buf [64 * cacheLine]byte
	base := uintptr(unsafe.Pointer(&buf[0]))
	off := (cacheLine - base%cacheLine) % cacheLine // buf[off] starts a line
	tests := []struct {
		name      string
		at, size  uintptr
		wantLines uintptr
	}{
		{"one byte", off + 3, 1, 1},
		{"a line exactly", off, cacheLine, 1},
		{"across a boundary", off + cacheLine - 1, 2, 2},
		{"three lines from mid-line", off + 10, 2*cacheLine + 1, 3},
		{"longer than 64 lines is cut to 64", 0, uintptr(len(buf)), 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w WarmList
			w.Add(unsafe.Pointer(&buf[tt.at]), tt.size)
			if w.n != 1 {
				t.Fatalf("n = %d, want 1", w.n)
			}
			s := w.span[0]
			if first := s &^ (cacheLine - 1); first != (base+tt.at)&^(cacheLine-1) {
				t.Errorf("first line %#x, want the line of %#x", first, base+tt.at)
			}
			if got := s&(cacheLine-1) + 1; got != tt.wantLines {
				t.Errorf("lines = %d, want %d", got, tt.wantLines)
			}
			w.Prefetch() // asks for real memory: must simply return
		})
	}
}

func TestWarmListIgnoresWhatItCannotHold(t *testing.T) {
	var x [8]byte
	var nilList *WarmList
	nilList.Add(unsafe.Pointer(&x), 8) // no list: a packet not read by a reactor
	var w WarmList
	w.Add(unsafe.Pointer(&x), 0)
	if w.n != 0 {
		t.Fatalf("a zero size added a span")
	}
	for range maxWarm + 3 {
		w.Add(unsafe.Pointer(&x), 8)
	}
	if w.n != maxWarm {
		t.Fatalf("n = %d after overfilling, want %d", w.n, maxWarm)
	}
	// Stale or unmapped addresses are only hints: prefetching them does
	// not fault.
	w.span[0] = 0
	w.span[1] = 1 << 20
	w.Prefetch()
}

// The relay's ticking handler names its lock, and AddSend names what a
// write to a leg reads: the send counters and the remote. (The masking
// pipeline's own names are media/mask's test.)
func TestRelayAndSendNameWhatTheNextPacketUses(t *testing.T) {
	pool, _ := testPool(t, 4, -1, nil)
	agent, err := NewLeg(LegConfig{Pool: pool, Remote: netip.MustParseAddrPort("127.0.0.1:4000")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	var w WarmList
	r := &Relay{mask: PacketHandlerFunc(func(pk *Packet) { pk.Warm.AddSend(agent) }), interval: 20 * time.Millisecond}
	pk := Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: make([]byte, 160), Warm: &w}
	(*tickingHandler)(r).HandleRTP(&pk)
	for _, c := range []struct {
		what string
		p    unsafe.Pointer
		size uintptr
	}{
		{"relay lock", unsafe.Pointer(&r.mu), unsafe.Sizeof(r.mu)},
		{"agent leg's send counters", unsafe.Pointer(&agent.send), unsafe.Sizeof(agent.send)},
		{"agent leg's remote", unsafe.Pointer(agent.recv.remote.Load()), unsafe.Sizeof(remoteState{})},
	} {
		if !w.Covers(c.p, c.size) {
			t.Errorf("the list does not name the %s", c.what)
		}
	}
	var nilList *WarmList
	nilList.AddSend(agent) // a leg not read by a Reactor: nothing to do, no panic
}

// A leg read by a Reactor gets a warm list, which its receiver starts
// with its own state; a leg on its own goroutine has none (nothing would
// read it).
func TestReactorLegsCarryAWarmList(t *testing.T) {
	reactor := testReactor(t, ReactorConfig{})
	rp := newRelayPeers(t, LegConfig{}, func(c *RelayConfig) { c.Reactor = reactor })
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	if !prefetchSupported {
		if rp.caller.recv.pkt.Warm != nil {
			t.Fatal("a reactor's leg has a warm list where nothing can prefetch it")
		}
	} else if rp.caller.recv.pkt.Warm != &rp.caller.recv.warm || rp.agent.recv.pkt.Warm != &rp.agent.recv.warm {
		t.Fatal("a reactor's legs have no warm list")
	}
	plain := newRelayPeers(t, LegConfig{}, nil)
	if err := plain.relay.Start(); err != nil {
		t.Fatal(err)
	}
	if plain.caller.recv.pkt.Warm != nil {
		t.Fatal("a leg on its own goroutine has a warm list")
	}
	// The receiver's part, checked on a leg nobody reads.
	var rcv receiver
	rcv.init(false, 8000, time.Minute)
	rcv.setRemote(netip.MustParseAddrPort("127.0.0.1:4000"))
	rs := rcv.remote.Load()
	rcv.noteWarm()
	for _, c := range []struct {
		what string
		p    unsafe.Pointer
		size uintptr
	}{
		{"remote", unsafe.Pointer(rs), unsafe.Sizeof(*rs)},
		{"statistics", unsafe.Pointer(&rcv.stats.packets), 8},
		{"packet header", unsafe.Pointer(&rcv.pkt.Header), unsafe.Sizeof(rcv.pkt.Header)},
		{"handler", unsafe.Pointer(&rcv.handler), unsafe.Sizeof(rcv.handler)},
	} {
		if !rcv.warm.Covers(c.p, c.size) {
			t.Errorf("the receiver's list does not name its %s", c.what)
		}
	}
}
