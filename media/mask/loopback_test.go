package mask

import (
	"context"
	"dtmfgw/media"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/leakcheck"
)

// The end-to-end leak proof over loopback: a caller socket sends
// an RTP stream through a Relay whose caller→agent handler is a real
// Pipeline, over real UDP sockets on 127.0.0.1, and an agent socket records
// everything the relay sends it. The recording is then judged the way the
// agent's platform could hear it: packet types, our Detector, an
// independent receiver (multimon-ng), Goertzel energy at the DTMF pairs, the
// mask audio, and the presses the call was handed.
//
// Timing: the legs run on a clock the sender sets to each packet's
// scheduled arrival before sending it, and the sender waits (bounded) for
// the relay to have handled the datagram before sending the next. The run
// is therefore as deterministic as the in-memory harness (a scheduler
// hiccup cannot turn into a stall) and takes milliseconds, not the 7 s of
// audio it carries; the sockets, the leg readers, the relay's ticking and
// the pipeline are the real ones.

// handledSignal wraps the pipeline as the relay's caller→agent handler and
// says, after each packet, that the pipeline is done with it (and has sent
// what it sends for it). The channel is buffered for every packet of a
// run, so the leg's reader never blocks on it.
type handledSignal struct {
	p    *Pipeline
	done chan struct{}
}

func (h *handledSignal) HandleRTP(pkt *media.Packet) {
	h.p.HandleRTP(pkt)
	h.done <- struct{}{}
}

// e2eRun is one relayed call and its recording.
type e2eRun struct {
	pipeline *Pipeline
	relay    *media.Relay
	presses  []dtmf.Press
	epoch    time.Time // hEpoch on the legs' clock
	agent    []hOut    // every datagram the agent socket received, parsed
	raw      int       // datagrams the agent socket received
	bad      []string
}

const e2eSSRC = 0x5EC0DE01

// runLoopback relays pkts (in order; their times are the arrival times)
// through a Relay with a masking Pipeline and returns what the agent got.
// With paced false the legs run on the sender's clock (see above); with
// paced true they run on the wall clock and a 20 ms ticker paces the
// sender, each tick sending the packets due by then.
func runLoopback(t *testing.T, law g711.Law, audioPT uint8, pkts []hPkt, paced bool) *e2eRun {
	return runLoopbackPolicy(t, law, audioPT, pkts, paced, Always)
}

// runLoopbackPolicy is runLoopback with both masking policies set to mask.
func runLoopbackPolicy(t *testing.T, law g711.Law, audioPT uint8, pkts []hPkt, paced bool, mask Policy) *e2eRun {
	t.Helper()
	// The legs' clock: the scheduled arrival of the packet in flight.
	clock := testkit.NewClock(pkts[0].at.Add(-20 * time.Millisecond))
	now := clock.Now
	if paced {
		now = time.Now
	}
	pool, _ := testPool(t, 2)
	callerPeer, agentPeer := testkit.ListenUDP(t), testkit.ListenUDP(t)
	caller, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: testkit.AddrOf(callerPeer), Now: now, EventPayloadTypes: []uint8{hEventPT}})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: testkit.AddrOf(agentPeer), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	q := NewJoiner(64)
	p, err := NewPipeline(Config{Law: law, AudioPT: audioPT, EventPTs: []uint8{hEventPT}, Presses: q,
		MaskEvents: mask, MaskInband: mask, SSRC: e2eSSRC, FirstSequence: 40000, FirstTimestamp: 7}, media.LegSender{Leg: agent})
	if err != nil {
		t.Fatal(err)
	}
	h := &handledSignal{p: p, done: make(chan struct{}, len(pkts)+1)}
	var handler media.PacketHandler = h
	if paced {
		handler = p
	}
	relay, err := media.NewRelay(media.RelayConfig{Caller: caller, Agent: agent, CallerToAgent: handler, Tick: p, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })

	// The agent's recorder reads concurrently, so the socket's receive
	// buffer never overflows; it stops at the read deadline set after the
	// last packet, or after four times as many datagrams as the caller
	// sent (far more than the pipeline can send for them).
	recorded := make(chan [][]byte, 1)
	var received atomic.Uint64
	arrived := make(chan struct{}, 1)
	go func() {
		var got [][]byte
		buf := make([]byte, media.MaxDatagram+1)
		for {
			n, _, err := agentPeer.ReadFromUDPAddrPort(buf)
			if err != nil || len(got) > 4*len(pkts) {
				recorded <- got
				return
			}
			got = append(got, append([]byte(nil), buf[:n]...))
			received.Add(1)
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
	}()
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}

	to := caller.LocalAddr()
	sendPkt := func(x hPkt) {
		raw, err := (&rtp.Packet{Header: x.header, Payload: x.pay}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := callerPeer.WriteToUDPAddrPort(raw, to); err != nil {
			t.Fatal(err)
		}
	}
	run := &e2eRun{pipeline: p, relay: relay, epoch: hEpoch}
	if paced {
		ticker := time.NewTicker(20 * time.Millisecond)
		start := time.Now()
		run.epoch = start.Add(-pkts[0].at.Sub(hEpoch))
		i := 0
		for k := 1; i < len(pkts); k++ { // ends: each tick sends at least the next frame's packets
			for ; i < len(pkts) && pkts[i].at.Sub(pkts[0].at) < time.Duration(k)*20*time.Millisecond; i++ {
				sendPkt(pkts[i])
			}
			if i < len(pkts) {
				<-ticker.C
			}
		}
		ticker.Stop()
	} else {
		for i, x := range pkts {
			clock.Set(x.at)
			sendPkt(x)
			deadline := time.After(5 * time.Second)
			select {
			case <-h.done:
			case <-deadline:
				t.Fatalf("packet %d of %d not handled by the relay within 5 s", i, len(pkts))
			}
			// Lockstep with the recorder too: on a loaded machine a
			// starved recorder would let the socket's receive buffer
			// overflow, and the kernel would drop what the pipeline sent.
			for received.Load() < p.Sent().Packets {
				select {
				case <-arrived:
				case <-deadline:
					t.Fatalf("packet %d of %d: the agent received %d of the %d datagrams sent within 5 s", i, len(pkts), received.Load(), p.Sent().Packets)
				}
			}
		}
	}
	// Everything the pipeline sent was written to the agent before its
	// HandleRTP returned, and loopback queues a datagram at the receiver
	// within the send. The recorder reads what is queued and then 100 ms
	// of quiet in which the relay's ticks may still add packets.
	quiet := 100 * time.Millisecond
	if paced {
		quiet = 300 * time.Millisecond // the last packets may still be in the relay
	}
	if err := agentPeer.SetReadDeadline(time.Now().Add(quiet)); err != nil {
		t.Fatal(err)
	}
	// The quiet period ends the recorder with a timeout error; the count
	// check below tells whether it saw every packet the pipeline sent.
	var got [][]byte
	select {
	case got = <-recorded:
	case <-time.After(5 * time.Second):
		t.Fatal("agent recorder did not finish")
	}
	run.raw = len(got)
	for i, d := range got {
		var o hOut
		n, err := o.header.Unmarshal(d)
		if err != nil {
			run.bad = append(run.bad, fmt.Sprintf("datagram %d: %v", i, err))
			continue
		}
		o.pay = d[n:]
		run.agent = append(run.agent, o)
	}
	if s := p.Stats(); uint64(run.raw) != s.Sent {
		t.Errorf("the agent socket received %d datagrams, the pipeline sent %d", run.raw, s.Sent)
	}
	run.presses = drain(q)
	return run
}

// agentAudio lays the agent's audio out on its RTP timestamps, as a jitter
// buffer would, and decodes it.
func agentAudio(outs []hOut, law g711.Law, audioPT uint8) []int16 {
	var audio []hOut
	for _, o := range outs {
		if o.header.PayloadType == audioPT {
			audio = append(audio, o)
		}
	}
	if len(audio) == 0 {
		return nil
	}
	sort.SliceStable(audio, func(i, j int) bool {
		return int16(audio[i].header.SequenceNumber-audio[j].header.SequenceNumber) < 0
	})
	ts0 := audio[0].header.Timestamp
	var pcm []int16
	for _, o := range audio {
		off := int(int32(o.header.Timestamp - ts0))
		if off < 0 || off > 1<<22 {
			continue
		}
		if need := off + len(o.pay); need > len(pcm) {
			pcm = append(pcm, make([]int16, need-len(pcm))...)
		}
		law.Decode(pcm[off:], o.pay)
	}
	return pcm
}

// checkNoEventPackets asserts the agent got only audio (or comfort noise)
// of the negotiated type, nothing shaped like a telephone event.
func checkNoEventPackets(t *testing.T, run *e2eRun, audioPT uint8) {
	t.Helper()
	for _, b := range run.bad {
		t.Errorf("agent received a non-RTP datagram: %s", b)
	}
	for i, o := range run.agent {
		if pt := o.header.PayloadType; pt != audioPT && pt != ptComfortNoise {
			t.Errorf("agent packet %d has payload type %d (events are %d, audio %d)", i, pt, hEventPT, audioPT)
		}
		if dtmf.EventShaped(o.pay) {
			t.Errorf("agent packet %d carries an event-shaped payload % x", i, o.pay)
		}
		if o.header.SSRC != e2eSSRC {
			t.Errorf("agent packet %d has SSRC %08x, want the pipeline's %08x", i, o.header.SSRC, e2eSSRC)
		}
	}
}

// needMultimon fails the test when the independent receiver is missing.
func needMultimon(t *testing.T) {
	t.Helper()
	if err := leakcheck.NeedMultimon(); err != nil {
		t.Fatal(err)
	}
}

// multimonKeys returns the keys multimon-ng hears in 8 kHz PCM, as
// characters (internal/testkit/leakcheck runs sox and multimon-ng).
func multimonKeys(t *testing.T, pcm []int16) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	keys, err := leakcheck.MultimonKeys(ctx, pcm)
	if err != nil {
		t.Fatal(err)
	}
	return keys.Reveal()
}

// senderAudio decodes the caller's audio packets as sent, laid out on their
// timestamps: what an unmasked relay would have given the agent.
func senderAudio(pkts []hPkt, law g711.Law, audioPT uint8) []int16 {
	outs := make([]hOut, 0, len(pkts))
	for _, x := range pkts {
		outs = append(outs, hOut{header: x.header, pay: x.pay})
	}
	return agentAudio(outs, law, audioPT)
}

// withAudioPT rewrites, in place, the payload type of packets on type from to
// (the harness renders PT 0; PCMA is PT 8, RFC 3551 §6).
func withAudioPT(pkts []hPkt, to, from uint8) []hPkt {
	for i := range pkts {
		if pkts[i].header.PayloadType == from {
			pkts[i].header.PayloadType = to
		}
	}
	return pkts
}

func clonePkts(pkts []hPkt) []hPkt { return append([]hPkt(nil), pkts...) }

func TestLoopbackRelayLeaksNoDigitToTheAgent(t *testing.T) {
	needMultimon(t)
	ps, total := sixteenPresses(1600)
	cases := []struct {
		name string
		law  g711.Law
		pt   uint8
		mode hMode
		mute bool
	}{
		{"events PCMU, audio kept", g711.Ulaw, 0, modeEvents, false},
		{"events PCMU, audio stopped", g711.Ulaw, 0, modeEvents, true},
		{"events PCMA, audio kept", g711.Alaw, 8, modeEvents, false},
		{"events PCMA, audio stopped", g711.Alaw, 8, modeEvents, true},
		{"inband PCMU", g711.Ulaw, 0, modeInband, false},
		{"inband PCMA", g711.Alaw, 8, modeInband, false},
		{"both PCMU", g711.Ulaw, 0, modeBoth, false},
		{"both PCMA", g711.Alaw, 8, modeBoth, false},
		{"both PCMU, audio stopped", g711.Ulaw, 0, modeBoth, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := hScenario{Law: tc.law, Mode: tc.mode, Presses: ps, Total: total, MuteEvents: tc.mute}
			pkts := withAudioPT(sc.packets(), tc.pt, hAudioPT)
			if tc.mode&modeInband != 0 && !tc.mute {
				// Not vacuous: the same receiver hears every key in what
				// the caller sent. (With the audio stopped during events
				// no tone is sent at all.)
				if got := multimonKeys(t, senderAudio(pkts, tc.law, tc.pt)); got != string(allKeys) {
					t.Fatalf("multimon-ng hears %q in the caller's audio, want %q", got, string(allKeys))
				}
			}
			run := runLoopback(t, tc.law, tc.pt, pkts, false)
			checkNoEventPackets(t, run, tc.pt)
			agent := agentAudio(run.agent, tc.law, tc.pt)
			if len(agent) < total-hFrame {
				t.Fatalf("agent audio is %d samples, the caller sent %d", len(agent), total)
			}
			checkNoKeyHeard(t, agent)
			if n, worst, at := leaks(agent, maskRef(dtmf.DefaultMaskTone(), tc.law)); n != 0 {
				t.Errorf("%d windows with DTMF pair energy beyond the mask tone's (worst %.1f× the threshold at sample %d)", n, worst, at)
			}

			// Every press once, in order, stamped with the arrival of the
			// packet that carried its start (the legs' clock).
			if len(run.presses) != len(ps) {
				t.Fatalf("%d presses queued, want %d: %+v", len(run.presses), len(ps), run.presses)
			}
			for i, g := range run.presses {
				if g.Key != ps[i].Key || g.Number != uint64(i+1) {
					t.Errorf("press %d: key %c number %d, want %c number %d", i, g.Key, g.Number, ps[i].Key, i+1)
				}
				onset := hEpoch.Add(time.Duration(ps[i].Start) * time.Second / dtmf.SampleRate)
				if d := g.FirstSeen.Sub(onset); d < -5*time.Millisecond || d > 25*time.Millisecond {
					t.Errorf("press %d: FirstSeen %v after the onset, want within the packet that carried it", i, d)
				}
			}

			// The mask is the same audio for every key.
			checkMaskIdentical(t, agent, ps)
			st := run.pipeline.Stats()
			if st.Masked == 0 {
				t.Errorf("nothing masked: %+v", st)
			}
			t.Logf("agent got %d packets; %+v", run.raw, st)
		})
	}
}

// The same call under seeded network damage applied by the sender (5%
// loss, 3% duplicates, reordering, 0–15 ms jitter; see impair): every
// press still queued once, nothing leaks. Leaks are judged with
// dominantPairs, because a mask tone cut by a lost packet makes broadband
// clicks that hold no digit (docs/masking.md, "Other known weaknesses").
func TestLoopbackRelayUnderImpairmentsLeaksNothing(t *testing.T) {
	needMultimon(t)
	ps, total := sixteenPresses(1600)
	for _, mode := range []struct {
		name string
		law  g711.Law
		pt   uint8
		m    hMode
		mute bool
	}{
		{"events PCMU", g711.Ulaw, 0, modeEvents, false},
		{"events PCMA, audio stopped", g711.Alaw, 8, modeEvents, true},
		{"inband PCMU", g711.Ulaw, 0, modeInband, false},
		{"inband PCMA", g711.Alaw, 8, modeInband, false},
		{"both PCMU", g711.Ulaw, 0, modeBoth, false},
	} {
		for seed := uint64(11); seed <= 14; seed++ {
			reorder := seed%2 == 0
			t.Run(fmt.Sprintf("%s seed %d", mode.name, seed), func(t *testing.T) {
				sc := hScenario{Law: mode.law, Mode: mode.m, Presses: ps, Total: total, MuteEvents: mode.mute}
				pkts := withAudioPT(impair(sc.packets(), seed, reorder), mode.pt, hAudioPT)
				run := runLoopback(t, mode.law, mode.pt, pkts, false)
				checkNoEventPackets(t, run, mode.pt)
				agent := agentAudio(run.agent, mode.law, mode.pt)
				checkNoKeyHeard(t, agent)
				if n, worst, at := dominantPairs(agent, maskRef(dtmf.DefaultMaskTone(), mode.law)); n != 0 {
					t.Errorf("%d leaking windows (worst %.1f× at sample %d)", n, worst, at)
				}
				var keys []dtmf.Key
				for i, g := range run.presses {
					keys = append(keys, g.Key)
					if g.Number != uint64(i+1) {
						t.Errorf("press %d numbered %d", i, g.Number)
					}
				}
				if !isSubsequence(keys, allKeys) {
					t.Fatalf("presses %q, want each of %q at most once, in order", string(keys), string(allKeys))
				}
				// A press may go missing only when it came as a tone alone
				// and the network took two or more of its packets
				// (docs/masking.md).
				j := 0
				for i, k := range allKeys {
					if j < len(keys) && keys[j] == k {
						j++
						continue
					}
					if lost := tonePacketsLost(withAudioPT(clonePkts(pkts), hAudioPT, mode.pt), ps[i]); mode.m != modeInband || lost < 2 {
						t.Errorf("press %d (%v) missed with %d of its tone packets lost", i, k, lost)
					} else {
						t.Logf("press %d (%v) missed: %d of its tone packets lost", i, k, lost)
					}
				}
				st := run.pipeline.Stats()
				t.Logf("%d caller packets sent, %d presses; %+v", len(pkts), len(run.presses), st)
			})
		}
	}
}

// The same call in real time: the legs on the wall clock, the sender
// paced by a 20 ms ticker, the relay's own tick wheel. The sixteen presses
// are 200 ms apart here so that two calls run in parallel in under 4 s.
// Scheduling delays are real, so the stream may stall (audio held in the
// look-ahead is then dropped) and a mask tone may be laid out differently;
// the digit checks are the same as above, leaks are judged as under
// impairments (dominantPairs), and the mask identity is left to the
// deterministic test.
func TestLoopbackRelayInRealTimeLeaksNothing(t *testing.T) {
	needMultimon(t)
	var ps []hPress
	for i, k := range allKeys {
		ps = append(ps, hPress{Key: k, Start: 1600 + i*1600 + 67, Len: 800})
	}
	total := 1600 + len(ps)*1600 + 1600
	for _, tc := range []struct {
		name string
		law  g711.Law
		pt   uint8
		mode hMode
		mute bool
	}{
		{"both PCMU", g711.Ulaw, 0, modeBoth, false},
		{"events PCMA, audio stopped", g711.Alaw, 8, modeEvents, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := hScenario{Law: tc.law, Mode: tc.mode, Presses: ps, Total: total, MuteEvents: tc.mute}
			pkts := withAudioPT(sc.packets(), tc.pt, hAudioPT)
			run := runLoopback(t, tc.law, tc.pt, pkts, true)
			checkNoEventPackets(t, run, tc.pt)
			agent := agentAudio(run.agent, tc.law, tc.pt)
			checkNoKeyHeard(t, agent)
			if n, worst, at := dominantPairs(agent, maskRef(dtmf.DefaultMaskTone(), tc.law)); n != 0 {
				t.Errorf("%d leaking windows (worst %.1f× at sample %d)", n, worst, at)
			}
			if len(run.presses) != len(ps) {
				t.Fatalf("%d presses queued, want %d: %+v", len(run.presses), len(ps), run.presses)
			}
			for i, g := range run.presses {
				if g.Key != ps[i].Key || g.Number != uint64(i+1) {
					t.Errorf("press %d: key %c number %d, want %c number %d", i, g.Key, g.Number, ps[i].Key, i+1)
				}
				// Arrival on the wall clock: after the onset was sent, and
				// (loaded machine, race detector) within 200 ms of it.
				onset := run.epoch.Add(time.Duration(ps[i].Start) * time.Second / dtmf.SampleRate)
				if d := g.FirstSeen.Sub(onset); d < -5*time.Millisecond || d > 200*time.Millisecond {
					t.Errorf("press %d: FirstSeen %v after the onset", i, d)
				}
			}
			t.Logf("agent got %d packets; %+v", run.raw, run.pipeline.Stats())
		})
	}
}

// The checks above are not vacuous: the same call with masking off gives
// the agent every key, and each check says so — event packets on the event
// type, our Detector and multimon-ng hearing all sixteen keys in the
// agent's audio, DTMF pair energy in it — while the presses are still
// queued.
func TestLoopbackLeakChecksCatchAnUnmaskedCall(t *testing.T) {
	needMultimon(t)
	ps, total := sixteenPresses(1600)
	sc := hScenario{Law: g711.Ulaw, Mode: modeBoth, Presses: ps, Total: total}
	run := runLoopbackPolicy(t, g711.Ulaw, 0, sc.packets(), false, Off)
	events := 0
	for _, o := range run.agent {
		if o.header.PayloadType == hEventPT && dtmf.EventShaped(o.pay) {
			events++
		}
	}
	if events == 0 {
		t.Error("no telephone-event packet reached the agent with event masking off")
	}
	agent := agentAudio(run.agent, g711.Ulaw, 0)
	if keys := detectKeys(agent); string(keys) != string(allKeys) {
		t.Errorf("our Detector finds %q in the unmasked agent audio, want %q", string(keys), string(allKeys))
	}
	if got := multimonKeys(t, agent); got != string(allKeys) {
		t.Errorf("multimon-ng hears %q in the unmasked agent audio, want %q", got, string(allKeys))
	}
	if n, _, _ := leaks(agent, maskRef(dtmf.DefaultMaskTone(), g711.Ulaw)); n == 0 {
		t.Error("no DTMF pair energy found in the unmasked agent audio")
	}
	if n, _, _ := dominantPairs(agent, maskRef(dtmf.DefaultMaskTone(), g711.Ulaw)); n == 0 {
		t.Error("no dominant DTMF pair found in the unmasked agent audio")
	}
	if len(run.presses) != len(ps) {
		t.Errorf("%d presses queued with masking off, want %d", len(run.presses), len(ps))
	}
}

// checkNoKeyHeard checks that neither our Detector nor multimon-ng, an
// independent receiver, hears any key in the agent's audio.
func checkNoKeyHeard(t *testing.T, agent []int16) {
	t.Helper()
	if keys := detectKeys(agent); len(keys) != 0 {
		t.Errorf("our Detector finds %q in the agent's audio", string(keys))
	}
	if got := multimonKeys(t, agent); got != "" {
		t.Errorf("multimon-ng hears %q in the agent's audio", got)
	}
}
