package processor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"
)

// Sandbox is the built-in processor (the default): it answers after a
// realistic delay according to the documented test cards (doc.go,
// docs/processor.md), moves no money and keeps its ledger in memory. Each
// idempotency key is charged once: the same key again returns the first
// outcome.
type Sandbox struct {
	name     string
	timeout  time.Duration
	minDelay time.Duration
	maxDelay time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu     sync.Mutex
	ledger map[string]*sandboxCharge
	order  []string // keys in arrival order, oldest first, for eviction
}

// MaxSandboxLedger bounds the sandbox's ledger: the oldest charges are
// forgotten beyond it (Reconcile then says ErrNotFound), so a long demo
// cannot grow memory without bound.
const MaxSandboxLedger = 100_000

// sandboxCharge is what the sandbox remembers of a charge: never card
// data, only what an idempotent replay must match and the outcome.
type sandboxCharge struct {
	amount    int64
	currency  string
	reference string
	tokenize  bool
	result    Result
}

func newSandbox(name string, cfg Config, o options) *Sandbox {
	return &Sandbox{
		name:     name,
		timeout:  cfg.Timeout,
		minDelay: cfg.MinDelay,
		maxDelay: cfg.MaxDelay,
		now:      o.Now,
		log:      o.Log,
		ledger:   make(map[string]*sandboxCharge),
	}
}

// Name implements Processor.
func (s *Sandbox) Name() string { return s.name }

// sandboxOutcome is what a card makes the sandbox do.
type sandboxOutcome struct {
	result Result
	// hang: the answer never comes (the caller's deadline ends the call).
	hang bool
	// lost: the request never reaches the processor, so nothing is
	// recorded (with hang).
	lost bool
}

// Test cards (see doc.go). The first five mean the same to Stripe's test
// mode; the timeout and error cards are the sandbox's own.
const (
	cardVisaApproved       = "4242424242424242"
	cardMastercardApproved = "5555555555554444"
	cardAmexApproved       = "378282246310005"
	cardDoNotHonor         = "4000000000000002"
	cardInsufficientFunds  = "4000000000009995"
	cardTimeoutCharged     = "4000000000004087"
	cardTimeoutLost        = "4000000000005043"
	cardProcessorError     = "4000000000005001"
)

// Messages of the sandbox's results.
const (
	msgApproved          = "approved"
	msgSaved             = "card saved"
	msgDoNotHonor        = "declined by the issuer: do not honor"
	msgInsufficientFunds = "declined: insufficient funds"
	msgIncorrectNumber   = "declined: the card number is not valid"
	msgExpired           = "declined: the card has expired"
	msgIncorrectCVC      = "declined: the security code is not valid for this card"
	msgProcessorError    = "the processor could not process the charge; nothing was charged"
)

// decide is the sandbox's whole card logic: what a card number, expiry and
// code lead to at time now. It reads req's card fields and keeps nothing.
func decide(req *Request, now time.Time) sandboxOutcome {
	declined := func(code, msg string) sandboxOutcome {
		return sandboxOutcome{result: Result{Status: Declined, DeclineCode: code, Message: msg}}
	}
	if !luhn(req.PAN) {
		return declined("incorrect_number", msgIncorrectNumber)
	}
	// A card is valid through the last day of its expiry month.
	y, m, _ := now.UTC().Date()
	if req.ExpYear < y || req.ExpYear == y && req.ExpMonth < int(m) {
		return declined("expired_card", msgExpired)
	}
	// American Express (IIN 34, 37) has a four-digit code, the others
	// three.
	wantCVC := 3
	if len(req.PAN) >= 2 && req.PAN[0] == '3' && (req.PAN[1] == '4' || req.PAN[1] == '7') {
		wantCVC = 4
	}
	if len(req.CVC) != wantCVC {
		return declined("incorrect_cvc", msgIncorrectCVC)
	}
	// string(b) == constant compiles to a comparison without a copy.
	switch {
	case string(req.PAN) == cardDoNotHonor:
		return declined("do_not_honor", msgDoNotHonor)
	case string(req.PAN) == cardInsufficientFunds:
		return declined("insufficient_funds", msgInsufficientFunds)
	case string(req.PAN) == cardTimeoutCharged:
		return sandboxOutcome{result: Result{Status: Approved, Message: msgApproved}, hang: true}
	case string(req.PAN) == cardTimeoutLost:
		return sandboxOutcome{hang: true, lost: true}
	case string(req.PAN) == cardProcessorError:
		return sandboxOutcome{result: Result{Status: Failed, DeclineCode: "processing_error", Message: msgProcessorError}}
	}
	// The approved test cards, and any other valid card.
	return sandboxOutcome{result: Result{Status: Approved, Message: msgApproved}}
}

// luhn reports whether the digits pass the Luhn check (ISO/IEC 7812-1
// annex B). Non-digits fail.
func luhn(pan []byte) bool {
	if len(pan) == 0 {
		return false
	}
	sum := 0
	for i := range pan {
		c := pan[len(pan)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// Charge implements Processor. It answers after a delay drawn between the
// configured bounds; the timeout cards never answer, so the call ends at
// the deadline (the configured timeout, or ctx's if sooner) with Unknown.
func (s *Sandbox) Charge(ctx context.Context, req *Request) (Result, error) {
	if err := req.Validate(); err != nil {
		return Result{Status: Failed, Message: "invalid request; nothing was charged"}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	key := req.IdempotencyKey

	s.mu.Lock()
	charge, replay := s.ledger[key]
	var out sandboxOutcome
	switch {
	case replay:
		if charge.amount != req.Amount || charge.currency != req.Currency || charge.reference != req.Reference || charge.tokenize != req.Tokenize {
			s.mu.Unlock()
			s.log.Warn("processor charge refused: idempotency key reused with different parameters",
				"processor", s.name, "idempotency_key", key)
			return Result{Status: Failed, Message: "idempotency key reused with different parameters; nothing was charged"},
				fmt.Errorf("%w (processor %s)", ErrIdempotencyMismatch, s.name)
		}
		// The processor answers a replay with the first outcome.
		out = sandboxOutcome{result: charge.result}
	default:
		out = decide(req, s.now())
		if !out.lost {
			if out.result.Status == Approved || out.result.Status == Declined {
				out.result.Reference = newSandboxReference()
			}
			if req.Tokenize && out.result.Status == Approved {
				// A card saved: the same cards decline, nothing is taken.
				out.result.Token, out.result.Message = newSandboxToken(), msgSaved
			}
			s.record(key, &sandboxCharge{amount: req.Amount, currency: req.Currency, reference: req.Reference, tokenize: req.Tokenize, result: out.result})
		}
	}
	s.mu.Unlock()

	if out.hang {
		<-ctx.Done()
		res, err := unanswered(ctx, s.name)
		s.logResult("processor charge", key, res, replay)
		return res, err
	}
	if err := s.wait(ctx); err != nil {
		res, err := unanswered(ctx, s.name)
		s.logResult("processor charge", key, res, replay)
		return res, err
	}
	s.logResult("processor charge", key, out.result, replay)
	return out.result, nil
}

// Reconcile implements Processor: what the sandbox decided when the charge
// arrived, after the same delay as a charge; ErrNotFound when it never
// arrived (the lost-request card) or was evicted from the ledger.
func (s *Sandbox) Reconcile(ctx context.Context, idempotencyKey string) (Result, error) {
	if err := ValidateIdempotencyKey(idempotencyKey); err != nil {
		return Result{Status: Unknown}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.wait(ctx); err != nil {
		return unanswered(ctx, s.name)
	}
	s.mu.Lock()
	charge, ok := s.ledger[idempotencyKey]
	s.mu.Unlock()
	if !ok {
		s.log.Info("processor reconcile: no charge under this key", "processor", s.name, "idempotency_key", idempotencyKey)
		return Result{Status: Unknown, Message: "the processor has no charge under this key"},
			fmt.Errorf("%w (processor %s)", ErrNotFound, s.name)
	}
	s.logResult("processor reconcile", idempotencyKey, charge.result, false)
	return charge.result, nil
}

// record adds a charge to the ledger, forgetting the oldest beyond
// MaxSandboxLedger. s.mu is held.
func (s *Sandbox) record(key string, c *sandboxCharge) {
	s.ledger[key] = c
	s.order = append(s.order, key)
	if len(s.order) > MaxSandboxLedger {
		n := len(s.order) - MaxSandboxLedger
		for _, k := range s.order[:n] {
			delete(s.ledger, k)
		}
		s.order = append(s.order[:0], s.order[n:]...)
	}
}

// wait sleeps for one answer delay, or until ctx ends (then its error).
func (s *Sandbox) wait(ctx context.Context) error {
	d := s.minDelay
	if span := s.maxDelay - s.minDelay; span > 0 {
		d += time.Duration(mrand.Int64N(int64(span) + 1))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sandbox) logResult(msg, key string, r Result, replay bool) {
	level := slog.LevelInfo
	if r.Status == Unknown {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, msg, "processor", s.name, "idempotency_key", key,
		"status", r.Status, "decline_code", r.DeclineCode, "reference", r.Reference, "replay", replay)
}

// unanswered is the Result and error of a call whose context ended before
// the processor answered: the charge may have been taken.
func unanswered(ctx context.Context, name string) (Result, error) {
	res := Result{Status: Unknown, Message: "no answer from the processor in time; the payment will be reconciled"}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return res, fmt.Errorf("%w (processor %s)", ErrTimeout, name)
	}
	return res, fmt.Errorf("processor %s: cancelled before the answer: %w", name, ctx.Err())
}

// referenceAlphabet spells sandbox charge ids in letters only, so that no
// id ever looks like part of a card number to a leak search.
const referenceAlphabet = "abcdefghjkmnpqrs"

// newSandboxReference returns a fresh sandbox charge id: "sbx_" and 24
// letters (96 random bits).
func newSandboxReference() string { return newSandboxID("sbx_") }

// newSandboxToken is a saved card's token: "sbxtok_" and 24 letters.
func newSandboxToken() string { return newSandboxID("sbxtok_") }

// newSandboxID is prefix and 24 letters of referenceAlphabet (96 random
// bits).
func newSandboxID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	out := make([]byte, 0, len(prefix)+2*len(b))
	out = append(out, prefix...)
	for _, c := range b {
		out = append(out, referenceAlphabet[c>>4], referenceAlphabet[c&0xf])
	}
	return string(out)
}
