package mask

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit"
	"dtmfgw/media"
)

// A gateway that falls behind — a busy machine, a scheduler's pause, a
// stopped process — reads the caller's packets late, all at once. The
// pipeline must not take that for the caller's audio stopping: audio that
// arrived is sent, late; only a real stop replaces the held look-ahead.

// lateFeed feeds pkts with the Relay's tick discipline (as hFeed), except
// that the gateway is paused from from for pause: every packet that arrives
// meanwhile waits in the socket and is read at the wake-up, in order. With
// ticksGoOn the ticks keep coming on time while the packets wait (the tick
// wheel runs while the relay's reader is held up behind other calls);
// without, nothing runs during the pause and the tick that fell due runs
// first at the wake-up, before the waiting packets are read (a stopped
// process: SIGSTOP, a long GC or scheduler pause).
func lateFeed(p *Pipeline, pkts []hPkt, from time.Time, pause time.Duration, ticksGoOn bool) {
	const tick = 20 * time.Millisecond
	wake := from.Add(pause)
	var pk media.Packet
	lastTick := pkts[0].at
	woke := false
	for _, x := range pkts {
		at := x.at
		if !at.Before(from) && at.Before(wake) {
			at = wake
		}
		if !woke && !at.Before(wake) {
			woke = true
			for ticksGoOn && wake.Sub(lastTick) > tick {
				lastTick = lastTick.Add(tick)
				p.Tick(lastTick)
			}
			lastTick = wake
			p.Tick(wake)
		}
		for at.Sub(lastTick) >= 2*tick {
			lastTick = lastTick.Add(tick)
			p.Tick(lastTick)
		}
		pk.Header, pk.Payload, pk.Arrival = x.header, x.pay, at
		p.HandleRTP(&pk)
		if at.Sub(lastTick) >= tick {
			lastTick = at
			p.Tick(at)
		}
	}
}

// agentBytes returns the audio payloads the agent received, in order, as one
// byte stream.
func (s *hSink) agentBytes() []byte {
	var b []byte
	for _, o := range s.got {
		if o.header.PayloadType == hAudioPT {
			b = append(b, o.pay...)
		}
	}
	return b
}

// callerBytes returns the caller's audio payloads, in order, as one stream.
func callerBytes(pkts []hPkt) []byte {
	var b []byte
	for _, x := range pkts {
		if x.header.PayloadType == hAudioPT {
			b = append(b, x.pay...)
		}
	}
	return b
}

func TestPipelineLosesNoAudioWhenTheGatewayIsLate(t *testing.T) {
	sc := hScenario{Law: g711.Ulaw, Mode: modeInband, Total: 100 * hFrame, Noise: 2000}
	pkts := sc.packets()
	from := pkts[40].at
	for _, ticksGoOn := range []bool{false, true} {
		for _, pause := range []time.Duration{60 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond} {
			t.Run(fmt.Sprintf("ticks-go-on=%v/%v", ticksGoOn, pause), func(t *testing.T) {
				sink := &hSink{}
				p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: hAudioPT, EventPTs: []uint8{hEventPT}, Presses: NewJoiner(64)}, sink)
				if err != nil {
					t.Fatal(err)
				}
				lateFeed(p, pkts, from, pause, ticksGoOn)
				in, out := callerBytes(pkts), sink.agentBytes()
				// The agent's stream is the caller's, delayed by the
				// look-ahead: find where the caller's first packet starts
				// in it, then every byte after must be the caller's, up
				// to the look-ahead still held when the stream ended.
				k := bytes.Index(out, in[:hFrame])
				if k < 0 {
					t.Fatalf("the caller's first packet never reached the agent (%+v)", p.Stats())
				}
				sent := out[k:]
				if held := len(in) - len(sent); held < 0 || held > p.laLen {
					t.Fatalf("the agent got %d of the caller's %d bytes; at most the look-ahead (%d) may be missing (%+v)", len(sent), len(in), p.laLen, p.Stats())
				}
				if i := firstDiff(sent, in); i >= 0 {
					t.Fatalf("the agent's audio differs from the caller's at byte %d of %d (the pause began at byte %d): audio was replaced or dropped (%+v)",
						i, len(sent), 40*hFrame, p.Stats())
				}
				st := p.Stats()
				if st.Behind != 1 || st.Stalls != 0 || st.StalledPackets != 0 || st.Masked != 0 {
					t.Errorf("stats %+v: want Behind 1 and no stall, nothing masked", st)
				}
				if min := uint64(pause / (20 * time.Millisecond)); st.BehindPackets < min {
					t.Errorf("BehindPackets %d, want at least %d for a %v pause", st.BehindPackets, min, pause)
				}
			})
		}
	}
}

// firstDiff returns the first index where a and b differ within a's length,
// or −1.
func firstDiff(a, b []byte) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestPipelineMasksAPressWhileTheGatewayIsLate: a key pressed across the
// pause, as a tone and as RFC 4733 events, is one press, and the agent
// hears the mask tone, never the digit: keeping the held audio for later
// keeps masking fail-closed.
func TestPipelineMasksAPressWhileTheGatewayIsLate(t *testing.T) {
	for _, mode := range []hMode{modeInband, modeBoth} {
		for _, ticksGoOn := range []bool{false, true} {
			t.Run(fmt.Sprintf("mode=%d/ticks-go-on=%v", mode, ticksGoOn), func(t *testing.T) {
				ps := []hPress{{Key: dtmf.Key('5'), Start: 40*hFrame - 240, Len: 960}}
				sc := hScenario{Law: g711.Ulaw, Mode: mode, Presses: ps, Total: 100 * hFrame}
				pkts := sc.packets()
				q := NewJoiner(64)
				sink := &hSink{}
				p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: hAudioPT, EventPTs: []uint8{hEventPT}, Presses: q}, sink)
				if err != nil {
					t.Fatal(err)
				}
				lateFeed(p, pkts, hEpoch.Add(41*20*time.Millisecond), 100*time.Millisecond, ticksGoOn)
				if got := drain(q); len(got) != 1 || got[0].Key != dtmf.Key('5') {
					t.Errorf("presses %v, want one 5", got)
				}
				agent := sink.agentPCM(g711.Ulaw)
				if keys := detectKeys(agent); len(keys) != 0 {
					t.Errorf("the agent's audio holds the digits %v", keys)
				}
				if n, worst, at := leaks(agent, maskRef(dtmf.DefaultMaskTone(), g711.Ulaw)); n != 0 {
					t.Errorf("%d leaking windows (worst %.1f× at %d) (%+v)", n, worst, at, p.Stats())
				}
				for _, o := range sink.got {
					if isEventPacket(o) {
						t.Fatalf("an event packet reached the agent: %+v", o.header)
					}
				}
			})
		}
	}
}

// TestPipelineReplacesHeldAudioWhenTheCallerStops: when the caller's audio
// really stops (it comes back with a gap, as after silence suppression) the
// held samples were never judged with what follows, so they never reach the
// agent: they are replaced by silence, and counted as a stall.
func TestPipelineReplacesHeldAudioWhenTheCallerStops(t *testing.T) {
	sc := hScenario{Law: g711.Ulaw, Mode: modeInband, Total: 100 * hFrame, Noise: 2000}
	all := sc.packets()
	// The caller sends nothing for 10 packet times from packet 40 on; its
	// sequence numbers go on without a gap, its timestamps jump (RFC 3551
	// §4.1: a silence-suppressing sender).
	var pkts []hPkt
	for i, x := range all {
		if i >= 40 && i < 50 {
			continue
		}
		if i >= 50 {
			x.header.SequenceNumber -= 10
		}
		pkts = append(pkts, x)
	}
	sink := &hSink{}
	p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: hAudioPT, EventPTs: []uint8{hEventPT}, Presses: NewJoiner(64)}, sink)
	if err != nil {
		t.Fatal(err)
	}
	hFeed(p, pkts)
	st := p.Stats()
	if st.Stalls != 1 || st.StalledPackets < 1 || st.Behind != 0 {
		t.Errorf("stats %+v: want one stall with its packets and nothing behind", st)
	}
	in, out := callerBytes(pkts), sink.agentBytes()
	tail := in[40*hFrame-p.laLen : 40*hFrame]
	if bytes.Contains(out, tail) {
		t.Error("the audio held when the caller stopped reached the agent unjudged")
	}
	if !bytes.Contains(out, in[40*hFrame-p.laLen-hFrame:40*hFrame-p.laLen]) || !bytes.Contains(out, in[50*hFrame:51*hFrame]) {
		t.Error("the audio before the stall or after the caller came back is missing")
	}
}

// TestLoopbackRelayLosesNoAudioWhenStopped runs the stopped-process case
// through a real Relay on loopback sockets: the legs run on the test's
// clock, the relay's tick wheel is visited by the test, and the gateway is
// "stopped" for 100 ms: the clock jumps, the wheel's due tick runs first,
// and only then does the relay read the packets that arrived meanwhile, all
// at the wake-up time. Every byte the caller sent reaches the agent.
func TestLoopbackRelayLosesNoAudioWhenStopped(t *testing.T) {
	sc := hScenario{Law: g711.Ulaw, Mode: modeInband, Total: 60 * hFrame, Noise: 2000}
	pkts := sc.packets()
	clock := testkit.NewClock(pkts[0].at.Add(-20 * time.Millisecond))
	pool, _ := testPool(t, 2)
	callerPeer, agentPeer := testkit.ListenUDP(t), testkit.ListenUDP(t)
	caller, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: testkit.AddrOf(callerPeer), Now: clock.Now, EventPayloadTypes: []uint8{hEventPT}})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: testkit.AddrOf(agentPeer), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: hAudioPT, EventPTs: []uint8{hEventPT}, Presses: NewJoiner(64),
		SSRC: e2eSSRC, FirstSequence: 40000, FirstTimestamp: 7}, media.LegSender{Leg: agent})
	if err != nil {
		t.Fatal(err)
	}
	h := &handledSignal{p: p, done: make(chan struct{}, len(pkts)+1)}
	wheel := media.NewTickWheel(time.Hour, clock.Now) // visited by hand
	defer wheel.Close()
	relay, err := media.NewRelay(media.RelayConfig{Caller: caller, Agent: agent, CallerToAgent: h, Tick: p, Wheel: wheel, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	send := func(x hPkt) {
		raw, err := (&rtp.Packet{Header: x.header, Payload: x.pay}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		testkit.SendUDP(t, callerPeer, caller.LocalAddr(), raw)
	}
	handled := func(i int) {
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d not handled by the relay within 5 s", i)
		}
	}
	from, wake := pkts[30].at, pkts[30].at.Add(100*time.Millisecond)
	var waiting []int
	for i, x := range pkts {
		if !x.at.Before(from) && x.at.Before(wake) {
			waiting = append(waiting, i) // arrives while the gateway is stopped
			continue
		}
		if len(waiting) > 0 {
			// Waking: the tick that fell due runs first (the visit may
			// find the reader still finishing the last packet under the
			// relay's lock, and then leaves the relay alone: visit
			// again), then the reader gets what waited.
			clock.Set(wake)
			ticks := relay.Ticks()
			testkit.WaitFor(t, "the due tick", func() bool { wheel.Visit(); return relay.Ticks() > ticks })
			for _, j := range waiting {
				send(pkts[j])
				handled(j)
			}
			waiting = nil
		}
		clock.Set(x.at)
		send(x)
		handled(i)
	}
	var out []byte
	for range p.Sent().Packets {
		d, _ := testkit.ReadWithin(t, agentPeer, 5*time.Second)
		var o rtp.Packet
		if err := o.Unmarshal(d); err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Payload...)
	}
	in := callerBytes(pkts)
	k := bytes.Index(out, in[:hFrame])
	if k < 0 {
		t.Fatalf("the caller's first packet never reached the agent (%+v)", p.Stats())
	}
	if i := firstDiff(out[k:], in); i >= 0 || len(in)-len(out[k:]) > p.laLen {
		t.Fatalf("the agent's audio differs from the caller's at byte %d (the stop began at byte %d), or ends %d bytes short (%+v)",
			i, 30*hFrame, len(in)-len(out[k:]), p.Stats())
	}
	if st := p.Stats(); st.Behind != 1 || st.Stalls != 0 {
		t.Errorf("stats %+v: want one Behind and no stall", st)
	}
}
