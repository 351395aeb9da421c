package payment

import (
	"time"
)

// FieldView is a field's progress as the API and the form see it: never
// a digit.
type FieldView struct {
	ID       string    `json:"id"`
	Label    string    `json:"label"`
	Kind     FieldKind `json:"kind"`
	Required bool      `json:"required"`
	Armed    bool      `json:"armed,omitempty"`
	Length   int       `json:"length"`
	Complete bool      `json:"complete,omitempty"`
	Valid    bool      `json:"valid,omitempty"`
	// Brand and MaskedPAN are the card number's, as in events.
	Brand     Brand  `json:"brand,omitzero"`
	MaskedPAN string `json:"masked_pan,omitempty"`
	// Confirm says the field is keyed twice; Confirming that its first
	// entry is in, and ConfirmLength how many digits of the second are.
	Confirm       bool `json:"confirm,omitempty"`
	Confirming    bool `json:"confirming,omitempty"`
	ConfirmLength int  `json:"confirm_length,omitempty"`
}

// View is a payment as the API and the form see it: never a digit.
type View struct {
	ID string `json:"id"`
	// Type is how the card is taken; empty while the payment waits for
	// the form to choose (Types lists the choice).
	Type PaymentType `json:"type,omitempty"`
	// Types are the types to choose from while the payment waits.
	Types []PaymentType `json:"types,omitempty"`
	// Intent is what the payment does with the card: charge (the amount)
	// or tokenize (save the card: its result holds the processor's
	// token, and no amount was taken).
	Intent     Intent     `json:"intent,omitempty"`
	CallID     string     `json:"call_id"`
	ConfigID   string     `json:"config_id"`
	State      State      `json:"state"`
	Reason     string     `json:"reason,omitempty"`
	Attributes Attributes `json:"attributes"`
	// AgentEditable are the attributes the agent's form may change: those
	// the back end did not set, and those the configuration lets the agent
	// change all the same. Nothing is editable once the payment is being
	// processed.
	AgentEditable AttributeSet `json:"agent_editable"`
	Fields        []FieldView  `json:"fields"`
	Created       time.Time    `json:"created"`
	Updated       time.Time    `json:"updated"`
	Deadline      time.Time    `json:"deadline"`
	// Remaining is the time left, in whole seconds, while the payment is
	// open.
	Remaining int64   `json:"remaining_seconds,omitempty"`
	Result    *Result `json:"result,omitempty"`
	// Link is a digital payment's link.
	Link *LinkView `json:"link,omitempty"`
}

// View returns the payment as it stands.
func (p *Payment) View() View {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := View{
		ID: p.id, Type: TypeAgentAssist, Intent: p.attrs.Intent, CallID: p.set.callID, ConfigID: p.cfg.ID, State: p.state, Reason: p.reason,
		Attributes: p.attrs, Created: p.created, Updated: p.updated, Deadline: p.deadline,
		Fields: make([]FieldView, len(p.fields)),
	}
	if p.state.open() {
		v.Remaining = p.remainingEventLocked(p.set.ps.now()).Remaining
		v.AgentEditable = AgentEditable(p.fixed, p.cfg.agentEditable())
	}
	if p.state.Final() || p.state == StateReconciling {
		r := *p.result
		v.Result = &r
	}
	for i, f := range p.fields {
		fv := FieldView{
			ID: f.cfg.ID, Label: f.cfg.label(), Kind: f.cfg.Kind, Required: f.cfg.required(),
			Armed: i == p.armed, Length: p.caps[i].len(), Complete: f.complete, Valid: f.complete && f.valid,
			Confirm: f.cfg.Confirm, Confirming: f.confirming,
		}
		if f.confirming {
			fv.ConfirmLength = p.caps[f.confirm].len()
		}
		if f.cfg.Kind == FieldCardNumber {
			brand, last4 := p.cardLocked()
			fv.Brand = brand
			if last4 != "" {
				fv.MaskedPAN = "•••• " + last4
			}
		}
		v.Fields[i] = fv
	}
	return v
}

// maxProcessorText bounds what is kept of a processor's reference, code
// and message.
const maxProcessorText = 256
