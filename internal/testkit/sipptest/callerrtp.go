package sipptest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit/capturetest"

	"github.com/pion/rtp"
)

// CanaryCard is the card number the harness's callers key in: Luhn-valid
// with a Visa-like prefix, so that a gateway validating it treats it as a
// card, but not one of the processors' published test numbers (such as
// 4111111111111111), so that a search of logs and recordings for it finds
// our leak and nothing else.
const CanaryCard = "4929387015624084"

// Mode says how CallerRTP carries key presses.
type Mode int

// The ways a caller sends keys.
const (
	// Events sends each key as RFC 4733 telephone-event packets, the audio
	// staying silent.
	Events Mode = 1 << iota
	// Inband sends each key as a DTMF tone pair in the G.711 audio
	// (ITU-T Q.23).
	Inband
	// Both sends each key both ways at once, as many phones do.
	Both = Events | Inband
)

func (m Mode) String() string {
	switch m {
	case Events:
		return "rfc4733"
	case Inband:
		return "inband"
	case Both:
		return "rfc4733+inband"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// frameSamples is one 20 ms packet of 8 kHz audio, the ptime the scenarios
// offer.
const frameSamples = 160

// frame is the packet interval.
const frame = 20 * time.Millisecond

// Defaults of CallerRTP.
const (
	DefaultEventPT  = 101
	defaultSSRC     = 0x5ca11e12
	defaultTone     = 80 * time.Millisecond
	defaultGap      = 80 * time.Millisecond
	defaultLead     = 200 * time.Millisecond
	defaultTail     = 200 * time.Millisecond
	defaultLevel    = -10
	defaultSeq      = 65500      // wraps early in the call
	defaultTS       = 4294960000 // so does the timestamp
	maxCallerRTPLen = 10 * time.Minute
)

// The addresses written in the pcap. SIPp keeps only the UDP payload and
// the destination port's offset from the lowest one in the file: it sends
// from -mi:-mp to the answer's c=/m=.
var (
	pcapSrc = netip.MustParseAddrPort("192.0.2.1:4000")
	pcapDst = netip.MustParseAddrPort("192.0.2.2:5000")
)

// CallerRTP describes the RTP a caller sends: 20 ms G.711 packets of
// silence, with Keys pressed in it as Mode says, one SSRC and one sequence
// for audio and events (RFC 4733 §2.1). The zero value of each field but
// Keys and Mode has a default.
type CallerRTP struct {
	// Keys are the keys pressed, in order ("0"–"9", "*", "#", "A"–"D").
	// Empty: silence only.
	Keys string
	// Mode is how the keys are sent. Required when Keys is not empty.
	Mode Mode
	// Law is the audio's G.711 law: µ-law (PCMU, payload type 0, the
	// default) or A-law (PCMA, 8).
	Law g711.Law
	// EventPT is the telephone-event payload type. Default 101, as the
	// scenarios offer.
	EventPT uint8
	// SSRC of the stream. Default 0x5ca11e12.
	SSRC uint32
	// Tone and Gap are each press's length and the pause after it; they are
	// rounded down to whole 20 ms packets. Default 80 ms each.
	Tone, Gap time.Duration
	// Lead and Tail are the silence before the first press and after the
	// last. Default 200 ms each.
	Lead, Tail time.Duration
	// LevelDBm0 is the level of each tone of an in-band pair. Default −10.
	LevelDBm0 float64
	// Start is the capture time of the first packet. Default: the Unix epoch
	// plus one day (SIPp only uses the differences).
	Start time.Time
}

// AudioPT returns the static payload type of the audio (RFC 3551 §6).
func (c CallerRTP) AudioPT() uint8 {
	if c.Law == g711.Alaw {
		return 8
	}
	return 0
}

// ErrCallerRTP is wrapped by the errors of CallerRTP's methods.
var ErrCallerRTP = errors.New("sipptest: bad caller RTP")

// resolve applies the defaults and checks the description.
func (c CallerRTP) resolve() (CallerRTP, error) {
	if c.Law == 0 {
		c.Law = g711.Ulaw
	}
	if !c.Law.Valid() {
		return c, fmt.Errorf("%w: law %v", ErrCallerRTP, c.Law)
	}
	if c.EventPT == 0 {
		c.EventPT = DefaultEventPT
	}
	if c.EventPT < 96 || c.EventPT > 127 {
		return c, fmt.Errorf("%w: telephone-event payload type %d is not dynamic (96–127)", ErrCallerRTP, c.EventPT)
	}
	if c.SSRC == 0 {
		c.SSRC = defaultSSRC
	}
	c = c.withTiming()
	if c.LevelDBm0 == 0 {
		c.LevelDBm0 = defaultLevel
	}
	if c.Start.IsZero() {
		c.Start = time.Unix(86400, 0)
	}
	if c.Tone < 2*frame || c.Gap < 4*frame {
		// Three end packets 20 ms apart must fit in the gap (RFC 4733
		// §2.5.1.4) and a tone must outlast one packet.
		return c, fmt.Errorf("%w: tone %v (at least 40 ms) or gap %v (at least 80 ms) too short", ErrCallerRTP, c.Tone, c.Gap)
	}
	if len(c.Keys) > 0 && c.Mode&Both == 0 {
		return c, fmt.Errorf("%w: keys to press but no Mode", ErrCallerRTP)
	}
	for i := range len(c.Keys) {
		if _, ok := dtmf.KeyFromChar(c.Keys[i]); !ok {
			return c, fmt.Errorf("%w: character %d of Keys is not a key", ErrCallerRTP, i)
		}
	}
	if c.Duration() > maxCallerRTPLen {
		return c, fmt.Errorf("%w: %v of RTP is more than a test needs", ErrCallerRTP, c.Duration())
	}
	return c, nil
}

// frames returns d in whole packets.
func frames(d time.Duration) int { return int(d / frame) }

// Duration returns how long the RTP plays, defaults applied.
func (c CallerRTP) Duration() time.Duration {
	r := c.withTiming()
	n := frames(r.Lead) + len(r.Keys)*(frames(r.Tone)+frames(r.Gap)) + frames(r.Tail)
	return time.Duration(n) * frame
}

// withTiming returns c with the defaults of its zero durations.
func (c CallerRTP) withTiming() CallerRTP {
	if c.Tone == 0 {
		c.Tone = defaultTone
	}
	if c.Gap == 0 {
		c.Gap = defaultGap
	}
	if c.Lead == 0 {
		c.Lead = defaultLead
	}
	if c.Tail == 0 {
		c.Tail = defaultTail
	}
	return c
}

// TimedPacket is one RTP packet and when it is sent, from the start.
type TimedPacket struct {
	At     time.Duration
	Packet rtp.Packet
}

// Packets returns the RTP packets in sending order. Per 20 ms tick there is
// one audio packet; while a key is held in Events mode an event packet
// follows it, its duration growing by 160 (RFC 4733 §2.5.1.2), the first
// with the marker bit (§2.5.1.1); after the key three end packets with the
// final duration, one per tick (§2.5.1.4). Every event packet of a press
// carries the press's start timestamp.
func (c CallerRTP) Packets() ([]TimedPacket, error) {
	c, err := c.resolve()
	if err != nil {
		return nil, err
	}
	lead, tone, gap, tail := frames(c.Lead), frames(c.Tone), frames(c.Gap), frames(c.Tail)
	total := lead + len(c.Keys)*(tone+gap) + tail
	pcm := make([]int16, total*frameSamples)
	type press struct {
		key   dtmf.Key
		start int // frame
	}
	presses := make([]press, len(c.Keys))
	for i := range len(c.Keys) {
		k, _ := dtmf.KeyFromChar(c.Keys[i])
		start := lead + i*(tone+gap)
		presses[i] = press{k, start}
		if c.Mode&Inband != 0 {
			burst := dtmf.AppendDTMF(nil, dtmf.ToneSpec{Key: k, LevelDBm0: c.LevelDBm0, Duration: time.Duration(tone) * frame})
			copy(pcm[start*frameSamples:], burst)
		}
	}
	out := make([]TimedPacket, 0, total+len(c.Keys)*(tone+3))
	seq := uint16(defaultSeq)
	ts0 := uint32(defaultTS)
	next := 0 // the press whose events are due
	for f := range total {
		at := time.Duration(f) * frame
		pay := make([]byte, frameSamples)
		c.Law.Encode(pay, pcm[f*frameSamples:(f+1)*frameSamples])
		out = append(out, TimedPacket{At: at, Packet: rtp.Packet{
			Header:  rtp.Header{Version: 2, Marker: f == 0, PayloadType: c.AudioPT(), SequenceNumber: seq, Timestamp: ts0 + uint32(f*frameSamples), SSRC: c.SSRC},
			Payload: pay,
		}})
		seq++
		if c.Mode&Events == 0 || next >= len(presses) {
			continue
		}
		p := presses[next]
		in := f - p.start // frames into the press
		if in < 0 {
			continue
		}
		// RFC 4733 §2.3: the volume is the power level in −dBm0, 0–63.
		ev := dtmf.TelephoneEvent{Code: p.key.Code(), Volume: uint8(min(max(-c.LevelDBm0, 0), 63))}
		switch {
		case in < tone:
			ev.Duration = uint16((in + 1) * frameSamples)
		case in < tone+3:
			ev.End, ev.Duration = true, uint16(tone*frameSamples)
		}
		if ev.Duration == 0 {
			next++
			continue
		}
		out = append(out, TimedPacket{At: at + time.Millisecond, Packet: rtp.Packet{
			Header:  rtp.Header{Version: 2, Marker: in == 0, PayloadType: c.EventPT, SequenceNumber: seq, Timestamp: ts0 + uint32(p.start*frameSamples), SSRC: c.SSRC},
			Payload: ev.AppendTo(nil),
		}})
		seq++
		if in == tone+2 {
			next++
		}
	}
	return out, nil
}

// Pcap returns the packets as a classic pcap file (Ethernet, IPv4, UDP),
// as SIPp's play_pcap_audio reads it, and how long it plays.
func (c CallerRTP) Pcap() ([]byte, time.Duration, error) {
	pkts, err := c.Packets()
	if err != nil {
		return nil, 0, err
	}
	r, _ := c.resolve()
	b := capturetest.New(capturetest.Ethernet)
	for _, p := range pkts {
		raw, err := p.Packet.Marshal()
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrCallerRTP, err)
		}
		b.UDP(r.Start.Add(p.At), pcapSrc, pcapDst, raw)
	}
	return b.Pcap(), c.Duration(), nil
}

// WriteFile writes the pcap to path and returns how long it plays.
func (c CallerRTP) WriteFile(path string) (time.Duration, error) {
	data, d, err := c.Pcap()
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return 0, fmt.Errorf("sipptest: %w", err)
	}
	return d, nil
}
