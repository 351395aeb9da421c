package media

// warmer is a packet handler whose per-call state can be read ahead: a
// Reactor reads the state of every call it is about to serve before it
// serves the first one (see Reactor.poll). warm changes nothing and
// returns a value derived from what it read, so that the reads are not
// optimised away.
type warmer interface{ warm() uint64 }

// warm reads what receiving the leg's next datagram will use.
func (l *Leg) warm() uint64 {
	s := l.recv.stats.tick + l.recv.stats.packets.Load() + uint64(l.recv.pkt.Header.SequenceNumber)
	if c := l.recv.stats.cur; c != nil {
		s += uint64(c.maxSeq)
	}
	if w, ok := l.recv.handler.(warmer); ok {
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
	if w, ok := r.mask.(warmer); ok {
		s += w.warm()
	}
	return s
}

func (p *Pipeline) warm() uint64 {
	s := uint64(p.audioPT) + uint64(p.lastAudioSeq) + uint64(p.buf[0])
	if la := p.la; la != nil {
		s += uint64(la.writePos) + uint64(la.ring[la.writePos&(ringCap-1)]) + uint64(la.ring[la.readPos&(ringCap-1)])
		s += la.det.Warm()
	}
	return s
}
