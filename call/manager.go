package call

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/internal/randid"
	"dtmfgw/media"
	"dtmfgw/media/mask"
)

// ErrManagerClosed is returned by NewCall after Close.
var ErrManagerClosed = errors.New("call: manager closed")

// Manager is the process's media registry: it owns the RTP port pool, the
// reactors that read the calls' sockets, the tick wheels that time their
// masking pipelines, and the calls themselves. The SIP layer asks it for
// media (NewCall) and never opens a socket of its own. Safe for
// concurrent use.
type Manager struct {
	cfg       MediaConfig
	now       func() time.Time
	log       *slog.Logger
	check     time.Duration
	onNew     []func(*Call) // WithNewCall
	advertise netip.Addr
	pool      *media.PortPool
	wheels    []*media.TickWheel
	reactors  []*media.Reactor
	nextRx    atomic.Uint64 // round robin over reactors and wheels
	wg        sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	calls   map[string]*Call
	changed chan struct{} // closed and replaced whenever a call ends

	created, ended, failed, exhausted, relaying atomic.Uint64
	endReasons                                  [numEndReasons]atomic.Uint64
	metrics                                     managerMetrics
}

// Option changes how NewManager builds a Manager.
type Option func(*managerOptions)

type managerOptions struct {
	now   func() time.Time
	log   *slog.Logger
	onNew []func(*Call)
	check time.Duration
}

// WithClock makes the Manager, its legs, reactors and tick wheels judge
// time by now instead of time.Now: packet arrival, media timeouts, press
// times, timestamps. Tests use a fake clock.
func WithClock(now func() time.Time) Option {
	return func(o *managerOptions) { o.now = now }
}

// WithLogger sets the logger call ends and media trouble are reported to;
// nil (the default) means slog.Default(). Nothing logged holds a key.
func WithLogger(l *slog.Logger) Option {
	return func(o *managerOptions) { o.log = l }
}

// WithNewCall hands every new call to f, on NewCall's goroutine, once the
// call is registered and before NewCall returns: how the call's presses
// (Call.Presses) reach whoever takes them, such as the payments
// (Payments.TakeCall). f must not block; it may start goroutines. Given
// more than once, every f is called, in order. Without it nothing reads a
// call's presses but the caller of Presses.
func WithNewCall(f func(*Call)) Option {
	return func(o *managerOptions) { o.onNew = append(o.onNew, f) }
}

// WithTimeoutCheck sets how often (wall-clock time) idle legs and reactors
// judge the media timeout by the Manager's clock; zero means
// media.DefaultTimeoutCheck (1 s). Tests with a fake clock make it short.
func WithTimeoutCheck(d time.Duration) Option {
	return func(o *managerOptions) { o.check = d }
}

// NewManager validates cfg, opens nothing but the reactors and the tick
// wheel, and returns a Manager with no calls. Close releases everything.
func NewManager(cfg MediaConfig, opts ...Option) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o managerOptions
	for _, f := range opts {
		f(&o)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.check < 0 {
		return nil, fmt.Errorf("%w: negative timeout check %v", ErrConfig, o.check)
	}
	drain := cfg.PortDrain
	if drain == 0 {
		drain = -1 // media's way of saying none
	}
	pool, err := media.NewPortPool(media.PortPoolConfig{
		BindAddr: cfg.BindAddress.Unmap(),
		Min:      cfg.RTPPorts.Min,
		Max:      cfg.RTPPorts.Max,
		Drain:    drain,
		Now:      o.now,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: rtp_ports: %w", ErrConfig, err)
	}
	m := &Manager{
		cfg:       cfg,
		onNew:     o.onNew,
		now:       o.now,
		log:       o.log,
		check:     o.check,
		advertise: cfg.advertise(),
		pool:      pool,
		calls:     make(map[string]*Call),
		changed:   make(chan struct{}),
		metrics:   newManagerMetrics(),
	}
	n := cfg.Reactors
	if n == 0 && runtime.GOOS == "linux" {
		n = DefaultReactorsPerCPU * runtime.GOMAXPROCS(0)
	}
	for range max(n, 0) {
		r, err := media.NewReactor(media.ReactorConfig{Now: o.now, TimeoutCheck: o.check})
		if err != nil {
			for _, r := range m.reactors {
				r.Close()
			}
			return nil, fmt.Errorf("%w: reactors: %w", ErrConfig, err)
		}
		m.reactors = append(m.reactors, r)
	}
	// A wheel per CPU, each for a share of the calls: one wake-up per
	// interval for many calls instead of a timer per call
	// (media.TickWheel), and no single goroutine or lock that every
	// call's ticks wait on.
	for range runtime.GOMAXPROCS(0) {
		m.wheels = append(m.wheels, media.NewTickWheel(media.DefaultTickInterval, o.now))
	}
	return m, nil
}

// Config returns the configuration the Manager runs with.
func (m *Manager) Config() MediaConfig { return m.cfg }

// Now returns the time by the Manager's clock (see WithClock): the clock
// SIPInfoDigit's arrival times are judged by.
func (m *Manager) Now() time.Time { return m.now() }

// NewCall allocates both legs' ports and returns a call that is not yet
// relaying. If the port range is exhausted, the error wraps
// media.ErrPortsExhausted: the SIP layer answers 503 (RFC 3261 §21.5.4).
func (m *Manager) NewCall(corr Correlation) (*Call, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrManagerClosed
	}
	c, err := m.newCall(corr)
	if err != nil {
		m.failed.Add(1)
		if errors.Is(err, media.ErrPortsExhausted) {
			m.exhausted.Add(1)
		}
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		c.relay.Close()
		return nil, ErrManagerClosed
	}
	m.calls[c.id] = c
	m.wg.Add(1)
	m.mu.Unlock()
	m.created.Add(1)
	go c.run()
	for _, f := range m.onNew {
		f(c)
	}
	m.log.Debug("call created", "call", c.id, "inbound_call_id", corr.InboundCallID)
	return c, nil
}

func (m *Manager) newCall(corr Correlation) (*Call, error) {
	legCfg := media.LegConfig{Pool: m.pool, NATLatch: m.cfg.NATLatch, TimeoutCheck: m.check, Now: m.now}
	caller, err := media.NewLeg(legCfg)
	if err != nil {
		return nil, fmt.Errorf("call: caller leg ports: %w", err)
	}
	agent, err := media.NewLeg(legCfg)
	if err != nil {
		caller.Close()
		return nil, fmt.Errorf("call: agent leg ports: %w", err)
	}
	c := &Call{
		id:      randid.New(16),
		m:       m,
		caller:  caller,
		agent:   agent,
		presses: mask.NewJoiner(m.cfg.DigitQueue),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		corr:    corr,
	}
	c.times.Created = m.now()
	// The pipelines write with one sendto(2) each, failing rather than
	// waiting on a full socket buffer.
	var out media.Sender = media.LegSender{Leg: agent}
	if ds, err := media.NewDirectSender(agent); err == nil {
		out = ds
	}
	c.presses.OnMediaPress(m.noteDetect)
	c.path = mask.NewPath(out, c.presses)
	next := m.nextRx.Add(1) - 1
	rc := media.RelayConfig{Caller: caller, Agent: agent, CallerToAgent: c.path, Tick: c.path,
		Wheel: m.wheels[next%uint64(len(m.wheels))], Now: m.now}
	if len(m.reactors) > 0 {
		rc.Reactor = m.reactors[next%uint64(len(m.reactors))]
	}
	if c.relay, err = media.NewRelay(rc); err != nil {
		caller.Close()
		agent.Close()
		return nil, fmt.Errorf("call: relay: %w", err)
	}
	return c, nil
}

// mediaAddr is the address for SDP of a leg: the advertised address and
// the leg's RTP port.
func (m *Manager) mediaAddr(l *media.Leg) netip.AddrPort {
	return netip.AddrPortFrom(m.advertise, l.LocalAddr().Port())
}

// remove takes an ended call out of the registry. The call's end is
// counted before WaitIdle is woken, so that a drain (or a test) reading
// Stats once WaitIdle returns sees every call's end.
func (m *Manager) remove(c *Call, reason EndReason, started time.Time, final Stats, answered bool) {
	m.mu.Lock()
	delete(m.calls, c.id)
	m.noteEndLocked(final, Termination{Answered: answered, Reason: reason})
	m.ended.Add(1)
	m.endReasons[reason].Add(1)
	if !started.IsZero() {
		m.relaying.Add(^uint64(0))
	}
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Get returns the live call with id.
func (m *Manager) Get(id string) (*Call, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.calls[id]
	return c, ok
}

// ListFilter selects calls for List. An empty field matches every call.
type ListFilter struct {
	// AgentID and PrimaryCallID match the Correlation's fields exactly.
	AgentID, PrimaryCallID string
	// CallID matches the inbound or the outbound Call-ID.
	CallID string
}

func (f ListFilter) match(c Correlation) bool {
	return (f.AgentID == "" || f.AgentID == c.AgentID) &&
		(f.PrimaryCallID == "" || f.PrimaryCallID == c.PrimaryCallID) &&
		(f.CallID == "" || f.CallID == c.InboundCallID || f.CallID == c.OutboundCallID)
}

// List returns the live calls that match f, oldest first.
func (m *Manager) List(f ListFilter) []*Call {
	m.mu.Lock()
	all := make([]*Call, 0, len(m.calls))
	for _, c := range m.calls {
		all = append(all, c)
	}
	m.mu.Unlock()
	out := all[:0]
	for _, c := range all {
		if f.match(c.Correlation()) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Call) int {
		if n := a.Times().Created.Compare(b.Times().Created); n != 0 {
			return n
		}
		return cmp.Compare(a.id, b.id)
	})
	return out
}

// Len returns the number of live calls.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

// WaitIdle returns when no call is live, or with ctx's error when ctx ends
// first: a graceful drain stops taking calls (the SIP layer answers 503)
// and waits here, bounded by its drain timeout.
func (m *Manager) WaitIdle(ctx context.Context) error {
	for {
		m.mu.Lock()
		n, changed := len(m.calls), m.changed
		m.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ManagerStats are the Manager's counters, for metrics and drain.
type ManagerStats struct {
	// Active counts live calls, Relaying those of them whose media has
	// started.
	Active, Relaying int
	// Created and Ended count calls since start; Failed counts NewCall
	// errors, PortsExhausted those of them for want of ports.
	Created, Ended, Failed, PortsExhausted uint64
	// Ends counts ended calls by reason (only reasons that occurred).
	Ends map[EndReason]uint64
	// PortPairs is the size of the port range in RTP/RTCP pairs,
	// PortPairsInUse those held by live calls (draining ones are not).
	PortPairs, PortPairsInUse int
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() ManagerStats {
	s := ManagerStats{
		Active:         m.Len(),
		Relaying:       int(m.relaying.Load()),
		Created:        m.created.Load(),
		Ended:          m.ended.Load(),
		Failed:         m.failed.Load(),
		PortsExhausted: m.exhausted.Load(),
		Ends:           make(map[EndReason]uint64),
		PortPairs:      m.pool.Size(),
		PortPairsInUse: m.pool.InUse(),
	}
	for r := range m.endReasons {
		if n := m.endReasons[r].Load(); n > 0 {
			s.Ends[EndReason(r)] = n
		}
	}
	return s
}

// Close ends every live call with EndShutdown, waits for their media to be
// released, and stops the reactors and the tick wheels. NewCall fails
// afterwards. Only the first call has an effect.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	calls := make([]*Call, 0, len(m.calls))
	for _, c := range m.calls {
		calls = append(calls, c)
	}
	m.mu.Unlock()
	for _, c := range calls {
		c.End(EndShutdown)
	}
	m.wg.Wait() // each call's goroutine ends once its call has
	for _, w := range m.wheels {
		w.Close()
	}
	var err error
	for _, r := range m.reactors {
		err = errors.Join(err, r.Close())
	}
	return err
}
