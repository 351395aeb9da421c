//go:build linux

package media

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// readSlots is how many datagrams the reactor reads from a ready socket
// at once. Two, not one: a recvmmsg(2) that returns fewer than it was
// asked for proves the socket empty without a second read, which lets the
// reactor park without a last, empty epoll_wait(2).
const readSlots = 2

// DefaultReactorEvents is how many ready sockets a Reactor takes from the
// kernel per epoll_wait(2) when none is configured.
const DefaultReactorEvents = 256

// ErrReactorClosed is returned when a relay starts on a closed Reactor.
var ErrReactorClosed = errors.New("media: reactor closed")

// ReactorConfig configures a Reactor.
type ReactorConfig struct {
	// Now is the clock packets' arrival and media timeouts are judged by;
	// it must be the legs' clock. Nil means time.Now.
	Now func() time.Time
	// TimeoutCheck is how often (wall-clock time) the reactor judges its
	// legs' media timeouts. Zero means DefaultTimeoutCheck.
	TimeoutCheck time.Duration
	// Events is how many ready sockets one epoll_wait(2) returns at most.
	// Zero means DefaultReactorEvents.
	Events int
	// Coalesce, if positive, is how long the reactor waits after relaying
	// a batch before it looks for the next one, so that packets arriving
	// meanwhile share one wake-up: fewer wake-ups per packet for at most
	// Coalesce of added latency. Zero relays every packet as soon as its
	// socket is ready. At most MaxReactorCoalesce.
	Coalesce time.Duration
}

// MaxReactorCoalesce bounds ReactorConfig.Coalesce: a fraction of a
// packet interval, well inside a jitter buffer's slack.
const MaxReactorCoalesce = 2 * time.Millisecond

// Reactor reads the RTP sockets of many relays' legs on one goroutine,
// instead of one goroutine per socket. A call's sockets each carry one
// 50 packet/s stream, so a socket almost never holds two datagrams and
// batching per socket (recvmmsg) finds nothing to batch; what a thousand
// calls do share is time. The reactor keeps its own epoll(7) set of the
// legs' sockets, level-triggered, and lets the Go netpoller wake it when
// that set has anything ready. One wake-up then serves every socket that
// became ready meanwhile: one epoll_wait(2) lists them, one recvmmsg(2)
// of two each reads what is there (getting one proves the socket empty:
// no second, empty read), each packet is judged and relayed exactly as a
// Leg's own reader does (the unmasked directions written with a plain
// sendto(2), not through the Go poller), and the goroutine parks again.
// Under load that is one wake-up per batch of packets, where a reader
// per socket pays a goroutine wake-up and an empty read per packet.
//
// A relay uses a reactor when RelayConfig.Reactor is set; its legs must
// then be closed through Relay.Close, which takes them out of the
// reactor's set first. Run one reactor per CPU (GOMAXPROCS) and spread
// the calls over them. Safe for concurrent use.
type Reactor struct {
	epfd     int
	file     *os.File // epfd, registered with the Go netpoller
	rc       syscall.RawConn
	now      func() time.Time
	check    time.Duration
	coalesce time.Duration

	// mu is held while a batch is read and relayed, and by attach and
	// detach, so that a leg leaves the set only between batches.
	mu     sync.Mutex
	slots  []reactorSlot // by epoll data
	free   []int32
	events []syscall.EpollEvent
	// Two read slots for recvmmsg(2): packets are relayed before the next
	// read, so the buffers are reused for every socket.
	bufs   [readSlots][MaxDatagram + 1]byte
	names  [readSlots]syscall.RawSockaddrAny
	iovs   [readSlots]syscall.Iovec
	msgs   [readSlots]reactorMsg
	pollFn func(uintptr) bool // r.poll, bound once so Read does not allocate
	// closed is set by Close under mu: the epoll descriptor is gone (and
	// its number may belong to another file), so detach must not use it.
	closed bool
	// relayed is set by poll when it relayed something and coalescing
	// is on: run then waits before the next poll. Only run's goroutine
	// touches it.
	relayed bool

	done chan struct{}
	once sync.Once
}

// reactorMsg is struct mmsghdr of recvmmsg(2): a message header and the
// length the kernel received into it.
type reactorMsg struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

// reactorSlot is one leg in a reactor's set.
type reactorSlot struct {
	leg *Leg
	fd  int
}

// NewReactor starts a reactor with no legs. Close stops it.
func NewReactor(cfg ReactorConfig) (*Reactor, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	// A non-blocking descriptor becomes a pollable os.File: the epoll set
	// is itself readable when one of its sockets is.
	f := os.NewFile(uintptr(epfd), "media-reactor-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	r := &Reactor{
		epfd:  epfd,
		file:  f,
		rc:    rc,
		now:   cfg.Now,
		check: cfg.TimeoutCheck,
		done:  make(chan struct{}),
	}
	r.coalesce = min(max(cfg.Coalesce, 0), MaxReactorCoalesce)
	if r.now == nil {
		r.now = time.Now
	}
	if r.check <= 0 {
		r.check = DefaultTimeoutCheck
	}
	n := cfg.Events
	if n <= 0 {
		n = DefaultReactorEvents
	}
	r.events = make([]syscall.EpollEvent, n)
	for i := range readSlots {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(len(r.bufs[i]))
		r.msgs[i].hdr.Iov = &r.iovs[i]
		r.msgs[i].hdr.Iovlen = 1
		r.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.pollFn = r.poll
	if err := f.SetReadDeadline(time.Now().Add(r.check)); err != nil {
		f.Close()
		return nil, err
	}
	go r.run()
	return r, nil
}

// Len returns the number of legs the reactor reads.
func (r *Reactor) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.slots) - len(r.free)
}

// run waits for ready sockets until Close. The read deadline wakes it
// every check interval, busy or not, to judge the media timeouts.
func (r *Reactor) run() {
	defer close(r.done)
	for {
		err := r.rc.Read(r.pollFn)
		if err == nil {
			if r.relayed {
				r.relayed = false
				time.Sleep(r.coalesce)
			}
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			r.checkTimeouts()
			if r.file.SetReadDeadline(time.Now().Add(r.check)) == nil {
				continue
			}
		}
		return // closed
	}
}

// poll is the RawConn.Read callback: one epoll_wait without waiting, and
// the datagrams of each ready socket read and relayed. It returns false
// to have the netpoller park the goroutine until the epoll set is
// readable again: when nothing was ready, or when everything ready was
// read (fewer events than room for them, and every socket read short of
// a full batch). Any datagram that arrives after the epoll_wait wakes the
// netpoller again, so parking then loses nothing and saves the empty
// epoll_wait that would otherwise end every wake-up.
func (r *Reactor) poll(uintptr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	// epoll_pwait(2) with no signal mask is epoll_wait(2), which some
	// architectures lack. A zero timeout never blocks, so the raw call,
	// without the scheduler's system call hand-off, is right.
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(r.epfd),
		uintptr(unsafe.Pointer(&r.events[0])), uintptr(len(r.events)), 0, 0, 0)
	if e == syscall.EINTR {
		return true
	}
	if e != 0 || n == 0 {
		return false
	}
	now := r.now()
	more := int(n) == len(r.events)
	for i := range int(n) {
		idx := r.events[i].Fd // the slot index, stored as the event's data
		if idx < 0 || int(idx) >= len(r.slots) || r.slots[idx].leg == nil {
			continue
		}
		if r.read(&r.slots[idx], now) {
			more = true
		}
	}
	if r.coalesce > 0 {
		// Return to run, which waits, then polls again: what arrived
		// meanwhile is found by that poll, with no wake-up of its own.
		r.relayed = true
		return true
	}
	return more
}

// read reads up to readSlots datagrams from s's socket and hands them to
// the leg's receive path. It reports whether the socket may hold more.
func (r *Reactor) read(s *reactorSlot, now time.Time) bool {
	for i := range readSlots {
		r.msgs[i].hdr.Namelen = uint32(syscall.SizeofSockaddrAny)
		r.msgs[i].hdr.Flags = 0
		r.msgs[i].len = 0
	}
	// MSG_DONTWAIT: never blocks, so the raw call is right here too.
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVMMSG, uintptr(s.fd),
		uintptr(unsafe.Pointer(&r.msgs[0])), readSlots, syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		// EAGAIN (nothing after all) or a pending socket error, which
		// this read cleared: nothing to relay. EINTR: look again.
		return e == syscall.EINTR
	}
	for i := range int(n) {
		b := r.bufs[i][:min(int(r.msgs[i].len), len(r.bufs[i]))]
		s.leg.recv.receive(b, sockaddrAddrPort(&r.names[i]), now)
	}
	return int(n) == readSlots
}

// checkTimeouts judges every leg's media timeout.
func (r *Reactor) checkTimeouts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for i := range r.slots {
		if l := r.slots[i].leg; l != nil {
			l.recv.checkTimeout(now)
		}
	}
}

// attach makes the reactor read l and hand its packets to h, in place of
// Leg.Start. It returns the leg's slot for detach.
func (r *Reactor) attach(l *Leg, h PacketHandler) (int32, error) {
	fd, err := legFD(l)
	if err != nil {
		return -1, err
	}
	if l.closed.Load() {
		return -1, ErrLegClosed
	}
	if !l.started.CompareAndSwap(false, true) {
		return -1, ErrLegStarted
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		close(l.done)
		return -1, ErrReactorClosed
	}
	l.recv.handler = h
	l.recv.lastAccepted = r.now()
	var idx int32
	if k := len(r.free); k > 0 {
		idx = r.free[k-1]
		r.free = r.free[:k-1]
	} else {
		idx = int32(len(r.slots))
		r.slots = append(r.slots, reactorSlot{})
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: idx}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		r.free = append(r.free, idx)
		close(l.done) // no reader will run: let Close return at once
		return -1, err
	}
	r.slots[idx] = reactorSlot{leg: l, fd: fd}
	return idx, nil
}

// detach takes the leg in slot idx out of the set; once it returns the
// reactor does not touch the leg again, and the leg's Close does not wait
// for a reader.
func (r *Reactor) detach(idx int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if idx < 0 || int(idx) >= len(r.slots) || r.slots[idx].leg == nil {
		return
	}
	s := r.slots[idx]
	if !r.closed {
		// The socket is still open: its Close comes after this.
		_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
	}
	r.slots[idx] = reactorSlot{}
	r.free = append(r.free, idx)
	close(s.leg.done)
}

// Close stops the reactor's goroutine and closes its epoll set. Legs
// still attached are no longer read; close their relays first. Only the
// first call has an effect.
func (r *Reactor) Close() error {
	var err error
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		err = r.file.Close()
		<-r.done
	})
	return err
}

// legFD returns the descriptor of l's RTP socket. It stays valid until
// the leg is closed.
func legFD(l *Leg) (int, error) {
	rc, err := l.ports.RTP.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// DirectSender writes RTP datagrams to a leg's remote with one sendto(2)
// on the leg's socket, bypassing the Go poller's locks and system call
// hand-off (a few hundred nanoseconds a packet). MSG_DONTWAIT: a full
// socket buffer fails the write (counted as a send error) rather than
// wait, so the hot path never blocks on a slow peer. It fits the masking
// pipeline's Sender in place of LegSender, and as a PacketHandler it
// forwards packets unchanged (a Reactor's relays use it so). It is valid
// until the leg is closed; safe for concurrent use.
type DirectSender struct {
	to *Leg
	fd int
	v6 bool // the socket is IPv6: an IPv4 remote is written v4-mapped
}

// NewDirectSender returns a DirectSender for l.
func NewDirectSender(l *Leg) (*DirectSender, error) {
	fd, err := legFD(l)
	if err != nil {
		return nil, err
	}
	return &DirectSender{to: l, fd: fd, v6: !l.LocalAddr().Addr().Is4()}, nil
}

// HandleRTP writes p's datagram unchanged.
func (d *DirectSender) HandleRTP(p *Packet) { _ = d.SendRTP(p.Raw) }

// SendRTP writes b to the leg's remote, as Leg.WriteRTP does, and counts
// it in the leg's send statistics.
func (d *DirectSender) SendRTP(b []byte) error {
	rs := d.to.recv.remote.Load()
	if rs == nil || !rs.addr.IsValid() {
		d.to.send.Count(0, ErrNoRemote)
		return ErrNoRemote
	}
	if d.to.closed.Load() {
		// The descriptor may be gone, or even reused.
		d.to.send.Count(0, ErrLegClosed)
		return ErrLegClosed
	}
	var sa syscall.RawSockaddrInet6 // big enough for either family
	saLen := uintptr(syscall.SizeofSockaddrInet6)
	ip := rs.addr.Addr()
	if d.v6 {
		sa.Family = syscall.AF_INET6
		sa.Addr = ip.As16() // As16 maps an IPv4 address
	} else {
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&sa))
		sa4.Family = syscall.AF_INET
		sa4.Addr = ip.As4()
		saLen = syscall.SizeofSockaddrInet4
	}
	port := (*[2]byte)(unsafe.Pointer(&sa.Port)) // same offset in both layouts
	port[0], port[1] = byte(rs.addr.Port()>>8), byte(rs.addr.Port())
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	// MSG_DONTWAIT: never blocks, so the raw call is right.
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(d.fd),
		uintptr(p), uintptr(len(b)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&sa)), saLen)
	if e != 0 {
		d.to.send.Count(0, e)
		return e
	}
	d.to.send.Count(len(b), nil)
	return nil
}

// String names the stage for logs.
func (d *DirectSender) String() string { return "sendto " + d.to.String() }

// sockaddrAddrPort converts a received source address (IPv4 or IPv6).
func sockaddrAddrPort(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case syscall.AF_INET6:
		sa6 := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa6.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa6.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	// No address (not a UDP/IP socket): no source can match.
	return netip.AddrPort{}
}
