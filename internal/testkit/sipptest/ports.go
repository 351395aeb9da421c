package sipptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"dtmfgw/internal/testkit"
)

// probe is one socket freePorts must be able to bind: network ("udp" or
// "tcp") on the base port plus offset.
type probe struct {
	network string
	offset  uint16
}

// maxPortTries bounds freePorts' attempts.
const maxPortTries = 64

// SIPp's media ports come from testkit.ZoneSIPp: below the kernel's
// ephemeral range (32768 and up by default), between the media and session
// tests' zones, so that no other test's ":0" socket takes a port between
// the check here and SIPp's own bind.

// freePorts returns a base port on ip such that every probe could be bound
// at once a moment ago; it holds them all while it checks, then releases
// them. The base comes from the kernel's ephemeral range (port 0). A SIPp
// or baresip that cannot bind a port taken meanwhile exits with its bind
// error, and the harness says so.
func freePorts(ip netip.Addr, probes ...probe) (uint16, error) {
	return freePortsFrom(ip, func() (uint16, error) { return testkit.FreePortOn(probes[0].network, ip) }, probes...)
}

// freePortsFrom is freePorts with the bases pick proposes.
func freePortsFrom(ip netip.Addr, pick func() (uint16, error), probes ...probe) (uint16, error) {
	if len(probes) == 0 || probes[0].offset != 0 {
		return 0, errors.New("sipptest: freePorts needs a first probe at offset 0")
	}
	for range maxPortTries {
		base, err := pick()
		if err != nil {
			return 0, err
		}
		var held []io.Closer
		ok := true
		for _, pr := range probes {
			port := int(base) + int(pr.offset)
			if port > 65535 {
				ok = false
				break
			}
			c, err := listen(pr.network, netip.AddrPortFrom(ip, uint16(port)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("sipptest: no free port set on %s in %d tries", ip, maxPortTries)
}

// listen binds one socket.
func listen(network string, addr netip.AddrPort) (io.Closer, error) {
	if network == "tcp" {
		return net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
	}
	return net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
}

// FreeMediaPort returns a UDP port p on ip such that p and p+2 are free:
// SIPp binds both at start (audio and video, -mp) and exits with status
// 254 if either is taken. p is an even port of the media zone, where no
// ":0" socket of another test lands in the meantime (one did, in the
// ephemeral range), and this test process holds p and p+2 for as long as
// it runs (reservePorts), so that no other hands them out meanwhile (the
// sip and sipptest tests run at once and share the zone: two of them once
// picked the same port, and the second SIPp could not bind it).
func FreeMediaPort(ip netip.Addr) (uint16, error) {
	pick := func() (uint16, error) {
		for range maxPortTries {
			p := uint16(testkit.ZoneSIPp + 2*rand.IntN((testkit.ZoneSIPpSpan-2)/2))
			if reservePorts(p, p+2) {
				return p, nil
			}
		}
		return 0, fmt.Errorf("sipptest: no media port of %d–%d left to reserve", testkit.ZoneSIPp, testkit.ZoneSIPp+testkit.ZoneSIPpSpan)
	}
	return freePortsFrom(ip, pick, probe{"udp", 0}, probe{"udp", 2})
}

// reserved keeps the lock files of the ports reservePorts reserved open,
// and with them their locks, for the life of the process. A test process
// starts a few dozen SIPps; the zone has a thousand pairs.
var reserved struct {
	sync.Mutex
	files []*os.File
}

// reservePorts takes, for the life of the process, an exclusive lock on a
// file per port in a directory every test process on the machine shares;
// it reports false, holding nothing, when another open file (in this
// process or another) holds one of them. Where the directory cannot be
// used it reports true: the bind check alone decides, as before.
func reservePorts(ports ...uint16) bool {
	dir := filepath.Join(os.TempDir(), "dtmfgw-sipptest-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	var held []*os.File
	release := func() {
		for _, f := range held {
			f.Close()
		}
	}
	for _, p := range ports {
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(int(p))), os.O_RDONLY|os.O_CREATE, 0o666)
		if err != nil {
			release()
			return true
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			release()
			return false
		}
		held = append(held, f)
	}
	reserved.Lock()
	reserved.files = append(reserved.files, held...)
	reserved.Unlock()
	return true
}

// Loopback is 127.0.0.1, where the harness runs everything by default.
var Loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// tcpListen is the TCP state LISTEN in /proc/net/tcp (include/net/tcp_states.h).
const tcpListen = 0x0A

// maxProcNetLines bounds how much of /proc/net/{udp,tcp} is read: a busy
// host has thousands of sockets, not millions.
const maxProcNetLines = 1 << 16

// errProcNet is wrapped by the errors of parseProcNet.
var errProcNet = errors.New("sipptest: malformed /proc/net socket table")

// procNetInodes returns the inodes of the sockets table (the text of
// /proc/net/udp or /proc/net/tcp) lists as bound to addr: for TCP, the
// listening ones. Only IPv4 tables are read; a socket bound to 0.0.0.0 on
// the port counts.
func procNetInodes(table []byte, addr netip.AddrPort, tcp bool) ([]uint64, error) {
	if !addr.Addr().Is4() {
		return nil, fmt.Errorf("%w: %s is not IPv4", errProcNet, addr)
	}
	var inodes []uint64
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Buffer(make([]byte, 0, 512), 4096)
	for n := 0; sc.Scan(); n++ {
		if n == 0 {
			continue // the header
		}
		if n > maxProcNetLines {
			return nil, fmt.Errorf("%w: more than %d lines", errProcNet, maxProcNetLines)
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 10 {
			return nil, fmt.Errorf("%w: line %d has %d fields", errProcNet, n+1, len(f))
		}
		local, err := parseProcNetAddr(f[1])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", errProcNet, n+1, err)
		}
		if local.Port() != addr.Port() || (local.Addr() != addr.Addr() && !local.Addr().IsUnspecified()) {
			continue
		}
		st, err := strconv.ParseUint(string(f[3]), 16, 8)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: state %q", errProcNet, n+1, f[3])
		}
		if tcp && st != tcpListen {
			continue
		}
		inode, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: inode %q", errProcNet, n+1, f[9])
		}
		inodes = append(inodes, inode)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", errProcNet, err)
	}
	return inodes, nil
}

// maxFDs bounds how many descriptors of a process ownsSocket looks at.
const maxFDs = 4096

// ownsSocket reports whether process pid holds a descriptor for one of the
// socket inodes.
func ownsSocket(pid int, inodes []uint64) (bool, error) {
	if len(inodes) == 0 {
		return false, nil
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("sipptest: %w", err)
	}
	if len(entries) > maxFDs {
		entries = entries[:maxFDs]
	}
	for _, e := range entries {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		v, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		inode, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
		if err == nil && slices.Contains(inodes, inode) {
			return true, nil
		}
	}
	return false, nil
}

// parseProcNetAddr parses an IPv4 "0100007F:13C4" of /proc/net: the address
// as a 32-bit word in host byte order (little-endian on the machines we run
// on), the port in big hex digits.
func parseProcNetAddr(b []byte) (netip.AddrPort, error) {
	ipHex, portHex, ok := bytes.Cut(b, []byte(":"))
	if !ok || len(ipHex) != 8 || len(portHex) != 4 {
		return netip.AddrPort{}, fmt.Errorf("address %q", b)
	}
	var ip [4]byte
	if _, err := hex.Decode(ip[:], ipHex); err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q", b)
	}
	port, err := strconv.ParseUint(string(portHex), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q", b)
	}
	ip[0], ip[1], ip[2], ip[3] = ip[3], ip[2], ip[1], ip[0]
	return netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(port)), nil
}

// bindPollInterval is how often waitBound looks at /proc: the kernel
// offers no event for "some process bound this port", and neither SIPp nor
// baresip prints anything reliable when it is ready.
const bindPollInterval = 5 * time.Millisecond

// waitBound returns when process pid has a socket bound to addr (UDP) or
// listening on it (TCP), when exited is closed (the process died first),
// or when ctx ends. Checking the owner matters: baresip carries on when a
// port it was told to listen on is taken, and the harness must not talk to
// whoever holds it.
func waitBound(ctx context.Context, pid int, addr netip.AddrPort, tcp bool, exited <-chan struct{}) error {
	table := "/proc/net/udp"
	if tcp {
		table = "/proc/net/tcp"
	}
	tick := time.NewTicker(bindPollInterval)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(table)
		if err != nil {
			return fmt.Errorf("sipptest: %w", err)
		}
		inodes, err := procNetInodes(data, addr, tcp)
		if err != nil {
			return err
		}
		if ok, err := ownsSocket(pid, inodes); err != nil {
			return err
		} else if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sipptest: waiting for %s to be bound: %w", addr, ctx.Err())
		case <-exited:
			return fmt.Errorf("sipptest: the process exited before binding %s", addr)
		case <-tick.C:
		}
	}
}
