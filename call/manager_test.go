package call

import (
	"context"
	"errors"
	"net"
	"regexp"
	"slices"
	"testing"
	"time"

	"dtmfgw/media"
)

func TestNewCallPortExhaustion(t *testing.T) {
	// Four pairs: two calls, and the third finds none.
	m, _ := newTestManager(t, 4, -1, nil)
	a, err := m.NewCall(Correlation{InboundCallID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewCall(Correlation{InboundCallID: "b"}); err != nil {
		t.Fatal(err)
	}
	_, err = m.NewCall(Correlation{InboundCallID: "c"})
	if !errors.Is(err, media.ErrPortsExhausted) {
		t.Fatalf("third call: %v, want an error wrapping media.ErrPortsExhausted", err)
	}
	st := m.Stats()
	if st.Failed != 1 || st.PortsExhausted != 1 || st.Active != 2 || st.PortPairs != 4 || st.PortPairsInUse != 4 {
		t.Errorf("stats after exhaustion %+v", st)
	}
	// An ended call's ports serve the next one (no drain configured).
	a.End(EndCallerHangup)
	if _, err := m.NewCall(Correlation{InboundCallID: "d"}); err != nil {
		t.Fatalf("call after one ended: %v", err)
	}
}

func TestListFilters(t *testing.T) {
	m, clock := newTestManager(t, 12, -1, nil)
	corrs := []Correlation{
		{InboundCallID: "in-1", OutboundCallID: "out-1", AgentID: "ann", PrimaryCallID: "p-1"},
		{InboundCallID: "in-2", OutboundCallID: "out-2", AgentID: "bob", PrimaryCallID: "p-2"},
		{InboundCallID: "in-3", AgentID: "ann", PrimaryCallID: "p-3", Direction: Outbound},
		{InboundCallID: "in-4"},
	}
	byIn := map[string]*Call{}
	for _, c := range corrs {
		clock.Advance(time.Millisecond) // List is oldest first
		call, err := m.NewCall(c)
		if err != nil {
			t.Fatal(err)
		}
		byIn[c.InboundCallID] = call
	}
	// The SIP layer learns the outbound Call-ID after NewCall.
	byIn["in-3"].UpdateCorrelation(func(c *Correlation) { c.OutboundCallID = "out-3" })
	byIn["in-4"].End(EndCallerCancel)

	cases := []struct {
		name   string
		filter ListFilter
		want   []string
	}{
		{"all", ListFilter{}, []string{"in-1", "in-2", "in-3"}},
		{"agent", ListFilter{AgentID: "ann"}, []string{"in-1", "in-3"}},
		{"primary", ListFilter{PrimaryCallID: "p-2"}, []string{"in-2"}},
		{"agent-and-primary", ListFilter{AgentID: "ann", PrimaryCallID: "p-3"}, []string{"in-3"}},
		{"agent-and-other-primary", ListFilter{AgentID: "ann", PrimaryCallID: "p-2"}, nil},
		{"inbound-call-id", ListFilter{CallID: "in-2"}, []string{"in-2"}},
		{"outbound-call-id-set-later", ListFilter{CallID: "out-3"}, []string{"in-3"}},
		{"ended-call", ListFilter{CallID: "in-4"}, nil},
		{"unknown-agent", ListFilter{AgentID: "eve"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range m.List(tc.filter) {
				got = append(got, c.Correlation().InboundCallID)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("List(%+v) = %v, want %v", tc.filter, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("List(%+v) = %v, want %v", tc.filter, got, tc.want)
				}
			}
		})
	}
	if m.Len() != 3 {
		t.Errorf("Len() = %d, want 3", m.Len())
	}
	c, ok := m.Get(byIn["in-2"].ID())
	if !ok || c != byIn["in-2"] {
		t.Error("Get does not find a live call by its id")
	}
	if _, ok := m.Get(byIn["in-4"].ID()); ok {
		t.Error("Get finds an ended call")
	}
}

func TestCallIDsAreOpaqueAndURLSafe(t *testing.T) {
	m, _ := newTestManager(t, 8, -1, nil)
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	seen := map[string]bool{}
	for range 4 {
		c, err := m.NewCall(Correlation{InboundCallID: "same"})
		if err != nil {
			t.Fatal(err)
		}
		if !urlSafe.MatchString(c.ID()) || seen[c.ID()] {
			t.Errorf("call id %q: not 22 URL-safe characters, or repeated", c.ID())
		}
		seen[c.ID()] = true
		if a, b := c.CallerMediaAddr(), c.AgentMediaAddr(); a.Addr() != loopback || b.Addr() != loopback || a.Port()%2 != 0 || b.Port()%2 != 0 || a == b {
			t.Errorf("media addresses %v and %v: want two even ports on %v", a, b, loopback)
		}
	}
}

func TestAdvertiseAddress(t *testing.T) {
	m, _ := newTestManager(t, 2, -1, func(c *MediaConfig) {
		c.AdvertiseAddress = mustAddr("192.0.2.7")
	})
	c, err := m.NewCall(Correlation{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CallerMediaAddr().Addr(); got != mustAddr("192.0.2.7") {
		t.Errorf("caller media address %v, want the advertised 192.0.2.7", got)
	}
}

func TestCloseReleasesEveryPort(t *testing.T) {
	for _, reactors := range reactorModes(t) {
		t.Run(modeName(reactors), func(t *testing.T) {
			b := newBridge(t, reactors, nil)
			b.callerStream(b.caller, 3)
			idle := b.newCall(Correlation{InboundCallID: "idle"})
			if st := b.m.Stats(); st.PortPairsInUse != 4 {
				t.Fatalf("%d pairs in use, want 4", st.PortPairsInUse)
			}
			if err := b.m.Close(); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*Call{b.c, idle} {
				waitDone(t, c)
				if r := c.EndReason(); r != EndShutdown {
					t.Errorf("%v ended with %v, want shutdown", c, r)
				}
				if _, open := <-c.Presses(); open {
					t.Errorf("%v: digit queue still open", c)
				}
			}
			st := b.m.Stats()
			if st.PortPairsInUse != 0 || st.Active != 0 || st.Ends[EndShutdown] != 2 {
				t.Errorf("stats after Close %+v", st)
			}
			// Every port of the range can be bound again.
			r := b.m.Config().RTPPorts
			for p := r.Min; p <= r.Max; p++ {
				c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
				if err != nil {
					t.Errorf("port %d still held after Close: %v", p, err)
					continue
				}
				c.Close()
			}
			if _, err := b.m.NewCall(Correlation{}); !errors.Is(err, ErrManagerClosed) {
				t.Errorf("NewCall after Close: %v", err)
			}
			if err := b.m.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestWaitIdle(t *testing.T) {
	m, _ := newTestManager(t, 4, -1, nil)
	if err := m.WaitIdle(context.Background()); err != nil {
		t.Fatalf("WaitIdle with no calls: %v", err)
	}
	c, err := m.NewCall(Correlation{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.WaitIdle(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitIdle with a live call and a cancelled context: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.WaitIdle(context.Background()) }()
	c.End(EndAgentHangup)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("WaitIdle did not return after the last call ended")
	}
}

func TestEndReasonLabels(t *testing.T) {
	seen := map[string]bool{}
	for r := NotEnded; r < numEndReasons; r++ {
		s := r.String()
		if s == "" || s == "unknown" || seen[s] {
			t.Errorf("reason %d: label %q empty, unknown or repeated", r, s)
		}
		seen[s] = true
		if b, err := r.MarshalText(); err != nil || string(b) != s {
			t.Errorf("reason %d: MarshalText %q, %v", r, b, err)
		}
	}
	if _, err := numEndReasons.MarshalText(); err == nil {
		t.Error("an unknown reason marshals")
	}
	if EndReason(200).String() != "unknown" {
		t.Error("an unknown reason has a label")
	}
}

// Regression: the Manager counted a call's end only after it had told
// WaitIdle, so a drain or a test that read Stats as soon as WaitIdle
// returned could miss the last call's end.
func TestStatsCountTheEndBeforeWaitIdleReturns(t *testing.T) {
	m, _ := newTestManager(t, 4, -1, nil)
	const rounds = 200
	for i := range rounds {
		c, err := m.NewCall(Correlation{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan ManagerStats, 1)
		go func() {
			if err := m.WaitIdle(context.Background()); err != nil {
				t.Error(err)
			}
			done <- m.Stats()
		}()
		c.End(EndAgentHangup)
		select {
		case st := <-done:
			if want := uint64(i + 1); st.Ended != want || st.Ends[EndAgentHangup] != want {
				t.Fatalf("round %d: WaitIdle returned with Ended %d, Ends %v; want %d", i+1, st.Ended, st.Ends, want)
			}
		case <-time.After(waitLimit):
			t.Fatal("WaitIdle did not return after the last call ended")
		}
	}
}

func TestNewCallHandsTheCallToEveryHook(t *testing.T) {
	cfg := DefaultMediaConfig()
	cfg.RTPPorts = freePorts(t, 2)
	cfg.PortDrain = 0
	cfg.Reactors = -1
	var m *Manager
	var got []string
	hook := func(name string) func(*Call) {
		return func(c *Call) {
			if live, ok := m.Get(c.ID()); !ok || live != c {
				t.Errorf("hook %s: call %v not registered yet", name, c)
			}
			got = append(got, name+" "+c.Correlation().InboundCallID)
		}
	}
	m, err := NewManager(cfg, WithLogger(quietLog()), WithNewCall(hook("first")), WithNewCall(hook("second")))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := m.NewCall(Correlation{InboundCallID: "in-1"})
	if err != nil {
		t.Fatal(err)
	}
	// The hooks ran before NewCall returned, in the order given.
	if want := []string{"first in-1", "second in-1"}; !slices.Equal(got, want) {
		t.Errorf("hooks saw %q, want %q", got, want)
	}
	c.End(EndCallerHangup)
}
