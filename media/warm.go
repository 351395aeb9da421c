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
// packet is done: the handlers name it then, in the leg's WarmList, on
// the reactor's goroutine, from state they are already holding. Nothing
// is read for the prefetch itself, so it needs no lock and races with
// nothing; a list that went stale meanwhile (a tick moved something)
// costs a few useless fetches, never a wrong result.

// maxWarm is how many spans a WarmList holds: a masked call names about
// eighteen (the ring's spans split where they wrap), with room to spare.
const maxWarm = 24

// cacheLine is the unit a WarmList counts in. 64 bytes on the amd64 and
// arm64 processors a relay runs on; a larger line just fetches some lines
// twice.
const cacheLine = 64

// WarmList names, as spans of cache lines, the memory a leg's next
// datagram will use. Each entry is a line-aligned address whose low bits
// hold how many lines follow the first (up to 63): no pointers, so the
// list keeps nothing alive, and a stale address is harmless to prefetch.
type WarmList struct {
	n    int
	span [maxWarm]uintptr
}

// warmListLines is how many cache lines a WarmList itself spans: what the
// reactor fetches first, to read the list.
const warmListLines = (unsafe.Sizeof(WarmList{}) + cacheLine - 1) / cacheLine

// Add names the size bytes at p. A nil list, a zero size or a full list
// adds nothing.
func (w *WarmList) Add(p unsafe.Pointer, size uintptr) {
	if w == nil || size == 0 || w.n == len(w.span) {
		return
	}
	first := uintptr(p) &^ (cacheLine - 1)
	more := (uintptr(p)+size-1)&^(cacheLine-1) - first
	w.span[w.n] = first | min(more/cacheLine, cacheLine-1)
	w.n++
}

// Reset empties the list: the receiver does it before each datagram.
func (w *WarmList) Reset() { w.n = 0 }

// Prefetch asks for every line the list names (a Reactor does it before
// serving the calls one poll found ready).
func (w *WarmList) Prefetch() {
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

// AddSend names what a write to l will read, so that a handler writing
// to l names it (a nil list or leg adds nothing).
func (w *WarmList) AddSend(l *Leg) {
	if w != nil && l != nil {
		l.noteSendWarm(w)
	}
}

// Covers reports whether one of the list's spans holds the size bytes at
// p: what a handler's test checks its names against.
func (w *WarmList) Covers(p unsafe.Pointer, size uintptr) bool {
	lo, hi := uintptr(p), uintptr(p)+size
	for _, s := range w.span[:w.n] {
		first := s &^ (cacheLine - 1)
		end := first + (s&(cacheLine-1)+1)*cacheLine
		if lo >= first && hi <= end {
			return true
		}
	}
	return false
}

// noteSendWarm names what a write to l reads: the descriptor, the closed
// flag and the send counters (together at the head of the Leg), and the
// remote.
func (l *Leg) noteSendWarm(w *WarmList) {
	w.Add(unsafe.Pointer(l), unsafe.Offsetof(l.send)+unsafe.Sizeof(l.send))
	if rs := l.recv.remote.Load(); rs != nil {
		w.Add(unsafe.Pointer(rs), unsafe.Sizeof(*rs))
	}
}

// noteWarm starts the list for the receiver's next datagram with what
// receive itself reads: the remote (as it is now: a NAT latch has just
// replaced it), the statistics (the current source and the shared
// fields) and the packet header it parses into. The handler then adds
// its own.
func (r *receiver) noteWarm() {
	w := &r.warm
	w.Reset()
	if rs := r.remote.Load(); rs != nil {
		w.Add(unsafe.Pointer(rs), unsafe.Sizeof(*rs))
	}
	w.Add(unsafe.Pointer(r), unsafe.Offsetof(r.stats)+unsafe.Offsetof(r.stats.srcs))
	if c := r.stats.cur; c != nil {
		w.Add(unsafe.Pointer(c), unsafe.Sizeof(*c))
	}
	w.Add(unsafe.Pointer(&r.stats.tick), unsafe.Sizeof(r.stats)-unsafe.Offsetof(r.stats.tick))
	w.Add(unsafe.Pointer(&r.pkt), unsafe.Offsetof(r.warm)-unsafe.Offsetof(r.pkt))
}
