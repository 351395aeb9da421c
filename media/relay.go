package media

import (
	"dtmfgw/media/rtcp"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// DefaultTickInterval is how often a relay's TickHandler is ticked when
// none is configured: one G.711 packetisation interval (RFC 3551 §4.5,
// 20 ms), the pace at which a look-ahead buffer or a synthesised mask tone
// needs to move when the caller's stream stalls.
const DefaultTickInterval = 20 * time.Millisecond

// Errors of Relay.
var (
	// ErrRelayConfig is wrapped by NewRelay for an unusable configuration.
	ErrRelayConfig = errors.New("media: bad relay configuration")
	// ErrRelayClosed is returned by Start after Close.
	ErrRelayClosed = errors.New("media: relay closed")
	// ErrRelayStarted is returned by a second Start.
	ErrRelayStarted = errors.New("media: relay already started")
)

// TickHandler is the timed part of a caller→agent handler (the masking
// pipeline's Tick): it lets the handler act when no packet arrives, e.g.
// flush its look-ahead or carry on a mask tone after the caller stopped
// sending. The relay never calls Tick concurrently with the handler's
// HandleRTP.
type TickHandler interface {
	Tick(now time.Time)
}

// Sender writes one RTP datagram toward the agent; LegSender{agentLeg}
// fits. The masking pipeline reuses the slice after SendRTP returns.
type Sender interface {
	SendRTP(b []byte) error
}

// LegSender adapts a Leg to a sender of RTP datagrams with a SendRTP
// method (the masking pipeline's output): SendRTP writes to the leg's
// remote. It is one pointer wide, so storing it in an interface does not
// allocate.
type LegSender struct{ Leg *Leg }

// SendRTP writes b to the leg's remote (Leg.WriteRTP).
func (s LegSender) SendRTP(b []byte) error { return s.Leg.WriteRTP(b) }

// Target returns the leg s writes to (LegWriter).
func (s LegSender) Target() *Leg { return s.Leg }

// AddedLatencyBuckets are the bucket bounds of Reactor.AddedLatency: from
// a few microseconds (a packet relayed on a quiet reactor) to the tens of
// milliseconds at which a caller would hear it (ITU-T G.114 counts every
// millisecond of mouth-to-ear delay; a relay should add well under one).
var AddedLatencyBuckets = []time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond,
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
}

// Side names one leg of a relayed call.
type Side uint8

// The sides of a call.
const (
	// NoSide is the zero Side: no leg.
	NoSide Side = iota
	// CallerSide is the leg facing the caller (the card holder).
	CallerSide
	// AgentSide is the leg facing the agent's platform.
	AgentSide
)

// String names the side for logs.
func (s Side) String() string {
	switch s {
	case CallerSide:
		return "caller"
	case AgentSide:
		return "agent"
	}
	return "none"
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Caller and Agent are the call's two legs, created but not started.
	// Required and distinct. The relay owns them from NewRelay on: its
	// Close closes them.
	Caller, Agent *Leg
	// CallerToAgent receives the caller's accepted packets (the masking
	// pipeline, writing to LegSender{Agent}). Nil forwards them to the
	// agent leg unchanged.
	CallerToAgent PacketHandler
	// Tick, if set, is ticked at least every TickInterval or so (see
	// Relay) and never concurrently with CallerToAgent. It is normally the
	// same pipeline as CallerToAgent.
	Tick TickHandler
	// TickInterval is the tick period. Zero means DefaultTickInterval.
	TickInterval time.Duration
	// Wheel, if set, is the shared TickWheel that ticks this relay when
	// its caller is silent; it must tick at TickInterval or faster. Nil
	// gives the relay a wheel of its own (one goroutine and timer per
	// call), which is fine for a few calls and wasteful for a thousand.
	Wheel *TickWheel
	// Reactor, if set, reads both legs' sockets instead of a goroutine of
	// each leg's own (see Reactor). Its clock must be the legs' clock.
	Reactor *Reactor
	// Now is the clock ticks are judged by; it must be the legs' clock
	// (their packets' Arrival). Nil means time.Now.
	Now func() time.Time
	// RTCP, if set, runs an rtcp.Session on each leg's RTCP socket (see
	// RelayRTCP), ticked from the relay's tick path and closed with a
	// BYE before the legs. Nil leaves RTCP to the caller of the relay.
	RTCP *RelayRTCP
}

// Relay carries one call's media: the caller leg's packets through the
// caller→agent handler (the masking pipeline) to the agent leg, and the
// agent leg's packets unchanged to the caller leg. Each leg's reading
// goroutine does the whole work for its direction, read to write, with
// the leg's reused buffer: no copy, no hand-off between goroutines, no
// allocation, one wake-up per datagram (or per batch, with
// LegConfig.BatchRead). Nothing waits on a consumer: the only writes are
// UDP sends, which the kernel does not hold back for a slow receiver
// (and which a DirectSender drops rather than wait when the socket's own
// send buffer is full); digit events leave through the pipeline's
// bounded, non-blocking queue.
//
// Ticks are driven by the caller's own packets while they flow — the
// reading goroutine ticks after handling a packet when TickInterval has
// passed since the last tick — so a talking caller costs no timer
// wake-ups at all; the TickWheel ticks the relay only while its caller is
// silent. A tick is therefore at most about two intervals late.
//
// With RelayConfig.Reactor the legs' sockets are read by a Reactor shared
// with other calls instead, which takes fewer wake-ups per packet when
// many calls are busy; the work per packet is the same.
//
// A media timeout on either leg is reported once, through MediaTimeout
// and TimedOut.
type Relay struct {
	caller, agent *Leg
	mask          PacketHandler
	tick          TickHandler
	interval      time.Duration
	now           func() time.Time
	wheel         *TickWheel
	ownWheel      bool
	wheelIndex    int // position in wheel.members; guarded by wheel.mu
	reactor       *Reactor
	reactorSlots  [2]int32 // the legs' slots in reactor; -1 when not attached
	rtcp          *relayRTCP
	plainForward  bool // no caller→agent handler was configured

	// mu serialises the caller→agent handler and its ticks; lastTick
	// and lastPacket (the caller's last packet's arrival) belong to
	// whoever holds it.
	mu         sync.Mutex
	lastTick   time.Time
	lastPacket time.Time
	ticks      atomic.Uint64

	started   atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{} // closed by Close: ends the timeout watcher
	watchDone chan struct{}
	timeout   chan struct{}
	timedOut  atomic.Uint32 // Side
}

// NewRelay returns a relay for cfg, not yet relaying; call Start.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	if cfg.Caller == nil || cfg.Agent == nil || cfg.Caller == cfg.Agent {
		return nil, errors.Join(ErrRelayConfig, errors.New("need two distinct legs, Caller and Agent"))
	}
	if cfg.TickInterval < 0 {
		return nil, errors.Join(ErrRelayConfig, errors.New("negative TickInterval"))
	}
	r := &Relay{
		caller:       cfg.Caller,
		agent:        cfg.Agent,
		mask:         cfg.CallerToAgent,
		tick:         cfg.Tick,
		interval:     cfg.TickInterval,
		now:          cfg.Now,
		wheel:        cfg.Wheel,
		wheelIndex:   -1,
		reactor:      cfg.Reactor,
		reactorSlots: [2]int32{-1, -1},
		stop:         make(chan struct{}),
		watchDone:    make(chan struct{}),
		timeout:      make(chan struct{}),
	}
	if r.interval == 0 {
		r.interval = DefaultTickInterval
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.mask == nil {
		r.mask = &forwarder{to: r.agent}
		r.plainForward = true
	}
	if cfg.RTCP != nil {
		var err error
		if r.rtcp, err = newRelayRTCP(r, cfg.RTCP, r.plainForward); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// String describes the relay for logs.
func (r *Relay) String() string {
	return "relay caller " + r.caller.String() + " / agent " + r.agent.String()
}

// Start starts both legs' readers, the ticking and the media timeout
// watch. If a leg fails to start, the relay is closed.
func (r *Relay) Start() error {
	if r.closed.Load() {
		return ErrRelayClosed
	}
	if !r.started.CompareAndSwap(false, true) {
		return ErrRelayStarted
	}
	r.lastTick = r.now()
	r.lastPacket = r.lastTick
	go r.watchTimeouts()
	if r.reactor != nil {
		// Before anything can read or write the legs (the wheel's ticks
		// write through the pipeline).
		if err := errors.Join(r.caller.unpoll(), r.agent.unpoll()); err != nil {
			return errors.Join(err, r.Close())
		}
	}
	callerH, agentH, err := r.chains()
	if err != nil {
		return errors.Join(err, r.Close())
	}
	if r.tick != nil || r.rtcp != nil {
		if r.wheel == nil {
			r.wheel = NewTickWheel(r.interval, r.now)
			r.ownWheel = true
		}
		r.wheel.add(r)
	}
	if r.rtcp != nil {
		r.rtcp.start(r)
	}
	if r.reactor != nil {
		if r.reactorSlots[0], err = r.reactor.attach(r.caller, CallerSide, callerH); err != nil {
			return errors.Join(err, r.Close())
		}
		if r.reactorSlots[1], err = r.reactor.attach(r.agent, AgentSide, agentH); err != nil {
			return errors.Join(err, r.Close())
		}
		return nil
	}
	if err := r.caller.Start(callerH); err != nil {
		return errors.Join(err, r.Close())
	}
	if err := r.agent.Start(agentH); err != nil {
		return errors.Join(err, r.Close())
	}
	return nil
}

// chains assembles, in one place, the way each leg's accepted packets go
// (the leg itself has checked the source, parsed the header and counted
// the packet in its receive statistics):
//
//	caller: RTCP's note of it → under the relay's lock, the caller→agent
//	        handler (the masking path: its stages, its rewriter, its
//	        Sender to the agent leg), then a tick when one is due
//	agent:  RTCP's note of it → written unchanged to the caller leg
//
// With a Reactor the unmasked directions write with a DirectSender (one
// sendto(2), never waiting on a full socket buffer).
func (r *Relay) chains() (callerH, agentH PacketHandler, err error) {
	agentH = &forwarder{to: r.caller}
	if r.reactor != nil {
		if agentH, err = NewDirectSender(r.caller); err != nil {
			return nil, nil, err
		}
		if r.plainForward {
			if r.mask, err = NewDirectSender(r.agent); err != nil {
				return nil, nil, err
			}
		}
	}
	if r.rtcp != nil {
		if r.plainForward {
			r.mask = &noteSent{sent: &r.rtcp.toAgent, next: r.mask}
		}
		agentH = &noteSent{sent: &r.rtcp.toCaller, next: agentH}
	}
	callerH = r.mask
	if r.tick != nil || r.rtcp != nil {
		callerH = (*tickingHandler)(r) // reads r.mask on every packet
	}
	if r.rtcp != nil {
		callerH = &noteReceived{seq: &r.rtcp.callerSeq, next: callerH}
		agentH = &noteReceived{seq: &r.rtcp.agentSeq, next: agentH}
	}
	return callerH, agentH, nil
}

// tickingHandler is the caller leg's handler when the relay has a
// TickHandler: the masking handler, then a tick when one is due, under
// the relay's lock.
type tickingHandler Relay

func (h *tickingHandler) HandleRTP(p *Packet) {
	r := (*Relay)(h)
	r.mu.Lock()
	r.mask.HandleRTP(p)
	r.lastPacket = p.Arrival
	if p.Arrival.Sub(r.lastTick) >= r.interval {
		r.lastTick = p.Arrival
		r.tickLocked(p.Arrival)
	}
	// The next packet takes the lock and reads the tick and packet times
	// again.
	p.Warm.Add(unsafe.Pointer(r), unsafe.Offsetof(r.lastPacket)+unsafe.Sizeof(r.lastPacket))
	r.mu.Unlock()
}

// tickLocked ticks the TickHandler and the RTCP sessions; r.mu is held.
func (r *Relay) tickLocked(now time.Time) {
	r.ticks.Add(1)
	if r.tick != nil {
		r.tick.Tick(now)
	}
	if r.rtcp != nil {
		r.rtcp.tick(now)
	}
}

// tickIfIdle is the wheel's visit at now: it ticks only a relay whose
// caller has sent nothing for an interval. While the caller's packets flow
// they tick the relay themselves, every interval or so (a packet's
// arrival wakes its reader anyway), and a visit would add a second tick as
// often as the first; nor does it wait for a reader busy in the handler.
func (r *Relay) tickIfIdle(now time.Time) {
	if !r.mu.TryLock() {
		return
	}
	if now.Sub(r.lastPacket) >= r.interval && now.Sub(r.lastTick) >= r.interval {
		r.lastTick = now
		r.tickLocked(now)
	}
	r.mu.Unlock()
}

// forwarder writes every packet to a leg unchanged: the agent→caller path,
// and caller→agent when no masking handler is configured.
type forwarder struct{ to *Leg }

// HandleRTP writes p's datagram to the leg's remote. A failed write is
// counted by the leg's send statistics; there is nobody to tell on the
// hot path.
func (f *forwarder) HandleRTP(p *Packet) { _ = f.to.WriteRTP(p.Raw) }

// String names the stage for logs.
func (f *forwarder) String() string { return "forward to " + f.to.String() }

// watchTimeouts waits for either leg's media timeout and reports the
// first one, or for Close.
func (r *Relay) watchTimeouts() {
	defer close(r.watchDone)
	var side Side
	select {
	case <-r.caller.MediaTimeout():
		side = CallerSide
	case <-r.agent.MediaTimeout():
		side = AgentSide
	case <-r.stop:
		return
	}
	r.timedOut.Store(uint32(side))
	close(r.timeout)
}

// MediaTimeout returns a channel that is closed, once, when either leg
// has received no RTP for its media timeout; TimedOut then tells which.
// It is never closed if the relay is closed first.
func (r *Relay) MediaTimeout() <-chan struct{} { return r.timeout }

// TimedOut returns the leg whose media timed out, or NoSide.
func (r *Relay) TimedOut() Side { return Side(r.timedOut.Load()) }

// Ticks returns how many times the TickHandler was ticked.
func (r *Relay) Ticks() uint64 { return r.ticks.Load() }

// RelayStats is a plain copy of a relay's counters.
type RelayStats struct {
	// Caller and Agent are the legs' counters: Caller.Received is the
	// caller's stream, Agent.Sent what the agent was sent, and so on.
	Caller, Agent LegSnapshot
	// Ticks counts the relay's ticks (of its TickHandler and RTCP).
	Ticks uint64
	// CallerRTCP and AgentRTCP are the legs' RTCP sessions' counters and
	// what each peer last reported; zero without RelayConfig.RTCP.
	CallerRTCP, AgentRTCP rtcp.Stats
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	st := RelayStats{Caller: r.caller.Stats(), Agent: r.agent.Stats(), Ticks: r.ticks.Load()}
	if r.rtcp != nil {
		st.CallerRTCP, st.AgentRTCP = r.rtcp.caller.Stats(), r.rtcp.agent.Stats()
	}
	return st
}

// Close stops the ticking, sends the RTCP BYEs (with RelayConfig.RTCP),
// closes both legs (each waits a bounded time for its reader) and ends the
// timeout watch. Only the first call has an
// effect; it returns the legs' close errors.
func (r *Relay) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		if r.wheel != nil {
			r.wheel.remove(r)
			if r.ownWheel {
				r.wheel.Close()
			}
		}
		if r.reactor != nil {
			// Out of the reactor's set before the sockets close.
			r.reactor.detach(r.reactorSlots[0])
			r.reactor.detach(r.reactorSlots[1])
		}
		if r.rtcp != nil && r.started.Load() {
			// The BYEs leave before the legs close their RTCP sockets.
			err = r.rtcp.bye(r.now())
		}
		err = errors.Join(err, r.caller.Close(), r.agent.Close())
		if r.rtcp != nil && r.started.Load() {
			r.rtcp.wait()
		}
		close(r.stop)
		if r.started.Load() {
			<-r.watchDone // returns at once: stop is closed
		}
	})
	return err
}

// TickWheel ticks many relays from one goroutine and one timer: each
// interval it visits every registered relay and ticks those whose caller
// has been silent for an interval. With a thousand calls on two cores
// this is one wake-up per interval for all of them, instead of one timer
// wake-up per call per interval. Safe for concurrent use.
type TickWheel struct {
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	members []*Relay

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewTickWheel starts a wheel that visits its relays every interval (zero
// means DefaultTickInterval), judging time by now (nil means time.Now).
// Close stops it.
func NewTickWheel(interval time.Duration, now func() time.Time) *TickWheel {
	if interval <= 0 {
		interval = DefaultTickInterval
	}
	if now == nil {
		now = time.Now
	}
	w := &TickWheel{interval: interval, now: now, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *TickWheel) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Visit()
		case <-w.stop:
			return
		}
	}
}

// Visit ticks, now, every registered relay that is due. The wheel's own
// goroutine calls it every interval; tests call it directly with a fake
// clock.
func (w *TickWheel) Visit() {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, r := range w.members {
		// A thousand relays' locks and tick times are out of the cache:
		// fetch a few relays ahead of the one visited (see WarmList).
		if j := i + wheelAhead; j < len(w.members) {
			next := w.members[j]
			prefetchLines(uintptr(unsafe.Pointer(next)), (unsafe.Offsetof(next.lastPacket)+unsafe.Sizeof(next.lastPacket)+cacheLine-1)/cacheLine)
		}
		r.tickIfIdle(now)
	}
}

// wheelAhead is how many relays ahead of its visit the wheel prefetches:
// enough for the fetches to land before the visit, which takes a few
// tens of nanoseconds when nothing is due.
const wheelAhead = 8

// Len returns the number of relays the wheel ticks.
func (w *TickWheel) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.members)
}

func (w *TickWheel) add(r *Relay) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r.wheelIndex = len(w.members)
	w.members = append(w.members, r)
}

func (w *TickWheel) remove(r *Relay) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := r.wheelIndex
	if i < 0 || i >= len(w.members) || w.members[i] != r {
		return
	}
	last := len(w.members) - 1
	w.members[i] = w.members[last]
	w.members[i].wheelIndex = i
	w.members[last] = nil
	w.members = w.members[:last]
	r.wheelIndex = -1
}

// Close stops the wheel's goroutine and waits for it. Relays still
// registered are no longer ticked. Only the first call has an effect.
func (w *TickWheel) Close() {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
	})
}
