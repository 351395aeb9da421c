//go:build linux

package main

import (
	"bytes"
	"os"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

// TestMain lets the test binary be the relaying child process too.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestStampRoundTrip(t *testing.T) {
	s := newStream(42, true)
	b := make([]byte, maxDatagram)
	s.next(b, renderTones(), 1)
	n := s.next(b, renderTones(), 123456789)
	st, ok := stamp(b[:n], 0)
	if want := (stampInfo{call: 42, index: 1, sentNS: 123456789}); !ok || st != want {
		t.Fatalf("stamp = %+v, %v; want %+v, true", st, ok, want)
	}
	if _, ok := stamp(b[:rtpHeader+stampBytes-1], 0); ok {
		t.Fatal("stamp read from a short packet")
	}
}

// TestStampSurvivesAnyDelay delays a run of stamped payloads by every
// sample count up to 40 ms, as a look-ahead does, and checks that every
// output packet whose delayed input was stamped yields its stamp and the
// right packet delay, and that a packet after the first delay+16 bytes
// always has one.
func TestStampSurvivesAnyDelay(t *testing.T) {
	const packets = 6
	var audio []byte
	headers := make([][]byte, packets)
	for i := range packets {
		s := newStream(7, true)
		b := make([]byte, maxDatagram)
		n := s.next(b, renderTones(), int64(1000+i))
		headers[i] = b[:rtpHeader]
		audio = append(audio, b[rtpHeader:n]...)
	}
	for delay := range 321 {
		delayed := append(bytes.Repeat([]byte{0xFF}, delay), audio...)
		for k := range packets {
			out := append(append([]byte{}, headers[k]...), delayed[k*frameBytes:(k+1)*frameBytes]...)
			st, ok := stamp(out, delay)
			sent, later := st.sentNS, st.later
			// Which input copies lie whole in output k?
			want := false
			for q := range packets {
				for _, o := range stampOffsets {
					pos := q*frameBytes + o + delay
					want = want || (pos >= k*frameBytes && pos+stampBytes <= (k+1)*frameBytes)
				}
			}
			if ok != want {
				t.Fatalf("delay %d, output %d: stamp found %v, want %v", delay, k, ok, want)
			}
			if !ok {
				if k*frameBytes >= delay+stampBytes {
					t.Fatalf("delay %d, output %d: no whole stamp", delay, k)
				}
				continue
			}
			if int(sent-1000)+later != k {
				t.Fatalf("delay %d, output %d: stamp of packet %d, %d later", delay, k, sent-1000, later)
			}
		}
	}
}

// TestCallerScriptCarriesRealPresses checks that the load is what masking
// must deal with: one cycle of a caller stream holds one press as RFC 4733
// events (one timestamp, growing durations, end packets) and one in-band
// press that our detector finds, of the keys the script says.
func TestCallerScriptCarriesRealPresses(t *testing.T) {
	const call = 3
	s := newStream(call, false)
	s.pos = 0
	tones := renderTones()
	det := dtmf.NewDetector(dtmf.DetectorConfig{})
	b := make([]byte, maxDatagram)
	pcm := make([]int16, frameBytes)
	var events []dtmf.TelephoneEvent
	var found []dtmf.KeyEvent
	eventTS := map[uint32]bool{}
	for range cycle {
		n := s.next(b, tones, 0)
		switch pt := b[1] & 0x7F; pt {
		case eventPT:
			ev, err := dtmf.DecodeTelephoneEvent(b[rtpHeader:n])
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, ev)
			eventTS[uint32(b[4])<<24|uint32(b[5])<<16|uint32(b[6])<<8|uint32(b[7])] = true
		case audioPT:
			g711.DecodeUlaw(pcm, b[rtpHeader:n])
			found = det.Process(pcm, found)
		default:
			t.Fatalf("payload type %d", pt)
		}
	}
	found = det.Flush(found)
	if len(events) != eventPackets || len(eventTS) != 1 {
		t.Fatalf("%d event packets on %d timestamps, want %d on 1", len(events), len(eventTS), eventPackets)
	}
	for i, ev := range events {
		if ev.Code != call%16 || ev.End != (i >= eventEndAt) {
			t.Fatalf("event packet %d = %+v", i, ev)
		}
	}
	wantKey, _ := dtmf.KeyFromCode((call + 5) % 16)
	begins := 0
	for _, e := range found {
		if e.Kind == dtmf.Begin {
			begins++
			if e.Key != wantKey {
				t.Fatalf("detector found %v, want %v", e.Key, wantKey)
			}
		}
	}
	if begins != 1 {
		t.Fatalf("detector found %d presses in the audio, want 1: %+v", begins, found)
	}
}

// TestShortLoad is the short load run of make test: 100 calls (fewer
// under the race detector) for 3 s through each relaying mode. It checks
// that the benchmark measures something true — everything relayed, every
// stamped packet timed, events masked where masking is on — not the
// performance bar, which only `go run ./bench/loadrelay` on a quiet
// machine can judge.
func TestShortLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real load through every mode for about 25 s: make test runs it")
	}
	calls := 100
	if raceEnabled {
		calls = 30
	}
	for _, mode := range defaultModes {
		t.Run(mode, func(t *testing.T) {
			r, err := run(runConfig{Mode: mode, Calls: calls, Warmup: 500 * time.Millisecond, Measure: 3 * time.Second, Ports: "20000-29999"})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d calls, %d late slots, %d packets in the window, %.2f µs CPU/packet, up p50/p99 %v/%v, down %v/%v",
				mode, calls, r.LateSlots, r.WindowPackets, float64(r.CPUPerPacket())/1e3,
				r.Up.percentile(0.5), r.Up.percentile(0.99), r.Down.percentile(0.5), r.Down.percentile(0.99))
			// Nothing here depends on how much CPU the machine has to
			// spare (make test runs packages side by side): rates and
			// latencies are logged, not judged.
			if r.WindowPackets == 0 || r.SentUp == 0 || r.SentDown == 0 {
				t.Fatalf("nothing relayed: %d sent up, %d down, %d in the window", r.SentUp, r.SentDown, r.WindowPackets)
			}
			// Loopback loses nothing, but a relay starved of CPU for
			// longer than the receivers' quiet period is cut short.
			if r.Down.received < r.SentDown*95/100 {
				t.Fatalf("agent→caller: %d of %d packets arrived", r.Down.received, r.SentDown)
			}
			if r.Down.eventPackets != 0 {
				t.Fatalf("%d telephone-event packets toward the caller, who sent none", r.Down.eventPackets)
			}
			// Every unmasked stamped packet is timed. Masked audio
			// carries fewer whole stamps (mask tone, and look-ahead audio
			// dropped when the caller's packets come late), so there
			// only some.
			if d := r.Down; d.timed < d.inWindow*8/10 {
				t.Fatalf("down: %d of %d packets in the window timed", d.timed, d.inWindow)
			}
			if r.Up.timed == 0 {
				t.Fatal("up: no packet timed")
			}
			switch mode {
			case modeRelayMask, modeMaskReactor:
				if r.Up.eventPackets != 0 {
					t.Fatalf("%d telephone-event packets reached the agent", r.Up.eventPackets)
				}
			default:
				// Unmasked, the events pass: proof that the load carries them.
				if r.Up.eventPackets == 0 {
					t.Fatal("no telephone-event packet arrived unmasked: the load carries no events")
				}
				if r.Up.timed < r.Up.inWindow*8/10 {
					t.Fatalf("up: %d of %d packets in the window timed", r.Up.timed, r.Up.inWindow)
				}
				if r.Up.received < r.SentUp*95/100 {
					t.Fatalf("caller→agent: %d of %d packets arrived", r.Up.received, r.SentUp)
				}
			}
		})
	}
}

// FuzzStamp feeds arbitrary datagrams to the receiver's stamp reader: it
// must not panic, and what it reports must be consistent with the bytes
// (a whole stamp inside the payload, a non-negative packet delay).
func FuzzStamp(f *testing.F) {
	s := newStream(1, true)
	b := make([]byte, maxDatagram)
	n := s.next(b, renderTones(), 42)
	f.Add(b[:n], uint16(0))
	f.Add(b[:n], uint16(208))
	f.Add([]byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0xFF, 0xFF}, uint16(0))
	f.Fuzz(func(t *testing.T, pkt []byte, delay uint16) {
		d := int(delay % 321) // up to 40 ms of look-ahead
		st, ok := stamp(pkt, d)
		if !ok {
			return
		}
		if st.later < 0 || len(pkt) < rtpHeader+stampBytes {
			t.Fatalf("stamp from %d bytes, %d packets later", len(pkt), st.later)
		}
	})
}

// TestDelayedStampTimedFromItsRelease checks that a stamp the look-ahead
// delayed is timed from the actual send of the audio packet it left with,
// not from a schedule: a generator that sends that packet 3 ms late must
// not charge those 3 ms to the relay; events in between are not audio
// packets; without a log entry the schedule stands in.
func TestDelayedStampTimedFromItsRelease(t *testing.T) {
	var d direction
	d.sends = make([]sendLog, 1)
	s := newStream(0, false)
	s.sends = &d.sends[0]
	s.pos = eventAt - 1
	tones := renderTones()
	b := make([]byte, maxDatagram)
	gap := int64(packetGap)
	s.next(b, tones, 1_000_000) // the last audio before a press as events
	first, ok := stamp(b[:packetBytes], 0)
	if !ok {
		t.Fatal("no stamp in the audio packet")
	}
	sent := int64(1_000_000)
	for range eventPackets {
		sent += gap
		if n := s.next(b, tones, sent); b[1]&0x7F != eventPT || n != rtpHeader+dtmf.TelephoneEventSize {
			t.Fatal("the script's events are not where the test expects them")
		}
	}
	late := sent + gap + 3_000_000
	s.next(b, tones, late)
	first.later = 1
	if got, _, slipped := d.release(first); got != late || slipped {
		t.Fatalf("released at %d (slip known: %v), want the next audio packet's send %d, its slip unknown across a press", got, slipped, late)
	}
	first.later = 2 // not sent yet: the schedule stands in
	if got, _, _ := d.release(first); got != first.sentNS+2*gap {
		t.Fatalf("released at %d, want the schedule's %d", got, first.sentNS+2*gap)
	}
	// Back to back audio: the 3 ms the next send slipped are known.
	s.next(b, tones, late+gap+3_000_000)
	st, _ := stamp(b[:packetBytes], 0)
	s.next(b, tones, st.sentNS+gap+3_000_000)
	st.later = 1
	if got, slip, slipped := d.release(st); got != st.sentNS+gap+3_000_000 || !slipped || slip != 3_000_000 {
		t.Fatalf("released at %d, slip %d (known: %v); want %d, 3 ms", got, slip, slipped, st.sentNS+gap+3_000_000)
	}
	d.countSlip(3_000_000)
	if d.slipTimed != 1 || d.slipPercentile(0.99) != 3*time.Millisecond {
		t.Fatalf("%d slips, p99 %v; want 1 of 3ms", d.slipTimed, d.slipPercentile(0.99))
	}
}

// The summary pools every round (CPU over all windows, latency over all
// timed packets), takes the median of the rounds' up p99s, and reads the
// bar from the pooled CPU and the median p99s.
func TestSummaryPoolsRounds(t *testing.T) {
	mk := func(mode string, round int, cpu time.Duration, upMicros ...int) *result {
		r := &result{runConfig: runConfig{Mode: mode, Calls: 1000, Round: round}, ChildCPU: cpu, WindowPackets: 1000,
			Up: &direction{}, Down: &direction{}}
		for _, us := range upMicros {
			r.Up.hist[us]++
			r.Up.timed++
			r.Down.hist[us]++
			r.Down.timed++
		}
		return r
	}
	ones := func(n, us int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = us
		}
		return s
	}
	// Round 1: the masked relay's tail is worse; round 2: the reference's
	// is far worse. Pooled and by median, the masked relay's p99 is the
	// lower one.
	results := []*result{
		mk(modeReference, 1, 10*time.Millisecond, append(ones(98, 100), 2000, 2000)...),
		mk(modeMaskReactor, 1, 9*time.Millisecond, append(ones(98, 100), 3000, 3000)...),
		mk(modeReference, 2, 10*time.Millisecond, append(ones(90, 100), ones(10, 9000)...)...),
		mk(modeMaskReactor, 2, 9*time.Millisecond, append(ones(98, 100), 3000, 3000)...),
	}
	// Three windows a round: the masked relay's p99 is at most the
	// reference's in the first two of round 1 (a tie counts) and the last
	// of round 2.
	ms := time.Millisecond
	results[0].Up.WindowP99s = []time.Duration{2 * ms, 2 * ms, 2 * ms}
	results[1].Up.WindowP99s = []time.Duration{1 * ms, 2 * ms, 3 * ms}
	results[2].Up.WindowP99s = []time.Duration{1 * ms, 1 * ms, 9 * ms}
	results[3].Up.WindowP99s = []time.Duration{3 * ms, 3 * ms, 3 * ms}
	got := summary(results)
	for _, want := range []string{
		"| reference | 1000 | 2 | 10.00 | — | 0.100 | 9.000 | 5.500 |",
		"| relay+mask-reactor | 1000 | 2 | 9.00 | 0.90 | 0.100 | 3.000 | 3.000 |",
		"| 1 of 2 | 3 of 6 | met |",
	} {
		if !bytes.Contains([]byte(got), []byte(want)) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	// A masked round 2 with the reference's tail: the median p99 (6.25 ms)
	// is above the reference's (5.5 ms).
	results[3] = mk(modeMaskReactor, 2, 9*time.Millisecond, append(ones(90, 100), ones(10, 9500)...)...)
	if got := summary(results); !bytes.Contains([]byte(got), []byte("| 6.250 |")) || !bytes.Contains([]byte(got), []byte("| not met |")) {
		t.Errorf("a masked relay with the higher median p99 met the bar:\n%s", got)
	}
	// Slower than the reference: not met, whatever the latency.
	results[3] = mk(modeMaskReactor, 2, 11*time.Millisecond, append(ones(98, 100), 3000, 3000)...)
	results[1].ChildCPU = 11 * time.Millisecond
	if got := summary(results); !bytes.Contains([]byte(got), []byte("| not met |")) {
		t.Errorf("a masked relay dearer than the reference met the bar:\n%s", got)
	}
}

// TestInterleavedLoad runs the reference and the masking reactor relay at
// once, the load handed between them in short windows, and checks that
// each mode is charged with its own traffic only: the packets counted in
// its windows are what its calls send in that time (not twice that, nor
// none), its stamped packets are timed, and masking holds in its windows
// as in a run alone.
func TestInterleavedLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real load, all modes at once, for several seconds: make test runs it")
	}
	calls := 100
	if raceEnabled {
		calls = 30
	}
	const window = 800 * time.Millisecond
	p, measured, err := interleavedPlan(2, 300*time.Millisecond, 2*window, window)
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := splitPorts("20000-29999", 1, 4*calls)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := runPlan([]runConfig{
		{Mode: modeReference, Calls: calls, Measure: measured},
		{Mode: modeMaskReactor, Calls: calls, Measure: measured, Ports: ranges[0]},
	}, p)
	if err != nil {
		t.Fatal(err)
	}
	// Both directions of every call, 50 packets/s each; the masked
	// direction loses the events' share (7 of 250 packets a call).
	offered := float64(2*calls*50) * measured.Seconds()
	for _, r := range rs {
		t.Logf("%s: %d packets in the windows (offered %.0f), %d up and %d down timed, up p99 %v",
			r.Mode, r.WindowPackets, offered, r.Up.timed, r.Down.timed, r.Up.percentile(0.99))
		if got := float64(r.WindowPackets); got < 0.9*offered || got > 1.05*offered {
			t.Errorf("%s: %d packets counted in its windows, want about %.0f: another mode's traffic counted, or its own lost", r.Mode, r.WindowPackets, offered)
		}
		if d := r.Down; d.timed < d.inWindow*8/10 {
			t.Errorf("%s down: %d of %d packets in the windows timed", r.Mode, d.timed, d.inWindow)
		}
		if r.Up.timed == 0 {
			t.Errorf("%s up: no packet timed", r.Mode)
		}
		// One p99 a window, each from packets of its own.
		if len(r.Up.WindowP99s) != 2 || r.Up.WindowP99s[0] == 0 || r.Up.WindowP99s[1] == 0 {
			t.Errorf("%s: window p99s %v, want two, none empty", r.Mode, r.Up.WindowP99s)
		}
	}
	if rs[0].Up.eventPackets == 0 {
		t.Error("no telephone-event packet passed the reference: the load carries no events")
	}
	if rs[1].Up.eventPackets != 0 {
		t.Errorf("%d telephone-event packets reached the agent through the masking relay", rs[1].Up.eventPackets)
	}
}
