package media

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
)

// relayPeers is a relayed call on loopback: the relay, and the caller's
// and the agent's own sockets.
type relayPeers struct {
	relay         *Relay
	caller, agent *Leg
	callerPeer    *net.UDPConn
	agentPeer     *net.UDPConn
}

// newRelayPeers builds two legs from one pool, points them at two peer
// sockets and lets edit adjust the relay's configuration before NewRelay.
func newRelayPeers(t testing.TB, legCfg LegConfig, edit func(*RelayConfig)) *relayPeers {
	t.Helper()
	if legCfg.Pool == nil {
		legCfg.Pool, _ = testPool(t, 2, -1, nil)
	}
	rp := &relayPeers{callerPeer: testkit.ListenUDP(t), agentPeer: testkit.ListenUDP(t)}
	var err error
	cc := legCfg
	cc.Remote = testkit.AddrOf(rp.callerPeer)
	if rp.caller, err = NewLeg(cc); err != nil {
		t.Fatal(err)
	}
	ac := legCfg
	ac.Remote = testkit.AddrOf(rp.agentPeer)
	ac.MediaTimeout = 0
	if rp.agent, err = NewLeg(ac); err != nil {
		t.Fatal(err)
	}
	cfg := RelayConfig{Caller: rp.caller, Agent: rp.agent, Now: legCfg.Now}
	if edit != nil {
		edit(&cfg)
	}
	if rp.relay, err = NewRelay(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.relay.Close() })
	return rp
}

// readers are the ways a relay's sockets can be read: each leg's own
// goroutine, with or without recvmmsg, or a shared Reactor.
var readers = []struct {
	name     string
	batch    int
	reactor  bool
	coalesce time.Duration
}{
	{"plain reader", 0, false, 0},
	{"batched reader", 8, false, 0},
	{"reactor", 0, true, 0},
	{"coalescing reactor", 0, true, time.Millisecond},
}

// reactorSupported reports whether NewReactor works here (epoll).
const reactorSupported = runtime.GOOS == "linux"

// testReactor returns a started reactor closed at the end of the test.
func testReactor(t testing.TB, cfg ReactorConfig) *Reactor {
	t.Helper()
	if !reactorSupported {
		t.Skip("no Reactor on this platform")
	}
	r, err := NewReactor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func TestRelayForwardsBothDirectionsByteForByte(t *testing.T) {
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			var reactor *Reactor
			if rd.reactor {
				reactor = testReactor(t, ReactorConfig{Coalesce: rd.coalesce})
			}
			rp := newRelayPeers(t, LegConfig{BatchRead: rd.batch}, func(c *RelayConfig) { c.Reactor = reactor })
			if err := rp.relay.Start(); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				up := rtpBytes(t, uint16(100+i), bytes.Repeat([]byte{byte(i)}, 160))
				testkit.SendUDP(t, rp.callerPeer, rp.caller.LocalAddr(), up)
				got, from := testkit.ReadWithin(t, rp.agentPeer, 5*time.Second)
				if !bytes.Equal(got, up) {
					t.Fatalf("caller→agent packet %d changed: got %x, want %x", i, got, up)
				}
				if from != rp.agent.LocalAddr() {
					t.Fatalf("caller→agent packet came from %v, want the agent leg %v", from, rp.agent.LocalAddr())
				}
				// Agent→caller with padding and a CSRC: unchanged, whatever it holds.
				down := rtpBytes(t, uint16(7000+i), bytes.Repeat([]byte{0xD5}, 160))
				testkit.SendUDP(t, rp.agentPeer, rp.agent.LocalAddr(), down)
				got, from = testkit.ReadWithin(t, rp.callerPeer, 5*time.Second)
				if !bytes.Equal(got, down) {
					t.Fatalf("agent→caller packet %d changed: got %x, want %x", i, got, down)
				}
				if from != rp.caller.LocalAddr() {
					t.Fatalf("agent→caller packet came from %v, want the caller leg %v", from, rp.caller.LocalAddr())
				}
			}
		})
	}
}

func TestRelayDropsPacketsFromWrongSource(t *testing.T) {
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			var reactor *Reactor
			if rd.reactor {
				reactor = testReactor(t, ReactorConfig{Coalesce: rd.coalesce})
			}
			testRelayDropsPacketsFromWrongSource(t, LegConfig{BatchRead: rd.batch}, reactor)
		})
	}
}

func testRelayDropsPacketsFromWrongSource(t *testing.T, cfg LegConfig, reactor *Reactor) {
	rp := newRelayPeers(t, cfg, func(c *RelayConfig) { c.Reactor = reactor })
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	intruder := testkit.ListenUDP(t)
	tests := []struct {
		name      string
		to        func() netip.AddrPort
		listener  *net.UDPConn
		signalled *net.UDPConn
	}{
		{"injected toward the agent", rp.caller.LocalAddr, rp.agentPeer, rp.callerPeer},
		{"injected toward the caller", rp.agent.LocalAddr, rp.callerPeer, rp.agentPeer},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := rtpBytes(t, 1, bytes.Repeat([]byte{0xAA}, 160))
			good := rtpBytes(t, 2, bytes.Repeat([]byte{0x55}, 160))
			// The intruder's packet goes first; the reader handles datagrams
			// in order, so the first thing out must be the signalled peer's.
			testkit.SendUDP(t, intruder, tc.to(), bad)
			testkit.SendUDP(t, tc.signalled, tc.to(), good)
			got, _ := testkit.ReadWithin(t, tc.listener, 5*time.Second)
			if !bytes.Equal(got, good) {
				t.Fatalf("relayed %x, want only the signalled peer's %x", got, good)
			}
			leg := []*Leg{rp.caller, rp.agent}[i]
			if n := leg.Stats().Received.DroppedWrongSource; n != 1 {
				t.Fatalf("DroppedWrongSource = %d, want 1", n)
			}
		})
	}
}

// recordingPipeline stands in for the masking pipeline: it rewrites every
// payload byte and sends the packet through a LegSender, and counts ticks.
type recordingPipeline struct {
	out     interface{ SendRTP([]byte) error }
	inTick  atomic.Bool
	overlap atomic.Bool
	packets atomic.Int64
	ticks   atomic.Int64
	lastNow atomic.Int64
}

func (p *recordingPipeline) HandleRTP(pkt *Packet) {
	if p.inTick.Load() {
		p.overlap.Store(true)
	}
	p.packets.Add(1)
	for i := range pkt.Payload {
		pkt.Payload[i] = 0xFF // µ-law silence
	}
	_ = p.out.SendRTP(pkt.Raw)
}

func (p *recordingPipeline) Tick(now time.Time) {
	p.inTick.Store(true)
	p.ticks.Add(1)
	p.lastNow.Store(now.UnixNano())
	p.inTick.Store(false)
}

func TestRelaySendsCallerPacketsThroughTheMaskingHandler(t *testing.T) {
	pipe := &recordingPipeline{}
	rp := newRelayPeers(t, LegConfig{}, func(c *RelayConfig) {
		pipe.out = LegSender{c.Agent}
		c.CallerToAgent, c.Tick = pipe, pipe
	})
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	up := rtpBytes(t, 9, bytes.Repeat([]byte{0x12}, 160))
	testkit.SendUDP(t, rp.callerPeer, rp.caller.LocalAddr(), up)
	got, _ := testkit.ReadWithin(t, rp.agentPeer, 5*time.Second)
	want := rtpBytes(t, 9, bytes.Repeat([]byte{0xFF}, 160))
	if !bytes.Equal(got, want) {
		t.Fatalf("agent got %x, want the handler's rewrite %x", got, want)
	}
	// The agent's packets do not go through the handler.
	down := rtpBytes(t, 10, bytes.Repeat([]byte{0x12}, 160))
	testkit.SendUDP(t, rp.agentPeer, rp.agent.LocalAddr(), down)
	if got, _ := testkit.ReadWithin(t, rp.callerPeer, 5*time.Second); !bytes.Equal(got, down) {
		t.Fatalf("caller got %x, want %x unchanged", got, down)
	}
	if n := pipe.packets.Load(); n != 1 {
		t.Fatalf("handler saw %d packets, want 1", n)
	}
}

func TestRelayTicksFromPacketsAndFromTheWheelOnlyWhenSilent(t *testing.T) {
	clock := testkit.NewClock(t0)
	pipe := &recordingPipeline{}
	// The wheel's own timer is an hour: the test drives Visit by hand.
	wheel := NewTickWheel(time.Hour, clock.Now)
	defer wheel.Close()
	rp := newRelayPeers(t, LegConfig{Now: clock.Now}, func(c *RelayConfig) {
		pipe.out = LegSender{c.Agent}
		c.CallerToAgent, c.Tick, c.Wheel = pipe, pipe, wheel
		c.TickInterval = 20 * time.Millisecond
	})
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	if wheel.Len() != 1 {
		t.Fatalf("wheel holds %d relays, want 1", wheel.Len())
	}
	steps := []struct {
		name      string
		advance   time.Duration
		packet    bool // a caller packet arrives (at the advanced time)
		wantTicks int64
	}{
		{"visit before an interval passed", 10 * time.Millisecond, false, 0},
		{"visit after an interval of silence", 10 * time.Millisecond, false, 1},
		{"packet right after a tick", 5 * time.Millisecond, true, 1},
		{"packet an interval after the tick", 15 * time.Millisecond, true, 2},
		{"visit right after the packet's tick", 1 * time.Millisecond, false, 2},
		{"packet within an interval of the tick", 15 * time.Millisecond, true, 2},
		// The caller is talking: its packets tick the relay, and the
		// wheel adds none of its own, however long since the last tick.
		{"visit an interval after the tick, right after a packet", 6 * time.Millisecond, false, 2},
		{"visit after an interval of silence since the packet", 14 * time.Millisecond, false, 3},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		if s.packet {
			testkit.SendUDP(t, rp.callerPeer, rp.caller.LocalAddr(), rtpBytes(t, uint16(i), make([]byte, 160)))
			testkit.ReadWithin(t, rp.agentPeer, 5*time.Second)
			// The handler sends before it ticks, under the relay's lock:
			// taking the lock waits for the tick.
			rp.relay.mu.Lock()
			rp.relay.mu.Unlock() //lint:ignore SA2001 the empty section is the point: wait for the reader's
		} else {
			wheel.Visit()
		}
		if got := pipe.ticks.Load(); got != s.wantTicks {
			t.Fatalf("%s: %d ticks, want %d", s.name, got, s.wantTicks)
		}
		if got := rp.relay.Ticks(); got != uint64(s.wantTicks) {
			t.Fatalf("%s: Relay.Ticks = %d, want %d", s.name, got, s.wantTicks)
		}
	}
	if want := clock.Now().UnixNano(); pipe.lastNow.Load() != want {
		t.Fatalf("last tick at %d, want the clock's %d", pipe.lastNow.Load(), want)
	}
	if pipe.overlap.Load() {
		t.Fatal("HandleRTP ran during Tick")
	}
	if err := rp.relay.Close(); err != nil {
		t.Fatal(err)
	}
	if wheel.Len() != 0 {
		t.Fatalf("closed relay still on the wheel (%d)", wheel.Len())
	}
}

func TestTickWheelRemovesAnyMember(t *testing.T) {
	wheel := NewTickWheel(time.Hour, nil)
	defer wheel.Close()
	relays := make([]*Relay, 5)
	for i := range relays {
		relays[i] = &Relay{wheelIndex: -1}
		wheel.add(relays[i])
	}
	for _, i := range []int{1, 4, 0, 3, 2} {
		wheel.remove(relays[i])
		wheel.remove(relays[i]) // a second remove is a no-op
		for j, m := range wheel.members {
			if m.wheelIndex != j {
				t.Fatalf("member %d has index %d", j, m.wheelIndex)
			}
			if m == relays[i] {
				t.Fatalf("relay %d still a member", i)
			}
		}
	}
	if wheel.Len() != 0 {
		t.Fatalf("Len = %d after removing all", wheel.Len())
	}
}

func TestRelayReportsAMediaTimeoutOnce(t *testing.T) {
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			clock := testkit.NewClock(t0)
			var reactor *Reactor
			if rd.reactor {
				reactor = testReactor(t, ReactorConfig{Now: clock.Now, TimeoutCheck: 5 * time.Millisecond, Coalesce: rd.coalesce})
			}
			testRelayReportsAMediaTimeoutOnce(t, clock, LegConfig{BatchRead: rd.batch}, reactor)
		})
	}
}

func testRelayReportsAMediaTimeoutOnce(t *testing.T, clock *testkit.Clock, cfg LegConfig, reactor *Reactor) {
	cfg.Now, cfg.MediaTimeout, cfg.TimeoutCheck = clock.Now, 5*time.Second, 5*time.Millisecond
	rp := newRelayPeers(t, cfg, func(c *RelayConfig) { c.Reactor = reactor })
	// The agent's leg times out later than the caller's: the caller's is
	// reported, and only it.
	rp.agent.SetMediaTimeout(7 * time.Second)
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rp.relay.MediaTimeout():
		t.Fatal("media timeout before the clock moved")
	default:
	}
	clock.Advance(6 * time.Second)
	select {
	case <-rp.relay.MediaTimeout():
	case <-time.After(5 * time.Second):
		t.Fatal("no media timeout within 5 s of wall time")
	}
	if got := rp.relay.TimedOut(); got != CallerSide {
		t.Fatalf("TimedOut = %v, want caller", got)
	}
	// The agent's count restarted at one of its checks, which may have
	// been after the clock moved: move it on until the agent times out.
	deadline := time.After(5 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for agentDone := false; !agentDone; {
		select {
		case <-rp.agent.MediaTimeout():
			agentDone = true
		case <-poll.C:
			clock.Advance(time.Second)
		case <-deadline:
			t.Fatal("the agent leg did not time out too")
		}
	}
	if got := rp.relay.TimedOut(); got != CallerSide {
		t.Fatalf("TimedOut = %v after the agent's timeout, want still caller", got)
	}
	if err := rp.relay.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRelayLifecycleErrors(t *testing.T) {
	pool, _ := testPool(t, 2, -1, nil)
	a, err := NewLeg(LegConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, cfg := range []RelayConfig{
		{Caller: a},
		{Agent: a},
		{Caller: a, Agent: a},
		{Caller: a, Agent: &Leg{}, TickInterval: -1},
	} {
		if _, err := NewRelay(cfg); !errors.Is(err, ErrRelayConfig) {
			t.Fatalf("NewRelay(%+v) = %v, want ErrRelayConfig", cfg, err)
		}
	}
	rp := newRelayPeers(t, LegConfig{}, nil)
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	if err := rp.relay.Start(); !errors.Is(err, ErrRelayStarted) {
		t.Fatalf("second Start = %v", err)
	}
	if err := rp.relay.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rp.relay.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := rp.relay.Start(); !errors.Is(err, ErrRelayClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
	// A relay closed without being started still closes its legs.
	idle := newRelayPeers(t, LegConfig{}, nil)
	if err := idle.relay.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.caller.Start(nil); !errors.Is(err, ErrLegClosed) {
		t.Fatalf("caller leg after relay Close: Start = %v, want ErrLegClosed", err)
	}
}

func TestRelayCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	pool, _ := testPool(t, 30, -1, nil)
	wheel := NewTickWheel(time.Millisecond, nil)
	var reactor *Reactor
	if reactorSupported {
		var err error
		if reactor, err = NewReactor(ReactorConfig{TimeoutCheck: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	const calls = 15
	var wg sync.WaitGroup
	for i := range calls {
		pipe := &recordingPipeline{}
		cfg := LegConfig{Pool: pool, TimeoutCheck: 10 * time.Millisecond, MediaTimeout: time.Minute, BatchRead: i % 2 * 8}
		rp := newRelayPeers(t, cfg, func(c *RelayConfig) {
			pipe.out = LegSender{c.Agent}
			c.CallerToAgent, c.Tick = pipe, pipe
			if i%2 == 0 {
				c.Wheel = wheel // the others get a wheel of their own
			}
			if i%3 == 0 {
				c.Reactor = reactor
			}
			if i%4 < 2 { // RTCP's readers must end too
				c.RTCP = &RelayRTCP{CallerRemote: testkit.AddrOf(testkit.ListenUDP(t)), AgentRemote: testkit.AddrOf(testkit.ListenUDP(t))}
			}
		})
		if err := rp.relay.Start(); err != nil {
			t.Fatal(err)
		}
		testkit.SendUDP(t, rp.callerPeer, rp.caller.LocalAddr(), rtpBytes(t, 1, make([]byte, 160)))
		testkit.ReadWithin(t, rp.agentPeer, 5*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rp.relay.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	wheel.Close()
	if reactor != nil {
		if n := reactor.Len(); n != 0 {
			t.Fatalf("reactor still reads %d legs", n)
		}
		if err := reactor.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !testkit.Poll(func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	}
}

func TestRelayHandlersDoNotAllocate(t *testing.T) {
	pipe := &recordingPipeline{}
	rp := newRelayPeers(t, LegConfig{}, func(c *RelayConfig) {
		pipe.out = LegSender{c.Agent}
		c.CallerToAgent, c.Tick = pipe, pipe
		c.TickInterval = time.Nanosecond // tick on every packet
	})
	raw := rtpBytes(t, 1, make([]byte, 160))
	pkt := Packet{Raw: raw, Payload: raw[12:], Arrival: time.Now()}
	caller := (*tickingHandler)(rp.relay)
	agent := &forwarder{to: rp.caller}
	if n := testing.AllocsPerRun(200, func() {
		pkt.Arrival = pkt.Arrival.Add(time.Millisecond)
		caller.HandleRTP(&pkt)
		agent.HandleRTP(&pkt)
		rp.relay.tickIfIdle(pkt.Arrival.Add(time.Second))
	}); n != 0 {
		t.Fatalf("%v allocations per packet, want 0", n)
	}
}

// BenchmarkRelayPacket measures one caller→agent packet through a
// started relay over loopback: the caller leg's read, source check,
// parse, stats, the handler (a pass-through forwarder, or a stand-in
// pipeline that rewrites the payload and is ticked; the masking pipeline's
// own cases are media/mask's BenchmarkRelayPacketMasking), and the agent
// leg's write; a reader on the agent's socket takes the packet. One call at a
// time: the Reactor's gain, fewer wake-ups when many calls are ready at
// once, shows only under bench/loadrelay.
func BenchmarkRelayPacket(b *testing.B) {
	for _, bc := range []struct {
		name    string
		pipe    int // 0 none, 1 stand-in
		reactor bool
	}{
		{"forward", 0, false}, {"handler+tick", 1, false},
		{"reactor/forward", 0, true}, {"reactor/handler+tick", 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pipe := &recordingPipeline{}
			var reactor *Reactor
			if bc.reactor {
				reactor = testReactor(b, ReactorConfig{})
			}
			rp := newRelayPeers(b, LegConfig{MediaTimeout: time.Minute}, func(c *RelayConfig) {
				c.Reactor = reactor
				switch bc.pipe {
				case 1:
					pipe.out = LegSender{c.Agent}
					c.CallerToAgent, c.Tick = pipe, pipe
				}
			})
			if err := rp.relay.Start(); err != nil {
				b.Fatal(err)
			}
			credits := make(chan struct{}, testkit.BenchWindow)
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, MaxDatagram+1)
				for {
					if _, _, err := rp.agentPeer.ReadFromUDPAddrPort(buf); err != nil {
						return
					}
					<-credits
				}
			}()
			testkit.SendLoopback(b, rp.callerPeer, rp.caller.LocalAddr(), rtpBytes(b, 1, make([]byte, 160)), credits)
			rp.agentPeer.Close()
			<-done
		})
	}
}

func TestReactorRelaysBacklogsAndManyReadySockets(t *testing.T) {
	// Two events per epoll_wait and several datagrams queued per socket:
	// the level-triggered set lists each socket again while it holds
	// datagrams, and the reactor polls until it lists none.
	reactor := testReactor(t, ReactorConfig{Events: 2})
	pool, _ := testPool(t, 12, -1, nil)
	const calls, perCall = 6, 5
	peers := make([]*relayPeers, calls)
	for i := range peers {
		peers[i] = newRelayPeers(t, LegConfig{Pool: pool}, func(c *RelayConfig) { c.Reactor = reactor })
		if err := peers[i].relay.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if n := reactor.Len(); n != 2*calls {
		t.Fatalf("reactor reads %d legs, want %d", n, 2*calls)
	}
	// Queue everything while the reactor is held, so it finds all of it
	// at once.
	reactor.mu.Lock()
	for i, p := range peers {
		for k := range perCall {
			testkit.SendUDP(t, p.callerPeer, p.caller.LocalAddr(), rtpBytes(t, uint16(i*100+k), make([]byte, 160)))
		}
	}
	reactor.mu.Unlock()
	for i, p := range peers {
		for k := range perCall {
			got, _ := testkit.ReadWithin(t, p.agentPeer, 5*time.Second)
			if seq := int(got[2])<<8 | int(got[3]); seq != i*100+k {
				t.Fatalf("call %d: got sequence %d, want %d", i, seq, i*100+k)
			}
		}
	}
}

func TestReactorEmptiesAFloodedSocketOverSeveralPolls(t *testing.T) {
	// Many datagrams queued on one socket: a poll reads one per socket,
	// and the level-triggered set lists the socket again until it is
	// empty, so the following polls read the rest, in order, before the
	// reactor parks.
	reactor := testReactor(t, ReactorConfig{})
	rp := newRelayPeers(t, LegConfig{}, func(c *RelayConfig) { c.Reactor = reactor })
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	const flood = 101
	reactor.mu.Lock()
	for k := range flood {
		testkit.SendUDP(t, rp.callerPeer, rp.caller.LocalAddr(), rtpBytes(t, uint16(k), make([]byte, 160)))
	}
	reactor.mu.Unlock()
	for k := range flood {
		got, _ := testkit.ReadWithin(t, rp.agentPeer, 5*time.Second)
		if seq := int(got[2])<<8 | int(got[3]); seq != k {
			t.Fatalf("got sequence %d, want %d", seq, k)
		}
	}
	if st := rp.caller.Stats().Received; st.Packets != flood {
		t.Fatalf("caller leg counted %d packets, want %d", st.Packets, flood)
	}
}

func TestReactorLegsLeaveTheRuntimePoller(t *testing.T) {
	// A reactor's relay takes its legs' sockets out of the Go runtime's
	// poller: the leg cannot be started on a goroutine of its own any
	// more, WriteRTP still writes (with sendto), and Close really closes
	// the socket (its port can be bound again).
	reactor := testReactor(t, ReactorConfig{})
	rp := newRelayPeers(t, LegConfig{}, func(c *RelayConfig) { c.Reactor = reactor })
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	if err := rp.agent.Start(nil); !errors.Is(err, ErrLegUnpolled) {
		t.Fatalf("Start on a reactor's leg = %v, want ErrLegUnpolled", err)
	}
	pkt := rtpBytes(t, 9, bytes.Repeat([]byte{0x55}, 160))
	if err := rp.agent.WriteRTP(pkt); err != nil {
		t.Fatal(err)
	}
	if got, from := testkit.ReadWithin(t, rp.agentPeer, 5*time.Second); !bytes.Equal(got, pkt) || from != rp.agent.LocalAddr() {
		t.Fatalf("agent peer got %x from %v, want %x from %v", got, from, pkt, rp.agent.LocalAddr())
	}
	if st := rp.agent.Stats().Sent; st.Packets != 1 || st.Bytes != uint64(len(pkt)) {
		t.Fatalf("agent leg sent %+v, want 1 packet of %d bytes", st, len(pkt))
	}
	local := rp.agent.LocalAddr()
	if err := rp.relay.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rp.agent.WriteRTP(pkt); !errors.Is(err, ErrLegClosed) {
		t.Fatalf("WriteRTP after Close = %v, want ErrLegClosed", err)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local))
	if err != nil {
		t.Fatalf("port %v still bound after Close: %v", local, err)
	}
	c.Close()
}

func TestReactorRelaysWithoutAllocating(t *testing.T) {
	reactor := testReactor(t, ReactorConfig{})
	pipe := &recordingPipeline{}
	rp := newRelayPeers(t, LegConfig{MediaTimeout: time.Minute}, func(c *RelayConfig) {
		d, err := NewDirectSender(c.Agent)
		if err != nil {
			t.Fatal(err)
		}
		pipe.out = d
		c.CallerToAgent, c.Tick, c.Reactor = pipe, pipe, reactor
	})
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	pkt := rtpBytes(t, 1, make([]byte, 160))
	buf := make([]byte, MaxDatagram+1)
	to := rp.caller.LocalAddr()
	if err := rp.agentPeer.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(200, func() {
		if _, err := rp.callerPeer.WriteToUDPAddrPort(pkt, to); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rp.agentPeer.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per relayed packet (whole process), want 0", n)
	}
}

func TestDirectSenderWritesLikeWriteRTP(t *testing.T) {
	pool, _ := testPool(t, 1, -1, nil)
	peer := testkit.ListenUDP(t)
	leg, err := NewLeg(LegConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	d, err := NewDirectSender(leg)
	if err != nil {
		t.Fatal(err)
	}
	pkt := rtpBytes(t, 5, bytes.Repeat([]byte{0x7E}, 160))
	if err := d.SendRTP(pkt); !errors.Is(err, ErrNoRemote) {
		t.Fatalf("SendRTP without a remote = %v, want ErrNoRemote", err)
	}
	leg.SetRemote(testkit.AddrOf(peer))
	if err := d.SendRTP(pkt); err != nil {
		t.Fatal(err)
	}
	got, from := testkit.ReadWithin(t, peer, 5*time.Second)
	if !bytes.Equal(got, pkt) || from != leg.LocalAddr() {
		t.Fatalf("peer got %x from %v, want %x from %v", got, from, pkt, leg.LocalAddr())
	}
	d.HandleRTP(&Packet{Raw: pkt})
	if got, _ := testkit.ReadWithin(t, peer, 5*time.Second); !bytes.Equal(got, pkt) {
		t.Fatalf("HandleRTP sent %x", got)
	}
	if s := leg.Stats().Sent; s.Packets != 2 || s.Bytes != uint64(2*len(pkt)) || s.Errors != 1 {
		t.Fatalf("send stats %+v, want 2 packets, %d bytes, 1 error", s, 2*len(pkt))
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.SendRTP(pkt) }); n != 0 {
		t.Fatalf("SendRTP: %v allocations, want 0", n)
	}
	leg.Close()
	if err := d.SendRTP(pkt); !errors.Is(err, ErrLegClosed) {
		t.Fatalf("SendRTP after Close = %v, want ErrLegClosed", err)
	}
}

func TestRelayOnAClosedReactorFailsAndClosesCleanly(t *testing.T) {
	reactor := testReactor(t, ReactorConfig{})
	rp := newRelayPeers(t, LegConfig{}, func(c *RelayConfig) { c.Reactor = reactor })
	if err := reactor.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rp.relay.Start(); !errors.Is(err, ErrReactorClosed) {
		t.Fatalf("Start on a closed reactor = %v, want ErrReactorClosed", err)
	}
	// Start closed the relay; its legs are closed without waiting for a reader.
	if err := rp.relay.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rp.caller.Start(nil); !errors.Is(err, ErrLegClosed) {
		t.Fatalf("caller leg Start = %v, want ErrLegClosed", err)
	}
}

func TestReactorRecordsAddedLatency(t *testing.T) {
	reactor := testReactor(t, ReactorConfig{})
	rp := newRelayPeers(t, LegConfig{}, func(c *RelayConfig) { c.Reactor = reactor })
	if err := rp.relay.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for k := range n {
		testkit.SendUDP(t, rp.callerPeer, rp.caller.LocalAddr(), rtpBytes(t, uint16(k), make([]byte, 160)))
		testkit.ReadWithin(t, rp.agentPeer, 5*time.Second)
		testkit.SendUDP(t, rp.agentPeer, rp.agent.LocalAddr(), rtpBytes(t, uint16(k), make([]byte, 160)))
		testkit.ReadWithin(t, rp.callerPeer, 5*time.Second)
	}
	for _, side := range []Side{CallerSide, AgentSide} {
		// The count is taken after the send, under the reactor's lock:
		// a read of the peer may come first, so wait for the lock.
		reactor.mu.Lock()
		s := reactor.AddedLatency(side)
		reactor.mu.Unlock()
		if s.Count != n {
			t.Errorf("%v: %d datagrams timed, want %d", side, s.Count, n)
		}
		if s.Sum < 0 || s.Sum > time.Duration(n)*time.Second {
			t.Errorf("%v: latency sum %v", side, s.Sum)
		}
	}
	if s := reactor.AddedLatency(NoSide); s.Count != 0 {
		t.Errorf("NoSide: %+v", s)
	}
}
