package sip

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit/leakcheck"
	"dtmfgw/internal/testkit/sipptest"
	"dtmfgw/media/mask"

	"github.com/pion/rtp"
)

// The tests below prove the B2BUA with real peers: the B2BUA runs
// in-process on loopback, as startGateway runs it, with SIPp (and once
// baresip) as the caller and SIPp as the agent, whose SDP answer points
// its media at a sipptest.Recorder. A missing sipp, baresip or
// multimon-ng fails them (an integration test that skips proves nothing);
// the scenarios that play the caller's RTP need root or CAP_NET_RAW, and
// sipptest.Run says so when it is missing.
//
// The canary card number is compared only through Key.Reveal inside the
// assertions; failures report lengths and positions, never a key.

// sippTimeout bounds each integration test, SIPp's own -timeout included.
const sippTimeout = 45 * time.Second

func sippContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sippTimeout)
	t.Cleanup(cancel)
	return ctx
}

// sippAgent starts a SIPp agent scenario whose SDP answers send the media
// to a new Recorder.
func sippAgent(t *testing.T, ctx context.Context, sc sipptest.Scenario, opts sipptest.Options) (*sipptest.Process, *sipptest.Recorder) {
	t.Helper()
	rec, err := sipptest.NewRecorder(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	opts.MediaSink = rec.Addr()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	p, err := sipptest.Start(ctx, sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p, rec
}

// gatewayToSIPp starts a gateway whose default target is the SIPp agent
// listening at agent.
func gatewayToSIPp(t *testing.T, agent netip.AddrPort, edit func(*Config)) *testGateway {
	t.Helper()
	return startGateway(t, func(c *Config) {
		c.DefaultTarget = "sip:agent@" + agent.String()
		if edit != nil {
			edit(c)
		}
	})
}

// writeCallerPcap writes the caller's RTP for play_pcap_audio and returns
// the file and how long it plays.
func writeCallerPcap(t *testing.T, c sipptest.CallerRTP) (string, time.Duration) {
	t.Helper()
	path := filepath.Join(t.TempDir(), sipptest.PcapName)
	d, err := c.WriteFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, d
}

// sippRun is the outcome of a SIPp run started by startCaller.
type sippRun struct {
	res sipptest.Result
	err error
}

// startCaller runs a SIPp caller scenario against the gateway in the
// background; the test reads the channel for its result.
func startCaller(ctx context.Context, t *testing.T, sc sipptest.Scenario, gw *testGateway, opts sipptest.Options) <-chan sippRun {
	t.Helper()
	opts.Remote = gw.addr
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	done := make(chan sippRun, 1)
	go func() {
		res, err := sipptest.Run(ctx, sc, opts)
		done <- sippRun{res, err}
	}()
	return done
}

// runCaller runs a SIPp caller scenario against the gateway and requires
// all its calls to succeed.
func runCaller(ctx context.Context, t *testing.T, sc sipptest.Scenario, gw *testGateway, opts sipptest.Options) sipptest.Result {
	t.Helper()
	return checkCaller(ctx, t, startCaller(ctx, t, sc, gw, opts), max(opts.Calls, 1))
}

// checkCaller waits for a caller started by startCaller and requires its
// calls to succeed.
func checkCaller(ctx context.Context, t *testing.T, done <-chan sippRun, calls int) sipptest.Result {
	t.Helper()
	var r sippRun
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatalf("the SIPp caller did not finish: %v", ctx.Err())
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := r.res.Check(calls); err != nil {
		t.Fatalf("caller: %v", err)
	}
	return r.res
}

// checkAgent waits for a SIPp agent to take its calls and exit, and
// requires them to have succeeded.
func checkAgent(t *testing.T, p *sipptest.Process, calls int) sipptest.Result {
	t.Helper()
	res, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(calls); err != nil {
		t.Fatalf("agent: %v", err)
	}
	return res
}

// waitIdle waits until the gateway has no call left, so that its
// counters are final.
func waitIdle(ctx context.Context, t *testing.T, gw *testGateway) {
	t.Helper()
	if err := gw.calls.WaitIdle(ctx); err != nil {
		t.Fatalf("calls still live (%d): %v", gw.calls.Len(), err)
	}
}

// wantEnds checks that every call the gateway's Manager created ended, and
// for the reason given.
func wantEnds(t *testing.T, gw *testGateway, reason call.EndReason, calls uint64) {
	t.Helper()
	st := gw.calls.Stats()
	if st.Created != calls || st.Ended != calls || st.Ends[reason] != calls {
		t.Errorf("Manager: created %d, ended %d, ends %v; want %d ended with %v", st.Created, st.Ended, st.Ends, calls, reason)
	}
}

// collectDigits reads a call's digit queue until it is closed (the call
// has ended and its last presses are queued).
func collectDigits(ctx context.Context, t *testing.T, c *call.Call) []dtmf.Press {
	t.Helper()
	var got []dtmf.Press
	for {
		select {
		case d, ok := <-c.Presses():
			if !ok {
				return got
			}
			got = append(got, d)
		case <-ctx.Done():
			t.Fatalf("the digit queue was not closed (%d digits so far): %v", len(got), ctx.Err())
		}
	}
}

// digitsMismatch compares the digits' keys with want without revealing
// either: "" when they are equal, else the lengths and the first position
// that differs.
func digitsMismatch(got []dtmf.Press, want string) string {
	for i := range min(len(got), len(want)) {
		if got[i].Key.Reveal() != want[i:i+1] {
			return fmt.Sprintf("%d digits, want %d; the first difference is at position %d", len(got), len(want), i+1)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d digits, want %d (the common part matches)", len(got), len(want))
	}
	return ""
}

// audioBursts counts the runs of 20 ms frames of pcm louder than −40 dBm0
// (a peak of 228 in 16-bit linear): the mask tones an agent hears while a
// caller presses keys in silence. One quiet frame inside a run does not
// end it (a packet lost on the way is silence here); the mask tones of
// the tests' presses (100 ms each, one every 160 ms) are three quiet
// frames apart.
func audioBursts(pcm []int16) int {
	const frame = 160
	threshold := 22826.0 * math.Pow(10, -40.0/20) / math.Sqrt2 // RMS of a −40 dBm0 sine
	bursts, quiet := 0, 2
	for i := 0; i+frame <= len(pcm); i += frame {
		var sum float64
		for _, s := range pcm[i : i+frame] {
			sum += float64(s) * float64(s)
		}
		if math.Sqrt(sum/frame) <= threshold {
			quiet++
			continue
		}
		if quiet >= 2 {
			bursts++
		}
		quiet = 0
	}
	return bursts
}

// oneStream checks that pkts, in arrival order, are one RTP stream as the
// agent must get it whatever the caller sent (RFC 3550 §5.1): one SSRC,
// sequence numbers rising, and timestamps 20 ms of 8 kHz audio apart per
// sequence number, so that a packet lost on the way (a busy machine's
// socket buffer) is a gap but a duplicate, a step back or a jump in the
// audio clock is an error. Loopback does not reorder.
func oneStream(pkts []rtp.Packet) error {
	for i := 1; i < len(pkts); i++ {
		prev, p := pkts[i-1].Header, pkts[i].Header
		step := p.SequenceNumber - prev.SequenceNumber
		switch {
		case p.SSRC != prev.SSRC:
			return fmt.Errorf("packet %d: SSRC %#x after %#x", i, p.SSRC, prev.SSRC)
		case step == 0 || step > 1<<15:
			return fmt.Errorf("packet %d: sequence number %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
		case p.Timestamp-prev.Timestamp != 160*uint32(step):
			return fmt.Errorf("packet %d: timestamp %d after %d, %d packets on", i, p.Timestamp, prev.Timestamp, step)
		}
	}
	return nil
}

// A SIPp caller keys the canary card number in as RFC 4733 events, as
// in-band tones, and as both; dtmfgw takes every key once onto the call's
// digit path, and the agent's media holds no trace of one: no
// event-shaped packet, nothing our Detector or multimon-ng hears. The
// agent does hear the call: one mask tone per key, in a stream as long as
// the caller's. The control, the same call through a gateway whose
// masking is off, proves the checks find the keys in what dtmfgw sends
// the agent (sipptest's TestKeysReachAgentRecorder is the one SIPp to
// SIPp).
func TestSIPpCardDigitsNeverReachTheAgent(t *testing.T) {
	sipptest.NeedSIPp(t)
	if err := leakcheck.NeedMultimon(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		mode    sipptest.Mode
		maskOff bool
	}{
		{"rfc4733", sipptest.Events, false},
		{"inband", sipptest.Inband, false},
		{"rfc4733+inband", sipptest.Both, false},
		{"control: rfc4733+inband with masking off", sipptest.Both, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := sippContext(t)
			c := sipptest.CallerRTP{Keys: sipptest.CanaryCard, Mode: tc.mode}
			pcap, d := writeCallerPcap(t, c)
			agent, rec := sippAgent(t, ctx, sipptest.UASAnswer, sipptest.Options{})
			var editMedia func(*call.MediaConfig)
			if tc.maskOff {
				editMedia = func(mc *call.MediaConfig) {
					mc.MaskEvents, mc.MaskInband = call.Policy(mask.Off), call.Policy(mask.Off)
				}
			}
			gw := startGatewayMedia(t, 8, editMedia, func(c *Config) { c.DefaultTarget = "sip:agent@" + agent.Local().String() })
			caller := startCaller(ctx, t, sipptest.UACCall, gw, sipptest.Options{CallerPcap: pcap, CallDuration: d + 300*time.Millisecond})

			// The first packet at the agent means the call is up; it is
			// live until the caller's BYE, seconds later.
			if err := rec.WaitPackets(ctx, 1); err != nil {
				t.Fatal(err)
			}
			theCall := onlyCall(t, gw)
			checkCaller(ctx, t, caller, 1)
			checkAgent(t, agent, 1)
			digits := collectDigits(ctx, t, theCall)
			if r := theCall.EndReason(); r != call.EndCallerHangup {
				t.Errorf("end reason %v, want caller-hangup", r)
			}

			if m := digitsMismatch(digits, sipptest.CanaryCard); m != "" {
				t.Errorf("dtmfgw's digit path: %s", m)
			}
			for i, dg := range digits {
				ok := dg.Source == dtmf.SourceRFC4733 && tc.mode&sipptest.Events != 0 ||
					dg.Source == dtmf.SourceInband && tc.mode&sipptest.Inband != 0
				if !ok || dg.Number != uint64(i+1) {
					t.Errorf("digit %d: source %v, number %d; want a source of %v, number %d", i+1, dg.Source, dg.Number, tc.mode, i+1)
				}
			}

			f, err := rec.Findings(ctx, 0, g711.Ulaw)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("agent side: %v", f)
			if tc.maskOff {
				for _, found := range []struct {
					by   string
					keys leakcheck.Keys
				}{{"events", f.EventKeys}, {"our Detector", f.DetectorKeys}, {"multimon-ng", f.MultimonKeys}} {
					if found.keys.Reveal() != sipptest.CanaryCard {
						t.Errorf("control: %s found %d keys, want the %d keys pressed", found.by, len(found.keys), len(sipptest.CanaryCard))
					}
				}
				return
			}
			if !f.Clean() {
				t.Errorf("the agent's media holds key presses: %v", f)
			}
			// Not trivially clean: the agent got the caller's stream, all of
			// it PCMU, with one mask tone per key.
			pkts, err := c.Packets()
			if err != nil {
				t.Fatal(err)
			}
			audio := 0
			for _, p := range pkts {
				if p.Packet.PayloadType == c.AudioPT() {
					audio++
				}
			}
			got := rec.Packets()
			if len(got) < audio*9/10 {
				t.Errorf("the agent got %d packets, the caller sent %d audio packets", len(got), audio)
			}
			for i, p := range got {
				if p.PayloadType != 0 {
					t.Errorf("agent packet %d has payload type %d, want PCMU (0) only", i, p.PayloadType)
					break
				}
			}
			if err := oneStream(got); err != nil {
				t.Errorf("the agent's RTP: %v", err)
			}
			pcm, err := leakcheck.Audio(got, 0, g711.Ulaw)
			if err != nil {
				t.Fatal(err)
			}
			if n := audioBursts(pcm); n != len(sipptest.CanaryCard) {
				t.Errorf("the agent heard %d bursts of sound, want one mask tone per key (%d)", n, len(sipptest.CanaryCard))
			}
		})
	}
}

// The caller gives up while the agent rings: the caller's CANCEL is
// answered 200 and its INVITE 487, and the agent's INVITE is cancelled in
// turn (uas_ring requires the CANCEL and answers 487).
func TestSIPpCallerCancelsWhileRinging(t *testing.T) {
	sipptest.NeedSIPp(t)
	t.Parallel()
	ctx := sippContext(t)
	agent, _ := sippAgent(t, ctx, sipptest.UASRing, sipptest.Options{})
	gw := gatewayToSIPp(t, agent.Local(), nil)
	runCaller(ctx, t, sipptest.UACCancel, gw, sipptest.Options{})
	checkAgent(t, agent, 1)
	waitIdle(ctx, t, gw)
	wantEnds(t, gw, call.EndCallerCancel, 1)
}

// The agent is busy: its 486 reaches the caller as 486.
func TestSIPpAgentBusy(t *testing.T) {
	sipptest.NeedSIPp(t)
	t.Parallel()
	ctx := sippContext(t)
	agent, _ := sippAgent(t, ctx, sipptest.UASBusy, sipptest.Options{})
	gw := gatewayToSIPp(t, agent.Local(), nil)
	runCaller(ctx, t, sipptest.UACBusy, gw, sipptest.Options{})
	checkAgent(t, agent, 1)
	waitIdle(ctx, t, gw)
	wantEnds(t, gw, call.EndAgentRejected, 1)
}

// The agent hangs up: the caller gets a BYE (uac_wait_bye requires it)
// and the call ends as the agent's hang-up.
func TestSIPpAgentHangsUp(t *testing.T) {
	sipptest.NeedSIPp(t)
	t.Parallel()
	ctx := sippContext(t)
	pcap, _ := writeCallerPcap(t, sipptest.CallerRTP{Tail: 400 * time.Millisecond})
	agent, rec := sippAgent(t, ctx, sipptest.UASBye, sipptest.Options{CallDuration: 500 * time.Millisecond})
	gw := gatewayToSIPp(t, agent.Local(), nil)
	runCaller(ctx, t, sipptest.UACWaitBye, gw, sipptest.Options{CallerPcap: pcap})
	checkAgent(t, agent, 1)
	waitIdle(ctx, t, gw)
	wantEnds(t, gw, call.EndAgentHangup, 1)
	if rec.Stats().Packets == 0 {
		t.Error("no RTP reached the agent during the call")
	}
}

// The caller holds and unholds with re-INVITEs: each offer reaches the
// agent (a=sendonly, then a=sendrecv), and each answer comes back to the
// caller as hold requires (uac_hold checks recvonly or inactive, then
// neither).
func TestSIPpHoldAndUnhold(t *testing.T) {
	sipptest.NeedSIPp(t)
	t.Parallel()
	ctx := sippContext(t)
	pcap, _ := writeCallerPcap(t, sipptest.CallerRTP{Tail: 400 * time.Millisecond})
	agent, _ := sippAgent(t, ctx, sipptest.UASAnswer, sipptest.Options{TraceMessages: true})
	gw := gatewayToSIPp(t, agent.Local(), nil)
	runCaller(ctx, t, sipptest.UACHold, gw, sipptest.Options{CallerPcap: pcap, CallDuration: 300 * time.Millisecond})
	res := checkAgent(t, agent, 1)
	waitIdle(ctx, t, gw)
	wantEnds(t, gw, call.EndCallerHangup, 1)
	msgs, err := res.Messages()
	if err != nil {
		t.Fatal(err)
	}
	invites := regexp.MustCompile(`(?m)^\s*INVITE sip:`).FindAllStringIndex(msgs, -1)
	if len(invites) != 3 {
		t.Fatalf("the agent got %d INVITEs, want the call's and two re-INVITEs", len(invites))
	}
	for i, want := range []string{"a=sendrecv", "a=sendonly", "a=sendrecv"} {
		end := len(msgs)
		if i+1 < len(invites) {
			end = invites[i+1][0]
		}
		if offer := msgs[invites[i][0]:end]; !strings.Contains(offer, want) {
			t.Errorf("INVITE %d to the agent lacks %s", i+1, want)
		}
	}
}

// infoRequest matches a SIP INFO request, or the CSeq of one, in SIPp's
// message log.
var infoRequest = regexp.MustCompile(`(?m)^\s*INFO sip:|CSeq:\s*\d+\s+INFO`)

// The caller presses a key by SIP INFO: dtmfgw answers 200 (uac_info
// requires it), the key reaches the call's digit path once, and the agent
// never sees an INFO.
func TestSIPpInfoDigitCapturedNotForwarded(t *testing.T) {
	sipptest.NeedSIPp(t)
	t.Parallel()
	ctx := sippContext(t)
	const key = "7"
	pcap, d := writeCallerPcap(t, sipptest.CallerRTP{Tail: 400 * time.Millisecond})
	agent, rec := sippAgent(t, ctx, sipptest.UASAnswer, sipptest.Options{TraceMessages: true})
	gw := gatewayToSIPp(t, agent.Local(), nil)
	caller := startCaller(ctx, t, sipptest.UACInfo, gw, sipptest.Options{
		CallerPcap: pcap, CallDuration: d, Keys: map[string]string{sipptest.KeyInfoSignal: key},
	})
	if err := rec.WaitPackets(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := onlyCall(t, gw)
	checkCaller(ctx, t, caller, 1)
	res := checkAgent(t, agent, 1)
	digits := collectDigits(ctx, t, c)
	if m := digitsMismatch(digits, key); m != "" {
		t.Errorf("dtmfgw's digit path: %s", m)
	}
	if len(digits) == 1 && digits[0].Source != dtmf.SourceSIPInfo {
		t.Errorf("the digit came from %v, want SIP INFO", digits[0].Source)
	}
	if n := gw.b2b.Stats().InfoDigits.Load(); n != 1 {
		t.Errorf("InfoDigits = %d, want 1", n)
	}
	msgs, err := res.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msgs, "INVITE sip:") {
		t.Fatal("the agent's message log holds no INVITE: the trace proves nothing")
	}
	if infoRequest.MatchString(msgs) {
		t.Error("an INFO reached the agent")
	}
}

// INVITEs dtmfgw must refuse before any agent leg exists: from a peer
// outside the ACL (403; SIPp binds 127.0.0.2, the gateway trusts
// 127.0.0.1 alone) and with a malformed offer (488).
func TestSIPpRefusals(t *testing.T) {
	sipptest.NeedSIPp(t)
	for _, tc := range []struct {
		name   string
		caller sipptest.Scenario
		from   netip.Addr
		count  func(*Stats) uint64
	}{
		{"untrusted peer 403", sipptest.UACForbidden, netip.MustParseAddr("127.0.0.2"), func(s *Stats) uint64 { return s.Forbidden.Load() }},
		{"malformed SDP 488", sipptest.UACBadSDP, sipptest.Loopback, func(s *Stats) uint64 { return s.BadSDP.Load() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := sippContext(t)
			gw := startGateway(t, func(c *Config) {
				c.ACL = []string{"127.0.0.1/32"}
				c.DefaultTarget = "sip:agent@127.0.0.1:9" // never reached
			})
			runCaller(ctx, t, tc.caller, gw, sipptest.Options{Local: netip.AddrPortFrom(tc.from, 0)})
			if n := tc.count(gw.b2b.Stats()); n != 1 {
				t.Errorf("the refusal was counted %d times, want 1", n)
			}
			if n := gw.calls.Stats().Created; n != 0 {
				t.Errorf("%d calls created for a refused INVITE", n)
			}
		})
	}
}

// baresip, a real softphone, calls through dtmfgw and presses the canary
// card number as RFC 4733 events: every key reaches the digit path once,
// and the SIPp agent's media is clean. The positive control, baresip
// straight to SIPp with every key found, is sipptest's
// TestBaresipSendsRFC4733ToAgent.
func TestBaresipDigitsThroughGateway(t *testing.T) {
	sipptest.NeedSIPp(t)
	sipptest.NeedBaresip(t)
	if err := leakcheck.NeedMultimon(); err != nil {
		t.Fatal(err)
	}
	t.Parallel()
	ctx := sippContext(t)
	agent, rec := sippAgent(t, ctx, sipptest.UASAnswer, sipptest.Options{})
	gw := gatewayToSIPp(t, agent.Local(), nil)
	b, err := sipptest.StartBaresip(ctx, sipptest.BaresipOptions{Dir: t.TempDir(), Lifetime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	fail := func(err error) {
		t.Helper()
		t.Fatalf("%v\n--- baresip output ---\n%s", err, b.Log())
	}
	if err := b.Dial(ctx, "sip:agent@"+gw.addr.String()); err != nil {
		fail(err)
	}
	ev, err := b.WaitEvent(ctx, "CALL_ESTABLISHED", "CALL_CLOSED")
	if err != nil {
		fail(err)
	}
	if ev.Type != "CALL_ESTABLISHED" {
		fail(fmt.Errorf("call closed before it was established: %s", ev.Param))
	}
	c := onlyCall(t, gw)
	if err := b.SendDigits(ctx, sipptest.CanaryCard); err != nil {
		fail(err)
	}
	var digits []dtmf.Press
	for len(digits) < len(sipptest.CanaryCard) {
		select {
		case dg := <-c.Presses():
			digits = append(digits, dg)
		case <-ctx.Done():
			fail(fmt.Errorf("%d of %d digits reached dtmfgw: %w", len(digits), len(sipptest.CanaryCard), ctx.Err()))
		}
	}
	// The last key is still being pressed when its digit is reported: let
	// its packets and a margin (25 packets, 500 ms) reach the agent.
	if err := rec.WaitPackets(ctx, rec.Stats().Packets+25); err != nil {
		fail(err)
	}
	if err := b.Hangup(ctx); err != nil {
		fail(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		fail(err)
	}
	checkAgent(t, agent, 1)
	digits = append(digits, collectDigits(ctx, t, c)...)
	if m := digitsMismatch(digits, sipptest.CanaryCard); m != "" {
		t.Errorf("dtmfgw's digit path: %s", m)
	}
	for i, dg := range digits {
		if dg.Source != dtmf.SourceRFC4733 {
			t.Errorf("digit %d came from %v, want RFC 4733", i+1, dg.Source)
		}
	}
	f, err := rec.Findings(ctx, 0, g711.Ulaw)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("agent side: %v", f)
	if !f.Clean() {
		t.Errorf("the agent's media holds key presses: %v", f)
	}
	if f.Packets < 50 {
		t.Errorf("the agent got %d packets: the call carried no audio to check", f.Packets)
	}
}

// A short load through dtmfgw, SIPp to SIPp with RTP: 100 calls at 50
// calls/s, each 1 s of audio, all bridged and ended by the caller with
// no failure, and the RTP delivered. The full run (50 calls/s for 20 s,
// with memory per call) is bench/sipload, run by make bench.
func TestSIPpLoadSmoke(t *testing.T) {
	sipptest.NeedSIPp(t)
	t.Parallel()
	ctx := sippContext(t)
	const calls = 100
	var gw *testGateway
	res, err := sipptest.RunLoad(ctx, sipptest.LoadOptions{
		Calls: calls, Rate: 50, RTP: sipptest.CallerRTP{Tail: 800 * time.Millisecond}, Dir: t.TempDir(),
	}, func(agent netip.AddrPort) (netip.AddrPort, error) {
		// About 60 calls at once, two port pairs each, and 2 s of drain
		// for each pair released.
		gw = startGatewayMedia(t, 400, nil, func(c *Config) { c.DefaultTarget = "sip:agent@" + agent.String() })
		return gw.addr, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(calls); err != nil {
		t.Fatal(err)
	}
	waitIdle(ctx, t, gw)
	wantEnds(t, gw, call.EndCallerHangup, calls)
	if n := gw.b2b.Stats().Bridged.Load(); n != calls {
		t.Errorf("Bridged = %d, want %d", n, calls)
	}
	t.Logf("%d calls in %v; %d of %d RTP packets reached the agent", calls, res.Caller.Elapsed, res.PacketsReceived, res.AudioPacketsSent)
}

// Either leg over TCP: the call is bridged, its media flows, and the
// caller's BYE ends both legs. (Requests over TCP leave on the
// connection sipgo opens or accepted, never through the UDP listener.)
func TestSIPpOverTCP(t *testing.T) {
	sipptest.NeedSIPp(t)
	for _, tc := range []struct {
		name            string
		caller, agent   sipptest.Transport
		targetTransport string
	}{
		{"caller TCP, agent UDP", sipptest.TCP, sipptest.UDP, ""},
		{"caller UDP, agent TCP", sipptest.UDP, sipptest.TCP, ";transport=tcp"},
		{"both TCP", sipptest.TCP, sipptest.TCP, ";transport=tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := sippContext(t)
			pcap, d := writeCallerPcap(t, sipptest.CallerRTP{Tail: 400 * time.Millisecond})
			agent, rec := sippAgent(t, ctx, sipptest.UASAnswer, sipptest.Options{Transport: tc.agent})
			gw := gatewayToSIPp(t, agent.Local(), func(c *Config) { c.DefaultTarget += tc.targetTransport })
			runCaller(ctx, t, sipptest.UACCall, gw, sipptest.Options{Transport: tc.caller, CallerPcap: pcap, CallDuration: d})
			checkAgent(t, agent, 1)
			waitIdle(ctx, t, gw)
			wantEnds(t, gw, call.EndCallerHangup, 1)
			if rec.Stats().Packets == 0 {
				t.Error("no RTP reached the agent")
			}
		})
	}
}

func TestIntegrationHelpers(t *testing.T) {
	pkt := func(ssrc uint32, seq uint16, ts uint32) rtp.Packet {
		return rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}}
	}
	for _, tc := range []struct {
		name string
		pkts []rtp.Packet
		ok   bool
	}{
		{"consecutive", []rtp.Packet{pkt(1, 10, 1000), pkt(1, 11, 1160), pkt(1, 12, 1320)}, true},
		{"wrapping", []rtp.Packet{pkt(1, 65535, 4294967200), pkt(1, 0, 64)}, true},
		{"a packet lost", []rtp.Packet{pkt(1, 10, 1000), pkt(1, 12, 1320)}, true},
		{"new SSRC", []rtp.Packet{pkt(1, 10, 1000), pkt(2, 11, 1160)}, false},
		{"duplicate", []rtp.Packet{pkt(1, 10, 1000), pkt(1, 10, 1000)}, false},
		{"step back", []rtp.Packet{pkt(1, 10, 1000), pkt(1, 9, 840)}, false},
		{"clock jump", []rtp.Packet{pkt(1, 10, 1000), pkt(1, 11, 1320)}, false},
	} {
		if err := oneStream(tc.pkts); (err == nil) != tc.ok {
			t.Errorf("oneStream(%s) = %v", tc.name, err)
		}
	}

	tone := make([]int16, 160)
	for i := range tone {
		tone[i] = int16(5000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	quiet := make([]int16, 160)
	frames := func(fs ...[]int16) []int16 {
		var out []int16
		for _, f := range fs {
			out = append(out, f...)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		pcm  []int16
		want int
	}{
		{"silence", frames(quiet, quiet, quiet), 0},
		{"two tones", frames(quiet, tone, tone, quiet, quiet, tone, quiet), 2},
		{"a tone with a lost packet", frames(tone, tone, quiet, tone, tone), 1},
		{"tones three quiet frames apart", frames(tone, quiet, quiet, quiet, tone), 2},
	} {
		if got := audioBursts(tc.pcm); got != tc.want {
			t.Errorf("audioBursts(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
}
