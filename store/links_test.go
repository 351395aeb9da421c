package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func hashOf(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// digital creates a digital payment whose link lasts ttl and locks after
// maxAttempts failed attempts.
func digital(t *testing.T, s *Store, clock interface{ Now() time.Time }, token string, ttl time.Duration, maxAttempts int) (Payment, Link) {
	t.Helper()
	p := samplePayment("call-d")
	p.ID = NewID()
	p.Amount, p.Currency, p.Processor = 1250, "GBP", "sandbox"
	p, l, err := s.CreateDigitalPayment(ctxT(t), p, Link{TokenHash: hashOf(token), ExpiresAt: clock.Now().Add(ttl), MaxAttempts: maxAttempts},
		Entry{Actor: ActorAPI, Action: "payment.created"})
	if err != nil {
		t.Fatalf("CreateDigitalPayment: %v", err)
	}
	return p, l
}

func attempt(key string) Attempt {
	return Attempt{IdempotencyKey: key, Brand: "visa", Last4: "4242", Amount: 1250, Currency: "GBP", Processor: "sandbox",
		Entry: Entry{Actor: ActorSystem, Action: "payment.processing"}}
}

func outcome(st State, code string) Result {
	return Result{State: st, DeclineCode: code, Entry: Entry{Actor: ActorSystem, Action: "payment.result"}}
}

func TestDigitalPaymentLink(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		p, l := digital(t, s, clock, "tok-1", 72*time.Hour, 3)
		if p.Type != TypeDigital || l.State != LinkCreated || l.PaymentID != p.ID {
			t.Fatalf("created %v / %+v", p.Type, l)
		}
		got, err := s.LinkByTokenHash(ctx, hashOf("tok-1"))
		if err != nil || got.PaymentID != p.ID || got.MaxAttempts != 3 {
			t.Fatalf("LinkByTokenHash = %+v, %v", got, err)
		}
		if _, err := s.LinkByTokenHash(ctx, hashOf("forged")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a forged token's hash: %v, want ErrNotFound", err)
		}
		sp, err := s.GetPayment(ctx, p.ID)
		if err != nil || sp.Type != TypeDigital {
			t.Fatalf("GetPayment type %q, %v", sp.Type, err)
		}

		// Sent, opened: the state moves on, a second send keeps it opened.
		if l, err = s.UpdateLink(ctx, p.ID, LinkChange{To: LinkSent, Phone: "+447700900123", Entry: Entry{Actor: ActorAgent, Action: "link.sent"}}); err != nil || l.State != LinkSent || l.Phone != "+447700900123" {
			t.Fatalf("sent: %+v, %v", l, err)
		}
		if l, err = s.UpdateLink(ctx, p.ID, LinkChange{To: LinkOpened, Entry: Entry{Actor: ActorSystem, Action: "link.opened"}}); err != nil || l.State != LinkOpened || l.OpenedAt.IsZero() {
			t.Fatalf("opened: %+v, %v", l, err)
		}
		if l, err = s.UpdateLink(ctx, p.ID, LinkChange{To: LinkSent, Entry: Entry{Actor: ActorAgent, Action: "link.sent"}}); err != nil || l.State != LinkOpened {
			t.Fatalf("sent again: %+v, %v", l, err)
		}

		// A decline with attempts left: back to created, the key free for
		// the next card.
		if _, _, err := s.BeginAttempt(ctx, p.ID, attempt("k-1")); err != nil {
			t.Fatalf("BeginAttempt: %v", err)
		}
		if _, _, err := s.BeginAttempt(ctx, p.ID, attempt("k-x")); !errors.Is(err, ErrConflict) {
			t.Fatalf("a second attempt while one is under way: %v, want ErrConflict", err)
		}
		p2, l2, err := s.FinishAttempt(ctx, p.ID, outcome(StateDeclined, "card_declined"))
		if err != nil || p2.State != StateCreated || p2.IdempotencyKey != "" || l2.FailedAttempts != 1 || l2.State != LinkOpened {
			t.Fatalf("declined attempt: %+v / %+v, %v", p2, l2, err)
		}
		// A card the checks refused counts too.
		if p2, l2, err = s.RefuseAttempt(ctx, p.ID, Entry{Actor: ActorSystem, Action: "payment.attempt_refused"}); err != nil || p2.State != StateCreated || l2.FailedAttempts != 2 {
			t.Fatalf("refused attempt: %+v / %+v, %v", p2, l2, err)
		}
		// The next card is approved: paid, final, a webhook delivery queued.
		if _, _, err := s.BeginAttempt(ctx, p.ID, attempt("k-2")); err != nil {
			t.Fatalf("BeginAttempt 2: %v", err)
		}
		p2, l2, err = s.FinishAttempt(ctx, p.ID, outcome(StateApproved, ""))
		if err != nil || p2.State != StateApproved || p2.IdempotencyKey != "k-2" || l2.State != LinkPaid || l2.Attempts != 2 {
			t.Fatalf("approved attempt: %+v / %+v, %v", p2, l2, err)
		}
		if _, _, err := s.BeginAttempt(ctx, p.ID, attempt("k-3")); !errors.Is(err, ErrLinkClosed) {
			t.Fatalf("an attempt on a paid link: %v, want ErrLinkClosed", err)
		}
		audit, err := s.Audit(ctx, p.ID)
		if err != nil || len(audit) != 9 {
			t.Fatalf("audit has %d entries (%v), want 9: %+v", len(audit), err, audit)
		}
	})
}

func TestDigitalPaymentLocks(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		p, _ := digital(t, s, clock, "tok-2", time.Hour, 2)
		if _, _, err := s.BeginAttempt(ctx, p.ID, attempt("k-1")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.FinishAttempt(ctx, p.ID, outcome(StateDeclined, "do_not_honor")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.BeginAttempt(ctx, p.ID, attempt("k-2")); err != nil {
			t.Fatal(err)
		}
		p2, l2, err := s.FinishAttempt(ctx, p.ID, outcome(StateDeclined, "do_not_honor"))
		if err != nil || p2.State != StateDeclined || l2.State != LinkLocked || l2.FailedAttempts != 2 {
			t.Fatalf("last declined attempt: %+v / %+v, %v", p2, l2, err)
		}
		if _, err := s.UpdateLink(ctx, p.ID, LinkChange{To: LinkOpened, Entry: Entry{Actor: ActorSystem, Action: "link.opened"}}); !errors.Is(err, ErrLinkClosed) {
			t.Fatalf("opening a locked link: %v, want ErrLinkClosed", err)
		}
		// Refused cards lock too, and fail the payment.
		q, _ := digital(t, s, clock, "tok-3", time.Hour, 1)
		q2, l3, err := s.RefuseAttempt(ctx, q.ID, Entry{Actor: ActorSystem, Action: "payment.attempt_refused"})
		if err != nil || q2.State != StateFailed || l3.State != LinkLocked {
			t.Fatalf("refused last attempt: %+v / %+v, %v", q2, l3, err)
		}
	})
}

func TestDigitalPaymentExpiresAndCancels(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		p, _ := digital(t, s, clock, "tok-4", time.Hour, 3)
		if ls, err := s.OpenLinksExpiring(ctx, clock.Now(), 10); err != nil || len(ls) != 0 {
			t.Fatalf("expiring now: %d, %v", len(ls), err)
		}
		clock.Advance(time.Hour)
		if _, err := s.UpdateLink(ctx, p.ID, LinkChange{To: LinkOpened, Entry: Entry{Actor: ActorSystem, Action: "link.opened"}}); !errors.Is(err, ErrLinkClosed) {
			t.Fatalf("opening a link whose time ran out: %v, want ErrLinkClosed", err)
		}
		if _, _, err := s.BeginAttempt(ctx, p.ID, attempt("k-1")); !errors.Is(err, ErrLinkClosed) {
			t.Fatalf("paying a link whose time ran out: %v, want ErrLinkClosed", err)
		}
		ls, err := s.OpenLinksExpiring(ctx, clock.Now(), 10)
		if err != nil || len(ls) != 1 || ls[0].PaymentID != p.ID {
			t.Fatalf("expiring after an hour: %+v, %v", ls, err)
		}
		p2, l2, err := s.CloseLink(ctx, p.ID, LinkExpired, Entry{Actor: ActorSystem, Action: "link.expired"})
		if err != nil || p2.State != StateTimedOut || l2.State != LinkExpired {
			t.Fatalf("expired: %+v / %+v, %v", p2, l2, err)
		}
		if _, _, err := s.CloseLink(ctx, p.ID, LinkCancelled, Entry{Actor: ActorAgent, Action: "link.cancelled"}); !errors.Is(err, ErrLinkClosed) {
			t.Fatalf("cancelling an expired link: %v, want ErrLinkClosed", err)
		}

		q, _ := digital(t, s, clock, "tok-5", time.Hour, 3)
		if _, _, err := s.BeginAttempt(ctx, q.ID, attempt("k-q")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CloseLink(ctx, q.ID, LinkCancelled, Entry{Actor: ActorAgent, Action: "link.cancelled"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("cancelling a link being paid: %v, want ErrConflict", err)
		}
	})
}

func TestSMSMessages(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		p, _ := digital(t, s, clock, "tok-6", time.Hour, 3)
		m := Message{ID: NewMessageID(), PaymentID: p.ID, To: "+447700900123", Provider: "outbox", State: "queued"}
		if err := s.RecordMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		m.State, m.Attempts, m.ProviderID = "sent", 2, "SMabc"
		if err := s.UpdateMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		ms, err := s.Messages(ctx, p.ID)
		if err != nil || len(ms) != 1 || ms[0].State != "sent" || ms[0].Attempts != 2 || ms[0].To != "+447700900123" {
			t.Fatalf("Messages = %+v, %v", ms, err)
		}
		if err := s.UpdateMessage(ctx, Message{ID: "sms_none", State: "bogus"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a bad state: %v", err)
		}
		if err := s.RecordMessage(ctx, Message{ID: NewMessageID(), PaymentID: "pay_none", To: "+1", Provider: "outbox", State: "queued"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a message of no payment: %v, want ErrNotFound", err)
		}
	})
}

// A payment stored before its configuration and type were chosen (it
// waited for the agent) gets its configuration once while created, or
// becomes a digital payment with its link in one transaction; neither
// after it has moved on.
func TestWaitingPaymentChosen(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		clock := newTestClock()
		s := openStore(t, dsn, clock)
		waiting := func() Payment {
			t.Helper()
			p := samplePayment("call-w")
			p.ID, p.ConfigurationID, p.Amount, p.Processor = NewID(), "", 0, ""
			p, err := s.CreatePayment(ctx, p, Entry{Actor: ActorAPI, Action: "payment.created", Detail: "awaiting a configuration"})
			if err != nil {
				t.Fatalf("CreatePayment: %v", err)
			}
			return p
		}
		created := Entry{Actor: ActorAgent, Action: "payment.configured"}

		p := waiting()
		got, err := s.UpdateState(ctx, p.ID, Change{From: StateCreated, To: StateCollecting, ConfigurationID: "card", Entry: created})
		if err != nil || got.ConfigurationID != "card" || got.State != StateCollecting {
			t.Fatalf("configuration chosen: %+v, %v", got, err)
		}
		if got, err = s.GetPayment(ctx, p.ID); err != nil || got.ConfigurationID != "card" {
			t.Fatalf("stored: %+v, %v", got, err)
		}
		if _, err := s.UpdateState(ctx, p.ID, Change{From: StateCollecting, To: StateReady, ConfigurationID: "other", Entry: created}); !errors.Is(err, ErrConflict) {
			t.Fatalf("a second configuration: %v, want ErrConflict", err)
		}

		q := waiting()
		d := Payment{ID: q.ID, ConfigurationID: "card", Amount: 1250, Currency: "GBP", Reference: "INV-9", Processor: "sandbox", AgentID: "agent-7"}
		link := Link{TokenHash: hashOf("tok-w"), ExpiresAt: clock.Now().Add(time.Hour), MaxAttempts: 3}
		dp, dl, err := s.MakeDigital(ctx, d, link, Entry{Actor: ActorAgent, Action: "payment.created", Detail: "digital"})
		if err != nil || dp.Type != TypeDigital || dp.ConfigurationID != "card" || dp.Amount != 1250 || dp.AgentID != "agent-7" || dl.State != LinkCreated {
			t.Fatalf("MakeDigital: %+v / %+v, %v", dp, dl, err)
		}
		if l, err := s.LinkByTokenHash(ctx, hashOf("tok-w")); err != nil || l.PaymentID != q.ID {
			t.Fatalf("the link: %+v, %v", l, err)
		}
		if sp, err := s.GetPayment(ctx, q.ID); err != nil || sp.Type != TypeDigital || sp.Processor != "sandbox" {
			t.Fatalf("stored: %+v, %v", sp, err)
		}
		// Once digital, or once ended, it is not made digital (again).
		link.TokenHash = hashOf("tok-w2")
		if _, _, err := s.MakeDigital(ctx, d, link, Entry{Actor: ActorAgent, Action: "payment.created"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("made digital twice: %v, want ErrConflict", err)
		}
		r := waiting()
		if _, err := s.UpdateState(ctx, r.ID, Change{From: StateCreated, To: StateCancelled, Entry: Entry{Actor: ActorAgent, Action: "payment.ended"}}); err != nil {
			t.Fatal(err)
		}
		d.ID, link.TokenHash = r.ID, hashOf("tok-w3")
		if _, _, err := s.MakeDigital(ctx, d, link, Entry{Actor: ActorAgent, Action: "payment.created"}); !errors.Is(err, ErrFinal) {
			t.Fatalf("an ended payment made digital: %v, want ErrFinal", err)
		}
		if _, err := s.LinkByTokenHash(ctx, hashOf("tok-w3")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused MakeDigital left a link: %v", err)
		}
	})
}
