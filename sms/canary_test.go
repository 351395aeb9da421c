package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"dtmfgw/internal/testkit"
)

// canaryToken is a payment link token that appears nowhere else: the
// canary test searches every log line, error and status for it.
const canaryToken = "TOKEN-CANARY-5f0c8a2e9b7d41e3"

// leakyProvider is a provider of someone else's that puts the text it
// was given in its errors, the first time.
type leakyProvider struct{ calls int }

func (p *leakyProvider) Name() string { return "leaky" }

func (p *leakyProvider) Send(_ context.Context, m Message) (Receipt, error) {
	p.calls++
	if p.calls == 1 {
		return Receipt{}, errors.New("could not deliver " + m.Body + " to " + m.To)
	}
	return Receipt{ProviderID: "leaky-1", Status: "sent"}, nil
}

// TestCanaryNeverLeaks sends a message whose Body holds canaryToken
// through every provider and every kind of answer — success, retry, a
// provider error that echoes the text and the number, a timeout, an
// answer that is not JSON, an error of a provider not ours — with every
// part logging at debug level into one buffer, and then searches the
// logs, the errors and the statuses for the token and for the number.
func TestCanaryNeverLeaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs testkit.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		rep := newReports()
		var errs []error
		m := linkMessage(t, "pay_canary", canaryToken)
		echo := "Message '" + m.Body + "' to " + m.To + " refused"

		// The Outbox, through a Sender.
		outbox, err := NewOutbox(WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		viaOutbox := newTestSender(t, outbox, WithLogger(log), WithReport(rep.add))
		errs = append(errs, viaOutbox.Send(m))
		rep.final(t, m.ID)

		// Twilio, directly, with each kind of failure.
		f := newFakeTwilio(t)
		tw := newTestTwilio(t, f.config(fakeBase), WithHTTPClient(f.client()), WithLogger(log))
		f.push(
			fakeAnswer{status: 400, code: 21211, message: echo},
			fakeAnswer{status: 400, code: 21617, message: "The concatenated message body exceeds the 1600 character limit: " + m.Body[:70] + "…"},
			fakeAnswer{status: 500, raw: "<html>" + m.Body + "</html>"},
			fakeAnswer{status: 201, raw: m.Body},
			fakeAnswer{hang: true},
			fakeAnswer{status: 201},
		)
		for range 6 {
			_, err := tw.Send(t.Context(), m)
			errs = append(errs, err)
		}
		if n := len(f.requests()); n != 6 {
			t.Fatalf("the fake got %d requests, want 6", n)
		}

		// Twilio through a Sender: an echoing 429, then taken.
		m2 := m
		m2.ID = "canary-2"
		f.push(fakeAnswer{status: 429, code: 20429, message: echo})
		viaTwilio := newTestSender(t, tw, WithLogger(log), WithReport(rep.add))
		errs = append(errs, viaTwilio.Send(m2))
		if st := rep.final(t, m2.ID); st.State != StateSent || st.Attempts != 2 {
			t.Errorf("through Twilio: %+v", st)
		}

		// A provider not ours that echoes the text in its error.
		m3 := m
		m3.ID = "canary-3"
		viaLeaky := newTestSender(t, &leakyProvider{}, WithLogger(log), WithReport(rep.add))
		errs = append(errs, viaLeaky.Send(m3))
		if st := rep.final(t, m3.ID); st.State != StateSent || st.Attempts != 2 {
			t.Errorf("through the leaky provider: %+v", st)
		}

		// The withheld echo is visible as withheld.
		if e, ok := errors.AsType[*Error](errs[1]); !ok || e.Message != withheld || e.Code != "21211" {
			t.Errorf("the echoing 21211: %v", errs[1])
		}
		if !strings.Contains(logs.String(), withheld) {
			t.Error("the leaky provider's error was not withheld in the log")
		}

		var texts []string
		for _, err := range errs {
			if err != nil {
				texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			}
		}
		for _, id := range []string{m.ID, m2.ID, m3.ID} {
			for _, st := range rep.of(id) {
				texts = append(texts, fmt.Sprintf("%+v", st))
			}
		}
		texts = append(texts, logs.String())
		for _, s := range texts {
			if strings.Contains(s, "TOKEN-CANARY") || strings.Contains(s, canaryToken[len(canaryToken)-secretWindow:]) {
				t.Errorf("the token leaked: %s", s)
			}
			if strings.Contains(s, "7700900123") {
				t.Errorf("the number leaked: %s", s)
			}
		}
		if logs.Len() == 0 || !strings.Contains(logs.String(), "sms sent") {
			t.Error("nothing was logged: the test searched nothing")
		}
	})
}
