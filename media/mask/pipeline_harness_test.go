package mask

import (
	"dtmfgw/media"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit/leakcheck"
)

// Test harness: a caller stream made of 20 ms G.711 packets and RFC 4733
// event packets, fed to a Pipeline with the Relay's tick discipline, and the
// agent side recorded and analysed.

const (
	hAudioPT = 0
	hEventPT = 101
	hFrame   = 160
)

var hEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// hMode says how presses reach the pipeline.
type hMode uint8

const (
	modeEvents hMode = 1 << iota
	modeInband
	modeBoth = modeEvents | modeInband
)

// hPress is one key press in a scenario: tone or event from sample Start
// for Len samples.
type hPress struct {
	Key        dtmf.Key
	Start, Len int
	Level      float64 // dBm0, 0 means −10
	Twist      float64
	Gap        [2]int // an interruption [Gap[0], Gap[1]) inside the tone, relative to Start
}

// hScenario describes a caller stream.
type hScenario struct {
	Law        g711.Law
	Mode       hMode
	Presses    []hPress
	Total      int  // samples
	MuteEvents bool // the sender stops audio while an event lasts
	Noise      float64
}

// hPkt is one caller packet and when it arrives.
type hPkt struct {
	at     time.Time
	header rtp.Header
	pay    []byte
}

// callerPCM renders the scenario's audio.
func (s hScenario) callerPCM() []int16 {
	pcm := make([]int16, s.Total)
	r := rand.New(rand.NewPCG(1, 2))
	if s.Noise > 0 {
		for i := range pcm {
			pcm[i] = int16(r.NormFloat64() * s.Noise)
		}
	}
	if s.Mode&modeInband == 0 {
		return pcm
	}
	for _, p := range s.Presses {
		lvl := p.Level
		if lvl == 0 {
			lvl = -10
		}
		tone := dtmf.AppendDTMF(nil, dtmf.ToneSpec{Key: p.Key, LevelDBm0: lvl, TwistDB: p.Twist,
			Duration: time.Duration(p.Len) * time.Second / dtmf.SampleRate})
		for i, x := range tone {
			if p.Gap[1] > p.Gap[0] && i >= p.Gap[0] && i < p.Gap[1] {
				continue
			}
			j := p.Start + i
			if j < len(pcm) {
				pcm[j] = clip16(int(pcm[j]) + int(x))
			}
		}
	}
	return pcm
}

func clip16(v int) int16 { return int16(max(-32768, min(32767, v))) }

// packets renders the caller's packets in sending order.
func (s hScenario) packets() []hPkt {
	pcm := s.callerPCM()
	var out []hPkt
	seq := uint16(1000)
	const ssrc = 0x11223344
	frames := s.Total / hFrame
	inEvent := func(f int) (hPress, bool) {
		for _, p := range s.Presses {
			if f*hFrame+hFrame > p.Start && f*hFrame < p.Start+p.Len {
				return p, true
			}
		}
		return hPress{}, false
	}
	for f := 0; f < frames; f++ {
		at := hEpoch.Add(time.Duration(f+1) * 20 * time.Millisecond) // sent once its samples are in
		_, ev := inEvent(f)
		if !(ev && s.MuteEvents && s.Mode&modeEvents != 0) {
			pay := make([]byte, hFrame)
			s.Law.Encode(pay, pcm[f*hFrame:(f+1)*hFrame])
			out = append(out, hPkt{at: at, header: rtp.Header{Version: 2, PayloadType: hAudioPT, SequenceNumber: seq,
				Timestamp: uint32(f * hFrame), SSRC: ssrc}, pay: pay})
			seq++
		}
		if s.Mode&modeEvents == 0 {
			continue
		}
		// Event packets: one per frame while the press lasts (sent right
		// after the frame's audio), then the end packet three times.
		for _, p := range s.Presses {
			first := p.Start / hFrame
			last := (p.Start + p.Len - 1) / hFrame
			if f < first || f > last {
				continue
			}
			dur := (f+1)*hFrame - p.Start
			end := f == last
			if end {
				dur = p.Len
			}
			reps := 1
			if end {
				reps = 3
			}
			for r := 0; r < reps; r++ {
				e := dtmf.TelephoneEvent{Code: p.Key.Code(), End: end, Volume: 10, Duration: uint16(dur)}
				out = append(out, hPkt{at: at.Add(time.Duration(r+1) * time.Millisecond), header: rtp.Header{Version: 2,
					PayloadType: hEventPT, SequenceNumber: seq, Timestamp: uint32(first * hFrame), SSRC: ssrc,
					Marker: f == first && r == 0}, pay: e.AppendTo(nil)})
				seq++
			}
		}
	}
	return out
}

// hOut is one packet the agent received.
type hOut struct {
	header rtp.Header
	pay    []byte
}

// hSink records what the pipeline sends.
type hSink struct{ got []hOut }

func (s *hSink) SendRTP(b []byte) error {
	var h rtp.Header
	n, err := h.Unmarshal(b)
	if err != nil {
		panic(err)
	}
	s.got = append(s.got, hOut{header: h, pay: append([]byte(nil), b[n:]...)})
	return nil
}

// hRun feeds pkts to a new pipeline in order, ticking like the Relay (after
// a packet when 20 ms passed since the last tick, and every 20 ms in gaps).
func hRun(t testing.TB, cfg Config, pkts []hPkt) (*Pipeline, *hSink) {
	t.Helper()
	sink := &hSink{}
	if cfg.SSRC == 0 {
		cfg.SSRC, cfg.FirstSequence, cfg.FirstTimestamp = 0xABCDEF01, 40000, 7
	}
	if cfg.EventPTs == nil {
		cfg.EventPTs = []uint8{hEventPT}
	}
	p, err := NewPipeline(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	hFeed(p, pkts)
	return p, sink
}

func hFeed(p *Pipeline, pkts []hPkt) {
	var pk media.Packet
	var lastTick time.Time
	tick := 20 * time.Millisecond
	for _, x := range pkts {
		if !lastTick.IsZero() {
			for x.at.Sub(lastTick) >= 2*tick {
				lastTick = lastTick.Add(tick)
				p.Tick(lastTick)
			}
		}
		pk.Header = x.header
		pk.Payload = x.pay
		pk.Arrival = x.at
		p.HandleRTP(&pk)
		if lastTick.IsZero() || x.at.Sub(lastTick) >= tick {
			lastTick = x.at
			p.Tick(x.at)
		}
	}
	end := pkts[len(pkts)-1].at
	for i := 0; i < 50; i++ {
		lastTick = lastTick.Add(tick)
		if lastTick.After(end.Add(time.Second)) {
			break
		}
		p.Tick(lastTick)
	}
}

// agentPCM lays the agent's audio out on its timestamps (as a jitter buffer
// would), from the first packet's, and returns it decoded.
func (s *hSink) agentPCM(law g711.Law) []int16 { return agentAudio(s.got, law, hAudioPT) }

// dtmfFreqs are the eight DTMF frequencies, low group first (ITU-T Q.23).
var dtmfFreqs = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

// hannTab holds, per DTMF frequency, the Hann-windowed cosine and sine of
// an hWin-sample window, so the leak scan costs multiplies, not trig.
var hannTab = func() (t [8][2][hWin]float64) {
	for k, f := range dtmfFreqs {
		w := 2 * math.Pi * f / dtmf.SampleRate
		var ws float64
		for i := range hWin {
			ws += 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(hWin-1))
		}
		for i := range hWin {
			h := (0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(hWin-1))) * 2 / ws
			t[k][0][i] = h * math.Cos(w*float64(i))
			t[k][1][i] = h * math.Sin(w*float64(i))
		}
	}
	return t
}()

const (
	hWin = 160
	hHop = 40
)

// pairAmps returns, per window of hWin samples every hHop, the amplitude
// (peak units, Hann window) of each DTMF frequency.
func pairAmps(pcm []int16) [][8]float64 {
	var out [][8]float64
	for s := 0; s+hWin <= len(pcm); s += hHop {
		var a [8]float64
		x := pcm[s : s+hWin]
		for k := range dtmfFreqs {
			var re, im float64
			for i, v := range x {
				re += float64(v) * hannTab[k][0][i]
				im += float64(v) * hannTab[k][1][i]
			}
			a[k] = math.Hypot(re, im)
		}
		out = append(out, a)
	}
	return out
}

// maskRef is, per DTMF frequency, the most the mask tone alone puts there in
// any window (silence before and after included), so that a leak is energy
// beyond the mask tone's.
func maskRef(tone dtmf.MaskTone, law g711.Law) [8]float64 {
	pcm := make([]int16, 2*hWin)
	for _, f := range tone.Frames(law, hFrame) {
		dec := make([]int16, len(f))
		law.Decode(dec, f)
		pcm = append(pcm, dec...)
	}
	pcm = append(pcm, make([]int16, 2*hWin)...)
	var ref [8]float64
	for _, a := range pairAmps(pcm) {
		for k := range ref {
			ref[k] = max(ref[k], a[k])
		}
	}
	return ref
}

// leakFloor is the amplitude below which a DTMF frequency counts as absent:
// −50 dBm0, 25 dB under the weakest tone Q.24 requires a receiver to
// detect, so that a fragment of a few milliseconds shows above it.
var leakFloor = dtmf.Amplitude(-50)

// leaks returns the windows of pcm where some key's two frequencies are both
// above the floor and above what the mask tone puts there (+3 dB).
func leaks(pcm []int16, ref [8]float64) (n int, worst float64, at int) {
	for w, a := range pairAmps(pcm) {
		for lo := 0; lo < 4; lo++ {
			for hi := 4; hi < 8; hi++ {
				tl := max(leakFloor, ref[lo]*math.Sqrt2)
				th := max(leakFloor, ref[hi]*math.Sqrt2)
				if a[lo] > tl && a[hi] > th {
					n++
					if m := min(a[lo]/tl, a[hi]/th); m > worst {
						worst, at = m, w*hHop
					}
				}
			}
		}
	}
	return n, worst, at
}

// detectKeys runs our Detector over pcm and returns the keys it finds.
func detectKeys(pcm []int16) []dtmf.Key { return leakcheck.DetectorKeys(pcm) }

// drain reads every press queued.
func drain(j *Joiner) []dtmf.Press {
	ch := j.Presses()
	var out []dtmf.Press
	for {
		select {
		case p := <-ch:
			out = append(out, p)
		default:
			return out
		}
	}
}

var allKeys = []dtmf.Key("0123456789*#ABCD")

// eventPT reads a payload type from an agent packet header.
func isEventPacket(o hOut) bool {
	if o.header.PayloadType != hAudioPT && o.header.PayloadType != ptComfortNoise {
		return true
	}
	return false
}

var _ = binary.BigEndian

// checkMaskIdentical checks that the agent hears the same audio for every
// key: its audio over each press's 400 ms slot (from 67 samples before the
// press) is identical sample for sample.
func checkMaskIdentical(t *testing.T, agent []int16, ps []hPress) {
	t.Helper()
	ref := agent[ps[0].Start-67 : ps[0].Start-67+3200]
	for i := 1; i < len(ps); i++ {
		s := ps[i].Start - 67
		if s+3200 > len(agent) {
			t.Fatalf("agent audio too short: %d", len(agent))
		}
		if !equalPCM(ref, agent[s:s+3200]) {
			t.Errorf("the agent's audio for %c differs from the audio for %c", ps[i].Key, ps[0].Key)
		}
	}
}
