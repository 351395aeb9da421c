package mask

import (
	"dtmfgw/media"
	"fmt"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

// sixteenPresses lays the sixteen keys out 400 ms apart, each tone 100 ms
// long and starting mid-packet, so every press meets the pipeline at the
// same alignment.
func sixteenPresses(lead int) ([]hPress, int) {
	var ps []hPress
	for i, k := range allKeys {
		ps = append(ps, hPress{Key: k, Start: lead + i*3200 + 67, Len: 800})
	}
	return ps, lead + len(allKeys)*3200 + 1600
}

func TestPipelineMasksEveryKeyWhateverTheSource(t *testing.T) {
	ps, total := sixteenPresses(1600)
	cases := []struct {
		name string
		law  g711.Law
		mode hMode
		mute bool
	}{
		{"events PCMU, audio kept", g711.Ulaw, modeEvents, false},
		{"events PCMU, audio muted", g711.Ulaw, modeEvents, true},
		{"inband PCMU", g711.Ulaw, modeInband, false},
		{"inband PCMA", g711.Alaw, modeInband, false},
		{"both PCMU", g711.Ulaw, modeBoth, false},
		{"both PCMA, audio muted", g711.Alaw, modeBoth, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := hScenario{Law: tc.law, Mode: tc.mode, Presses: ps, Total: total, MuteEvents: tc.mute}
			pkts := sc.packets()
			q := NewJoiner(64)
			p, sink := hRun(t, Config{Law: tc.law, AudioPT: hAudioPT, Presses: q}, pkts)

			for _, o := range sink.got {
				if isEventPacket(o) {
					t.Fatalf("telephone-event packet reached the agent: PT %d", o.header.PayloadType)
				}
			}
			agent := sink.agentPCM(tc.law)
			if keys := detectKeys(agent); len(keys) != 0 {
				t.Errorf("our Detector finds %q in the agent's audio", string(keys))
			}
			if n, worst, at := leaks(agent, maskRef(dtmf.DefaultMaskTone(), tc.law)); n != 0 {
				t.Errorf("%d windows with DTMF pair energy beyond the mask tone's (worst %.1f× the threshold at sample %d)", n, worst, at)
			}
			checkStream(t, sink)

			// Each press delivered once, in order, with its arrival time.
			got := drain(q)
			if len(got) != len(ps) {
				t.Fatalf("%d presses queued, want %d: %+v", len(got), len(ps), got)
			}
			for i, g := range got {
				if g.Key != ps[i].Key {
					t.Errorf("press %d: key %c, want %c", i, g.Key, ps[i].Key)
				}
				onset := hEpoch.Add(time.Duration(ps[i].Start) * time.Second / dtmf.SampleRate)
				if d := g.FirstSeen.Sub(onset); d < -5*time.Millisecond || d > 25*time.Millisecond {
					t.Errorf("press %d: FirstSeen %v after the onset, want within the packet that carried it", i, d)
				}
				if d := g.Decided.Sub(g.FirstSeen); d < 0 || d > 100*time.Millisecond {
					t.Errorf("press %d: decided %v after it was first seen, want 0–100 ms", i, d)
				}
			}

			// The mask is the same audio for every key.
			checkMaskIdentical(t, agent, ps)
			st := p.Stats()
			if st.Masked == 0 {
				t.Errorf("nothing masked: %+v", st)
			}
			t.Logf("%+v", st)
		})
	}
}

func equalPCM(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkStream asserts the agent stream is one valid RTP stream: one SSRC,
// sequence numbers in order with no gap, timestamps advancing by the
// previous packet's samples or more.
func checkStream(t *testing.T, sink *hSink) {
	t.Helper()
	for i, o := range sink.got {
		if o.header.SSRC != 0xABCDEF01 {
			t.Fatalf("packet %d: SSRC %08x", i, o.header.SSRC)
		}
		if i == 0 {
			if !o.header.Marker {
				t.Errorf("first packet has no marker")
			}
			continue
		}
		prev := sink.got[i-1]
		if o.header.SequenceNumber != prev.header.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, o.header.SequenceNumber, prev.header.SequenceNumber)
		}
		if d := int32(o.header.Timestamp - prev.header.Timestamp); d < int32(len(prev.pay)) {
			t.Fatalf("packet %d: timestamp advances %d after a %d-sample packet", i, d, len(prev.pay))
		}
	}
}

func TestPipelineString(t *testing.T) {
	p, err := NewPipeline(Config{Law: g711.Ulaw}, &hSink{})
	if err != nil {
		t.Fatal(err)
	}
	want := "pipeline(telephone-event → inband-lookahead → mask-spans → press-joiner → mask-tone → rtp-rewriter, PCMU, events always, inband always, look-ahead " + fmt.Sprint(DefaultLookAhead) + ")"
	if got := p.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestPipelineSentDescribesOurStream: the SR facts are those of the stream
// the agent receives.
func TestPipelineSentDescribesOurStream(t *testing.T) {
	ps, total := sixteenPresses(1600)
	sc := hScenario{Law: g711.Ulaw, Mode: modeEvents, Presses: ps, Total: total, MuteEvents: true}
	p, sink := hRun(t, Config{Law: g711.Ulaw, AudioPT: hAudioPT}, sc.packets())
	st := p.Sent()
	var octets uint64
	for _, o := range sink.got {
		octets += uint64(len(o.pay))
	}
	last := sink.got[len(sink.got)-1].header
	if st.SSRC != 0xABCDEF01 || st.Packets != uint64(len(sink.got)) || st.PayloadOctets != octets || st.LastTimestamp != last.Timestamp {
		t.Errorf("Sent() = %+v; want SSRC abcdef01, %d packets, %d octets, last timestamp %d", st, len(sink.got), octets, last.Timestamp)
	}
}

// The relay drives a Pipeline as its caller→agent handler and ticker.
var (
	_ media.PacketHandler = (*Pipeline)(nil)
	_ media.TickHandler   = (*Pipeline)(nil)
	_ media.Sender        = media.LegSender{}
)

// TestPipelineInterruptedToneIsOnePressOneMask: a tone interrupted by 10 ms
// early on (Q.24 bridges it: one digit) is suspected, lost, suspected again
// and then decided; it must give one press and one mask tone, not two.
func TestPipelineInterruptedToneIsOnePressOneMask(t *testing.T) {
	ps, total := sixteenPresses(1600)
	for i := range ps {
		ps[i].Gap = [2]int{64, 144}
	}
	sc := hScenario{Law: g711.Ulaw, Mode: modeInband, Presses: ps, Total: total}
	q := NewJoiner(64)
	p, sink := hRun(t, Config{Law: g711.Ulaw, AudioPT: hAudioPT, Presses: q}, sc.packets())
	first := string(dtmf.DefaultMaskTone().Frames(g711.Ulaw, hFrame)[0])
	starts := 0
	for _, o := range sink.got {
		if string(o.pay) == first {
			starts++
		}
	}
	if got := len(drain(q)); got != len(ps) || starts != len(ps) {
		t.Errorf("%d presses and %d mask tones for %d interrupted tones; want one of each per tone (%+v)", got, starts, len(ps), p.Stats())
	}
	if n, worst, at := leaks(sink.agentPCM(g711.Ulaw), maskRef(dtmf.DefaultMaskTone(), g711.Ulaw)); n != 0 {
		t.Errorf("%d leaking windows (worst %.1f× at %d)", n, worst, at)
	}
}
