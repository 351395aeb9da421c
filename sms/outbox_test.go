package sms

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
)

func newTestOutbox(t *testing.T, opts ...Option) *Outbox {
	t.Helper()
	b, err := NewOutbox(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOutboxKeepsTheLastN: the ring keeps the newest messages, oldest
// first, and forgets the rest.
func TestOutboxKeepsTheLastN(t *testing.T) {
	clock := testkit.NewSteppingClock(time.Time{}, time.Second)
	b := newTestOutbox(t, WithOutboxSize(3), WithClock(clock.Now))
	var sent []Message
	for i := range 5 {
		m := testMessage(t, i)
		rc, err := b.Send(t.Context(), m)
		if err != nil || rc.Status != "sent" || rc.ProviderID != m.ID {
			t.Fatalf("Send = %+v, %v", rc, err)
		}
		sent = append(sent, m)
	}
	got := b.Messages()
	if len(got) != 3 || b.Len() != 3 {
		t.Fatalf("kept %d (Len %d), want 3", len(got), b.Len())
	}
	for i, om := range got {
		m := sent[2+i]
		if om.ID != m.ID || om.Body != m.Body || om.To != m.To || om.PaymentID != m.PaymentID {
			t.Errorf("Messages()[%d] = %s, want message %d", i, om.ID, 2+i)
		}
		if i > 0 && !om.At.After(got[i-1].At) {
			t.Errorf("Messages() is not oldest first: %v then %v", got[i-1].At, om.At)
		}
	}
	for i, m := range sent {
		om, ok := b.Message(m.ID)
		if ok != (i >= 2) || ok && om.Body != m.Body {
			t.Errorf("Message(%d) = %v, kept %v", i, om, ok)
		}
	}
	// Messages returns a copy.
	got[0].Body = "changed"
	if b.Messages()[0].Body == "changed" {
		t.Error("Messages shares the ring")
	}
}

// TestOutboxDefaultSize: 1000 messages by default.
func TestOutboxDefaultSize(t *testing.T) {
	b := newTestOutbox(t)
	m := testMessage(t, 1)
	first := m.ID
	for i := range DefaultOutboxSize + 1 {
		m.ID = fmt.Sprintf("m%d", i)
		if i == 0 {
			m.ID = first
		}
		if _, err := b.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() != DefaultOutboxSize {
		t.Errorf("Len = %d, want %d", b.Len(), DefaultOutboxSize)
	}
	if _, ok := b.Message(first); ok {
		t.Error("the oldest message is still kept")
	}
	if msgs := b.Messages(); msgs[len(msgs)-1].ID != fmt.Sprintf("m%d", DefaultOutboxSize) {
		t.Errorf("the newest is %s, not last", msgs[len(msgs)-1].ID)
	}
	for _, n := range []int{0, -1, 1_000_001} {
		if _, err := NewOutbox(WithOutboxSize(n)); !errors.Is(err, ErrConfig) {
			t.Errorf("NewOutbox(size %d) = %v", n, err)
		}
	}
}

// TestOutboxSameIDKeptOnce: the same message again (a retry) replaces
// the kept one rather than taking a second place.
func TestOutboxSameIDKeptOnce(t *testing.T) {
	b := newTestOutbox(t, WithOutboxSize(3))
	m := testMessage(t, 1)
	for range 3 {
		if _, err := b.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() != 1 {
		t.Errorf("Len = %d, want 1", b.Len())
	}
}

// TestOutboxLogsNoBody: one line per message, with the masked number, the
// payment id and the Redacted text; never the token or the whole number.
func TestOutboxLogsNoBody(t *testing.T) {
	var logs testkit.Buffer
	b := newTestOutbox(t, WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	const token = "TOKEN-CANARY-outbox-7d1e2f3a4b5c"
	m := linkMessage(t, "pay_42", token)
	if _, err := b.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "\n"); n != 1 {
		t.Errorf("%d log lines, want 1: %s", n, out)
	}
	for _, want := range []string{m.ID, "pay_42", "+44*******123", RedactedMark, "pay.example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log line lacks %q: %s", want, out)
		}
	}
	if strings.Contains(out, token) || strings.Contains(out, "7700900123") {
		t.Errorf("the log line has the token or the number: %s", out)
	}
	if om, _ := b.Message(m.ID); !strings.Contains(om.Body, token) {
		t.Error("the outbox lost the Body it is there to keep")
	}
}

// TestOutboxRefusesInvalid: an invalid message is refused, permanently,
// and not kept.
func TestOutboxRefusesInvalid(t *testing.T) {
	b := newTestOutbox(t)
	m := testMessage(t, 1)
	m.To = "+0"
	if _, err := b.Send(t.Context(), m); !errors.Is(err, ErrInvalidMessage) || !errors.Is(err, ErrPermanent) {
		t.Errorf("Send = %v", err)
	}
	if b.Len() != 0 {
		t.Error("an invalid message was kept")
	}
}

// TestOutboxConcurrent: Send, Messages and Message from many goroutines
// at once (run with -race): the ring stays at its size, the index agrees
// with it.
func TestOutboxConcurrent(t *testing.T) {
	b := newTestOutbox(t, WithOutboxSize(50))
	m := testMessage(t, 1)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				mm := m
				mm.ID = fmt.Sprintf("g%d-%d", g, i)
				if _, err := b.Send(t.Context(), mm); err != nil {
					t.Error(err)
					return
				}
				_ = b.Messages()
				_, _ = b.Message(mm.ID)
			}
		})
	}
	wg.Wait()
	msgs := b.Messages()
	if len(msgs) != 50 {
		t.Fatalf("kept %d, want 50", len(msgs))
	}
	seen := map[string]bool{}
	for _, om := range msgs {
		if seen[om.ID] {
			t.Errorf("%s kept twice", om.ID)
		}
		seen[om.ID] = true
		if got, ok := b.Message(om.ID); !ok || got.ID != om.ID {
			t.Errorf("Message(%s) = %v, %v", om.ID, got, ok)
		}
	}
}

// TestMessageNeverPrintsBody: a message given to fmt or slog by mistake
// shows its Redacted text, never its Body, nor the whole number.
func TestMessageNeverPrintsBody(t *testing.T) {
	const token = "TOKEN-CANARY-print-5e6f7a8b"
	m := linkMessage(t, "pay_1", token)
	om := OutboxMessage{ID: m.ID, To: m.To, Body: m.Body, PaymentID: m.PaymentID}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out = append(out, fmt.Sprintf(verb, m), fmt.Sprintf(verb, om), fmt.Sprintf(verb, &m))
	}
	var logs bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&logs, nil))
	l.Info("oops", "message", m, "outbox_message", om)
	out = append(out, logs.String())
	for _, s := range out {
		if strings.Contains(s, token) || strings.Contains(s, "7700900123") {
			t.Errorf("printed %q", s)
		}
	}
	if !strings.Contains(fmt.Sprint(m), RedactedMark) || !strings.Contains(logs.String(), RedactedMark) {
		t.Errorf("the Redacted text is missing: %v / %s", m, logs.String())
	}
}
