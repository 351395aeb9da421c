package main

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

// The streams: 20 ms PCMU packets (RFC 3551 §4.5.14), 160-byte payloads,
// and RFC 4733 telephone-events on a dynamic payload type.
const (
	audioPT     = 0
	eventPT     = 101
	frameBytes  = 160
	rtpHeader   = 12
	packetBytes = rtpHeader + frameBytes
	packetGap   = 20 * time.Millisecond
	// cycle is the length of one call's script, in packets (5 s): it
	// repeats for as long as the run lasts.
	cycle = 250
	// eventAt and eventPackets: one key press as telephone-events (RFC
	// 4733 §2.5.1: one timestamp, growing duration, three end packets),
	// the audio stopped meanwhile, as most endpoints do.
	eventAt      = 60
	eventPackets = 7
	eventEndAt   = 4 // index of the first packet with the E bit
	// toneAt and toneFrames: one key press as in-band DTMF, 100 ms.
	toneAt     = 150
	toneFrames = 5
)

// stampMagic marks a payload that carries a send timestamp; only these
// packets are timed at the receiver. Tone frames and events carry none
// (a stamp would spoil the tone; events are masked away). The fourth
// byte of the magic is the copy's index.
const stampMagic = 0x4C52_5400 // "LRT"

// stampBytes is a stamp's size: magic and copy index, call index (16
// bits), the packet's audio index (16 bits: its place among the stream's
// audio packets), send time in nanoseconds since the run started. An audio payload carries
// two copies, at stampOffsets: the masking pipeline's look-ahead delays
// the audio by a number of samples that need not be a whole packet, so a
// stamp comes out shifted within the payload, and possibly split across
// two packets; of two copies half a payload apart, one is always whole.
const stampBytes = 16

// stampOffsets are where the copies of the stamp start in the payload.
var stampOffsets = [2]int{0, frameBytes / 2}

// noiseFrames and noiseDBm0: the audio between presses is white noise at
// about a quiet talker's level, not digital silence, so that the in-band
// detector does its full work on every frame as it would on a real call
// (silence lets it stop early).
const (
	noiseFrames = 64
	noiseDBm0   = -30
)

// toneFrameSet holds each key's in-band press and the background noise as
// PCMU frames, rendered once.
type toneFrameSet struct {
	tones [16][toneFrames][frameBytes]byte
	noise [noiseFrames][frameBytes]byte
}

func renderTones() *toneFrameSet {
	set := new(toneFrameSet)
	rng := rand.New(rand.NewPCG(1, 2)) // fixed: every run sends the same audio
	// Uniform noise of this peak has the RMS of a −30 dBm0 sine.
	peak := dtmf.Amplitude(noiseDBm0) / math.Sqrt2 * math.Sqrt(3)
	noise := make([]int16, frameBytes)
	for f := range noiseFrames {
		for i := range noise {
			noise[i] = int16((rng.Float64()*2 - 1) * peak)
		}
		g711.EncodeUlaw(set.noise[f][:], noise)
	}
	pcm := make([]int16, 0, toneFrames*frameBytes)
	for code := range 16 {
		key, _ := dtmf.KeyFromCode(uint8(code))
		pcm = dtmf.AppendDTMF(pcm[:0], dtmf.ToneSpec{Key: key, LevelDBm0: -8, Duration: toneFrames * packetGap})
		for len(pcm) < toneFrames*frameBytes {
			pcm = append(pcm, 0)
		}
		for f := range toneFrames {
			g711.EncodeUlaw(set.tones[code][f][:], pcm[f*frameBytes:(f+1)*frameBytes])
		}
	}
	return set
}

// stream is one direction of one call, as the generator sends it.
type stream struct {
	call     uint32
	ssrc     uint32
	seq      uint16
	ts       uint32
	pos      int  // packet index in the script's cycle
	script   bool // false: audio only (the agent's side)
	eventKey uint8
	toneKey  uint8
	eventTS  uint32
	started  bool
	audio    uint16   // audio packets sent so far (tone frames included, events not)
	sends    *sendLog // where each audio packet's send time is recorded, if anywhere
}

// sendLogLen is how many recent audio packets' send times a sendLog keeps:
// a look-ahead of at most 40 ms delays a stamp by at most 3 packets.
const sendLogLen = 16

// sendLog holds one stream's recent send times by audio index, written by
// the sender and read by the receiver.
type sendLog [sendLogLen]atomic.Int64

func newStream(call int, agentSide bool) stream {
	s := stream{
		call:     uint32(call),
		ssrc:     0x5EED0000 ^ uint32(call)<<1,
		seq:      uint16(call * 977),
		ts:       uint32(call) * 7919,
		pos:      (call * 37) % cycle, // presses of different calls do not coincide
		script:   !agentSide,
		eventKey: uint8(call % 16),
		toneKey:  uint8((call + 5) % 16),
	}
	if agentSide {
		s.ssrc |= 1
	}
	return s
}

// next writes the stream's next packet into b (at least packetBytes long)
// and returns its length; sentNS is the send time to stamp.
func (s *stream) next(b []byte, tones *toneFrameSet, sentNS int64) int {
	pos := s.pos
	s.pos = (s.pos + 1) % cycle
	seq := s.seq
	s.seq++
	ts := s.ts
	s.ts += frameBytes
	b[0] = 0x80 // RFC 3550 §5.1: version 2, no padding, extension or CSRC
	b[1] = audioPT
	if !s.started {
		b[1] |= 0x80 // marker: talkspurt start (RFC 3551 §4.1)
		s.started = true
	}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], s.ssrc)
	p := b[rtpHeader:]
	switch {
	case s.script && pos >= eventAt && pos < eventAt+eventPackets:
		i := pos - eventAt
		if i == 0 {
			s.eventTS = ts
			b[1] |= 0x80 // RFC 4733 §2.5.1.3: marker on an event's first packet
		}
		b[1] = b[1]&0x80 | eventPT
		binary.BigEndian.PutUint32(b[4:], s.eventTS)
		dur := uint16(min(i+1, eventEndAt+1) * frameBytes)
		ev := dtmf.TelephoneEvent{Code: s.eventKey, End: i >= eventEndAt, Volume: 10, Duration: dur}
		p[0] = ev.Code
		p[1] = ev.Volume & 0x3F
		if ev.End {
			p[1] |= 0x80
		}
		binary.BigEndian.PutUint16(p[2:], ev.Duration)
		return rtpHeader + dtmf.TelephoneEventSize
	case s.script && pos >= toneAt && pos < toneAt+toneFrames:
		binary.BigEndian.PutUint32(b[4:], ts)
		s.logAudio(sentNS)
		copy(p, tones.tones[s.toneKey][pos-toneAt][:])
		return packetBytes
	}
	binary.BigEndian.PutUint32(b[4:], ts)
	idx := s.logAudio(sentNS)
	copy(p, tones.noise[(int(s.call)+pos)%noiseFrames][:])
	for c, off := range stampOffsets {
		binary.BigEndian.PutUint32(p[off:], stampMagic|uint32(c))
		binary.BigEndian.PutUint16(p[off+4:], uint16(s.call))
		binary.BigEndian.PutUint16(p[off+6:], idx)
		binary.BigEndian.PutUint64(p[off+8:], uint64(sentNS))
	}
	return packetBytes
}

// logAudio counts an audio packet about to be sent at sentNS, records the
// time, and returns the packet's audio index.
func (s *stream) logAudio(sentNS int64) uint16 {
	idx := s.audio
	s.audio++
	if s.sends != nil {
		s.sends[idx%sendLogLen].Store(sentNS)
	}
	return idx
}

// stampInfo is what a received stamp says.
type stampInfo struct {
	call   uint16
	index  uint16 // the stamped packet's audio index
	sentNS int64  // the stamped packet's send time
	later  int    // how many audio packets after the stamped one it left with
}

// stamp finds a whole stamp in a received packet b and returns what it
// says, with how many packets after its own the stamp's copy came out,
// given that the relay delays the audio by delay samples (the look-ahead;
// 0 for a plain relay). ok is false for a packet without a whole stamp.
func stamp(b []byte, delay int) (st stampInfo, ok bool) {
	if len(b) < rtpHeader || b[0]>>6 != 2 {
		return st, false
	}
	off := rtpHeader + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return st, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	if off > len(b) {
		return st, false
	}
	p := b[off:]
	// A copy written at stampOffsets[c] of packet k comes out delay
	// samples later: at (stampOffsets[c]+delay) mod frameBytes of packet
	// k+later. Only those two places are looked at: scanning the payload
	// instead cost the generator ~1 µs per packet, CPU the relay then
	// lacked on this 2-core machine.
	for c, o := range stampOffsets {
		at := (o + delay) % frameBytes
		if at+stampBytes > len(p) || binary.BigEndian.Uint32(p[at:]) != stampMagic|uint32(c) {
			continue
		}
		return stampInfo{
			call:   binary.BigEndian.Uint16(p[at+4:]),
			index:  binary.BigEndian.Uint16(p[at+6:]),
			sentNS: int64(binary.BigEndian.Uint64(p[at+8:])),
			later:  (o + delay) / frameBytes,
		}, true
	}
	return st, false
}
