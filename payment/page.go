package payment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"dtmfgw/internal/enumtext"
	"dtmfgw/store"
)

// A digital payment is paid by the caller on the hosted payment page,
// reached through a single-use link sent by SMS: what the page sees of it
// and hands back are the types below. Package paypage serves the page
// over the Desk methods of Payments (link.go).

// LinkState is where a digital payment's link is in its life:
//
//	created → sent → opened → paid
//	created, sent, opened → expired | cancelled | locked
//
// A link is created with its payment and sent when an SMS with it has
// been handed to the provider (or shown to the agent to read out); the
// page opening it moves it to opened. Paid, expired, cancelled and locked
// are ends: the page shows why and takes no card.
type LinkState uint8

// The link states.
const (
	// LinkCreated: made, not sent yet.
	LinkCreated LinkState = iota + 1
	// LinkSent: an SMS with the link went to the provider.
	LinkSent
	// LinkOpened: the caller opened the page at least once.
	LinkOpened
	// LinkPaid: a charge with it was approved (or awaits reconciliation:
	// the card may have been charged, so the link takes no other).
	LinkPaid
	// LinkExpired: its time ran out before it was paid.
	LinkExpired
	// LinkCancelled: the agent or the back end cancelled it.
	LinkCancelled
	// LinkLocked: too many failed attempts.
	LinkLocked

	numLinkStates
)

// linkStateText names each state as the store does: a stored link's state
// is read back through it (linkView).
var linkStateText = enumtext.Table[LinkState]{What: "payment: link state", Invalid: "invalid", Names: []string{
	LinkCreated: string(store.LinkCreated), LinkSent: string(store.LinkSent), LinkOpened: string(store.LinkOpened),
	LinkPaid: string(store.LinkPaid), LinkExpired: string(store.LinkExpired), LinkCancelled: string(store.LinkCancelled),
	LinkLocked: string(store.LinkLocked),
}}

// String returns the state's name ("opened").
func (s LinkState) String() string { return linkStateText.String(s) }

// MarshalText writes the state's name.
func (s LinkState) MarshalText() ([]byte, error) { return linkStateText.MarshalText(s) }

// UnmarshalText reads a state's name.
func (s *LinkState) UnmarshalText(t []byte) error {
	return unmarshalName(linkStateText, s, t, "link state", "unknown")
}

// Final reports whether the link takes no more payments: paid, expired,
// cancelled or locked.
func (s LinkState) Final() bool { return s >= LinkPaid && s < numLinkStates }

// Errors of links, as the page's handlers map them.
var (
	// ErrLinkNotFound: no link has this token (a wrong or forged one).
	// The page says only that the link is not valid.
	ErrLinkNotFound = errors.New("payment: no such payment link")
	// ErrLinkClosed: the link is paid, expired, cancelled or locked; the
	// PageView says which.
	ErrLinkClosed = errors.New("payment: payment link no longer takes payments")
	// ErrLinkBusy: a payment with the link is with the processor now.
	ErrLinkBusy = errors.New("payment: a payment with this link is being processed")
)

// PageField is one input of the hosted page: a card field or a digits
// field of the configuration (a postcode). Never a value.
type PageField struct {
	ID       string    `json:"id"`
	Label    string    `json:"label"`
	Kind     FieldKind `json:"kind"`
	Required bool      `json:"required"`
	// MinLen and MaxLen bound a digits field; zero for the card fields,
	// whose lengths follow the card rules (the brand's).
	MinLen int `json:"min_len,omitempty"`
	MaxLen int `json:"max_len,omitempty"`
}

// PageAttempt is the outcome of the last card the page submitted that did
// not pay: declined by the processor, failed, or refused by the card
// checks. It holds no digit.
type PageAttempt struct {
	// Outcome is "declined", "failed" or "invalid".
	Outcome string `json:"outcome"`
	// Message is for the caller: what to do next.
	Message string `json:"message"`
	// Fields names the fields the card checks refused (Outcome
	// "invalid").
	Fields []string `json:"fields,omitempty"`
}

// PageView is what the hosted page shows of a digital payment: the
// merchant, the amount, the inputs, the state. It holds no card data but
// the brand and last four of a paid card.
type PageView struct {
	State     LinkState   `json:"state"`
	Merchant  string      `json:"merchant"`
	Amount    int64       `json:"amount"`
	Currency  string      `json:"currency"`
	Reference string      `json:"reference,omitempty"`
	Fields    []PageField `json:"fields"`
	// AskCardholderName says the page asks for the name on the card.
	AskCardholderName bool `json:"ask_cardholder_name,omitempty"`
	// AcceptedBrands are the brands the merchant takes.
	AcceptedBrands []Brand `json:"accepted_brands"`
	// AttemptsLeft is how many failed attempts lock the link.
	AttemptsLeft int       `json:"attempts_left"`
	Expires      time.Time `json:"expires"`
	// LastAttempt is the last failed attempt, if any.
	LastAttempt *PageAttempt `json:"last_attempt,omitempty"`
	// Result is the payment's result once paid: approved (or
	// reconciling), with the brand and last four.
	Result *Result `json:"result,omitempty"`
}

// PageCard is a card as the hosted page submits it: each field's digits
// by field id (ASCII digits, in []byte so they can be zeroed, never a
// string), and the cardholder's name when the page asks for it. The
// payment zeroes every slice once the processor has answered or the card
// is refused; the caller must not keep them.
type PageCard struct {
	Fields         map[string][]byte
	CardholderName string
}

// Zero zeroes every field's digits.
func (c *PageCard) Zero() {
	for id, b := range c.Fields {
		clear(b)
		delete(c.Fields, id)
	}
}

// Format prints the fields' lengths only, whatever the verb: a card
// printed by mistake shows no digit.
func (c PageCard) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, fmt.Sprintf("PageCard(%d fields)", len(c.Fields)))
}

// Desk is what the hosted page needs of the payment domain; *Payments
// has it. token is the link's token as the caller's browser holds it;
// only its hash is stored or compared.
type Desk interface {
	// OpenLink returns the payment behind the link and, the first time,
	// marks the link opened (the agent's form turns its badge green). A
	// closed link is answered with its view and ErrLinkClosed; an unknown
	// token with ErrLinkNotFound.
	OpenLink(ctx context.Context, token string) (PageView, error)
	// LinkProgress reports that the caller's field now holds length
	// characters (the agent's form draws the dots). Never a character.
	LinkProgress(ctx context.Context, token, field string, length int) error
	// LinkPresence reports the caller on the page (present) or gone.
	LinkPresence(ctx context.Context, token string, present bool) error
	// PayLink checks the card, charges it with the configuration's
	// processor and answers the view after: paid, or the failed attempt
	// and the attempts left (locked after the last). It zeroes card's
	// digits before it returns.
	PayLink(ctx context.Context, token string, card PageCard) (PageView, error)
}
