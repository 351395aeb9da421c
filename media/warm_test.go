package media

import (
	"testing"

	"github.com/pion/rtp"
)

// The read-ahead reaches a relay's pipeline through the leg, the relay's
// ticking handler and any wrapper that implements Warmer, and reads
// nothing while the wheel holds the relay.
func TestWarmReachesThePipeline(t *testing.T) {
	p := newBenchPipeline(t)
	pk := Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: speechLike()}
	for i := range 5 {
		audioStep(p, &pk, i)
	}
	if p.Warm() == 0 {
		t.Fatal("Pipeline.Warm read nothing after five packets")
	}
	r := &Relay{mask: wrapped{p}}
	h := (*tickingHandler)(r)
	if got, want := h.warm(), p.Warm()+uint64(r.lastTick.UnixNano()); got != want {
		t.Errorf("warm through a wrapper = %d, want %d", got, want)
	}
	r.mu.Lock()
	if got := h.warm(); got != 0 {
		t.Errorf("warm of a locked relay = %d, want 0 (nothing read)", got)
	}
	r.mu.Unlock()
}

// wrapped stands for a handler that wraps a pipeline (session's caller
// path).
type wrapped struct{ p *Pipeline }

func (w wrapped) HandleRTP(pk *Packet) { w.p.HandleRTP(pk) }
func (w wrapped) Warm() uint64         { return w.p.Warm() }
