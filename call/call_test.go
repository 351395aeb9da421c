package call

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit"
	"dtmfgw/media"
	"dtmfgw/media/mask"
)

// reactorModes are the two ways a Manager reads sockets: a goroutine per
// leg, and shared epoll reactors (Linux only).
func reactorModes(t *testing.T) []int {
	if runtime.GOOS != "linux" {
		return []int{-1}
	}
	return []int{-1, 1}
}

func modeName(reactors int) string {
	if reactors < 0 {
		return "leg-readers"
	}
	return fmt.Sprintf("%d-reactors", reactors)
}

// bridge is a Call between two fake peers: caller and agent, each a UDP
// socket of the test's on 127.0.0.1.
type bridge struct {
	t             *testing.T
	m             *Manager
	clock         *testkit.Clock
	c             *Call
	caller, agent *peer
	// agentGot is every datagram the agent received, in order.
	agentGot []rtp.Packet
}

// newBridge starts an answered call between two new peers; the caller
// offers telephone-event on testEventPT, the agent none.
func newBridge(t *testing.T, reactors int, edit func(*MediaConfig)) *bridge {
	t.Helper()
	m, clock := newTestManager(t, 8, reactors, edit)
	b := &bridge{t: t, m: m, clock: clock}
	b.c = b.newCall(Correlation{InboundCallID: "in-1", AgentID: "agent-1"})
	b.caller = newPeer(t, 0x11110000, 100)
	b.agent = newPeer(t, 0x22220000, 5000)
	if err := b.c.SetCallerMedia(b.caller.params(testEventPT)); err != nil {
		t.Fatal(err)
	}
	if err := b.c.SetAgentMedia(b.agent.params(0)); err != nil {
		t.Fatal(err)
	}
	if err := b.c.Start(); err != nil {
		t.Fatal(err)
	}
	b.c.MarkAnswered()
	return b
}

func (b *bridge) newCall(corr Correlation) *Call {
	b.t.Helper()
	c, err := b.m.NewCall(corr)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

// callerAudio lets 20 ms pass, sends one caller audio packet from p and
// reads what the agent receives for it: the pipeline sends one packet per
// audio packet (its look-ahead delays the audio inside, not the packets).
func (b *bridge) callerAudio(p *peer, payload []byte) rtp.Packet {
	b.t.Helper()
	b.clock.Advance(ptime)
	p.audio(b.c.CallerMediaAddr(), payload)
	pkt := b.agent.readRTP()
	b.agentGot = append(b.agentGot, pkt)
	return pkt
}

// callerStream sends n packets of silence through callerAudio.
func (b *bridge) callerStream(p *peer, n int) {
	b.t.Helper()
	for range n {
		b.callerAudio(p, nil)
	}
}

// press sends a 100 ms press of k from the caller p: as RFC 4733 events on
// eventPT, as an in-band tone, or both, each with the audio packet of its
// 20 ms, then silence for the detector to hear the tone end.
func (b *bridge) press(p *peer, k dtmf.Key, events, inband bool, eventPT uint8) {
	b.t.Helper()
	frames := toneFrames(k)
	start := p.ts
	for i, f := range frames {
		if events {
			p.event(b.c.CallerMediaAddr(), eventPT, k, start, uint16((i+1)*160), false, i == 0)
		}
		if !inband {
			f = nil
		}
		b.callerAudio(p, f)
	}
	if events {
		for range 3 { // the end packet thrice, RFC 4733 §2.5.1.4
			p.event(b.c.CallerMediaAddr(), eventPT, k, start, uint16(len(frames)*160), true, false)
		}
	}
	b.callerStream(p, 6)
}

// finish ends the call as the caller hanging up and returns its digits.
// The relay's counters are final once End returns, and loopback delivers
// a datagram within its send, so the agent then reads exactly the
// packets the pipeline sent and had not been read yet (packets it
// synthesised while events had no audio beside them). It checks that the
// agent received one RTP stream: audio only, one SSRC, sequence numbers
// without a gap, timestamps going forward, and no key our detector hears.
func (b *bridge) finish() []dtmf.Press {
	b.t.Helper()
	digits := endAndCollect(b.t, b.c)
	st := b.c.Stats()
	for uint64(len(b.agentGot)) < st.Pipeline.Sent {
		b.agentGot = append(b.agentGot, b.agent.readRTP())
	}
	if uint64(len(b.agentGot)) != st.Pipeline.Sent {
		b.t.Errorf("the pipeline sent %d packets, the agent received %d: %+v", st.Pipeline.Sent, len(b.agentGot), st.Pipeline)
	}
	got := b.agentGot
	if len(got) == 0 {
		b.t.Fatal("the agent received nothing")
	}
	for i, p := range got {
		if p.PayloadType != testAudioPT {
			b.t.Errorf("agent packet %d has payload type %d: only audio may reach the agent", i, p.PayloadType)
		}
		if p.SSRC != got[0].SSRC {
			b.t.Errorf("agent packet %d has SSRC %#x, the stream's is %#x", i, p.SSRC, got[0].SSRC)
		}
		if i == 0 {
			continue
		}
		if p.SequenceNumber != got[i-1].SequenceNumber+1 {
			b.t.Errorf("agent packet %d has sequence number %d after %d", i, p.SequenceNumber, got[i-1].SequenceNumber)
		}
		if d := p.Timestamp - got[i-1].Timestamp; d == 0 || d > 1<<31 {
			b.t.Errorf("agent packet %d: timestamp %d after %d", i, p.Timestamp, got[i-1].Timestamp)
		}
	}
	b.checkNoKeyHeard()
	return digits
}

// checkNoKeyHeard runs our in-band detector over the agent's audio.
func (b *bridge) checkNoKeyHeard() {
	b.t.Helper()
	det := dtmf.NewDetector(dtmf.DetectorConfig{})
	pcm := make([]int16, 160)
	var evs []dtmf.KeyEvent
	for _, p := range b.agentGot {
		n := g711.Ulaw.Decode(pcm, p.Payload)
		evs = det.Process(pcm[:n], evs)
	}
	for _, e := range evs {
		if e.Kind == dtmf.Begin {
			b.t.Errorf("the agent's audio carries key %c", byte(e.Key))
		}
	}
}

func TestCallRelaysBothWaysAndDigitsArriveOnce(t *testing.T) {
	cases := []struct {
		name           string
		events, inband bool
		sources        []dtmf.Source
	}{
		{"rfc4733", true, false, []dtmf.Source{dtmf.SourceRFC4733}},
		{"inband", false, true, []dtmf.Source{dtmf.SourceInband}},
		{"both", true, true, []dtmf.Source{dtmf.SourceRFC4733, dtmf.SourceInband}},
	}
	for _, reactors := range reactorModes(t) {
		for _, tc := range cases {
			t.Run(modeName(reactors)+"/"+tc.name, func(t *testing.T) {
				b := newBridge(t, reactors, nil)
				b.callerStream(b.caller, 10)

				// Agent → caller is relayed unchanged. (The clock stands
				// still: the caller's audio has no gap.)
				for range 3 {
					sent := b.agent.audio(b.c.AgentMediaAddr(), bytes.Repeat([]byte{0x42}, 160))
					if got := b.caller.read(); !bytes.Equal(got, sent) {
						t.Fatalf("the caller received %d bytes that differ from the agent's %d", len(got), len(sent))
					}
				}

				b.press(b.caller, key('5'), tc.events, tc.inband, testEventPT)
				if !b.c.Secure() {
					t.Error("an answered G.711 call with masking on is not Secure")
				}
				digits := b.finish()
				if st := b.c.Stats(); tc.events && st.Pipeline.EventsDropped == 0 {
					t.Error("no telephone-event packet was dropped")
				}
				if keysOf(digits) != "5" {
					t.Fatalf("digits %q, want one 5", keysOf(digits))
				}
				d := digits[0]
				if d.Number != 1 || !containsSource(tc.sources, d.Source) {
					t.Errorf("digit number %d source %v, want 1 and one of %v", d.Number, d.Source, tc.sources)
				}
				if got := b.c.EndReason(); got != EndCallerHangup {
					t.Errorf("end reason %v", got)
				}
			})
		}
	}
}

func containsSource(ss []dtmf.Source, s dtmf.Source) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestCallSIPInfoAndMediaPressCountOnce(t *testing.T) {
	b := newBridge(t, -1, nil)
	b.callerStream(b.caller, 5)

	// 7: the phone sends both a SIP INFO and RFC 4733 events.
	b.c.SIPInfoDigit(key('7'), 100*time.Millisecond, b.clock.Now().Add(ptime))
	b.press(b.caller, key('7'), true, false, testEventPT)
	// 8: events only.
	b.press(b.caller, key('8'), true, false, testEventPT)
	// 9: SIP INFO only, then a real second press of 9 in events 2 s
	// later, far outside the first one's window.
	b.c.SIPInfoDigit(key('9'), 0, time.Time{})
	b.clock.Advance(2 * time.Second)
	b.press(b.caller, key('9'), true, false, testEventPT)
	// Not a key: refused and counted.
	b.c.SIPInfoDigit(dtmf.Key('x'), 0, time.Time{})

	digits := b.finish()
	st := b.c.Stats().Presses
	if got := keysOf(digits); got != "7899" {
		t.Fatalf("digits %q, want 7899", got)
	}
	wantSources := []dtmf.Source{dtmf.SourceSIPInfo, dtmf.SourceRFC4733, dtmf.SourceSIPInfo, dtmf.SourceRFC4733}
	for i, d := range digits {
		if d.Source != wantSources[i] || d.Number != uint64(i+1) {
			t.Errorf("digit %d: source %v number %d, want %v %d", i, d.Source, d.Number, wantSources[i], i+1)
		}
	}
	if st.Joined != 1 || st.SIPInfo != 2 || st.Invalid != 1 || st.Delivered != 4 || st.Overflows != 0 {
		t.Errorf("digit stats %+v", st)
	}
}

func TestCallFullDigitQueueNeverBlocksTheMedia(t *testing.T) {
	// A subscriber that reads nothing: a queue of one takes the first
	// press; the others are counted and dropped while the media flows on.
	b := newBridge(t, -1, func(c *MediaConfig) { c.DigitQueue = 1 })
	b.callerStream(b.caller, 3)
	for _, k := range []byte("123") {
		b.press(b.caller, key(k), true, false, testEventPT)
	}
	b.c.SIPInfoDigit(key('4'), 0, time.Time{})
	digits := b.finish()
	if keysOf(digits) != "1" || digits[0].Number != 1 {
		t.Errorf("digits %q, want the first press only", keysOf(digits))
	}
	// finish waited for the queue to close: every press is counted.
	if st := b.c.Stats().Presses; st.Delivered != 1 || st.Overflows != 3 {
		t.Errorf("digit stats %+v, want 1 delivered and 3 overflows", st)
	}
}

func TestCallReinviteKeepsTheAgentStream(t *testing.T) {
	cases := []struct {
		name    string
		eventPT uint8 // the caller's telephone-event type after the re-INVITE
		swaps   uint64
	}{
		{"new-address", testEventPT, 0},
		{"new-address-and-event-type", 96, 1},
	}
	for _, reactors := range reactorModes(t) {
		for _, tc := range cases {
			t.Run(modeName(reactors)+"/"+tc.name, func(t *testing.T) {
				b := newBridge(t, reactors, nil)
				b.callerStream(b.caller, 10)
				b.press(b.caller, key('1'), true, false, testEventPT)

				// Everything the caller sent so far has been taken in
				// before it moves (an agent packet read may be a tick's
				// fill rather than the answer to the last caller packet).
				testkit.WaitFor(t, "the caller leg takes in all the caller sent", func() bool { return b.c.Stats().Relay.Caller.Received.Packets >= b.caller.sent })
				// The caller moves (a re-INVITE with a new c= and port):
				// a new socket, a new SSRC, its own sequence numbers.
				moved := newPeer(t, 0x33330000, 40000)
				if err := b.c.SetCallerMedia(moved.params(tc.eventPT)); err != nil {
					t.Fatal(err)
				}
				// The old address is not heard any more; the agent reads
				// the next packet from the new one only.
				b.caller.audio(b.c.CallerMediaAddr(), nil)
				b.callerStream(moved, 10)
				b.press(moved, key('2'), true, false, tc.eventPT)

				digits := b.finish()
				if keysOf(digits) != "12" {
					t.Errorf("digits %q, want 12", keysOf(digits))
				}
				st := b.c.Stats()
				if st.PipelineSwaps != tc.swaps {
					t.Errorf("%d pipeline swaps, want %d", st.PipelineSwaps, tc.swaps)
				}
				if st.Relay.Caller.Received.DroppedWrongSource != 1 {
					t.Errorf("%d datagrams dropped from the old address, want 1", st.Relay.Caller.Received.DroppedWrongSource)
				}
			})
		}
	}
}

// advanceUntilDone moves the clock step by step until c ends, at most
// steps times. Between steps it runs between (a talking side's packet)
// and waits up to a few timeout checks (every 2 ms of wall time, see
// newTestManager) for the end: the checks judge the fake clock, but run
// on their own wall-clock pace.
func advanceUntilDone(t *testing.T, clock *testkit.Clock, c *Call, step time.Duration, steps int, between func()) {
	t.Helper()
	for range steps {
		clock.Advance(step)
		if between != nil {
			between()
		}
		select {
		case <-c.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("%v did not end within %d steps of %v", c, steps, step)
}

func TestCallHoldStopsTheMediaTimeout(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs one reactor judging every leg's timeout in one pass")
	}
	// One reactor judges every leg's timeout in the same pass at the same
	// time, so when the control call has timed out, the held and the
	// ringing call's legs were judged at that time too.
	b := newBridge(t, 1, nil)
	b.callerStream(b.caller, 3)

	control := b.newCall(Correlation{InboundCallID: "control"})
	ringing := b.newCall(Correlation{InboundCallID: "ringing"})
	for _, c := range []*Call{control, ringing} {
		cp, ap := newPeer(t, 1, 1), newPeer(t, 2, 2)
		if err := c.SetCallerMedia(cp.params(0)); err != nil {
			t.Fatal(err)
		}
		if err := c.SetAgentMedia(ap.params(0)); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	control.MarkAnswered()
	answered := b.clock.Now()

	// The caller holds the old way, c=0.0.0.0 (RFC 3264 §8.4).
	hold := b.caller.params(testEventPT)
	hold.Remote = netip.AddrPortFrom(netip.IPv4Unspecified(), hold.Remote.Port())
	hold.Hold = true
	if err := b.c.SetCallerMedia(hold); err != nil {
		t.Fatal(err)
	}
	if b.c.Secure() {
		t.Error("a call whose caller holds is Secure")
	}
	advanceUntilDone(t, b.clock, control, DefaultMediaTimeout/10, 100, nil)
	if r := control.EndReason(); !r.MediaTimeout() {
		t.Fatalf("control call ended with %v, want a media timeout", r)
	}
	if d := control.Times().Ended.Sub(answered); d < DefaultMediaTimeout {
		t.Errorf("control call timed out after %v of silence, before %v", d, DefaultMediaTimeout)
	}
	if r := b.c.EndReason(); r != NotEnded {
		t.Fatalf("the held call ended (%v)", r)
	}
	if r := ringing.EndReason(); r != NotEnded {
		t.Fatalf("the unanswered call ended (%v)", r)
	}

	// Held: the caller's packets are dropped. Resumed from a new address:
	// they flow again, and the agent's stream has no gap.
	b.caller.audio(b.c.CallerMediaAddr(), nil)
	resumed := newPeer(t, 0x44440000, 9)
	if err := b.c.SetCallerMedia(resumed.params(testEventPT)); err != nil {
		t.Fatal(err)
	}
	b.callerStream(resumed, 3)
	if !b.c.Secure() {
		t.Error("the call is not Secure again after the caller resumed")
	}
	b.finish()
	if n := b.c.Stats().Relay.Caller.Received.DroppedWrongSource; n != 1 {
		t.Errorf("%d datagrams dropped while held, want 1", n)
	}
}

func TestCallMediaTimeoutEndsTheCall(t *testing.T) {
	cases := []struct {
		name   string
		silent media.Side
		want   EndReason
	}{
		{"caller-silent", media.CallerSide, EndCallerMediaTimeout},
		{"agent-silent", media.AgentSide, EndAgentMediaTimeout},
	}
	for _, reactors := range reactorModes(t) {
		for _, tc := range cases {
			t.Run(modeName(reactors)+"/"+tc.name, func(t *testing.T) {
				b := newBridge(t, reactors, nil)
				answered := b.clock.Now()
				// The talking side's packet is read at the other end at
				// every step, so its leg has accepted one at each time;
				// the silent side sends nothing.
				// The call may end while a packet is on its way; then
				// nothing arrives, and the read ends with the call.
				talk := func() {
					from, to, addr := b.agent, b.caller, b.c.AgentMediaAddr()
					if tc.silent == media.AgentSide {
						from, to, addr = b.caller, b.agent, b.c.CallerMediaAddr()
					}
					from.audio(addr, nil)
					if !to.readUntilDone(b.c) {
						return
					}
				}
				advanceUntilDone(t, b.clock, b.c, DefaultMediaTimeout/10, 100, talk)
				if got := b.c.EndReason(); got != tc.want || !got.MediaTimeout() {
					t.Fatalf("end reason %v, want %v", got, tc.want)
				}
				if d := b.c.Times().Ended.Sub(answered); d < DefaultMediaTimeout {
					t.Errorf("timed out after %v of silence, before %v", d, DefaultMediaTimeout)
				}
				if n := b.m.Stats().Ends[tc.want]; n != 1 {
					t.Errorf("manager counted %d ends of %v", n, tc.want)
				}
				if _, ok := b.m.Get(b.c.ID()); ok {
					t.Error("an ended call is still registered")
				}
				// The digit queue is closed with the call.
				if digits := endAndCollect(t, b.c); len(digits) != 0 {
					t.Errorf("%d digits from a silent call", len(digits))
				}
				if b.c.End(EndCallerHangup) || b.c.EndReason() != tc.want {
					t.Error("a second End changed the call")
				}
			})
		}
	}
}

func TestCallStartNeedsBothSidesAndOneCodec(t *testing.T) {
	m, _ := newTestManager(t, 4, -1, nil)
	c, err := m.NewCall(Correlation{})
	if err != nil {
		t.Fatal(err)
	}
	caller, agent := newPeer(t, 1, 1), newPeer(t, 2, 2)
	if err := c.Start(); !errors.Is(err, ErrMediaUnknown) {
		t.Fatalf("Start with no media: %v", err)
	}
	if err := c.SetCallerMedia(caller.params(testEventPT)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, ErrMediaUnknown) {
		t.Fatalf("Start with the caller's media only: %v", err)
	}
	pcma := agent.params(0)
	pcma.Law, pcma.AudioPT = g711.Alaw, 8
	if err := c.SetAgentMedia(pcma); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, ErrCodecMismatch) {
		t.Fatalf("Start with PCMU to PCMA: %v", err)
	}
	if err := c.SetAgentMedia(agent.params(0)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("a second Start (the 200 after a 183): %v", err)
	}
	if c.Times().MediaStarted.IsZero() || m.Stats().Relaying != 1 {
		t.Error("media start not recorded")
	}
	c.End(EndAgentHangup)
	if err := c.Start(); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("Start after End: %v", err)
	}
	if err := c.SetCallerMedia(caller.params(0)); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("SetCallerMedia after End: %v", err)
	}
	if m.Stats().Relaying != 0 {
		t.Error("an ended call still counts as relaying")
	}
}

func TestMediaParamsRefused(t *testing.T) {
	m, _ := newTestManager(t, 4, -1, nil)
	c, err := m.NewCall(Correlation{})
	if err != nil {
		t.Fatal(err)
	}
	remote := netip.MustParseAddrPort("127.0.0.1:4000")
	for _, p := range []MediaParams{
		{Remote: remote, AudioPT: 128},
		{Remote: remote, AudioPT: 0, Law: 9},
		{Remote: remote, AudioPT: 0, EventPT: 128},
		{Remote: remote, AudioPT: 101, EventPT: 101},
		{Remote: remote, AudioPT: 0, EventPT: 101, EventClockRate: 1 << 30},
	} {
		if err := c.SetCallerMedia(p); !errors.Is(err, ErrBadMedia) {
			t.Errorf("SetCallerMedia(%+v): %v, want ErrBadMedia", p, err)
		}
		if err := c.SetAgentMedia(p); !errors.Is(err, ErrBadMedia) {
			t.Errorf("SetAgentMedia(%+v): %v, want ErrBadMedia", p, err)
		}
	}
}

func TestCallSecure(t *testing.T) {
	opus := func(p MediaParams) MediaParams { p.Law, p.AudioPT = 0, 111; return p }
	cases := []struct {
		name       string
		events     mask.Policy
		inband     mask.Policy
		media      func(MediaParams) MediaParams
		secureMode bool
		want       bool
	}{
		{"always", mask.Always, mask.Always, nil, false, true},
		{"secure-only-off", mask.SecureOnly, mask.SecureOnly, nil, false, false},
		{"secure-only-on", mask.SecureOnly, mask.SecureOnly, nil, true, true},
		{"inband-off", mask.Always, mask.Off, nil, true, false},
		{"events-off", mask.Off, mask.Always, nil, true, false},
		{"not-g711", mask.Always, mask.Always, opus, true, false},
		{"caller-holds", mask.Always, mask.Always, func(p MediaParams) MediaParams { p.Hold = true; return p }, true, false},
		{"no-caller-address", mask.Always, mask.Always, func(p MediaParams) MediaParams { p.Remote = netip.AddrPortFrom(p.Remote.Addr(), 0); return p }, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager(t, 4, -1, func(c *MediaConfig) {
				c.MaskEvents, c.MaskInband = Policy(tc.events), Policy(tc.inband)
			})
			c, err := m.NewCall(Correlation{})
			if err != nil {
				t.Fatal(err)
			}
			cp, ap := newPeer(t, 1, 1).params(testEventPT), newPeer(t, 2, 2).params(0)
			if tc.media != nil {
				cp, ap = tc.media(cp), tc.media(ap)
				ap.Hold = false
			}
			if err := c.SetCallerMedia(cp); err != nil {
				t.Fatal(err)
			}
			if err := c.SetAgentMedia(ap); err != nil {
				t.Fatal(err)
			}
			if c.Secure() {
				t.Fatal("Secure before Start")
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			c.SetSecureMode(tc.secureMode)
			if got := c.Secure(); got != tc.want {
				t.Errorf("Secure() = %v, want %v", got, tc.want)
			}
			c.End(EndCallerHangup)
			if c.Secure() {
				t.Error("Secure after End")
			}
		})
	}
}
