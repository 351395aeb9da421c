package payment

import (
	"encoding/json"
	"errors"
	"fmt"

	"dtmfgw/processor"
)

// Attribute names one of a payment's Attributes as the configuration
// file and the API write it.
type Attribute string

// The attributes.
const (
	AttrAmount         Attribute = "amount"
	AttrCurrency       Attribute = "currency"
	AttrReference      Attribute = "reference"
	AttrCardholderName Attribute = "cardholder_name"
)

// allAttributes are the attributes in the order AttributeSet lists them.
var allAttributes = [...]Attribute{AttrAmount, AttrCurrency, AttrReference, AttrCardholderName}

// index returns the attribute's bit in an AttributeSet, or -1.
func (a Attribute) index() int {
	for i, x := range allAttributes {
		if x == a {
			return i
		}
	}
	return -1
}

// AttributeSet is a set of Attributes. Its JSON is the list of their
// names, in a fixed order ([] when empty).
type AttributeSet uint8

// AttributeSetOf returns the set of the attributes given (unknown names
// are left out).
func AttributeSetOf(as ...Attribute) AttributeSet {
	var s AttributeSet
	for _, a := range as {
		if i := a.index(); i >= 0 {
			s |= 1 << i
		}
	}
	return s
}

// Has reports whether a is in the set.
func (s AttributeSet) Has(a Attribute) bool {
	i := a.index()
	return i >= 0 && s&(1<<i) != 0
}

// List returns the attributes of the set, in a fixed order.
func (s AttributeSet) List() []Attribute {
	out := []Attribute{}
	for i, a := range allAttributes {
		if s&(1<<i) != 0 {
			out = append(out, a)
		}
	}
	return out
}

// MarshalJSON writes the list of names.
func (s AttributeSet) MarshalJSON() ([]byte, error) { return json.Marshal(s.List()) }

// Given returns the attributes that hold a value: a positive amount, a
// non-empty text. A back end's prefill fixes these (NewWithFixed).
func (a Attributes) Given() AttributeSet {
	var s AttributeSet
	if a.Amount > 0 {
		s |= AttributeSetOf(AttrAmount)
	}
	if a.Currency != "" {
		s |= AttributeSetOf(AttrCurrency)
	}
	if a.Reference != "" {
		s |= AttributeSetOf(AttrReference)
	}
	if a.CardholderName != "" {
		s |= AttributeSetOf(AttrCardholderName)
	}
	return s
}

// Editor says who changes a payment's attributes, which decides what it
// may change.
type Editor uint8

// The editors.
const (
	// EditorBackEnd is a back end with an API key (a CRM): it may change
	// every attribute, and a value it gives is fixed for the agent.
	EditorBackEnd Editor = iota + 1
	// EditorAgent is the agent's form, with the payment's form token: it
	// may fill in what the back end left empty, and change what the back
	// end set only where the configuration lists it in AgentEditable.
	EditorAgent
)

// ErrNotEditable is wrapped by the *NotEditableError that refuses the
// agent a change of an attribute the back end set.
var ErrNotEditable = errors.New("payment: attribute not editable by the agent")

// NotEditableError refuses the agent's change of Attribute: the back end
// set it, and the payment's configuration does not list it in
// AgentEditable. Nothing was changed.
type NotEditableError struct{ Attribute Attribute }

// Error names the attribute and wraps ErrNotEditable.
func (e *NotEditableError) Error() string {
	return fmt.Sprintf("%v: %s was set by the back end", ErrNotEditable, e.Attribute)
}

// Unwrap returns ErrNotEditable.
func (e *NotEditableError) Unwrap() error { return ErrNotEditable }

// AttributesPatch changes some of a payment's attributes: a nil field is
// left as it is.
type AttributesPatch struct {
	Amount         *int64
	Currency       *string
	Reference      *string
	CardholderName *string
}

// Apply returns a with the patch applied by editor, and the attributes
// the back end has set afterwards, given those it had set before (fixed)
// and those the agent may change all the same (editable, from the
// configuration). An empty currency becomes defaultCurrency.
//
// The agent's change of a fixed attribute that is not editable is
// refused with a *NotEditableError, unless it leaves the value as it is
// (a form may send what it shows). A value the back end gives fixes the
// attribute; an empty one (a zero amount, an empty text) withdraws it, so
// the agent may fill it in. The result is checked as New checks a
// prefill (ErrBadAttributes, ErrCardNumberInText). On an error a and
// fixed are returned unchanged.
func (ch AttributesPatch) Apply(editor Editor, a Attributes, fixed, editable AttributeSet, defaultCurrency string) (Attributes, AttributeSet, error) {
	out := a
	var touched, gave AttributeSet // named by the patch; given a value by it
	note := func(at Attribute, value bool) {
		touched |= AttributeSetOf(at)
		if value {
			gave |= AttributeSetOf(at)
		}
	}
	if ch.Amount != nil {
		out.Amount = *ch.Amount
		note(AttrAmount, out.Amount > 0)
	}
	if ch.Currency != nil {
		out.Currency = *ch.Currency
		note(AttrCurrency, out.Currency != "")
	}
	if ch.Reference != nil {
		out.Reference = *ch.Reference
		note(AttrReference, out.Reference != "")
	}
	if ch.CardholderName != nil {
		out.CardholderName = *ch.CardholderName
		note(AttrCardholderName, out.CardholderName != "")
	}
	if out.Currency == "" {
		out.Currency = defaultCurrency
	}
	if err := out.validate(); err != nil {
		return a, fixed, err
	}
	switch editor {
	case EditorBackEnd:
		return out, fixed&^touched | gave, nil
	case EditorAgent:
		if refused := a.differ(out) & fixed &^ editable; refused != 0 {
			return a, fixed, &NotEditableError{Attribute: refused.List()[0]}
		}
		return out, fixed, nil
	}
	return a, fixed, errors.New("payment: Apply: unknown editor")
}

// differ returns the attributes whose values differ between a and b.
func (a Attributes) differ(b Attributes) AttributeSet {
	var s AttributeSet
	if a.Amount != b.Amount {
		s |= AttributeSetOf(AttrAmount)
	}
	if a.Currency != b.Currency {
		s |= AttributeSetOf(AttrCurrency)
	}
	if a.Reference != b.Reference {
		s |= AttributeSetOf(AttrReference)
	}
	if a.CardholderName != b.CardholderName {
		s |= AttributeSetOf(AttrCardholderName)
	}
	return s
}

// AgentEditable returns the attributes the agent may change now, given
// those the back end has set (fixed) and those the configuration lets the
// agent change all the same.
func AgentEditable(fixed, editable AttributeSet) AttributeSet {
	const all = AttributeSet(1<<len(allAttributes) - 1)
	return all &^ (fixed &^ editable)
}

// Attributes are a payment's data that are not typed by the caller:
// prefilled by the API or entered by the agent. They are not card data.
type Attributes struct {
	// Amount is in the currency's minor units (cents); it must be positive
	// to process.
	Amount int64 `json:"amount"`
	// Currency is an ISO 4217 code ("GBP"); required to process.
	Currency string `json:"currency,omitempty"`
	// Reference is the merchant's (an order or invoice number).
	Reference string `json:"reference,omitempty"`
	// CardholderName is the name on the card, where the agent takes it.
	CardholderName string `json:"cardholder_name,omitempty"`
	// Intent is what the payment does with the card (empty: its
	// configuration's). It is set when the payment is made, never
	// patched; the view shows it apart (View.Intent).
	Intent Intent `json:"-"`
}

// validate checks what is given; an amount and currency are required
// only to process (processable). A reference or name that holds a card
// number is refused (ErrCardNumberInText): the payment would keep it,
// record it and send it in webhooks.
func (a Attributes) validate() error {
	switch {
	case !a.Intent.valid():
		return fmt.Errorf("%w: intent is charge or tokenize", ErrBadAttributes)
	case a.Intent == IntentTokenize && a.Amount != 0:
		return fmt.Errorf("%w: a card saved (intent tokenize) has no amount", ErrBadAttributes)
	case a.Amount < 0 || a.Amount > MaxAmount:
		return fmt.Errorf("%w: amount %d outside 0 … %d", ErrBadAttributes, a.Amount, int64(MaxAmount))
	case a.Currency != "" && !ValidCurrency(a.Currency):
		return fmt.Errorf("%w: currency is not an ISO 4217 code (three capital letters)", ErrBadAttributes)
	case HoldsCardNumber(a.Reference):
		return fmt.Errorf("%w: reference", ErrCardNumberInText)
	case HoldsCardNumber(a.CardholderName):
		return fmt.Errorf("%w: cardholder name", ErrCardNumberInText)
	case len(a.Reference) > processor.MaxTextLen || hasControl(a.Reference):
		return fmt.Errorf("%w: reference: at most %d bytes, no control characters", ErrBadAttributes, processor.MaxTextLen)
	case len(a.CardholderName) > processor.MaxTextLen || hasControl(a.CardholderName):
		return fmt.Errorf("%w: cardholder name: at most %d bytes, no control characters", ErrBadAttributes, processor.MaxTextLen)
	}
	return nil
}

func (a Attributes) processable() error {
	if a.Amount <= 0 && a.Intent != IntentTokenize {
		return fmt.Errorf("%w: no amount", ErrNotReady)
	}
	if a.Currency == "" {
		return fmt.Errorf("%w: no currency", ErrNotReady)
	}
	return nil
}
