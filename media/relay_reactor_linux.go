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

	"dtmfgw/internal/histo"
)

// Reactor reads the RTP sockets of many relays' legs on one goroutine,
// instead of one goroutine per socket. A call's sockets each carry one
// 50 packet/s stream, so a socket almost never holds two datagrams and
// batching per socket (recvmmsg) finds nothing to batch; what a thousand
// calls do share is time. The reactor keeps its own epoll(7) set of the
// legs' sockets, level-triggered, and lets the Go netpoller wake it when
// that set has anything ready. One wake-up then serves every socket that
// became ready meanwhile: one epoll_wait(2) lists them, one recvfrom(2)
// reads a datagram from each, each packet is judged and relayed exactly
// as a Leg's own reader does (the unmasked directions written with a
// plain sendto(2), not through the Go poller), and the reactor polls
// again, until an epoll_wait lists nothing; then the goroutine parks.
// Under load that is one wake-up per batch of packets, where a reader per
// socket pays a goroutine wake-up and an empty read per packet. The legs'
// sockets are taken out of the Go runtime's own poller when their relay
// starts (see Leg.unpoll), so that their traffic wakes nothing but the
// reactor.
//
// A relay uses a reactor when RelayConfig.Reactor is set; its legs must
// then be closed through Relay.Close, which takes them out of the
// reactor's set first. Run a few reactors per CPU (GOMAXPROCS; the call
// domain runs four) and spread the calls over them: a descheduled reactor then
// holds fewer calls. Safe for concurrent use.
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
	// The read buffer and source address: a packet is relayed before the
	// next read, so they serve every socket.
	buf    [MaxDatagram + 1]byte
	name   syscall.RawSockaddrAny
	pollFn func(uintptr) bool // r.poll, bound once so Read does not allocate
	// closed is set by Close under mu: the epoll descriptor is gone (and
	// its number may belong to another file), so detach must not use it.
	closed bool
	// relayed is set by poll when it relayed something and coalescing
	// is on: run then waits before the next poll. Only run's goroutine
	// touches it.
	relayed bool
	// batch counts the datagrams poll read, by the direction they travel
	// (index: Side-1 of the leg read), for the added-latency histograms:
	// at the end of a poll that read any, one clock read times them all.
	// Only poll touches it, under mu.
	batch [2]uint64
	// latency holds the relay's added latency by direction (index:
	// Side-1 of the leg that read): read to sent, per datagram. Each
	// reactor owns its pair, so reactors on other threads never write the
	// same cache lines; Reactor.AddedLatency reads them.
	latency [2]*histo.Histogram

	done chan struct{}
	once sync.Once
}

// reactorSlot is one leg in a reactor's set.
type reactorSlot struct {
	leg *Leg
	fd  int
	dir uint8 // Side-1 of the leg: the index of Reactor.batch
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
	for i := range r.latency {
		r.latency[i] = histo.Must(AddedLatencyBuckets...)
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
// one datagram read from each socket it lists and relayed. The set is
// level-triggered, so a socket that still holds datagrams is listed again
// by the next epoll_wait: a socket is read once per poll, a flooded one
// no more often than any other, and nothing is read only to learn that
// it is empty (an edge-triggered set must empty each socket, which costs
// a last, failing read per packet at 50 packets/s: about a tenth of a
// masking reactor's CPU). It returns true, to poll again at once, while
// the epoll_wait listed anything; false, to have the netpoller park the
// goroutine until the set is readable again, once it listed nothing: then
// every socket was empty, and any datagram arriving later wakes the
// netpoller.
func (r *Reactor) poll(uintptr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	defer r.noteLatency(now)
	// epoll_pwait(2) with no signal mask is epoll_wait(2), which some
	// architectures lack. A zero timeout never blocks, so the raw call,
	// without the scheduler's system call hand-off, is right.
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(r.epfd),
		uintptr(unsafe.Pointer(&r.events[0])), uintptr(len(r.events)), 0, 0, 0)
	if e == syscall.EINTR {
		return true
	}
	if e != 0 {
		n = 0
	}
	ready := r.events[:n]
	if n > 1 {
		// Fetch every ready call's state before serving the first (see
		// WarmList): first the lists, then what they name.
		for _, ev := range ready {
			if s := r.slot(ev); s != nil {
				prefetchLines(uintptr(unsafe.Pointer(&s.leg.recv.warm)), warmListLines)
			}
		}
		for _, ev := range ready {
			if s := r.slot(ev); s != nil {
				s.leg.recv.warm.Prefetch()
			}
		}
	}
	for _, ev := range ready {
		if s := r.slot(ev); s != nil {
			r.read(s, now)
		}
	}
	if r.coalesce > 0 && n > 0 {
		// Return to run, which waits, then polls again: what arrived
		// meanwhile is found by that poll, with no wake-up of its own.
		r.relayed = true
	}
	return n > 0
}

// slot returns the leg slot an event names (its data is the slot index),
// or nil if the slot is empty; r.mu is held.
func (r *Reactor) slot(ev syscall.EpollEvent) *reactorSlot {
	if idx := ev.Fd; idx >= 0 && int(idx) < len(r.slots) && r.slots[idx].leg != nil {
		return &r.slots[idx]
	}
	return nil
}

// noteLatency records the added latency of the datagrams this poll read:
// all of them were read at now (one clock read per poll, taken before the
// epoll_wait) and all had been relayed by the clock read here, so the
// whole batch costs two clock reads, not two per packet. A datagram early
// in a large batch left sooner than this says: under load the figure is
// an upper bound, as a packet's wait for the others of its batch is part
// of what the relay adds.
func (r *Reactor) noteLatency(now time.Time) {
	if r.batch[0]|r.batch[1] == 0 {
		return
	}
	d := r.now().Sub(now)
	for i, n := range r.batch {
		r.latency[i].ObserveN(d, n)
		r.batch[i] = 0
	}
}

// AddedLatency returns the histogram of the time the reactor took from
// reading a datagram off the from side's socket to having relayed it
// (sent it, or held it in the masking look-ahead, which is not counted:
// the packet that a held one is sent with is timed instead). from is
// CallerSide for caller→agent, AgentSide for agent→caller; NoSide gives
// an empty snapshot. Safe from any goroutine.
func (r *Reactor) AddedLatency(from Side) histo.Snapshot {
	if from != CallerSide && from != AgentSide {
		return histo.Snapshot{}
	}
	return r.latency[from-1].Snapshot()
}

// read reads one datagram from s's socket, if it holds one, and hands it
// to the leg's receive path.
func (r *Reactor) read(s *reactorSlot, now time.Time) {
	nameLen := uint32(syscall.SizeofSockaddrAny)
	// MSG_DONTWAIT: never blocks, so the raw call is right here too. A
	// failure (EAGAIN, EINTR, or a pending socket error, which this read
	// cleared) relays nothing: a socket that still holds a datagram is
	// listed again.
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(s.fd),
		uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&r.name)), uintptr(unsafe.Pointer(&nameLen)))
	if e != 0 {
		return
	}
	s.leg.recv.receive(r.buf[:min(int(n), len(r.buf))], sockaddrAddrPort(&r.name), now)
	r.batch[s.dir&1]++
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
func (r *Reactor) attach(l *Leg, side Side, h PacketHandler) (int32, error) {
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
	if prefetchSupported {
		l.recv.pkt.Warm = &l.recv.warm
	}
	var idx int32
	if k := len(r.free); k > 0 {
		idx = r.free[k-1]
		r.free = r.free[:k-1]
	} else {
		idx = int32(len(r.slots))
		r.slots = append(r.slots, reactorSlot{})
	}
	// Level-triggered: see poll.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: idx}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		r.free = append(r.free, idx)
		close(l.done) // no reader will run: let Close return at once
		return -1, err
	}
	r.slots[idx] = reactorSlot{leg: l, fd: fd, dir: uint8(side-1) & 1}
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

// legFD returns the descriptor of l's RTP socket: its own once unpoll has
// taken it out of the runtime's poller, else the one the runtime polls. It
// stays valid until the leg is closed.
func legFD(l *Leg) (int, error) {
	if raw := l.raw.Load(); raw != 0 {
		return int(raw - 1), nil
	}
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

// unpoll takes l's RTP socket out of the Go runtime's poller, for a leg a
// Reactor is about to read. The runtime registers every socket for input
// and output, edge-triggered, so each datagram the socket receives and
// each one it sends (the send buffer's space coming back, EPOLLOUT) queues
// an event on the runtime's epoll set and may wake a thread blocked in it:
// work for nothing when no goroutine ever waits on the socket, and about a
// tenth of a reactor's CPU at a thousand calls. A duplicate of the
// descriptor keeps the socket open while the runtime forgets the original
// (closing it deregisters it); from then on only the reactor reads the
// socket, Leg.WriteRTP and DirectSender write it with sendto(2), and
// Close closes the duplicate. It must run before anything reads or writes
// the leg; again it does nothing.
func (l *Leg) unpoll() error {
	if l.raw.Load() != 0 {
		return nil
	}
	if l.closed.Load() {
		return ErrLegClosed
	}
	if l.started.Load() {
		return ErrLegStarted
	}
	fd, err := legFD(l)
	if err != nil {
		return err
	}
	// F_DUPFD_CLOEXEC: the duplicate is not inherited by child processes.
	// O_NONBLOCK belongs to the open file, which the duplicate shares.
	dup, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return e
	}
	l.ports.rawRTP = int(dup)
	l.raw.Store(int32(dup) + 1)
	// Closing the runtime's file deregisters it from the runtime's epoll
	// set and closes the original descriptor; the socket lives on.
	if err := l.ports.RTP.Close(); err != nil {
		return err
	}
	return nil
}

// closeRaw closes a descriptor unpoll made.
func closeRaw(fd int) error { return syscall.Close(fd) }

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
	fd int  // the runtime's descriptor, used until the leg is unpolled
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
func (d *DirectSender) HandleRTP(p *Packet) {
	_ = d.SendRTP(p.Raw)
	d.to.noteSendWarm(p.Warm)
}

// Target returns the leg d writes to (LegWriter).
func (d *DirectSender) Target() *Leg { return d.to }

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
	fd := d.fd
	if raw := d.to.raw.Load(); raw != 0 {
		fd = int(raw - 1)
	}
	err := sendRaw(fd, d.v6, rs.addr, b)
	d.to.send.Count(len(b), err)
	return err
}

// sendRaw writes b to to with one sendto(2) on descriptor fd, whose socket
// is IPv6 if v6 (an IPv4 destination is then written v4-mapped).
// MSG_DONTWAIT: it never blocks, so the raw system call, without the
// scheduler's hand-off, is right.
func sendRaw(fd int, v6 bool, to netip.AddrPort, b []byte) error {
	var sa syscall.RawSockaddrInet6 // big enough for either family
	saLen := uintptr(syscall.SizeofSockaddrInet6)
	ip := to.Addr()
	if v6 {
		sa.Family = syscall.AF_INET6
		sa.Addr = ip.As16() // As16 maps an IPv4 address
	} else {
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&sa))
		sa4.Family = syscall.AF_INET
		sa4.Addr = ip.As4()
		saLen = syscall.SizeofSockaddrInet4
	}
	port := (*[2]byte)(unsafe.Pointer(&sa.Port)) // same offset in both layouts
	port[0], port[1] = byte(to.Port()>>8), byte(to.Port())
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd),
		uintptr(p), uintptr(len(b)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&sa)), saLen)
	if e != 0 {
		return e
	}
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
