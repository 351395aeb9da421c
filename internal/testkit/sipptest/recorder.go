package sipptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit/leakcheck"

	"github.com/pion/rtp"
)

// Received is one RTP packet a Recorder kept.
type Received struct {
	// At is when it arrived.
	At time.Time
	// From is the sender's address.
	From netip.AddrPort
	// Packet is the parsed packet; its payload is the recorder's own copy.
	Packet rtp.Packet
}

// DefaultMaxPackets is the Recorder's bound when NewRecorder is given 0:
// ten minutes of one 20 ms stream plus its events.
const DefaultMaxPackets = 60_000

// maxDatagram is the largest datagram a Recorder reads whole; anything
// longer is counted as not RTP.
const maxDatagram = 1500

// Recorder is the agent's media in the harness: a UDP socket on loopback
// that keeps the RTP it receives, up to a bound, from any sender. The
// agent scenarios point their SDP answers at it (Options.MediaSink). It is
// safe for concurrent use.
type Recorder struct {
	conn *net.UDPConn
	max  int
	done chan struct{}

	mu      sync.Mutex
	pkts    []Received
	notRTP  int
	dropped int
	changed chan struct{} // closed and replaced on every datagram
}

// NewRecorder starts a Recorder on 127.0.0.1 and a free port. maxPackets
// bounds what it keeps (0: DefaultMaxPackets); later packets are counted
// and dropped.
func NewRecorder(maxPackets int) (*Recorder, error) {
	return ListenRecorder(netip.AddrPortFrom(Loopback, 0), maxPackets)
}

// ListenRecorder starts a Recorder on addr (port 0 picks a free one).
func ListenRecorder(addr netip.AddrPort, maxPackets int) (*Recorder, error) {
	if maxPackets <= 0 {
		maxPackets = DefaultMaxPackets
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("sipptest: recorder: %w", err)
	}
	r := &Recorder{conn: conn, max: maxPackets, done: make(chan struct{}), changed: make(chan struct{})}
	go r.read()
	return r, nil
}

func (r *Recorder) read() {
	defer close(r.done)
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors and the like: keep reading
		}
		at := time.Now()
		var p rtp.Packet
		ok := n <= maxDatagram && p.Unmarshal(buf[:n]) == nil && p.Version == 2
		r.mu.Lock()
		switch {
		case !ok:
			r.notRTP++
		case len(r.pkts) >= r.max:
			r.dropped++
		default:
			p.Payload = append([]byte(nil), p.Payload...)
			p.Header.Extensions = nil
			p.Header.CSRC = append([]uint32(nil), p.Header.CSRC...)
			r.pkts = append(r.pkts, Received{At: at, From: from, Packet: p})
		}
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
}

// Addr returns the address the Recorder listens on.
func (r *Recorder) Addr() netip.AddrPort {
	return r.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Close stops the Recorder; what it kept stays readable.
func (r *Recorder) Close() error {
	err := r.conn.Close()
	<-r.done
	return err
}

// Received returns a copy of the packets kept so far, in arrival order.
func (r *Recorder) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.pkts...)
}

// Packets returns the packets kept so far, in arrival order.
func (r *Recorder) Packets() []rtp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]rtp.Packet, len(r.pkts))
	for i, p := range r.pkts {
		out[i] = p.Packet
	}
	return out
}

// RecorderStats counts what a Recorder received.
type RecorderStats struct {
	// Packets is the number of RTP packets kept.
	Packets int
	// NotRTP is the number of datagrams that were not RTP version 2.
	NotRTP int
	// Dropped is the number of RTP packets beyond the bound.
	Dropped int
}

// Stats returns the Recorder's counters.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statsLocked()
}

func (r *Recorder) statsLocked() RecorderStats {
	return RecorderStats{Packets: len(r.pkts), NotRTP: r.notRTP, Dropped: r.dropped}
}

// WaitPackets returns once the Recorder has kept at least n packets, or
// with ctx's error.
func (r *Recorder) WaitPackets(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		got, ch := len(r.pkts), r.changed
		r.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sipptest: recorder has %d of %d packets: %w", got, n, ctx.Err())
		case <-ch:
		}
	}
}

// WaitFunc returns once done, called with the packets kept so far each
// time one arrives, returns true, or with ctx's error. done must not keep
// the slice.
func (r *Recorder) WaitFunc(ctx context.Context, done func([]Received) bool) error {
	for {
		r.mu.Lock()
		ok, ch, got := done(r.pkts), r.changed, len(r.pkts)
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sipptest: recorder (%d packets): %w", got, ctx.Err())
		case <-ch:
		}
	}
}

// WaitQuiet returns once at least one packet has arrived and then none for
// quiet — the end of a stream, which RTP does not signal — or with ctx's
// error.
func (r *Recorder) WaitQuiet(ctx context.Context, quiet time.Duration) error {
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	for {
		r.mu.Lock()
		got, ch := len(r.pkts), r.changed
		r.mu.Unlock()
		if got > 0 {
			timer.Reset(quiet)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sipptest: recorder waiting for the stream to end (%d packets): %w", got, ctx.Err())
		case <-ch:
		case <-timer.C:
			if got > 0 {
				return nil
			}
		}
	}
}

// Findings returns what a leak check finds in the packets kept so far (see
// leakcheck.Find): telephone-event packets on any payload type, and keys in
// the audio of payload type audioPT decoded with law.
func (r *Recorder) Findings(ctx context.Context, audioPT uint8, law g711.Law) (leakcheck.Findings, error) {
	return leakcheck.Find(ctx, r.Packets(), audioPT, law)
}
