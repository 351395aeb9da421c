package webhook

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"dtmfgw/payment"
	"dtmfgw/store"
)

// The event types of a delivery (Body.Type, the Dtmfgw-Event header).
const (
	// EventResult: the payment reached a final state (approved, declined,
	// failed, cancelled, timed out). Enqueued in the transaction that
	// records it: never lost.
	EventResult = "payment.result"
	// EventProgress: a step of an open payment (a field's length, the
	// state, the secure status), for configurations with progress: true.
	// Best-effort.
	EventProgress = "payment.progress"
)

// Body is the JSON document a delivery POSTs in dtmfgw's format (the
// compatible format POSTs form-urlencoded callbacks instead).
type Body struct {
	// ID is the delivery's id, as in the Dtmfgw-Delivery header.
	ID string `json:"id"`
	// Type is EventResult or EventProgress.
	Type string `json:"type"`
	// Created is when the delivery was made (RFC 3339, UTC); a retry
	// keeps it.
	Created time.Time `json:"created"`
	// Data is what happened.
	Data Data `json:"data"`
}

// Data is a delivery's content.
type Data struct {
	// Payment is the payment as recorded (EventResult), or its ids
	// (EventProgress).
	Payment Payment `json:"payment"`
	// Event is the payment event, on EventProgress only: the same
	// document the SSE stream sends.
	Event *payment.Event `json:"event,omitempty"`
}

// Payment is a payment in a webhook: the fields of payment.View
// that the store keeps, and its correlation ids. It never holds a card
// digit beyond the last four of a card number.
type Payment struct {
	ID string `json:"id"`
	// Type is how the card was taken: agent_assist or digital (on
	// EventResult).
	Type string `json:"type,omitempty"`
	// Intent is charge or tokenize (a card saved: no amount taken, the
	// result holds the processor's token), on EventResult.
	Intent   string `json:"intent,omitempty"`
	CallID   string `json:"call_id,omitempty"`
	ConfigID string `json:"config_id"`
	// State is the payment's state ("approved", "timed_out", …); empty
	// on progress (the event says).
	State string `json:"state,omitempty"`
	// PrimaryCallID, AgentID, InboundCallID and OutboundCallID correlate
	// the payment with the contact centre's call and agent.
	PrimaryCallID  string `json:"primary_call_id,omitempty"`
	AgentID        string `json:"agent_id,omitempty"`
	InboundCallID  string `json:"inbound_call_id,omitempty"`
	OutboundCallID string `json:"outbound_call_id,omitempty"`
	// Attributes are the amount (minor units), currency and reference.
	Attributes *Attributes `json:"attributes,omitempty"`
	// Created, Updated and Completed are the record's times.
	Created   time.Time `json:"created,omitzero"`
	Updated   time.Time `json:"updated,omitzero"`
	Completed time.Time `json:"completed,omitzero"`
	// Result is the outcome, on EventResult.
	Result *Result `json:"result,omitempty"`
}

// Attributes are a payment's amount, currency and reference.
type Attributes struct {
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Reference string `json:"reference,omitempty"`
}

// Result is a payment's outcome, as payment.Result writes it.
type Result struct {
	State              string `json:"state"`
	ProcessorReference string `json:"processor_reference,omitempty"`
	DeclineCode        string `json:"decline_code,omitempty"`
	// Reason says why a payment ended without a processor's answer
	// ("agent ended", "session timeout", "call ended", …).
	Reason    string `json:"reason,omitempty"`
	Brand     string `json:"brand,omitempty"`
	Last4     string `json:"last4,omitempty"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Reference string `json:"reference,omitempty"`
	// Token is a card saved's reusable token at the processor (intent
	// tokenize, approved): an id, never card data.
	Token string `json:"token,omitempty"`
}

// resultPayment is the webhook's view of a final payment record; reason
// is the audit detail of the change that ended it.
func resultPayment(p store.Payment, reason string) Payment {
	return Payment{
		ID: p.ID, Type: string(p.Type), Intent: string(p.Intent), CallID: p.CallID, ConfigID: p.ConfigurationID, State: string(p.State),
		PrimaryCallID: p.PrimaryCallID, AgentID: p.AgentID, InboundCallID: p.InboundCallID, OutboundCallID: p.OutboundCallID,
		Attributes: &Attributes{Amount: p.Amount, Currency: p.Currency, Reference: p.Reference},
		Created:    p.CreatedAt, Updated: p.UpdatedAt, Completed: p.CompletedAt,
		Result: &Result{
			State: string(p.State), ProcessorReference: p.ProcessorReference, DeclineCode: p.DeclineCode, Reason: reason,
			Brand: p.Brand, Last4: p.Last4, Amount: p.Amount, Currency: p.Currency, Reference: p.Reference, Token: p.Token,
		},
	}
}

// hooked is a configuration that has a webhook: the webhook, and the
// fields the compatible format names.
type hooked struct {
	hook   payment.WebhookConfig
	fields []payment.FieldConfig
}

// webhooks indexes the configurations that have a webhook.
type webhooks map[string]hooked

func indexWebhooks(configs []payment.Config) webhooks {
	w := make(webhooks)
	for _, c := range configs {
		if c.Webhook.Enabled() {
			w[c.ID] = hooked{c.Webhook, c.Fields}
		}
	}
	return w
}

// Directory is the webhooks of the payment configurations in force: the
// store's outbox function asks it which payments get a delivery, and the
// Dispatcher where each goes and with which secret. SetConfigs replaces
// them (a reload). Safe for concurrent use.
type Directory struct {
	hooks atomic.Pointer[webhooks]
}

// NewDirectory returns the directory of configs' webhooks.
func NewDirectory(configs []payment.Config) *Directory {
	d := &Directory{}
	d.SetConfigs(configs)
	return d
}

// SetConfigs replaces the configurations (validated by the caller, as
// payment.Payments.SetConfigs does). Pending deliveries follow: each
// attempt goes to the URL, signed with the secret, in force when it is
// made; one whose configuration no longer has a webhook is given up.
func (d *Directory) SetConfigs(configs []payment.Config) {
	w := indexWebhooks(configs)
	d.hooks.Store(&w)
}

// Webhook returns the webhook of the configuration id, if it has one.
func (d *Directory) Webhook(configID string) (payment.WebhookConfig, bool) {
	w, ok := (*d.hooks.Load())[configID]
	return w.hook, ok
}

// fieldKind returns the kind of the field fieldID of the configuration
// configID, or 0 if it has none such (or no webhook).
func (d *Directory) fieldKind(configID, fieldID string) payment.FieldKind {
	for _, f := range (*d.hooks.Load())[configID].fields {
		if f.ID == fieldID {
			return f.Kind
		}
	}
	return 0
}

// Outbox is the store's outbox function (store.WithOutbox): a payment
// made final, of a configuration with a webhook, gets its payment.result
// delivery in the same transaction: a JSON Body, or in the compatible
// format the form-urlencoded result callback instead.
func (d *Directory) Outbox(p store.Payment, e store.Entry) ([]store.Delivery, error) {
	hook, ok := d.Webhook(p.ConfigurationID)
	if !ok {
		return nil, nil
	}
	id := store.NewDeliveryID()
	var b []byte
	if hook.Compatible() {
		b = []byte(compatibleResult(p, e.Detail, savedCardToken(p)).Encode())
	} else {
		var err error
		b, err = json.Marshal(Body{ID: id, Type: EventResult, Created: p.UpdatedAt,
			Data: Data{Payment: resultPayment(p, e.Detail)}})
		if err != nil {
			return nil, fmt.Errorf("webhook: result body: %w", err)
		}
	}
	return []store.Delivery{{ID: id, PaymentID: p.ID, ConfigurationID: p.ConfigurationID, Event: EventResult, Body: b}}, nil
}

// Outbox returns the outbox function of a Directory of configs that never
// changes.
func Outbox(configs []payment.Config) store.OutboxFunc { return NewDirectory(configs).Outbox }
