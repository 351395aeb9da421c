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

// verdict is what receive did with one datagram.
type verdict uint8

const (
	accepted verdict = iota
	droppedWrongSource
	droppedOversize
	droppedMalformed
	// droppedUnproven: a valid packet from a NAT latch candidate that has
	// not proven itself yet; counted as a wrong source.
	droppedUnproven
)

// NAT latching (see Leg).
const (
	// LatchPackets is how many valid RTP packets in a row a source on the
	// signalled IP, other than the signalled address, must send before
	// the leg latches to it. Four is 60 ms of a 20 ms stream.
	LatchPackets = 4
	// LatchMinSpan is the least arrival time the LatchPackets packets
	// must span: longer than a real stream's packet interval, so that a
	// burst sent between two of its packets cannot prove itself.
	LatchMinSpan = 60 * time.Millisecond
	// latchMaxSeqStep is the largest step between two of a candidate's
	// sequence numbers that still counts as "in a row": a few packets
	// lost on the way are forgiven, a jump or a step back is not.
	latchMaxSeqStep = 4
)

// remoteState is the address a leg accepts from. It is replaced as a whole
// (SetRemote, latching), so the reader needs one atomic load per datagram.
type remoteState struct {
	// addr is where datagrams are accepted from and written to: the
	// signalled address, or in NAT mode the source latched to.
	addr netip.AddrPort
	// signalled is the address SDP gave (SetRemote).
	signalled netip.AddrPort
	// latchable: NAT mode, and the latch is open: neither the signalled
	// address nor a candidate has been accepted since SetRemote.
	latchable bool
}

// latchCandidate is the proof so far of a source on the signalled IP
// that is not the signalled address: the reader goroutine's own.
type latchCandidate struct {
	// rs is the remote the proof was made under: a SetRemote starts it
	// over.
	rs    *remoteState
	from  netip.AddrPort
	ssrc  uint32
	seq   uint16
	n     int       // packets in a row
	first time.Time // the first one's arrival
}

// receiver is the per-datagram part of a leg, without sockets, so that it
// can be driven directly by tests, the fuzz target and a batched reader.
// Everything but remote, timeout, resetTimeout and stats' published
// counters belongs to the reading goroutine.
type receiver struct {
	remote       atomic.Pointer[remoteState]
	natLatch     bool
	stats        ReceiveStats
	pkt          Packet
	handler      PacketHandler
	lastAccepted time.Time
	timeout      atomic.Int64 // time.Duration
	resetTimeout atomic.Bool
	timedOut     bool
	timeoutCh    chan struct{}
	// onDrop, if set (by tests, before Start), sees every dropped datagram's verdict.
	onDrop func(verdict)
	// warm is pkt.Warm's list when a Reactor reads the leg.
	warm WarmList
	// cand is the NAT latch candidate being proven, if any.
	cand latchCandidate
}

// init prepares r; the header's CSRC and extension slices get room for
// the common case so parsing does not allocate.
func (r *receiver) init(natLatch bool, clockRate uint32, timeout time.Duration) {
	r.natLatch = natLatch
	r.stats.SetClockRate(clockRate)
	r.timeout.Store(int64(timeout))
	r.timeoutCh = make(chan struct{})
	r.pkt.Header.CSRC = make([]uint32, 0, 15)
	r.pkt.Header.Extensions = make([]rtp.Extension, 0, 16)
}

func (r *receiver) setRemote(remote netip.AddrPort) {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	if remote.Addr().IsUnspecified() || remote.Port() == 0 {
		remote = netip.AddrPort{}
	}
	r.remote.Store(&remoteState{addr: remote, signalled: remote, latchable: r.natLatch})
}

// drop counts a dropped datagram.
func (r *receiver) drop(v verdict) verdict {
	switch v {
	case droppedWrongSource, droppedUnproven:
		r.stats.CountWrongSource()
	case droppedOversize:
		r.stats.CountOversize()
	case droppedMalformed:
		r.stats.CountMalformed()
	}
	if r.onDrop != nil {
		r.onDrop(v)
	}
	return v
}

// receive judges one datagram b from from, read at now: source, size,
// RTP validity; it hands an accepted packet to the handler.
func (r *receiver) receive(b []byte, from netip.AddrPort, now time.Time) verdict {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	rs := r.remote.Load()
	if rs == nil || !rs.addr.IsValid() {
		return r.drop(droppedWrongSource)
	}
	// The current source, the signalled address (which may take the
	// stream back from a latched one), or, while the latch is open, a
	// candidate on the signalled IP; nothing else.
	if from != rs.addr && from != rs.signalled && !(rs.latchable && from.Addr() == rs.signalled.Addr()) {
		return r.drop(droppedWrongSource)
	}
	if len(b) > MaxDatagram {
		return r.drop(droppedOversize)
	}
	payload, ok := r.parse(b)
	if !ok {
		return r.drop(droppedMalformed)
	}
	if rs.latchable || from != rs.addr {
		// NAT mode, and this packet may move the stream: only a valid
		// packet does, so that a stray datagram cannot steer it. A failed
		// swap means SetRemote changed the remote meanwhile: this packet
		// was judged against the old one.
		if from != rs.signalled && !r.proven(rs, from, now) {
			return r.drop(droppedUnproven)
		}
		if !r.remote.CompareAndSwap(rs, &remoteState{addr: from, signalled: rs.signalled}) {
			return r.drop(droppedWrongSource)
		}
		r.cand = latchCandidate{}
	}
	r.lastAccepted = now
	p := &r.pkt
	p.Payload = payload
	p.Raw = b
	p.From = from
	p.Arrival = now
	r.stats.Update(&p.Header, len(b), len(payload), now)
	if p.Warm != nil {
		r.noteWarm()
	}
	if r.handler != nil {
		r.handler.HandleRTP(p)
	}
	return accepted
}

// proven adds the valid packet just parsed (r.pkt.Header) from candidate
// from, arrived at now, to its proof under rs, and reports whether the
// candidate has now proven itself (see Leg): LatchPackets in a row of one
// SSRC with advancing sequence numbers, spanning LatchMinSpan. A packet
// that does not continue the proof (another source, another SSRC, a
// sequence number that does not advance) starts a new one of its own.
func (r *receiver) proven(rs *remoteState, from netip.AddrPort, now time.Time) bool {
	h := &r.pkt.Header
	c := &r.cand
	// uint16 arithmetic: the step across a wrap of the sequence number
	// (RFC 3550 §5.1) is still small.
	if step := h.SequenceNumber - c.seq; c.rs != rs || c.from != from || c.ssrc != h.SSRC || step == 0 || step > latchMaxSeqStep {
		*c = latchCandidate{rs: rs, from: from, ssrc: h.SSRC, seq: h.SequenceNumber, n: 1, first: now}
	} else {
		c.seq = h.SequenceNumber
		c.n++
	}
	return c.n >= LatchPackets && now.Sub(c.first) >= LatchMinSpan
}

// parse parses b's RTP header into r.pkt.Header and returns the payload
// without padding. The fixed header, CSRC list and extension header are
// checked here before pion parses them, so that common garbage is turned
// away without pion building an error value.
func (r *receiver) parse(b []byte) (payload []byte, ok bool) {
	// RFC 3550 §5.1: 12-byte fixed header, version 2 (pion does not check
	// the version).
	if len(b) < 12 || b[0]>>6 != 2 {
		return nil, false
	}
	need := 12 + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 {
		// RFC 3550 §5.3.1: a 4-byte extension header, then its length in
		// 32-bit words.
		if len(b) < need+4 {
			return nil, false
		}
		profile := uint16(b[need])<<8 | uint16(b[need+1])
		start := need + 4
		need = start + 4*(int(b[need+2])<<8|int(b[need+3]))
		if len(b) < need || !extensionElementsFit(b[start:need], profile) {
			return nil, false
		}
	}
	if len(b) < need {
		return nil, false
	}
	n, err := r.pkt.Header.Unmarshal(b)
	if err != nil || n > len(b) {
		return nil, false
	}
	end := len(b)
	if r.pkt.Header.Padding {
		// RFC 3550 §5.1: the last octet counts the padding, itself included.
		pad := int(b[end-1])
		if pad == 0 || n+pad > end {
			return nil, false
		}
		end -= pad
		r.pkt.Header.PaddingSize = b[len(b)-1]
	} else {
		r.pkt.Header.PaddingSize = 0
	}
	return b[n:end], true
}

// extensionElementsFit reports whether every element of an RFC 8285
// header extension block ext lies within it: one-byte elements (profile
// 0xBEDE, §4.2) or two-byte elements (profile 0x1000, §4.3; the low four
// "appbits" are not accepted, as pion parses only 0x1000). Other profiles
// are one opaque block (RFC 3550 §5.3.1). Checking here keeps pion from
// building an error value, so a malformed packet costs no allocation.
func extensionElementsFit(ext []byte, profile uint16) bool {
	switch profile {
	case rtp.ExtensionProfileOneByte:
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding
				i++
				continue
			}
			id, size := ext[i]>>4, int(ext[i]&0x0F)+1
			i++
			if id == 15 || id == 0 {
				// 15 is reserved: parsing stops (§4.2). 0 is padding only
				// when the whole byte is 0; pion stops on any other ID 0
				// byte too, and so do we, to agree with it.
				return true
			}
			if i+size > len(ext) {
				return false
			}
			i += size
		}
	case rtp.ExtensionProfileTwoByte:
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding
				i++
				continue
			}
			if i+1 >= len(ext) {
				return false
			}
			size := int(ext[i+1])
			i += 2
			if i+size > len(ext) {
				return false
			}
			i += size
		}
	}
	return true
}

// checkTimeout judges the media timeout at now; it reports whether this
// call fired it.
func (r *receiver) checkTimeout(now time.Time) bool {
	if r.timedOut {
		return false
	}
	if r.resetTimeout.Swap(false) {
		r.lastAccepted = now
	}
	d := time.Duration(r.timeout.Load())
	if d <= 0 || now.Sub(r.lastAccepted) < d {
		return false
	}
	r.timedOut = true
	close(r.timeoutCh)
	return true
}
