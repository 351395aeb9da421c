package main

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of sendmmsg(2) and recvmmsg(2).
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

// maxDatagram is the largest datagram the generator reads; a relayed
// packet of ours is 172 bytes.
const maxDatagram = 1500

// batch is a set of datagram slots for one socket, allocated once: the
// generator sends and receives up to len(msgs) datagrams per system call,
// so that its own CPU stays small next to the process it measures.
type batch struct {
	rc             syscall.RawConn
	msgs           []mmsghdr
	iovs           []syscall.Iovec
	names          []syscall.RawSockaddrInet4
	bufs           [][]byte
	n              int // datagrams to send, or received by the last recv
	errno          syscall.Errno
	sendFn, recvFn func(fd uintptr) bool
}

func newBatch(conn *net.UDPConn, size int) (*batch, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batch{
		rc:    rc,
		msgs:  make([]mmsghdr, size),
		iovs:  make([]syscall.Iovec, size),
		names: make([]syscall.RawSockaddrInet4, size),
		bufs:  make([][]byte, size),
	}
	backing := make([]byte, size*maxDatagram)
	for i := range size {
		b.bufs[i] = backing[i*maxDatagram : (i+1)*maxDatagram : (i+1)*maxDatagram]
		b.iovs[i].Base = &b.bufs[i][0]
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.Iovlen = 1
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	b.sendFn, b.recvFn = b.sendSome, b.recvSome
	return b, nil
}

// setDest sets slot i's destination for the next send.
func (b *batch) setDest(i int, to netip.AddrPort) {
	sa := &b.names[i]
	sa.Family = syscall.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(to.Port()>>8), byte(to.Port())
	sa.Addr = to.Addr().As4()
}

// errIncomplete reports a send that stopped making progress.
var errIncomplete = errors.New("sendmmsg sent nothing")

// send sends slots 0..n-1, each bufs[i][:lens[i]], to their destinations.
func (b *batch) send(n int, lens []int) error {
	for i := range n {
		b.iovs[i].SetLen(lens[i])
		b.msgs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
	}
	sent := 0
	for attempt := 0; sent < n && attempt < 64; attempt++ {
		b.n, b.errno = n-sent, 0
		m := b.msgs
		b.msgs = b.msgs[sent:]
		err := b.rc.Write(b.sendFn)
		got := b.n
		b.msgs = m
		if err != nil {
			return err
		}
		if b.errno != 0 {
			return b.errno
		}
		sent += got
	}
	if sent < n {
		return errIncomplete
	}
	return nil
}

func (b *batch) sendSome(fd uintptr) bool { return b.mmsg(fd, unix.SYS_SENDMMSG, b.n) }

// recv waits for and reads up to len(msgs) datagrams; it returns how many.
func (b *batch) recv() (int, error) {
	for i := range b.msgs {
		b.iovs[i].SetLen(maxDatagram)
		b.msgs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
		b.msgs[i].hdr.Flags = 0
		b.msgs[i].len = 0
	}
	b.n, b.errno = 0, 0
	if err := b.rc.Read(b.recvFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

func (b *batch) recvSome(fd uintptr) bool { return b.mmsg(fd, syscall.SYS_RECVMMSG, len(b.msgs)) }

// mmsg makes one sendmmsg or recvmmsg call (trap) over the first count
// messages, without blocking, for the raw connection's Read/Write: false
// means "would block, wait for readiness", true records the result (count
// done, or the error) in b.n and b.errno. EINTR is retried a few times.
func (b *batch) mmsg(fd, trap uintptr, count int) bool {
	for range 4 {
		r, _, e := syscall.Syscall6(trap, fd, uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(count), syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		b.n, b.errno = int(r), e
		return true
	}
	b.n, b.errno = 0, syscall.EINTR
	return true
}

// datagram returns received datagram i.
func (b *batch) datagram(i int) []byte {
	return b.bufs[i][:min(int(b.msgs[i].len), maxDatagram)]
}
