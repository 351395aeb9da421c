//go:build !linux

package media

import (
	"errors"
	"net/netip"
	"sync"

	"dtmfgw/internal/histo"
)

// ErrNoReactor is returned by NewReactor where there is no epoll(7).
var ErrNoReactor = errors.New("media: Reactor needs Linux (epoll)")

// Reactor reads many legs' sockets on one goroutine; Linux only.
type Reactor struct{ mu sync.Mutex }

// NewReactor returns ErrNoReactor on this platform.
func NewReactor(ReactorConfig) (*Reactor, error) { return nil, ErrNoReactor }

// Len returns 0.
func (r *Reactor) Len() int { return 0 }

// Close does nothing.
func (r *Reactor) Close() error { return nil }

func (r *Reactor) attach(*Leg, Side, PacketHandler) (int32, error) { return -1, ErrNoReactor }

// AddedLatency returns an empty snapshot: there is no reactor here.
func (r *Reactor) AddedLatency(Side) histo.Snapshot { return histo.Snapshot{} }

func (r *Reactor) detach(int32) {}

// DirectSender writes to a leg's remote; elsewhere than Linux it is
// Leg.WriteRTP.
type DirectSender struct{ to *Leg }

// NewDirectSender returns a DirectSender for l.
func NewDirectSender(l *Leg) (*DirectSender, error) { return &DirectSender{to: l}, nil }

// Target returns the leg d writes to (LegWriter).
func (d *DirectSender) Target() *Leg { return d.to }

// HandleRTP writes p's datagram unchanged.
func (d *DirectSender) HandleRTP(p *Packet) { _ = d.to.WriteRTP(p.Raw) }

// SendRTP writes b to the leg's remote.
func (d *DirectSender) SendRTP(b []byte) error { return d.to.WriteRTP(b) }

// String names the stage for logs.
func (d *DirectSender) String() string { return "write to " + d.to.String() }

// closeRaw is never needed here: no socket leaves the runtime's poller.
func closeRaw(int) error { return nil }

// unpoll does nothing here.
func (l *Leg) unpoll() error { return nil }

// sendRaw is never called here: no leg is unpolled.
func sendRaw(int, bool, netip.AddrPort, []byte) error { return ErrNoReactor }
