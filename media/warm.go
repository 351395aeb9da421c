package media

import "unsafe"

// A Reactor serves many calls, each visited once every 20 ms, so each
// call's state is out of the cache when its next packet comes, and a
// packet that fetched its lines one miss at a time would stall on each.
// Before it serves the calls one poll found ready, the reactor prefetches
// every line each of them will use: a prefetch neither waits for its line
// nor orders the memory accesses around it (a lock would), so the fetches
// of all the calls overlap.
//
// Where a call's next packet will read and write is known when its last
// packet is done: the handlers name it then, in the leg's warmList, on
// the reactor's goroutine, from state they are already holding. Nothing
// is read for the prefetch itself, so it needs no lock and races with
// nothing; a list that went stale meanwhile (a tick moved something)
// costs a few useless fetches, never a wrong result.

// maxWarm is how many spans a warmList holds: a masked call names about
// eighteen (the ring's spans split where they wrap), with room to spare.
const maxWarm = 24

// cacheLine is the unit a warmList counts in. 64 bytes on the amd64 and
// arm64 processors a relay runs on; a larger line just fetches some lines
// twice.
const cacheLine = 64

// warmList names, as spans of cache lines, the memory a leg's next
// datagram will use. Each entry is a line-aligned address whose low bits
// hold how many lines follow the first (up to 63): no pointers, so the
// list keeps nothing alive, and a stale address is harmless to prefetch.
type warmList struct {
	n    int
	span [maxWarm]uintptr
}

// warmListLines is how many cache lines a warmList itself spans: what the
// reactor fetches first, to read the list.
const warmListLines = (unsafe.Sizeof(warmList{}) + cacheLine - 1) / cacheLine

// add names the size bytes at p. A nil list, a zero size or a full list
// adds nothing.
func (w *warmList) add(p unsafe.Pointer, size uintptr) {
	if w == nil || size == 0 || w.n == len(w.span) {
		return
	}
	first := uintptr(p) &^ (cacheLine - 1)
	more := (uintptr(p)+size-1)&^(cacheLine-1) - first
	w.span[w.n] = first | min(more/cacheLine, cacheLine-1)
	w.n++
}

// prefetch asks for every line the list names.
func (w *warmList) prefetch() {
	for _, s := range w.span[:min(w.n, len(w.span))] {
		prefetchLines(s&^(cacheLine-1), s&(cacheLine-1)+1)
	}
}

// LegWriter is a Sender that writes to one leg. A pipeline whose Sender
// is one (or wraps one and says so) names that leg's send state among
// what its next packet uses.
type LegWriter interface {
	Sender
	// Target returns the leg written to, or nil if there is none.
	Target() *Leg
}

// noteSendWarm names what a write to l reads: the descriptor, the closed
// flag and the send counters (together at the head of the Leg), and the
// remote.
func (l *Leg) noteSendWarm(w *warmList) {
	w.add(unsafe.Pointer(l), unsafe.Offsetof(l.send)+unsafe.Sizeof(l.send))
	if rs := l.recv.remote.Load(); rs != nil {
		w.add(unsafe.Pointer(rs), unsafe.Sizeof(*rs))
	}
}

// noteWarm starts the list for the receiver's next datagram with what
// receive itself reads: the remote (as it is now: a NAT latch has just
// replaced it), the statistics (the current source and the shared
// fields) and the packet header it parses into. The handler then adds
// its own.
func (r *receiver) noteWarm() {
	w := &r.warm
	w.n = 0
	if rs := r.remote.Load(); rs != nil {
		w.add(unsafe.Pointer(rs), unsafe.Sizeof(*rs))
	}
	w.add(unsafe.Pointer(r), unsafe.Offsetof(r.stats)+unsafe.Offsetof(r.stats.srcs))
	if c := r.stats.cur; c != nil {
		w.add(unsafe.Pointer(c), unsafe.Sizeof(*c))
	}
	w.add(unsafe.Pointer(&r.stats.tick), unsafe.Sizeof(r.stats)-unsafe.Offsetof(r.stats.tick))
	w.add(unsafe.Pointer(&r.pkt), unsafe.Offsetof(r.warm)-unsafe.Offsetof(r.pkt))
}

// noteWarm names the memory the pipeline's next packet will use: its own
// scalars and counters, the event tracker, the packet buffer it writes,
// the look-ahead's read and write positions in its ring, the Detector,
// and the agent leg's send state.
func (p *Pipeline) noteWarm(w *warmList) {
	if w == nil {
		return
	}
	w.add(unsafe.Pointer(p), unsafe.Offsetof(p.evs))
	if t := p.events.tracker; t != nil {
		// A tick asks the telephone-event tracker whether a press is open.
		w.add(unsafe.Pointer(t), min(unsafe.Sizeof(*t), 2*cacheLine))
	}
	n := uintptr(max(p.ptime, 160))
	w.add(unsafe.Pointer(&p.buf), min(rtpHeaderLen+n, uintptr(len(p.buf))))
	if t, ok := p.out.(LegWriter); ok {
		if l := t.Target(); l != nil {
			l.noteSendWarm(w)
		}
	}
	la := p.la
	if la == nil {
		return
	}
	w.add(unsafe.Pointer(la), unsafe.Offsetof(la.ring))
	la.noteRing(w, la.writePos, n)
	la.noteRing(w, la.readPos, n)
	if la.det != nil {
		for _, r := range la.det.NextRegions(int(n)) {
			w.add(r.Addr, r.Len)
		}
	}
}

// noteRing names n bytes of the ring from position pos, in two spans
// where they wrap.
func (la *lookAhead) noteRing(w *warmList, pos int64, n uintptr) {
	i := uintptr(pos) & (ringCap - 1)
	first := min(n, ringCap-i)
	w.add(unsafe.Pointer(&la.ring[i]), first)
	if first < n {
		w.add(unsafe.Pointer(&la.ring[0]), n-first)
	}
}
