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

// reactorSupported reports whether NewReactor works on this platform.
const reactorSupported = true

// DefaultReactorEvents is how many ready sockets a Reactor takes from the
// kernel per epoll_wait(2) when none is configured.
const DefaultReactorEvents = 256

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
}

// Reactor reads the RTP sockets of many relays' legs on one goroutine,
// instead of one goroutine per socket. A call's sockets each carry one
// 50 packet/s stream, so a socket almost never holds two datagrams and
// batching per socket (recvmmsg) finds nothing to batch; what a thousand
// calls do share is time. The reactor keeps its own epoll(7) set of the
// legs' sockets, level-triggered, and lets the Go netpoller wake it when
// that set has anything ready. One wake-up then serves every socket that
// became ready meanwhile: one epoll_wait(2) lists them, one recvfrom(2)
// each reads a datagram (no second read to learn that the socket is
// empty: epoll said which are ready), the packet is judged and relayed
// exactly as a Leg's own reader does, and a last epoll_wait(2) that finds
// nothing lets the goroutine park. Under load that is one wake-up and one
// idle poll per batch of packets, where a reader per socket pays a
// goroutine wake-up and an empty read per packet.
//
// A relay uses a reactor when RelayConfig.Reactor is set. Run one reactor
// per CPU (GOMAXPROCS) and spread the calls over them. Safe for
// concurrent use.
type Reactor struct {
	epfd  int
	file  *os.File // epfd, registered with the Go netpoller
	rc    syscall.RawConn
	now   func() time.Time
	check time.Duration

	// mu is held while a batch is read and relayed, and by attach and
	// detach, so that a leg leaves the set only between batches.
	mu     sync.Mutex
	slots  []reactorSlot // by epoll data
	free   []int32
	events []syscall.EpollEvent
	buf    [MaxDatagram + 1]byte // one read buffer: packets are relayed before the next read
	name   syscall.RawSockaddrAny
	pollFn func(uintptr) bool // r.poll, bound once so Read does not allocate

	done chan struct{}
	once sync.Once
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
// one datagram read and relayed from each ready socket. It returns false
// when nothing was ready, so the netpoller parks the goroutine until the
// epoll set is readable again.
func (r *Reactor) poll(uintptr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A zero timeout never blocks, so the raw call, without the
	// scheduler's system call hand-off, is right.
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(r.epfd),
		uintptr(unsafe.Pointer(&r.events[0])), uintptr(len(r.events)), 0, 0, 0)
	if e == syscall.EINTR {
		return true
	}
	if e != 0 || n == 0 {
		return false
	}
	now := r.now()
	for i := range int(n) {
		idx := r.events[i].Fd // the slot index, stored as the event's data
		if idx < 0 || int(idx) >= len(r.slots) || r.slots[idx].leg == nil {
			continue
		}
		r.readOne(&r.slots[idx], now)
	}
	return true
}

// readOne reads one datagram from s's socket, if there is one, and hands
// it to the leg's receive path.
func (r *Reactor) readOne(s *reactorSlot, now time.Time) {
	nameLen := uint32(syscall.SizeofSockaddrAny)
	// MSG_DONTWAIT: never blocks, so the raw call is right here too.
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(s.fd),
		uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&r.name)), uintptr(unsafe.Pointer(&nameLen)))
	if e != 0 {
		return // EAGAIN (someone else read it) or a socket error: nothing to relay
	}
	s.leg.recv.receive(r.buf[:n], sockaddrAddrPort(&r.name), now)
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
	rc, err := l.ports.RTP.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
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
	// The socket is still open: its Close comes after this.
	_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
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
		err = r.file.Close()
		<-r.done
	})
	return err
}

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
