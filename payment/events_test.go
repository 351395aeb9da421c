package payment

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// drain returns what a subscription holds now, without waiting.
func drain(s *Subscription) (events []Event, open bool) {
	for {
		select {
		case e, ok := <-s.C():
			if !ok {
				return events, false
			}
			events = append(events, e)
		default:
			return events, true
		}
	}
}

func TestEventBusSlowSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := NewEventBus(func() time.Time { return at })
	fast, err := b.Subscribe(1000)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := b.Subscribe(3)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		// Nobody reads slow: publish must return at once every time.
		b.publish(Event{Type: EventFieldLength, Field: "card_number", Length: i % 20})
	}
	got, open := drain(fast)
	if len(got) != n || !open {
		t.Fatalf("fast subscriber got %d events (open %v), want %d", len(got), open, n)
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || !e.At.Equal(at) {
			t.Fatalf("event %d: seq %d at %v", i, e.Seq, e.At)
		}
	}
	kept, open := drain(slow)
	if len(kept) != 3 || open || !slow.Dropped() || fast.Dropped() {
		t.Errorf("slow subscriber: %d events, open %v, dropped %v", len(kept), open, slow.Dropped())
	}
	st := b.Stats()
	if st.Published != n || st.Dropped != 1 || st.Subscribers != 1 {
		t.Errorf("stats %+v", st)
	}

	// The dropped subscriber resumes after the last Seq it saw.
	resumed, complete, err := b.SubscribeAfter(kept[len(kept)-1].Seq, MaxSubscriberBuffer)
	if err != nil {
		t.Fatal(err)
	}
	replayed, _ := drain(resumed)
	if complete || len(replayed) != replayLen || replayed[0].Seq != n-replayLen+1 {
		t.Errorf("resume after 3 of %d: complete %v, %d events from %d", n, complete, len(replayed), replayed[0].Seq)
	}
	resumed2, complete, _ := b.SubscribeAfter(n-10, 0)
	replayed, _ = drain(resumed2)
	if !complete || len(replayed) != 10 || replayed[0].Seq != n-9 {
		t.Errorf("resume after %d: complete %v, %d events", n-10, complete, len(replayed))
	}
	resumed3, complete, _ := b.SubscribeAfter(n-10, 4)
	replayed, _ = drain(resumed3)
	if complete || len(replayed) != 4 {
		t.Errorf("resume into a small buffer: complete %v, %d events", complete, len(replayed))
	}
	resumed3.Close()
	resumed3.Close()

	b.Close()
	if _, open := drain(fast); open {
		t.Error("a subscription outlived the bus")
	}
	late, err := b.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, open := drain(late); open {
		t.Error("a subscription to a closed bus is open")
	}
	b.publish(Event{Type: EventState})
	if b.LastSeq() != n {
		t.Errorf("published after Close: seq %d", b.LastSeq())
	}
}

func TestEventBusBoundsSubscribers(t *testing.T) {
	b := NewEventBus(nil)
	var subs []*Subscription
	for range maxSubscribers {
		s, err := b.Subscribe(1)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if _, err := b.Subscribe(1); !errors.Is(err, ErrBusFull) {
		t.Errorf("subscriber %d: %v", maxSubscribers+1, err)
	}
	subs[0].Close()
	if _, err := b.Subscribe(1); err != nil {
		t.Errorf("after a Close: %v", err)
	}
}

func TestEventJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		e    Event
		want string
	}{
		{Event{Seq: 1, At: at, Type: EventFieldArmed, CallID: "c", PaymentID: "p", Field: "expiry"},
			`{"seq":1,"at":"2026-01-02T03:04:05Z","type":"field_armed","call_id":"c","payment_id":"p","field":"expiry"}`},
		{Event{Seq: 2, At: at, Type: EventFieldComplete, Field: "card_number", Length: 16, Complete: true, Valid: true, Brand: BrandVisa, MaskedPAN: "•••• 4242"},
			`{"seq":2,"at":"2026-01-02T03:04:05Z","type":"field_complete","field":"card_number","length":16,"complete":true,"valid":true,"brand":"visa","masked_pan":"•••• 4242"}`},
		{Event{Seq: 3, At: at, Type: EventState, State: StateTimedOut, Reason: ReasonSessionTimeout},
			`{"seq":3,"at":"2026-01-02T03:04:05Z","type":"state","state":"timed_out","reason":"session timeout"}`},
		{Event{Seq: 4, At: at, Type: EventRemaining, Deadline: at.Add(time.Minute), Remaining: 60},
			`{"seq":4,"at":"2026-01-02T03:04:05Z","type":"remaining","deadline":"2026-01-02T03:05:05Z","remaining_seconds":60}`},
		{Event{Seq: 5, At: at, Type: EventAgentState, AgentState: AgentBusyOutReturn},
			`{"seq":5,"at":"2026-01-02T03:04:05Z","type":"agent_state","agent_state":"Busy Out Return"}`},
		{Event{Seq: 6, At: at, Type: EventResult, State: StateApproved, Result: &Result{State: StateApproved, ProcessorReference: "ch_1", Brand: BrandAmex, Last4: "0005", Amount: 1999, Currency: "GBP"}},
			`{"seq":6,"at":"2026-01-02T03:04:05Z","type":"result","state":"approved","result":{"state":"approved","processor_reference":"ch_1","brand":"amex","last4":"0005","amount":1999,"currency":"GBP"}}`},
	}
	for _, tc := range cases {
		b, err := json.Marshal(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("got  %s\nwant %s", b, tc.want)
		}
	}
	if _, err := json.Marshal(Event{Type: 99}); err == nil || !strings.Contains(err.Error(), "event type") {
		t.Errorf("an unknown type marshalled: %v", err)
	}
}

// TestEventFieldDescription: the field events a payment publishes carry
// the field's kind, the required fields left and, for a card number of a
// refused brand, BrandRefused; none of it reaches the JSON.
func TestEventFieldDescription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.AcceptedBrands = []Brand{BrandAmex} })
		p := e.newPayment()
		if err := p.Arm("card_number"); err != nil {
			t.Fatal(err)
		}
		armed, _ := e.last(EventFieldArmed, "card_number")
		if armed.Kind != FieldCardNumber || !slices.Equal(armed.Missing, []string{"card_number", "expiry", "security_code"}) {
			t.Errorf("armed: kind %v, missing %v", armed.Kind, armed.Missing)
		}
		e.keys(visa) // well formed, but Visa is not accepted
		refused, _ := e.last(EventFieldComplete, "card_number")
		if refused.Valid || !refused.BrandRefused || len(refused.Missing) != 3 {
			t.Errorf("a refused brand: %+v", refused)
		}
		if err := p.Clear("card_number"); err != nil {
			t.Fatal(err)
		}
		e.keys("5555555555554443") // Mastercard (refused too), but mistyped: Luhn fails first
		mistyped, _ := e.last(EventFieldComplete, "card_number")
		if mistyped.Valid || mistyped.BrandRefused {
			t.Errorf("a mistyped number: %+v", mistyped)
		}
		if err := p.Clear("card_number"); err != nil {
			t.Fatal(err)
		}
		e.keys(amex)
		ok, _ := e.last(EventFieldComplete, "card_number")
		if !ok.Valid || ok.BrandRefused || !slices.Equal(ok.Missing, []string{"expiry", "security_code"}) {
			t.Errorf("a valid number: %+v", ok)
		}
		e.keys("1230")
		exp, _ := e.last(EventFieldLength, "expiry")
		if exp.Kind != FieldExpiry {
			t.Errorf("expiry length event: kind %v", exp.Kind)
		}
		for _, ev := range e.all {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			bare := ev
			bare.Kind, bare.Missing, bare.BrandRefused = 0, nil, false
			want, _ := json.Marshal(bare)
			if string(b) != string(want) {
				t.Errorf("the description reached the JSON: %s", b)
			}
			if ev.Type == EventState && (ev.Kind != 0 || ev.Missing != nil) {
				t.Errorf("a state event described as a field's: %+v", ev)
			}
		}
	})
}
