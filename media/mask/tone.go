package mask

import "math"

// maxPendingTones bounds the mask tones waiting to be played: presses faster
// than the tone's length queue up to this many, then are merged (the tone is
// not replayed for them, they are still masked and still reported).
const maxPendingTones = 8

// maskPlayer is the stage that decides what a masked packet carries: the
// uniform mask tone, precomputed at construction as G.711 codes
// (MaskTone.Frames), played once per press from its start, for its whole
// fixed length whatever the press's length; silence once it is over while
// the press lasts. Every press therefore sounds the same to the agent
// (DTMF.md, "Masking toward the agent").
type maskPlayer struct {
	tone    []byte // the whole tone, padded with silence to whole frames
	silence byte

	playing bool
	pos     int
	// starts are the timeline positions (samples) at which pending tones
	// begin, oldest first.
	starts  [maxPendingTones]int64
	head, n int
	merged  uint64
}

// String names the stage for logs.
func (m *maskPlayer) String() string { return "mask-tone" }

// enqueue asks for a tone from timeline position start on.
func (m *maskPlayer) enqueue(start int64) {
	if m.n == maxPendingTones {
		m.merged++
		return
	}
	m.starts[(m.head+m.n)%maxPendingTones] = start
	m.n++
}

// active reports whether a tone is playing or waiting.
func (m *maskPlayer) active() bool { return m.playing || m.n > 0 }

// startDue begins the oldest pending tone if it starts before limit.
func (m *maskPlayer) startDue(limit int64) {
	if m.playing || m.n == 0 || m.starts[m.head] >= limit {
		return
	}
	m.head = (m.head + 1) % maxPendingTones
	m.n--
	m.playing = true
	m.pos = 0
}

// fill writes the next len(dst) samples of the tone into dst if a tone is
// playing or one is due before timeline position limit, and reports whether
// it did. Past the tone's end dst is padded with silence.
func (m *maskPlayer) fill(dst []byte, limit int64) bool {
	m.startDue(limit)
	if !m.playing {
		return false
	}
	k := copy(dst, m.tone[m.pos:])
	for i := k; i < len(dst); i++ {
		dst[i] = m.silence
	}
	m.pos += len(dst)
	if m.pos >= len(m.tone) {
		m.playing = false
	}
	return true
}

// openEnd is the end of a span that has not ended yet.
const openEnd = math.MaxInt64

// span is a stretch [start, end) of the caller's audio timeline, in samples,
// that must not reach the agent.
type span struct{ start, end int64 }

// maxSpans bounds the closed spans remembered; beyond it the newest two
// are merged, which masks more, never less.
const maxSpans = 8

// maskSpans holds the stretches of the timeline to mask: one open span per
// source (a press or a suspected tone in progress) and the recently closed
// ones that may still be in the look-ahead buffer.
type maskSpans struct {
	inband, event span // end == 0: none open
	closed        [maxSpans]span
	n             int
}

// String names the stage for logs.
func (s *maskSpans) String() string { return "mask-spans" }

// openSpan opens (or widens to start) the span o.
func openSpan(o *span, start int64) {
	if o.end == openEnd {
		o.start = min(o.start, start)
		return
	}
	*o = span{start: start, end: openEnd}
}

// closeSpan ends the open span o at end and remembers it.
func (s *maskSpans) closeSpan(o *span, end int64) {
	if o.end != openEnd {
		return
	}
	c := span{start: o.start, end: max(end, o.start)}
	*o = span{}
	if c.end == c.start {
		return
	}
	if s.n == maxSpans {
		last := &s.closed[s.n-1]
		last.start = min(last.start, c.start)
		last.end = max(last.end, c.end)
		return
	}
	s.closed[s.n] = c
	s.n++
}

// prune forgets closed spans that ended before pos (already sent).
func (s *maskSpans) prune(pos int64) {
	j := 0
	for i := 0; i < s.n; i++ {
		if s.closed[i].end > pos {
			s.closed[j] = s.closed[i]
			j++
		}
	}
	s.n = j
}

// overlaps reports whether [a, b) meets a span.
func (s *maskSpans) overlaps(a, b int64) bool {
	meets := func(x span) bool { return x.end != 0 && x.start < b && a < x.end }
	if meets(s.inband) || meets(s.event) {
		return true
	}
	for i := 0; i < s.n; i++ {
		if meets(s.closed[i]) {
			return true
		}
	}
	return false
}
