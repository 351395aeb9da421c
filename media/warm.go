package media

// Warmer is a packet handler whose per-call state can be read ahead: a
// Reactor reads the state of every call it is about to serve before it
// serves the first one (see Reactor.poll), so that the cache misses of
// many calls overlap instead of stalling one by one. Warm changes nothing
// and returns a value derived from what it read, so that the reads are
// not optimised away. It is called on the reactor's goroutine, under the
// relay's lock (the same as HandleRTP's). A handler that wraps another
// (a Pipeline that is swapped on re-INVITE, say) implements it by
// warming what it wraps.
type Warmer interface{ Warm() uint64 }

// warm reads what receiving the leg's next datagram will use.
func (l *Leg) warm() uint64 {
	s := l.recv.stats.tick + l.recv.stats.packets.Load() + uint64(l.recv.pkt.Header.SequenceNumber)
	if c := l.recv.stats.cur; c != nil {
		s += uint64(c.maxSeq)
	}
	if w, ok := l.recv.handler.(interface{ warm() uint64 }); ok {
		s += w.warm()
	}
	return s
}

func (h *tickingHandler) warm() uint64 {
	r := (*Relay)(h)
	// The wheel may be ticking this relay: its state is read under the
	// relay's lock, or not at all.
	if !r.mu.TryLock() {
		return 0
	}
	defer r.mu.Unlock()
	s := uint64(r.lastTick.UnixNano())
	if w, ok := r.mask.(Warmer); ok {
		s += w.Warm()
	}
	return s
}

// Warm reads the state the pipeline's next packet will use (Warmer).
func (p *Pipeline) Warm() uint64 {
	s := uint64(p.audioPT) + uint64(p.lastAudioSeq) + uint64(p.buf[0])
	if la := p.la; la != nil {
		s += uint64(la.writePos) + uint64(la.ring[la.writePos&(ringCap-1)]) + uint64(la.ring[la.readPos&(ringCap-1)])
		s += la.det.Warm()
	}
	return s
}
