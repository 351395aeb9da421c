package mask

import (
	"unsafe"

	"dtmfgw/media"
)

// noteWarm names the memory the pipeline's next packet will use: its own
// scalars and counters, the event tracker, the packet buffer it writes,
// the look-ahead's read and write positions in its ring, the Detector,
// and the agent leg's send state.
func (p *Pipeline) noteWarm(w *media.WarmList) {
	if w == nil {
		return
	}
	w.Add(unsafe.Pointer(p), unsafe.Offsetof(p.evs))
	if t := p.events.tracker; t != nil {
		// A tick asks the telephone-event tracker whether a press is open.
		w.Add(unsafe.Pointer(t), min(unsafe.Sizeof(*t), 128 /* two cache lines */))
	}
	n := uintptr(max(p.ptime, 160))
	w.Add(unsafe.Pointer(&p.buf), min(rtpHeaderLen+n, uintptr(len(p.buf))))
	if t, ok := p.out.(media.LegWriter); ok {
		w.AddSend(t.Target())
	}
	la := p.la
	if la == nil {
		return
	}
	w.Add(unsafe.Pointer(la), unsafe.Offsetof(la.ring))
	la.noteRing(w, la.writePos, n)
	la.noteRing(w, la.readPos, n)
	if la.det != nil {
		for _, r := range la.det.NextRegions(int(n)) {
			w.Add(r.Addr, r.Len)
		}
	}
}

// noteRing names n bytes of the ring from position pos, in two spans
// where they wrap.
func (la *lookAhead) noteRing(w *media.WarmList, pos int64, n uintptr) {
	i := uintptr(pos) & (ringCap - 1)
	first := min(n, ringCap-i)
	w.Add(unsafe.Pointer(&la.ring[i]), first)
	if first < n {
		w.Add(unsafe.Pointer(&la.ring[0]), n-first)
	}
}
