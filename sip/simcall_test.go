package sip

import (
	"context"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/internal/simcall"
)

// TestSimcallThroughTheB2BUA is internal/simcall's proof against the real
// gateway: the simulated caller's presses (RFC 4733 events in its PCMU
// stream) reach the call's digit path once each, from RFC 4733, and the
// simulated agent receives audio only.
func TestSimcallThroughTheB2BUA(t *testing.T) {
	for _, c := range []struct {
		name       string
		keys       string
		press, gap time.Duration
	}{
		{"card number", "4242424242424242", 60 * time.Millisecond, 40 * time.Millisecond},
		{"expiry and code, long presses", "1230#123", 120 * time.Millisecond, 100 * time.Millisecond},
		{"repeated key, shortest press", "7777", 20 * time.Millisecond, 40 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
			defer cancel()
			agent, err := simcall.NewAgent(ctx, testLog())
			if err != nil {
				t.Fatal(err)
			}
			defer agent.Close()
			gw := startGateway(t, func(cfg *Config) { cfg.DefaultTarget = agent.URI() })
			caller, err := simcall.NewCaller(ctx, testLog())
			if err != nil {
				t.Fatal(err)
			}
			defer caller.Close()
			if err := caller.Call(ctx, gw.addr, "1000", simcall.Header{Name: "X-Agent-Id", Value: "agent-7"}); err != nil {
				t.Fatalf("Call: %v", err)
			}
			theCall := onlyCall(t, gw)
			if got := theCall.Correlation().AgentID; got != "agent-7" {
				t.Errorf("agent id %q, want agent-7", got)
			}
			keys := []byte(c.keys)
			if err := caller.KeyDigits(ctx, keys, c.press, c.gap); err != nil {
				t.Fatalf("KeyDigits: %v", err)
			}
			// Audio after the last press reaches the agent (a short gap
			// leaves none between presses: a phone sends no audio during
			// a press, and the gateway drops the events).
			if err := agent.WaitPackets(ctx, agent.Stats().Packets+5); err != nil {
				t.Fatal(err)
			}
			// Hanging up closes the digit queue once the last press is in
			// it, so every digit the call took is counted.
			if err := caller.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			got := collectDigits(ctx, t, theCall)
			if m := digitsMismatch(got, c.keys); m != "" {
				t.Errorf("digit path: %s", m)
			}
			for i, d := range got {
				if d.Source != dtmf.SourceRFC4733 {
					t.Errorf("digit %d from %v, want RFC 4733", i+1, d.Source)
				}
			}
			if r := theCall.EndReason(); r != call.EndCallerHangup {
				t.Errorf("end reason %v, want caller-hangup", r)
			}
			st := agent.Stats()
			if st.Packets == 0 || st.Other != 0 || st.EventShaped != 0 {
				t.Errorf("agent received %+v: want audio only", st)
			}
		})
	}
}
