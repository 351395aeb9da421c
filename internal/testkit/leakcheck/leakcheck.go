// Package leakcheck looks for DTMF key presses in what a far end received —
// a recording of the agent's leg, the RTP a test peer captured — the way
// someone holding that recording would: RFC 4733 telephone-event packets,
// whatever payload type they travel on, and tones in the G.711 audio, heard
// both by our in-band Detector and by multimon-ng, an independent decoder
// (Debian package multimon-ng, fed through sox).
//
// A leak check is only worth something if it catches a leak, so every test
// that uses these helpers to prove that nothing leaked should also have a
// positive control that proves they find keys when keys are there.
//
// Keys found are returned as Keys, which print as one "•" per key: a test
// that reports them by accident does not put card digits in a log. Reveal
// is for the assertions that compare them.
package leakcheck

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"

	"github.com/pion/rtp"
)

// Keys is a sequence of key presses in the order they were found.
type Keys []dtmf.Key

// String returns one "•" per key, so that formatting Keys by accident
// (%v, %s, a log attribute) never shows a digit.
func (k Keys) String() string {
	b := make([]byte, 0, len(k)*len("•"))
	for _, key := range k {
		b = append(b, key.String()...)
	}
	return string(b)
}

// Reveal returns the keys as characters ("0"–"9", "*", "#", "A"–"D"), for
// the assertions whose purpose is to compare them.
func (k Keys) Reveal() string {
	b := make([]byte, 0, len(k))
	for _, key := range k {
		b = append(b, key.Reveal()...)
	}
	return string(b)
}

// DetectorKeys returns the keys our in-band Detector (ITU-T Q.24 receiver,
// default configuration) hears in 8 kHz linear PCM, one per press.
func DetectorKeys(pcm []int16) Keys {
	d := dtmf.NewDetector(dtmf.DetectorConfig{})
	evs := d.Process(pcm, nil)
	evs = d.Flush(evs)
	var keys Keys
	for _, e := range evs {
		if e.Kind == dtmf.Begin {
			keys = append(keys, e.Key)
		}
	}
	return keys
}

// EventKeys returns the key presses carried by the telephone-event packets
// of payload type pt among pkts, each press once, in order, as a dtmf.Tracker
// per SSRC sees them (RFC 4733 §2.5: repeats, end retransmissions and
// segments of one press are one press). Packets are taken in the order
// given; clock is the telephone-event clock rate (0 means 8000 Hz).
func EventKeys(pkts []rtp.Packet, pt uint8, clock uint32) Keys {
	trackers := map[uint32]*dtmf.Tracker{}
	var keys Keys
	var evs []dtmf.KeyEvent
	// The Tracker's end timeout runs on the times it is given: a synthetic
	// clock that advances 20 ms a packet keeps a press open across its
	// own packets however fast they were recorded.
	at := time.Unix(0, 0)
	for i := range pkts {
		p := &pkts[i]
		if p.PayloadType != pt {
			continue
		}
		tr := trackers[p.SSRC]
		if tr == nil {
			tr = dtmf.NewTracker(dtmf.TrackerConfig{ClockRate: clock})
			trackers[p.SSRC] = tr
		}
		at = at.Add(20 * time.Millisecond)
		evs, _ = tr.Feed(dtmf.RTPInfo{SSRC: p.SSRC, Sequence: p.SequenceNumber, Timestamp: p.Timestamp, Marker: p.Marker}, p.Payload, at, evs[:0])
		keys = appendBegins(keys, evs)
	}
	for _, tr := range trackers {
		keys = appendBegins(keys, tr.Flush(evs[:0]))
	}
	return keys
}

func appendBegins(keys Keys, evs []dtmf.KeyEvent) Keys {
	for _, e := range evs {
		if e.Kind == dtmf.Begin {
			keys = append(keys, e.Key)
		}
	}
	return keys
}

// maxAudioSamples bounds the PCM Audio lays out per stream (about nine
// minutes at 8 kHz), so a stray timestamp cannot ask for gigabytes.
const maxAudioSamples = 1 << 22

// streamGap is the silence Audio puts between two SSRCs' audio, so that the
// end of one stream and the start of the next cannot form one tone.
const streamGap = 800 // 100 ms at 8 kHz

// ErrUnknownLaw is returned by Audio for a law that is not G.711 µ-law or A-law.
var ErrUnknownLaw = errors.New("leakcheck: not a G.711 law")

// Audio decodes the G.711 audio of payload type pt among pkts into 8 kHz
// linear PCM. Each SSRC's packets are put in sequence order (RFC 3550 §5.1,
// with wrap-around) and placed at their RTP timestamp's offset from the
// first, so a lost packet becomes silence and a duplicate overwrites itself;
// the streams follow one another in order of first appearance, 100 ms of
// silence apart. Packets further than about nine minutes from their
// stream's start are skipped.
func Audio(pkts []rtp.Packet, pt uint8, law g711.Law) ([]int16, error) {
	if !law.Valid() {
		return nil, ErrUnknownLaw
	}
	var order []uint32
	bySSRC := map[uint32][]*rtp.Packet{}
	for i := range pkts {
		p := &pkts[i]
		if p.PayloadType != pt {
			continue
		}
		if _, ok := bySSRC[p.SSRC]; !ok {
			order = append(order, p.SSRC)
		}
		bySSRC[p.SSRC] = append(bySSRC[p.SSRC], p)
	}
	var pcm []int16
	for n, ssrc := range order {
		stream := bySSRC[ssrc]
		sort.SliceStable(stream, func(i, j int) bool {
			return int16(stream[i].SequenceNumber-stream[j].SequenceNumber) < 0
		})
		if n > 0 {
			pcm = append(pcm, make([]int16, streamGap)...)
		}
		base := len(pcm)
		ts0 := stream[0].Timestamp
		for _, p := range stream {
			off := int(int32(p.Timestamp - ts0))
			if off < 0 || off+len(p.Payload) > maxAudioSamples {
				continue
			}
			if need := base + off + len(p.Payload); need > len(pcm) {
				pcm = append(pcm, make([]int16, need-len(pcm))...)
			}
			law.Decode(pcm[base+off:], p.Payload)
		}
	}
	return pcm, nil
}

// Findings is what a leak check found in an RTP stream.
type Findings struct {
	// Packets is the number of RTP packets searched.
	Packets int
	// EventPackets counts the packets whose payload is dtmf.EventShaped, on
	// any payload type but the audio's.
	EventPackets int
	// EventKeys are the presses those packets carry (EventKeys per payload
	// type, in order of the types' first appearance).
	EventKeys Keys
	// AudioSamples is the length of the decoded audio.
	AudioSamples int
	// DetectorKeys and MultimonKeys are the keys our Detector and
	// multimon-ng hear in the audio.
	DetectorKeys, MultimonKeys Keys
}

// Clean reports whether nothing from which a key can be recovered was
// found: no event packet and no key heard by either receiver.
func (f Findings) Clean() bool {
	return f.EventPackets == 0 && len(f.EventKeys) == 0 && len(f.DetectorKeys) == 0 && len(f.MultimonKeys) == 0
}

// String summarises the findings without revealing a key.
func (f Findings) String() string {
	return fmt.Sprintf("%d packets: %d event-shaped (%d presses), %d audio samples, Detector %d keys, multimon-ng %d keys",
		f.Packets, f.EventPackets, len(f.EventKeys), f.AudioSamples, len(f.DetectorKeys), len(f.MultimonKeys))
}

// Find runs every check on pkts: event-shaped packets on any payload type
// other than audioPT, the presses they carry, and the keys our Detector
// and multimon-ng hear in the audio of payload type audioPT. It fails when
// multimon-ng cannot run: a leak check that did not run proves nothing.
func Find(ctx context.Context, pkts []rtp.Packet, audioPT uint8, law g711.Law) (Findings, error) {
	f := Findings{Packets: len(pkts)}
	var eventPTs []uint8
	var events []rtp.Packet
	for _, p := range pkts {
		if p.PayloadType == audioPT || !dtmf.EventShaped(p.Payload) {
			continue
		}
		f.EventPackets++
		events = append(events, p)
		if !slices.Contains(eventPTs, p.PayloadType) {
			eventPTs = append(eventPTs, p.PayloadType)
		}
	}
	for _, pt := range eventPTs {
		f.EventKeys = append(f.EventKeys, EventKeys(events, pt, 0)...)
	}
	pcm, err := Audio(pkts, audioPT, law)
	if err != nil {
		return f, err
	}
	f.AudioSamples = len(pcm)
	f.DetectorKeys = DetectorKeys(pcm)
	if f.MultimonKeys, err = MultimonKeys(ctx, pcm); err != nil {
		return f, err
	}
	return f, nil
}
