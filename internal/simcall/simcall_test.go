package simcall

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"dtmfgw/internal/testkit/leakcheck"
)

// waitLimit bounds every wait for something that happens at once on
// loopback.
const waitLimit = 10 * time.Second

func agentAddr(t *testing.T, a *Agent) netip.AddrPort {
	t.Helper()
	return a.e.sipAddr
}

// TestCallerKeysToAgentDirectly calls the agent without a gateway: the
// agent answers with telephone-event (it was offered), so every press
// arrives as events, each key once, between audio packets.
func TestCallerKeysToAgentDirectly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	agent, err := NewAgent(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	caller, err := NewCaller(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	if err := caller.Call(ctx, agentAddr(t, agent), "1000", Header{"X-Agent-Id", "agent-7"}); err != nil {
		t.Fatalf("Call: %v", err)
	}
	select {
	case <-agent.Answered():
	case <-ctx.Done():
		t.Fatal("the agent did not answer")
	}
	if caller.CallID() == "" {
		t.Error("no Call-ID after the answer")
	}
	keys := []byte("4242*#")
	if err := caller.KeyDigits(ctx, keys, 60*time.Millisecond, 60*time.Millisecond); err != nil {
		t.Fatalf("KeyDigits: %v", err)
	}
	if string(keys) != "4242*#" {
		t.Error("KeyDigits changed the caller's slice")
	}
	// The last end packet is on its way: the audio after it says it has
	// arrived (one socket, in order on loopback).
	if err := agent.WaitPackets(ctx, agent.Stats().Packets+3); err != nil {
		t.Fatal(err)
	}
	heard := leakcheck.EventKeys(agent.Packets(), 101, 8000)
	got := ""
	for _, k := range heard {
		got += k.Reveal()
	}
	if got != string(keys) {
		t.Errorf("the agent heard %d presses, want %d (or different keys)", len(heard), len(keys))
	}
	st := agent.Stats()
	if st.Audio == 0 || st.Other == 0 || st.Malformed != 0 {
		t.Errorf("agent stats %+v: want audio and events", st)
	}
	if err := caller.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	select {
	case <-caller.Ended():
	case <-ctx.Done():
		t.Fatal("the caller's call did not end")
	}
	if caller.Received() == 0 {
		t.Error("the caller received none of the agent's audio")
	}
}

func TestKeyDigitsRefusesBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	caller, err := NewCaller(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	for _, c := range []struct {
		name       string
		digits     string
		press, gap time.Duration
		want       string
		wantErr    error
	}{
		{"not a key", "12x4", 100 * time.Millisecond, 0, "key 3 of 4 is not a DTMF key", nil},
		{"press too short", "1", 5 * time.Millisecond, 0, "press of", nil},
		{"press too long", "1", 9 * time.Second, 0, "press of", nil},
		{"negative gap", "1", 100 * time.Millisecond, -time.Millisecond, "negative gap", nil},
		{"no call", "1", 100 * time.Millisecond, 0, "", ErrNoCall},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := caller.KeyDigits(ctx, []byte(c.digits), c.press, c.gap)
			if err == nil {
				t.Fatal("no error")
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("error %v, want %v", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), c.digits) && len(c.digits) > 1 {
				t.Errorf("error %q carries the digits", err)
			}
		})
	}
	if err := caller.KeyDigits(ctx, nil, 100*time.Millisecond, 0); err != nil {
		t.Errorf("no keys: %v", err)
	}
}

// TestEndsCloseWithTheirContext: a call in progress is hung up and every
// goroutine ends when the context the ends were made with ends.
func TestEndsCloseWithTheirContext(t *testing.T) {
	limit, cancelLimit := context.WithTimeout(context.Background(), waitLimit)
	defer cancelLimit()
	ctx, cancel := context.WithCancel(limit)
	agent, err := NewAgent(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := NewCaller(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.Call(limit, agentAddr(t, agent), "1000"); err != nil {
		t.Fatal(err)
	}
	// A KeyDigits in progress ends too.
	keyed := make(chan error, 1)
	go func() { keyed <- caller.KeyDigits(limit, []byte("1234567890"), time.Second, time.Second) }()
	cancel()
	select {
	case err := <-keyed:
		if err == nil {
			t.Error("KeyDigits finished ten one-second presses at once")
		}
	case <-limit.Done():
		t.Fatal("KeyDigits did not return after the caller closed")
	}
	for _, closeFn := range []func() error{caller.Close, agent.Close} {
		done := make(chan struct{})
		go func() { _ = closeFn(); close(done) }()
		select {
		case <-done:
		case <-limit.Done():
			t.Fatal("Close did not return")
		}
	}
	if err := caller.Call(limit, agentAddr(t, agent), "1000"); err == nil {
		t.Error("a closed caller called")
	}
	if _, _, err := agent.e.rtp.ReadFromUDPAddrPort(make([]byte, 10)); err == nil {
		t.Error("the agent's RTP socket is still open")
	}
}
