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
// byte of the magic is the copy's index, plus stampNear when the packet
// lies near a key press.
const stampMagic = 0x4C52_5400 // "LRT"

// stampNear, in the magic's last byte, marks a packet sent within
// pressGuard packets of a key press of its stream's script: audio that a
// masking relay may replace by design.
const stampNear = 0x02

// pressGuard is how near (in packets, either side) to a press a packet is
// flagged stampNear: 200 ms, more than any look-ahead, detector hang-over
// or delay buffer the relays measured here use around a press.
const pressGuard = 10

// stampBytes is a stamp's size: magic, copy index and flag (4 bytes),
// call index (2 digits), the packet's audio index (3 digits: its place
// among the stream's audio packets, 16 bits), send time in nanoseconds
// since the run started (7 digits, up to 147 hours). An audio payload
// carries two copies, at stampOffsets: the masking pipeline's look-ahead
// delays the audio by a number of samples that need not be a whole
// packet, so a stamp comes out shifted within the payload, and possibly
// split across two packets; of two copies half a payload apart, one is
// always whole.
//
// The numbers are written in base 127, one digit a byte, 0x00–0x7E:
// never 0x7F, µ-law's negative zero, which a relay that decodes and
// re-encodes the audio (rtpengine when it transcodes, as for DTMF
// blocking) writes back as 0xFF, positive zero. No byte of a stamp is
// then changed by a lossless transcoding.
const stampBytes = 16

// stampBase is the base of a stamp's digits.
const stampBase = 127

// stampOffsets are where the copies of the stamp start in the payload.
var stampOffsets = [2]int{0, frameBytes / 2}

// putDigits writes v in base stampBase into b, most significant first;
// false if it does not fit.
func putDigits(b []byte, v uint64) bool {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v % stampBase)
		v /= stampBase
	}
	return v == 0
}

// digits reads a number putDigits wrote; false if a byte is not a digit.
func digits(b []byte) (uint64, bool) {
	var v uint64
	for _, d := range b {
		if d >= stampBase {
			return 0, false
		}
		v = v*stampBase + uint64(d)
	}
	return v, true
}

// putStamp writes copy c of a stamp at p (stampBytes long).
func putStamp(p []byte, c int, near bool, call uint32, idx uint16, sentNS int64) {
	m := uint32(stampMagic | c)
	if near {
		m |= stampNear
	}
	binary.BigEndian.PutUint32(p, m)
	putDigits(p[4:6], uint64(call))
	putDigits(p[6:9], uint64(idx))
	putDigits(p[9:16], uint64(max(sentNS, 0)))
}

// readStamp reads copy c of a stamp at p; false if there is none.
func readStamp(p []byte, c int) (st stampInfo, ok bool) {
	if len(p) < stampBytes {
		return st, false
	}
	m := binary.BigEndian.Uint32(p)
	if m&^stampNear != stampMagic|uint32(c) {
		return st, false
	}
	call, ok1 := digits(p[4:6])
	idx, ok2 := digits(p[6:9])
	sent, ok3 := digits(p[9:16])
	if !ok1 || !ok2 || !ok3 || idx > 0xFFFF || call > 0xFFFF {
		return st, false
	}
	return stampInfo{call: uint16(call), index: uint16(idx), sentNS: int64(sent), near: m&stampNear != 0}, true
}

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
	// sent, if not nil, records what the stream sent, for the receiver's
	// loss and replacement figures.
	sent *sentCounts
}

// sentCounts is what one direction's streams sent, by kind; clean marks,
// by call and audio index, the stamped packets sent away from any press
// (the receiver's loss is counted on those).
type sentCounts struct {
	stamped, tone, events int64
	clean                 [][]uint64 // bitsets by call, written by the sender only
}

func newSentCounts(calls, packets int) *sentCounts {
	s := &sentCounts{clean: make([][]uint64, calls)}
	for i := range s.clean {
		s.clean[i] = make([]uint64, (packets+63)/64)
	}
	return s
}

// pause leaves the stream's last pauseGuard audio packets out of the
// clean ones: it is about to pause.
func (s *stream) pause() {
	if s.sent == nil || int(s.call) >= len(s.sent.clean) {
		return
	}
	clean := s.sent.clean[s.call]
	for k := range pauseGuard {
		idx := int(s.audio) - 1 - k
		if idx < 0 {
			break
		}
		if w := idx / 64; w < len(clean) {
			clean[w] &^= 1 << (idx % 64)
		}
	}
}

// nearPress reports whether script position pos lies within pressGuard packets
// of a press (the cycle wraps).
func nearPress(pos int) bool {
	in := func(from, n int) bool {
		d := (pos - (from - pressGuard) + cycle) % cycle
		return d < n+2*pressGuard
	}
	return in(eventAt, eventPackets) || in(toneAt, toneFrames)
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
		if s.sent != nil {
			s.sent.events++
		}
		return rtpHeader + dtmf.TelephoneEventSize
	case s.script && pos >= toneAt && pos < toneAt+toneFrames:
		binary.BigEndian.PutUint32(b[4:], ts)
		s.logAudio(sentNS)
		copy(p, tones.tones[s.toneKey][pos-toneAt][:])
		if s.sent != nil {
			s.sent.tone++
		}
		return packetBytes
	}
	binary.BigEndian.PutUint32(b[4:], ts)
	idx := s.logAudio(sentNS)
	copy(p, tones.noise[noiseIndex(s.call, idx)][:])
	near := s.script && nearPress(pos)
	for c, off := range stampOffsets {
		putStamp(p[off:], c, near, s.call, idx, sentNS)
	}
	if s.sent != nil {
		s.sent.stamped++
		if !near && int(s.call) < len(s.sent.clean) {
			if w := int(idx) / 64; w < len(s.sent.clean[s.call]) {
				s.sent.clean[s.call][w] |= 1 << (idx % 64)
			}
		}
	}
	return packetBytes
}

// noiseIndex is the noise frame under a stamped packet: the receiver
// knows it from the stamp, and checks the audio around the stamp.
func noiseIndex(call uint32, idx uint16) int { return (int(call) + int(idx)) % noiseFrames }

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
	near   bool   // the stamped packet was sent near a key press
}

// payloadOf returns an RTP packet's payload (RFC 3550 §5.1: after the
// CSRCs and the header extension); false if b is not RTP.
func payloadOf(b []byte) ([]byte, bool) {
	if len(b) < rtpHeader || b[0]>>6 != 2 {
		return nil, false
	}
	off := rtpHeader + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	if off > len(b) {
		return nil, false
	}
	return b[off:], true
}

// stamp finds a whole stamp in a received packet b and returns what it
// says, with how many packets after its own the stamp's copy came out,
// given that the relay delays the audio by delay samples (the look-ahead;
// 0 for a plain relay). ok is false for a packet without a whole stamp.
func stamp(b []byte, delay int) (st stampInfo, ok bool) {
	p, ok := payloadOf(b)
	if !ok {
		return st, false
	}
	return stampIn(p, delay)
}

// stampIn is stamp for a payload.
func stampIn(p []byte, delay int) (st stampInfo, ok bool) {
	// A copy written at stampOffsets[c] of packet k comes out delay
	// samples later: at (stampOffsets[c]+delay) mod frameBytes of packet
	// k+later. Only those two places are looked at: scanning the payload
	// instead cost the generator ~1 µs per packet, CPU the relay then
	// lacked on this 2-core machine.
	for c, o := range stampOffsets {
		at := (o + delay) % frameBytes
		if at+stampBytes > len(p) {
			continue
		}
		st, ok := readStamp(p[at:], c)
		if !ok {
			continue
		}
		st.later = (o + delay) / frameBytes
		return st, true
	}
	return st, false
}

// What the receiver makes of an audio payload.
type frameKind int

const (
	// frameIntact: a whole stamp, and the audio after every whole copy
	// of it as far as it lies in the packet (a copy's half of the
	// payload) as sent.
	frameIntact frameKind = iota
	// frameChanged: a whole stamp, the audio around it not as sent.
	frameChanged
	// frameTone: no stamp, but one of the generator's in-band DTMF
	// frames, unchanged (shifted by the delay, as far as the larger of
	// its two parts in the packet goes).
	frameTone
	// frameReplaced: neither: audio the relay made (a mask, silence, a
	// tone of its own).
	frameReplaced
)

// audioChecker classifies the audio payloads one receiver reads, for a
// relay that delays the audio by delay samples.
type audioChecker struct {
	delay int // samples
	set   *toneFrameSet
	// tones maps the first bytes of the part of each tone frame a
	// packet shows (see frameTone) to the frames that start so.
	tones map[[16]byte][]*[frameBytes]byte
}

func newAudioChecker(delay int, set *toneFrameSet) *audioChecker {
	a := &audioChecker{delay: delay, set: set, tones: map[[16]byte][]*[frameBytes]byte{}}
	for code := range set.tones {
		for f := range set.tones[code] {
			fr := &set.tones[code][f]
			from, _, _ := a.tonePart()
			var k [16]byte
			copy(k[:], fr[from:])
			a.tones[k] = append(a.tones[k], fr)
		}
	}
	return a
}

// tonePart says which part of a sent frame a received packet shows
// whole, and where: sent bytes [from, from+n) at received offset at. A
// delay of d samples puts a frame's head at d and its tail at 0: the
// larger of the two is compared.
func (a *audioChecker) tonePart() (from, at, n int) {
	d := a.delay % frameBytes
	if d <= frameBytes/2 {
		return 0, d, frameBytes - d
	}
	return frameBytes - d, 0, d
}

// check classifies payload p and returns its stamp, if any.
func (a *audioChecker) check(p []byte) (stampInfo, bool, frameKind) {
	st, ok := stampIn(p, a.delay)
	if !ok {
		if len(p) == frameBytes {
			from, at, n := a.tonePart()
			var k [16]byte
			copy(k[:], p[at:])
			for _, fr := range a.tones[k] {
				if sameAudio(p[at:at+n], fr[from:from+n]) {
					return st, false, frameTone
				}
			}
		}
		return st, false, frameReplaced
	}
	noise := &a.set.noise[noiseIndex(uint32(st.call), st.index)]
	for c, o := range stampOffsets {
		at := (o + a.delay) % frameBytes
		if at+stampBytes > len(p) || (o+a.delay)/frameBytes != st.later {
			continue // not in this packet, or another packet's copy
		}
		got, ok := readStamp(p[at:], c)
		if !ok || got.call != st.call || got.index != st.index || got.sentNS != st.sentNS {
			return st, true, frameChanged
		}
		end := min(at+frameBytes/2, len(p))
		if !sameAudio(p[at+stampBytes:end], noise[o+stampBytes:o+end-at]) {
			return st, true, frameChanged
		}
	}
	return st, true, frameIntact
}

// sameAudio compares µ-law bytes, taking negative zero (0x7F) and
// positive zero (0xFF) as the same sample: a relay that decodes and
// re-encodes writes every zero as 0xFF, without changing the audio.
func sameAudio(a, b []byte) bool {
	if string(a) == string(b) {
		return true
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && a[i]|0x80 != 0xFF || a[i] != b[i] && b[i]|0x80 != 0xFF {
			return false
		}
	}
	return true
}
