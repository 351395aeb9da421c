package main

import (
	"sync"

	"dtmfgw/dtmf/g711"
	"dtmfgw/media"
	"dtmfgw/media/mask"
)

// pressSink stands in for session: one bounded queue that every call's
// pipeline sends its presses to, drained by one goroutine.
type pressSink struct {
	ch   chan mask.Press
	done chan struct{}
	once sync.Once
	n    int
}

func newPressSink() *pressSink {
	s := &pressSink{ch: make(chan mask.Press, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for range s.ch {
			s.n++
		}
	}()
	return s
}

// close ends the drain; call it after every pipeline stopped.
func (s *pressSink) close() {
	s.once.Do(func() {
		close(s.ch)
		<-s.done
	})
}

// newMask returns the masking pipeline (events and in-band, always)
// writing to the agent leg with a DirectSender.
func newMask(agent *media.Leg, presses *pressSink) (media.PacketHandler, media.TickHandler, error) {
	out, err := media.NewDirectSender(agent)
	if err != nil {
		return nil, nil, err
	}
	p, err := mask.NewPipeline(mask.Config{
		Law:      g711.Ulaw,
		AudioPT:  audioPT,
		EventPTs: []uint8{eventPT},
		Presses:  presses.ch,
	}, out)
	if err != nil {
		return nil, nil, err
	}
	return p, p, nil
}
