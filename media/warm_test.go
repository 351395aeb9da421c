package media

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"

	"dtmfgw/dtmf/g711"
)

// covers reports whether one of w's spans holds the size bytes at p.
func covers(w *warmList, p unsafe.Pointer, size uintptr) bool {
	lo, hi := uintptr(p), uintptr(p)+size
	for _, s := range w.span[:w.n] {
		first := s &^ (cacheLine - 1)
		end := first + (s&(cacheLine-1)+1)*cacheLine
		if lo >= first && hi <= end {
			return true
		}
	}
	return false
}

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
			var w warmList
			w.add(unsafe.Pointer(&buf[tt.at]), tt.size)
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
			w.prefetch() // asks for real memory: must simply return
		})
	}
}

func TestWarmListIgnoresWhatItCannotHold(t *testing.T) {
	var x [8]byte
	var nilList *warmList
	nilList.add(unsafe.Pointer(&x), 8) // no list: a packet not read by a reactor
	var w warmList
	w.add(unsafe.Pointer(&x), 0)
	if w.n != 0 {
		t.Fatalf("a zero size added a span")
	}
	for range maxWarm + 3 {
		w.add(unsafe.Pointer(&x), 8)
	}
	if w.n != maxWarm {
		t.Fatalf("n = %d after overfilling, want %d", w.n, maxWarm)
	}
	// Stale or unmapped addresses are only hints: prefetching them does
	// not fault.
	w.span[0] = 0
	w.span[1] = 1 << 20
	w.prefetch()
}

// A pipeline behind the relay's ticking handler and a wrapper (as
// session's caller path wraps it) names, after each packet, the memory
// its next packet will use: the relay's lock, its own state, the
// look-ahead's ring where the next packet is written and read, the
// Detector's state and history, and the agent leg's send state.
func TestPipelineNamesWhatItsNextPacketUses(t *testing.T) {
	pool, _ := testPool(t, 4, -1, nil)
	agent, err := NewLeg(LegConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	p, err := NewPipeline(PipelineConfig{Law: g711.Ulaw, AudioPT: 0, EventPTs: []uint8{101}, SSRC: 9}, wrappedSender{LegSender{agent}})
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{mask: wrapped{p}, interval: 20 * time.Millisecond}
	h := (*tickingHandler)(r)
	// The list as a reactor's leg fills it: the receiver's part first.
	var rcv receiver
	rcv.init(false, 8000, time.Minute)
	w := &rcv.warm
	pk := Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: speechLike(), warm: w}
	// Thirty packets: the look-ahead's ring wraps on the way, splitting
	// its spans; the list must still have room for everything.
	for i := range 30 {
		pk.Header.SequenceNumber = uint16(i)
		pk.Header.Timestamp = uint32(i * hFrame)
		pk.Arrival = hEpoch.Add(time.Duration(i) * 20 * time.Millisecond)
		rcv.noteWarm()
		h.HandleRTP(&pk)
		if w.n >= maxWarm {
			t.Fatalf("packet %d: the list is full (%d spans): what came last may have been dropped", i, w.n)
		}
	}
	la := p.la
	det := la.det.NextRegions(hFrame)
	for _, c := range []struct {
		what string
		p    unsafe.Pointer
		size uintptr
	}{
		{"relay lock", unsafe.Pointer(&r.mu), unsafe.Sizeof(r.mu)},
		{"pipeline counters", unsafe.Pointer(&p.c), unsafe.Sizeof(p.c)},
		{"pipeline sequence state", unsafe.Pointer(&p.lastAudioSeq), 2},
		{"packet buffer", unsafe.Pointer(&p.buf), rtpHeaderLen + hFrame},
		{"look-ahead positions", unsafe.Pointer(&la.writePos), 8},
		{"ring at the next write", unsafe.Pointer(&la.ring[la.writePos&(ringCap-1)]), 1},
		{"ring at the next read", unsafe.Pointer(&la.ring[la.readPos&(ringCap-1)]), 1},
		{"detector state", det[0].Addr, det[0].Len},
		{"detector history", det[1].Addr, det[1].Len},
		{"agent leg's send counters", unsafe.Pointer(&agent.send), unsafe.Sizeof(agent.send)},
		{"agent leg's remote", unsafe.Pointer(agent.recv.remote.Load()), unsafe.Sizeof(remoteState{})},
	} {
		if !covers(w, c.p, c.size) {
			t.Errorf("the list does not name the %s", c.what)
		}
	}
	if det[1].Len == 0 {
		t.Errorf("detector history region is empty")
	}
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
		if rp.caller.recv.pkt.warm != nil {
			t.Fatal("a reactor's leg has a warm list where nothing can prefetch it")
		}
	} else if rp.caller.recv.pkt.warm != &rp.caller.recv.warm || rp.agent.recv.pkt.warm != &rp.agent.recv.warm {
		t.Fatal("a reactor's legs have no warm list")
	}
	plain := newRelayPeers(t, LegConfig{}, nil)
	if err := plain.relay.Start(); err != nil {
		t.Fatal(err)
	}
	if plain.caller.recv.pkt.warm != nil {
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
		if !covers(&rcv.warm, c.p, c.size) {
			t.Errorf("the receiver's list does not name its %s", c.what)
		}
	}
}

// wrapped stands for a handler that wraps a pipeline (session's caller
// path).
type wrapped struct{ p *Pipeline }

func (w wrapped) HandleRTP(pk *Packet) { w.p.HandleRTP(pk) }

// wrappedSender stands for a Sender that wraps a leg's (session's agent
// stream) and says which leg.
type wrappedSender struct{ next LegSender }

func (s wrappedSender) SendRTP(b []byte) error { return s.next.SendRTP(b) }
func (s wrappedSender) Target() *Leg           { return s.next.Target() }
