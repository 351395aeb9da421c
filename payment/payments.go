package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/internal/randid"
	"dtmfgw/processor"
)

// Defaults of Payments.
const (
	// DefaultProcessTimeout bounds a processor call. Past it the charge's
	// outcome is unknown and the payment is reconciled.
	DefaultProcessTimeout = 30 * time.Second
	// DefaultRemainingEvery is how often an open payment reports the time
	// left (EventRemaining); the form counts down in between.
	DefaultRemainingEvery = 10 * time.Second
	// DefaultSecureCheck is how often an open payment looks at its call's
	// secure status, besides UpdateSecure.
	DefaultSecureCheck = time.Second
	// storeTimeout bounds one write to the Store.
	storeTimeout = 5 * time.Second
)

// Call is what a payment needs of its call; *call.Call has it all.
type Call interface {
	// ID is the call's id.
	ID() string
	// Correlation gives the call's direction and identifiers for records
	// and the agent state.
	Correlation() call.Correlation
	// Secure says whether a key pressed now is masked toward the agent.
	Secure() bool
	// SetSecureMode turns the call's "secure-only" masking on while a
	// payment is open.
	SetSecureMode(on bool)
}

// A call's media is what its payments watch and switch.
var _ Call = (*call.Call)(nil)

// Option changes how NewPayments builds Payments.
type Option func(*Payments)

// WithClock makes payments tell time by now instead of time.Now:
// events' and records' stamps, card expiry dates, the session deadline and
// the time left. The timers that wake a payment (session timeout, time
// left) wait the durations now gives on the time package's timers, which
// testing/synctest fakes, so a test drives them in a bubble.
func WithClock(now func() time.Time) Option {
	return func(ps *Payments) { ps.now = now }
}

// WithLogger sets the logger (nil: slog.Default()). Nothing logged
// holds a digit.
func WithLogger(l *slog.Logger) Option {
	return func(ps *Payments) { ps.log = l }
}

// WithProcessors gives the processors configurations name (by their
// Name, as processor.NewAll builds them). Every configuration's processor
// must be among them.
func WithProcessors(procs ...processor.Processor) Option {
	return func(ps *Payments) {
		for _, p := range procs {
			if p != nil {
				ps.procs[p.Name()] = p
			}
		}
	}
}

// WithStore records payments durably (nil: nowhere).
func WithStore(s Store) Option {
	return func(ps *Payments) { ps.store = s }
}

// WithProcessTimeout bounds each processor call (0: DefaultProcessTimeout),
// besides the processor's own timeout.
func WithProcessTimeout(d time.Duration) Option {
	return func(ps *Payments) { ps.processTimeout = d }
}

// WithRemainingEvery sets how often open payments report the time left
// (0: DefaultRemainingEvery).
func WithRemainingEvery(d time.Duration) Option {
	return func(ps *Payments) { ps.remainingEvery = d }
}

// EventHook receives every payment event of every call, with the id of
// the payment's configuration: how webhooks (package webhook) learn of a
// payment's progress without a subscription per call. It sees a call's
// events in Seq order. It runs on the publisher's goroutine, under the
// payment's and the call's event bus's locks, after the call's
// subscribers have been handed the event: it must return at once, and
// must not call into this package (hand the event to a channel). An event
// published after its call ended (a reconciled result) has Seq 0.
type EventHook func(configID string, e Event)

// WithEventHook calls h with every payment event (nil: none). Events of a
// call with no payment (the secure status before the first) are not
// passed.
func WithEventHook(h EventHook) Option {
	return func(ps *Payments) { ps.hook = h }
}

// Payments is the process's payment desk: the configurations, the
// processors and the store, and the payments of every live call. The API
// creates payments through the call's Set (ForCall) and finds them
// by id (Payment). Safe for concurrent use.
type Payments struct {
	// configs is swapped whole by SetConfigs: a payment copies its
	// configuration when it is created, so running ones keep theirs.
	configs        atomic.Pointer[[]Config]
	procs          map[string]processor.Processor
	store          Store
	now            func() time.Time
	log            *slog.Logger
	processTimeout time.Duration
	remainingEvery time.Duration
	tickEvery      time.Duration
	newID          func() string // randomID; tests make ids predictable
	hook           EventHook
	metrics        paymentsMetrics
	links          *links // digital payments (WithDigital); nil: none

	// createMu serialises the creation of payments and the choice of a
	// waiting payment's configuration: they are rare, and it makes "one
	// payment in progress per call" hold across the two kinds.
	createMu sync.Mutex

	mu       sync.Mutex
	sets     map[string]*Set     // by call id
	payments map[string]*Payment // by payment id: live calls' and unsettled ones
	waiting  map[string]*waiting // by payment id: those with no configuration yet
}

// NewPayments validates cfg and checks that every configuration's
// processor is given (WithProcessors).
func NewPayments(cfg Settings, opts ...Option) (*Payments, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ps := &Payments{
		newID:    randomID,
		procs:    make(map[string]processor.Processor),
		sets:     make(map[string]*Set),
		payments: make(map[string]*Payment),
		waiting:  make(map[string]*waiting),
	}
	for _, o := range opts {
		o(ps)
	}
	if ps.now == nil {
		ps.now = time.Now
	}
	if ps.log == nil {
		ps.log = slog.Default()
	}
	if ps.processTimeout <= 0 {
		ps.processTimeout = DefaultProcessTimeout
	}
	if ps.remainingEvery <= 0 {
		ps.remainingEvery = DefaultRemainingEvery
	}
	ps.tickEvery = min(DefaultSecureCheck, ps.remainingEvery)
	ps.metrics.init(ps.procs)
	if err := ps.SetConfigs(cfg); err != nil {
		return nil, err
	}
	return ps, nil
}

// SetConfigs replaces the configurations (a configuration reload): new
// payments use the new set, payments already created keep the
// configuration they were created with. cfg must pass Validate and name
// only the processors Payments was built with (a new processor needs a
// restart); otherwise nothing changes. Safe to call at any time.
func (ps *Payments) SetConfigs(cfg Settings) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	configs := slices.Clone(cfg.Configurations)
	for i, c := range configs {
		if ps.procs[c.Processor] == nil {
			return fmt.Errorf("%w: payments.configurations[%d].processor: no processor named %q", ErrConfig, i, c.Processor)
		}
	}
	ps.configs.Store(&configs)
	return nil
}

// Configs returns the configurations.
func (ps *Payments) Configs() []Config { return slices.Clone(*ps.configs.Load()) }

// Config returns the configuration with the id.
func (ps *Payments) Config(id string) (Config, bool) {
	for _, c := range *ps.configs.Load() {
		if c.ID == id {
			return c, true
		}
	}
	return Config{}, false
}

// ForCall returns the call's Set, made at the first call. The
// caller feeds it the call's digits (Consume) and closes it when the call
// ends.
func (ps *Payments) ForCall(c Call) *Set {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s := ps.sets[c.ID()]; s != nil {
		return s
	}
	s := &Set{ps: ps, call: c, callID: c.ID(), bus: NewEventBus(ps.now)}
	ps.sets[s.callID] = s
	return s
}

// TakeCall gives the call a Set that takes its presses until the
// call ends: the set is registered before TakeCall returns, and a
// goroutine of its own feeds it the call's press queue (Consume), closing
// it when the queue closes after the call's end. It is the call.Manager's
// WithNewCall hook.
func (ps *Payments) TakeCall(c *call.Call) {
	go ps.ForCall(c).Consume(c.Presses())
}

// Set returns the Set of a live call, or nil.
func (ps *Payments) Set(callID string) *Set {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.sets[callID]
}

// Payment returns a payment of a live call, or one of an ended call still
// awaiting reconciliation or a record, by id; else nil (its record is in
// the store).
func (ps *Payments) Payment(id string) *Payment {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.payments[id]
}

// Unsettled returns the payments awaiting reconciliation (or a record),
// for a reconciler to call Reconcile on.
func (ps *Payments) Unsettled() []*Payment {
	ps.mu.Lock()
	all := make([]*Payment, 0, len(ps.payments))
	for _, p := range ps.payments {
		all = append(all, p)
	}
	ps.mu.Unlock()
	var out []*Payment
	for _, p := range all {
		if p.unsettled() {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *Payment) int { return a.created.Compare(b.created) })
	return out
}

// forgetIfDone drops a settled payment of an ended call from the index.
// It takes ps.mu under p.mu: ps.mu is never held while taking a payment's.
func (ps *Payments) forgetIfDone(p *Payment) {
	if !p.set.isOpen() && p.State().Final() {
		ps.mu.Lock()
		delete(ps.payments, p.id)
		ps.mu.Unlock()
	}
}

// record writes r to the store, bounded in time and not cancelled with
// ctx: a record half written because an HTTP client went away is worse
// than one a little late.
func (ps *Payments) record(ctx context.Context, r Record) error {
	if ps.store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	return ps.store.RecordPayment(ctx, r)
}

// SetStats are a call's digit counters. They never hold a key.
type SetStats struct {
	// Digits counts key presses handed to HandleDigit; Captured those
	// that went into a field (or cleared or ended one); Dropped those that
	// came with no payment open or no field armed; Ignored those that
	// meant nothing to the armed field (A–D, a key switched off, a digit
	// into a complete field); Lost the presses the call's press queue lost
	// (gaps in dtmf.Press.Number).
	Digits, Captured, Dropped, Ignored, Lost uint64
}

// Set is one call's payments: several in turn, one open at a time.
// The call's digits come in through HandleDigit (or Consume) and go to the
// open payment's armed field only. Its EventBus carries the progress of
// every payment of the call. Safe for concurrent use.
type Set struct {
	ps     *Payments
	call   Call
	callID string
	bus    *EventBus

	// closed is set once by Close; atomic so that a payment, under its
	// own lock, can read it without taking mu (the order is mu, then a
	// payment's lock, never the reverse).
	closed atomic.Bool

	mu         sync.Mutex
	payments   []*Payment
	active     *Payment
	lastNumber uint64
	digital    string // the call's digital payment whose link is open
	secure     bool
	secureSent bool
	stats      SetStats
}

// CallID returns the call's id.
func (s *Set) CallID() string { return s.callID }

// Events returns the bus of the call's payment events.
func (s *Set) Events() *EventBus { return s.bus }

func (s *Set) isOpen() bool { return !s.closed.Load() }

// New starts a payment of configuration configID with attrs prefilled
// (a zero Currency takes the configuration's). It fails while another
// payment of the call is open or processing. The session timeout runs
// from now; the agent arms a field to start collecting.
func (s *Set) New(configID string, attrs Attributes) (*Payment, error) {
	return s.NewWithID("", configID, attrs)
}

// NewWithID is New with the payment's id chosen by the caller (empty: a
// random one): the API hands out a payment's id, and its form token,
// before the agent has picked the configuration. The id must be URL-safe
// and not taken (ErrInProgress otherwise: it names a payment that is
// there already).
func (s *Set) NewWithID(id, configID string, attrs Attributes) (*Payment, error) {
	return s.NewWithFixed(id, configID, attrs, 0)
}

// NewWithFixed is NewWithID with the attributes the back end set (fixed):
// the agent may change those only where the configuration's AgentEditable
// lists them. The API passes its prefill's (Attributes.Given), or, for
// the payment that follows a finished one, what the back end had set of
// the finished one's.
func (s *Set) NewWithFixed(id, configID string, attrs Attributes, fixed AttributeSet) (*Payment, error) {
	return s.newPayment(id, configID, attrs, fixed, false)
}

// newPayment is NewWithFixed; stored says the payment's record exists
// already (it waited for its configuration), so that its first record
// updates it, configuration chosen, instead of making one.
func (s *Set) newPayment(id, configID string, attrs Attributes, fixed AttributeSet, stored bool) (*Payment, error) {
	if !validPaymentID(id) {
		return nil, errors.New("payment: payment id: 1-64 characters of A-Z a-z 0-9 _ - wanted")
	}
	cfg, ok := s.ps.Config(configID)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoConfig, clip([]byte(configID), maxIDLen))
	}
	if attrs.Currency == "" {
		attrs.Currency = cfg.Currency
	}
	if attrs.Intent == "" {
		attrs.Intent = cfg.Intent.orCharge()
	}
	if err := attrs.validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	switch {
	case s.closed.Load():
		s.mu.Unlock()
		return nil, ErrSetClosed
	case s.active != nil && s.active.State().blocking(), s.digital != "":
		s.mu.Unlock()
		return nil, ErrInProgress
	}
	if id == "" {
		id = s.ps.newID()
	} else if s.ps.Payment(id) != nil {
		s.mu.Unlock()
		return nil, ErrInProgress
	}
	now := s.ps.now()
	p := &Payment{
		id:      id,
		key:     "dtmfgw-" + id,
		cfg:     cfg,
		set:     s,
		proc:    s.ps.procs[cfg.Processor],
		created: now,
		attrs:   attrs,
		fixed:   fixed,
		armed:   -1,
		fields:  make([]fieldState, len(cfg.Fields)),
		state:   StateCreated,
		updated: now,
	}
	p.stateA.Store(uint32(StateCreated))
	// A field keyed twice has a second buffer for its second entry,
	// after the fields' own.
	caps := make([]int, len(cfg.Fields), 2*len(cfg.Fields))
	for i, f := range cfg.Fields {
		p.fields[i].cfg, p.fields[i].confirm = f, -1
		caps[i] = f.capacity()
		if f.Confirm {
			p.fields[i].confirm = len(caps)
			caps = append(caps, f.capacity())
		}
	}
	p.caps = newCaptures(caps)
	timeout := cfg.sessionTimeout()
	p.deadline = now.Add(timeout)

	s.ps.mu.Lock()
	s.ps.payments[id] = p
	s.ps.mu.Unlock()
	s.payments = append(s.payments, p)
	s.active = p
	s.secureSent = false // the new payment's form gets the status at once

	// The payment's lock is taken before the set's is let go, so nothing
	// reaches the payment before it is announced; the record is written
	// without holding up the set's digits.
	p.mu.Lock()
	defer p.mu.Unlock()
	s.mu.Unlock()
	rec := p.recordLocked()
	rec.Actor, rec.Action = ActorAgent, "payment.created"
	if stored {
		p.recorded, rec.Action = StateCreated, "payment.configured"
	}
	if err := p.writeLocked(context.Background(), rec); err != nil {
		s.ps.log.Warn("payment creation not recorded", "payment", id, "err", err)
	}
	s.call.SetSecureMode(true)
	p.setStateLocked(StateCreated, "")
	p.publishLocked(Event{Type: EventAgentState, AgentState: AgentBusyPaymentIVR})
	p.startTimersLocked()
	s.ps.log.Info("payment created", "payment", id, "call", s.callID, "config", cfg.ID)
	return p, nil
}

// Active returns the call's latest payment, open or not, or nil.
func (s *Set) Active() *Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Payments returns the call's payments, oldest first.
func (s *Set) Payments() []*Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.payments)
}

// Payment returns the call's payment with the id, or nil.
func (s *Set) Payment(id string) *Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.payments {
		if p.id == id {
			return p
		}
	}
	return nil
}

// HandleDigit is the one way a key press reaches a payment: from the
// call's press queue (call.Call.Presses), where RFC 4733, in-band and SIP INFO
// presses are already one dtmf.Press per press. It goes to the open payment's
// armed field, or nowhere. It never blocks on a subscriber.
func (s *Set) HandleDigit(d dtmf.Press) {
	s.mu.Lock()
	s.stats.Digits++
	lost := false
	if d.Number > 0 {
		if s.lastNumber > 0 && d.Number > s.lastNumber+1 {
			s.stats.Lost += d.Number - s.lastNumber - 1
			lost = true
		}
		s.lastNumber = max(s.lastNumber, d.Number)
	}
	p := s.active
	s.mu.Unlock()

	out := digitDropped
	if p != nil {
		out = p.handleDigit(d, lost)
	}
	if out == digitCaptured && !d.Decided.IsZero() {
		// The progress event (a new length, a cleared or completed field)
		// was published in handleDigit.
		s.ps.metrics.pressEvent.Observe(s.ps.now().Sub(d.Decided))
	}
	s.mu.Lock()
	switch out {
	case digitCaptured:
		s.stats.Captured++
	case digitIgnored:
		s.stats.Ignored++
	default:
		s.stats.Dropped++
	}
	s.mu.Unlock()
}

// Consume feeds the call's digits to HandleDigit until the channel is
// closed (the call ended), then closes the set. Run it on a goroutine of
// its own per call.
func (s *Set) Consume(digits <-chan dtmf.Press) {
	for d := range digits {
		s.HandleDigit(d)
	}
	s.Close(ReasonCallEnded)
}

// UpdateSecure looks at the call's secure status now and reports a change
// (EventSecure). The SIP layer calls it when the media change (re-INVITE,
// hold, the call's end); open payments also look every second.
func (s *Set) UpdateSecure() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return
	}
	secure := s.call.Secure()
	if s.secureSent && secure == s.secure {
		return
	}
	s.secure, s.secureSent = secure, true
	e := Event{Type: EventSecure, CallID: s.callID, Secure: secure}
	if s.active != nil {
		e.PaymentID = s.active.id
	}
	if s.active != nil {
		s.bus.publishFor(s.ps.hook, s.active.cfg.ID, e)
		return
	}
	s.bus.publish(e)
}

// Stats returns the call's digit counters.
func (s *Set) Stats() SetStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close ends the call's payments: an open one is cancelled with reason
// (its digits zeroed); one being processed finishes and is recorded, and
// stays findable by Payments.Payment until it is settled. The event bus is
// closed after the last event. Closing twice does nothing.
func (s *Set) Close(reason string) {
	if reason == "" {
		reason = ReasonCallEnded
	}
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return
	}
	p := s.active
	payments := slices.Clone(s.payments)
	s.mu.Unlock()
	if p != nil {
		p.cancel(reason)
	}
	s.ps.endCallWaiting(s.callID, reason)

	s.ps.mu.Lock()
	if s.ps.sets[s.callID] == s {
		delete(s.ps.sets, s.callID)
	}
	for _, q := range payments {
		if q.State().Final() {
			delete(s.ps.payments, q.id)
		}
	}
	s.ps.mu.Unlock()
	s.bus.Close()
}

// validPaymentID reports whether id is empty (a random one is made) or
// a URL-safe id of at most 64 characters.
func validPaymentID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// randomID returns 128 random bits, URL-safe.
func randomID() string { return randid.New(16) }
