package payment

import (
	"fmt"
	"sync"
	"time"

	"dtmfgw/call"
	"dtmfgw/internal/enumtext"
)

// EventType says what an Event reports.
type EventType uint8

// The event types.
const (
	// EventFieldArmed: Field is now the one digits go to; an empty Field
	// means none is (the form is filled, or the payment left collecting).
	EventFieldArmed EventType = iota + 1
	// EventFieldLength: Field now holds Length digits (0: cleared). For
	// the card number, Brand is the brand told so far.
	EventFieldLength
	// EventFieldComplete: Field is complete, Valid or not; for the card
	// number, Brand, and MaskedPAN when valid. Sent again when a field's
	// validity changes (a security code when the card number's brand
	// does).
	EventFieldComplete
	// EventState: the payment moved to State (Reason says why, where one
	// applies).
	EventState
	// EventRemaining: Remaining is left before the session timeout at
	// Deadline. Sent at the start and every RemainingEvery; the form
	// counts down between.
	EventRemaining
	// EventSecure: Secure says whether a key pressed now is masked toward
	// the agent and heard by us (call.Call.Secure).
	EventSecure
	// EventAgentState: the agent's state in the contact centre's terms
	// (AgentState).
	EventAgentState
	// EventResult: the processor's Result, recorded durably before this
	// event is sent.
	EventResult
	// EventLink: a digital payment's link changed (Link): sent, opened,
	// the caller on the page or gone, an SMS's delivery, a failed attempt.
	EventLink

	numEventTypes
)

var eventTypeText = enumtext.Table[EventType]{What: "payment: event type", Invalid: "invalid", Names: []string{
	EventFieldArmed: "field_armed", EventFieldLength: "field_length", EventFieldComplete: "field_complete",
	EventState: "state", EventRemaining: "remaining", EventSecure: "secure", EventAgentState: "agent_state",
	EventResult: "result", EventLink: "link",
}}

// String returns the type's name as events write it ("field_length").
func (t EventType) String() string { return eventTypeText.String(t) }

// MarshalText writes the type's name.
func (t EventType) MarshalText() ([]byte, error) { return eventTypeText.MarshalText(t) }

// UnmarshalText reads a type's name ("field_length"), as a webhook's
// events list in the configuration file gives it.
func (t *EventType) UnmarshalText(b []byte) error {
	return unmarshalName(eventTypeText, t, b, "event type", "unknown")
}

// AgentState is the agent's state as the contact centre's platform names
// it while a payment runs and after.
type AgentState string

// The agent states: on the payment IVR while a payment is taken, then back
// to the call, with the call's direction.
const (
	AgentBusyPaymentIVR AgentState = "Busy Payment IVR"
	AgentBusyInReturn   AgentState = "Busy In Return"
	AgentBusyOutReturn  AgentState = "Busy Out Return"
)

// returnState is the agent state back on a call of direction d.
func returnState(d call.Direction) AgentState {
	if d == call.Outbound {
		return AgentBusyOutReturn
	}
	return AgentBusyInReturn
}

// Event is one step of a payment's progress, for the agent form (SSE),
// webhooks and the audit trail. It holds no digit: lengths, validity, a
// brand, and the last four digits of a valid card number only, as
// "•••• 4242". A field that does not apply to the Type is left zero and
// omitted from the JSON (an absent bool is false).
type Event struct {
	// Seq numbers the call's events from 1, with no gaps: a subscriber
	// that sees a gap was dropped (EventBus) and should resubscribe from
	// its last Seq.
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Type      EventType `json:"type"`
	CallID    string    `json:"call_id,omitempty"`
	PaymentID string    `json:"payment_id,omitempty"`

	// Field is the id of the field the event is about.
	Field string `json:"field,omitempty"`
	// Length is how many digits the field holds; with Confirming, how
	// many of its second entry are keyed.
	Length int `json:"length,omitempty"`
	// Confirming: the field is keyed twice (its configuration's confirm)
	// and its first entry is in; the caller keys it again. Mismatch: the
	// second entry differed from the first, and the field was cleared.
	Confirming bool `json:"confirming,omitempty"`
	Mismatch   bool `json:"mismatch,omitempty"`
	// PressAt is, on a field_length event that a key press caused, when
	// that press's first packet arrived (dtmf.Press.FirstSeen, by the call.Manager's
	// clock): a time, not card data. The agent form puts it on the dot it
	// draws, so the key press to dot latency can be measured
	// in a browser. Zero on a clear.
	PressAt time.Time `json:"press_at,omitzero"`
	// Complete and Valid: the field is complete; it is valid (only
	// meaningful when complete).
	Complete bool `json:"complete,omitempty"`
	Valid    bool `json:"valid,omitempty"`
	// Brand is the card number's brand, once told.
	Brand Brand `json:"brand,omitzero"`
	// MaskedPAN is "•••• " and the last four digits of a complete, valid
	// card number.
	MaskedPAN string `json:"masked_pan,omitempty"`

	// State is the payment's state, on EventState and EventResult; Reason
	// says why it ended, where no processor result does.
	State  State  `json:"state,omitzero"`
	Reason string `json:"reason,omitempty"`

	// Deadline is when the session timeout ends the payment; Remaining is
	// what is left, in whole seconds.
	Deadline  time.Time `json:"deadline,omitzero"`
	Remaining int64     `json:"remaining_seconds,omitempty"`

	// Secure is the call's secure status on EventSecure.
	Secure bool `json:"secure,omitempty"`
	// AgentState is the agent's state on EventAgentState.
	AgentState AgentState `json:"agent_state,omitempty"`
	// Result is the outcome on EventResult.
	Result *Result `json:"result,omitempty"`
	// Link is a digital payment's link as it stands (EventLink).
	Link *LinkView `json:"link,omitempty"`

	// Kind, Missing and BrandRefused describe a field event of a payment
	// taken on the call (field_armed naming a field, field_length,
	// field_complete) for the event hook, where a webhook in another
	// vocabulary needs them (the compatible format names captures by
	// kind, lists the required ones left, and tells a refused brand from a
	// mistyped number). They are never marshalled ("-"), so that the SSE
	// stream, the JSON webhooks and the cluster's event log stay as they
	// are; a digital payment's events leave them zero.
	//
	// Kind is the field's kind. Missing holds the ids of the required
	// fields not complete and valid, in the configuration's order (empty
	// when none is left). BrandRefused says, on an invalid field_complete
	// of the card number, that the number itself is well formed (length,
	// Luhn) but its brand is not one the configuration accepts.
	Kind         FieldKind `json:"-"`
	Missing      []string  `json:"-"`
	BrandRefused bool      `json:"-"`
}

// describeFieldLocked fills e's Kind, Missing and BrandRefused when e is
// about one of the payment's fields; it reads the fields' states and
// judges the card number's digits without copying one. Called under p.mu.
func (p *Payment) describeFieldLocked(e *Event) {
	switch e.Type {
	case EventFieldArmed, EventFieldLength, EventFieldComplete:
	default:
		return
	}
	i := p.cfg.field(e.Field)
	if i < 0 {
		return
	}
	f := &p.fields[i]
	e.Kind = f.cfg.Kind
	e.Missing = []string{}
	for _, g := range p.fields {
		if g.cfg.required() && !(g.complete && g.valid) {
			e.Missing = append(e.Missing, g.cfg.ID)
		}
	}
	if e.Type == EventFieldComplete && !e.Valid && f.cfg.Kind == FieldCardNumber && !f.lost {
		// Valid against every brand, yet not valid: the brand is refused.
		_, wellFormed := ValidPAN(p.caps[i].bytes(), nil)
		e.BrandRefused = wellFormed
	}
}

// Result is a payment's outcome as the API, the form and webhooks see it.
type Result struct {
	State State `json:"state"`
	// ProcessorReference is the processor's id of the charge.
	ProcessorReference string `json:"processor_reference,omitempty"`
	// DeclineCode and Message are the processor's (Message with any run
	// of six or more digits masked).
	DeclineCode string `json:"decline_code,omitempty"`
	Message     string `json:"message,omitempty"`
	// Reason says why a payment ended without a processor's answer, or
	// that it awaits reconciliation.
	Reason    string `json:"reason,omitempty"`
	Brand     Brand  `json:"brand,omitzero"`
	Last4     string `json:"last4,omitempty"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Reference string `json:"reference,omitempty"`
	// Token is, for a card saved (IntentTokenize) and approved, the
	// processor's reusable token of the card: an id, not card data.
	Token string `json:"token,omitempty"`
}

// Defaults and limits of subscriptions.
const (
	// DefaultSubscriberBuffer is a subscription's buffer when Subscribe is
	// given none: a whole payment's events, far more than a subscriber
	// that keeps up ever holds.
	DefaultSubscriberBuffer = 256
	// MaxSubscriberBuffer bounds a subscription's buffer.
	MaxSubscriberBuffer = 4096
	// replayLen is how many recent events a bus keeps for subscribers
	// that resume after a Seq (SSE's Last-Event-ID).
	replayLen = 256
	// maxSubscribers bounds the subscribers of one bus: a few agent
	// forms, the API's webhooks and audit, not thousands.
	maxSubscribers = 64
)

// BusStats are an EventBus's counters.
type BusStats struct {
	// Published counts events sent, Subscribers the current subscribers,
	// Dropped the subscribers dropped for a full buffer.
	Published, Dropped uint64
	Subscribers        int
}

// EventBus fans one call's events out to its subscribers without ever
// waiting for one: each has a buffer of its own, and a subscriber whose
// buffer is full when an event comes is dropped (its channel closed) and
// counted, so a slow SSE client never holds up a key press. A dropped
// subscriber resumes with SubscribeAfter from the last Seq it saw. Safe
// for concurrent use.
type EventBus struct {
	now func() time.Time

	mu     sync.Mutex
	seq    uint64
	subs   []*Subscription
	ring   [replayLen]Event // ring[seq%replayLen]
	stats  BusStats
	closed bool
}

// NewEventBus returns a bus that stamps events with now (nil: time.Now).
func NewEventBus(now func() time.Time) *EventBus {
	if now == nil {
		now = time.Now
	}
	return &EventBus{now: now}
}

// Subscription is one subscriber's feed of events.
type Subscription struct {
	bus     *EventBus
	ch      chan Event
	dropped bool // under bus.mu
	gone    bool // closed: by Close, drop or the bus's end; under bus.mu
}

// C returns the subscriber's events, in Seq order. It is closed when the
// subscription ends: by Close, by the bus's Close, or because the
// subscriber fell behind (Dropped).
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped reports whether the subscription was ended because its buffer
// was full.
func (s *Subscription) Dropped() bool {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.dropped
}

// Close ends the subscription; C is closed. Closing twice does nothing.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeLocked(s)
}

// ErrBusFull is returned by Subscribe when the bus has maxSubscribers.
var ErrBusFull = fmt.Errorf("payment: too many event subscribers (at most %d)", maxSubscribers)

// Subscribe starts a subscription to events from now on, with a buffer of
// buffer events (0: DefaultSubscriberBuffer; at most
// MaxSubscriberBuffer).
func (b *EventBus) Subscribe(buffer int) (*Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subscribeLocked(buffer)
}

// SubscribeAfter starts a subscription with the events after Seq after
// that the bus still holds (the last 256), then those to come: how an SSE
// client resumes from its Last-Event-ID. complete is false when some of
// those events are no longer held, or do not fit the buffer: the
// subscriber has missed some and should read the payment's state afresh.
func (b *EventBus) SubscribeAfter(after uint64, buffer int) (s *Subscription, complete bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if after > b.seq {
		after = b.seq
	}
	s, err = b.subscribeLocked(buffer)
	if err != nil {
		return nil, false, err
	}
	first := after + 1
	complete = true
	if b.seq >= replayLen && first <= b.seq-replayLen {
		first, complete = b.seq-replayLen+1, false
	}
	for q := first; q <= b.seq; q++ {
		select {
		case s.ch <- b.ring[q%replayLen]:
		default:
			complete = false
		}
	}
	return s, complete, nil
}

func (b *EventBus) subscribeLocked(buffer int) (*Subscription, error) {
	if buffer <= 0 {
		buffer = DefaultSubscriberBuffer
	}
	buffer = min(buffer, MaxSubscriberBuffer)
	s := &Subscription{bus: b, ch: make(chan Event, buffer)}
	if b.closed {
		s.gone = true
		close(s.ch)
		return s, nil
	}
	if len(b.subs) >= maxSubscribers {
		return nil, ErrBusFull
	}
	b.subs = append(b.subs, s)
	b.stats.Subscribers = len(b.subs)
	return s, nil
}

func (b *EventBus) removeLocked(s *Subscription) {
	if s.gone {
		return
	}
	s.gone = true
	close(s.ch)
	for i, x := range b.subs {
		if x == s {
			b.subs = append(b.subs[:i], b.subs[i+1:]...)
			break
		}
	}
	b.stats.Subscribers = len(b.subs)
}

// publish numbers and stamps e (At, if zero) and hands it to every
// subscriber that has room, dropping those that have none. It never
// blocks. It returns the event as sent.
func (b *EventBus) publish(e Event) Event { return b.publishFor(nil, "", e) }

// publishFor is publish, and then, still under the bus's lock so that
// the hook sees the events in Seq order, hook(configID, e) if hook is not
// nil: even on a closed bus, where e goes to no subscriber and has Seq 0.
func (b *EventBus) publishFor(hook EventHook, configID string, e Event) Event {
	if e.At.IsZero() {
		e.At = b.now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if hook != nil {
		defer func() { hook(configID, e) }()
	}
	if b.closed {
		return e
	}
	b.seq++
	e.Seq = b.seq
	b.ring[e.Seq%replayLen] = e
	b.stats.Published++
	for i := 0; i < len(b.subs); {
		s := b.subs[i]
		select {
		case s.ch <- e:
			i++
		default:
			s.dropped = true
			b.stats.Dropped++
			b.removeLocked(s) // removes b.subs[i]
		}
	}
	return e
}

// Close ends every subscription (their channels are closed after the
// events already sent) and refuses new events. New subscribers get a
// closed channel at once.
func (b *EventBus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for len(b.subs) > 0 {
		b.removeLocked(b.subs[0])
	}
}

// Stats returns the bus's counters.
func (b *EventBus) Stats() BusStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// LastSeq returns the Seq of the last event sent, 0 before the first.
func (b *EventBus) LastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}
