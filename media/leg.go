package media

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// MaxDatagram is the largest datagram a leg accepts: an Ethernet MTU's
// worth. The read buffer is one byte longer, so a datagram that fills it
// was (or would have been) truncated by the kernel and is dropped as
// oversize rather than parsed short.
const MaxDatagram = 1500

// Errors of Leg.
var (
	// ErrNoRemote is returned by WriteRTP before SetRemote gave a valid
	// remote address.
	ErrNoRemote = errors.New("media: leg has no remote address")
	// ErrLegClosed is returned by Start after Close.
	ErrLegClosed = errors.New("media: leg closed")
	// ErrLegStarted is returned by a second Start.
	ErrLegStarted = errors.New("media: leg already started")
	// ErrLegUnpolled is returned by Start on a leg whose socket only a
	// Reactor reads.
	ErrLegUnpolled = errors.New("media: leg is read by a reactor")
	// ErrCloseTimeout is returned by Close when the reading goroutine did
	// not finish in time (its handler is stuck). The sockets are closed
	// and the ports released regardless.
	ErrCloseTimeout = errors.New("media: leg reader did not stop in time")
)

// Defaults of LegConfig.
const (
	// DefaultTimeoutCheck is how often an idle reader wakes to judge the
	// media timeout.
	DefaultTimeoutCheck = time.Second
	// defaultCloseWait bounds how long Close waits for the reader to return.
	defaultCloseWait = 2 * time.Second
	// maxConsecutiveReadErrors bounds a reader that only gets errors other
	// than deadlines; it then stops instead of spinning.
	maxConsecutiveReadErrors = 1000
)

// Packet is one accepted RTP packet, handed to a PacketHandler. The leg
// reuses one Packet and one read buffer for every datagram: Payload, Raw,
// and the CSRC and extension slices of Header alias that buffer, and the
// whole Packet is valid only during the HandleRTP call. A handler that
// keeps anything must copy it.
type Packet struct {
	// Header is the parsed RTP header; Version is always 2.
	Header rtp.Header
	// Payload is the RTP payload, without padding (RFC 3550 §5.1).
	Payload []byte
	// Raw is the whole datagram as received. A handler may rewrite it in
	// place before passing it on.
	Raw []byte
	// From is the datagram's source address (IPv4 unmapped).
	From netip.AddrPort
	// Arrival is when the datagram was read, by the leg's clock.
	Arrival time.Time

	// Warm, when a Reactor reads the leg, is where handlers name the
	// memory the leg's next datagram will use (see WarmList); nil
	// otherwise, and adding to a nil list does nothing.
	Warm *WarmList
}

// PacketHandler receives a leg's accepted RTP packets. HandleRTP is called
// on the leg's reading goroutine, one packet at a time; it must not block,
// and must not keep p or anything it points into after returning.
type PacketHandler interface {
	HandleRTP(p *Packet)
}

// PacketHandlerFunc adapts a function to PacketHandler.
type PacketHandlerFunc func(p *Packet)

// HandleRTP calls f(p).
func (f PacketHandlerFunc) HandleRTP(p *Packet) { f(p) }

// LegConfig configures a Leg.
type LegConfig struct {
	// Pool supplies the leg's RTP/RTCP sockets. Required.
	Pool *PortPool
	// Remote is the peer's RTP address from SDP; it may be left zero and
	// set later with SetRemote. Until it is valid every datagram is dropped.
	Remote netip.AddrPort
	// NATLatch lets the leg move, once per remote address set, to
	// another port on the remote's IP (for peers behind a NAT that
	// rewrites ports), but only to a source that has proven itself: see
	// Leg. Packets from any other IP are never accepted.
	NATLatch bool
	// MediaTimeout is how long the leg may go without accepting an RTP
	// packet before it reports a media timeout. Zero disables it.
	MediaTimeout time.Duration
	// TimeoutCheck is how often (wall-clock time) an idle reader wakes to
	// judge the media timeout by Now. Zero means DefaultTimeoutCheck.
	TimeoutCheck time.Duration
	// ClockRate is the RTP clock rate (Hz) for jitter. Zero means
	// DefaultClockRate.
	ClockRate uint32
	// EventPayloadTypes are the telephone-event payload types from SDP;
	// their packets are left out of jitter (see
	// ReceiveStats.SetEventPayloadTypes).
	EventPayloadTypes []uint8
	// Now is the leg's clock: packet arrival times and the media timeout
	// are judged by it. Nil means time.Now.
	Now func() time.Time
	// BatchRead, above 1, makes the leg read up to that many datagrams
	// (at most MaxBatchRead) per system call with recvmmsg(2) where the
	// platform allows (linux/amd64), and read one per call elsewhere. A
	// batch shares one arrival time. Each slot costs a MaxDatagram+1 buffer.
	BatchRead int
}

// MaxBatchRead bounds LegConfig.BatchRead.
const MaxBatchRead = 64

// Leg is one side of a call: an RTP socket and its RTCP neighbour from a
// PortPool, the peer's address, and a goroutine reading RTP from the
// socket. Only datagrams from the signalled (or, in NAT mode, the once
// latched) address are handed on; everything else is dropped and counted,
// so nobody can inject packets into the call or take its stream over
// ("RTP bleed").
//
// # NAT latching
//
// With LegConfig.NATLatch a peer behind a NAT that rewrites its port can
// still be heard, without handing the stream to whoever sends first from
// its host (another process there, another phone behind the same NAT):
//
//   - The signalled address always wins. Its packets are always handed
//     on; its first one closes the latch (the leg is strict on it from
//     then on, until SetRemote), drops any candidate, and takes the stream
//     back from a source latched before it.
//   - Any other port on the signalled IP is only a candidate. Its packets
//     are dropped (counted as wrong source): not relayed, not decoded for
//     digits. It latches when it has sent LatchPackets valid RTP packets
//     in a row, one SSRC, each sequence number 1 to 4 ahead of the one
//     before (RFC 3550 §5.1), spanning at least LatchMinSpan of arrival
//     time, with no valid packet from any other source between them. A
//     valid packet from another candidate starts the proof over, for
//     that one: while two sources on the IP contend, neither latches
//     and nothing of either is handed on — the leg fails closed. The span
//     keeps a burst from proving itself between two packets of a real
//     stream (a phone sends every 10 to 60 ms).
//   - Once latched, the leg does not latch again to another port until
//     SetRemote (a re-INVITE); only the signalled address can take the
//     stream back. Re-latching would give an outsider a fresh chance at
//     any moment of the call, while the first latch happens when the
//     caller's own stream is starting; a NAT rebinding mid-call is rare,
//     and is the lesser harm (one-way audio) next to a stolen stream.
//
// What no rule on plain RTP can tell apart is an outsider that sends
// alone, before the caller's first packet, for LatchPackets packets and
// LatchMinSpan: it is indistinguishable from a NAT'd caller. Where that
// matters, leave NAT latching off (the default) and signal the real
// addresses, or secure the media.
//
// SetRemote, SetMediaTimeout, WriteRTP, Stats and Close are safe to call
// from any goroutine.
type Leg struct {
	ports *PortPair
	local netip.AddrPort
	// raw is the RTP socket's descriptor plus one once unpoll has taken
	// it out of the Go runtime's poller (zero before): writes then go
	// straight to it, and only a Reactor reads it.
	raw atomic.Int32
	// closed and send sit beside raw: a packet written to this leg reads
	// all three, and on a relay carrying a thousand calls each cache line
	// a packet touches is a fetch from memory.
	closed  atomic.Bool
	send    SendStats
	now     func() time.Time
	check   time.Duration
	recv    receiver
	batch   *batchReader  // nil: one datagram per read
	wait    time.Duration // how long Close waits for the reader
	started atomic.Bool
	done    chan struct{}
	once    sync.Once
	readErr atomic.Pointer[error]
	// buf is the reader's datagram buffer (a Reactor's legs do not use
	// it): last, so that it does not part the fields above.
	buf [MaxDatagram + 1]byte
}

// NewLeg allocates a port pair from cfg.Pool and returns a leg that is not
// yet reading; call Start with its handler.
func NewLeg(cfg LegConfig) (*Leg, error) {
	if cfg.Pool == nil {
		return nil, errors.New("media: LegConfig.Pool is nil")
	}
	ports, err := cfg.Pool.Allocate()
	if err != nil {
		return nil, err
	}
	l := &Leg{
		ports: ports,
		local: ports.RTP.LocalAddr().(*net.UDPAddr).AddrPort(),
		now:   cfg.Now,
		check: cfg.TimeoutCheck,
		wait:  defaultCloseWait,
		done:  make(chan struct{}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.check <= 0 {
		l.check = DefaultTimeoutCheck
	}
	if cfg.BatchRead > 1 && batchSupported {
		l.batch, err = newBatchReader(ports.RTP, min(cfg.BatchRead, MaxBatchRead))
		if err != nil {
			ports.Release()
			return nil, err
		}
	}
	l.recv.init(cfg.NATLatch, cfg.ClockRate, cfg.MediaTimeout)
	l.recv.stats.SetEventPayloadTypes(cfg.EventPayloadTypes...)
	l.recv.setRemote(cfg.Remote)
	return l, nil
}

// String describes the leg for logs: its local RTP address and the remote
// it accepts from.
func (l *Leg) String() string {
	return "leg " + l.LocalAddr().String() + " <-> " + l.Remote().String()
}

// LocalAddr returns the address of the leg's RTP socket, for SDP.
func (l *Leg) LocalAddr() netip.AddrPort { return l.local }

// RTCP returns the leg's RTCP socket (RTP port + 1, RFC 3550 §11). The leg
// does not read it; the caller that handles RTCP owns its reading. Close
// closes it.
func (l *Leg) RTCP() *net.UDPConn { return l.ports.RTCP }

// SetRemote sets the peer's RTP address (from SDP, again on re-INVITE).
// From now on only datagrams from it are accepted; in NAT mode the leg may
// latch once more, to a source on its IP that proves itself (see Leg). A
// candidate's proof under the previous address is forgotten. An
// unspecified address (the old c=0.0.0.0 hold, RFC 3264 §8.4) or port 0 (a
// refused or removed stream, §6 and §8.2) means no remote: everything is
// dropped and WriteRTP returns ErrNoRemote (on Linux a datagram to
// 0.0.0.0 would reach this host).
func (l *Leg) SetRemote(remote netip.AddrPort) { l.recv.setRemote(remote) }

// Remote returns the address datagrams are accepted from and written to:
// the signalled one, or the latched one in NAT mode after latching (a
// candidate that has not proven itself is never the remote).
func (l *Leg) Remote() netip.AddrPort {
	if rs := l.recv.remote.Load(); rs != nil {
		return rs.addr
	}
	return netip.AddrPort{}
}

// SetEventPayloadTypes replaces the telephone-event payload types left out
// of jitter (after a re-INVITE).
func (l *Leg) SetEventPayloadTypes(pts ...uint8) { l.recv.stats.SetEventPayloadTypes(pts...) }

// SetMediaTimeout changes the media timeout (zero disables it, e.g. while
// the call is on hold) and restarts its count from the next check.
func (l *Leg) SetMediaTimeout(d time.Duration) {
	l.recv.timeout.Store(int64(d))
	l.recv.resetTimeout.Store(true)
}

// MediaTimeout returns a channel that is closed, once, when the leg has
// accepted no RTP for the media timeout. It is never closed if the timeout
// is disabled or the leg is closed first.
func (l *Leg) MediaTimeout() <-chan struct{} { return l.recv.timeoutCh }

// Start begins reading RTP and handing accepted packets to h, on a
// goroutine of the leg's own. A nil h only counts.
func (l *Leg) Start(h PacketHandler) error {
	if l.closed.Load() {
		return ErrLegClosed
	}
	if l.raw.Load() != 0 {
		return ErrLegUnpolled
	}
	if !l.started.CompareAndSwap(false, true) {
		return ErrLegStarted
	}
	l.recv.handler = h
	l.recv.lastAccepted = l.now()
	go l.readLoop()
	return nil
}

// readLoop reads datagrams until the socket is closed. It wakes every
// l.check even when nothing arrives, to judge the media timeout.
func (l *Leg) readLoop() {
	defer close(l.done)
	conn := l.ports.RTP
	buf := l.buf[:]
	_ = conn.SetReadDeadline(time.Now().Add(l.check))
	errs := 0
	for {
		var err error
		if l.batch != nil {
			var n int
			if n, err = l.batch.read(); err == nil {
				now := l.now()
				for i := range n {
					b, from := l.batch.datagram(i)
					l.recv.receive(b, from, now)
				}
			}
		} else {
			var n int
			var from netip.AddrPort
			if n, from, err = conn.ReadFromUDPAddrPort(buf); err == nil {
				l.recv.receive(buf[:n], from, l.now())
			}
		}
		if err == nil {
			errs = 0
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			l.recv.checkTimeout(l.now())
			_ = conn.SetReadDeadline(time.Now().Add(l.check))
			continue
		}
		if l.closed.Load() || errors.Is(err, net.ErrClosed) {
			return
		}
		// Unconnected UDP reads fail only on close or deadline; anything
		// else repeating without end is not worth spinning on.
		errs++
		if errs >= maxConsecutiveReadErrors {
			stopped := err // a copy, so that err itself stays on the stack
			l.readErr.Store(&stopped)
			return
		}
	}
}

// Err returns the error that stopped the reader other than Close, if any.
func (l *Leg) Err() error {
	if p := l.readErr.Load(); p != nil {
		return *p
	}
	return nil
}

// WriteRTP sends b to the remote address.
func (l *Leg) WriteRTP(b []byte) error {
	rs := l.recv.remote.Load()
	if rs == nil || !rs.addr.IsValid() {
		return ErrNoRemote
	}
	if raw := l.raw.Load(); raw != 0 {
		// The socket left the runtime's poller (see Reactor).
		if l.closed.Load() {
			l.send.Count(0, ErrLegClosed)
			return ErrLegClosed
		}
		err := sendRaw(int(raw-1), !l.local.Addr().Is4(), rs.addr, b)
		l.send.Count(len(b), err)
		return err
	}
	n, err := l.ports.RTP.WriteToUDPAddrPort(b, rs.addr)
	l.send.Count(n, err)
	return err
}

// LegSnapshot is a plain copy of a leg's counters.
type LegSnapshot struct {
	// Received is the stream read from the peer, Sent what WriteRTP wrote.
	Received ReceiveSnapshot
	Sent     SendSnapshot
}

// Stats returns the leg's counters.
func (l *Leg) Stats() LegSnapshot {
	return LegSnapshot{Received: l.recv.stats.Snapshot(), Sent: l.send.Snapshot()}
}

// Close stops the reader, closes both sockets and returns the port pair to
// the pool (where it drains before reuse). It waits for the reader to
// return, at most a bounded time. Only the first call has an effect.
func (l *Leg) Close() error {
	var err error
	l.once.Do(func() {
		l.closed.Store(true)
		err = l.ports.Release()
		if !l.started.Load() {
			return
		}
		t := time.NewTimer(l.wait)
		defer t.Stop()
		select {
		case <-l.done:
		case <-t.C:
			err = errors.Join(err, ErrCloseTimeout)
		}
	})
	return err
}
