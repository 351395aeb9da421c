package sipptest

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit"
)

// The positive controls below run SIPp against SIPp, the caller straight
// to the agent, with the agent's media pointed at a Recorder: each proves a
// scenario does what it says, and that the leak checks find keys where
// keys are, before the same scenarios are pointed at dtmfgw.

// startAgent starts a SIPp agent with its media pointed at a new Recorder.
func startAgent(t *testing.T, ctx context.Context, sc Scenario, opts Options) (*Process, *Recorder) {
	t.Helper()
	rec, err := NewRecorder(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	opts.MediaSink = rec.Addr()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	uas, err := Start(ctx, sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return uas, rec
}

// callerPcap writes the caller's RTP to a pcap in a temporary directory.
func callerPcap(t *testing.T, c CallerRTP) (string, time.Duration) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "caller.pcap")
	d, err := c.WriteFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, d
}

// pair runs a caller scenario against an agent scenario and checks that
// both complete their one call.
func pair(t *testing.T, ctx context.Context, agent Scenario, agentOpts Options, caller Scenario, callerOpts Options) (uac, uas Result, rec *Recorder) {
	t.Helper()
	p, rec := startAgent(t, ctx, agent, agentOpts)
	callerOpts.Remote = p.Local()
	if callerOpts.Dir == "" {
		callerOpts.Dir = t.TempDir()
	}
	uac, err := Run(ctx, caller, callerOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := uac.Check(1); err != nil {
		p.kill()
		t.Fatal(err)
	}
	uas, err = p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := uas.Check(1); err != nil {
		t.Fatal(err)
	}
	return uac, uas, rec
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// The card number, sent by a SIPp caller as events, tones or both, reaches
// the agent's recorder, and the leak checks find all of it: the positive
// control of every leak test against dtmfgw. SIPp's play_pcap_audio must
// also deliver the RTP as written: it keeps the UDP payload (SSRC,
// sequence, timestamps, payload types, marker bits) and only rewrites
// addresses and ports, sending from -mi:-mp, paced by the capture times.
func TestKeysReachAgentRecorder(t *testing.T) {
	NeedSIPp(t)
	for _, tc := range []struct {
		mode    Mode
		law     g711.Law
		events  string
		inband  string
		audioPT uint8
	}{
		{Events, g711.Ulaw, CanaryCard, "", 0},
		{Inband, g711.Ulaw, "", CanaryCard, 0},
		{Both, g711.Ulaw, CanaryCard, CanaryCard, 0},
		{Both, g711.Alaw, CanaryCard, CanaryCard, 8},
	} {
		t.Run(fmt.Sprintf("%v/%v", tc.mode, tc.law), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 30*time.Second)
			c := CallerRTP{Keys: CanaryCard, Mode: tc.mode, Law: tc.law}
			pcap, d := callerPcap(t, c)
			media, err := FreeMediaPort(Loopback)
			if err != nil {
				t.Fatal(err)
			}
			from := netip.AddrPortFrom(Loopback, media)
			_, _, rec := pair(t, ctx, UASAnswer, Options{},
				UACCall, Options{CallerPcap: pcap, Media: from, CallDuration: d + 200*time.Millisecond})

			f, err := rec.Findings(ctx, tc.audioPT, tc.law)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(f)
			if got := f.EventKeys.Reveal(); got != tc.events {
				t.Errorf("events carry %s", keyMismatch(got, tc.events))
			}
			if got := f.DetectorKeys.Reveal(); got != tc.inband {
				t.Errorf("our Detector hears %s", keyMismatch(got, tc.inband))
			}
			if got := f.MultimonKeys.Reveal(); got != tc.inband {
				t.Errorf("multimon-ng hears %s", keyMismatch(got, tc.inband))
			}

			want, err := c.Packets()
			if err != nil {
				t.Fatal(err)
			}
			// A busy machine makes SIPp lose a packet now and then (one in
			// 260, once, with other SIPp tests running): up to 1% may be
			// missing, and every packet that arrived must be as written.
			got := rec.Received()
			if missing := len(want) - len(got); missing < 0 || missing > len(want)/100 {
				t.Fatalf("recorder got %d packets, the pcap holds %d", len(got), len(want))
			}
			j := 0
			for i, r := range got {
				g := r.Packet
				for j < len(want) && want[j].Packet.SequenceNumber != g.SequenceNumber {
					j++
				}
				if j == len(want) {
					t.Fatalf("packet %d (seq %d) is not in the pcap, or arrived out of order", i, g.SequenceNumber)
				}
				w := want[j].Packet
				if g.SSRC != w.SSRC || g.SequenceNumber != w.SequenceNumber || g.Timestamp != w.Timestamp ||
					g.PayloadType != w.PayloadType || g.Marker != w.Marker || string(g.Payload) != string(w.Payload) {
					t.Fatalf("packet %d arrived as ssrc=%x seq=%d ts=%d pt=%d m=%v len=%d, was written as ssrc=%x seq=%d ts=%d pt=%d m=%v len=%d",
						i, g.SSRC, g.SequenceNumber, g.Timestamp, g.PayloadType, g.Marker, len(g.Payload),
						w.SSRC, w.SequenceNumber, w.Timestamp, w.PayloadType, w.Marker, len(w.Payload))
				}
				if r.From != from {
					t.Fatalf("packet %d came from %s, want the caller's media address %s", i, r.From, from)
				}
			}
			span := got[len(got)-1].At.Sub(got[0].At)
			if wantSpan := want[len(want)-1].At; span < wantSpan*8/10 || span > wantSpan*13/10 {
				t.Errorf("the packets arrived over %v, the capture spans %v: SIPp does not pace by capture time", span, wantSpan)
			}
		})
	}
}

// silence is a short caller stream for the call flows that need RTP but
// no keys.
var silence = CallerRTP{Tail: 400 * time.Millisecond}

func TestCancelWhileRinging(t *testing.T) {
	NeedSIPp(t)
	t.Parallel()
	ctx := testContext(t, 30*time.Second)
	pair(t, ctx, UASRing, Options{}, UACCancel, Options{})
}

func TestSIPInfoAnswered(t *testing.T) {
	NeedSIPp(t)
	t.Parallel()
	ctx := testContext(t, 30*time.Second)
	pcap, d := callerPcap(t, silence)
	_, uas, _ := pair(t, ctx, UASAnswer, Options{TraceMessages: true},
		UACInfo, Options{CallerPcap: pcap, CallDuration: d, Keys: map[string]string{KeyInfoSignal: "7"}})
	msgs, err := uas.Messages()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"INFO sip:", "Content-Type: application/dtmf-relay", "Signal=7\r\nDuration=160\r\n", "CSeq: 2 INFO"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("the agent's message log lacks %q", want)
		}
	}
}

func TestHoldAndUnhold(t *testing.T) {
	NeedSIPp(t)
	t.Parallel()
	ctx := testContext(t, 30*time.Second)
	pcap, _ := callerPcap(t, silence)
	_, uas, _ := pair(t, ctx, UASAnswer, Options{TraceMessages: true},
		UACHold, Options{CallerPcap: pcap, CallDuration: 300 * time.Millisecond})
	msgs, err := uas.Messages()
	if err != nil {
		t.Fatal(err)
	}
	// The agent mirrored each offer (RFC 3264 §6.1), with a growing o=
	// version (§8).
	order := []string{"a=sendrecv", "o=agent 2000 1 ", "a=sendonly", "o=agent 2000 2 ", "a=recvonly", "o=agent 2000 3 ", "a=sendrecv"}
	rest := msgs
	for _, w := range order {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("the agent's message log lacks %q after the previous steps %v", w, order)
		}
		rest = rest[i+len(w):]
	}
}

// The agent answers with a codec of the offer (RFC 3264 §6.1): PCMA when
// PCMU is not offered, and telephone-event only when offered, on the
// offer's payload type.
func TestAgentAnswersFromTheOffer(t *testing.T) {
	NeedSIPp(t)
	const offered = "m=audio [media_port] RTP/AVP 0 8 101\n" +
		"      a=rtpmap:0 PCMU/8000\n" +
		"      a=rtpmap:8 PCMA/8000\n" +
		"      a=rtpmap:101 telephone-event/8000\n" +
		"      a=fmtp:101 0-16\n"
	for _, tc := range []struct {
		name, offer string
		want        []string
		absent      string
	}{
		{"PCMU and events", offered, []string{"RTP/AVP 0 101\r\n", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000"}, "PCMA"},
		{"PCMA and events on 96", "m=audio [media_port] RTP/AVP 8 96\n      a=rtpmap:8 PCMA/8000\n      a=rtpmap:96 telephone-event/8000\n",
			[]string{"RTP/AVP 8 96\r\n", "a=rtpmap:8 PCMA/8000", "a=rtpmap:96 telephone-event/8000"}, "PCMU"},
		{"PCMU alone", "m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n", []string{"RTP/AVP 0\r\n", "a=rtpmap:0 PCMU/8000"}, "telephone-event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 30*time.Second)
			caller := UACCall
			if !strings.Contains(string(caller.XML), offered) {
				t.Fatal("uac_call's offer changed: update this test")
			}
			caller.XML = []byte(strings.Replace(string(caller.XML), offered, tc.offer, 1))
			pcap, d := callerPcap(t, silence)
			_, uas, _ := pair(t, ctx, UASAnswer, Options{TraceMessages: true}, caller, Options{CallerPcap: pcap, CallDuration: d})
			msgs, err := uas.Messages()
			if err != nil {
				t.Fatal(err)
			}
			i := strings.Index(msgs, "SIP/2.0 200 OK")
			if i < 0 {
				t.Fatal("no 200 OK in the agent's message log")
			}
			answer, _, _ := strings.Cut(msgs[i:], "-----")
			for _, w := range tc.want {
				if !strings.Contains(answer, w) {
					t.Errorf("the answer lacks %q:\n%s", w, answer)
				}
			}
			if strings.Contains(answer, tc.absent) {
				t.Errorf("the answer has %s, which was not offered:\n%s", tc.absent, answer)
			}
		})
	}
}

func TestAgentHangsUp(t *testing.T) {
	NeedSIPp(t)
	t.Parallel()
	ctx := testContext(t, 30*time.Second)
	pcap, _ := callerPcap(t, silence)
	pair(t, ctx, UASBye, Options{CallDuration: 300 * time.Millisecond}, UACWaitBye, Options{CallerPcap: pcap})
}

func TestRefusals(t *testing.T) {
	NeedSIPp(t)
	forbidden, err := UASReject(403, "Forbidden")
	if err != nil {
		t.Fatal(err)
	}
	notAcceptable, err := UASReject(488, "Not Acceptable Here")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		agent, caller Scenario
		from          netip.Addr
	}{
		{"busy", UASBusy, UACBusy, Loopback},
		{"malformed SDP", notAcceptable, UACBadSDP, Loopback},
		// The untrusted caller: SIPp binds another loopback address.
		{"forbidden from 127.0.0.2", forbidden, UACForbidden, netip.MustParseAddr("127.0.0.2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 30*time.Second)
			pair(t, ctx, tc.agent, Options{TraceMessages: true}, tc.caller, Options{Local: netip.AddrPortFrom(tc.from, 0)})
		})
	}
}

// The caller scenarios check what they receive: against the wrong answer,
// or no answer, they fail, and Run reports it.
func TestScenarioChecksBite(t *testing.T) {
	NeedSIPp(t)
	t.Run("200 where 486 is required", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t, 30*time.Second)
		uas, _ := startAgent(t, ctx, UASAnswer, Options{})
		res, err := Run(ctx, UACBusy, Options{Remote: uas.Local(), Dir: t.TempDir(), RecvTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Check(1) == nil || res.Failed != 1 || res.ExitCode != 1 {
			t.Errorf("uac_busy answered 200 passed: %+v", res)
		}
		uas.Stop()
		uas.Wait()
	})
	t.Run("hold answered sendrecv", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t, 30*time.Second)
		// An agent that ignores hold: it answers every offer sendrecv.
		bad := UASAnswer
		bad.XML = []byte(strings.ReplaceAll(string(bad.XML), `value="recvonly"`, `value="sendrecv"`))
		pcap, _ := callerPcap(t, silence)
		uas, _ := startAgent(t, ctx, bad, Options{})
		res, err := Run(ctx, UACHold, Options{Remote: uas.Local(), CallerPcap: pcap, CallDuration: 100 * time.Millisecond, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if res.Check(1) == nil || res.FailureReasons["FailedRegexpDoesntMatch"] != 1 {
			t.Errorf("uac_hold accepted a hold answered sendrecv: %+v", res)
		}
		uas.Stop()
		uas.Wait()
	})
	t.Run("nobody answers", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t, 30*time.Second)
		port, err := testkit.FreePortOn("udp", Loopback)
		if err != nil {
			t.Fatal(err)
		}
		nobody := netip.AddrPortFrom(Loopback, port)
		res, err := Run(ctx, UACBusy, Options{Remote: nobody, Dir: t.TempDir(), RecvTimeout: time.Second, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Check(1) == nil || res.Successful != 0 {
			t.Errorf("a call nobody answered passed: %+v", res)
		}
		t.Log(res.Check(1))
	})
}

// A short load run, the smoke test of RunLoad and of the pair dtmfgw's
// load test uses (there 50 calls/s for 20 s), SIPp to SIPp: every call
// succeeds and its RTP arrives (Check allows 5% lost: on a busy machine
// the recorder's socket buffer overflows now and then).
func TestLoadSmoke(t *testing.T) {
	NeedSIPp(t)
	t.Parallel()
	ctx := testContext(t, 40*time.Second)
	const calls = 20
	res, err := RunLoad(ctx, LoadOptions{Calls: calls, Rate: 20, RTP: CallerRTP{Tail: 800 * time.Millisecond}, Dir: t.TempDir()},
		func(agent netip.AddrPort) (netip.AddrPort, error) { return agent, nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(calls); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls in %v; %d of %d packets", calls, res.Caller.Elapsed, res.PacketsReceived, res.PacketsSent)
}

func TestCallOverTCP(t *testing.T) {
	NeedSIPp(t)
	t.Parallel()
	ctx := testContext(t, 30*time.Second)
	pcap, d := callerPcap(t, silence)
	_, _, rec := pair(t, ctx, UASAnswer, Options{Transport: TCP}, UACCall, Options{Transport: TCP, CallerPcap: pcap, CallDuration: d})
	if rec.Stats().Packets == 0 {
		t.Error("no RTP reached the agent")
	}
}

// keyMismatch describes how got differs from want without printing either:
// the keys are a card number's digits, which no test output may show.
func keyMismatch(got, want string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("%d keys, want %d; first difference at key %d", len(got), len(want), i+1)
		}
	}
	return fmt.Sprintf("%d keys, want %d", len(got), len(want))
}
