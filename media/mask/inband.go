package mask

import (
	"dtmfgw/media"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

// MaxLookAhead is the longest look-ahead a pipeline accepts (the default
// is well under it; a longer one only adds mouth-to-ear delay).
const MaxLookAhead = 40 * time.Millisecond

// DefaultLookAhead is the look-ahead used when none is configured: the
// smallest, in whole milliseconds, at which no DTMF energy reaches the agent
// in TestLookAheadDefaultIsSmallestLeakFree (all sixteen keys, onsets
// spread over a packet, levels 0 to −25 dBm0, twist, 40 ms tones, and tones
// interrupted by 10 ms in their first milliseconds). Uninterrupted tones
// need only 8 ms, because the stage masks from Detector.Suspected (which
// rises 8–12 ms after the onset), not from the 28–32 ms decision; a tone
// interrupted early is often suspected only after the interruption, ~30 ms
// after its onset, and its first fragment must still be held then.
// See docs/masking.md.
const DefaultLookAhead = 26 * time.Millisecond

// maxLookAheadSamples is MaxLookAhead at 8 kHz.
const maxLookAheadSamples = int(MaxLookAhead / (time.Second / dtmf.SampleRate))

// ringCap is the look-ahead ring's size in samples: the longest look-ahead
// plus the largest payload, rounded up to a power of two.
const ringCap = 2048

// maxAudioPayload is the largest audio payload the stage takes, in samples
// (one byte per G.711 sample); a datagram cannot carry more.
const maxAudioPayload = media.MaxDatagram

// lookAhead is the in-band stage of the pipeline: it decodes each G.711
// payload, runs the DTMF Detector on it, and delays the agent-bound audio by
// a fixed number of samples in a ring (no allocation), so that by the time a
// sample leaves, the Detector has seen what follows it. Each packet out
// carries as many samples as the packet in, taken from the ring's far end;
// samples inside a span to mask (a suspected or decided tone, a press heard
// as events) are replaced as a whole packet by the mask tone or silence.
//
// Positions are on the caller's audio timeline: the number of samples the
// Detector has consumed. writePos is the next sample to arrive, readPos the
// next to leave; pre holds samples that leave before readPos's (silence
// after a flush, the bridge inserted when the look-ahead switches on).
type lookAhead struct {
	// The scalars every packet reads come first, together: a relay with a
	// thousand calls finds each call's state out of the cache, and every
	// cache line a packet touches costs a memory fetch.
	law g711.Law
	// keepLast says the look-ahead may switch on mid-stream (secure-only
	// masking), which bridges from the last samples sent: only then are
	// they kept. Otherwise every packet would copy them for nothing.
	keepLast          bool
	det               *dtmf.Detector
	readPos, writePos int64
	preN              int
	lastN             int
	delay             int // samples currently held (pre + ring)
	target            int // samples to hold: the look-ahead, or 0 when masking is off

	ring [ringCap]byte
	pre  [maxLookAheadSamples]byte
	last [maxLookAheadSamples]byte // the last samples sent, oldest first
	pcm  [ringCap]int16            // cross-fade scratch
}

// String names the stage for logs.
func (la *lookAhead) String() string { return "inband-lookahead" }

// detectChunk is how many samples the Detector is given at a time, so that
// Suspected is looked at after every one of its 4-ms hops: a suspicion
// can rise and fall within one 20 ms packet (a tone interrupted early).
const detectChunk = 32

// store decodes payload into pcm (at least as long) and appends it to the
// ring; the caller then runs the Detector over the decoded samples chunk
// by chunk. pcm is the caller's: a stack buffer stays in the cache where a
// buffer of each call's own would be cold by its next packet.
func (la *lookAhead) store(pcm []int16, payload []byte) []int16 {
	n := la.law.Decode(pcm[:len(payload)], payload)
	// At most two copies: up to the ring's end, then from its start.
	at := int(la.writePos & (ringCap - 1))
	k := copy(la.ring[at:], payload)
	copy(la.ring[:], payload[k:])
	la.writePos += int64(len(payload))
	return pcm[:n]
}

// held returns the number of real samples in the ring not yet sent.
func (la *lookAhead) held() int { return int(la.writePos - la.readPos) }

// take moves the next len(dst) samples out: first pre, then the ring. It
// returns the timeline span [a, b) of the ring samples taken.
func (la *lookAhead) take(dst []byte) (a, b int64) {
	k := copy(dst, la.pre[:la.preN])
	copy(la.pre[:], la.pre[k:la.preN])
	la.preN -= k
	a = la.readPos
	rest := dst[k:]
	at := int(la.readPos & (ringCap - 1))
	m := copy(rest, la.ring[at:])
	copy(rest[m:], la.ring[:])
	la.readPos += int64(len(rest))
	return a, la.readPos
}

// next fills dst (as long as the payload just stored) with the samples that
// leave now, adjusting the delay toward target on the way, and returns the
// timeline span of the real samples in it.
func (la *lookAhead) next(dst []byte) (a, b int64) {
	n := len(dst)
	switch {
	case la.target > la.delay:
		// Switching on: hold back target−delay more samples without a
		// gap or a click by bridging with a mirror image of the samples
		// just sent: x[t], x[t−1], …, x[t−h], x[t−h], …, x[t], which
		// starts and ends at the level the audio was at.
		la.bridge(la.target - la.delay)
		la.delay = la.target
	case la.target < la.delay:
		return la.shrink(dst, min(la.delay-la.target, n))
	}
	// Steady state: pre + held = delay + n.
	a, b = la.take(dst)
	la.remember(dst)
	return a, b
}

// bridge puts k samples of the mirror image of the last samples sent in
// front of what is to be sent.
func (la *lookAhead) bridge(k int) {
	k = min(k, len(la.pre)-la.preN)
	copy(la.pre[k:], la.pre[:la.preN])
	h := (k + 1) / 2
	for i := 0; i < k; i++ {
		j := i // mirror down for the first half, back up for the second
		if i >= h {
			j = k - 1 - i
		}
		src := la.lastN - 1 - j
		if src < 0 || la.lastN == 0 {
			la.pre[i] = la.law.Silence()
			continue
		}
		la.pre[i] = la.last[src]
	}
	la.preN += k
}

// shrink sends len(dst) samples while dropping m more, to lower the delay
// when masking switches off: pre goes first, as it is; ring samples are
// cross-faded over m samples (x[i]·(1−w) + x[i+m]·w) so nothing clicks.
func (la *lookAhead) shrink(dst []byte, m int) (a, b int64) {
	if la.preN > 0 {
		d := min(m, la.preN)
		copy(la.pre[:], la.pre[d:la.preN])
		la.preN -= d
		la.delay -= d
		a, b = la.take(dst)
		la.remember(dst)
		return a, b
	}
	n := len(dst)
	m = min(m, la.held()-n)
	if m <= 0 {
		la.delay = la.held() - n
		a, b = la.take(dst)
		la.remember(dst)
		return a, b
	}
	a = la.readPos
	x := la.pcm[:n+m]
	for i := range x {
		c := la.ring[(la.readPos+int64(i))&(ringCap-1)]
		if la.law == g711.Alaw {
			x[i] = g711.Alaw2Linear(c)
		} else {
			x[i] = g711.Ulaw2Linear(c)
		}
	}
	for i := 0; i < m; i++ {
		w := float64(i+1) / float64(m+1)
		x[i] = int16(float64(x[i])*(1-w) + float64(x[i+m])*w)
	}
	copy(x[m:n], x[2*m:n+m])
	la.law.Encode(dst, x[:n])
	la.readPos += int64(n + m)
	la.delay -= m
	la.remember(dst)
	return a, la.readPos
}

// remember keeps the tail of what was sent, for a later bridge.
func (la *lookAhead) remember(sent []byte) {
	if !la.keepLast {
		return
	}
	if len(sent) >= len(la.last) {
		la.lastN = copy(la.last[:], sent[len(sent)-len(la.last):])
		return
	}
	keep := min(la.lastN, len(la.last)-len(sent))
	copy(la.last[:], la.last[la.lastN-keep:la.lastN])
	la.lastN = keep + copy(la.last[keep:], sent)
}

// discard drops everything held without sending it (the caller stalled:
// the last held samples were never judged by the Detector with what follows
// them), and refills with silence so the delay is the same when the caller
// resumes.
func (la *lookAhead) discard() {
	la.readPos = la.writePos
	for i := 0; i < la.delay; i++ {
		la.pre[i] = la.law.Silence()
	}
	la.preN = la.delay
}
