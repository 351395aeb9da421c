package sms

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// OutboxName is the Outbox's name (Provider.Name, the configuration's
// "provider: outbox").
const OutboxName = "outbox"

// Outbox is the provider that sends nothing: it keeps the last messages
// in memory, text included, where a developer reads the "delivered" SMS
// (through the API) and follows its link. It is the default, so that
// digital payments work offline. Send succeeds for every valid message.
// Safe for concurrent use.
//
// It logs one line per message with the masked number, the payment id
// and the Redacted text: never Body, which only Messages and Message
// return.
type Outbox struct {
	now func() time.Time
	log *slog.Logger

	mu    sync.Mutex
	ring  []OutboxMessage // a ring of cap size: ring[start] is the oldest once full
	start int
	byID  map[string]int // id → index in ring
}

// OutboxMessage is a message the Outbox took. Body is the text as the
// recipient would read it, secret included: hand it only to whoever may
// follow the link (a developer's API call), never to a log.
type OutboxMessage struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Body      string    `json:"body"`
	PaymentID string    `json:"payment_id,omitempty"`
	At        time.Time `json:"at"`
}

// Format prints the message without its Body whatever the verb; JSON
// (the API's rendering) has it.
func (m OutboxMessage) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "sms.OutboxMessage{id=%s to=%s payment_id=%s at=%s body=(%d bytes)}",
		m.ID, maskNumber(m.To), m.PaymentID, m.At.Format(time.RFC3339Nano), len(m.Body))
}

// LogValue is what slog logs of the message: never its Body.
func (m OutboxMessage) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", m.ID), slog.String("to", maskNumber(m.To)),
		slog.String("payment_id", m.PaymentID), slog.Time("at", m.At))
}

// NewOutbox returns an empty Outbox. It takes WithOutboxSize, WithLogger
// and WithClock.
func NewOutbox(opts ...Option) (*Outbox, error) {
	o := buildOptions(opts)
	if o.outboxSize < 1 || o.outboxSize > maxOutboxSize {
		return nil, fmt.Errorf("%w: sms outbox size %d is outside 1..%d", ErrConfig, o.outboxSize, maxOutboxSize)
	}
	return &Outbox{
		now:  o.Now,
		log:  o.Log,
		ring: make([]OutboxMessage, 0, o.outboxSize),
		byID: make(map[string]int),
	}, nil
}

// Name implements Provider: "outbox".
func (b *Outbox) Name() string { return OutboxName }

// Send implements Provider: it keeps m, forgetting the oldest message when
// full, logs it, and answers Status "sent" with m.ID as the ProviderID.
// Only an invalid message is refused (ErrInvalidMessage).
func (b *Outbox) Send(_ context.Context, m Message) (Receipt, error) {
	if err := m.Validate(); err != nil {
		return Receipt{}, err
	}
	om := OutboxMessage{ID: m.ID, To: m.To, Body: m.Body, PaymentID: m.PaymentID, At: b.now()}
	b.mu.Lock()
	if old, ok := b.byID[m.ID]; ok {
		// The same id again (a retry of a message we took): replace it
		// in place rather than keep two.
		b.ring[old] = om
	} else if len(b.ring) < cap(b.ring) {
		b.byID[m.ID] = len(b.ring)
		b.ring = append(b.ring, om)
	} else {
		delete(b.byID, b.ring[b.start].ID)
		b.ring[b.start] = om
		b.byID[m.ID] = b.start
		b.start = (b.start + 1) % len(b.ring)
	}
	b.mu.Unlock()
	b.log.Info("sms to outbox", "message_id", m.ID, "to", m.MaskedTo(), "payment_id", m.PaymentID, "text", m.Redacted)
	return Receipt{ProviderID: m.ID, Status: "sent"}, nil
}

// Messages returns the messages kept, oldest first (newest last).
func (b *Outbox) Messages() []OutboxMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]OutboxMessage, 0, len(b.ring))
	out = append(out, b.ring[b.start:]...)
	return append(out, b.ring[:b.start]...)
}

// Message returns the kept message with this id.
func (b *Outbox) Message(id string) (OutboxMessage, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, ok := b.byID[id]
	if !ok {
		return OutboxMessage{}, false
	}
	return b.ring[i], true
}

// Len returns how many messages are kept.
func (b *Outbox) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ring)
}
