package mask

import (
	"dtmfgw/media"
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

func TestPipelinePolicies(t *testing.T) {
	ps, total := sixteenPresses(1600)
	cases := []struct {
		name              string
		mode              hMode
		ev, ib            Policy
		secure            bool
		wantEventsOut     bool
		wantDigitsInAudio bool
	}{
		{"always: nothing passes", modeBoth, Always, Always, false, false, false},
		{"events off: events forwarded", modeEvents, Off, Always, false, true, false},
		{"inband off: tones pass", modeInband, Always, Off, false, false, true},
		{"secure-only, not secure: both pass", modeBoth, SecureOnly, SecureOnly, false, true, true},
		{"secure-only, secure: nothing passes", modeBoth, SecureOnly, SecureOnly, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := hScenario{Law: g711.Ulaw, Mode: tc.mode, Presses: ps, Total: total}
			q := NewJoiner(64)
			sink := &hSink{}
			p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: hAudioPT, EventPTs: []uint8{hEventPT},
				MaskEvents: tc.ev, MaskInband: tc.ib, Presses: q, SSRC: 0xABCDEF01}, sink)
			if err != nil {
				t.Fatal(err)
			}
			p.SetSecure(tc.secure)
			hFeed(p, sc.packets())
			eventsOut := 0
			for _, o := range sink.got {
				if o.header.PayloadType == hEventPT {
					eventsOut++
				}
			}
			if (eventsOut > 0) != tc.wantEventsOut {
				t.Errorf("%d telephone-event packets out, want some: %v", eventsOut, tc.wantEventsOut)
			}
			keys := detectKeys(sink.agentPCM(g711.Ulaw))
			if (len(keys) > 0) != tc.wantDigitsInAudio {
				t.Errorf("digits in the agent's audio: %q, want some: %v", string(keys), tc.wantDigitsInAudio)
			}
			if n := len(drain(q)); n != len(ps) {
				t.Errorf("%d presses reported, want %d whatever the policy", n, len(ps))
			}
			// A press is counted masked when the agent heard the mask tone
			// for it: all of them, or none, in these cases.
			wantMasked := uint64(0)
			if !tc.wantEventsOut && !tc.wantDigitsInAudio {
				wantMasked = uint64(len(ps))
			}
			if got := p.Stats().MaskedPresses; got != wantMasked {
				t.Errorf("%d presses counted masked, want %d", got, wantMasked)
			}
		})
	}
}

// TestSetSecureSwitchesLookAheadWithoutGapOrClick sends a 440 Hz sine and
// switches secure mode on and off: every packet in gives one packet out, the
// sequence stays gapless, the look-ahead follows, and no step between
// consecutive samples out is larger than the sine's own (a click would be).
func TestSetSecureSwitchesLookAheadWithoutGapOrClick(t *testing.T) {
	sink := &hSink{}
	p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: hAudioPT, MaskEvents: SecureOnly,
		MaskInband: SecureOnly, SSRC: 0xABCDEF01}, sink)
	if err != nil {
		t.Fatal(err)
	}
	var osc dtmf.Oscillator
	osc.Set(440, 8000)
	var pk media.Packet
	pcm := make([]int16, hFrame)
	for i := 0; i < 200; i++ {
		switch i {
		case 50:
			p.SetSecure(true)
		case 150:
			p.SetSecure(false)
		}
		for j := range pcm {
			pcm[j] = int16(osc.Next())
		}
		pay := make([]byte, hFrame)
		g711.Ulaw.Encode(pay, pcm)
		pk = media.Packet{Header: rtp.Header{Version: 2, PayloadType: hAudioPT, SequenceNumber: uint16(i), Timestamp: uint32(i * hFrame), SSRC: 3},
			Payload: pay, Arrival: hEpoch.Add(time.Duration(i) * 20 * time.Millisecond)}
		p.HandleRTP(&pk)
		// On at once; off by at most one packet's worth of samples per
		// packet (the cross-fade drops what the packet replaces).
		got := p.Stats().LookAhead
		switch {
		case i >= 50 && i < 150 && got != DefaultLookAhead,
			i < 50 && got != 0,
			i >= 150 && got != max(0, DefaultLookAhead-time.Duration(i-149)*20*time.Millisecond):
			t.Fatalf("packet %d: look-ahead %v", i, got)
		}
	}
	if len(sink.got) != 200 {
		t.Fatalf("%d packets out for 200 in", len(sink.got))
	}
	checkStream(t, sink)
	out := sink.agentPCM(g711.Ulaw)
	maxStep := 8000 * 2 * math.Pi * 440 / dtmf.SampleRate
	for i := 1; i < len(out); i++ {
		if d := math.Abs(float64(out[i]) - float64(out[i-1])); d > 1.3*maxStep {
			t.Errorf("step of %.0f at sample %d (packet %d): a click", d, i, i/hFrame)
		}
	}
}

// TestPipelineGuessedEventPayloadType: events on a dynamic payload type the
// SDP did not name are dropped, masked and reported once per press.
func TestPipelineGuessedEventPayloadType(t *testing.T) {
	ps, total := sixteenPresses(1600)
	sc := hScenario{Law: g711.Ulaw, Mode: modeEvents, Presses: ps, Total: total, MuteEvents: true}
	pkts := sc.packets()
	for i := range pkts {
		if pkts[i].header.PayloadType == hEventPT {
			pkts[i].header.PayloadType = 110
		}
	}
	q := NewJoiner(64)
	p, sink := hRun(t, Config{Law: g711.Ulaw, AudioPT: hAudioPT, EventPTs: []uint8{101}, Presses: q}, pkts)
	for _, o := range sink.got {
		if o.header.PayloadType != hAudioPT {
			t.Fatalf("payload type %d reached the agent", o.header.PayloadType)
		}
	}
	if n := len(drain(q)); n != len(ps) {
		t.Errorf("%d presses, want %d", n, len(ps))
	}
	if st := p.Stats(); st.GuessedEventPackets == 0 || st.Synthesised == 0 {
		t.Errorf("guessed events not masked: %+v", st)
	}
	checkStream(t, sink)
}

// TestPipelineOtherCodecMasksEventsOnly: with a codec the pipeline cannot
// decode, events are dropped and reported, audio passes byte for byte.
func TestPipelineOtherCodecMasksEventsOnly(t *testing.T) {
	ps, total := sixteenPresses(1600)
	sc := hScenario{Law: g711.Ulaw, Mode: modeBoth, Presses: ps, Total: total}
	pkts := sc.packets()
	q := NewJoiner(64)
	_, sink := hRun(t, Config{Law: 0, AudioPT: hAudioPT, Presses: q}, pkts)
	var in, out [][]byte
	for _, x := range pkts {
		if x.header.PayloadType == hAudioPT {
			in = append(in, x.pay)
		}
	}
	for _, o := range sink.got {
		if o.header.PayloadType != hAudioPT {
			t.Fatalf("payload type %d reached the agent", o.header.PayloadType)
		}
		out = append(out, o.pay)
	}
	if len(in) != len(out) {
		t.Fatalf("%d audio packets out for %d in", len(out), len(in))
	}
	for i := range in {
		if string(in[i]) != string(out[i]) {
			t.Fatalf("audio packet %d changed", i)
		}
	}
	if n := len(drain(q)); n != len(ps) {
		t.Errorf("%d presses, want %d", n, len(ps))
	}
	checkStream(t, sink)
}

func TestNewPipelineRejectsBadConfig(t *testing.T) {
	bad := []Config{
		{Law: 7},
		{AudioPT: 200},
		{EventPTs: []uint8{0}},
		{EventPTs: []uint8{96, 97, 98, 99, 100}},
		{MaskEvents: 9},
		{LookAhead: 41 * time.Millisecond},
		{LookAhead: -time.Millisecond},
		{MaskTone: dtmf.MaskTone{Frequency: 941, LevelDBm0: -15, Duration: 100 * time.Millisecond}},
	}
	for i, cfg := range bad {
		if _, err := NewPipeline(cfg, &hSink{}); err == nil {
			t.Errorf("config %d accepted: %+v", i, cfg)
		}
	}
	if _, err := NewPipeline(Config{}, nil); err == nil {
		t.Error("nil media.Sender accepted")
	}
}
