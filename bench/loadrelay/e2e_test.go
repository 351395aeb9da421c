//go:build linux

package main

import (
	"os"
	"testing"
	"time"

	"dtmfgw/bench/internal/benchkit"
)

// TestEndToEndShort is a short real run of the end-to-end modes beside
// the reference: dtmfgw serve built from this tree with 5 calls set up
// over SIP, rtpengine with and without DTMF blocking with 5 calls over
// ng, interleaved for about 10 s. It checks that each measures something
// true: every call relayed both ways without loss, events and in-band
// tones stopped by the relays that block DTMF and passed by those that do
// not. It needs rtpengine (Debian package rtpengine-daemon, which make
// test installs) and fails without it.
func TestEndToEndShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dtmfgw and runs it and rtpengine for about 20 s: make test runs it")
	}
	if _, err := os.Stat(defaultRTPEngine); err != nil {
		t.Fatalf("rtpengine is not installed (apt-get install rtpengine-daemon; make deps does): %v", err)
	}
	o, err := parseOptions([]string{"-calls", "5", "-modes", "reference,serve,rtpengine,rtpengine-dtmf", "-warmup", "300ms", "-measure", "1600ms", "-interleave", "800ms", "-ports", "31200-31799"})
	if err != nil {
		t.Fatal(err)
	}
	o.dtmfgw = ""
	dir := t.TempDir()
	if o.dtmfgw, err = benchkit.BuildDtmfgw(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(killAll)
	rs, err := runRound(o, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	byMode := map[string]*result{}
	for _, r := range rs {
		byMode[r.Mode] = r
		t.Logf("%s: %d packets in the windows, %.1f µs CPU/packet, up p99 %v (look-ahead %v apart), down p99 %v, loss %d/%d up %d/%d down, frames up %v, in-band %d of %d, events %d of %d, drops %d/%d",
			r.Mode, r.WindowPackets, float64(r.CPUPerPacket())/1e3, r.Up.percentile(0.99), r.LookAhead, r.Down.percentile(0.99),
			r.Up.Lost, r.Up.Clean, r.Down.Lost, r.Down.Clean, r.Up.frames, r.Up.frames[frameTone], r.Up.sent.tone, r.Up.eventPackets, r.Up.sent.events, r.GenDrops, r.RelayDrops)
		if r.WindowPackets == 0 || r.Up.timed == 0 || r.Down.timed == 0 {
			t.Errorf("%s: nothing relayed or timed", r.Mode)
		}
		// Five calls on loopback: nothing is lost, whatever the
		// machine's other load (make test runs packages side by side).
		if r.Up.Lost != 0 || r.Down.Lost != 0 || r.Up.Clean == 0 || r.Down.Clean == 0 {
			t.Errorf("%s: lost %d of %d up, %d of %d down", r.Mode, r.Up.Lost, r.Up.Clean, r.Down.Lost, r.Down.Clean)
		}
		if r.Down.replaced() != 0 || r.Down.eventPackets != 0 {
			t.Errorf("%s: agent→caller audio replaced (%.3f) or events in it (%d)", r.Mode, r.Down.replaced(), r.Down.eventPackets)
		}
		if r.Up.sent.tone == 0 || r.Up.sent.events == 0 {
			t.Fatalf("%s: the load carried no press (%d tone frames, %d events)", r.Mode, r.Up.sent.tone, r.Up.sent.events)
		}
	}
	for _, mode := range []string{modeReference, modeRTPEngine} {
		r := byMode[mode]
		if r.Up.eventPackets != r.Up.sent.events || r.Up.frames[frameTone] != r.Up.sent.tone || r.Up.replaced() != 0 {
			t.Errorf("%s passes DTMF as sent: %d of %d events, %d of %d tone frames, %.3f replaced", mode, r.Up.eventPackets, r.Up.sent.events, r.Up.frames[frameTone], r.Up.sent.tone, r.Up.replaced())
		}
	}
	for _, mode := range []string{modeServe, modeRTPEngineDTMF} {
		r := byMode[mode]
		if r.Up.eventPackets != 0 || r.Up.frames[frameTone] != 0 || r.Up.replaced() == 0 {
			t.Errorf("%s blocks DTMF: yet %d events and %d tone frames reached the agent (%.3f replaced)", mode, r.Up.eventPackets, r.Up.frames[frameTone], r.Up.replaced())
		}
	}
	if r := byMode[modeServe]; r.LookAhead <= 0 || r.LookAhead > 40*time.Millisecond {
		t.Errorf("serve: look-ahead %v read from dtmfgw's configuration", r.LookAhead)
	}
	if r := byMode[modeServe]; len(r.Counters) < 2 {
		t.Errorf("serve: no counters scraped from /metrics: %q", r.Counters)
	}
}
