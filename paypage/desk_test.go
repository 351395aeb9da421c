package paypage

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"dtmfgw/payment"
)

// fakeDesk is a payment.Desk that behaves as payment's does, as far as
// the page can tell: a link opens once, takes cards checked by payment's
// own rules, declines declinedCard, approves any other valid card, counts
// failed attempts and locks the link after the last; a final link answers
// ErrLinkClosed with its view. It zeroes every card it is given, and it
// records what the page told it: lengths, presence, and (for the tests
// to read) a copy of each card's digits and the slices themselves, to
// check they end zeroed.
type fakeDesk struct {
	now func() time.Time

	mu       sync.Mutex
	links    map[string]*fakeLink
	progress []progressReport
	presence []bool
	cards    []map[string]string
	names    []string
	held     [][]byte
	// keep makes PayLink leave the card as it got it, neither zeroed nor
	// deleted: the handler must zero it itself.
	keep bool
	// block, when set, makes PayLink wait for it to close (a payment
	// with the processor).
	block chan struct{}
}

// fakeLink is one link: its view, and an error every call answers
// instead (ErrLinkBusy, a failing store).
type fakeLink struct {
	view payment.PageView
	err  error
}

type progressReport struct {
	field  string
	length int
}

func newFakeDesk() *fakeDesk {
	return &fakeDesk{now: time.Now, links: make(map[string]*fakeLink)}
}

// cardView is the view of a card payment with a postcode and the name.
func cardView(state payment.LinkState) payment.PageView {
	return payment.PageView{
		State: state, Merchant: "Acme Utilities", Amount: 1250, Currency: "GBP", Reference: "INV-1",
		Fields: []payment.PageField{
			{ID: "card_number", Label: "Card number", Kind: payment.FieldCardNumber, Required: true},
			{ID: "expiry", Label: "Expiry date", Kind: payment.FieldExpiry, Required: true},
			{ID: "security_code", Label: "Security code", Kind: payment.FieldSecurityCode, Required: true},
			{ID: "postcode", Label: "Postcode digits", Kind: payment.FieldDigits, MinLen: 3, MaxLen: 8},
		},
		AskCardholderName: true,
		AcceptedBrands:    []payment.Brand{payment.BrandVisa, payment.BrandMastercard, payment.BrandAmex},
		AttemptsLeft:      3,
		Expires:           time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

// add makes a link in state.
func (d *fakeDesk) add(token string, state payment.LinkState) *fakeLink {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := &fakeLink{view: cardView(state)}
	if state == payment.LinkPaid {
		l.view.Result = &payment.Result{State: payment.StateApproved, Brand: payment.BrandVisa, Last4: "4242", Amount: 1250, Currency: "GBP"}
	}
	d.links[token] = l
	return l
}

// fail makes every call of the link answer err.
func (d *fakeDesk) fail(token string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := &fakeLink{view: cardView(payment.LinkOpened), err: err}
	d.links[token] = l
}

func (d *fakeDesk) state(token string) payment.LinkState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.links[token].view.State
}

// lookLocked finds the link: its view and the error to answer.
func (d *fakeDesk) lookLocked(token string) (*fakeLink, error) {
	l := d.links[token]
	switch {
	case l == nil:
		return nil, payment.ErrLinkNotFound
	case l.err != nil:
		return l, l.err
	case l.view.State.Final():
		return l, payment.ErrLinkClosed
	}
	return l, nil
}

func (d *fakeDesk) OpenLink(_ context.Context, token string) (payment.PageView, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := d.lookLocked(token)
	if l == nil {
		return payment.PageView{}, err
	}
	if err == nil && l.view.State < payment.LinkOpened {
		l.view.State = payment.LinkOpened
	}
	return l.view, err
}

func (d *fakeDesk) LinkProgress(_ context.Context, token, field string, length int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.lookLocked(token); err != nil {
		return err
	}
	d.progress = append(d.progress, progressReport{field, length})
	return nil
}

func (d *fakeDesk) LinkPresence(_ context.Context, token string, present bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.lookLocked(token); err != nil {
		return err
	}
	d.presence = append(d.presence, present)
	return nil
}

func (d *fakeDesk) PayLink(ctx context.Context, token string, card payment.PageCard) (payment.PageView, error) {
	d.mu.Lock()
	keep, block := d.keep, d.block
	copied := make(map[string]string, len(card.Fields))
	for id, b := range card.Fields {
		copied[id] = string(b)
		d.held = append(d.held, b)
	}
	d.cards = append(d.cards, copied)
	d.names = append(d.names, card.CardholderName)
	d.mu.Unlock()
	if !keep {
		defer card.Zero()
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return payment.PageView{}, ctx.Err()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := d.lookLocked(token)
	if err != nil {
		if l == nil {
			return payment.PageView{}, err
		}
		return l.view, err
	}
	v := &l.view
	pan := card.Fields["card_number"]
	brand, panOK := payment.ValidPAN(pan, v.AcceptedBrands)
	var bad []string
	if !panOK {
		bad = append(bad, "card_number")
	}
	if !payment.ValidExpiry(card.Fields["expiry"], d.now()) {
		bad = append(bad, "expiry")
	}
	if !payment.ValidSecurityCode(card.Fields["security_code"], brand) {
		bad = append(bad, "security_code")
	}
	if pc, ok := card.Fields["postcode"]; ok && len(pc) > 0 && (len(pc) < 3 || len(pc) > 8) {
		bad = append(bad, "postcode")
	}
	switch {
	case len(bad) > 0:
		v.LastAttempt = &payment.PageAttempt{Outcome: "invalid", Message: "Some card details are not valid. Check them and try again.", Fields: bad}
	case bytes.Equal(pan, []byte(declinedCard)):
		v.LastAttempt = &payment.PageAttempt{Outcome: "declined", Message: "Your card was declined. Please try another card."}
	default:
		v.State = payment.LinkPaid
		v.LastAttempt = nil
		v.Result = &payment.Result{
			State: payment.StateApproved, Brand: brand, Last4: string(pan[len(pan)-4:]),
			Amount: v.Amount, Currency: v.Currency, Reference: v.Reference,
		}
		return *v, nil
	}
	v.AttemptsLeft--
	if v.AttemptsLeft <= 0 {
		v.AttemptsLeft = 0
		v.State = payment.LinkLocked
	}
	return *v, nil
}

// lengths returns the lengths reported for field, in order.
func (d *fakeDesk) lengths(field string) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ls []int
	for _, p := range d.progress {
		if p.field == field {
			ls = append(ls, p.length)
		}
	}
	return ls
}

// allZero reports whether every card slice PayLink was given is zero now.
func (d *fakeDesk) allZero() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, b := range d.held {
		for _, c := range b {
			if c != 0 {
				return fmt.Errorf("card slice %d of %d is not zeroed", i, len(d.held))
			}
		}
	}
	return nil
}

var _ payment.Desk = (*fakeDesk)(nil)
