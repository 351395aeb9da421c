package main

import (
	"sync"

	"dtmfgw/dtmf/g711"
	"dtmfgw/media"
	"dtmfgw/media/mask"
)

// pressSink stands in for the call domain's consumers: each call's
// masking path reports to a Joiner of its own, as in the gateway, and one
// goroutine per call drains its queue.
type pressSink struct {
	mu      sync.Mutex
	joiners []*mask.Joiner
	wg      sync.WaitGroup
	once    sync.Once
}

func newPressSink() *pressSink { return &pressSink{} }

// joiner returns a new call's Joiner, drained until close.
func (s *pressSink) joiner() *mask.Joiner {
	j := mask.NewJoiner(64)
	s.mu.Lock()
	s.joiners = append(s.joiners, j)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for range j.Presses() {
		}
	}()
	return j
}

// close ends the drains; call it after every pipeline stopped.
func (s *pressSink) close() {
	s.once.Do(func() {
		s.mu.Lock()
		for _, j := range s.joiners {
			j.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// newMask returns a call's masking path (events and in-band, always)
// writing to the agent leg with a DirectSender, as the call domain
// assembles it.
func newMask(agent *media.Leg, presses *pressSink) (media.PacketHandler, media.TickHandler, error) {
	out, err := media.NewDirectSender(agent)
	if err != nil {
		return nil, nil, err
	}
	p := mask.NewPath(out, presses.joiner())
	if err := p.Configure(mask.Config{Law: g711.Ulaw, AudioPT: audioPT, EventPTs: []uint8{eventPT}}); err != nil {
		return nil, nil, err
	}
	return p, p, nil
}
