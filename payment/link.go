package payment

// Digital payments: the caller pays on the hosted payment page through a
// single-use link, sent by SMS, valid for the configuration's LinkTTL —
// long after the call. Unlike a keypad payment, a digital payment lives in
// the store, not in memory: each step (created, sent, opened, a charge
// attempt and its answer, expired, cancelled) is one transaction of the
// payment's record and its link's (package store), so a restart keeps
// every link valid and a second node could serve the page. Memory holds
// only what may be lost: the token of a link made here (so the agent's
// "send" sends the link the agent was shown), whether the caller is on
// the page now, and the last failed attempt's message.
//
// While the call lasts, every step is published on the call's event bus,
// so the agent's form shows the link's state, the caller's presence, one
// dot per character typed (lengths only: the page never reports a
// character) and the result. Results reach webhooks through the store's
// outbox, as a keypad payment's do.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/text/currency"

	"dtmfgw/internal/randid"
	"dtmfgw/sms"
	"dtmfgw/store"
)

// presenceTimeout is how long after the page's last sign of life the
// caller counts as gone: the page reports itself every 15 s while
// visible.
const presenceTimeout = 45 * time.Second

// maxExpiredPerSweep bounds one ExpireLinks pass.
const maxExpiredPerSweep = 500

// Errors of digital payments.
var (
	// ErrDigitalOff: digital payments need the store and the page's URL
	// (WithDigital).
	ErrDigitalOff = errors.New("payment: digital payments are not set up (no store or public URL)")
	// ErrTypeNotAllowed: the configuration does not allow the payment
	// type.
	ErrTypeNotAllowed = errors.New("payment: the configuration does not allow this payment type")
	// ErrBadPhone: not a number an SMS can go to (E.164).
	ErrBadPhone = errors.New("payment: phone number is not an E.164 number (+ and 8 to 15 digits)")
	// ErrNoPhone: no number to send the link to.
	ErrNoPhone = errors.New("payment: no phone number to send the link to")
	// ErrSMSUnavailable: the SMS could not be queued.
	ErrSMSUnavailable = errors.New("payment: the SMS could not be queued")
	// ErrNotDigital: the operation is a digital payment's only.
	ErrNotDigital = errors.New("payment: not a digital payment")
)

// TextMessage is an SMS for a Texter: Body holds the link's token;
// Redacted is the same text without it, the only form fit for a log.
type TextMessage struct {
	ID, PaymentID, To, Body, Redacted string
}

// Texter sends SMS messages: package sms's Sender, through its provider.
// Text queues the message and returns at once; its delivery is reported
// back through Payments.NoteMessage.
type Texter interface {
	Text(m TextMessage) error
	// Provider names the provider ("outbox", "twilio").
	Provider() string
}

// WithDigital enables digital payments: their records and links in st,
// the hosted page at pageURL (the public URL of /pay/, to which a link
// adds "#" and its token), the SMS through t (nil: links are shown, not
// sent).
func WithDigital(st *store.Store, pageURL string, t Texter) Option {
	return func(ps *Payments) {
		ps.links = &links{st: st, pageURL: pageURL, texter: t,
			tokens: make(map[string]string), charging: make(map[string]bool), present: make(map[string]*presence), last: make(map[string]*PageAttempt)}
	}
}

// links is the digital payments' part of Payments.
type links struct {
	st      *store.Store
	pageURL string
	texter  Texter

	mu     sync.Mutex
	tokens map[string]string // payment id → token of a link made here
	// charging are the digital payments whose card is with the processor
	// in this process: the Reconciler leaves them to PayLink.
	charging map[string]bool
	present  map[string]*presence    // payment id → the caller on the page
	last     map[string]*PageAttempt // payment id → the last failed attempt
}

// presence is whether the caller is on the page: on at each sign of life,
// off presenceTimeout after the last.
type presence struct {
	on    bool
	timer *time.Timer
}

// LinkView is a digital payment's link as the API and the agent's form
// see it: never its token (the link is answered once, at its creation and
// at each send) and never card data.
type LinkView struct {
	State          LinkState `json:"state"`
	Expires        time.Time `json:"expires"`
	Phone          string    `json:"phone,omitempty"`
	Attempts       int       `json:"attempts"`
	FailedAttempts int       `json:"failed_attempts"`
	MaxAttempts    int       `json:"max_attempts"`
	// Present says the caller has the page open now.
	Present  bool          `json:"present"`
	Opened   time.Time     `json:"opened,omitzero"`
	Messages []MessageView `json:"messages"`
	// LastAttempt is the last failed attempt, while this process knows
	// it.
	LastAttempt *PageAttempt `json:"last_attempt,omitempty"`
}

// MessageView is one SMS that carried the link: never its text.
type MessageView struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Provider  string    `json:"provider"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	ErrorCode string    `json:"error_code,omitempty"`
	Updated   time.Time `json:"updated"`
}

// DigitalRequest asks for a digital payment.
type DigitalRequest struct {
	// ID is the payment's id (store.NewID).
	ID string
	// CallID is the live call the payment is taken on; empty for a
	// payment with no call (a CRM's).
	CallID string
	// ConfigID names the configuration; empty means the only one.
	ConfigID string
	// Attributes: the amount and currency are required (the page shows
	// them); a zero currency takes the configuration's.
	Attributes Attributes
	// Phone is where the link goes, E.164; empty takes the caller's number
	// when the call has one.
	Phone string
	// Actor is who asks: store.ActorAgent or store.ActorAPI.
	Actor store.Actor
}

// DigitalLink is a new link: its URL (the page's, with the token after
// "#") and when it expires.
type DigitalLink struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// NormalizePhone returns s as an E.164 number (sms.NormalizeE164: spaces,
// hyphens, dots and brackets dropped, a leading 00 read as +), or
// ErrBadPhone; the error never repeats the number.
func NormalizePhone(s string) (string, error) {
	n, err := sms.NormalizeE164(s)
	if err != nil {
		return "", ErrBadPhone
	}
	return n, nil
}

// linkToken returns a new token (256 random bits) and its hash.
func linkToken() (token, hash string) {
	token = randid.New(32)
	return token, tokenHash(token)
}

// tokenHash is what the store keeps of a token.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreateDigital makes a digital payment and its link. The link is not
// sent: SendLink sends it (the agent's form shows it first).
func (ps *Payments) CreateDigital(ctx context.Context, req DigitalRequest) (Ref, DigitalLink, error) {
	ps.createMu.Lock()
	defer ps.createMu.Unlock()
	return ps.createDigitalLocked(ctx, req, "", false)
}

// createDigitalLocked is CreateDigital under createMu; replacing is the
// id of the waiting payment that becomes this one, which does not count as
// the call's payment in progress, and stored says its record exists
// (made digital in place, store.MakeDigital).
func (ps *Payments) createDigitalLocked(ctx context.Context, req DigitalRequest, replacing string, stored bool) (Ref, DigitalLink, error) {
	lk := ps.links
	if lk == nil {
		return Ref{}, DigitalLink{}, ErrDigitalOff
	}
	cfg, err := ps.pick(req.ConfigID)
	if err != nil {
		return Ref{}, DigitalLink{}, err
	}
	if !cfg.Allows(TypeDigital) {
		return Ref{}, DigitalLink{}, ErrTypeNotAllowed
	}
	attrs := req.Attributes
	if attrs.Currency == "" {
		attrs.Currency = cfg.Currency
	}
	if err := attrs.validate(); err != nil {
		return Ref{}, DigitalLink{}, err
	}
	if err := attrs.processable(); err != nil {
		return Ref{}, DigitalLink{}, fmt.Errorf("%w: a digital payment needs its amount and currency first", err)
	}
	phone := ""
	if req.Phone != "" {
		if phone, err = NormalizePhone(req.Phone); err != nil {
			return Ref{}, DigitalLink{}, err
		}
	}
	rec := store.Payment{ID: req.ID, ConfigurationID: cfg.ID, State: store.StateCreated, Amount: attrs.Amount,
		Currency: attrs.Currency, Reference: attrs.Reference, Processor: cfg.Processor}

	var set *Set
	if req.CallID != "" {
		if set = ps.Set(req.CallID); set == nil {
			return Ref{}, DigitalLink{}, ErrNoCall
		}
		if busy := ps.InProgress(req.CallID); busy != "" && busy != replacing {
			return Ref{}, DigitalLink{}, ErrInProgress
		}
		corr := set.call.Correlation()
		rec.CallID, rec.InboundCallID, rec.OutboundCallID = req.CallID, corr.InboundCallID, corr.OutboundCallID
		rec.PrimaryCallID, rec.AgentID = corr.PrimaryCallID, corr.AgentID
		if phone == "" {
			phone, _ = NormalizePhone(corr.CallerNumber)
		}
	}
	token, hash := linkToken()
	expires := ps.now().Add(cfg.linkTTL())
	create := lk.st.CreateDigitalPayment
	if stored {
		create = lk.st.MakeDigital
	}
	sp, sl, err := create(ctx, rec,
		store.Link{TokenHash: hash, Phone: phone, ExpiresAt: expires, MaxAttempts: cfg.linkMaxAttempts()},
		store.Entry{Actor: req.Actor, Action: "payment.created", Detail: "digital"})
	if err != nil {
		ps.log.Warn("digital payment not created", "call", req.CallID, "err", err)
		return Ref{}, DigitalLink{}, fmt.Errorf("%w: %v", ErrNotRecorded, err)
	}
	lk.mu.Lock()
	lk.tokens[sp.ID] = token
	lk.mu.Unlock()
	if set != nil {
		set.holdDigital(sp.ID)
	}
	ps.noteLink(LinkCreated)
	ps.log.Info("digital payment created", "payment", sp.ID, "call", req.CallID, "config", cfg.ID, "expires", expires.UTC())
	r := Ref{ps: ps, stored: &sp, link: &sl}
	ps.publishDigital(sp, Event{Type: EventState, State: StateCreated})
	ps.publishDigital(sp, Event{Type: EventLink, Link: r.linkView()})
	return r, DigitalLink{URL: lk.pageURL + "#" + token, Expires: expires.UTC()}, nil
}

// LinkURL returns the link of the digital payment id while this process
// holds its token (it made the link or sent it since it started).
func (ps *Payments) LinkURL(id string) (string, bool) {
	lk := ps.links
	if lk == nil {
		return "", false
	}
	lk.mu.Lock()
	defer lk.mu.Unlock()
	token, ok := lk.tokens[id]
	if !ok {
		return "", false
	}
	return lk.pageURL + "#" + token, true
}

// pick returns the configuration id names, or the only one.
func (ps *Payments) pick(id string) (Config, error) {
	if id == "" {
		if cfgs := ps.Configs(); len(cfgs) == 1 {
			return cfgs[0], nil
		}
		return Config{}, ErrNoConfig
	}
	cfg, ok := ps.Config(id)
	if !ok {
		return Config{}, ErrNoConfig
	}
	return cfg, nil
}

// publishDigital publishes e about the digital payment p: on its call's
// bus while the call lasts (the agent's form), and to the event hook.
func (ps *Payments) publishDigital(p store.Payment, e Event) {
	e.CallID, e.PaymentID = p.CallID, p.ID
	if p.CallID != "" {
		if set := ps.Set(p.CallID); set != nil {
			set.bus.publishFor(ps.hook, p.ConfigurationID, e)
			return
		}
	}
	if ps.hook != nil {
		e.At = ps.now()
		ps.hook(p.ConfigurationID, e)
	}
}

// SendLink sends the link of the digital payment id by SMS to phone
// (empty: the number it has). A link made by this process is sent as it
// was shown; one made before a restart gets a new token, and its old link
// stops working. The delivery is reported back through NoteMessage.
func (ps *Payments) SendLink(ctx context.Context, id, phone string, actor store.Actor) (Ref, error) {
	lk := ps.links
	if lk == nil {
		return Ref{}, ErrDigitalOff
	}
	if lk.texter == nil {
		return Ref{}, ErrSMSUnavailable
	}
	r, err := ps.digitalRef(ctx, id)
	if err != nil {
		return Ref{}, err
	}
	if !r.link.State.Open() {
		return r, ErrLinkClosed
	}
	if phone != "" {
		if phone, err = NormalizePhone(phone); err != nil {
			return Ref{}, err
		}
	} else if phone = r.link.Phone; phone == "" {
		return Ref{}, ErrNoPhone
	}
	lk.mu.Lock()
	token, ok := lk.tokens[id]
	lk.mu.Unlock()
	ch := store.LinkChange{To: store.LinkSent, Phone: phone, Entry: store.Entry{Actor: actor, Action: "link.sent"}}
	if !ok {
		token, ch.TokenHash = linkToken()
		ch.Entry.Detail = "a new token: the link was made before a restart"
	}
	sl, err := lk.st.UpdateLink(ctx, id, ch)
	if err != nil {
		return Ref{}, ps.linkErr(err)
	}
	lk.mu.Lock()
	lk.tokens[id] = token
	lk.mu.Unlock()
	if r.link.State == store.LinkCreated {
		ps.noteLink(LinkSent)
	}
	r.link = &sl
	cfg, _ := ps.Config(r.stored.ConfigurationID)
	m := TextMessage{ID: store.NewMessageID(), PaymentID: id, To: phone}
	m.Body, m.Redacted = linkText(cfg.Name, *r.stored, lk.pageURL, token, sl.ExpiresAt)
	rec := store.Message{ID: m.ID, PaymentID: id, To: phone, Provider: lk.texter.Provider(), State: "queued"}
	if err := lk.st.RecordMessage(ctx, rec); err != nil {
		return Ref{}, fmt.Errorf("%w: %v", ErrNotRecorded, err)
	}
	if err := lk.texter.Text(m); err != nil {
		ps.noteSMS("failed")
		rec.State, rec.ErrorCode = "failed", "queue_full"
		if uerr := lk.st.UpdateMessage(ctx, rec); uerr != nil {
			ps.log.Warn("sms status not recorded", "payment", id, "err", uerr)
		}
		return Ref{}, fmt.Errorf("%w: %v", ErrSMSUnavailable, err)
	}
	ps.noteSMS("queued")
	ps.log.Info("payment link sent", "payment", id, "sms", m.ID, "provider", lk.texter.Provider())
	r, err = ps.digitalRef(ctx, id)
	if err != nil {
		return Ref{}, err
	}
	ps.publishDigital(*r.stored, Event{Type: EventLink, Link: r.linkView()})
	return r, nil
}

// linkText is the SMS: the merchant, the amount, the link and its expiry;
// and the same without the token.
func linkText(merchant string, p store.Payment, pageURL, token string, expires time.Time) (body, redacted string) {
	if merchant == "" {
		merchant = "Payment"
	}
	head := fmt.Sprintf("%s: pay %s securely at ", merchant, formatAmount(p.Amount, p.Currency))
	tail := fmt.Sprintf(" (link valid until %s)", expires.UTC().Format("2 Jan 15:04 MST"))
	return head + pageURL + "#" + token + tail, head + pageURL + "#…" + tail
}

// formatAmount writes minor units in the currency's own decimals, by its
// ISO 4217 code: "GBP 12.50", "JPY 1250", "BHD 1.250".
func formatAmount(minor int64, code string) string {
	scale := 2
	if u, err := currency.ParseISO(code); err == nil {
		scale, _ = currency.Standard.Rounding(u)
	}
	if scale == 0 {
		return fmt.Sprintf("%s %d", code, minor)
	}
	unit := int64(1)
	for range scale {
		unit *= 10
	}
	return fmt.Sprintf("%s %d.%0*d", code, minor/unit, scale, minor%unit)
}

// MessageStatus is what became of an SMS (package sms's report).
type MessageStatus struct {
	ID, PaymentID string
	// State is "queued", "sent" or "failed".
	State      string
	Attempts   int
	ProviderID string
	ErrorCode  string
}

// NoteMessage records an SMS's delivery status and shows it on the
// agent's form.
func (ps *Payments) NoteMessage(ctx context.Context, st MessageStatus) {
	lk := ps.links
	if lk == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := lk.st.UpdateMessage(ctx, store.Message{ID: st.ID, State: st.State, Attempts: st.Attempts,
		ProviderID: st.ProviderID, ErrorCode: st.ErrorCode}); err != nil {
		ps.log.Warn("sms status not recorded", "payment", st.PaymentID, "sms", st.ID, "err", err)
		return
	}
	ps.noteSMS(st.State)
	if st.State == "failed" {
		ps.log.Warn("payment link SMS failed", "payment", st.PaymentID, "sms", st.ID, "code", st.ErrorCode)
	}
	if r, err := ps.digitalRef(ctx, st.PaymentID); err == nil {
		ps.publishDigital(*r.stored, Event{Type: EventLink, Link: r.linkView()})
	}
}

// digitalRef finds the digital payment id in the store, with its link
// and messages, expiring a link whose time has run out.
func (ps *Payments) digitalRef(ctx context.Context, id string) (Ref, error) {
	if ps.links == nil {
		return Ref{}, ErrDigitalOff
	}
	r, err := ps.Find(ctx, id)
	if err != nil {
		return Ref{}, err
	}
	if r.link == nil {
		return Ref{}, ErrNotDigital
	}
	return r, nil
}

// loadDigital fills r (a stored digital payment) with its link and
// messages, and expires the link first when its time has run out.
func (ps *Payments) loadDigital(ctx context.Context, r *Ref) error {
	st := ps.links.st
	l, err := st.Link(ctx, r.stored.ID)
	if err != nil {
		return err
	}
	if l.State.Open() && !ps.now().Before(l.ExpiresAt) {
		if p, l2, err := ps.closeLink(ctx, r.stored.ID, store.LinkExpired, store.ActorSystem); err == nil {
			*r.stored, l = p, l2
		}
	}
	ms, err := st.Messages(ctx, r.stored.ID)
	if err != nil {
		return err
	}
	r.link, r.messages = &l, ms
	return nil
}

// closeLink ends an open link as expired or cancelled, with its payment,
// and tells the form and the hook.
func (ps *Payments) closeLink(ctx context.Context, id string, to store.LinkState, actor store.Actor) (store.Payment, store.Link, error) {
	action, reason := "link.expired", ReasonLinkExpired
	if to == store.LinkCancelled {
		action, reason = "link.cancelled", ReasonAgentEnded
	}
	p, l, err := ps.links.st.CloseLink(ctx, id, to, store.Entry{Actor: actor, Action: action, Detail: reason})
	if err != nil {
		return p, l, ps.linkErr(err)
	}
	ps.settledDigital(p)
	ps.log.Info("payment link closed", "payment", id, "state", string(to))
	r := Ref{ps: ps, stored: &p, link: &l}
	st := storedState(p.State)
	ps.noteLink(r.linkView().State)
	ps.noteState(st)
	ps.publishDigital(p, Event{Type: EventLink, Link: r.linkView()})
	ps.publishDigital(p, Event{Type: EventState, State: st, Reason: reason})
	res := storedView(p).Result
	res.Reason = reason
	ps.publishDigital(p, Event{Type: EventResult, State: st, Reason: reason, Result: res})
	return p, l, nil
}

// settledDigital forgets what memory held of a digital payment whose
// link is closed, and frees its call for the next payment.
func (ps *Payments) settledDigital(p store.Payment) {
	lk := ps.links
	lk.mu.Lock()
	delete(lk.tokens, p.ID)
	delete(lk.last, p.ID)
	if pr := lk.present[p.ID]; pr != nil {
		pr.timer.Stop()
		delete(lk.present, p.ID)
	}
	lk.mu.Unlock()
	if p.CallID != "" {
		if set := ps.Set(p.CallID); set != nil {
			set.releaseDigital(p.ID)
		}
	}
}

// linkErr maps the store's refusals to this package's errors.
func (ps *Payments) linkErr(err error) error {
	switch {
	case errors.Is(err, store.ErrLinkClosed), errors.Is(err, store.ErrFinal):
		return ErrLinkClosed
	case errors.Is(err, store.ErrConflict):
		return ErrLinkBusy
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	}
	ps.log.Warn("payment link: store", "err", err)
	return fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
}

// ExpireLinks ends the open links whose time has run out (timed out), so
// that their results reach the webhooks on time; reads expire a link
// too. It returns how many it ended. The gateway runs it every minute.
func (ps *Payments) ExpireLinks(ctx context.Context) (int, error) {
	if ps.links == nil {
		return 0, nil
	}
	due, err := ps.links.st.OpenLinksExpiring(ctx, ps.now(), maxExpiredPerSweep)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range due {
		if _, _, err := ps.closeLink(ctx, l.PaymentID, store.LinkExpired, store.ActorSystem); err == nil {
			n++
		}
	}
	return n, nil
}

// RunLinkExpiry calls ExpireLinks every interval until ctx ends.
func (ps *Payments) RunLinkExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := ps.ExpireLinks(ctx); err != nil && ctx.Err() == nil {
			ps.log.Warn("payment links: expiry sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// linkView is the link of r, a stored digital payment.
func (r Ref) linkView() *LinkView {
	l := r.link
	st, _ := linkStateText.Parse([]byte(l.State))
	v := &LinkView{State: st, Expires: l.ExpiresAt.UTC(), Phone: l.Phone, Attempts: l.Attempts,
		FailedAttempts: l.FailedAttempts, MaxAttempts: l.MaxAttempts, Opened: l.OpenedAt.UTC(), Messages: []MessageView{}}
	if l.OpenedAt.IsZero() {
		v.Opened = time.Time{}
	}
	for _, m := range r.messages {
		v.Messages = append(v.Messages, MessageView{ID: m.ID, To: m.To, Provider: m.Provider, State: m.State,
			Attempts: m.Attempts, ErrorCode: m.ErrorCode, Updated: m.UpdatedAt.UTC()})
	}
	if lk := r.ps.links; lk != nil {
		lk.mu.Lock()
		if pr := lk.present[l.PaymentID]; pr != nil {
			v.Present = pr.on
		}
		if a := lk.last[l.PaymentID]; a != nil {
			cp := *a
			v.LastAttempt = &cp
		}
		lk.mu.Unlock()
	}
	return v
}

// Digital reports whether the payment is a digital one.
func (r Ref) Digital() bool { return r.link != nil }

// The call's one-payment-at-a-time rule, for digital payments.

// holdDigital makes the digital payment id the call's payment in
// progress until its link closes or the call ends.
func (s *Set) holdDigital(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.digital = id
}

// releaseDigital frees the call when id is its digital payment.
func (s *Set) releaseDigital(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.digital == id {
		s.digital = ""
	}
}

// digitalInProgress returns the call's open digital payment, or "".
func (s *Set) digitalInProgress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.digital
}

// ReasonLinkExpired: a digital payment's link ran out of time.
const ReasonLinkExpired = "link expired"

var _ Desk = (*Payments)(nil)
