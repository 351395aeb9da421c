package sipptest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

// endedPresses counts the presses whose end packet (E bit, RFC 4733
// §2.5.1.4) has arrived: distinct event timestamps per SSRC.
func endedPresses(got []Received) int {
	type press struct{ ssrc, ts uint32 }
	ended := map[press]bool{}
	for _, r := range got {
		p := r.Packet
		if dtmf.EventShaped(p.Payload) && p.Payload[1]&0x80 != 0 {
			ended[press{p.SSRC, p.Timestamp}] = true
		}
	}
	return len(ended)
}

// Positive control for the baresip caller: baresip calls a SIPp agent whose
// media goes to the recorder and presses the card number as RFC 4733
// events; the recorder must find every key in the events, and none in the
// (silent) audio.
func TestBaresipSendsRFC4733ToAgent(t *testing.T) {
	NeedSIPp(t)
	NeedBaresip(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	uas, rec := startAgent(t, ctx, UASAnswer, Options{})
	b, err := StartBaresip(ctx, BaresipOptions{Dir: t.TempDir(), Lifetime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	fail := func(err error) {
		t.Helper()
		t.Fatalf("%v\n--- baresip output ---\n%s", err, b.Log())
	}
	if err := b.Dial(ctx, "sip:agent@"+uas.Local().String()); err != nil {
		fail(err)
	}
	ev, err := b.WaitEvent(ctx, "CALL_ESTABLISHED", "CALL_CLOSED")
	if err != nil {
		fail(err)
	}
	if ev.Type != "CALL_ESTABLISHED" {
		fail(fmt.Errorf("call closed before it was established: %s", ev.Param))
	}
	if err := b.SendDigits(ctx, CanaryCard); err != nil {
		fail(err)
	}
	// Wait for every press to be over: the events of the last key ended.
	err = rec.WaitFunc(ctx, func(got []Received) bool { return endedPresses(got) >= len(CanaryCard) })
	if err != nil {
		fail(err)
	}
	if err := b.Hangup(ctx); err != nil {
		fail(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		fail(err)
	}
	res, err := uas.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(1); err != nil {
		t.Fatal(err)
	}
	f, err := rec.Findings(ctx, 0, g711.Ulaw)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.EventKeys.Reveal(); got != CanaryCard {
		t.Errorf("recorder found in baresip's events %s", keyMismatch(got, CanaryCard))
	}
	if len(f.DetectorKeys) != 0 || len(f.MultimonKeys) != 0 {
		t.Errorf("keys heard in baresip's silent audio: %v", f)
	}
	t.Logf("baresip → SIPp agent: %v", f)
}
