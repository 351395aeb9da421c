//go:build linux && amd64

package media

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// mmsghdr is struct mmsghdr of recvmmsg(2): one message header and the
// number of bytes the kernel received for it.
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

// batchReader reads up to len(msgs) datagrams per system call with
// recvmmsg(2), into buffers, iovecs and address slots allocated once, so
// a busy socket costs one wake-up and one system call per batch instead
// of per datagram, and nothing is allocated per datagram (x/net's
// ReadBatch allocates a net.Addr per message).
type batchReader struct {
	rc    syscall.RawConn
	msgs  []mmsghdr
	iovs  []syscall.Iovec
	names []syscall.RawSockaddrInet6 // large enough for IPv4 and IPv6
	bufs  [][]byte
	got   int
	errno syscall.Errno
	fn    func(fd uintptr) bool // r.recv, bound once so Read does not allocate a closure
}

// batchSupported reports whether this platform has a batched reader.
const batchSupported = true

// maxEINTR bounds the immediate retries of an interrupted recvmmsg.
const maxEINTR = 4

func newBatchReader(conn *net.UDPConn, size int) (*batchReader, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	br := &batchReader{
		rc:    rc,
		msgs:  make([]mmsghdr, size),
		iovs:  make([]syscall.Iovec, size),
		names: make([]syscall.RawSockaddrInet6, size),
		bufs:  make([][]byte, size),
	}
	const bufLen = MaxDatagram + 1
	backing := make([]byte, size*bufLen)
	for i := range size {
		br.bufs[i] = backing[i*bufLen : (i+1)*bufLen : (i+1)*bufLen]
		br.iovs[i].Base = &br.bufs[i][0]
		br.iovs[i].SetLen(bufLen)
		br.msgs[i].hdr.Iov = &br.iovs[i]
		br.msgs[i].hdr.Iovlen = 1
		br.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&br.names[i]))
	}
	br.fn = br.recv
	return br, nil
}

// recv is the RawConn.Read callback: one recvmmsg. It returns false only
// when nothing is queued (EAGAIN), so the poller waits; the netpoller is
// edge-triggered, so any other outcome must return true.
func (br *batchReader) recv(fd uintptr) bool {
	for i := range br.msgs {
		br.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(br.names[i]))
		br.msgs[i].hdr.Flags = 0
		br.msgs[i].len = 0
	}
	for range maxEINTR {
		n, _, e := syscall.Syscall6(syscall.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&br.msgs[0])), uintptr(len(br.msgs)), syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		br.got, br.errno = int(n), e
		return true
	}
	br.got, br.errno = 0, syscall.EINTR
	return true
}

// read waits for and reads one batch; it returns how many datagrams it
// read. The deadline and close of the socket apply as to any read.
func (br *batchReader) read() (int, error) {
	br.got, br.errno = 0, 0
	if err := br.rc.Read(br.fn); err != nil {
		return 0, err
	}
	if br.errno != 0 {
		return 0, br.errno
	}
	return br.got, nil
}

// datagram returns datagram i of the last batch and its source. The bytes
// alias the reader's buffer i until the next read.
func (br *batchReader) datagram(i int) ([]byte, netip.AddrPort) {
	m := &br.msgs[i]
	b := br.bufs[i][:min(int(m.len), len(br.bufs[i]))]
	sa := &br.names[i]
	// The port is in network byte order in both sockaddr layouts.
	pb := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(pb[0])<<8 | uint16(pb[1])
	switch sa.Family {
	case syscall.AF_INET:
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return b, netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case syscall.AF_INET6:
		return b, netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	}
	// No address (not a UDP/IP socket): no source can match.
	return b, netip.AddrPort{}
}
